"""A simulated multi-worker backend: replays a problem's curves in simulated time.

Syne Tune's ``SimulatorBackend`` is the anchor: N simulated workers, a simulated clock,
events processed in time order from a heap, so that four workers really run
concurrently and every decision sees exactly what had finished by then.

A *policy* is what decides (an Optuna study with any sampler and pruner, or a peer
library's scheduler).  The engine asks it for a job when a worker is free; a job is a
configuration and a segment ``[start, stop)`` of the resource, continued from a
checkpoint or trained from zero.  Each unit ``e`` of the segment costs the curve's time
for that unit and ends with ``policy.report(job, e, value)`` at its simulated finish
time; a ``False`` answer stops the job there (pruned).  At ``stop`` the policy is told
the value.

:class:`OptunaPolicy` runs an Optuna study on ``InMemoryStorage``: each worker calls
``study.ask()``, the trial suggests the problem's space with ``trial.suggest_*``, reads
its segment with ``hpo.budget(trial, max_resource=...)`` (hpo's schedulers set segment
and parent before the trial starts; a plain sampler gets ``(0, max_resource)``), then
``trial.report(value, e)`` and ``trial.should_prune()`` after every unit.  At the end
of a segment (or where it was pruned) the trial gets a cheap simulated checkpoint:
system attributes ``hpo:checkpoint = "sim"`` and ``hpo:checkpoint_step`` = the unit
reached, and ``hpo:seconds`` = its simulated training time, set before
``study.tell``.  A segment with ``start > 0`` whose parent has a
checkpoint costs only units ``start+1 .. stop`` (from the checkpoint's unit if that is
below ``start``); one without retrains from zero.

Recorded: for every finished job the simulated time, the consumed resource so far
(every unit actually trained by any trial, pruned ones up to where they stopped, the
units of running ones included) and the incumbent: the best value among configurations
that reached ``max_resource`` (for tables the seed-mean value of that configuration).
"""

from __future__ import annotations

import abc
import heapq
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from .problems import Curve, Problem

__all__ = ["Job", "OptunaPolicy", "Policy", "SimResult", "Simulator", "Spec", "simulate",
           "suggest_all"]

# hpo._attrs names, spelled out: hpo._attrs is private
CHECKPOINT = "hpo:checkpoint"
CHECKPOINT_STEP = "hpo:checkpoint_step"
PARENT = "hpo:parent"
SECONDS = "hpo:seconds"


@dataclass
class Spec:
    """What a policy asks a worker to run."""

    params: dict[str, Any]
    start: int
    stop: int
    continued: bool  # True: resume from a checkpoint; False: train from zero
    handle: Any = None  # the policy's own object (an Optuna trial, a peer's trial)
    resume_at: int | None = None  # the checkpoint's unit if it is below ``start``


@dataclass
class Job:
    spec: Spec
    curve: Curve
    worker: int
    begin: int  # first unit trained is begin + 1
    epoch: int  # last unit finished
    t_start: float
    number: int


@dataclass
class SimResult:
    system: str
    problem: str
    seed: int
    n_workers: int
    max_resource: int
    optimum: float
    history: list[dict[str, float]] = field(default_factory=list)  # one per finished job
    jobs: list[dict[str, Any]] = field(default_factory=list)
    consumed: int = 0
    sim_time: float = 0.0
    wall_s: float = 0.0
    policy_s: float = 0.0  # wall seconds inside the policy (its own decisions)
    decisions: int = 0  # asks + reports + tells
    busy_time: float = 0.0  # sum of simulated worker-seconds spent training
    stop_reason: str = ""

    def incumbent_at(self, consumed: float) -> float:
        """The incumbent after at most ``consumed`` units (inf before the first one)."""
        best = float("inf")
        for h in self.history:
            if h["consumed"] > consumed:
                break
            best = h["incumbent"]
        return best

    def regret_at(self, consumed: float) -> float:
        return self.incumbent_at(consumed) - self.optimum

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "system", "problem", "seed", "n_workers", "max_resource", "optimum", "consumed",
            "sim_time", "wall_s", "policy_s", "decisions", "busy_time", "stop_reason",
            "history", "jobs")}


class Policy(abc.ABC):
    """The decisions of a system; subclasses implement :meth:`ask` / :meth:`report` /
    :meth:`tell`.  ``ask`` may return ``None``: the worker waits for the next event."""

    name: str = "policy"

    @abc.abstractmethod
    def ask(self, now: float) -> Spec | None:
        """The next job to start, or ``None``."""

    def report(self, job: Job, epoch: int, value: float, now: float) -> bool:
        """After unit ``epoch`` of a job; ``False`` stops (prunes) it."""
        return True

    @abc.abstractmethod
    def tell(self, job: Job, value: float, now: float, pruned: bool) -> None:
        """A job ended (finished its segment, or was pruned)."""


