"""Studies: Optuna studies with hpo's defaults (sampler, embedded storage, artifact store).

:func:`create_study` and :func:`load_study` return a :class:`Study`, a subclass of
:class:`optuna.Study` whose only differences are the defaults: a crashing objective
is recorded as a failed trial (with its traceback) and the study goes on, and the
study carries the location of its checkpoint (artifact) store so that any worker
process on any host resumes any trial.

Storage URLs:

=========================================  =========================================
``None``                                    ``sqlite:///$HPO_HOME/hpo.db``
                                            (``HPO_HOME`` defaults to ``./hpo_runs``)
``sqlite:///path.db``                       Optuna RDB storage on SQLite
``postgresql://...``, ``mysql://...``       Optuna RDB storage (SQLAlchemy URL)
``journal:///path/to/file.log``             Optuna journal storage on a file (three
                                            slashes: relative path, four: absolute)
``redis://host:port/db``                    Optuna journal storage on Redis
an ``optuna.storages.BaseStorage``          used as it is
=========================================  =========================================
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, Trial

from hpo import _attrs

__all__ = ["Study", "create_study", "load_study", "resolve_storage"]

_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
_ALLOWED = "sqlite:///…, postgresql://…, mysql://…, journal:///path, redis://…, or an " \
           "optuna.storages.BaseStorage instance"


def hpo_home() -> Path:
    """The directory of the embedded default storage: ``$HPO_HOME`` or ``./hpo_runs``."""
    return Path(os.environ.get("HPO_HOME", "hpo_runs"))


def resolve_storage(storage: str | BaseStorage | None) -> BaseStorage:
    """Turn a storage URL (see the module docstring) into an Optuna storage.

    Example:
        >>> from hpo.study import resolve_storage
        >>> type(resolve_storage("sqlite:///:memory:")).__name__
        'RDBStorage'
    """
    if isinstance(storage, BaseStorage):
        return storage
    if storage is None:
        hpo_home().mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{hpo_home() / 'hpo.db'}"
    if not isinstance(storage, str):
        raise ValueError(f"storage: expected a URL string or a BaseStorage, got {storage!r}; "
                         f"allowed: {_ALLOWED}")
    key = (os.getpid(), os.getcwd(), storage)  # relative paths depend on the cwd
    with _storages_lock:
        if key not in _storages:
            _storages[key] = _open_storage(storage)
        return _storages[key]


# One storage object per URL and process: threads share its connection pool, and
# ``sqlite:///:memory:`` means one database, not one per call.
_storages: dict[tuple[int, str, str], BaseStorage] = {}
_storages_lock = threading.Lock()


def _open_storage(storage: str) -> BaseStorage:
    scheme = storage.split("://", 1)[0].split("+", 1)[0].lower() if "://" in storage else ""
    if scheme in _RDB_SCHEMES:
        if scheme == "sqlite":
            path = storage.split(":///", 1)[-1]
            if path in ("", ":memory:"):  # one connection, so every thread sees one database
                from sqlalchemy.pool import StaticPool

                return RDBStorage(storage, engine_kwargs={
                    "poolclass": StaticPool, "connect_args": {"check_same_thread": False}})
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # SQLite serialises writers; wait for the lock instead of failing at once.
            return RDBStorage(storage, engine_kwargs={"connect_args": {"timeout": 60}})
        return RDBStorage(storage)
    if scheme == "journal":
        from optuna.storages.journal import JournalFileBackend

        if not storage.startswith("journal:///"):
            raise ValueError(f"storage: a journal URL is journal:///relative/path or "
                             f"journal:////absolute/path (as sqlite:///), got {storage!r}")
        path = Path(storage[len("journal:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if scheme in ("redis", "rediss"):
        from optuna.storages.journal import JournalRedisBackend

        return JournalStorage(JournalRedisBackend(storage))
    raise ValueError(f"storage: unknown URL {storage!r} (scheme {scheme or 'missing'!r}); "
                     f"allowed: {_ALLOWED}")


def default_artifact_dir(storage: str | BaseStorage | None) -> Path:
    """Where checkpoints go when the caller does not say: next to a file storage.

    ``sqlite:///runs/demo.db`` -> ``runs/demo.artifacts``; ``journal:///x/j.log`` ->
    ``x/j.artifacts``; anything else (servers, in-memory) -> ``$HPO_HOME/artifacts``.
    For several hosts put the artifacts on a shared file system: ``artifact_dir=``.
    """
    if storage is None:
        return hpo_home() / "artifacts"
    if isinstance(storage, str) and storage.startswith(("sqlite:///", "journal:///")):
        path = storage.split(":///", 1)[1]
        if path and path != ":memory:":
            p = Path(path)
            return p.with_name(p.stem + ".artifacts")
    return hpo_home() / "artifacts"


class Study(optuna.Study):
    """An :class:`optuna.Study` whose :meth:`optimize` records crashes and goes on.

    Everything else (ask/tell, ``best_trial(s)``, ``trials_dataframe``,
    ``enqueue_trial``) is Optuna's. Create one with :func:`hpo.create_study`.
    """

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
        from hpo.objective import Objective, check_directions, run_recorded

        check_directions(func, self.directions)
        recorded = func if isinstance(func, Objective) else (
            lambda trial: run_recorded(func, trial))
        super().optimize(
            recorded,
            n_trials=n_trials, timeout=timeout, n_jobs=n_jobs, catch=catch,
            callbacks=callbacks, gc_after_trial=gc_after_trial,
            show_progress_bar=show_progress_bar,
        )


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
) -> Study:
    """Create (or with ``load_if_exists`` load) a study; Optuna's arguments plus two.

    Args:
        storage: a URL or storage (see :mod:`hpo.study`); default: the embedded SQLite
            file ``$HPO_HOME/hpo.db``.
        sampler: default: hpo's default sampler for the number of objectives.
        artifact_dir: directory of the checkpoint store; default: next to a file
            storage (``runs/demo.db`` -> ``runs/demo.artifacts``). Recorded in the
            study, so workers that load the study find it.
        max_resource: the resource (e.g. environment steps) a plain trial trains for:
            :func:`hpo.budget` returns ``(0, max_resource)`` for it.

    Example:
        >>> import hpo, optuna
        >>> study = hpo.create_study(direction="maximize",
        ...                          storage=optuna.storages.InMemoryStorage())
        >>> study.optimize(lambda t: -(t.suggest_float("x", -2, 2) - 1) ** 2, n_trials=5)
        >>> len(study.trials)
        5
    """
    from hpo.samplers import default_sampler

    if direction is not None and directions is not None:
        raise ValueError("create_study: give direction or directions, not both")
    for d in [direction] if directions is None else list(directions):
        if d is not None and str(d).lower() not in ("minimize", "maximize") and not isinstance(
                d, StudyDirection):
            raise ValueError(f"create_study: direction must be 'minimize' or 'maximize', got {d!r}")
    n_obj = 1 if directions is None else len(directions)
    if sampler is None:
        sampler = default_sampler(n_objectives=n_obj)
    resolved = resolve_storage(storage)
    study = optuna.create_study(
        storage=resolved, sampler=sampler, pruner=pruner, study_name=study_name,
        direction=direction, load_if_exists=load_if_exists, directions=directions,
    )
    attrs = resolved.get_study_system_attrs(study._study_id)
    if _attrs.ARTIFACT_DIR not in attrs or artifact_dir is not None:
        path = Path(artifact_dir) if artifact_dir is not None else default_artifact_dir(storage)
        resolved.set_study_system_attr(study._study_id, _attrs.ARTIFACT_DIR,
                                       str(path.resolve()))
    if max_resource is not None:
        resolved.set_study_system_attr(study._study_id, _attrs.MAX_RESOURCE, max_resource)
    return _wrap(study)


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
    from hpo.samplers import default_sampler

    resolved = resolve_storage(storage)
    if study_name is not None:
        names = [s.study_name for s in resolved.get_all_studies()]
        if study_name not in names:
            raise ValueError(f"study_name: no study {study_name!r} in this storage; it has "
                             f"{names or 'no studies'}")
    if sampler is None:
        if study_name is None:
            studies = resolved.get_all_studies()
            n_obj = len(studies[0].directions) if len(studies) == 1 else 1
        else:
            sid = resolved.get_study_id_from_name(study_name)
            n_obj = len(resolved.get_study_directions(sid))
        sampler = default_sampler(n_objectives=n_obj)
    return _wrap(optuna.load_study(study_name=study_name, storage=resolved, sampler=sampler,
                                   pruner=pruner))


def record_failure(trial: Trial, reason: str, exc: BaseException | None = None) -> None:
    """Store why a trial failed (and the traceback of ``exc``) in its system attributes."""
    tb = None if exc is None else "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__))
    record_failure_id(trial.study._storage, trial._trial_id, reason, tb)


def record_failure_id(storage: BaseStorage, trial_id: int, reason: str,
                      traceback_text: str | None = None) -> None:
    """:func:`record_failure` by storage and trial id."""
    storage.set_trial_system_attr(trial_id, _attrs.FAIL_REASON, reason)
    if traceback_text:
        storage.set_trial_system_attr(trial_id, _attrs.TRACEBACK, traceback_text)
