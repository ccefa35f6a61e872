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

from hpo.continuation import (
    budget,
    checkpoint,
    extend,
    lineage,
    load_checkpoint,
    resume,
    set_budget,
)
from hpo.objective import Objective, objective
from hpo.runner import Budget, run
from hpo.space import UnitCubeEncoder, choice, fixed, integer, loguniform, uniform
from hpo.study import Study, create_study, load_study

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
    "set_budget",
    "uniform",
]
