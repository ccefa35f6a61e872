"""Top-k after the first rung (Egele et al. 2023, "Is One Epoch All You Need For
Multi-Fidelity HPO?") as an Optuna sampler.

Example:
    >>> import hpo, optuna
    >>> @hpo.objective
    ... def train(x: float = hpo.uniform(-1, 1), *, trial=None) -> float:
    ...     start, stop = hpo.budget(trial, max_resource=50)
    ...     return x * x + 1.0 / stop
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study = optuna.create_study(sampler=hpo.samplers.OneEpoch(
    ...     max_resource=50, n_configs=10, k=2, seed=0))
    >>> study.optimize(train, n_trials=12)
    >>> [hpo.budget(t)[1] for t in study.trials].count(50)
    2
"""

from __future__ import annotations

from optuna.samplers import BaseSampler

from hpo._typing import Number
from hpo.samplers._schedulers._base import Scheduler

__all__ = ["OneEpoch"]


class OneEpoch(Scheduler):
    """Train ``n_configs`` configurations for ``min_resource`` (one epoch), continue
    only the best ``k`` to ``max_resource``; then the next ``n_configs``.

    Each group of ``n_configs`` is one bracket with two rungs; promotion waits until
    the whole group has its first-rung result (a free worker starts the next group
    meanwhile). The continued ones resume their checkpoint at ``min_resource``.

    Args:
        max_resource: the full training.
        n_configs: configurations per group (>= 2).
        k: how many of them are trained to the end (1 <= k < n_configs).
        min_resource: the short run, default 1 (one epoch).
        searcher, seed: as :class:`~hpo.samplers.SuccessiveHalving`.
    """

    def __init__(self, max_resource: Number, *, n_configs: int = 20, k: int = 3,
                 min_resource: Number = 1, searcher: BaseSampler | None = None,
                 seed: int | None = None) -> None:
        for name, v in (("n_configs", n_configs), ("k", k)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: must be a positive int, got {v!r}")
        if not k < n_configs:
            raise ValueError(f"k: must be below n_configs ({n_configs}), got {k}")
        if isinstance(max_resource, (int, float)) and isinstance(min_resource, (int, float)) \
                and not isinstance(max_resource, bool) and 0 < min_resource < max_resource:
            eta = max_resource / min_resource
        else:
            eta = 2  # the ladder below reports the bad resource
        super().__init__(min_resource=min_resource, max_resource=max_resource,
                         reduction_factor=max(eta, 2), searcher=searcher, seed=seed,
                         synchronous=True)
        self._n_configs, self._k = n_configs, k

    def _size(self, first: int, top: int) -> int:
        return self._n_configs

    def _keep(self, size: int) -> int:
        return min(self._k, size)

    def deepen(self, study, max_resource):  # type: ignore[no-untyped-def]
        """Not available: the rungs of :class:`OneEpoch` are ``min_resource`` and
        ``max_resource``."""
        raise ValueError("max_resource: OneEpoch cannot be deepened; use IDHB")
