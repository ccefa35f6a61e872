"""Successive Halving (synchronous) and ASHA (asynchronous) as Optuna samplers.

Both train each configuration as a chain of segment trials (:mod:`hpo.continuation`):
a new configuration runs ``(0, r_0)``; a promoted one continues its checkpoint over
``(r_k, r_{k+1})``. The objective trains ``hpo.budget(trial)`` from
``hpo.resume(trial)``, checkpoints with ``hpo.checkpoint`` and returns its value at
``stop``; see docs/schedulers.md.

Example:
    >>> import hpo, optuna
    >>> @hpo.objective
    ... def train(lr: float = hpo.loguniform(1e-3, 1.0), *, trial=None) -> float:
    ...     start, stop = hpo.budget(trial, max_resource=27)
    ...     return abs(lr - 0.1) + 1.0 / stop       # a loss that falls with the resource
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study = optuna.create_study(sampler=hpo.samplers.ASHA(
    ...     min_resource=1, max_resource=27, reduction_factor=3, seed=0))
    >>> study.optimize(train, n_trials=45)
    >>> sorted({hpo.budget(t)[1] for t in study.trials})   # the rungs
    [1, 3, 9, 27]
"""

from __future__ import annotations

import math

from optuna.samplers import BaseSampler

from hpo._typing import Number
from hpo.samplers._schedulers._base import Scheduler

__all__ = ["ASHA", "SuccessiveHalving"]


class SuccessiveHalving(Scheduler):
    """Synchronous Successive Halving with promotion (Jamieson & Talwalkar 2016).

    A bracket holds ``n_configs`` configurations (default ``reduction_factor**K``, K+1
    rungs ``max_resource * reduction_factor**-j``); once every configuration of a rung
    has a result, the best ``1/reduction_factor`` continue to the next rung. A worker
    that would have to wait for a rung to fill starts the next bracket instead, so no
    worker idles. Results and checkpoints of promoted configurations are reused.

    Args:
        min_resource: the smallest rung is the lowest ``max_resource *
            reduction_factor**-j`` at or above it.
        max_resource: the last rung.
        reduction_factor: eta, >= 2.
        n_configs: configurations per bracket; default ``reduction_factor**K``.
        searcher: the Optuna sampler that proposes new configurations (random by
            default); it sees each configuration once, at the highest rung with enough
            results (a :class:`~hpo.samplers.MultiFidelityGPSampler` sees every report).
        seed: seed of the default searcher.
    """

    def __init__(self, min_resource: Number, max_resource: Number, reduction_factor: float = 3,
                 *, n_configs: int | None = None, searcher: BaseSampler | None = None,
                 seed: int | None = None) -> None:
        super().__init__(min_resource=min_resource, max_resource=max_resource,
                         reduction_factor=reduction_factor, searcher=searcher, seed=seed,
                         synchronous=True)
        if n_configs is not None and (isinstance(n_configs, bool) or not isinstance(
                n_configs, int) or n_configs < reduction_factor):
            raise ValueError(f"n_configs: must be an int >= reduction_factor "
                             f"({reduction_factor}), got {n_configs!r}")
        self._n_configs = n_configs

    def _size(self, first: int, top: int) -> int:
        if self._n_configs is not None:
            return self._n_configs
        return math.ceil(self._ladder.eta ** (top - first))


class ASHA(Scheduler):
    """Asynchronous Successive Halving with promotion (Li et al. 2020).

    Rungs ``max_resource * reduction_factor**-j`` down to ``min_resource``. Whenever a
    worker is free, the configuration to continue is one in the top
    ``1/reduction_factor`` of the results at its rung that has not been promoted yet
    (highest rung first); if there is none, a new configuration starts at the first
    rung. No worker ever waits. Its arguments are :class:`SuccessiveHalving`'s.
    """

    def __init__(self, min_resource: Number, max_resource: Number, reduction_factor: float = 3,
                 *, searcher: BaseSampler | None = None, seed: int | None = None) -> None:
        super().__init__(min_resource=min_resource, max_resource=max_resource,
                         reduction_factor=reduction_factor, searcher=searcher, seed=seed,
                         synchronous=False)
