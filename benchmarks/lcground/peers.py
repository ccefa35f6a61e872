"""Peer schedulers from other libraries as policies of the simulated backend.

* :class:`SyneTuneASHA`: Syne Tune's ``ASHA`` (``syne_tune.optimizer.baselines``;
  stopping type, random searcher, one bracket), driven through its scheduler API
  (``suggest`` / ``on_trial_add`` / ``on_trial_result`` / ``on_trial_complete``), which
  is what Syne Tune's own ``SimulatorBackend`` calls.
* :class:`DEHBPolicy`: the ``dehb`` package's ``DEHB`` through its ``ask`` / ``tell``
  interface (``n_workers=1``, so no Dask cluster is started; several asks may be pending,
  as its own asynchronous loop does).  DEHB never continues a configuration: every job
  trains from zero to its fidelity.

Both are optional: :func:`available` says which import here.
"""

from __future__ import annotations

import datetime
import tempfile
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from .problems import Problem
from .sim import Job, Policy, Spec

__all__ = ["DEHBPolicy", "SMACPolicy", "SyneTuneASHA", "available"]


def available() -> dict[str, str | None]:
    """``{peer: None if it imports, else the reason}``."""
    out: dict[str, str | None] = {}
    for name, mod in (("syne-tune", "syne_tune.optimizer.baselines"), ("dehb", "dehb"),
                      ("smac", "smac"), ("neps", "neps")):
        try:
            __import__(mod)
            out[name] = None
        except Exception as exc:  # ImportError, or a broken dependency
            out[name] = f"{type(exc).__name__}: {exc}"
    return out


