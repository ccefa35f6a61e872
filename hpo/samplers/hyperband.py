"""Hyperband and Iterative Deepening Hyperband as Optuna samplers.

Example:
    >>> import hpo, optuna
    >>> @hpo.objective
    ... def train(x: float = hpo.uniform(-1, 1), *, trial=None) -> float:
    ...     start, stop = hpo.budget(trial, max_resource=4)
    ...     return x * x + 1.0 / stop
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> sampler = hpo.samplers.IDHB(min_resource=1, max_resource=4, reduction_factor=2,
    ...                              seed=0)
    >>> study = optuna.create_study(sampler=sampler)
    >>> study.optimize(train, n_trials=14)        # one Hyperband iteration: 14 segments
    >>> sampler.deepen(study, max_resource=8)     # R -> 2R, every result reused
    [1, 2, 4, 8]
    >>> study.optimize(train, n_trials=21)        # 35 segments in all, as Hyperband(R=8)
    >>> max(hpo.budget(t)[1] for t in study.trials)
    8
"""

from __future__ import annotations

import math

from optuna.samplers import BaseSampler

from hpo._typing import Number
from hpo.samplers._schedulers._base import Scheduler

__all__ = ["IDHB", "Hyperband"]


class Hyperband(Scheduler):
    """Hyperband (Li et al. 2018) with promotion: every bracket of Successive Halving.

    With ``K + 1`` rungs ``max_resource * reduction_factor**-j`` (``j = K..0``, the
    lowest at or above ``min_resource``), one iteration runs brackets ``s = K..0``;
    bracket ``s`` starts ``ceil((K+1) * eta**s / (s+1))`` configurations at rung
    ``K - s``. Synchronous (default): a bracket's rung is decided once all its
    configurations have a result; a free worker takes the next bracket (of this
    iteration or the next) rather than wait. Asynchronous: each new configuration
    joins a bracket drawn with probability proportional to its Hyperband size, and
    every bracket promotes as ASHA does.

    Args:
        min_resource, max_resource, reduction_factor: the rungs (see above).
        searcher: the Optuna sampler that proposes new configurations (random by
            default).
        synchronous: as above.
        seed: seed of the default searcher and of the asynchronous bracket draw.

    :meth:`deepen` raises the maximum resource of a running or finished study; with
    ``synchronous=True`` that is Iterative Deepening Hyperband's efficient variant
    (:class:`IDHB`).
    """

    def __init__(self, min_resource: Number, max_resource: Number, reduction_factor: float = 3,
                 *, searcher: BaseSampler | None = None, synchronous: bool = True,
                 seed: int | None = None, variant: str = "efficient") -> None:
        super().__init__(min_resource=min_resource, max_resource=max_resource,
                         reduction_factor=reduction_factor, searcher=searcher, seed=seed,
                         synchronous=synchronous, variant=variant)

    def _firsts(self, top: int) -> list[int]:
        return list(range(top + 1))

    def _size(self, first: int, top: int) -> int:
        s = top - first
        return math.ceil(round((top + 1) * self._ladder.eta ** s / (s + 1), 9))


class IDHB(Hyperband):
    """Iterative Deepening Hyperband (Brandt et al. 2023): Hyperband whose maximum
    resource can be raised after the fact, reusing every result and checkpoint.

    ``deepen(study, max_resource=R * reduction_factor**m)`` (or ``hpo sweep FILE
    --max-resource R2``) gives every bracket the rungs above its old top, grows it to
    its size under the new maximum with new configurations, and adds the brackets
    that start at the new rungs. ``variant`` says what happens to earlier decisions:

    - ``"efficient"`` (eIDHB): earlier promotions stand, extra places go to the best
      of the rest; no evaluation is wasted;
    - ``"preserving"`` (pIDHB): each rung is re-decided on the enlarged pool, and
      configurations that already have a result at a rung may come back;
    - ``"discarding"`` (dIDHB): re-decided without re-admission.

    Synchronous; other arguments as :class:`Hyperband`.
    """

    def __init__(self, min_resource: Number, max_resource: Number, reduction_factor: float = 3,
                 *, variant: str = "efficient", searcher: BaseSampler | None = None,
                 seed: int | None = None) -> None:
        super().__init__(min_resource, max_resource, reduction_factor, searcher=searcher,
                         synchronous=True, seed=seed, variant=variant)
