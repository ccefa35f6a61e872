"""Studies: Optuna studies with hpo's defaults (sampler, embedded storage, artifact store).

:func:`create_study` and :func:`load_study` return a :class:`Study`, a subclass of
:class:`optuna.Study` whose only differences are the defaults: a crashing objective
is recorded as a failed trial (with its traceback) and the study goes on, and the
study carries the location of its checkpoint (artifact) store so that any worker
process on any host resumes any trial.

Storage URLs are resolved by :mod:`hpo.storages`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, Trial

from hpo import _attrs, _segments, artifacts
from hpo.exceptions import PopulationFinished
from hpo.objective import Objective, check_directions, run_recorded
from hpo.samplers import default_sampler
from hpo.samplers.protocols import DecidesContinuation
from hpo.storages import default_artifact_dir, describe, resolve_storage

__all__ = ["Study", "create_study", "load_study"]

class Study(optuna.Study):
    """An :class:`optuna.Study` whose :meth:`optimize` records crashes and goes on, and
    whose best trial is compared at one resource.

    ``best_trial``, ``best_value``, ``best_params`` and ``best_trials`` consider one
    COMPLETE trial per configuration at the largest resource that two or more
    configurations reached (``hpo.budget(study.best_trial)[1]`` says which): with a
    scheduler, a value after 1 epoch never beats one after 81; a configuration that
    ``hpo.extend`` alone trained further is compared at the resource the others reached,
    so a continuation that scored worse never becomes the best (``hpo best`` shows
    every resource and warns when the best configuration's continuation scored below
    what it continued). With a single configuration, it is its furthest trial; a study
    without segments (every trial trains the same range) reads as in Optuna. Everything
    else (ask/tell, ``trials_dataframe``, ``enqueue_trial``) is Optuna's. Create one
    with :func:`hpo.create_study`.

    Example:
        >>> import hpo
        >>> from optuna.trial import create_trial
        >>> study = hpo.create_study(storage="sqlite:///:memory:")
        >>> for value, stop in ((0.1, 1), (0.5, 9), (0.4, 9)):
        ...     study.add_trial(create_trial(value=value, system_attrs={"hpo:stop": stop}))
        >>> study.best_trial.number, study.best_value
        (2, 0.4)
        >>> study.add_trial(create_trial(value=0.9, system_attrs={    # trial 2, extended
        ...     "hpo:stop": 27, "hpo:start": 9, "hpo:parent": 2}))
        >>> study.best_trial.number, study.best_value    # still compared at 9
        (2, 0.4)
    """

    @property
    def best_trial(self) -> FrozenTrial:
        return copy.deepcopy(_segments.best_trial(self))

    @property
    def best_trials(self) -> list[FrozenTrial]:
        return copy.deepcopy(_segments.best_trials(self))

    @property
    def best_value(self) -> float:
        value = self.best_trial.value
        assert value is not None
        return value

    @property
    def best_params(self) -> dict[str, Any]:
        return self.best_trial.params

    def optimize(  # type: ignore[override]
        self,
        func: Callable[[Trial], float | Sequence[float]],
        n_trials: int | None = None,
        timeout: float | None = None,
        n_jobs: int = 1,
        catch: Iterable[type[Exception]] | type[Exception] = (Exception,),
        callbacks: Iterable[Callable[[optuna.Study, FrozenTrial], None]] | None = None,
        gc_after_trial: bool = False,
        show_progress_bar: bool = False,
    ) -> None:
        """As :meth:`optuna.Study.optimize`, but ``catch`` defaults to every ``Exception``.

        A trial whose objective raises, or returns NaN, None or the wrong number of
        values, is recorded as ``FAIL`` with the reason in its system attributes
        (``hpo:fail_reason``, ``hpo:traceback``); the study goes on. Pass
        ``catch=()`` for Optuna's behaviour of stopping at the first exception.
        """
        check_directions(func, self.directions)
        if isinstance(func, Objective):
            _record_names(self, func.metric, func.resource)
        recorded = func if isinstance(func, Objective) else (
            lambda trial: run_recorded(func, trial))

        try:
            super().optimize(
                recorded,
                n_trials=n_trials, timeout=timeout, n_jobs=n_jobs, catch=catch,
                callbacks=callbacks, gc_after_trial=gc_after_trial,
                show_progress_bar=show_progress_bar,
            )
        except PopulationFinished:
            # With n_jobs > 1 a thread may still wait for work when another ends the last
            # generation (and stops the study); its trial is failed with the reason, and
            # Optuna >= 5.1 re-raises that thread's error. The study did finish.
            if not self.sampler.is_finished(self):  # type: ignore[attr-defined]
                raise


def _wrap(study: optuna.Study) -> Study:
    return Study(study_name=study.study_name, storage=study._storage,
                 sampler=study.sampler, pruner=study.pruner)


def create_study(
    *,
    storage: str | BaseStorage | None = None,
    sampler: BaseSampler | None = None,
    pruner: BasePruner | None = None,
    study_name: str | None = None,
    direction: str | StudyDirection | None = None,
    load_if_exists: bool = False,
    directions: Sequence[str | StudyDirection] | None = None,
    artifact_dir: str | os.PathLike[str] | None = None,
    max_resource: int | float | None = None,
    artifact_store: Any = None,
    metric: str | Sequence[str] | None = None,
    resource: str | None = None,
) -> Study:
    """Create (or with ``load_if_exists`` load) a study; Optuna's arguments plus five.

    Args:
        storage: a URL or storage (see :mod:`hpo.storages`); default: the embedded SQLite
            file ``$HPO_HOME/hpo.db``.
        sampler: default: hpo's default sampler for the number of objectives.
        artifact_store: where checkpoints go: a directory, ``s3://bucket/prefix``,
            ``gs://bucket/prefix`` (see :mod:`hpo.artifacts`) or an Optuna artifact
            store; default: a directory next to a file storage (``runs/demo.db`` ->
            ``runs/demo.artifacts``). Its URL is recorded in the study, so workers that
            load the study, on any host, find it; credentials never are.
        artifact_dir: a directory for ``artifact_store`` (the older name).
        max_resource: the resource (e.g. environment steps) a plain trial trains for:
            :func:`hpo.budget` returns ``(0, max_resource)`` for it.
        metric: what the value is, e.g. ``"mean training return"`` (one name per
            direction); recorded in the study (``hpo:metric``) for ``hpo best``, ``hpo
            status`` and the plots. A decorated objective's own ``metric=`` is recorded
            when the study runs it.
        resource: what the resource counts, e.g. ``"environment steps"`` (``hpo:resource``).

    Example:
        >>> import hpo, optuna
        >>> study = hpo.create_study(direction="maximize",
        ...                          storage=optuna.storages.InMemoryStorage())
        >>> study.optimize(lambda t: -(t.suggest_float("x", -2, 2) - 1) ** 2, n_trials=5)
        >>> len(study.trials)
        5
    """
    if direction is not None and directions is not None:
        raise ValueError("create_study: give direction or directions, not both")
    for d in [direction] if directions is None else list(directions):
        if d is not None and str(d).lower() not in ("minimize", "maximize") and not isinstance(
                d, StudyDirection):
            raise ValueError(f"create_study: direction must be 'minimize' or 'maximize', got {d!r}")
    n_obj = 1 if directions is None else len(directions)
    _check_names(metric, resource, n_obj)
    if sampler is None:
        sampler = default_sampler(n_objectives=n_obj)
    if pruner is None and isinstance(sampler, DecidesContinuation):
        pruner = optuna.pruners.NopPruner()  # a scheduler or PBT decides what goes on
    if artifact_dir is not None and artifact_store is not None:
        raise ValueError("create_study: give artifact_store or artifact_dir, not both")
    store = _checked_store(artifact_store if artifact_store is not None else artifact_dir)
    resolved = resolve_storage(storage)
    try:
        study = optuna.create_study(
            storage=resolved, sampler=sampler, pruner=pruner, study_name=study_name,
            direction=direction, load_if_exists=False, directions=directions,
        )
        _fresh.add((id(resolved), study.study_name))
    except optuna.exceptions.DuplicatedStudyError:
        if not load_if_exists:
            raise
        study = optuna.load_study(study_name=study_name, storage=resolved, sampler=sampler,
                                  pruner=pruner)
        wanted = [direction] if directions is None else list(directions)
        if wanted != [None]:
            want = [_direction_name(d) for d in wanted]
            have = [d.name.lower() for d in study.directions]
            if want != have:
                raise ValueError(
                    f"study {study_name!r} exists in {describe(storage)} with direction(s) "
                    f"{have}, not {want}; use another study name, or delete it with "
                    "optuna.delete_study") from None
        _continue_sampling(study)
    attrs = resolved.get_study_system_attrs(study._study_id)
    if store is not None or not (_attrs.ARTIFACT_STORE in attrs or _attrs.ARTIFACT_DIR in attrs):
        store = store or artifacts.FileStore(default_artifact_dir(storage))
        resolved.set_study_system_attr(study._study_id, _attrs.ARTIFACT_STORE, store.url)
        if store.url.startswith("object:"):
            artifacts.remember(study._storage, study._study_id, store)
    if max_resource is not None:
        resolved.set_study_system_attr(study._study_id, _attrs.MAX_RESOURCE, max_resource)
    _record_names(study, metric, resource)
    return _wrap(study)


def _check_names(metric: str | Sequence[str] | None, resource: str | None, n: int) -> None:
    if metric is not None:
        names = [metric] if isinstance(metric, str) else list(metric) \
            if isinstance(metric, Sequence) else []
        if len(names) != n or not all(isinstance(m, str) and m.strip() for m in names):
            raise ValueError(f"metric: one non-empty name per objective ({n}), such as "
                             f"'mean training return', got {metric!r}")
    if resource is not None and (not isinstance(resource, str) or not resource.strip()):
        raise ValueError(f"resource: a non-empty name such as 'environment steps', got "
                         f"{resource!r}")


def recorded_names(study: optuna.Study) -> tuple[str | list[str] | None, str | None]:
    """What the study's value is and what its resource counts, as recorded by
    :func:`create_study`, the runner or :meth:`Study.optimize` (``hpo:metric``: a name,
    or one per objective; ``hpo:resource``), ``None`` where nothing was recorded."""
    attrs = study._storage.get_study_system_attrs(study._study_id)
    return attrs.get(_attrs.METRIC), attrs.get(_attrs.RESOURCE)


def _record_names(study: optuna.Study, metric: str | Sequence[str] | None,
                  resource: str | None) -> None:
    """Record what the study's value and resource are: ``hpo:metric`` (a name; a list of
    one per objective with several) and ``hpo:resource``; ``None`` keeps what is there."""
    n = len(study.directions)
    _check_names(metric, resource, n)
    if metric is not None:
        names = [metric] if isinstance(metric, str) else list(metric)
        study._storage.set_study_system_attr(study._study_id, _attrs.METRIC,
                                             names[0] if n == 1 else names)
    if resource is not None:
        study._storage.set_study_system_attr(study._study_id, _attrs.RESOURCE, resource)


def _checked_store(store: Any) -> artifacts.CheckpointStore | None:
    """The store ``artifact_store=`` names, checked to be reachable before anything is
    written (``ValueError`` naming the URL otherwise)."""
    if store is None:
        return None
    adopted = artifacts.adopt(store)
    adopted.check()
    return adopted


# (storage object id, study name) of the studies this process created and has not
# resumed since: their sampler keeps its seed (see _continue_sampling).
_fresh: set[tuple[int, str]] = set()


def _direction_name(d: str | StudyDirection) -> str:
    return d.name.lower() if isinstance(d, StudyDirection) else str(d).lower()


def _continue_sampling(study: optuna.Study) -> None:
    """Reseed the sampler of a study that is resumed or joined.

    A seeded sampler given to a process that did not create the study (another worker)
    or to a study that already has trials (a resumed sweep) would otherwise replay the
    suggestions of the first run: ``seed: 0`` would make trials 2 and 3 of a resumed
    sweep copy trials 0 and 1. A study created by this process keeps its seed until it
    has trials, so a fresh run is reproducible.
    """
    key = (id(study._storage), study.study_name)
    if key in _fresh and not study.get_trials(deepcopy=False):
        return
    _fresh.discard(key)
    study.sampler.reseed_rng()


def load_study(
    *,
    study_name: str | None,
    storage: str | BaseStorage | None = None,
    sampler: BaseSampler | None = None,
    pruner: BasePruner | None = None,
) -> Study:
    """Load an existing study; ``storage`` defaults to the embedded SQLite file.

    Example:
        >>> import hpo, optuna
        >>> s = optuna.storages.InMemoryStorage()
        >>> _ = hpo.create_study(study_name="demo", storage=s)
        >>> hpo.load_study(study_name="demo", storage=s).study_name
        'demo'
    """
    resolved = resolve_storage(storage)
    if study_name is not None:
        names = [s.study_name for s in resolved.get_all_studies()]
        if study_name not in names:
            raise ValueError(f"study_name: no study {study_name!r} in {describe(storage)}; it "
                             f"has {names or 'no studies'}")
    if sampler is None:
        if study_name is None:
            studies = resolved.get_all_studies()
            n_obj = len(studies[0].directions) if len(studies) == 1 else 1
        else:
            sid = resolved.get_study_id_from_name(study_name)
            n_obj = len(resolved.get_study_directions(sid))
        sampler = default_sampler(n_objectives=n_obj)
    study = optuna.load_study(study_name=study_name, storage=resolved, sampler=sampler,
                              pruner=pruner)
    _continue_sampling(study)
    return _wrap(study)
