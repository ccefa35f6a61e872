"""Acquisition functions: the log-EI family on :class:`~hpo.surrogates.model.GP` models.

Every acquisition here is a callable ``acq(X) -> values`` taking candidates ``(b, d)``
in the unit cube and returning ``(b,)`` log-scale values to *maximise*; models are
always fitted to values to maximise (samplers flip minimised objectives once, before
fitting). :func:`build_acquisition` picks the right one:

* one objective, no pending points: analytic :class:`LogEI` (Ament et al. 2023,
  "Unexpected Improvements to Expected Improvement") over the best posterior mean at
  the observed points (a plug-in incumbent that is robust to noise);
* one objective with pending points (running trials): BoTorch's Monte-Carlo qLogNEI
  with the pending points as ``X_pending``: their outcomes are integrated over jointly
  with the candidate's, so a parallel worker gains nothing from re-suggesting them;
* several objectives: BoTorch's qLogEHVI over the Pareto front of the posterior means
  at the observed points, with the pending points as ``X_pending``; the reference
  point lies 10% of the observed range below the worst observation in each objective;
* constraints ``c(x) <= 0``: the log probability of feasibility under an independent
  GP of the constraint values is added (Gardner et al. 2014); with no feasible
  observation yet, that probability alone is maximised.

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
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogExpectedHypervolumeImprovement
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.multi_objective.box_decompositions import FastNondominatedPartitioning
from botorch.utils.multi_objective.pareto import is_non_dominated
from torch import Tensor

from hpo.surrogates.model import GP

__all__ = ["Acquisition", "LogEI", "build_acquisition", "log_ei", "log_prob_feasible",
           "value_and_grad"]

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
    """Analytic log expected improvement of output 0 of ``model`` over ``best_f``.

    Example:
        >>> import torch
        >>> from hpo.surrogates import fit_gp
        >>> X = torch.rand(8, 2, dtype=torch.float64)
        >>> gp = fit_gp(X, X.sum(-1))
        >>> LogEI(gp, best_f=X.sum(-1).max().item())(X[:2]).shape
        torch.Size([2])
    """

    def __init__(self, model: GP, best_f: float) -> None:
        self.model, self.best_f = model, best_f

    def __call__(self, X: Tensor) -> Tensor:
        mean, var = self.model.mean_var(X)
        sigma = var[..., 0].sqrt()
        return log_ei((mean[..., 0] - self.best_f) / sigma) + sigma.log()

    def value_and_grad(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Values ``(b,)`` and gradients ``(b, d)`` at ``X`` ``(b, d)``, in closed form."""
        mean, var, dmean, dvar = self.model.mean_var_grad(X)
        sigma = var[:, 0].sqrt()
        u = (mean[:, 0] - self.best_f) / sigma
        lei = log_ei(u)
        g = torch.exp(torch.special.log_ndtr(u) - lei)  # d log EI(u) / du = Phi(u) / EI(u)
        # value = log EI(u) + log sigma with u = (mean - best) / sigma, sigma = var^1/2
        d_mean = g / sigma
        d_var = (1.0 - g * u) / (2.0 * var[:, 0])
        grad = d_mean.unsqueeze(-1) * dmean[:, 0] + d_var.unsqueeze(-1) * dvar[:, 0]
        return lei + sigma.log(), grad


class _BoTorchQ1:
    """Evaluates a BoTorch q-batch acquisition at single points: ``(b, d) -> (b,)``."""

    def __init__(self, acqf: torch.nn.Module) -> None:
        self.acqf = acqf

    def __call__(self, X: Tensor) -> Tensor:
        return self.acqf(X.unsqueeze(-2))


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


def build_acquisition(model: GP, X_baseline: Tensor, *, X_pending: Tensor | None = None,
                      constraint_model: GP | None = None, feasible: Tensor | None = None,
                      n_mc_samples: int = 128, seed: int = 0) -> Acquisition:
    """The acquisition for ``model`` (fitted on values to maximise) as described above.

    Args:
        model: the objective GP; one output = single objective, more = Pareto search.
        X_baseline: ``(n, d)`` observed points (their outputs are ``model.train_Y``
            when no subsetting happened; the incumbent / front are read from the model).
        X_pending: ``(p, d)`` points under evaluation (running trials), or ``None``.
        constraint_model: GP of constraint values (feasible when ``<= 0``), or ``None``.
        feasible: ``(n,)`` bool mask of feasible baseline points (with constraints).
        n_mc_samples: quasi-MC samples of the Monte-Carlo acquisitions.
        seed: seed of their Sobol base samples.

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
    if feasible is not None:
        feasible = feasible.to(model.train_X.device)
        X_feasible = X_baseline[feasible]
    else:
        X_feasible = X_baseline
    base: Acquisition | None = None
    if len(X_feasible) > 0:
        sampler = SobolQMCNormalSampler(torch.Size([n_mc_samples]), seed=seed)
        if model.num_outputs == 1 and X_pending is None:
            with torch.no_grad():
                best_f = model.mean_var(X_feasible)[0][:, 0].max().item()
            base = LogEI(model, best_f)
        elif model.num_outputs == 1:
            # only points that could be the incumbent matter: the top posterior means
            with torch.no_grad():
                top = model.mean_var(X_feasible)[0][:, 0].argsort(descending=True)[:64]
            base = _BoTorchQ1(qLogNoisyExpectedImprovement(
                model, X_feasible[top], sampler=sampler, X_pending=X_pending,
                prune_baseline=True, cache_root=False))
        else:
            with torch.no_grad():
                Y = model.mean_var(X_feasible)[0]
            # reference point below the worst of *all* observations, not just the front's
            # nadir: a tight reference point gives the ends of the front no improvement
            ref = Y.min(0).values - 0.1 * (Y.max(0).values - Y.min(0).values).clamp_min(1e-9)
            front = Y[is_non_dominated(Y)]
            partitioning = FastNondominatedPartitioning(ref_point=ref, Y=front)
            base = _BoTorchQ1(qLogExpectedHypervolumeImprovement(
                model, ref_point=ref.tolist(), partitioning=partitioning, sampler=sampler,
                X_pending=X_pending))
    if constraint_model is not None:
        return _PlusLogFeasible(base, constraint_model)
    if base is None:
        raise ValueError("build_acquisition: no feasible baseline point and no constraint_model")
    return base
