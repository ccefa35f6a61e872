"""Acquisition functions: the log-EI family on :class:`~hpo.surrogates.model.GP` models.

Every acquisition here is a callable ``acq(X) -> values`` taking candidates ``(b, d)``
in the unit cube and returning ``(b,)`` log-scale values to *maximise*; models are
always fitted to values to maximise (samplers flip minimised objectives once, before
fitting). :func:`build_acquisition` picks the right one:

* one objective: analytic :class:`LogEI` (Ament et al. 2023, "Unexpected Improvements
  to Expected Improvement") over the best posterior mean at the observed points (a
  plug-in incumbent that is robust to noise), with closed-form gradients;
* running trials (pending points): their outcomes are integrated over as in Snoek et
  al. 2012 ("Practical Bayesian Optimization of Machine Learning Algorithms"): the GP is
  conditioned on ``n_fantasies`` joint posterior draws at the pending points, with the
  fitted hyperparameters, and the acquisition is the mean of LogEI over these fantasy
  models (each with its own incumbent, which may be a pending point). A GP's variance
  does not depend on the observed values, so the fantasies share one Cholesky factor and
  one variance and cost little more than a single model. A pending point's own
  fantasised outcome is known to each fantasy model, so re-suggesting it gains nothing;
* several objectives: :class:`LogEHVI`, the log of the expected hypervolume
  improvement of the independent output GPs, exact and in closed form over the cells of
  the non-dominated region (BoTorch's box decomposition). The reference point lies 10%
  of the observed range below the worst observation in each objective. Pending points
  enter as fantasies at their posterior mean (Kriging believer; they join the front):
  one decomposition instead of one per fantasy;
* constraints ``c(x) <= 0``: the log probability of feasibility under an independent
  GP of the constraint values is added (Gardner et al. 2014); with no feasible
  observation yet, that probability alone is maximised.

BoTorch's Monte-Carlo qLogNEI / qLogEHVI accept the model too (it is a BoTorch
``Model``); hpo used them before these, and they were 5-20x slower per suggestion
(docs/benchmarks.md).

Example:
    >>> import torch
    >>> from hpo.surrogates import fit_gp, build_acquisition
    >>> X = torch.rand(12, 2, dtype=torch.float64)
    >>> gp = fit_gp(X, -(X - 0.3).square().sum(-1))
    >>> acq = build_acquisition(gp, X)
    >>> acq(torch.rand(5, 2, dtype=torch.float64)).shape
    torch.Size([5])
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from botorch.utils.multi_objective.box_decompositions import FastNondominatedPartitioning
from botorch.utils.multi_objective.pareto import is_non_dominated
from torch import Tensor

from hpo.surrogates.model import GP, _cholesky

__all__ = ["Acquisition", "AtFidelity", "LogEHVI", "LogEI", "PerCost", "build_acquisition",
           "log_ei", "log_prob_feasible", "value_and_grad"]

Acquisition = Callable[[Tensor], Tensor]
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_HALF_LOG_PI_2 = 0.5 * math.log(math.pi / 2)


def _log1mexp(w: Tensor) -> Tensor:
    """``log(1 - exp(w))`` for ``w < 0``, accurate on both sides of ``-log 2``."""
    return torch.where(w > -math.log(2.0), torch.log(-torch.expm1(w)), torch.log1p(-torch.exp(w)))


def log_ei(u: Tensor) -> Tensor:
    """``log(phi(u) + u * Phi(u))``, the log of EI at z-score ``u``, stable for ``u`` << 0.

    For ``u > -1`` the direct formula; below, ``log phi(u) + log(1 - |u| Phi(u) / phi(u))``
    with the Mills ratio through ``erfcx``; below ``-1e6`` the asymptote
    ``log phi(u) - 2 log|u|``. Every branch is evaluated on clamped inputs so that
    gradients stay finite.

    Example:
        >>> round(log_ei(torch.tensor(0.0, dtype=torch.float64)).item(), 6)  # log(1/sqrt(2 pi))
        -0.918939
    """
    hi = u.clamp_min(-1.0)
    out_hi = torch.log(torch.exp(-0.5 * hi.square()) / math.sqrt(2 * math.pi)
                       + hi * torch.special.ndtr(hi))
    mid = u.clamp(-1e6, -1.0)
    w = torch.log(-mid) + torch.log(torch.special.erfcx(-mid / math.sqrt(2.0))) + _HALF_LOG_PI_2
    out_mid = -0.5 * mid.square() - _LOG_SQRT_2PI + _log1mexp(w.clamp_max(-1e-300))
    lo = u.clamp_max(-1e6)
    out_lo = -0.5 * lo.square() - _LOG_SQRT_2PI - 2.0 * torch.log(-lo)
    return torch.where(u > -1.0, out_hi, torch.where(u > -1e6, out_mid, out_lo))


def log_prob_feasible(model: GP, X: Tensor) -> Tensor:
    """``sum_i log P(c_i(x) <= 0)`` for a GP ``model`` of the constraint values ``c``."""
    mean, var = model.mean_var(X)
    return torch.special.log_ndtr(-mean / var.sqrt()).sum(-1)


def _log_prob_feasible_and_grad(model: GP, X: Tensor) -> tuple[Tensor, Tensor]:
    mean, var, dmean, dvar = model.mean_var_grad(X)
    sigma = var.sqrt()
    z = -mean / sigma
    log_cdf = torch.special.log_ndtr(z)
    mills = torch.exp(-0.5 * z.square() - _LOG_SQRT_2PI - log_cdf)  # d log Phi(z) / dz
    # z = -mean var^-1/2: dz/dmean = -1/sigma, dz/dvar = mean / (2 sigma^3) = -z / (2 var)
    grad = mills.unsqueeze(-1) * (-dmean / sigma.unsqueeze(-1)
                                  - (z / (2.0 * var)).unsqueeze(-1) * dvar)
    return log_cdf.sum(-1), grad.sum(-2)


def value_and_grad(acq: Acquisition, X: Tensor) -> tuple[Tensor, Tensor]:
    """``acq(X)`` ``(b,)`` and its gradient ``(b, d)`` in ``X``, without a graph kept.

    Acquisitions with a closed form (``acq.value_and_grad``, as :class:`LogEI` has) use
    it; any other callable is differentiated by autograd. Non-finite values get a zero
    gradient.

    Example:
        >>> v, g = value_and_grad(lambda X: -X.square().sum(-1), torch.ones(2, 3))
        >>> g.tolist()[0]
        [-2.0, -2.0, -2.0]
    """
    closed_form = getattr(acq, "value_and_grad", None)
    if closed_form is not None:
        values, grad = closed_form(X)
    else:
        with torch.enable_grad():
            Xg = X.detach().requires_grad_()
            values = acq(Xg)
            (grad,) = torch.autograd.grad(values[torch.isfinite(values)].sum(), Xg,
                                          allow_unused=True)
        grad = torch.zeros_like(X) if grad is None else grad
        values = values.detach()
    return values, torch.where(torch.isfinite(values).unsqueeze(-1), grad, 0.0)


class LogEI:
    """Analytic log expected improvement of ``model`` over ``best_f``.

    A model with ``k > 1`` outputs is taken as ``k`` fantasy models of one objective
    (:meth:`GP.condition_on`), with one incumbent each in ``best_f`` ``(k,)``; the value
    is then ``log(mean_k EI_k)``.

    Example:
        >>> import torch
        >>> from hpo.surrogates import fit_gp
        >>> X = torch.rand(8, 2, dtype=torch.float64)
        >>> gp = fit_gp(X, X.sum(-1))
        >>> LogEI(gp, best_f=X.sum(-1).max().item())(X[:2]).shape
        torch.Size([2])
    """

    def __init__(self, model: GP, best_f: float | Tensor) -> None:
        self.model = model
        self.best_f = torch.as_tensor(best_f, dtype=model.train_X.dtype,
                                      device=model.train_X.device).reshape(-1)
        self._log_k = math.log(model.num_outputs)

    def _per_model(self, mean: Tensor, var: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        sigma = var.sqrt()
        u = (mean - self.best_f) / sigma
        return log_ei(u) + sigma.log(), u, sigma

    def __call__(self, X: Tensor) -> Tensor:
        values, _, _ = self._per_model(*self.model.mean_var(X))
        return torch.logsumexp(values, -1) - self._log_k

    def value_and_grad(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Values ``(b,)`` and gradients ``(b, d)`` at ``X`` ``(b, d)``, in closed form."""
        mean, var, dmean, dvar = self.model.mean_var_grad(X)
        values, u, sigma = self._per_model(mean, var)
        g = torch.exp(torch.special.log_ndtr(u) - log_ei(u))  # d log EI / du = Phi(u) / EI(u)
        # value = log EI(u) + log sigma with u = (mean - best) / sigma, sigma = var^1/2
        d_mean = g / sigma
        d_var = (1.0 - g * u) / (2.0 * var)
        grads = d_mean.unsqueeze(-1) * dmean + d_var.unsqueeze(-1) * dvar  # (b, k, d)
        weights = torch.softmax(values, -1)  # d logmeanexp / d values
        return (torch.logsumexp(values, -1) - self._log_k,
                (weights.unsqueeze(-1) * grads).sum(-2))


