"""Trial continuation: a trial may continue another trial's training from its checkpoint.

This one mechanism serves Hyperband promotion, IDHB deepening, PBT exploit and
MO-PBT. A trial's continuation lives in its Optuna system attributes (``hpo:parent``,
``hpo:start``, ``hpo:stop``); its checkpoint is an Optuna artifact, so any worker on
any host that loads the study can resume any trial.

A training function uses four calls:

Example:
    >>> import hpo, optuna, tempfile
    >>> @hpo.objective(direction="maximize")
    ... def train(lr: float = hpo.loguniform(1e-3, 1e-1), *, trial=None) -> float:
    ...     state = hpo.resume(trial) or {"step": 0, "score": 0.0}
    ...     start, stop = hpo.budget(trial, max_resource=10)
    ...     for step in range(start, stop):
    ...         state["score"] += lr
    ...         state["step"] = step + 1
    ...     hpo.checkpoint(trial, state, step=stop)
    ...     return state["score"]
    >>> study = hpo.create_study(direction="maximize", storage="sqlite:///:memory:",
    ...                          artifact_dir=tempfile.mkdtemp())
    >>> study.optimize(train, n_trials=1)
    >>> child = hpo.extend(study, 0, stop=30)  # continue trial 0 up to step 30
    >>> study.optimize(train, n_trials=1)
    >>> hpo.budget(study.trials[child]), [t.number for t in hpo.lineage(study.trials[child], study)]
    ((10, 30), [0])

Checkpoints are written atomically: the state is serialised with ``torch.save`` to a
partial file in the artifact store, renamed to its artifact id once complete, and only
then does the trial's pointer move, together with the step it reached, in one write;
the previous one is then removed, and partial files left by killed writers are
cleaned up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore
from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX, ArtifactMeta
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, Trial, TrialState, create_trial

from hpo import _attrs

__all__ = ["budget", "checkpoint", "checkpoint_of", "extend", "lineage", "resume", "set_budget"]

_log = logging.getLogger(__name__)

Number = int | float


def _locate(trial: Trial | FrozenTrial, study: optuna.Study | None) -> tuple[BaseStorage, int, int]:
    """(storage, study_id, trial_id) of a trial."""
    if isinstance(trial, Trial):
        return trial.study._storage, trial.study._study_id, trial._trial_id
    if isinstance(trial, FrozenTrial):
        if study is None:
            raise ValueError("study: a FrozenTrial needs its study; pass study=...")
        return study._storage, study._study_id, trial._trial_id
    raise TypeError(f"trial: expected an optuna Trial or FrozenTrial, got {type(trial).__name__}")


def _trial_attrs(storage: BaseStorage, trial_id: int) -> dict[str, Any]:
    return storage.get_trial_system_attrs(trial_id)


def _store(storage: BaseStorage, study_id: int) -> FileSystemArtifactStore:
    attrs = storage.get_study_system_attrs(study_id)
    path = attrs.get(_attrs.ARTIFACT_DIR)
    if path is None:  # a plain optuna study: adopt the default and record it for other workers
        from hpo.study import hpo_home

        path = str((hpo_home() / "artifacts").resolve())
        storage.set_study_system_attr(study_id, _attrs.ARTIFACT_DIR, path)
    Path(path).mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(path)


def _check_range(start: Any, stop: Any) -> None:
    for name, v in (("start", start), ("stop", stop)):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{name} must be a number, got {v!r}")
    if not 0 <= start < stop:
        raise ValueError(f"budget must satisfy 0 <= start < stop, got start={start}, stop={stop}")


def set_budget(study: optuna.Study, trial: FrozenTrial | Trial, *, start: Number, stop: Number,
               parent: int | None = None) -> None:
    """Set, before it runs, the resource range of a trial and the trial it continues.

    For samplers and pruners, typically in ``BaseSampler.before_trial(study, trial)``.
    ``parent`` is the number of an earlier trial whose checkpoint :func:`resume` loads.
    """
    storage, study_id, tid = _locate(trial, study)
    _check_range(start, stop)
    if parent is not None:
        if parent == trial.number:
            raise ValueError(f"parent: trial {trial.number} cannot continue itself")
        storage.get_trial_id_from_study_id_trial_number(study_id, parent)  # KeyError if absent
        storage.set_trial_system_attr(tid, _attrs.PARENT, int(parent))
    storage.set_trial_system_attr(tid, _attrs.START, start)
    storage.set_trial_system_attr(tid, _attrs.STOP, stop)


def budget(trial: Trial | FrozenTrial | None, max_resource: Number | None = None,
           study: optuna.Study | None = None) -> tuple[Number, Number]:
    """``(start, stop)`` of the resource (steps, epochs, ...) the trial trains over.

    Set by a sampler or pruner (:func:`set_budget`) or by :func:`extend`; otherwise a
    fresh trial trains ``(0, max_resource)``, where the study's ``max_resource`` (see
    :func:`hpo.create_study`) overrides the function's own ``max_resource`` argument.
    With ``trial=None`` (a plain call of the training function) it is
    ``(0, max_resource)``. A running trial records the range it was given.
    """
    if trial is None:
        if max_resource is None:
            raise ValueError("max_resource: needed when there is no trial")
        return 0, max_resource
    if isinstance(trial, FrozenTrial) and study is None:  # its attributes are at hand
        attrs, study_max = trial.system_attrs, None
    else:
        storage, study_id, tid = _locate(trial, study)
        attrs = _trial_attrs(storage, tid)
        study_max = storage.get_study_system_attrs(study_id).get(_attrs.MAX_RESOURCE)
    if _attrs.STOP in attrs:
        if isinstance(trial, Trial) and not attrs.get(_attrs.BUDGET_READ):
            storage.set_trial_system_attr(tid, _attrs.BUDGET_READ, True)
        return attrs.get(_attrs.START, 0), attrs[_attrs.STOP]
    stop = study_max if study_max is not None else max_resource
    if stop is None:
        raise ValueError(f"max_resource: trial {trial.number} has no budget; pass max_resource= "
                         "to hpo.budget or to hpo.create_study")
    _check_range(0, stop)
    if isinstance(trial, Trial):
        storage.set_trial_system_attr(tid, _attrs.START, 0)
        storage.set_trial_system_attr(tid, _attrs.STOP, stop)
        storage.set_trial_system_attr(tid, _attrs.BUDGET_READ, True)
    return 0, stop


def checkpoint(trial: Trial | None, state: Any, *, step: Number | None = None) -> str | None:
    """Save ``state`` (anything ``torch.save`` takes) as the trial's latest checkpoint.

    Returns the artifact id, or ``None`` for ``trial=None`` (a plain call: nothing to
    save into). ``step`` records the resource the state has reached; :func:`extend`
    continues from it.
    """
    if trial is None:
        return None
    if not isinstance(trial, Trial):
        raise TypeError(f"trial: expected a running optuna Trial, got {type(trial).__name__}")
    storage, study_id, tid = _locate(trial, None)
    store = _store(storage, study_id)
    base = Path(store._base_path)
    _remove_torn(base)
    artifact_id = str(uuid.uuid4())
    partial = base / f"{_PARTIAL}{artifact_id}"
    try:
        with open(partial, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, base / artifact_id)  # a reader sees all of it or nothing
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    meta = ArtifactMeta(artifact_id=artifact_id, filename=f"checkpoint-{trial.number}.pt",
                        mimetype="application/x-torch", encoding=None)
    storage.set_trial_system_attr(tid, ARTIFACTS_ATTR_PREFIX + artifact_id,
                                  json.dumps(dataclasses.asdict(meta)))
    previous = checkpoint_of(_trial_attrs(storage, tid))
    # The pointer and its step move together, in one write, once the artifact is complete:
    # a worker killed at any point leaves the previous pair or the new one, never a mix.
    storage.set_trial_system_attr(tid, _attrs.CHECKPOINT_AT, [artifact_id, step])
    storage.set_trial_system_attr(tid, _attrs.CHECKPOINT, artifact_id)  # for people and tools
    if step is not None:
        storage.set_trial_system_attr(tid, _attrs.CHECKPOINT_STEP, step)
    if previous is not None:
        try:
            store.remove(previous[0])
        except FileNotFoundError:
            _log.warning("trial %d: previous checkpoint %s was already gone", trial.number,
                         previous[0])
    return artifact_id


_PARTIAL = ".partial-"  # an artifact being written; renamed to its id once complete
_TORN_AFTER = 3600.0  # seconds after which a partial file belongs to a killed writer


def _remove_torn(base: Path) -> None:
    """Remove the partial files of writers killed mid-upload (older than an hour)."""
    now = time.time()
    for path in base.glob(f"{_PARTIAL}*"):
        with contextlib.suppress(FileNotFoundError):
            if now - path.stat().st_mtime > _TORN_AFTER:
                path.unlink()


def checkpoint_of(attrs: dict[str, Any]) -> tuple[str, Number | None] | None:
    """``(artifact id, step)`` of a trial's latest complete checkpoint, from its system
    attributes, or ``None`` if it saved none."""
    pair = attrs.get(_attrs.CHECKPOINT_AT)
    if pair is not None:
        return pair[0], pair[1]
    if _attrs.CHECKPOINT in attrs:  # written by other tools (a simulator) or older hpo
        return attrs[_attrs.CHECKPOINT], attrs.get(_attrs.CHECKPOINT_STEP)
    return None


def _load(store: FileSystemArtifactStore, artifact_id: str, map_location: Any) -> Any:
    with store.open_reader(artifact_id) as f:
        data = f.read()
    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=False)


def load_checkpoint(study: optuna.Study, trial_number: int, *, map_location: Any = "cpu") -> Any:
    """The latest checkpoint of trial ``trial_number``, or ``None`` if it never saved one."""
    storage, study_id = study._storage, study._study_id
    tid = storage.get_trial_id_from_study_id_trial_number(study_id, trial_number)
    store = _store(storage, study_id)
    for _ in range(3):  # the trial may replace its checkpoint while we read it
        latest = checkpoint_of(_trial_attrs(storage, tid))
        if latest is None:
            return None
        artifact_id = latest[0]
        try:
            return _load(store, artifact_id, map_location)
        except FileNotFoundError:
            continue
    raise FileNotFoundError(f"trial {trial_number}: checkpoint {artifact_id} is missing from "
                            f"the artifact store {store._base_path}")


def resume(trial: Trial | None, *, map_location: Any = "cpu") -> Any:
    """The state checkpointed by the trial this one continues, or ``None`` if it is fresh.

    ``map_location`` is passed to ``torch.load``; the default loads tensors on the CPU
    so that a state saved on one GPU resumes on any machine.
    """
    if trial is None:
        return None
    if not isinstance(trial, Trial):
        raise TypeError(f"trial: expected a running optuna Trial, got {type(trial).__name__}")
    storage, _, tid = _locate(trial, None)
    parent = _trial_attrs(storage, tid).get(_attrs.PARENT)
    if parent is None:
        return None
    state = load_checkpoint(trial.study, parent, map_location=map_location)
    if state is None:
        raise FileNotFoundError(f"trial {trial.number} continues trial {parent}, which saved no "
                                "checkpoint (its objective must call hpo.checkpoint)")
    return state


def lineage(trial: Trial | FrozenTrial, study: optuna.Study | None = None) -> list[FrozenTrial]:
    """The trials this one continues, nearest first; ``[]`` for a fresh trial."""
    storage, study_id, tid = _locate(trial, study)
    out: list[FrozenTrial] = []
    seen = {trial.number}
    parent = _trial_attrs(storage, tid).get(_attrs.PARENT)
    while parent is not None:
        if parent in seen:
            raise RuntimeError(f"trial {trial.number}: its lineage has a cycle at trial {parent}")
        seen.add(parent)
        frozen = storage.get_trial(
            storage.get_trial_id_from_study_id_trial_number(study_id, parent))
        out.append(frozen)
        parent = frozen.system_attrs.get(_attrs.PARENT)
    return out


def extend(study: optuna.Study, trial_number: int, *, stop: Number) -> int:
    """Enqueue a continuation of a finished trial up to resource ``stop``.

    The new trial has the same parameters, resumes from the trial's checkpoint and
    trains over ``(reached, stop)``, where ``reached`` is the step of that checkpoint
    (or the trial's own ``stop``). The next ``study.ask()`` or ``study.optimize`` runs it.
    Returns the new trial's number.

    Example:
        ``hpo.extend(study, study.best_trial.number, stop=200_000)`` then
        ``study.optimize(train, n_trials=1)``.
    """
    storage, study_id = study._storage, study._study_id
    try:
        tid = storage.get_trial_id_from_study_id_trial_number(study_id, trial_number)
    except KeyError:
        raise ValueError(f"trial_number: study {study.study_name!r} has no trial "
                         f"{trial_number}") from None
    parent = storage.get_trial(tid)
    if parent.state not in (TrialState.COMPLETE, TrialState.PRUNED):
        raise ValueError(f"trial_number: trial {trial_number} is {parent.state.name}; only "
                         "COMPLETE or PRUNED trials can be extended")
    attrs = parent.system_attrs
    latest = checkpoint_of(attrs)
    if latest is None:
        raise ValueError(f"trial_number: trial {trial_number} saved no checkpoint (its objective "
                         "must call hpo.checkpoint) and cannot be extended")
    reached = latest[1] if latest[1] is not None else attrs.get(_attrs.STOP)
    if reached is None:
        raise ValueError(f"trial_number: trial {trial_number} recorded neither its budget nor "
                         "its checkpoint step; call hpo.budget or hpo.checkpoint(..., step=)")
    if isinstance(stop, bool) or not isinstance(stop, (int, float)) or stop <= reached:
        raise ValueError(f"stop: must be a number above the {reached} trial {trial_number} "
                         f"reached, got {stop!r}")
    template = create_trial(
        state=TrialState.WAITING,
        system_attrs={"fixed_params": dict(parent.params), _attrs.PARENT: trial_number,
                      _attrs.START: reached, _attrs.STOP: stop},
    )
    new_id = storage.create_new_trial(study_id, template_trial=template)
    return storage.get_trial_number_from_id(new_id)
