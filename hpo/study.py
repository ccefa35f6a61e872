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

import contextlib
import copy
import os
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, Trial, TrialState

from hpo import _attrs, artifacts

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


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs).

    Example:
        >>> mask_url("postgresql://me:secret@db.example.com/hpo")
        'postgresql://me:***@db.example.com/hpo'
    """
    if "://" not in url:
        return url
    head, rest = url.split("://", 1)
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{head}://{creds.split(':', 1)[0]}:***@{host}"


def _normalise_url(storage: str) -> str:
    """``postgres://`` (Heroku's and libpq's spelling) as SQLAlchemy's ``postgresql://``."""
    for old in ("postgres://", "postgres+"):
        if storage.startswith(old):
            return "postgresql" + storage[len("postgres"):]
    return storage


def _open_storage(storage: str) -> BaseStorage:
    storage = _normalise_url(storage)
    scheme = storage.split("://", 1)[0].split("+", 1)[0].lower() if "://" in storage else ""
    if scheme in _RDB_SCHEMES:
        if scheme == "sqlite":
            if not storage.split("://", 1)[1].startswith("/"):
                raise ValueError(f"storage: a SQLite URL is sqlite:///relative/path.db or "
                                 f"sqlite:////absolute/path.db (three or four slashes), got "
                                 f"{storage!r}")
            path = storage.split(":///", 1)[1]
            if path in ("", ":memory:"):  # one connection, so every thread sees one database
                from sqlalchemy.pool import StaticPool

                return RDBStorage(storage, engine_kwargs={
                    "poolclass": StaticPool, "connect_args": {"check_same_thread": False}})
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # SQLite serialises writers; wait for the lock instead of failing at once.
            # Creating the schema is not atomic: processes that open a fresh file at once
            # take turns through a lock file next to it.
            with _file_lock(Path(path).with_name(Path(path).name + ".lock")):
                return _rdb(storage, {"connect_args": {"timeout": 60}})
        return _rdb(storage, {})
    if scheme == "journal":
        from optuna.storages.journal import JournalFileBackend

        if not storage.startswith("journal:///"):
            raise ValueError(f"storage: a journal URL is journal:///relative/path or "
                             f"journal:////absolute/path (as sqlite:///), got {storage!r}")
        path = Path(storage[len("journal:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if scheme in ("redis", "rediss"):
        import redis.exceptions
        from optuna.storages.journal import JournalRedisBackend

        try:  # reading the journal connects: an unreachable server fails here
            with warnings.catch_warnings():  # "experimental": hpo tests it against Redis
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return JournalStorage(JournalRedisBackend(storage))
        except redis.exceptions.RedisError as exc:
            first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            raise ValueError(f"storage: cannot open {mask_url(storage)}: {first}") from None
    raise ValueError(f"storage: unknown URL {mask_url(storage)!r} (scheme "
                     f"{scheme or 'missing'!r}); allowed: {_ALLOWED}")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (POSIX); a no-op where there is no ``fcntl``."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _rdb(url: str, engine_kwargs: dict) -> RDBStorage:
    """Optuna's RDB storage; errors become one line naming the URL (password masked).

    A server database whose schema another process is creating at the same moment
    (a unique-key or "already exists" error) is opened again once that is done.
    """
    import sqlalchemy.exc

    for attempt in range(3):
        try:
            return RDBStorage(url, engine_kwargs=engine_kwargs)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            text = str(getattr(exc, "orig", None) or exc)
            racing = isinstance(exc, sqlalchemy.exc.IntegrityError) or "already exists" in text
            if racing and attempt < 2:
                time.sleep(0.5 + attempt)
                continue
            first = next((ln.strip() for ln in text.splitlines() if ln.strip()),
                         type(exc).__name__)
            raise ValueError(f"storage: cannot open {mask_url(url)}: {first}") from None
        except ModuleNotFoundError as exc:
            raise ValueError(f"storage: {mask_url(url)} needs the database driver "
                             f"{exc.name!r}: pip install it (for PostgreSQL: "
                             "pip install 'hpo[postgres]')") from None
    raise AssertionError("not reached")


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
    """An :class:`optuna.Study` whose :meth:`optimize` records crashes and goes on, and
    whose best trial is compared at the largest resource reached.

    ``best_trial``, ``best_value``, ``best_params`` and ``best_trials`` consider the
    COMPLETE trials whose segment ends at the largest resource any of them reached
    (:mod:`hpo._segments`): with a scheduler, a value after 1 epoch never beats one
    after 81; a study without segments (every trial trains the same range) reads as in
    Optuna. Everything else (ask/tell, ``trials_dataframe``, ``enqueue_trial``) is
    Optuna's. Create one with :func:`hpo.create_study`.

    Example:
        >>> import hpo
        >>> from optuna.trial import create_trial
        >>> study = hpo.create_study(storage="sqlite:///:memory:")
        >>> for value, stop in ((0.1, 1), (0.5, 9), (0.4, 9)):
        ...     study.add_trial(create_trial(value=value, system_attrs={"hpo:stop": stop}))
        >>> study.best_trial.number, study.best_value
        (2, 0.4)
    """

    @property
    def best_trial(self) -> FrozenTrial:
        from hpo import _segments

        return copy.deepcopy(_segments.best_trial(self))

    @property
    def best_trials(self) -> list[FrozenTrial]:
        from hpo import _segments

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
        from hpo.objective import Objective, check_directions, run_recorded

        check_directions(func, self.directions)
        recorded = func if isinstance(func, Objective) else (
            lambda trial: run_recorded(func, trial))
        from hpo.samplers._pbt._base import PopulationFinished

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
) -> Study:
    """Create (or with ``load_if_exists`` load) a study; Optuna's arguments plus three.

    Args:
        storage: a URL or storage (see :mod:`hpo.study`); default: the embedded SQLite
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
    if pruner is None and getattr(sampler, "decides_continuation", False):
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
                    f"study {study_name!r} exists in {_where(storage)} with direction(s) "
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
    return _wrap(study)


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


def _where(storage: str | BaseStorage | None) -> str:
    if storage is None:
        return f"the embedded storage {hpo_home() / 'hpo.db'}"
    if isinstance(storage, str):
        return mask_url(storage)
    return f"the storage {type(storage).__name__}"


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
    from hpo.samplers import default_sampler

    resolved = resolve_storage(storage)
    if study_name is not None:
        names = [s.study_name for s in resolved.get_all_studies()]
        if study_name not in names:
            raise ValueError(f"study_name: no study {study_name!r} in {_where(storage)}; it "
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


def fail_trial(storage: BaseStorage, trial_id: int, reason: str) -> None:
    """Record why a trial cannot run and mark it FAIL (a sampler that refuses a trial in
    ``before_trial``: nothing may stay RUNNING)."""
    record_failure_id(storage, trial_id, reason)
    storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
