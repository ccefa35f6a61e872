"""Checkpoint stores: where :func:`hpo.checkpoint` writes and :func:`hpo.resume` reads.

A study records its store as a URL (``hpo:artifact_store``), so every worker that loads
the study, on any host, opens the same store with nothing else to pass:

- a directory (``runs/ckpt``, ``file:///abs/path``): one machine, or a shared filesystem;
- ``s3://bucket/prefix``: S3 or an S3-compatible store (MinIO, Ceph, R2, moto), with
  ``pip install 'hpo[s3]'``. Credentials, region and endpoint come from the environment
  as boto3 reads them (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, ...);
  ``?endpoint_url=http://host:9000``, ``region=`` and ``part_size=`` (bytes) may be
  part of the URL;
- ``gs://bucket/prefix``: Google Cloud Storage, with ``pip install 'hpo[gcs]'``;
  credentials as the Google client reads them (``GOOGLE_APPLICATION_CREDENTIALS``, ...);
  ``?part_size=`` may be part of the URL.

Credentials are never part of the URL and never written to the study.

Every store writes atomically: a checkpoint is uploaded in parts of ``part_size`` bytes
(the only copy held in memory) and appears, whole, when its last part is in; a failed
or killed upload leaves no object (a killed writer's parts are removed by
:meth:`CheckpointStore.remove_torn`). Reads fetch byte ranges, so ``torch.load`` builds
the state without a second full copy. Transient errors (throttling, 5xx, dropped
connections) are retried with exponential backoff by the cloud clients.

Example:
    >>> import hpo.artifacts, io, tempfile
    >>> store = hpo.artifacts.open_store(tempfile.mkdtemp())
    >>> with store.open_writer("a1") as f:
    ...     _ = f.write(b"weights")
    >>> store.open_reader("a1").read(), [o.artifact_id for o in store.objects()]
    (b'weights', ['a1'])
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import io
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from hpo.exceptions import ArtifactNotFound
from hpo.storages import mask_url

__all__ = ["CheckpointStore", "FileStore", "GCSStore", "S3Store", "StoredObject", "adopt",
           "open_store"]

_log = logging.getLogger(__name__)

PARTIAL = ".partial-"  # prefix of an object being written (a part, or a partial file)
PART_SIZE = 16 * 2**20  # bytes uploaded at once; S3 needs at least 5 MiB but for the last
_MIN_PART = 5 * 2**20
TORN_AFTER = 3600.0  # seconds after which an unfinished upload belongs to a killed writer
_READ_AHEAD = 2**20  # small reads (zip headers) are served from one ranged read of this size


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """An object in a store: its artifact id, size in bytes and modification time."""

    artifact_id: str
    size: int
    modified: float


def _check_id(artifact_id: str) -> str:
    if not artifact_id or "/" in artifact_id or "\\" in artifact_id or \
            artifact_id.startswith("."):
        raise ValueError(f"artifact_id: must be a plain name, got {artifact_id!r}")
    return artifact_id


class CheckpointStore(abc.ABC):
    """Where a study's checkpoints live. Also an Optuna artifact store (``open_reader``,
    ``write``, ``remove``), so ``optuna.artifacts.upload_artifact`` can use it too."""

    url: str
    lists = True  # whether objects() can enumerate the store (a foreign object cannot)

    @abc.abstractmethod
    def open_writer(self, artifact_id: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A stream to write the artifact to; it appears, whole, when the ``with`` block
        ends without an exception, and not at all otherwise."""

    @abc.abstractmethod
    def open_reader(self, artifact_id: str) -> BinaryIO:
        """A seekable stream of the artifact; :class:`ArtifactNotFound` if absent."""

    @abc.abstractmethod
    def remove(self, artifact_id: str) -> None:
        """Delete the artifact; nothing happens if it is already gone."""

    @abc.abstractmethod
    def objects(self) -> Iterator[StoredObject]:
        """The complete objects of the store (unfinished uploads are not listed); empty
        for a store that cannot list them (``lists`` is false)."""

    @abc.abstractmethod
    def remove_torn(self, older_than: float = TORN_AFTER) -> int:
        """Remove uploads that killed writers left unfinished, begun more than
        ``older_than`` seconds ago; returns how many."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise ``ValueError`` naming the URL when the store cannot be reached."""

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        """Optuna's artifact-store protocol: copy ``content_body`` into the artifact."""
        with self.open_writer(artifact_id) as f:
            shutil.copyfileobj(content_body, f, PART_SIZE)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


