"""The trial side of the worker loop: run one trial's objective where the executor put it.

Executors (a thread, a child process, a Ray task) all call :func:`execute`; it opens the
study from a :class:`TrialSpec`, rebuilds the running trial from its id, runs the
objective and returns an :class:`~hpo.runner.outcome.Outcome`. The worker loop, not
this code, tells the study the result.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage

from hpo import _attrs
from hpo.objective import Objective, normalise_values, run_recorded
from hpo.runner.outcome import Outcome
from hpo.storages import resolve_storage

__all__ = ["TrialSpec", "execute"]


@dataclass
class TrialSpec:
    """Everything a process needs to run trials of a study (picklable).

    ``storage`` is a URL for process and Ray executors; the in-thread executor may
    hold a storage object (e.g. ``InMemoryStorage``).
    """

    storage: str | BaseStorage
    study_name: str
    objective: Callable[[optuna.Trial], Any]
    sampler: BaseSampler | None = None
    pruner: BasePruner | None = None
    log_dir: str | None = None
    sys_path: tuple[str, ...] = ()


_studies: dict[tuple[Any, str], optuna.Study] = {}


def _study(spec: TrialSpec) -> optuna.Study:
    where = spec.storage if isinstance(spec.storage, str) else id(spec.storage)
    key = (where, spec.study_name)
    if key not in _studies:  # one connection per process and study
        for p in reversed(spec.sys_path):
            if p not in sys.path:
                sys.path.insert(0, p)
        _studies[key] = optuna.load_study(study_name=spec.study_name,
                                          storage=resolve_storage(spec.storage),
                                          sampler=spec.sampler, pruner=spec.pruner)
        if isinstance(spec.storage, str):
            # a copy of the worker's sampler, as seeded as every other copy: an objective
            # that samples for itself must not draw what another process draws
            _studies[key].sampler.reseed_rng()
    return _studies[key]


def execute(spec: TrialSpec, trial_id: int, redirect: bool = False) -> Outcome:
    """Run the objective on the RUNNING trial ``trial_id`` and say how it went.

    With ``redirect`` (child processes only) the process's stdout and stderr go to
    ``<log_dir>/trial-<number>.log`` while the trial runs.
    """
    study = _study(spec)
    # Optuna's RDB storage cache in this process has not seen the trial the worker loop
    # created; reading the running trials brings it in (incrementally, cheaply).
    study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    trial = optuna.Trial(study, trial_id)
    saved = _redirect(spec, trial.number) if redirect and spec.log_dir else None
    try:
        # a decorated objective records its own failures; anything else is wrapped
        value = spec.objective(trial) if isinstance(spec.objective, Objective) \
            else run_recorded(spec.objective, trial)
    except optuna.TrialPruned:
        return Outcome("pruned")
    except Exception as exc:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return Outcome("fail", reason=f"{type(exc).__name__}: {exc}", traceback=tb)
    finally:
        if saved is not None:
            _restore(saved)
    # run_recorded returns valid values as floats and an invalid one, recorded, as NaN
    result = normalise_values(value, len(study.directions))
    if isinstance(result, str):
        reason = study._storage.get_trial_system_attrs(trial_id).get(_attrs.FAIL_REASON, result)
        return Outcome("fail", reason=reason)
    return Outcome("complete", values=result)


def _redirect(spec: TrialSpec, number: int) -> tuple[int, int]:
    assert spec.log_dir is not None
    Path(spec.log_dir).mkdir(parents=True, exist_ok=True)
    path = Path(spec.log_dir) / f"trial-{number}.log"
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return saved


def _restore(saved: tuple[int, int]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    os.close(saved[0])
    os.close(saved[1])
