"""The worker loop: ask, run the objective somewhere, tell; heartbeats, retries, budget.

One loop serves every backend: ``slots`` threads each repeat

1. under a lock: fail trials of dead workers, check the budget, ``study.ask()``, and
   suggest the objective's declared search space here, where the sampler lives (so a
   stateful sampler such as PBT sees every decision);
2. beat the trial's heartbeat while the executor runs it (thread, child process or
   Ray task);
3. under the lock: ``study.tell`` the outcome; retry infrastructure failures.

Ctrl-C (or SIGTERM) stops every slot: running trials are marked FAIL with the reason
"interrupted" and re-enqueued, so running the same sweep again resumes it without
redoing any finished trial.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo import _attrs
from hpo.objective import suggest
from hpo.runner.executors import Executor
from hpo.runner.outcome import Outcome
from hpo.runner.retry import Heartbeat, fail_stale_trials, retry

__all__ = ["Budget", "RunSummary", "WorkerLoop"]

_log = logging.getLogger("hpo.runner")
_RETRY_KINDS = ("crash", "fail", "timeout")


@dataclass(frozen=True)
class Budget:
    """When a sweep is done: any limit reached ends it (None: no limit).

    Attributes:
        trials: trials the study should hold in the end (COMPLETE, PRUNED, RUNNING,
            and FAIL not replaced by a retry), counted across restarts and workers.
        seconds: wall time of this run; running trials finish.
        resource: total resource (``stop - start`` of each trial, e.g. environment steps)
            the study may spend.
    """

    trials: int | None = None
    seconds: float | None = None
    resource: float | None = None

    def __post_init__(self) -> None:
        for name in ("trials", "seconds", "resource"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or v <= 0):
                raise ValueError(f"budget.{name}: must be a positive number, got {v!r}")


@dataclass
class RunSummary:
    """What one run of the loop did."""

    outcomes: Counter[str] = field(default_factory=Counter)
    interrupted: bool = False
    seconds: float = 0.0


def counted(trials: Sequence[FrozenTrial]) -> int:
    """Trials that count against ``Budget.trials`` (a failed trial that was retried is
    replaced by its retry)."""
    retried = {t.system_attrs[_attrs.RETRY_OF] for t in trials
               if _attrs.RETRY_OF in t.system_attrs and t.state != TrialState.WAITING}
    return sum(1 for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED,
                                                TrialState.RUNNING)
               or (t.state == TrialState.FAIL and t.number not in retried))


def spent(trials: Sequence[FrozenTrial]) -> float:
    """Resource the finished trials used (up to their last report if pruned)."""
    total = 0.0
    for t in trials:
        if not t.state.is_finished() or _attrs.STOP not in t.system_attrs:
            continue
        start, stop = t.system_attrs.get(_attrs.START, 0), t.system_attrs[_attrs.STOP]
        if t.state != TrialState.COMPLETE and t.intermediate_values:
            stop = min(stop, max(t.intermediate_values) + 1)
        total += max(0.0, stop - start)
    return total


class WorkerLoop:
    """Runs trials of ``study`` on ``executor`` until ``budget`` is reached or stopped.

    Args:
        max_retries: retries per trial for the failure kinds in ``retry_on``.
        retry_on: among ``"crash"`` (the trial's process or worker died), ``"fail"``
            (the objective raised or returned an invalid value) and ``"timeout"``.
        heartbeat_interval, grace_period: a RUNNING trial without a heartbeat for
            ``grace_period`` seconds is failed and retried by any worker.
    """

    def __init__(self, study: optuna.Study, executor: Executor, budget: Budget, *,
                 max_retries: int = 2, retry_on: Sequence[str] = ("crash",),
                 heartbeat_interval: float = 10.0, grace_period: float = 60.0,
                 progress: bool = True) -> None:
        for kind in retry_on:
            if kind not in _RETRY_KINDS:
                raise ValueError(f"retry_on: {kind!r} is not one of {_RETRY_KINDS}")
        if max_retries < 0:
            raise ValueError(f"max_retries: must be >= 0, got {max_retries}")
        if grace_period <= heartbeat_interval:
            raise ValueError(f"grace_period ({grace_period}) must exceed heartbeat_interval "
                             f"({heartbeat_interval})")
        self.study, self.executor, self.budget = study, executor, budget
        self.max_retries, self.retry_on = max_retries, tuple(retry_on)
        self.heartbeat_interval, self.grace_period = heartbeat_interval, grace_period
        self.progress = progress
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_stale_check = 0.0
        self._summary = RunSummary()
        self._bar: Any = None
        self._errors: list[BaseException] = []

    # -- one slot ----------------------------------------------------------------------

    def _next_trial(self) -> optuna.Trial | None:
        """Ask for the next trial, or None when the budget is reached."""
        now = time.monotonic()
        if now - self._last_stale_check > self.heartbeat_interval:
            self._last_stale_check = now
            for n in fail_stale_trials(self.study, self.grace_period, self.max_retries):
                self._write(f"trial {n}: its worker died; marked failed and retried")
        if self.budget.seconds is not None and now - self._started > self.budget.seconds:
            return None
        trials = self.study.get_trials(deepcopy=False)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        if not waiting:
            if self.budget.trials is not None and counted(trials) >= self.budget.trials:
                return None
            if self.budget.resource is not None and spent(trials) >= self.budget.resource:
                return None
        trial = self.study.ask()
        space = getattr(self._objective, "space", None)
        if space:  # sample the declared space here, where the sampler's state lives
            for name, dist in space.items():
                suggest(trial, name, dist)
        return trial

    def _finish(self, trial: optuna.Trial, outcome: Outcome) -> None:
        from hpo.study import record_failure_id

        study, storage = self.study, self.study._storage
        try:
            if outcome.kind == "complete":
                study.tell(trial.number, outcome.values)
            elif outcome.kind == "pruned":
                study.tell(trial.number, state=TrialState.PRUNED)
            else:
                # reason and retry first: a finished trial's attributes cannot change
                record_failure_id(storage, trial._trial_id, outcome.reason, outcome.traceback)
                self._write(f"trial {trial.number} {outcome.kind}: {outcome.reason}")
                frozen = storage.get_trial(trial._trial_id)
                again = None
                if outcome.kind == "interrupted":
                    again = retry(study, frozen, self.max_retries, count=False)
                elif outcome.kind in self.retry_on:
                    again = retry(study, frozen, self.max_retries)
                if again is not None:
                    self._write(f"trial {trial.number}: retried as trial {again}")
                study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError) as exc:
            self._write(f"trial {trial.number}: could not record its {outcome.kind} outcome, "
                        f"it was finished elsewhere ({exc})")
            return
        self._summary.outcomes[outcome.kind] += 1

    def _slot(self, slot: int) -> None:
        try:
            while not self._stop.is_set():
                with self._lock:
                    if self._stop.is_set():
                        return
                    trial = self._next_trial()
                if trial is None:
                    return
                beat = Heartbeat(self.study, trial._trial_id, self.heartbeat_interval, slot)
                try:
                    outcome = self.executor.run(slot, trial._trial_id, self._stop)
                finally:
                    beat.stop()
                with self._lock:
                    self._finish(trial, outcome)
                    self._update_bar()
        except BaseException as exc:  # surfaced by run(); stop the other slots too
            self._errors.append(exc)
            self._stop.set()
        finally:
            self._done[slot].set()

    # -- the whole run -----------------------------------------------------------------

    def run(self, objective: Any = None) -> RunSummary:
        """Run until the budget is reached, every slot is idle, or Ctrl-C / SIGTERM."""
        self._objective = objective if objective is not None else self.executor.spec.objective
        self._started = time.monotonic()
        self._open_bar()
        self._done = [threading.Event() for _ in range(self.executor.slots)]
        threads = [threading.Thread(target=self._slot, args=(i,), daemon=True,
                                    name=f"hpo-slot-{i}") for i in range(self.executor.slots)]
        previous = _sigterm_as_interrupt()
        try:
            for t in threads:
                t.start()
            self._wait_for_slots()
        except KeyboardInterrupt:
            self._summary.interrupted = True
            self._stop.set()
            self._write("stopping: running trials are marked failed and re-enqueued "
                        "(Ctrl-C again to leave at once)")
            # each slot stops its own trial and records it; wait for them
            with contextlib.suppress(KeyboardInterrupt):
                self._wait_for_slots()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            self.executor.close()
            if self._bar is not None:
                self._bar.close()
        self._summary.seconds = time.monotonic() - self._started
        if self._errors:
            raise self._errors[0]
        return self._summary

    def _wait_for_slots(self) -> None:
        # Events, not Thread.join: a join interrupted by Ctrl-C may later return early.
        for done in self._done:
            while not done.wait(0.2):
                pass

    # -- progress ----------------------------------------------------------------------

    def _open_bar(self) -> None:
        if not self.progress:
            return
        from tqdm.auto import tqdm

        trials = self.study.get_trials(deepcopy=False)
        total = self.budget.trials
        self._bar = tqdm(total=total, initial=min(counted(trials), total or 0),
                         desc=self.study.study_name, unit="trial", dynamic_ncols=True,
                         file=sys.stderr)
        self._update_bar(advance=False)

    def _update_bar(self, advance: bool = True) -> None:
        if self._bar is None:
            return
        if advance:
            self._bar.update(1)
        s = self._summary.outcomes
        post = {k: s[k] for k in ("fail", "crash", "timeout", "pruned") if s[k]}
        try:
            if len(self.study.directions) == 1:
                post["best"] = f"{self.study.best_value:.4g}"
            else:
                post["pareto"] = len(self.study.best_trials)
        except ValueError:
            pass  # no completed trial yet
        self._bar.set_postfix(post, refresh=True)

    def _write(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            _log.warning(message)


def _sigterm_as_interrupt() -> Any:
    """In the main thread, turn SIGTERM (e.g. preemption) into KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)