# -- a directory ---------------------------------------------------------------------------


class FileStore(CheckpointStore):
    """A directory; an artifact is written to a partial file, synced, then renamed."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).resolve()
        self.url = str(self.path)

    @contextlib.contextmanager
    def open_writer(self, artifact_id: str) -> Iterator[BinaryIO]:
        self.path.mkdir(parents=True, exist_ok=True)
        final = self.path / _check_id(artifact_id)
        partial = self.path / f"{PARTIAL}{artifact_id}"
        try:
            with open(partial, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(partial, final)  # a reader sees all of it or nothing
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()

    def check(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"artifact_store: cannot create {self.url}: {exc}") from None
        if not os.access(self.path, os.W_OK):
            raise ValueError(f"artifact_store: cannot write to {self.url}")

    def open_reader(self, artifact_id: str) -> BinaryIO:
        try:
            return open(self.path / _check_id(artifact_id), "rb")
        except FileNotFoundError as exc:
            raise ArtifactNotFound(f"artifact {artifact_id} is not in {self.url}") from exc

    def remove(self, artifact_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.path / _check_id(artifact_id)).unlink()

    def objects(self) -> Iterator[StoredObject]:
        if not self.path.is_dir():
            return
        for p in self.path.iterdir():
            if not p.name.startswith("."):
                with contextlib.suppress(FileNotFoundError):
                    st = p.stat()
                    yield StoredObject(p.name, st.st_size, st.st_mtime)

    def remove_torn(self, older_than: float = TORN_AFTER) -> int:
        n, now = 0, time.time()
        for p in self.path.glob(f"{PARTIAL}*") if self.path.is_dir() else []:
            with contextlib.suppress(FileNotFoundError):
                if now - p.stat().st_mtime > older_than:
                    p.unlink()
                    n += 1
        return n


# -- uploads in parts, reads in ranges (the object stores) ---------------------------------


class _PartWriter(io.RawIOBase):
    """A write-only stream that hands ``part_size`` chunks to ``put_part(n, data)`` as they
    fill; the store assembles them when the upload is committed."""

    def __init__(self, put_part: Callable[[int, bytes], None], part_size: int) -> None:
        self._put_part, self._size = put_part, part_size
        self._buf = bytearray()
        self.parts = 0  # parts handed over so far
        self._failed: BaseException | None = None

    @property
    def failure(self) -> BaseException | None:
        """The error of the part upload that failed, if one did."""
        return self._failed

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        if self._failed is not None:  # e.g. torch.save finishing its archive after an error
            raise self._failed
        view = memoryview(b).cast("B")
        n = len(view)
        while len(view):
            room = self._size - len(self._buf)
            self._buf += view[:room]
            view = view[room:]
            if len(self._buf) >= self._size:
                self._hand_over()
        return n

    def _hand_over(self) -> None:
        data, self._buf = bytes(self._buf), bytearray()
        self.parts += 1
        try:
            self._put_part(self.parts, data)
        except BaseException as exc:
            self._failed = exc
            raise

    def rest(self) -> bytes:
        """What is buffered and not handed over yet (the last part)."""
        data, self._buf = bytes(self._buf), bytearray()
        return data


class _RangeReader(io.RawIOBase):
    """A seekable read-only stream over an object of ``size`` bytes, fetched in byte
    ranges ``fetch(start, stop)``; small reads are served from one read-ahead window."""

    def __init__(self, fetch: Callable[[int, int], bytes], size: int) -> None:
        self._fetch, self._size = fetch, size
        self._pos = 0
        self._win_start, self._win = 0, b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: Any) -> int:
        out = memoryview(b).cast("B")
        want = min(len(out), self._size - self._pos)
        if want <= 0:
            return 0
        lo = self._pos - self._win_start
        if lo >= 0 and lo + want <= len(self._win):
            out[:want] = self._win[lo:lo + want]
        elif want >= _READ_AHEAD:  # a tensor: straight from the store
            data = self._fetch(self._pos, self._pos + want)
            want = len(data)
            out[:want] = data
        else:
            self._win_start = self._pos
            self._win = self._fetch(self._pos, min(self._size, self._pos + _READ_AHEAD))
            want = min(want, len(self._win))
            out[:want] = self._win[:want]
        self._pos += want
        return want


def _reader(fetch: Callable[[int, int], bytes], size: int) -> BinaryIO:
    return io.BufferedReader(_RangeReader(fetch, size), buffer_size=64 * 1024)  # type: ignore[return-value]


def _bucket_and_prefix(url: str, parsed: urllib.parse.SplitResult) -> tuple[str, str]:
    if "@" in parsed.netloc:
        raise ValueError(f"artifact_store: {_masked(url)} must not hold credentials; they are "
                         "read from the environment (see docs/storages.md)")
    if not parsed.netloc:
        raise ValueError(f"artifact_store: {url!r} names no bucket; e.g. "
                         f"{parsed.scheme}://my-bucket/hpo")
    prefix = parsed.path.strip("/")
    return parsed.netloc, prefix + "/" if prefix else ""


class S3Store(CheckpointStore):
    """S3 or an S3-compatible store, through boto3: multipart uploads committed at the
    end (aborted on error), ranged reads, botocore's standard retries with backoff.

    Args:
        bucket: the bucket; it must exist.
        prefix: key prefix of the study's checkpoints (``"hpo/ppo-sweep/"``).
        endpoint_url: for S3-compatible stores; default: boto3's (``AWS_ENDPOINT_URL``).
        region: default: boto3's (``AWS_DEFAULT_REGION``, ``~/.aws/config``).
        part_size: bytes per uploaded part (at least 5 MiB).
        max_attempts: attempts per request before an error is raised; default:
            ``AWS_MAX_ATTEMPTS`` if it is set, else 8.
        client: a boto3 S3 client to use instead of a new one.
    """

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str | None = None, part_size: int = PART_SIZE,
                 max_attempts: int | None = None,
                 client: Any = None) -> None:
        if part_size < _MIN_PART:
            raise ValueError(f"artifact_store: part_size: S3 needs parts of at least {_MIN_PART} "
                             f"bytes, got {part_size}")
        self.bucket, self.prefix = bucket, prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url, self.region = endpoint_url, region
        self.part_size = part_size
        self._max_attempts = max_attempts
        self._client = client
        query = urllib.parse.urlencode({k: v for k, v in (
            ("endpoint_url", endpoint_url), ("region", region),
            ("part_size", part_size if part_size != PART_SIZE else None)) if v})
        self.url = f"s3://{bucket}/{self.prefix}" + (f"?{query}" if query else "")

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
                from botocore.config import Config
            except ModuleNotFoundError:
                raise ValueError("artifact_store: s3:// needs boto3: pip install 'hpo[s3]'"
                                 ) from None
            retries: dict[str, Any] = {"mode": "standard"}
            if self._max_attempts is not None:
                retries["total_max_attempts"] = self._max_attempts
            elif "AWS_MAX_ATTEMPTS" not in os.environ:
                retries["total_max_attempts"] = 8
            config = Config(retries=retries, connect_timeout=10, read_timeout=120)
            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config)
        return self._client

    def _key(self, artifact_id: str) -> str:
        return self.prefix + _check_id(artifact_id)

    def check(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise ValueError(f"artifact_store: cannot open {self.url}: {exc}") from None

    @contextlib.contextmanager
    def open_writer(self, artifact_id: str) -> Iterator[BinaryIO]:
        key, upload_id, etags = self._key(artifact_id), None, []

        def put_part(n: int, data: bytes) -> None:
            nonlocal upload_id
            if upload_id is None:
                upload_id = self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=key)["UploadId"]
            etags.append(self.client.upload_part(Bucket=self.bucket, Key=key, PartNumber=n,
                                                 UploadId=upload_id, Body=data)["ETag"])

        writer = _PartWriter(put_part, self.part_size)
        try:
            yield writer  # type: ignore[misc]
            rest = writer.rest()
            if upload_id is None:  # one part: a plain PUT, atomic too
                self.client.put_object(Bucket=self.bucket, Key=key, Body=rest)
                return
            if rest:
                put_part(writer.parts + 1, rest)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"ETag": e, "PartNumber": i + 1}
                                           for i, e in enumerate(etags)]})
        except BaseException:
            if upload_id is not None:
                try:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=key,
                                                       UploadId=upload_id)
                except Exception as exc:  # the upload stays torn; remove_torn takes it later
                    _log.warning("could not abort the upload of %s: %s", key, exc)
            raise

    def open_reader(self, artifact_id: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        key = self._key(artifact_id)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                raise ArtifactNotFound(f"artifact {artifact_id} is not in {self.url}") from None
            raise
        etag = head["ETag"]

        def fetch(start: int, stop: int) -> bytes:
            try:
                return self.client.get_object(Bucket=self.bucket, Key=key, IfMatch=etag,
                                              Range=f"bytes={start}-{stop - 1}")["Body"].read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise ArtifactNotFound(f"artifact {artifact_id} was removed from "
                                           f"{self.url} while it was read") from None
                raise

        return _reader(fetch, int(head["ContentLength"]))

    def remove(self, artifact_id: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(artifact_id))

    def objects(self) -> Iterator[StoredObject]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=self.prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                name = obj["Key"][len(self.prefix):]
                if "/" not in name and not name.startswith("."):
                    yield StoredObject(name, int(obj["Size"]), obj["LastModified"].timestamp())

    def remove_torn(self, older_than: float = TORN_AFTER) -> int:
        n, now = 0, time.time()
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for up in page.get("Uploads", []):
                if now - up["Initiated"].timestamp() > older_than:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=up["Key"],
                                                       UploadId=up["UploadId"])
                    n += 1
        return n


class GCSStore(CheckpointStore):
    """Google Cloud Storage, through google-cloud-storage: parts uploaded as temporary
    objects and composed into the checkpoint at the end (deleted on error), ranged reads
    pinned to the object's generation, the client's retries with backoff.

    Args:
        bucket: the bucket; it must exist.
        prefix: name prefix of the study's checkpoints.
        part_size: bytes per uploaded part.
        client: a ``google.cloud.storage.Client`` to use instead of a new one.
    """

    _COMPOSE = 32  # most sources GCS composes at once

    def __init__(self, bucket: str, prefix: str = "", *, part_size: int = PART_SIZE,
                 client: Any = None) -> None:
        if part_size <= 0:
            raise ValueError(f"part_size: must be positive, got {part_size}")
        self.bucket_name = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_size, self._client = part_size, client
        self.url = f"gs://{bucket}/{self.prefix}" + (
            f"?part_size={part_size}" if part_size != PART_SIZE else "")

    @property
    def bucket(self) -> Any:
        if self._client is None:
            try:
                from google.cloud import storage
            except ModuleNotFoundError:
                raise ValueError("artifact_store: gs:// needs google-cloud-storage: pip "
                                 "install 'hpo[gcs]'") from None
            self._client = storage.Client()
        return self._client.bucket(self.bucket_name)

    def check(self) -> None:
        try:
            exists = self.bucket.exists()
        except Exception as exc:  # the client's errors (auth, transport) have no common base
            raise ValueError(f"artifact_store: cannot open {self.url}: {exc}") from None
        if not exists:
            raise ValueError(f"artifact_store: cannot open {self.url}: no bucket "
                             f"{self.bucket_name!r}")

    @contextlib.contextmanager
    def open_writer(self, artifact_id: str) -> Iterator[BinaryIO]:
        bucket = self.bucket
        name = self.prefix + _check_id(artifact_id)
        parts: list[Any] = []

        def put_part(n: int, data: bytes) -> None:
            blob = bucket.blob(f"{self.prefix}{PARTIAL}{artifact_id}-{n:05d}")
            blob.upload_from_string(data)
            parts.append(blob)

        writer = _PartWriter(put_part, self.part_size)
        try:
            yield writer  # type: ignore[misc]
            rest = writer.rest()
            final = bucket.blob(name)
            if not parts:
                final.upload_from_string(rest)
                return
            if rest:
                put_part(writer.parts + 1, rest)
            # compose in steps of 32 sources: the object appears once, whole
            staged = bucket.blob(f"{self.prefix}{PARTIAL}{artifact_id}-composed")
            sources = parts
            while len(sources) > self._COMPOSE:
                staged.compose(sources[:self._COMPOSE])
                sources = [staged, *sources[self._COMPOSE:]]
                staged = bucket.blob(f"{staged.name}+")
            final.compose(sources)
        finally:
            if parts:  # the parts, and any staged composition
                for blob in bucket.list_blobs(prefix=f"{self.prefix}{PARTIAL}{artifact_id}-"):
                    with contextlib.suppress(Exception):
                        blob.delete()

    def open_reader(self, artifact_id: str) -> BinaryIO:
        blob = self.bucket.get_blob(self.prefix + _check_id(artifact_id))
        if blob is None:
            raise ArtifactNotFound(f"artifact {artifact_id} is not in {self.url}")

        def fetch(start: int, stop: int) -> bytes:
            from google.api_core.exceptions import NotFound

            try:
                return blob.download_as_bytes(start=start, end=stop - 1,
                                              if_generation_match=blob.generation)
            except NotFound:
                raise ArtifactNotFound(f"artifact {artifact_id} was removed from {self.url} "
                                       "while it was read") from None

        return _reader(fetch, int(blob.size))

    def remove(self, artifact_id: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self.bucket.blob(self.prefix + _check_id(artifact_id)).delete()

    def _blobs(self, prefix: str = "") -> Iterator[Any]:
        yield from self.bucket.list_blobs(prefix=self.prefix + prefix)

    def objects(self) -> Iterator[StoredObject]:
        for blob in self._blobs():
            name = blob.name[len(self.prefix):]
            if "/" not in name and not name.startswith("."):
                yield StoredObject(name, int(blob.size), blob.updated.timestamp())

    def remove_torn(self, older_than: float = TORN_AFTER) -> int:
        from google.api_core.exceptions import NotFound

        n, now = 0, time.time()
        for blob in self._blobs(PARTIAL):
            if now - blob.updated.timestamp() > older_than:
                with contextlib.suppress(NotFound):
                    blob.delete()
                    n += 1
        return n


# -- any other Optuna artifact store -------------------------------------------------------


class _Pipe(io.RawIOBase):
    """The reading end handed to a store's ``write``; fed one chunk at a time."""

    def __init__(self) -> None:
        self.chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=2)
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._rest:
            item = self.chunks.get()
            if item is None:
                return 0
            if isinstance(item, BaseException):
                raise item
            self._rest = item
        n = min(len(b), len(self._rest))
        b[:n], self._rest = self._rest[:n], self._rest[n:]
        return n