class LogEHVI:
    """Log expected hypervolume improvement of the independent outputs of ``model``.

    Exact and in closed form: the region that ``front`` does not dominate above
    ``ref_point`` is split into axis-aligned cells (BoTorch's
    :class:`FastNondominatedPartitioning`), and since the outputs are independent GPs the
    expected improvement in cell ``[l, u]`` is ``prod_j E[(min(y_j, u_j) - l_j)^+]``, with
    ``E[(min(y, u) - l)^+] = sigma (h(z_l) - h(z_u))``, ``h(z) = phi(z) + z Phi(z)`` and
    ``z_c = (mu - c) / sigma`` (Yang et al. 2019). The sum over cells is taken in log
    space with :func:`log_ei` (``log h``), so the value keeps its precision and its
    gradient far from the front, where the improvement underflows to zero (the point of
    Ament et al. 2023). No Monte-Carlo samples: it is ``n_samples`` times cheaper than
    BoTorch's qLogEHVI and has no sampling noise.

    Example:
        >>> import torch
        >>> from hpo.surrogates import fit_gp
        >>> X = torch.rand(10, 2, dtype=torch.float64)
        >>> Y = torch.stack([X[:, 0], 1 - X[:, 0] ** 2], -1)
        >>> gp = fit_gp(X, Y)
        >>> acq = LogEHVI(gp, ref_point=torch.tensor([-0.1, -0.1]), front=Y)
        >>> acq(torch.rand(3, 2, dtype=torch.float64)).shape
        torch.Size([3])
    """

    def __init__(self, model: GP, ref_point: Tensor, front: Tensor) -> None:
        self.model = model
        like = model.train_X
        lower, upper = FastNondominatedPartitioning(
            ref_point=ref_point.to(like), Y=front.to(like)).get_hypercell_bounds()
        keep = (upper > lower).all(-1)  # empty cells contribute nothing
        self.lower, self.upper = lower[keep], upper[keep]  # (K, m); upper may be +inf

    def __call__(self, X: Tensor) -> Tensor:
        mean, var = self.model.mean_var(X)  # (b, m)
        sigma = var.sqrt().unsqueeze(-2)  # (b, 1, m)
        mu = mean.unsqueeze(-2)
        log_h_lower = log_ei((mu - self.lower) / sigma)  # (b, K, m)
        upper_finite = torch.isfinite(self.upper)
        z_upper = (mu - torch.where(upper_finite, self.upper, 0.0)) / sigma
        ratio = log_ei(z_upper) - log_h_lower  # log(h(z_u) / h(z_l)) < 0
        log_edge = log_h_lower + torch.where(upper_finite, _log1mexp(ratio.clamp_max(-1e-12)),
                                             0.0) + sigma.log()
        return torch.logsumexp(log_edge.sum(-1), -1)


