"""Why a trial failed, recorded in its system attributes (a leaf module).

Every layer that fails a trial writes the reason here: the objective wrapper, the
runner's loop and retries, and a sampler that refuses a trial in ``before_trial``.
"""

from __future__ import annotations

import traceback

from optuna.storages import BaseStorage
from optuna.trial import Trial, TrialState

from hpo import _attrs

__all__ = ["fail_trial", "record_failure", "record_failure_id"]


def record_failure(trial: Trial, reason: str, exc: BaseException | None = None) -> None:
    """Store why a trial failed (and the traceback of ``exc``) in its system attributes."""
    tb = None if exc is None else "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__))
    record_failure_id(trial.study._storage, trial._trial_id, reason, tb)


def record_failure_id(storage: BaseStorage, trial_id: int, reason: str,
                      traceback_text: str | None = None) -> None:
    """:func:`record_failure` by storage and trial id."""
    storage.set_trial_system_attr(trial_id, _attrs.FAIL_REASON, reason)
    if traceback_text:
        storage.set_trial_system_attr(trial_id, _attrs.TRACEBACK, traceback_text)


def fail_trial(storage: BaseStorage, trial_id: int, reason: str) -> None:
    """Record why a trial cannot run and mark it FAIL (a sampler that refuses a trial in
    ``before_trial``: nothing may stay RUNNING)."""
    record_failure_id(storage, trial_id, reason)
    storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