def _cast(params: dict[str, Any], space: dict[str, BaseDistribution]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, d in space.items():
        v = params[name]
        if isinstance(d, IntDistribution):
            out[name] = round(float(v))
        elif isinstance(d, FloatDistribution):
            out[name] = float(v)
        else:
            out[name] = v.item() if hasattr(v, "item") else v
    return out


def _configspace(problem: Problem, seed: int) -> Any:
    """The problem's space as a ConfigSpace ``ConfigurationSpace`` (DEHB, SMAC3)."""
    import ConfigSpace as CS

    cspace = CS.ConfigurationSpace(seed=seed)
    for n, d in problem.space.items():
        if isinstance(d, FloatDistribution):
            cspace.add(CS.Float(n, (d.low, d.high), log=d.log))
        elif isinstance(d, IntDistribution):
            cspace.add(CS.Integer(n, (d.low, d.high), log=d.log))
        elif isinstance(d, CategoricalDistribution):
            cspace.add(CS.Categorical(n, list(d.choices)))
    return cspace


class SyneTuneASHA(Policy):
    """A Syne Tune stopping scheduler, ``grace_period=min_resource``, ``max_t=max_resource``:
    ``baseline="ASHA"`` (random searcher), ``"BOHB"`` (asynchronous BOHB: ASHA with a KDE
    searcher) or ``"ASHABORE"`` (ASHA with a BORE classifier searcher)."""

    def __init__(self, problem: Problem, *, seed: int, reduction_factor: float | None = None,
                 name: str = "Syne Tune ASHA", baseline: str = "ASHA") -> None:
        from syne_tune import config_space as cs
        from syne_tune.backend.trial_status import Trial
        from syne_tune.optimizer import baselines
        from syne_tune.optimizer.scheduler import SchedulerDecision

        ASHA = getattr(baselines, baseline)

        space: dict[str, Any] = {}
        for n, d in problem.space.items():
            if isinstance(d, FloatDistribution):
                space[n] = cs.loguniform(d.low, d.high) if d.log else cs.uniform(d.low, d.high)
            elif isinstance(d, IntDistribution):
                space[n] = (cs.lograndint(d.low, d.high) if d.log
                            else cs.randint(d.low, d.high))
            elif isinstance(d, CategoricalDistribution):
                space[n] = cs.choice(list(d.choices))
        np.random.seed(seed)  # ASHA draws the bracket of a trial from numpy's global RNG
        self.scheduler = ASHA(space, metric="value", time_attr="epoch",
                              max_t=problem.max_resource, grace_period=problem.min_resource,
                              reduction_factor=reduction_factor or problem.reduction_factor,
                              do_minimize=True, random_seed=seed)
        self._Trial, self._continue = Trial, SchedulerDecision.CONTINUE
        self.problem, self.name, self._next = problem, name, 0

    def ask(self, now: float) -> Spec | None:
        sugg = self.scheduler.suggest()
        if sugg is None:
            return None
        trial = self._Trial(trial_id=self._next, config=sugg.config,
                            creation_time=datetime.datetime.now())
        self._next += 1
        self.scheduler.on_trial_add(trial)
        params = _cast(sugg.config, self.problem.space)
        return Spec(params, 0, self.problem.max_resource, False, trial)

    def report(self, job: Job, epoch: int, value: float, now: float) -> bool:
        decision = self.scheduler.on_trial_result(job.spec.handle,
                                                  {"value": value, "epoch": epoch})
        return decision == self._continue

    def tell(self, job: Job, value: float, now: float, pruned: bool) -> None:
        if not pruned:
            self.scheduler.on_trial_complete(job.spec.handle,
                                             {"value": value, "epoch": job.epoch})


class DEHBPolicy(Policy):
    """DEHB (``dehb`` package): fidelities ``min_resource .. max_resource`` by ``eta``."""

    def __init__(self, problem: Problem, *, seed: int, eta: int | None = None,
                 name: str = "DEHB") -> None:
        from dehb import DEHB

        cspace = _configspace(problem, seed)
        self._tmp = tempfile.TemporaryDirectory(prefix="lc-dehb-")
        self.dehb = DEHB(cs=cspace, min_fidelity=problem.min_resource,
                         max_fidelity=problem.max_resource,
                         eta=eta or problem.reduction_factor, n_workers=1, seed=seed,
                         output_path=self._tmp.name, save_freq="end", log_level="ERROR")
        self.problem, self.name = problem, name

    def ask(self, now: float) -> Spec | None:
        job = self.dehb.ask()
        params = _cast(dict(job["config"]), self.problem.space)
        stop = round(float(job["fidelity"]))
        return Spec(params, 0, stop, False, job)

    def tell(self, job: Job, value: float, now: float, pruned: bool) -> None:
        self.dehb.tell(job.spec.handle, {"fitness": float(value),
                                         "cost": job.curve.cost(0, job.epoch)})


class SMACPolicy(Policy):
    """SMAC3's multi-fidelity facade (random forest + Hyperband), ask/tell; fidelities
    ``min_resource .. max_resource`` by ``eta``; every job retrains from zero."""

    def __init__(self, problem: Problem, *, seed: int, eta: int | None = None,
                 name: str = "SMAC3 MF") -> None:
        from smac import MultiFidelityFacade, Scenario

        cspace = _configspace(problem, seed)
        self._tmp = tempfile.TemporaryDirectory(prefix="lc-smac-")
        scenario = Scenario(cspace, deterministic=True, n_trials=100_000, seed=seed,
                            min_budget=problem.min_resource, max_budget=problem.max_resource,
                            output_directory=self._tmp.name)
        intensifier = MultiFidelityFacade.get_intensifier(
            scenario, eta=eta or problem.reduction_factor)
        self.smac = MultiFidelityFacade(scenario, lambda config, seed, budget: 0.0,
                                        intensifier=intensifier, overwrite=True,
                                        logging_level=40)
        self.problem, self.name = problem, name

    def ask(self, now: float) -> Spec | None:
        info = self.smac.ask()
        params = _cast(dict(info.config), self.problem.space)
        return Spec(params, 0, round(float(info.budget)), False, info)

    def tell(self, job: Job, value: float, now: float, pruned: bool) -> None:
        from smac.runhistory.dataclasses import TrialValue

        self.smac.tell(job.spec.handle, TrialValue(cost=float(value),
                                                   time=job.curve.cost(0, job.epoch)))