class Simulator:
    """The event loop; :meth:`run` may be called again to continue where it stopped.

    Between two calls the policy may change (e.g. ``IDHB.deepen``) and
    :meth:`set_problem` may swap in the same problem at a larger ``max_resource``; the
    clock, the running jobs, the consumed resource and the history carry on.
    """

    def __init__(self, problem: Problem, policy: Policy, *, n_workers: int = 4, seed: int = 0,
                 system: str | None = None, keep_jobs: bool = True) -> None:
        self.problem, self.policy, self.keep_jobs = problem, policy, keep_jobs
        self.result = SimResult(system=system or policy.name, problem=problem.name, seed=seed,
                                n_workers=n_workers, max_resource=problem.max_resource,
                                optimum=problem.optimum)
        self.heap: list[tuple[float, int, Job]] = []
        self._seq = itertools.count()
        self._numbers = itertools.count()
        self.idle: list[int] = list(range(n_workers))
        self.incumbent = float("inf")
        self.now = 0.0
        self.told = 0

    def set_problem(self, problem: Problem) -> None:
        """Continue on ``problem`` (typically the same one at a larger ``max_resource``);
        the incumbent restarts: only configurations at the new maximum count."""
        self.problem = problem
        self.result.max_resource, self.result.optimum = problem.max_resource, problem.optimum
        self.incumbent = float("inf")

    def _timed(self, fn: Callable[..., Any], *a: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*a)
        finally:
            self.result.policy_s += time.perf_counter() - t0
            self.result.decisions += 1

    def _launch(self, worker: int) -> bool:
        res, problem = self.result, self.problem
        spec = self._timed(self.policy.ask, self.now)
        if spec is None:
            self.idle.append(worker)
            return False
        start, stop = _units(spec.start), _units(spec.stop)
        if not 0 <= start < stop:
            raise ValueError(f"{res.system}: segment [{spec.start}, {spec.stop}) is empty")
        if stop > _limit(problem):
            raise ValueError(f"{res.system}: segment stop {spec.stop} beyond the "
                             f"{_limit(problem)} units problem {problem.name} has")
        curve = problem.curve(spec.params)
        begin = 0
        if spec.continued:
            begin = start if spec.resume_at is None else min(start, _units(spec.resume_at))
        job = Job(spec=spec, curve=curve, worker=worker, begin=begin, epoch=begin,
                  t_start=self.now, number=next(self._numbers))
        heapq.heappush(self.heap, (self.now + float(curve.costs[begin]), next(self._seq), job))
        return True

    def _wake(self, first: int | None = None) -> None:
        waiting = ([first] if first is not None else []) + self.idle
        self.idle = []
        for w in waiting:
            self._launch(w)

    def run(self, *, max_consumed: float | None = None, max_time: float | None = None,
            max_jobs: int | None = None) -> SimResult:
        """Process events until a limit is reached (see :func:`simulate`)."""
        if max_consumed is None and max_time is None and max_jobs is None:
            raise ValueError("simulate: give max_consumed, max_time or max_jobs")
        res = self.result
        wall0 = time.perf_counter()
        res.stop_reason = "exhausted"
        limits = (max_consumed, max_time, max_jobs)
        if not self._over(*limits):
            self._wake()
        while self.heap and not self._over(*limits):
            t, _, job = heapq.heappop(self.heap)
            self.now = t
            e = job.epoch = job.epoch + 1
            res.consumed += 1
            res.busy_time += float(job.curve.costs[e - 1])
            value = job.curve.value(e)
            pruned = False
            if e < _units(job.spec.stop):
                if self._timed(self.policy.report, job, e, value, t):
                    heapq.heappush(self.heap, (t + float(job.curve.costs[e]), next(self._seq),
                                               job))
                    continue
                pruned = True
            self._timed(self.policy.tell, job, value, t, pruned)
            self.told += 1
            if e == self.problem.max_resource:
                true = self.problem.final_value(job.spec.params)
                if true < self.incumbent:
                    self.incumbent = true
            res.history.append({"time": t, "consumed": res.consumed, "n": self.told,
                                "incumbent": self.incumbent})
            if self.keep_jobs:
                res.jobs.append({"number": job.number, "worker": job.worker,
                                 "key": _jsonable(job.curve.key), "start": job.spec.start,
                                 "stop": job.spec.stop, "begin": job.begin, "reached": e,
                                 "pruned": pruned, "value": value, "t_start": job.t_start,
                                 "t_end": t})
            if not self._over(*limits):
                self._wake(job.worker)
            else:
                self.idle.append(job.worker)
        if self._over(*limits):
            res.stop_reason = "budget"
        res.sim_time = self.now
        res.wall_s += time.perf_counter() - wall0
        return res

    def _over(self, max_consumed: float | None, max_time: float | None,
              max_jobs: int | None) -> bool:
        return ((max_consumed is not None and self.result.consumed >= max_consumed)
                or (max_time is not None and self.now >= max_time)
                or (max_jobs is not None and self.told >= max_jobs))


