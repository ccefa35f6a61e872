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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from hpo import artifacts
from hpo.objective import Objective
from hpo.runner.command import CommandObjective
from hpo.runner.execute import TrialSpec
from hpo.runner.executors import Executor, InlineExecutor, ProcessExecutor, RayExecutor
from hpo.runner.gpus import assign_gpus
from hpo.runner.loop import Budget, RepeatedFailureError, RunSummary, WorkerLoop
from hpo.samplers.protocols import WantsSearchSpace
from hpo.storages import describe, resolve_storage
from hpo.study import create_study

__all__ = ["Budget", "RepeatedFailureError", "RunSummary", "WorkerLoop", "check_settings",
           "make_executor", "run", "space_differences"]

BACKENDS = ("local", "ray")
ISOLATIONS = ("process", "none")


def check_settings(*, workers: int = 1, backend: str = "local", isolation: str = "process",
                   gpus_per_trial: float = 0.0, trial_timeout: float | None = None,
                   storage: str | BaseStorage | None = None) -> None:
    """Raise ValueError, naming the setting and its allowed values, for settings that
    :func:`run` cannot use; called before any study is created or changed."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: {backend!r} is not one of {BACKENDS}")
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation: {isolation!r} is not one of {ISOLATIONS}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: must be an integer >= 1, got {workers!r}")
    if trial_timeout is not None and trial_timeout <= 0:
        raise ValueError(f"trial_timeout: must be > 0 seconds, got {trial_timeout}")
    if isinstance(gpus_per_trial, bool) or not isinstance(gpus_per_trial, (int, float)) \
            or gpus_per_trial < 0:
        raise ValueError(f"gpus_per_trial: must be a number >= 0, got {gpus_per_trial!r}")
    if backend == "local" and isolation == "none":
        if gpus_per_trial:
            raise ValueError("gpus_per_trial: needs isolation='process' (GPUs are assigned "
                             "per child process)")
        if trial_timeout is not None:
            raise ValueError("trial_timeout: needs isolation='process' (a thread cannot be "
                             "killed); allowed with isolation='none': None")
    elif storage is not None and not isinstance(storage, str):
        who = "backend='ray'" if backend == "ray" else "isolation='process'"
        raise ValueError(f"storage: {who} needs a storage URL that other processes can open "
                         "(sqlite:///..., postgresql://..., journal:///..., redis://...), "
                         "not an in-memory storage; or use isolation='none'")
    if backend == "local" and isolation == "process" and gpus_per_trial:
        assign_gpus(workers, gpus_per_trial)  # raises if there are not enough GPUs
    if backend == "ray":
        try:
            import ray  # noqa: F401  (here, not at the top: only backend='ray' needs it)
        except ImportError:
            raise ImportError("backend: 'ray' needs Ray, which is not installed: pip install "
                              "'hpo[ray]', or use backend: local") from None


def make_executor(spec: TrialSpec, *, workers: int = 1, backend: str = "local",
                  isolation: str = "process", gpus_per_trial: float = 0.0,
                  trial_timeout: float | None = None, fresh_process: bool = False,
                  ray_address: str | None = None) -> Executor:
    """The executor for a backend; arguments are checked with clear errors."""
    check_settings(workers=workers, backend=backend, isolation=isolation,
                   gpus_per_trial=gpus_per_trial, trial_timeout=trial_timeout,
                   storage=spec.storage)
    if backend == "ray":
        return RayExecutor(spec, workers, trial_timeout, gpus_per_trial=gpus_per_trial,
                           address=ray_address)
    if isolation == "none":
        return InlineExecutor(spec, workers, trial_timeout)
    gpus = assign_gpus(workers, gpus_per_trial) if gpus_per_trial else None
    return ProcessExecutor(spec, workers, trial_timeout, gpus=gpus, fresh_process=fresh_process)


def space_differences(trials: Sequence[FrozenTrial], space: Mapping[str, BaseDistribution],
                      *, complete: bool = False) -> list[str]:
    """How ``space`` differs from the distributions the study's trials were sampled from.

    One line per parameter whose distribution changed; with ``complete`` (``space`` is
    every parameter, as for a command's sweep file) also the added and removed ones.

    Example:
        >>> import hpo, optuna
        >>> t = optuna.trial.create_trial(params={"x": 0.5}, value=1.0,
        ...                               distributions={"x": hpo.uniform(0, 1)})
        >>> space_differences([t], {"x": hpo.choice([0.5, 1.0])})
        ['x: float in [0.0, 1.0] -> choice of (0.5, 1.0)']
    """
    seen: dict[str, BaseDistribution] = {}
    for t in trials:
        if t.state == TrialState.WAITING:
            continue
        seen.update(t.distributions)  # later trials win
    diffs = [f"{n}: {_describe(seen[n])} -> {_describe(d)}" for n, d in space.items()
             if n in seen and not _same(seen[n], d)]
    if complete and seen:
        diffs += [f"{n}: added ({_describe(d)})" for n, d in space.items() if n not in seen]
        diffs += [f"{n}: removed (was {_describe(seen[n])})" for n in seen if n not in space]
    return diffs


def _same(a: BaseDistribution, b: BaseDistribution) -> bool:
    """Equal as Optuna distributions: hpo's private attributes (``_hpo_default``, which a
    stored trial's distribution does not carry) do not count."""
    public = lambda d: {k: v for k, v in vars(d).items() if not k.startswith("_")}  # noqa: E731
    return type(a) is type(b) and public(a) == public(b)


def _describe(d: BaseDistribution) -> str:
    """A distribution in a few words: ``float in [0.0, 1.0] (log)``, ``choice of (...)``."""
    if isinstance(d, CategoricalDistribution):
        return f"choice of {d.choices}"
    if isinstance(d, (FloatDistribution, IntDistribution)):
        kind = "float" if isinstance(d, FloatDistribution) else "int"
        extra = (" (log)" if d.log else "") + (f" (step {d.step})" if d.step not in (None, 1)
                                                  else "")
        return f"{kind} in [{d.low}, {d.high}]{extra}"
    return repr(d)


def _refuse_other_directions(resolved: BaseStorage, storage: str | BaseStorage, study_name: str,
                             wanted: Sequence[Any], objective: Any, complete: bool) -> None:
    """Refuse an existing study whose directions differ from ``wanted``, listing every
    difference at once: the directions, and how the search space changed too."""
    if None in wanted or study_name not in {s.study_name for s in resolved.get_all_studies()}:
        return
    sid = resolved.get_study_id_from_name(study_name)
    have = [d.name.lower() for d in resolved.get_study_directions(sid)]
    want = [getattr(d, "name", str(d)).lower() for d in wanted]
    if have == want:
        return
    space = getattr(objective, "space", None)
    diffs = [f"direction(s) {have}, not {want}"] + (space_differences(
        resolved.get_all_trials(sid, deepcopy=False), space, complete=complete) if space else [])
    raise ValueError(f"study {study_name!r} exists in {describe(storage)} with other "
                     "settings:\n  " + "\n  ".join(diffs) + "\na study's direction cannot "
                     "change: use another study name, or delete it with optuna.delete_study")


def _prepare(
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
    max_initial_failures: int = 5,
    allow_space_change: bool = False,
    complete_space: bool = False,
    max_resource: float | None = None,
    artifact_store: Any = None,
) -> tuple[optuna.Study, WorkerLoop]:
    """Check every setting, create or load the study, and build the loop (not run)."""
    check_settings(workers=workers, backend=backend, isolation=isolation,
                   gpus_per_trial=gpus_per_trial, trial_timeout=trial_timeout, storage=storage)
    budget = Budget(n_trials, timeout, resource)
    WorkerLoop.check(max_retries=max_retries, retry_on=retry_on,
                     heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                     max_initial_failures=max_initial_failures)
    if directions is None and direction is None:
        directions = getattr(objective, "directions", None)
    if artifact_store is not None:  # an unreachable store is refused before a file exists
        artifacts.adopt(artifact_store).check()
    resolved = resolve_storage(storage)
    _refuse_other_directions(resolved, storage, study_name, directions or [direction],
                             objective, complete_space)
    space = getattr(objective, "space", None)
    if space and not allow_space_change and study_name in {
            s.study_name for s in resolved.get_all_studies()}:
        sid = resolved.get_study_id_from_name(study_name)
        diffs = space_differences(resolved.get_all_trials(sid, deepcopy=False), space,
                                  complete=complete_space)
        if diffs:
            raise ValueError(
                f"study {study_name!r} in {describe(storage)} was run with another search "
                "space:\n  " + "\n  ".join(diffs) + "\nuse a new study name, or "
                "allow_space_change=True (hpo sweep --allow-space-change) to go on")
    if space and isinstance(sampler, WantsSearchSpace):
        sampler.set_search_space(space)  # e.g. LLMSampler: its warm start from trial 0
    # what the value and the resource are (hpo:metric, hpo:resource), for hpo best, hpo
    # status and the plots: the decorator's metric= / resource=, a command's JSON keys
    metric, resource_name = (objective.metric, objective.resource) \
        if isinstance(objective, Objective) else (objective.metrics, None) \
        if isinstance(objective, CommandObjective) else (None, None)
    study = create_study(storage=storage, study_name=study_name, sampler=sampler,
                         pruner=pruner, direction=direction, directions=directions,
                         load_if_exists=True, max_resource=max_resource,
                         artifact_store=artifact_store, metric=metric, resource=resource_name)
    # threads share this process's storage object; other processes open the URL
    shared = isolation == "none" and backend == "local"
    spec = TrialSpec(storage=resolved if shared else storage,
                     study_name=study_name,
                     objective=objective,
                     sampler=study.sampler, pruner=study.pruner, log_dir=log_dir,
                     sys_path=_user_paths())
    executor = make_executor(spec, workers=workers, backend=backend, isolation=isolation,
                             gpus_per_trial=gpus_per_trial, trial_timeout=trial_timeout,
                             fresh_process=fresh_process, ray_address=ray_address)
    loop = WorkerLoop(study, executor, budget,
                      max_retries=max_retries, retry_on=retry_on,
                      heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                      progress=progress, max_initial_failures=max_initial_failures)
    return study, loop


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
    max_initial_failures: int = 5,
    allow_space_change: bool = False,
) -> optuna.Study:
    """Create or join a study and run trials in parallel workers until the budget is used.

    Each trial runs in a child process by default (``isolation="process"``), so a
    crash, segfault or out-of-memory kill fails only that trial; with
    ``gpus_per_trial`` each child sees its own GPUs. ``backend="ray"`` runs trials as
    Ray tasks instead. Started again with the same storage and study name, it resumes:
    finished trials count against ``n_trials`` and are never redone, and trials of
    workers that died are failed and retried (at once if their process on this host is
    gone, otherwise after ``grace_period`` seconds without a heartbeat).

    Every setting is checked before the study is created or changed. An existing study
    with other directions, or whose trials were sampled from other distributions than
    the objective's declared space, is refused with a ValueError listing the
    differences (``allow_space_change=True`` goes on anyway). ``pruner=None`` is
    Optuna's default (the median pruner); pass ``optuna.pruners.NopPruner()`` to prune
    nothing. The run stops with :class:`~hpo.runner.loop.RepeatedFailureError` when the
    first ``max_initial_failures`` trials all fail with the same error (0: never).

    The objective must be picklable for ``isolation="process"``: a function defined at
    module level (in ``__main__`` of a script too) or a
    :class:`~hpo.runner.command.CommandObjective`. Ray workers do not run your script:
    with ``backend="ray"`` the objective must live in an importable module.

    Returns:
        The study.
    """
    study, loop = _prepare(
        objective, storage=storage, study_name=study_name, n_trials=n_trials,
        timeout=timeout, resource=resource, workers=workers, gpus_per_trial=gpus_per_trial,
        backend=backend, isolation=isolation, trial_timeout=trial_timeout,
        max_retries=max_retries, retry_on=retry_on, sampler=sampler, pruner=pruner,
        direction=direction, directions=directions, log_dir=log_dir, progress=progress,
        ray_address=ray_address, heartbeat_interval=heartbeat_interval,
        grace_period=grace_period, fresh_process=fresh_process,
        max_initial_failures=max_initial_failures, allow_space_change=allow_space_change)
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
