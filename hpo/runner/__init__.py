"""The runner: one worker loop dispatching trials to threads, processes or Ray tasks.

:func:`run` is the Python entry point; ``hpo sweep`` and ``hpo worker`` use it.

Example:
    >>> import hpo
    >>> @hpo.objective
    ... def f(x: float = hpo.uniform(-1, 1)) -> float:
    ...     return x * x
    >>> study = hpo.run(f, storage="sqlite:///:memory:", study_name="doc", n_trials=4,
    ...                 isolation="none", progress=False)
    >>> len(study.trials)
    4
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage

from hpo.runner.execute import TrialSpec
from hpo.runner.executors import Executor, InlineExecutor, ProcessExecutor, RayExecutor
from hpo.runner.gpus import assign_gpus
from hpo.runner.loop import Budget, RunSummary, WorkerLoop

__all__ = ["Budget", "RunSummary", "WorkerLoop", "make_executor", "run"]

BACKENDS = ("local", "ray")
ISOLATIONS = ("process", "none")


def make_executor(spec: TrialSpec, *, workers: int = 1, backend: str = "local",
                  isolation: str = "process", gpus_per_trial: float = 0.0,
                  trial_timeout: float | None = None, fresh_process: bool = False,
                  ray_address: str | None = None) -> Executor:
    """The executor for a backend; arguments are checked with clear errors."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: {backend!r} is not one of {BACKENDS}")
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation: {isolation!r} is not one of {ISOLATIONS}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: must be an integer >= 1, got {workers!r}")
    if trial_timeout is not None and trial_timeout <= 0:
        raise ValueError(f"trial_timeout: must be > 0 seconds, got {trial_timeout}")
    if backend == "ray":
        return RayExecutor(spec, workers, trial_timeout, gpus_per_trial=gpus_per_trial,
                           address=ray_address)
    if isolation == "none":
        if gpus_per_trial:
            raise ValueError("gpus_per_trial: needs isolation='process' (GPUs are assigned "
                             "per child process)")
        return InlineExecutor(spec, workers, trial_timeout)
    gpus = assign_gpus(workers, gpus_per_trial) if gpus_per_trial else None
    return ProcessExecutor(spec, workers, trial_timeout, gpus=gpus, fresh_process=fresh_process)


def run(
    objective: Callable[[optuna.Trial], Any],
    *,
    storage: str | BaseStorage,
    study_name: str,
    n_trials: int | None = None,
    timeout: float | None = None,
    resource: float | None = None,
    workers: int = 1,
    gpus_per_trial: float = 0.0,
    backend: str = "local",
    isolation: str = "process",
    trial_timeout: float | None = None,
    max_retries: int = 2,
    retry_on: Sequence[str] = ("crash",),
    sampler: BaseSampler | None = None,
    pruner: BasePruner | None = None,
    direction: str | None = None,
    directions: Sequence[str] | None = None,
    log_dir: str | None = None,
    progress: bool = True,
    ray_address: str | None = None,
    heartbeat_interval: float = 10.0,
    grace_period: float = 60.0,
    fresh_process: bool = False,
) -> optuna.Study:
    """Create or join a study and run trials in parallel workers until the budget is used.

    Each trial runs in a child process by default (``isolation="process"``), so a
    crash, segfault or out-of-memory kill fails only that trial; with
    ``gpus_per_trial`` each child sees its own GPUs. ``backend="ray"`` runs trials as
    Ray tasks instead. Started again with the same storage and study name, it resumes:
    finished trials count against ``n_trials`` and are never redone.

    The objective must be picklable for ``isolation="process"``: a function defined at
    module level (in ``__main__`` of a script too) or a
    :class:`~hpo.runner.command.CommandObjective`. Ray workers do not run your script:
    with ``backend="ray"`` the objective must live in an importable module.

    Returns:
        The study.
    """
    from hpo.study import create_study, resolve_storage

    if directions is None and direction is None:
        directions = getattr(objective, "directions", None)
    study = create_study(storage=storage, study_name=study_name, sampler=sampler,
                         pruner=pruner, direction=direction, directions=directions,
                         load_if_exists=True)
    # threads share this process's storage object; other processes open the URL
    shared = isolation == "none" and backend == "local"
    spec = TrialSpec(storage=resolve_storage(storage) if shared else storage,
                     study_name=study_name,
                     objective=objective,
                     sampler=study.sampler, pruner=study.pruner, log_dir=log_dir,
                     sys_path=_user_paths())
    executor = make_executor(spec, workers=workers, backend=backend, isolation=isolation,
                             gpus_per_trial=gpus_per_trial, trial_timeout=trial_timeout,
                             fresh_process=fresh_process, ray_address=ray_address)
    loop = WorkerLoop(study, executor, Budget(n_trials, timeout, resource),
                      max_retries=max_retries, retry_on=retry_on,
                      heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                      progress=progress)
    summary = loop.run(objective)
    if summary.interrupted:
        raise KeyboardInterrupt(f"sweep {study_name!r} stopped; run it again to resume")
    return study



def _user_paths() -> tuple[str, ...]:
    """The working directory and the entries of ``sys.path`` outside the installation, so
    that Ray workers import the objective's module as this process does."""
    prefixes = tuple(os.path.realpath(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix})
    paths = [os.getcwd()] + [os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)]
    return tuple(dict.fromkeys(p for p in paths if not p.startswith(prefixes)))
