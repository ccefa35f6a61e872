"""What a sampler keeps only in its own process: its lock and its caches."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["ProcessLocal"]


class ProcessLocal:
    """Mixin of samplers that are sent to worker processes (pickled): the lock and the
    caches that :meth:`_reset_local` sets are not sent, and are made afresh there."""

    _local: tuple[str, ...] = ()  # attribute names that :meth:`_reset_local` sets

    def _reset_local(self) -> None:
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_lock", *self._local)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset_local()
