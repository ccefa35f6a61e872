"""Multi-Objective Population Based Training (Dushatskiy et al., ICML 2023).

Example:
    >>> import hpo, optuna, tempfile
    >>> @hpo.objective(directions=["maximize", "minimize"])
    ... def train(lr: float = hpo.loguniform(1e-3, 1.0), *, trial=None):
    ...     state = hpo.resume(trial) or {"w": 0.0}
    ...     start, stop = hpo.budget(trial, max_resource=20)
    ...     for step in range(start, stop):
    ...         state["w"] += lr * (1.0 - state["w"])
    ...     hpo.checkpoint(trial, state, step=stop)
    ...     return state["w"], lr                     # accuracy against a cost
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> mopbt = hpo.samplers.MOPBT(population_size=4, perturbation_interval=5,
    ...                            max_resource=20, seed=0)
    >>> study = hpo.create_study(directions=["maximize", "minimize"], sampler=mopbt,
    ...                          storage="sqlite:///:memory:", artifact_dir=tempfile.mkdtemp())
    >>> study.optimize(train, n_trials=100)
    >>> [m.stop for m in mopbt.population(study)]
    [20, 20, 20, 20]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from botorch.utils.multi_objective.pareto import is_non_dominated
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial

from hpo._typing import Number
from hpo.samplers._pbt._population import Member
from hpo.samplers.pbt import PBT

__all__ = ["MOPBT", "scattered_order"]


def scattered_order(F: np.ndarray) -> list[int]:
    """MO-PBT's ranking: rows of ``F`` (objectives maximised), best first.

    Non-dominated sorting (fronts from botorch's ``is_non_dominated``); inside each
    front, greedy scattered-subset selection: the first pick overall is the front's
    best on objective 0, every later pick is the member farthest (largest minimum
    Euclidean distance, raw units) from everything already ordered, earlier fronts
    included. Not crowding distance.

    Example:
        >>> scattered_order(np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.1, 0.1]]))
        [0, 1, 2, 3]
    """
    F = np.asarray(F, dtype=float)
    remaining = list(range(len(F)))
    order: list[int] = []
    while remaining:
        mask = is_non_dominated(torch.as_tensor(F[remaining]), deduplicate=False).numpy()
        front = sorted((remaining[i] for i in np.flatnonzero(mask)), key=lambda i: -F[i, 0])
        remaining = [i for i in remaining if i not in front]
        while front:
            if not order:
                pick = front[0]
            else:
                dist = [np.min(np.linalg.norm(F[order] - F[i], axis=1)) for i in front]
                pick = front[int(np.argmax(dist))]
            order.append(pick)
            front.remove(pick)
    return order


class MOPBT(PBT):
    """PBT for several objectives: members ranked by non-dominated sorting and greedy
    scattered-subset selection (:func:`scattered_order`), not crowding distance.

    Everything else is :class:`~hpo.samplers.PBT`'s: members compared and copied at
    equal resource, truncation ``quantile_fraction=0.25``, explore within the
    distributions with ``resample_probability=0.2`` (the reference's). Infeasible
    values (NaN, infinite) rank last. ``hpo best`` and ``study.best_trials`` of an hpo
    study give the Pareto front of the members at the largest resource reached.

    Args: as :class:`~hpo.samplers.PBT` (``quantile_fraction``, ``perturbation_factors``,
    ``explore``, ``mutate``, ``synchronous``, ``searcher``, ``seed``,
    ``keep_checkpoints``), with ``resample_probability=0.2``.
    """

    _objectives = "several"

    def __init__(self, population_size: int, perturbation_interval: Number,
                 max_resource: Number, *, resample_probability: float = 0.2,
                 **options: Any) -> None:
        super().__init__(population_size, perturbation_interval, max_resource,
                         resample_probability=resample_probability, **options)

    def _ranked(self, study: Study, entries: list[tuple[Member, FrozenTrial]]
                ) -> list[tuple[Member, FrozenTrial]]:
        if not entries:
            return []
        signs = np.array([1.0 if d == StudyDirection.MAXIMIZE else -1.0
                          for d in study.directions])
        F = np.array([t.values for _, t in entries], dtype=float) * signs
        bad = ~np.isfinite(F).all(axis=1)
        good = np.flatnonzero(~bad)
        order = [int(good[i]) for i in scattered_order(F[good])] + list(np.flatnonzero(bad))
        return [entries[i] for i in reversed(order)]  # worst first
