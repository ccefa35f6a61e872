"""The GP layer every model-based sampler in hpo uses.

* :func:`fit_gp` -> :class:`GP`: exact Matern-5/2 ARD GP on unit-cube inputs, MAP
  hyperparameters warm-started from the previous fit, capped cost at large n; a
  BoTorch ``Model``, so BoTorch acquisition functions accept it.
* :func:`build_acquisition`: LogEI (averaged over fantasies of pending points) /
  LogEHVI (several objectives), optionally times the probability of feasibility.
* :class:`AtFidelity` / :class:`PerCost`: an acquisition at a fixed resource column,
  and per unit of a modelled cost (multi-fidelity, cost-aware search).
* :func:`optimize_acqf`: Sobol scan + batched L-BFGS-B + discrete neighbourhood search
  on the encoding of :class:`hpo.space.UnitCubeEncoder`.
* :func:`warp_outputs`: monotone Yeo-Johnson output warping for heavy-tailed values.
* ``device="auto" | "cuda" | "cpu"`` everywhere (:func:`resolve_device`).

Example:
    >>> import torch, hpo.space as sp
    >>> from hpo.surrogates import fit_gp, build_acquisition, optimize_acqf
    >>> enc = sp.UnitCubeEncoder({"x": sp.uniform(0, 1), "y": sp.uniform(0, 1)})
    >>> X = torch.rand(15, 2, dtype=torch.float64)
    >>> gp = fit_gp(X, -(X - 0.3).square().sum(-1))   # maximise
    >>> x, _ = optimize_acqf(build_acquisition(gp, X), enc, incumbents=X[:3], seed=0)
    >>> sorted(enc.decode(x.numpy()))
    ['x', 'y']
"""

from hpo.surrogates.acquisition import (
    AtFidelity,
    LogEHVI,
    LogEI,
    PerCost,
    build_acquisition,
    log_ei,
    log_prob_feasible,
    value_and_grad,
)
from hpo.surrogates.device import resolve_device
from hpo.surrogates.model import GP, GPHyperparameters, fit_gp, select_subset
from hpo.surrogates.optimize import grid_limit, optimize_acqf
from hpo.surrogates.warping import warp_outputs

__all__ = [
    "GP",
    "AtFidelity",
    "GPHyperparameters",
    "LogEHVI",
    "LogEI",
    "PerCost",
    "build_acquisition",
    "fit_gp",
    "grid_limit",
    "log_ei",
    "log_prob_feasible",
    "optimize_acqf",
    "resolve_device",
    "select_subset",
    "value_and_grad",
    "warp_outputs",
]
