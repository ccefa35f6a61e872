"""hpo: Bayesian and black-box hyperparameter optimisation for RL and alignment training.

hpo extends Optuna: its studies, trials, storages and distributions are Optuna's.

Example:
    >>> import hpo
    >>> @hpo.objective(direction="maximize")
    ... def train(lr: float = hpo.loguniform(1e-4, 1e-1), *, trial=None) -> float:
    ...     return -abs(lr - 1e-2)
    >>> study = hpo.create_study(direction="maximize", storage="sqlite:///:memory:")
    >>> study.optimize(train, n_trials=5)
    >>> sorted(study.best_params)
    ['lr']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Eager: ``hpo.objective`` is both a submodule and the decorator, so the submodule is
# loaded first and the name then bound to the decorator. Cheap: no torch.
from hpo.objective import Objective, objective
from hpo.space import UnitCubeEncoder, choice, fixed, integer, loguniform, unbounded, uniform

if TYPE_CHECKING:
    from hpo import integrations as integrations
    from hpo import samplers as samplers
    from hpo._segments import schedule
    from hpo.continuation import (
        budget,
        checkpoint,
        extend,
        lineage,
        load_checkpoint,
        resume,
        set_budget,
    )
    from hpo.runner import Budget, run
    from hpo.study import Study, create_study, load_study

# The rest is imported on first use, so ``import hpo`` does not import torch or BoTorch.
_LAZY = {
    **dict.fromkeys(("budget", "checkpoint", "extend", "lineage", "load_checkpoint", "resume",
                     "set_budget"), "hpo.continuation"),
    **dict.fromkeys(("Budget", "run"), "hpo.runner"),
    "schedule": "hpo._segments",
    **dict.fromkeys(("Study", "create_study", "load_study"), "hpo.study"),
}
# Subpackages reachable as attributes after ``import hpo`` (as ``optuna.samplers`` is).
_SUBMODULES = ("artifacts", "cli", "continuation", "exceptions", "integrations", "llm", "runner",
               "samplers", "space", "storages", "study", "surrogates")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"hpo.{name}")
    raise AttributeError(f"module 'hpo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBMODULES})


__version__ = "0.1.0"

__all__ = [
    "Budget",
    "Objective",
    "Study",
    "UnitCubeEncoder",
    "__version__",
    "budget",
    "checkpoint",
    "choice",
    "create_study",
    "extend",
    "fixed",
    "integer",
    "lineage",
    "load_checkpoint",
    "load_study",
    "loguniform",
    "objective",
    "resume",
    "run",
    "schedule",
    "set_budget",
    "unbounded",
    "uniform",
]