class _OptunaStore(CheckpointStore):
    """An Optuna artifact store hpo has no URL for. Its writes stream through a thread
    into the store's ``write``; whether a reader may see a partial artifact is up to the
    store. It cannot list its objects, and lives only in the process that was given it."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.url = f"object:{type(store).__name__}"

    @contextlib.contextmanager
    def open_writer(self, artifact_id: str) -> Iterator[BinaryIO]:
        pipe, failure = _Pipe(), []

        def upload() -> None:
            try:
                self.store.write(artifact_id, pipe)
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=upload, daemon=True)
        thread.start()

        def put(data: bytes) -> None:
            while thread.is_alive():
                with contextlib.suppress(queue.Full):
                    pipe.chunks.put(data, timeout=0.1)
                    return
            raise failure[0] if failure else RuntimeError("the upload stopped")

        writer = _PartWriter(lambda _n, data: put(data), _MIN_PART)
        try:
            yield writer  # type: ignore[misc]
            put(writer.rest())
            put(None)  # type: ignore[arg-type]
        except BaseException as exc:
            with contextlib.suppress(queue.Full):
                pipe.chunks.put_nowait(RuntimeError(f"upload of {artifact_id} abandoned: {exc}"))
            raise
        finally:
            thread.join()
        if failure:
            raise failure[0]

    def open_reader(self, artifact_id: str) -> BinaryIO:
        f = self.store.open_reader(artifact_id)
        if getattr(f, "seekable", lambda: False)():
            return f
        spool = tempfile.SpooledTemporaryFile(max_size=PART_SIZE)  # noqa: SIM115 (returned)
        with f:
            shutil.copyfileobj(f, spool, PART_SIZE)
        spool.seek(0)
        return spool  # type: ignore[return-value]

    def check(self) -> None:
        """Nothing to check: the object's own methods fail when it cannot be reached."""

    def remove(self, artifact_id: str) -> None:
        with contextlib.suppress(ArtifactNotFound, FileNotFoundError):
            self.store.remove(artifact_id)

    lists = False  # Optuna's protocol has no listing

    def objects(self) -> Iterator[StoredObject]:
        return iter(())

    def remove_torn(self, older_than: float = TORN_AFTER) -> int:
        return 0