def simulate(problem: Problem, policy: Policy, *, n_workers: int = 4,
             max_consumed: float | None = None, max_time: float | None = None,
             max_jobs: int | None = None, seed: int = 0, system: str | None = None,
             keep_jobs: bool = True) -> SimResult:
    """Run ``policy`` on ``problem`` with ``n_workers`` simulated workers.

    Stops once ``max_consumed`` units were trained, the simulated clock passed
    ``max_time``, ``max_jobs`` jobs finished, or the policy has nothing left to run.
    Jobs still running then stay in the simulator (their trained units count as
    consumed); :class:`Simulator` can continue them.
    """
    sim = Simulator(problem, policy, n_workers=n_workers, seed=seed, system=system,
                    keep_jobs=keep_jobs)
    return sim.run(max_consumed=max_consumed, max_time=max_time, max_jobs=max_jobs)


def _units(x: float) -> int:
    r = round(x)
    if abs(x - r) > 1e-6:
        raise ValueError(f"resource {x!r} is not a whole number of units (epochs)")
    return int(r)


def _limit(problem: Problem) -> int:
    table = getattr(problem, "table", None)
    return table.n_epochs if table is not None else problem.max_resource


def _jsonable(key: Any) -> Any:
    if isinstance(key, tuple):
        return [_jsonable(k) for k in key]
    if hasattr(key, "item"):
        return key.item()
    return key


def suggest_all(trial: optuna.Trial, space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """``trial.suggest_*`` for every distribution of ``space``."""
    out: dict[str, Any] = {}
    for name, d in space.items():
        if isinstance(d, FloatDistribution):
            out[name] = trial.suggest_float(name, d.low, d.high, log=d.log, step=d.step)
        elif isinstance(d, IntDistribution):
            out[name] = trial.suggest_int(name, d.low, d.high, log=d.log, step=d.step)
        elif isinstance(d, CategoricalDistribution):
            out[name] = trial.suggest_categorical(name, d.choices)
        else:  # pragma: no cover
            raise TypeError(f"{name}: unsupported distribution {d!r}")
    return out


class OptunaPolicy(Policy):
    """An Optuna study (``InMemoryStorage``, minimised) with any sampler and pruner."""

    def __init__(self, problem: Problem, sampler: optuna.samplers.BaseSampler,
                 pruner: optuna.pruners.BasePruner | None = None, *, name: str = "optuna",
                 report: bool = True, study_name: str = "lcground") -> None:
        import hpo  # the library under test: its budget() reads a trial's segment

        self._budget = hpo.budget
        self.problem = problem
        self.name = name
        self.report_units = report
        self.study = optuna.create_study(storage=optuna.storages.InMemoryStorage(),
                                         study_name=study_name,
                                         sampler=sampler, pruner=pruner or
                                         optuna.pruners.NopPruner(), direction="minimize")
        self._storage = self.study._storage
        self._prunes = not isinstance(self.study.pruner, optuna.pruners.NopPruner)

    def ask(self, now: float) -> Spec | None:
        trial = self.study.ask()
        params = suggest_all(trial, self.problem.space)
        start, stop = self._budget(trial, max_resource=self.problem.max_resource)
        continued, resume_at = False, None
        if start > 0:
            attrs = self._storage.get_trial_system_attrs(trial._trial_id)
            parent = attrs.get(PARENT)
            if parent is not None:
                pid = self._storage.get_trial_id_from_study_id_trial_number(
                    self.study._study_id, parent)
                pattrs = self._storage.get_trial_system_attrs(pid)
                continued = CHECKPOINT in pattrs
                step = pattrs.get(CHECKPOINT_STEP)
                if continued and step is not None and step < start:
                    resume_at = step  # the parent stopped short of start: train the gap too
        return Spec(params, start, stop, continued, trial, resume_at)

    def report(self, job: Job, epoch: int, value: float, now: float) -> bool:
        if not self.report_units:
            return True
        trial: optuna.Trial = job.spec.handle
        trial.report(value, epoch)
        return not (self._prunes and trial.should_prune())

    def tell(self, job: Job, value: float, now: float, pruned: bool) -> None:
        trial: optuna.Trial = job.spec.handle
        if self.report_units and not pruned:  # a pruned one reported it already
            trial.report(value, job.epoch)
        self._storage.set_trial_system_attr(trial._trial_id, CHECKPOINT, "sim")
        # the simulated training time (the storage's datetimes are this process's clock)
        self._storage.set_trial_system_attr(trial._trial_id, SECONDS, now - job.t_start)
        self._storage.set_trial_system_attr(trial._trial_id, CHECKPOINT_STEP, job.epoch)
        if pruned:
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, value)
