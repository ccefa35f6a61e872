"""What a sampler keeps only in its own process: its lock and its caches."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["ProcessLocal"]


class ProcessLocal:
    """Mixin of samplers that are sent to worker processes (pickled): the lock and the
    caches that :meth:`_reset_local` sets are not sent, and are made afresh there.

    Every sampler of :mod:`hpo.samplers` that holds a lock or a cache pickles this way,
    and none writes its own ``__getstate__``/``__setstate__``. A subclass

    - calls ``self._reset_local()`` in its ``__init__`` (instead of setting the lock and
      the caches there);
    - names the cache attributes in ``_local``, its parent's included
      (``_local = (*Parent._local, "_cache")``); ``_lock`` is always left out;
    - sets them in an override of :meth:`_reset_local` that calls ``super()`` first.

    What is left out is what a worker can rebuild from the study (warm starts, fitted
    models, views of the storage) or cannot receive at all (a lock); everything else
    (settings, generators, searchers) is pickled as it is. ``tests/test_sampler_contract.py``
    pickles every sampler, fresh and after trials.

    Example:
        >>> import pickle
        >>> from hpo.samplers import GPSampler
        >>> sampler = GPSampler(seed=0)
        >>> sampler._cache["space"] = "a fitted GP"
        >>> sorted(set(vars(sampler)) - set(sampler.__getstate__()))
        ['_cache', '_lock']
        >>> copy = pickle.loads(pickle.dumps(sampler))
        >>> copy._cache, copy._lock is not sampler._lock, copy._seed
        ({}, True, 0)
    """

    _local: tuple[str, ...] = ()  # attribute names that :meth:`_reset_local` sets

    def _reset_local(self) -> None:
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_lock", *self._local)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset_local()
