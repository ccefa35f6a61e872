"""Heartbeats of running trials, stale-trial detection, and retries of failed trials.

A worker writes ``hpo:heartbeat`` (unix time) on each trial it runs every
``interval`` seconds, as a trial system attribute, so the mechanism is the same on every
Optuna storage (Optuna's own heartbeat exists only for RDB storages). A RUNNING trial
whose heartbeat is older than ``grace`` seconds belongs to a dead worker: any worker
marks it FAIL and enqueues its retry.

A retry is a WAITING trial with the failed trial's parameters. If the failed trial
saved a checkpoint with a step, the retry continues from it (parent = the failed trial,
budget ``(checkpoint step, stop)``); if it failed because its parent's checkpoint cannot
be read (``hpo:unreadable_parent``), it retrains from zero, ``(0, stop)``, as a
configuration that saved no checkpoint is; otherwise it repeats the failed trial's own
continuation or starts afresh.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState, create_trial

from hpo import _attrs
from hpo._failures import record_failure_id
from hpo.continuation import checkpoint_of

__all__ = ["Heartbeat", "dead_worker", "fail_stale_trials", "retry"]


class Heartbeat:
    """Writes a trial's heartbeat every ``interval`` seconds in a daemon thread."""

    def __init__(self, study: optuna.Study, trial_id: int, interval: float, slot: int) -> None:
        self._storage, self._tid, self._interval = study._storage, trial_id, interval
        self._stop = threading.Event()
        self._storage.set_trial_system_attr(trial_id, _attrs.WORKER,
                                            f"{socket.gethostname()}:{os.getpid()}/{slot}")
        self._beat()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="hpo-heartbeat")
        self._thread.start()

    def _beat(self) -> None:
        self._storage.set_trial_system_attr(self._tid, _attrs.HEARTBEAT, time.time())

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except UpdateFinishedTrialError:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def retry(study: optuna.Study, failed: FrozenTrial, max_retries: int, *,
          count: bool = True) -> int | None:
    """Enqueue a retry of ``failed`` unless it has had ``max_retries`` already.

    ``count=False`` (an interrupted sweep) re-runs the trial without using up a retry.
    Returns the number of the new trial, or None.
    """
    n = failed.system_attrs.get(_attrs.RETRY_COUNT, 0)
    if count and n >= max_retries:
        return None
    attrs = failed.system_attrs
    system_attrs: dict = {_attrs.FIXED_PARAMS: dict(failed.params), _attrs.RETRY_OF: failed.number,
                          _attrs.RETRY_COUNT: n + 1 if count else n}
    # the retry is the same segment of the same configuration (scheduler) or member (PBT)
    system_attrs.update({k: attrs[k] for k in _attrs.SEGMENT_OF if k in attrs})
    stop = attrs.get(_attrs.STOP)
    latest = checkpoint_of(attrs)
    if latest is not None and latest[1] is not None and stop is not None and latest[1] < stop:
        system_attrs.update({_attrs.PARENT: failed.number, _attrs.START: latest[1],
                             _attrs.STOP: stop})
    elif stop is not None and _attrs.UNREADABLE in attrs:  # nothing to resume: from zero
        system_attrs.update({_attrs.START: 0, _attrs.STOP: stop})
    elif stop is not None:
        for key in (_attrs.PARENT, _attrs.START, _attrs.STOP):
            if key in attrs:
                system_attrs[key] = attrs[key]
    storage = study._storage
    tid = storage.create_new_trial(study._study_id, template_trial=create_trial(
        state=TrialState.WAITING, system_attrs=system_attrs))
    return storage.get_trial_number_from_id(tid)


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): existence is all we know


def dead_worker(worker: str) -> bool:
    """Whether the worker ``host:pid/slot`` ran on this host and its process is gone.

    Example:
        >>> import socket
        >>> dead_worker(f"{socket.gethostname()}:{os.getpid()}/0")
        False
        >>> dead_worker("another-host:1/0")
        False
    """
    host, sep, rest = worker.rpartition(":")
    if not sep or host != socket.gethostname():
        return False
    try:
        pid = int(rest.split("/", 1)[0])
    except ValueError:
        return False
    return pid != os.getpid() and not _pid_alive(pid)


def fail_stale_trials(study: optuna.Study, grace: float, max_retries: int) -> list[int]:
    """Mark FAIL the RUNNING trials whose worker died; retry them.

    A worker is dead when its process on this host is gone (found at once), or when
    it stopped beating for ``grace`` seconds (any host). Trials started outside hpo's
    runner (no heartbeat) are left alone. Returns the numbers of the trials marked failed.
    """
    now = time.time()
    failed = []
    for t in study.get_trials(deepcopy=False, states=[TrialState.RUNNING]):
        beat = t.system_attrs.get(_attrs.HEARTBEAT)
        if beat is None:
            continue
        worker = t.system_attrs.get(_attrs.WORKER, "?")
        if dead_worker(worker):
            reason = f"worker {worker} is gone (its process no longer exists)"
        elif now - beat > grace:
            reason = (f"worker {worker} stopped sending heartbeats {now - beat:.0f} s ago "
                      "(killed or lost)")
        else:
            continue
        # written first: a finished trial's attributes cannot change
        try:
            record_failure_id(study._storage, t._trial_id, reason)
            frozen = study._storage.get_trial(t._trial_id)
            if not study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:
            continue  # another worker got there first
        failed.append(t.number)
        retry(study, frozen, max_retries)
    return failed
