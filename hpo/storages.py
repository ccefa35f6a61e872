"""Storage URLs, the embedded default storage and the home directory (a leaf module).

:func:`resolve_storage` turns a URL into an Optuna storage, one object per URL and
process. Storage URLs:

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
import os
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage

__all__ = ["StorageNotFound", "default_artifact_dir", "describe", "hpo_home", "mask_url",
           "resolve_storage"]

_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
_ALLOWED = "sqlite:///…, postgresql://…, mysql://…, journal:///path, redis://…, or an " \
           "optuna.storages.BaseStorage instance"


def hpo_home() -> Path:
    """The directory of the embedded default storage: ``$HPO_HOME`` or ``./hpo_runs``."""
    return Path(os.environ.get("HPO_HOME", "hpo_runs"))


class StorageNotFound(ValueError):
    """A storage file (SQLite, journal) that does not exist, opened to be read only."""


def resolve_storage(storage: str | BaseStorage | None, *, create: bool = True) -> BaseStorage:
    """Turn a storage URL (see the module docstring) into an Optuna storage.

    ``create=False`` opens it to read: a SQLite or journal file (the embedded default
    too) that does not exist raises :class:`StorageNotFound` instead of being created,
    and nothing is written next to it.

    Example:
        >>> from hpo.storages import resolve_storage
        >>> type(resolve_storage("sqlite:///:memory:")).__name__
        'RDBStorage'
        >>> resolve_storage("sqlite:///no/such.db", create=False)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        hpo.storages.StorageNotFound: storage: no/such.db does not exist (...)
    """
    if isinstance(storage, BaseStorage):
        return storage
    if storage is None:
        if create:
            hpo_home().mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{hpo_home() / 'hpo.db'}"
    if not isinstance(storage, str):
        raise ValueError(f"storage: expected a URL string or a BaseStorage, got {storage!r}; "
                         f"allowed: {_ALLOWED}")
    if not create:
        path = _file_of(_normalise_url(storage))
        if path is not None and not path.exists():
            raise StorageNotFound(f"storage: {path} does not exist (nothing has been run "
                                  f"with {mask_url(storage)})")
    key = (os.getpid(), os.getcwd(), storage)  # relative paths depend on the cwd
    with _storages_lock:
        if key not in _storages:
            _storages[key] = _open_storage(storage, create=create)
        return _storages[key]


def _file_of(storage: str) -> Path | None:
    """The file of a ``sqlite:///`` or ``journal:///`` URL; None for anything else."""
    for scheme in ("sqlite:///", "journal:///"):
        if storage.startswith(scheme):
            path = storage[len(scheme):]
            return Path(path) if path not in ("", ":memory:") else None
    return None


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


def _open_storage(storage: str, *, create: bool = True) -> BaseStorage:
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
            # SQLite serialises writers; wait for the lock instead of failing at once.
            if not create:  # the file exists (resolve_storage checked) with its schema
                return _rdb(storage, {"connect_args": {"timeout": 60}})
            Path(path).parent.mkdir(parents=True, exist_ok=True)
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
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if scheme in ("redis", "rediss"):
        try:
            import redis.exceptions
        except ImportError as exc:
            raise ValueError(_needs_driver(storage, exc)) from None
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
        except ImportError as exc:  # Optuna re-raises the driver's as a generic one
            raise ValueError(_needs_driver(url, exc)) from None
    raise AssertionError("not reached")


# per URL scheme: the extra of hpo that installs a driver, the driver's module, and the
# URL that uses it
_EXTRAS = {"postgresql": ("postgres", "psycopg", "postgresql+psycopg://"),
           "mysql": ("mysql", "pymysql", "mysql+pymysql://"),
           "mariadb": ("mysql", "pymysql", "mysql+pymysql://"),
           "redis": ("redis", "redis", "redis://"), "rediss": ("redis", "redis", "rediss://")}


def _needs_driver(url: str, exc: ImportError) -> str:
    """The message for a storage URL whose database driver cannot be imported: which
    driver, and which extra of hpo installs one.

    Example:
        >>> text = _needs_driver("mysql://me@db/hpo", ModuleNotFoundError(name="MySQLdb"))
        >>> print(text.split(": ", 2)[2])
        pip install 'hpo[mysql]' and write the URL as mysql+pymysql://...
    """
    missing = exc.name or getattr(exc.__cause__, "name", None) or str(exc)
    head = f"storage: {mask_url(url)} needs the database driver {missing!r}, which is not " \
           "installed"
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in _EXTRAS:
        return f"{head}: install it"
    extra, module, spelled = _EXTRAS[scheme]
    if missing.split(".")[0] == module:
        return f"{head}: pip install 'hpo[{extra}]'"
    return f"{head}: pip install 'hpo[{extra}]' and write the URL as {spelled}..."


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


def describe(storage: str | BaseStorage | None) -> str:
    """``storage`` for messages: its URL with the password masked, or what it is.

    Example:
        >>> describe("postgresql://me:secret@db/hpo")
        'postgresql://me:***@db/hpo'
    """
    if storage is None:
        return f"the embedded storage {hpo_home() / 'hpo.db'}"
    if isinstance(storage, str):
        return mask_url(storage)
    return f"the storage {type(storage).__name__}"