class _PlusLogFeasible:
    def __init__(self, base: Acquisition | None, constraint_model: GP) -> None:
        self.base, self.constraint_model = base, constraint_model

    def __call__(self, X: Tensor) -> Tensor:
        lpf = log_prob_feasible(self.constraint_model, X)
        return lpf if self.base is None else self.base(X) + lpf

    def value_and_grad(self, X: Tensor) -> tuple[Tensor, Tensor]:
        lpf, grad = _log_prob_feasible_and_grad(self.constraint_model, X)
        if self.base is None:
            return lpf, grad
        values, base_grad = value_and_grad(self.base, X)
        return values + lpf, base_grad + grad


class AtFidelity:
    """An acquisition over ``(x, s)`` evaluated with the last column fixed at ``s``.

    For a model over configurations and a resource column (multi-fidelity): the
    optimiser then searches the configurations alone, at the resource ``s`` (BoTorch's
    ``FixedFeatureAcquisitionFunction``, for the last column).

    Example:
        >>> import torch
        >>> acq = AtFidelity(lambda Z: -(Z - 0.5).square().sum(-1), 1.0)
        >>> acq(torch.full((1, 2), 0.5, dtype=torch.float64)).tolist()   # at (0.5, 0.5, 1)
        [-0.25]
    """

    def __init__(self, base: Acquisition, s: float) -> None:
        self.base, self.s = base, float(s)

    def _with_s(self, X: Tensor) -> Tensor:
        return torch.cat([X, torch.full((*X.shape[:-1], 1), self.s, dtype=X.dtype,
                                        device=X.device)], -1)

    def __call__(self, X: Tensor) -> Tensor:
        return self.base(self._with_s(X))

    def value_and_grad(self, X: Tensor) -> tuple[Tensor, Tensor]:
        values, grad = value_and_grad(self.base, self._with_s(X))
        return values, grad[..., :-1]


