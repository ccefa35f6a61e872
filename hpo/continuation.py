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

The checkpoint store is a directory, S3 or GCS (:mod:`hpo.artifacts`). Checkpoints are
written atomically: ``torch.save`` streams the state into the store, where it appears
whole or not at all, and only then does the trial's pointer move, together with the
step it reached, in one write; the previous one is then removed. Partial files left by
killed writers are removed by a later checkpoint, unfinished uploads to an object store
by :func:`clean` (``hpo clean``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import time
import uuid
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX, ArtifactMeta
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, Trial, TrialState, create_trial

from hpo import _attrs, _segments, artifacts
from hpo._typing import Number
from hpo.artifacts import TORN_AFTER, CheckpointStore, FileStore
from hpo.exceptions import ArtifactNotFound, CheckpointUnreadable
from hpo.storages import hpo_home

__all__ = ["Cleanup", "budget", "checkpoint", "checkpoint_of", "checkpoint_store", "clean",
           "extend", "lineage", "resume", "set_budget", "still_needed"]

_log = logging.getLogger(__name__)


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


def checkpoint_store(storage: BaseStorage, study_id: int) -> CheckpointStore:
    """The study's checkpoint store; a plain optuna study gets the default directory,
    recorded for the other workers."""
    attrs = storage.get_study_system_attrs(study_id)
    url = attrs.get(_attrs.ARTIFACT_STORE) or attrs.get(_attrs.ARTIFACT_DIR)  # older studies
    if url is None:
        url = str((hpo_home() / "artifacts").resolve())
        storage.set_study_system_attr(study_id, _attrs.ARTIFACT_STORE, url)
    return artifacts.of_study(url, storage, study_id)


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
    store = checkpoint_store(storage, study_id)
    _remove_torn(store)
    artifact_id = str(uuid.uuid4())
    import torch  # here, not at the top: hpo.budget and the schedulers need no torch

    with store.open_writer(artifact_id) as f:  # all of it or nothing; raises if it fails
        try:
            torch.save(state, f)
        except RuntimeError:
            failure = getattr(f, "failure", None)  # torch ends its archive after an upload
            if failure is not None:  # error and raises its own; the upload's is the reason
                raise failure from None
            raise
    meta = ArtifactMeta(artifact_id=artifact_id, filename=f"checkpoint-{trial.number}.pt",
                        mimetype=_CHECKPOINT_MIME, encoding=None)
    storage.set_trial_system_attr(tid, ARTIFACTS_ATTR_PREFIX + artifact_id,
                                  json.dumps(dataclasses.asdict(meta)))
    previous = checkpoint_of(_trial_attrs(storage, tid))
    # The pointer and its step move together, in one write, once the artifact is complete:
    # a worker killed at any point leaves the previous pair or the new one, never a mix.
    storage.set_trial_system_attr(tid, _attrs.CHECKPOINT_AT, [artifact_id, step])
    storage.set_trial_system_attr(tid, _attrs.CHECKPOINT, artifact_id)  # for people and tools
    if step is not None:
        storage.set_trial_system_attr(tid, _attrs.CHECKPOINT_STEP, step)
    if previous is not None:  # readers take the pointer first and retry when it moved
        try:
            store.remove(previous[0])
        except Exception as exc:  # the new checkpoint is in; hpo clean takes the old one
            _log.warning("trial %d: could not remove its previous checkpoint %s from %s: %s",
                         trial.number, previous[0], store.url, exc)
    return artifact_id


_CHECKPOINT_MIME = "application/x-torch"


def _remove_torn(store: CheckpointStore) -> None:
    """Remove the partial files of writers killed mid-write (older than an hour). An
    object store's unfinished uploads are left to ``hpo clean`` (or the bucket's
    lifecycle rule): listing them costs a request, and their age is the server's word."""
    if isinstance(store, FileStore):
        store.remove_torn(TORN_AFTER)


def checkpoint_of(attrs: dict[str, Any]) -> tuple[str, Number | None] | None:
    """``(artifact id, step)`` of a trial's latest complete checkpoint, from its system
    attributes, or ``None`` if it saved none."""
    pair = attrs.get(_attrs.CHECKPOINT_AT)
    if pair is not None:
        return pair[0], pair[1]
    if _attrs.CHECKPOINT in attrs:  # written by other tools (a simulator) or older hpo
        return attrs[_attrs.CHECKPOINT], attrs.get(_attrs.CHECKPOINT_STEP)
    return None


def _load(store: CheckpointStore, artifact_id: str, map_location: Any) -> Any:
    import torch  # here, not at the top: hpo.budget and the schedulers need no torch

    with store.open_reader(artifact_id) as f:  # seekable; object stores read byte ranges
        return torch.load(f, map_location=map_location, weights_only=False)


def load_checkpoint(study: optuna.Study, trial_number: int, *, map_location: Any = "cpu") -> Any:
    """The latest checkpoint of trial ``trial_number``, or ``None`` if it never saved one.

    Raises :class:`~hpo.exceptions.CheckpointUnreadable` when it cannot be loaded."""
    storage, study_id = study._storage, study._study_id
    tid = storage.get_trial_id_from_study_id_trial_number(study_id, trial_number)
    store = checkpoint_store(storage, study_id)
    for _ in range(3):  # the trial may replace its checkpoint while we read it
        latest = checkpoint_of(_trial_attrs(storage, tid))
        if latest is None:
            return None
        artifact_id = latest[0]
        try:
            return _load(store, artifact_id, map_location)
        except ArtifactNotFound:
            continue
        except Exception as exc:  # e.g. torch: "PytorchStreamReader failed reading zip ..."
            if checkpoint_of(_trial_attrs(storage, tid)) != latest:
                continue  # replaced while we read it
            first = next((ln for ln in str(exc).splitlines() if ln.strip()), "")
            raise CheckpointUnreadable(trial_number, artifact_id, store.url,
                                       f"{type(exc).__name__}: {first}") from exc
    raise FileNotFoundError(f"trial {trial_number}: checkpoint {artifact_id} is missing from "
                            f"the artifact store {store.url}")


def resume(trial: Trial | None, *, map_location: Any = "cpu") -> Any:
    """The state checkpointed by the trial this one continues, or ``None`` if it is fresh.

    ``map_location`` is passed to ``torch.load``; the default loads tensors on the CPU
    so that a state saved on one GPU resumes on any machine. A parent's checkpoint that
    cannot be read raises :class:`~hpo.exceptions.CheckpointUnreadable` naming this
    trial, the parent and the artifact (the runner then retrains the configuration from
    zero, docs/continuation.md).
    """
    if trial is None:
        return None
    if not isinstance(trial, Trial):
        raise TypeError(f"trial: expected a running optuna Trial, got {type(trial).__name__}")
    storage, _, tid = _locate(trial, None)
    parent = _trial_attrs(storage, tid).get(_attrs.PARENT)
    if parent is None:
        return None
    try:
        state = load_checkpoint(trial.study, parent, map_location=map_location)
    except CheckpointUnreadable as exc:
        # the runner's retry reads this: it retrains the configuration from zero
        storage.set_trial_system_attr(tid, _attrs.UNREADABLE, int(parent))
        raise CheckpointUnreadable(exc.trial, exc.artifact, exc.store, exc.detail,
                                   continued_by=trial.number) from exc.__cause__
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
    if trial_number in storage.get_study_system_attrs(study_id).get(_attrs.CLEANED, []):
        raise ValueError(f"trial_number: the checkpoint of trial {trial_number} was removed by "
                         "hpo clean; extend a trial that kept its checkpoint")
    reached = latest[1] if latest[1] is not None else attrs.get(_attrs.STOP)
    if reached is None:
        raise ValueError(f"trial_number: trial {trial_number} recorded neither its budget nor "
                         "its checkpoint step; call hpo.budget or hpo.checkpoint(..., step=)")
    if isinstance(stop, bool) or not isinstance(stop, (int, float)) or stop <= reached:
        raise ValueError(f"stop: must be a number above the {reached} trial {trial_number} "
                         f"reached, got {stop!r}")
    template = create_trial(
        state=TrialState.WAITING,
        system_attrs={_attrs.FIXED_PARAMS: dict(parent.params), _attrs.PARENT: trial_number,
                      _attrs.START: reached, _attrs.STOP: stop},
    )
    new_id = storage.create_new_trial(study_id, template_trial=template)
    return storage.get_trial_number_from_id(new_id)


@dataclasses.dataclass
class Cleanup:
    """What :func:`clean` removed (or, with ``dry_run``, would remove)."""

    store: str
    removed: list[str] = dataclasses.field(default_factory=list)  # artifact ids
    bytes: int = 0
    torn: int = 0  # unfinished uploads of killed writers
    kept: int = 0  # checkpoints a trial may still resume or exploit


SUPERSEDED_GRACE = 60.0  # seconds: a decision in another process may have read just before


def still_needed(trials: Sequence[FrozenTrial], *, now: float | None = None,
                 grace: float | None = None) -> set[int]:
    """Numbers of the trials whose checkpoints some trial may still resume or copy.

    The one rule behind :func:`clean` and the population samplers' removal of
    checkpoints as they go. A trial's checkpoint is needed while

    - the trial runs, or a running or waiting trial continues or retries it;
    - nothing superseded it: no finished trial that saved a checkpoint continues it (a
      promotion, an exploit, an extension, a retry), and no later segment of the same
      PBT member finished, more than ``grace`` seconds ago (default
      :data:`SUPERSEDED_GRACE`: a decision in another process may have read the study
      just before);
    - it is a PBT segment at or above the resource of the member furthest behind, which
      may still copy it (members are compared at equal resource).

    Example:
        >>> import optuna
        >>> from optuna.trial import create_trial
        >>> study = optuna.create_study()
        >>> for attrs in ({"hpo:stop": 1, "hpo:checkpoint": "a"},
        ...               {"hpo:stop": 3, "hpo:parent": 0, "hpo:checkpoint": "b"}):
        ...     study.add_trial(create_trial(value=1.0, system_attrs=attrs))
        >>> sorted(still_needed(study.trials, grace=0.0))  # trial 1 superseded trial 0
        [1]
    """
    now = time.time() if now is None else now
    grace = SUPERSEDED_GRACE if grace is None else grace
    def settled(t: FrozenTrial) -> bool:
        return t.state in (TrialState.COMPLETE, TrialState.PRUNED) \
            and checkpoint_of(t.system_attrs) is not None and t.datetime_complete is not None \
            and now - t.datetime_complete.timestamp() > grace

    needed = {t.number for t in trials if t.state == TrialState.RUNNING}
    superseded: set[int] = set()
    segments: dict[Any, list[FrozenTrial]] = {}  # PBT member -> its finished segments
    for t in trials:
        a = t.system_attrs
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            needed.update(a[k] for k in (_attrs.PARENT, _attrs.RETRY_OF) if a.get(k) is not None)
        if a.get(_attrs.PARENT) is not None and settled(t):
            superseded.add(a[_attrs.PARENT])
        if _attrs.MEMBER in a:
            segments.setdefault(a[_attrs.MEMBER], [])
            if t.state == TrialState.COMPLETE:
                segments[a[_attrs.MEMBER]].append(t)
    for done in segments.values():
        for old, new in itertools.pairwise(done):
            if settled(new):
                superseded.add(old.number)
    behind = min((max((t.system_attrs.get(_attrs.STOP, 0) for t in done), default=0)
                  for done in segments.values()), default=math.inf)
    for t in trials:
        a = t.system_attrs
        if t.number not in superseded or (_attrs.MEMBER in a and a.get(_attrs.STOP, 0) >= behind):
            needed.add(t.number)
    return needed


def clean(study: optuna.Study, *, finished: bool = False, older_than: float = TORN_AFTER,
          dry_run: bool = False) -> Cleanup:
    """Remove the checkpoints of ``study`` that no trial may resume or exploit any more.

    Removed: uploads left unfinished by killed writers and objects no trial points to
    (both begun or written more than ``older_than`` seconds ago), and each checkpoint that
    a completed continuation has superseded and no running, waiting or retried trial
    continues. PBT segments are also kept while some member has not passed their
    resource (it may exploit them). Other artifacts of the study (``upload_artifact``)
    are never touched. With ``finished=True`` the study must have no running or waiting
    trial, and every checkpoint goes but those of the best trials and of the latest
    finished segment of their configurations (so ``hpo.extend`` still works on them).

    Example:
        ``hpo.continuation.clean(study).removed`` lists the artifact ids it removed.
    """
    storage, study_id = study._storage, study._study_id
    store = checkpoint_store(storage, study_id)
    trials = study.get_trials(deepcopy=False)
    live = [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    if finished and live:
        raise ValueError(f"finished: study {study.study_name!r} has {len(live)} running or "
                         "waiting trial(s); clean it without --all, or when it has stopped")
    latest = {t.number: c[0] for t in trials if (c := checkpoint_of(t.system_attrs))}
    if finished:  # nothing runs: every checkpoint goes but the best configurations'
        best = {t.number for t in _segments.best_trials(study) if t.state == TrialState.COMPLETE}
        needed = set(best)
        for chain in _segments.chains(trials).values():  # and where they went on to
            done = [t for t in chain if t.state == TrialState.COMPLETE]
            if done and any(t.number in best for t in chain):
                needed.add(done[-1].number)
    else:
        needed = still_needed(trials)
    report = Cleanup(store=store.url)
    doomed = {latest[n] for n in latest if n not in needed}
    report.kept = len(latest) - len(doomed)
    pointed = set(latest.values())
    users = {key[len(ARTIFACTS_ATTR_PREFIX):] for t in trials for key, v in t.system_attrs.items()
             if key.startswith(ARTIFACTS_ATTR_PREFIX) and
             json.loads(v).get("mimetype") != _CHECKPOINT_MIME}
    users |= {key[len(ARTIFACTS_ATTR_PREFIX):] for key in
              storage.get_study_system_attrs(study_id) if key.startswith(ARTIFACTS_ATTR_PREFIX)}
    cutoff = time.time() - older_than
    if not store.lists:  # a store object that cannot list: what the study points to
        doomed_sizes = dict.fromkeys(doomed, 0)
    else:
        doomed_sizes = {}
        for obj in store.objects():
            if obj.artifact_id in users:
                continue
            orphan = obj.artifact_id not in pointed and obj.modified < cutoff
            if obj.artifact_id in doomed or orphan:
                doomed_sizes[obj.artifact_id] = obj.size
    if not dry_run:
        report.torn = store.remove_torn(older_than)
        cleaned = {n for n, a in latest.items() if a in doomed_sizes}
        if cleaned:
            before = storage.get_study_system_attrs(study_id).get(_attrs.CLEANED, [])
            storage.set_study_system_attr(study_id, _attrs.CLEANED,
                                          sorted(set(before) | cleaned))
        for artifact_id in doomed_sizes:
            store.remove(artifact_id)
    report.removed = sorted(doomed_sizes)
    report.bytes = sum(doomed_sizes.values())
    return report