# -- URLs ----------------------------------------------------------------------------------

_ALLOWED = ("a directory, file:///path, s3://bucket/prefix, gs://bucket/prefix, or an Optuna "
            "artifact store")
_S3_QUERY = ("endpoint_url", "region", "part_size")


def _masked(url: str) -> str:
    return mask_url(url)


def _part_size(url: str, query: dict[str, str]) -> int:
    part = query.get("part_size", str(PART_SIZE))
    if not part.isdigit():
        raise ValueError(f"artifact_store: {_masked(url)}: part_size must be a number of "
                         f"bytes, got {part!r}")
    return int(part)


def open_store(url: str | os.PathLike[str]) -> CheckpointStore:
    """The store a URL names (see the module docstring); ``ValueError`` names what is
    wrong with a bad one. Nothing is contacted: :meth:`CheckpointStore.check` does that.

    Example:
        >>> open_store("s3://my-bucket/hpo/sweep-1?endpoint_url=http://127.0.0.1:9000").url
        's3://my-bucket/hpo/sweep-1/?endpoint_url=http%3A%2F%2F127.0.0.1%3A9000'
    """
    if isinstance(url, os.PathLike) or "://" not in str(url):
        if not str(url):
            raise ValueError(f"artifact_store: empty; allowed: {_ALLOWED}")
        return FileStore(url)
    text = str(url)
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme == "file":
        if parsed.netloc:
            raise ValueError(f"artifact_store: {text!r}: file URLs take three slashes, "
                             "file:///abs/path")
        return FileStore(parsed.path)
    if parsed.scheme == "s3":
        bucket, prefix = _bucket_and_prefix(text, parsed)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        unknown = sorted(set(query) - set(_S3_QUERY))
        if unknown:
            raise ValueError(f"artifact_store: {_masked(text)}: unknown option(s) {unknown}; "
                             f"allowed: {list(_S3_QUERY)} (credentials come from the "
                             "environment)")
        return S3Store(bucket, prefix, endpoint_url=query.get("endpoint_url") or None,
                       region=query.get("region") or None, part_size=_part_size(text, query))
    if parsed.scheme in ("gs", "gcs"):
        bucket, prefix = _bucket_and_prefix(text, parsed)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        if set(query) - {"part_size"}:
            raise ValueError(f"artifact_store: {_masked(text)}: unknown option(s) "
                             f"{sorted(set(query) - {'part_size'})}; allowed: ['part_size'] "
                             "(credentials come from the environment)")
        return GCSStore(bucket, prefix, part_size=_part_size(text, query))
    raise ValueError(f"artifact_store: unknown URL {_masked(text)!r}; allowed: {_ALLOWED}")


