"""The worker loop: ask, run the objective somewhere, tell; heartbeats, retries, budget.

One loop serves every backend: ``slots`` threads each repeat

1. under a lock: fail trials of dead workers (at once when their process on this host
   is gone, otherwise after the grace period), check the budget, ``study.ask()``, and
   suggest the objective's declared search space here, where the sampler lives (so a
   stateful sampler such as PBT sees every decision);
2. beat the trial's heartbeat while the executor runs it (thread, child process or
   Ray task);
3. under the lock: ``study.tell`` the outcome; retry infrastructure failures.

When the budget is reached but trials of other workers that count toward it are still
RUNNING, a slot waits: they finish, or their worker is found dead and they are retried.

Ctrl-C (or SIGTERM) stops every slot: running trials are marked FAIL with the reason
"the sweep was stopped" and re-enqueued, so running the same sweep again resumes it
without redoing any finished trial. Whatever ends the loop (a second Ctrl-C, an error,
``SystemExit`` or ``KeyboardInterrupt`` raised by an objective running in a slot's
thread), no trial it started is left RUNNING.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
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

from hpo import _attrs, _segments
from hpo._failures import record_failure_id
from hpo.exceptions import RepeatedFailureError
from hpo.objective import suggest
from hpo.runner.executors import Executor
from hpo.runner.outcome import Outcome
from hpo.runner.retry import Heartbeat, fail_stale_trials, retry
from hpo.samplers.protocols import Population
from hpo.study import recorded_names

__all__ = ["Budget", "RepeatedFailureError", "RunSummary", "WorkerLoop"]

_log = logging.getLogger("hpo.runner")
_RETRY_KINDS = ("crash", "fail", "timeout")
_WAIT = object()  # _next_trial: nothing to run now, but trials of other workers are running
INTERRUPTED = "the sweep was stopped"  # the failure reason of a trial stopped by Ctrl-C


def _signature(reason: str) -> str:
    """A failure reason with its numbers masked, so that the same error met with other
    parameter values compares equal."""
    return re.sub(r"\d+(\.\d*)?([eE][-+]?\d+)?", "#", reason)


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


class WorkerLoop:
    """Runs trials of ``study`` on ``executor`` until ``budget`` is reached or stopped.

    Args:
        max_retries: retries per trial for the failure kinds in ``retry_on``.
        retry_on: among ``"crash"`` (the trial's process or worker died), ``"fail"``
            (the objective raised or returned an invalid value) and ``"timeout"``.
        heartbeat_interval, grace_period: a RUNNING trial without a heartbeat for
            ``grace_period`` seconds is failed and retried by any worker.
        max_initial_failures: stop (raising :class:`RepeatedFailureError`) when the first
            this many trials finished by this run all failed with the same error
            (numbers aside); 0: never.
    """

    def __init__(self, study: optuna.Study, executor: Executor, budget: Budget, *,
                 max_retries: int = 2, retry_on: Sequence[str] = ("crash",),
                 heartbeat_interval: float = 10.0, grace_period: float = 60.0,
                 progress: bool = True, max_initial_failures: int = 5) -> None:
        self.check(max_retries=max_retries, retry_on=retry_on,
                   heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                   max_initial_failures=max_initial_failures)
        self.study, self.executor, self.budget = study, executor, budget
        self.max_retries, self.retry_on = max_retries, tuple(retry_on)
        self.heartbeat_interval, self.grace_period = heartbeat_interval, grace_period
        self.progress = progress
        self.max_initial_failures = max_initial_failures
        self._poll = min(heartbeat_interval, 1.0)
        self._lock = threading.Lock()
        self._in_flight: dict[int, optuna.Trial] = {}  # number -> trial this loop started
        self._initial_failures: list[str] = []
        self._reasons: dict[str, int] = {}  # failure reason (numbers masked) -> first trial
        self._any_success = False
        self._stop = threading.Event()
        self._last_stale_check = 0.0
        self._summary = RunSummary()
        self._bar: Any = None
        self._errors: list[BaseException] = []

    @staticmethod
    def check(*, max_retries: int, retry_on: Sequence[str], heartbeat_interval: float,
              grace_period: float, max_initial_failures: int) -> None:
        """Raise ValueError for settings the loop cannot use."""
        for kind in retry_on:
            if kind not in _RETRY_KINDS:
                raise ValueError(f"retry_on: {kind!r} is not one of {_RETRY_KINDS}")
        if max_retries < 0:
            raise ValueError(f"max_retries: must be >= 0, got {max_retries}")
        if isinstance(max_initial_failures, bool) or not isinstance(max_initial_failures, int) \
                or max_initial_failures < 0:
            raise ValueError(f"max_initial_failures: must be an integer >= 0, got "
                             f"{max_initial_failures!r}")
        if grace_period <= heartbeat_interval:
            raise ValueError(f"grace_period ({grace_period}) must exceed heartbeat_interval "
                             f"({heartbeat_interval})")

    def spent(self) -> tuple[str, str] | None:
        """Whether the study has nothing left to run before this run starts: what is used
        up, in words, and the setting that gives it more; None while there is work (a
        waiting or running trial, or budget left).

        Example: ``("20 of 20 trials", "budget.trials")``.
        """
        trials = self.study.get_trials(deepcopy=False)
        if any(t.state in (TrialState.WAITING, TrialState.RUNNING) for t in trials):
            return None
        if self.budget.trials is not None and (n := counted(trials)) >= self.budget.trials:
            return f"{n} of {self.budget.trials} trials", "budget.trials"
        used = _segments.consumed(trials)
        if self.budget.resource is not None and used >= self.budget.resource:
            return f"resource {used:g} of {self.budget.resource:g}", "budget.resource"
        sampler = self.study.sampler
        if isinstance(sampler, Population) and sampler.is_finished(self.study):
            return ("the population finished: every member reached the sampler's "
                    "max_resource", "the sampler's max_resource (in a new study)")
        return None

    # -- one slot ----------------------------------------------------------------------

    def _budget_reached(self, trials: Sequence[FrozenTrial]) -> bool:
        if self.budget.trials is not None and counted(trials) >= self.budget.trials:
            return True
        return self.budget.resource is not None and \
            _segments.consumed(trials) >= self.budget.resource

    def _next_trial(self, slot: int) -> optuna.Trial | object | None:
        """Ask for the next trial (its heartbeat started); None when the budget is
        reached; ``_WAIT`` when it is reached only with trials of other workers RUNNING."""
        now = time.monotonic()
        if now - self._last_stale_check > self._poll:
            self._last_stale_check = now
            for n in fail_stale_trials(self.study, self.grace_period, self.max_retries):
                self._write(f"trial {n}: its worker died; marked failed and retried")
        if self.budget.seconds is not None and now - self._started > self.budget.seconds:
            return None
        trials = self.study.get_trials(deepcopy=False)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        if not waiting and self._budget_reached(trials):
            others = [t for t in trials if t.state == TrialState.RUNNING
                      and t.number not in self._in_flight
                      and _attrs.HEARTBEAT in t.system_attrs]
            return _WAIT if others else None
        # A population sampler (PBT) may have finished, or have nothing to start until a
        # running member's segment ends: then this slot waits outside the lock.
        sampler = self.study.sampler
        if not waiting and isinstance(sampler, Population):
            if sampler.is_finished(self.study):
                return None
            if not sampler.has_work(self.study):
                return _WAIT
        trial = self.study.ask()
        self._in_flight[trial.number] = trial
        self._beats[slot] = Heartbeat(self.study, trial._trial_id, self.heartbeat_interval,
                                      slot)
        space = getattr(self._objective, "space", None)
        try:
            if space:  # sample the declared space here, where the sampler's state lives
                for name, dist in space.items():
                    suggest(trial, name, dist)
        except BaseException as exc:  # e.g. a parameter whose distribution kind changed
            self._stop_beat(slot)
            self._abandon(trial, *_abandon_reason(exc))
            raise
        return trial

    def _finish(self, trial: optuna.Trial, outcome: Outcome) -> None:
        if self._in_flight.pop(trial.number, None) is None:
            return  # already recorded as abandoned (the loop was leaving)
        study, storage = self.study, self.study._storage
        try:
            if outcome.kind == "complete":
                study.tell(trial.number, outcome.values)
            elif outcome.kind == "pruned":
                study.tell(trial.number, state=TrialState.PRUNED)
            else:
                # reason and retry first: a finished trial's attributes cannot change
                record_failure_id(storage, trial._trial_id, outcome.reason, outcome.traceback)
                first = self._reasons.setdefault(_signature(outcome.reason), trial.number)
                self._write(f"trial {trial.number} {outcome.kind}: " + (
                    outcome.reason if first == trial.number else f"as trial {first}"))
                frozen = storage.get_trial(trial._trial_id)
                again = None
                if outcome.kind == "interrupted":
                    again = retry(study, frozen, self.max_retries, count=False)
                elif outcome.kind in self.retry_on or _attrs.UNREADABLE in frozen.system_attrs:
                    # (a parent's checkpoint that cannot be read: retrained from zero)
                    again = retry(study, frozen, self.max_retries)
                if again is not None:
                    self._write(f"trial {trial.number}: retried as trial {again}")
                study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError) as exc:
            self._write(f"trial {trial.number}: could not record its {outcome.kind} outcome, "
                        f"it was finished elsewhere ({exc})")
            return
        self._summary.outcomes[outcome.kind] += 1
        self._check_initial_failures(outcome)

    def _check_initial_failures(self, outcome: Outcome) -> None:
        if outcome.kind in ("complete", "pruned"):
            self._any_success = True
        if self._any_success or outcome.kind == "interrupted" or not self.max_initial_failures:
            return
        self._initial_failures.append(outcome.reason)
        n = self.max_initial_failures
        if len(self._initial_failures) == n and \
                len({_signature(r) for r in self._initial_failures}) == 1:
            self._errors.append(RepeatedFailureError(n, self._initial_failures[0]))
            self._stop.set()

    def _abandon(self, trial: optuna.Trial, kind: str, reason: str,
                 traceback_text: str | None = None) -> None:
        """Record a trial this loop started and will not finish (caller holds the lock):
        FAIL with ``reason``; re-enqueued without using a retry if ``kind`` is
        ``"interrupted"``."""
        if self._in_flight.pop(trial.number, None) is None:
            return
        storage = self.study._storage
        try:
            record_failure_id(storage, trial._trial_id, reason, traceback_text)
            if kind == "interrupted":
                retry(self.study, storage.get_trial(trial._trial_id), self.max_retries,
                      count=False)
            self.study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError) as exc:
            self._write(f"trial {trial.number}: could not record it as failed, it was "
                        f"finished elsewhere ({exc})")
            return
        self._summary.outcomes[kind] += 1

    def _slot(self, slot: int) -> None:
        trial: Any = None
        try:
            while not self._stop.is_set():
                trial = None
                with self._lock:
                    if self._stop.is_set():
                        return
                    trial = self._next_trial(slot)
                if trial is None:
                    return
                if trial is _WAIT:
                    trial = None
                    self._stop.wait(self._poll)
                    continue
                try:
                    outcome = self.executor.run(slot, trial._trial_id, self._stop)
                finally:
                    self._stop_beat(slot)
                with self._lock:
                    self._finish(trial, outcome)
                    self._update_bar()
        except BaseException as exc:  # surfaced by run(); stop the other slots too
            self._stop_beat(slot)
            if trial is not None:
                with self._lock:
                    self._abandon(trial, *_abandon_reason(exc))
            self._errors.append(exc)
            self._stop.set()
        finally:
            self._done[slot].set()

    def _stop_beat(self, slot: int) -> None:
        beat = self._beats[slot]
        self._beats[slot] = None
        if beat is not None:
            beat.stop()

    # -- the whole run -----------------------------------------------------------------

    def run(self, objective: Any = None) -> RunSummary:
        """Run until the budget is reached, every slot is idle, or Ctrl-C / SIGTERM."""
        self._objective = objective if objective is not None else self.executor.spec.objective
        self._started = time.monotonic()
        self._open_bar()
        self._done = [threading.Event() for _ in range(self.executor.slots)]
        self._beats: list[Heartbeat | None] = [None] * self.executor.slots
        threads = [threading.Thread(target=self._slot, args=(i,), daemon=True,
                                    name=f"hpo-slot-{i}") for i in range(self.executor.slots)]
        previous = _sigterm_as_interrupt()
        hurry = False
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
            try:
                self._wait_for_slots()
            except KeyboardInterrupt:  # the second: leave at once
                hurry = True
        finally:
            with _signals_deferred():
                self._stop.set()
                # trials still running (a second Ctrl-C, a slot stuck in an objective):
                # recorded before their processes are killed, so no outcome races this
                with self._lock:
                    for trial in list(self._in_flight.values()):
                        self._abandon(trial, "interrupted", INTERRUPTED)
                if hurry:  # no grace for trials that ignore SIGTERM: killed now
                    self.executor.close(now=True)
                for i in range(self.executor.slots):
                    self._stop_beat(i)
                self.executor.close()
                if self._bar is not None:
                    self._bar.close()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
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
        unit, total, done = self._measure(self.study.get_trials(deepcopy=False))
        self._bar = Progress(self.study.study_name, unit, total, done)
        self._update_bar()

    def _measure(self, trials: Sequence[FrozenTrial]) -> tuple[str, float | None, float]:
        """What the progress counts: (unit, total or None, done so far): the resource when
        the budget has one, or the population's (a population sampler ends when every
        member reached its maximum, whatever ``budget.trials`` allows), else trials."""
        sampler = self.study.sampler
        if self.budget.resource is not None or isinstance(sampler, Population):
            name = recorded_names(self.study)[1]
            if self.budget.resource is not None:
                total, done = self.budget.resource, _segments.consumed(trials)
            else:
                done, total = sampler.progress(self.study)  # type: ignore[union-attr]
            return str(name or "resource"), total, done
        return "trial", self.budget.trials, counted(trials)

    def _update_bar(self) -> None:
        if self._bar is None:
            return
        s = self._summary.outcomes
        post: dict[str, Any] = {k: s[k] for k in ("fail", "crash", "timeout", "pruned") if s[k]}
        try:
            if len(self.study.directions) == 1:
                post["best"] = f"{self.study.best_value:.4g}"
            else:
                post["pareto"] = len(self.study.best_trials)
        except ValueError:
            pass  # no completed trial yet
        self._bar.show(self._measure(self.study.get_trials(deepcopy=False))[2], post)

    def _write(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message)
        else:
            _log.warning(message)


class Progress:
    """A sweep's progress on stderr: a tqdm bar on a terminal; written to a file or a
    pipe, one plain line per change at most every ``every`` seconds, and the last, so a
    log holds each state once.

    Example:
        >>> bar = Progress("demo", "trial", 4, 0, every=0.0, tty=False, file=sys.stdout)
        >>> bar.show(2, {"best": "0.5"})  # doctest: +ELLIPSIS
        demo: 2/4 trials (50%), best=0.5, ... elapsed, ~... left
        >>> bar.close()
    """

    def __init__(self, name: str, unit: str, total: float | None, done: float, *,
                 every: float = 10.0, tty: bool | None = None, file: Any = None) -> None:
        self.name, self.unit, self.total, self.every = name, unit, total, every
        self._file = sys.stderr if file is None else file
        self._started, self._initial = time.monotonic(), done
        self._done, self._post, self._last = done, "", -math.inf
        self._shown: tuple[float, str] | None = None
        self._bar: Any = None
        if self._file.isatty() if tty is None else tty:
            from tqdm.auto import tqdm

            whole = unit == "trial"
            self._bar = tqdm(total=total, initial=min(done, total or done), desc=name,
                             unit=unit if whole else f" {unit}", unit_scale=not whole,
                             dynamic_ncols=True, file=self._file)

    def show(self, done: float, postfix: dict[str, Any]) -> None:
        """The new count (absolute) and the figures after it; one refresh."""
        if self._bar is not None:
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(done - self._bar.n)  # a refresh even when nothing moved
            if done == self._bar.n:
                self._bar.refresh()
            return
        self._done, self._post = done, ", ".join(f"{k}={v}" for k, v in postfix.items())
        finished = self.total is not None and done >= self.total
        if time.monotonic() - self._last >= self.every or finished:
            self._line()

    def _line(self) -> None:
        from tqdm import tqdm

        state = (self._done, self._post)
        if state == self._shown:
            return
        self._shown, self._last = state, time.monotonic()
        elapsed = self._last - self._started
        count = f"{self._done:g}/{self.total:g}" if self.total else f"{self._done:g}"
        unit = "trials" if self.unit == "trial" else self.unit
        parts = [f"{self.name}: {count} {unit}" + (
            f" ({100 * self._done / self.total:.0f}%)" if self.total else "")]
        if self._post:
            parts.append(self._post)
        parts.append(f"{tqdm.format_interval(elapsed)} elapsed")
        rate = (self._done - self._initial) / elapsed if elapsed > 0 else 0.0
        if self.total and rate > 0 and self._done < self.total:
            left = max(self.total - self._done, 0) / rate
            parts.append(f"~{tqdm.format_interval(left)} left")
        print(", ".join(parts), file=self._file, flush=True)

    def write(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message, file=self._file)
        else:
            print(message, file=self._file, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            self._line()  # the last state, unless shown already


def _abandon_reason(exc: BaseException) -> tuple[str, str]:
    """How a trial whose slot ended with ``exc`` is recorded: (kind, reason)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", f"{INTERRUPTED} (KeyboardInterrupt in the objective)"
    if isinstance(exc, SystemExit):
        return "fail", (f"the objective raised SystemExit({exc.code!r}) in the worker's "
                        "thread (isolation 'none'); the sweep stopped")
    return "fail", f"the sweep stopped on an error: {type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _signals_deferred() -> Any:
    """In the main thread, hold Ctrl-C and SIGTERM while the loop records its last trials;
    one that arrived meanwhile is raised as KeyboardInterrupt afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = {s: signal.signal(s, lambda signum, frame: got.append(signum))
           for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if got:
        raise KeyboardInterrupt


def _sigterm_as_interrupt() -> Any:
    """In the main thread, turn SIGTERM (e.g. preemption) into KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)