class PerCost:
    """``log(a(x) / c(x))`` for a log-scale acquisition ``log a`` and a cost ``c``.

    The cost is ``scale * exp(m(x))`` with ``m`` the posterior mean of a GP of log
    costs (``log_cost_model``; e.g. log seconds per unit of resource), so expensive
    configurations need proportionally more expected improvement (EI per unit cost,
    Snoek et al. 2012). ``scale`` (a number, or ``(b,)`` for given candidates) is the
    resource the candidate would be trained for.

    Example:
        >>> import torch
        >>> from hpo.surrogates import fit_gp
        >>> X = torch.rand(10, 1, dtype=torch.float64)
        >>> cost = fit_gp(X, X[:, 0])            # log cost grows with x
        >>> acq = PerCost(lambda X: torch.zeros(len(X), dtype=X.dtype), cost)
        >>> bool(acq(torch.tensor([[0.1]], dtype=torch.float64)) > acq(torch.tensor([[0.9]])))
        True
    """

    def __init__(self, base: Acquisition, log_cost_model: GP, scale: float | Tensor = 1.0
                 ) -> None:
        self.base, self.cost, self.scale = base, log_cost_model, scale

    def _log_scale(self, like: Tensor) -> Tensor:
        return torch.as_tensor(self.scale, dtype=like.dtype, device=like.device).log()

    def __call__(self, X: Tensor) -> Tensor:
        return self.base(X) - self.cost.mean_var(X)[0][..., 0] - self._log_scale(X)

    def value_and_grad(self, X: Tensor) -> tuple[Tensor, Tensor]:
        values, grad = value_and_grad(self.base, X)
        mean, _, dmean, _ = self.cost.mean_var_grad(X)
        return values - mean[:, 0] - self._log_scale(X), grad - dmean[:, 0]


def _fantasy_model(model: GP, X_pending: Tensor, n_fantasies: int, seed: int) -> GP:
    """``model`` conditioned on ``n_fantasies`` joint posterior draws at ``X_pending``."""
    post = model.posterior(X_pending, observation_noise=True)
    mean, cov = post.mean[:, 0], post.mvn.covariance_matrix
    g = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randn(len(X_pending), n_fantasies, generator=g, dtype=mean.dtype).to(mean.device)
    return model.condition_on(X_pending, mean.unsqueeze(-1) + _cholesky(cov) @ z)


def build_acquisition(model: GP, X_baseline: Tensor, *, X_pending: Tensor | None = None,
                      constraint_model: GP | None = None, feasible: Tensor | None = None,
                      n_fantasies: int = 32, seed: int = 0) -> Acquisition:
    """The acquisition for ``model`` (fitted on values to maximise) as described above.

    Args:
        model: the objective GP; one output = single objective, more = Pareto search.
        X_baseline: ``(n, d)`` observed points (the incumbent / front are read from the
            model's posterior mean there).
        X_pending: ``(p, d)`` points under evaluation (running trials), or ``None``.
        constraint_model: GP of constraint values (feasible when ``<= 0``), or ``None``.
        feasible: ``(n,)`` bool mask of feasible baseline points (with constraints).
        n_fantasies: fantasy models for pending points (one objective).
        seed: seed of the fantasies.

    Example:
        >>> import torch
        >>> from hpo.surrogates import fit_gp
        >>> X = torch.rand(12, 2, dtype=torch.float64)
        >>> gp = fit_gp(X, X.sum(-1))
        >>> acq = build_acquisition(gp, X, X_pending=X[:1] + 0.01)
        >>> acq(X[:3]).shape
        torch.Size([3])
    """
    X_baseline = X_baseline.to(model.train_X)
    if X_pending is not None and len(X_pending) == 0:
        X_pending = None
    if X_pending is not None:
        X_pending = X_pending.to(model.train_X)
    X_feasible = X_baseline if feasible is None else X_baseline[feasible.to(X_baseline.device)]
    base: Acquisition | None = None
    if len(X_feasible) > 0:
        if model.num_outputs == 1:
            incumbents = X_feasible
            if X_pending is not None:
                model = _fantasy_model(model, X_pending, n_fantasies, seed)
                incumbents = torch.cat([X_feasible, X_pending])
            with torch.no_grad():
                best_f = model.mean_var(incumbents)[0].max(0).values
            base = LogEI(model, best_f)
        else:
            with torch.no_grad():
                Y = model.mean_var(X_feasible)[0]
                if X_pending is not None:  # Kriging believer: pending points at their mean
                    Y_pending = model.mean_var(X_pending)[0]
                    model = model.condition_on(X_pending, Y_pending)
                    Y = torch.cat([Y, Y_pending])
            # reference point below the worst of *all* observations, not just the front's
            # nadir: a tight reference point gives the ends of the front no improvement
            ref = Y.min(0).values - 0.1 * (Y.max(0).values - Y.min(0).values).clamp_min(1e-9)
            base = LogEHVI(model, ref, Y[is_non_dominated(Y)])
    if constraint_model is not None:
        return _PlusLogFeasible(base, constraint_model)
    if base is None:
        raise ValueError("build_acquisition: no feasible baseline point and no constraint_model")
    return base