def adopt(store: Any) -> CheckpointStore:
    """An hpo store for ``store``: a URL or path is opened; Optuna's filesystem, Boto3 and
    GCS stores (also inside ``Backoff``) become the hpo store on the same place, keeping
    their clients; any other object with ``open_reader``, ``write`` and ``remove`` is
    used as it is, in this process only."""
    if isinstance(store, CheckpointStore):
        return store
    if isinstance(store, (str, os.PathLike)):
        return open_store(store)
    from optuna.artifacts import (
        Backoff,
        Boto3ArtifactStore,
        FileSystemArtifactStore,
        GCSArtifactStore,
    )

    if isinstance(store, Backoff):
        return adopt(store._backend)
    if isinstance(store, FileSystemArtifactStore):
        return FileStore(store._base_path)
    if isinstance(store, Boto3ArtifactStore):
        endpoint = store.client.meta.endpoint_url
        aws = endpoint.endswith(".amazonaws.com") or endpoint.endswith(".amazonaws.com/")
        return S3Store(store.bucket, endpoint_url=None if aws else endpoint,
                       region=store.client.meta.region_name, client=store.client)
    if isinstance(store, GCSArtifactStore):
        return GCSStore(store.bucket_name, client=store.client)
    missing = [m for m in ("open_reader", "write", "remove") if not callable(getattr(store, m,
                                                                                     None))]
    if missing:
        raise ValueError(f"artifact_store: {type(store).__name__} is not an artifact store (it "
                         f"lacks {', '.join(missing)}); allowed: {_ALLOWED}")
    return _OptunaStore(store)


