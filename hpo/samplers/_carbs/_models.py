"""CARBS' surrogate (section 1.6) on hpo's GP layer (:class:`hpo.surrogates.GP`).

Four models, rebuilt at every suggestion as in the reference (nothing is persisted):

* output: successful outputs through a quantile transform to a normal
  (``n_quantiles = int(sqrt(n))``), times the sign so the model maximises;
* cost: ``log(cost)`` min-max scaled to ``[-1, 1]``;
* Pareto: a one-dimensional GP from that transformed log-cost to the transformed
  output of the observations in the Pareto groups;
* success: labels -1 (success) / +1 (failure), ``P(success) = Phi(-mean / std)``
  (the reference passes the variance as the normal's scale; we use the standard
  deviation); 1 everywhere when there is no failure.

Kernels and hyperparameters: the reference fits Linear + Matern-3/2 with 1000 Adam
steps at lr 1e-4, so its hyperparameters stay at their initial values (variance 1,
lengthscale = search radius, noise 1e-2). Here they are fixed at those values, on
hpo's exact GP (Matern-5/2), and the linear kernel becomes a ridge linear trend (prior
variance 1 on the slopes, as the linear kernel's) fitted before the GP takes the
residuals; the Pareto model uses lengthscale 1 (the reference's RBF default). With
``unit_bounds`` (``CARBS(fit_hyperparameters=True)``) the output and cost models are
:class:`FittedGP` instead: MAP hyperparameters on the inputs mapped to the unit cube.

Example:
    >>> import numpy as np
    >>> z = quantile_normal(np.array([3.0, 1.0, 2.0, 4.0]))
    >>> z.round(2).tolist()                       # n_quantiles = 2: the extremes saturate
    [0.43, -5.2, -0.43, 5.2]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import norm

from hpo.surrogates import GP, GPHyperparameters, fit_gp, log_ei
from hpo.surrogates.device import DTYPE, resolve_device

__all__ = ["CostScaler", "FittedGP", "FixedGP", "Surrogate", "quantile_normal"]

_BOUNDS_THRESHOLD = 1e-7  # scikit-learn's QuantileTransformer
NOISE = 1e-2


def quantile_normal(y: np.ndarray, fit_on: np.ndarray | None = None) -> np.ndarray:
    """scikit-learn's ``QuantileTransformer(output_distribution="normal",
    n_quantiles=int(sqrt(n)))`` fitted on ``fit_on`` (default ``y``), applied to ``y``."""
    ref = np.asarray(y if fit_on is None else fit_on, dtype=float)
    y = np.asarray(y, dtype=float)
    nq = max(2, min(int(math.sqrt(len(ref))), len(ref)))
    refs = np.linspace(0.0, 1.0, nq)
    q = np.nanpercentile(ref, refs * 100.0)
    u = 0.5 * (np.interp(y, q, refs) - np.interp(-y, -q[::-1], -refs[::-1]))
    u = np.where(y + _BOUNDS_THRESHOLD > q[-1], 1.0, u)
    u = np.where(y - _BOUNDS_THRESHOLD < q[0], 0.0, u)
    eps = np.spacing(1)
    lo = norm.ppf(_BOUNDS_THRESHOLD - eps)
    hi = norm.ppf(1 - (_BOUNDS_THRESHOLD - eps))
    with np.errstate(divide="ignore"):
        return np.clip(norm.ppf(u), lo, hi)


@dataclass(frozen=True)
class CostScaler:
    """``log(cost)`` -> ``[-1, 1]`` (scikit-learn's MinMaxScaler; a zero range maps to -1)."""

    lo: float
    hi: float

    @classmethod
    def fit(cls, costs: np.ndarray) -> CostScaler:
        logc = np.log(np.asarray(costs, dtype=float))
        return cls(float(logc.min()), float(logc.max()))

    @property
    def _range(self) -> float:
        return (self.hi - self.lo) or 1.0

    def transform_log(self, logc: np.ndarray) -> np.ndarray:
        return (np.asarray(logc) - self.lo) / self._range * 2.0 - 1.0

    def inverse_log(self, t: np.ndarray) -> np.ndarray:
        return (np.asarray(t) + 1.0) / 2.0 * self._range + self.lo


def _marginal(gp: GP, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``gp``'s posterior mean and variance of its one output at the rows of ``X``."""
    with torch.no_grad():
        m, v = gp.mean_var(torch.as_tensor(X, dtype=DTYPE))
    return m[:, 0].cpu().numpy(), v[:, 0].cpu().numpy()


def _joint_draw(gp: GP, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One joint draw of ``gp``'s latent function at the rows of ``X``."""
    with torch.no_grad():
        mvn = gp.posterior(torch.as_tensor(X, dtype=DTYPE)).mvn
        mean = mvn.mean.cpu().numpy().reshape(-1)
        cov = mvn.covariance_matrix.cpu().numpy().reshape(len(mean), len(mean))
    L = np.linalg.cholesky(cov + 1e-8 * np.eye(len(mean)))
    return mean + L @ rng.standard_normal(len(mean))


class FixedGP:
    """A ridge linear trend (optional) plus an :class:`hpo.surrogates.GP` with fixed
    hyperparameters on the residuals; zero mean without the trend."""

    def __init__(self, X: np.ndarray, y: np.ndarray, *, lengthscale: float,
                 noise: float = NOISE, trend: bool = True, device: str = "auto",
                 _w: np.ndarray | None = None, _xbar: np.ndarray | None = None) -> None:
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        n, d = X.shape
        self.trend = trend
        self.xbar = X.mean(0) if _xbar is None else _xbar
        if trend and _w is None:
            A = np.column_stack([np.ones(n), X - self.xbar])
            P = np.eye(d + 1)
            P[0, 0] = 0.0
            self.w = np.linalg.solve(A.T @ A + P + 1e-9 * np.eye(d + 1), A.T @ y)
        else:
            self.w = np.zeros(d + 1) if _w is None else _w
        self.lengthscale, self.noise, self.device = lengthscale, noise, device
        dev = resolve_device(device, n)
        hyper = GPHyperparameters(torch.full((1, d), float(lengthscale), dtype=DTYPE, device=dev),
                                  torch.ones(1, dtype=DTYPE, device=dev),
                                  torch.full((1,), float(noise), dtype=DTYPE, device=dev))
        zero = torch.zeros(1, dtype=DTYPE, device=dev)
        r = torch.as_tensor(y - self._trend(X), dtype=DTYPE, device=dev).unsqueeze(-1)
        self.X, self.y = X, y
        self.gp = GP(torch.as_tensor(X, dtype=DTYPE, device=dev), r, hyper,
                     standardisation=(zero, torch.ones_like(zero)))

    def _trend(self, X: np.ndarray) -> np.ndarray:
        return self.w[0] + (np.asarray(X) - self.xbar) @ self.w[1:]

    def mean_var(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, var = _marginal(self.gp, np.asarray(X, dtype=float))
        return mean + self._trend(X), var

    def sample(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One joint, noiseless draw of the latent function at the rows of ``X``."""
        return _joint_draw(self.gp, np.asarray(X, dtype=float), rng) + self._trend(X)

    def with_data(self, X: np.ndarray, y: np.ndarray) -> FixedGP:
        """The same model (trend kept) also conditioned on ``(X, y)`` (fantasies)."""
        return FixedGP(np.vstack([self.X, X]), np.concatenate([self.y, y]),
                       lengthscale=self.lengthscale, noise=self.noise, trend=self.trend,
                       device=self.device, _w=self.w, _xbar=self.xbar)


class FittedGP:
    """An :class:`hpo.surrogates.GP` fitted by :func:`hpo.surrogates.fit_gp` (MAP
    hyperparameters, inferred noise), on the inputs mapped to the unit cube by
    ``(X - lo) / (hi - lo)``; the same interface as :class:`FixedGP`."""

    def __init__(self, X: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray, *,
                 device: str = "auto", _gp: GP | None = None) -> None:
        self.lo, self.span = np.asarray(lo, float), np.asarray(hi, float) - np.asarray(lo, float)
        self.X, self.y, self.device = np.asarray(X, float), np.asarray(y, float), device
        Xu = torch.as_tensor(self._unit(self.X), dtype=DTYPE)
        Y = torch.as_tensor(self.y, dtype=DTYPE).unsqueeze(-1)
        if _gp is None:
            self.gp = fit_gp(Xu, Y, device=device)
        else:  # the same hyperparameters and standardisation, more data (fantasies)
            self.gp = GP(Xu.to(_gp.train_X), Y.to(_gp.train_X), _gp.hyper,
                         standardisation=(_gp.y_mean, _gp.y_std))

    def _unit(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, float) - self.lo) / self.span

    def mean_var(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _marginal(self.gp, self._unit(X))

    def sample(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One joint, noiseless draw of the latent function at the rows of ``X``."""
        return _joint_draw(self.gp, self._unit(X), rng)

    def with_data(self, X: np.ndarray, y: np.ndarray) -> FittedGP:
        """The same model also conditioned on ``(X, y)`` (fantasies), not refitted."""
        return FittedGP(np.vstack([self.X, X]), np.concatenate([self.y, y]), self.lo,
                        self.lo + self.span, device=self.device, _gp=self.gp)


@dataclass
class Observed:
    """The surrogate at candidate points (all ``(k,)``; surrogate units maximise)."""

    mean: np.ndarray
    var: np.ndarray
    pareto_value: np.ndarray
    cost: np.ndarray
    p_success: np.ndarray


class Surrogate:
    """Output, cost, Pareto and success models of one suggestion.

    Args:
        X, outputs, costs: successful observations (basic space), raw outputs, costs.
        X_fail: failed observations (basic space), for the success model only.
        pareto_idx: indices of the observations in the Pareto groups.
        sign: +1 maximise, -1 minimise.
        radius: the search radius (the kernels' lengthscale).
        unit_bounds: ``(lo, hi)`` of the encoded inputs: fit the output and cost models'
            hyperparameters on ``(X - lo) / (hi - lo)``; ``None``: the reference's fixed ones.
    """

    def __init__(self, X: np.ndarray, outputs: np.ndarray, costs: np.ndarray,
                 X_fail: np.ndarray, pareto_idx: list[int], sign: int, radius: float,
                 device: str = "auto", unit_bounds: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> None:
        self.sign = sign
        self.z = quantile_normal(outputs) * sign
        self.cost_scaler = CostScaler.fit(costs)
        self.tcost = self.cost_scaler.transform_log(np.log(costs))
        self.output: FixedGP | FittedGP
        self.cost: FixedGP | FittedGP
        if unit_bounds is None:
            self.output = FixedGP(X, self.z, lengthscale=radius, device=device)
            self.cost = FixedGP(X, self.tcost, lengthscale=radius, device=device)
        else:
            self.output = FittedGP(X, self.z, *unit_bounds, device=device)
            self.cost = FittedGP(X, self.tcost, *unit_bounds, device=device)
        self.success: FixedGP | None = None
        if len(X_fail):
            labels = np.r_[-np.ones(len(X)), np.ones(len(X_fail))]
            self.success = FixedGP(np.vstack([X, X_fail]), labels, lengthscale=radius,
                                   trend=False, device=device)
        px = self.tcost[pareto_idx]
        self.pareto_range = (float(px.min()), float(px.max()))
        self.pareto = FixedGP(px[:, None], self.z[pareto_idx], lengthscale=1.0, trend=False,
                              device=device)

    def fantasise(self, X_pending: np.ndarray, rng: np.random.Generator,
                  thompson: bool = True) -> None:
        """Condition the output model on draws (Thompson) or the posterior mean at the
        points still being evaluated, so that parallel suggestions differ."""
        if len(X_pending) == 0:
            return
        y = (self.output.sample(X_pending, rng) if thompson
             else self.output.mean_var(X_pending)[0])
        self.output = self.output.with_data(X_pending, y)

    def pareto_at(self, tcost: np.ndarray) -> np.ndarray:
        return self.pareto.mean_var(np.asarray(tcost, dtype=float).reshape(-1, 1))[0]

    def observe(self, X: np.ndarray) -> Observed:
        mean, var = self.output.mean_var(X)
        tc, _ = self.cost.mean_var(X)
        pv = self.pareto_at(np.clip(tc, *self.pareto_range))
        cost = np.exp(self.cost_scaler.inverse_log(tc))
        if self.success is None:
            ps = np.ones(len(X))
        else:
            m, v = self.success.mean_var(X)
            ps = norm.cdf(-m / np.sqrt(v))
        return Observed(mean, var, pv, cost, ps)


def log_expected_improvement(mean: np.ndarray, var: np.ndarray, threshold: np.ndarray
                             ) -> np.ndarray:
    """``log EI`` of a maximised model above ``threshold``: ``sigma * (phi(z) + z Phi(z))``
    with ``z = (mean - threshold) / sigma``, through :func:`hpo.surrogates.log_ei`."""
    sigma = np.sqrt(np.maximum(var, 1e-18))
    z = torch.as_tensor((mean - threshold) / sigma, dtype=DTYPE)
    return np.log(sigma) + log_ei(z).numpy()