# Stores opened by this process, by URL (clients are costly to create; a fork opens its
# own), and the store objects given to hpo.create_study, by storage and study.
_opened: dict[tuple[int, str], CheckpointStore] = {}
_given: dict[tuple[Any, int], CheckpointStore] = {}


def _storage_key(storage: Any) -> Any:
    """The same for every storage object of one database in this process."""
    storage = getattr(storage, "_backend", storage)  # Optuna's cache in front of an RDB
    return getattr(storage, "url", None) or id(storage)


def remember(storage: Any, study_id: int, store: CheckpointStore) -> None:
    """Keep a store object hpo has no URL for, for the study's trials in this process."""
    _given[(_storage_key(storage), study_id)] = store


def of_study(url: str, storage: Any, study_id: int) -> CheckpointStore:
    """The store a study records (``url``), opened once per process."""
    if url.startswith("object:"):
        store = _given.get((_storage_key(storage), study_id))
        if store is None:
            raise ValueError(
                f"artifact_store: this study keeps its checkpoints in a {url[7:]} object given "
                "to hpo.create_study in another process, which this process cannot open; give "
                f"the study a URL instead ({_ALLOWED.rsplit(', or', 1)[0]})")
        return store
    key = (os.getpid(), url)
    if key not in _opened:
        _opened[key] = open_store(url)
    return _opened[key]
