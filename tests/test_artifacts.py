"""Checkpoints on object storage (issue 16).

S3 is a real moto server on 127.0.0.1 (``moto[server]``), reached directly or through a
real HTTP proxy that fails or holds chosen requests; GCS is a real emulator
(``gcp-storage-emulator``). Workers are real processes in separate working directories
that share only PostgreSQL and the object store.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import optuna
import pytest
import torch
from botocore.exceptions import ClientError
from http_helpers import serve
from optuna.artifacts import FileSystemArtifactStore
from optuna.trial import TrialState

import hpo
from hpo import _attrs
from hpo.artifacts import (
    ArtifactNotFound,
    FileStore,
    GCSStore,
    S3Store,
    adopt,
    open_store,
)
from hpo.continuation import checkpoint_of, clean, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
KEY_ID = "AKIAHPOTESTKEY0000042"
SECRET = "hpo-test-secret-never-stored-42"
MiB = 2**20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(argv: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited with {proc.returncode}")
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{argv} did not listen on port {port}")


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = _free_port()
    proc = _serve([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                  port)
    yield f"http://127.0.0.1:{port}"
    _stop(proc)


@dataclass
class Bucket:
    endpoint: str
    name: str
    client: Any

    def url(self, prefix: str, endpoint: str | None = None, **query: Any) -> str:
        q = urllib.parse.urlencode({"endpoint_url": endpoint or self.endpoint, **query})
        return f"s3://{self.name}/{prefix}?{q}"

    def keys(self, prefix: str = "") -> list[str]:
        out = self.client.list_objects_v2(Bucket=self.name, Prefix=prefix)
        return sorted(o["Key"] for o in out.get("Contents", []))

    def uploads(self) -> list[str]:
        return [u["Key"] for u in
                self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", [])]


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh bucket; the credentials are in the environment only, as on a real host."""
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=moto_endpoint)
    name = f"hpo-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return Bucket(moto_endpoint, name, client)


# -- a real HTTP proxy in front of the S3 server, to fail or hold chosen requests ----------

Rule = Callable[[str, dict[str, str]], "int | threading.Event | None"]


@dataclass
class Proxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    log: list[tuple[str, dict[str, str], int, int]] = field(default_factory=list)
    url: str = ""

    def requests(self, kind: str) -> list[tuple[int, int]]:
        """(body bytes, status) of the logged requests of one S3 operation."""
        return [(n, status) for method, q, n, status in self.log if _operation(method, q) == kind]


def _operation(method: str, query: dict[str, str]) -> str:
    if method == "PUT" and "partNumber" in query:
        return "UploadPart"
    if method == "POST" and "uploads" in query:
        return "CreateMultipartUpload"
    if method == "POST" and "uploadId" in query:
        return "CompleteMultipartUpload"
    if method == "DELETE" and "uploadId" in query:
        return "AbortMultipartUpload"
    return {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject",
            "DELETE": "DeleteObject"}.get(method, method)


@pytest.fixture
def proxy(s3: Bucket) -> Iterator[Proxy]:
    state = Proxy(s3.endpoint)
    up = urllib.parse.urlsplit(s3.endpoint)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query,
                                                keep_blank_values=True))
            for rule in list(state.rules):
                action = rule(self.command, query)
                if isinstance(action, threading.Event):
                    action.wait(120)
                elif isinstance(action, int):
                    err = (b"<?xml version='1.0'?><Error><Code>ServiceUnavailable</Code>"
                           b"<Message>injected by the test proxy</Message></Error>")
                    state.log.append((self.command, query, len(body), action))
                    self.send_response(action)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(err)))
                    self.end_headers()
                    self.wfile.write(err)
                    return
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
            conn.request(self.command, self.path, body=body, headers=dict(self.headers))
            resp = conn.getresponse()
            data = resp.read()
            state.log.append((self.command, query, len(body), resp.status))
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", resp.getheader("Content-Length", "0")
                             if self.command == "HEAD" else str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    with serve(Handler) as url:
        state.url = url
        yield state


def _state(mib: float, value: float) -> dict[str, Any]:
    return {"weights": torch.full((int(mib * MiB) // 4,), value), "value": value}


# -- URLs and store objects ----------------------------------------------------------------


@pytest.mark.parametrize("url, message", [
    ("s3://AKIA:topsecret@bucket/x", "must not hold credentials"),
    ("s3:///prefix", "names no bucket"),
    ("s3://bucket/p?endpoint=http://x", "unknown option(s) ['endpoint']; allowed: "
                                        "['endpoint_url', 'region', 'part_size']"),
    ("s3://bucket/p?part_size=1000", "at least 5242880 bytes"),
    ("s3://bucket/p?part_size=big", "part_size must be a number of bytes"),
    ("gs://bucket/p?x=1", "unknown option(s) ['x']; allowed: ['part_size']"),
    ("ftp://host/x", "unknown URL 'ftp://host/x'; allowed: a directory, file:///path, "
                     "s3://bucket/prefix, gs://bucket/prefix"),
    ("file://host/x", "three slashes"),
    ("", "empty"),
])
def test_bad_store_urls_are_refused_naming_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="artifact_store") as err:
        open_store(url)
    assert message in str(err.value)
    assert "topsecret" not in str(err.value)


def test_urls_name_the_store_they_open(tmp_path: Path) -> None:
    s3 = open_store("s3://b/sweeps/one/?endpoint_url=http://127.0.0.1:9000&region=eu-west-1")
    assert isinstance(s3, S3Store) and (s3.bucket, s3.prefix) == ("b", "sweeps/one/")
    assert (s3.endpoint_url, s3.region) == ("http://127.0.0.1:9000", "eu-west-1")
    assert open_store(s3.url).url == s3.url  # what the study records opens the same store
    gcs = open_store("gs://b/p")
    assert isinstance(gcs, GCSStore) and gcs.url == "gs://b/p/"
    assert isinstance(open_store(tmp_path), FileStore)
    assert open_store(f"file://{tmp_path}").url == str(tmp_path)
    assert adopt(FileSystemArtifactStore(str(tmp_path))).url == str(tmp_path)


def test_an_unreachable_store_is_refused_before_the_study_is_created(
        s3: Bucket, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    missing = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/x?endpoint_url={s3.endpoint}"
    with pytest.raises(ValueError, match=r"artifact_store: cannot open s3://no-such-bucket"):
        hpo.create_study(storage=storage, study_name="never", artifact_store=missing)
    assert optuna.storages.RDBStorage(storage).get_all_studies() == []
    with pytest.raises(ValueError, match="give artifact_store or artifact_dir, not both"):
        hpo.create_study(storage=storage, artifact_store=tmp_path, artifact_dir=tmp_path)
    # a sweep (the runner) refuses it before its SQLite file is created
    from hpo.runner import _prepare

    @hpo.objective
    def train(x: float = hpo.uniform(0, 1)) -> float:
        return x

    sweep_db = tmp_path / "sweep" / "study.db"
    with pytest.raises(ValueError, match=r"artifact_store: cannot open s3://no-such-bucket"):
        _prepare(train, storage=f"sqlite:///{sweep_db}", study_name="never", n_trials=1,
                 artifact_store=missing, progress=False)
    assert not sweep_db.exists() and not sweep_db.parent.exists()


# -- S3: parts, atomicity, retries ---------------------------------------------------------


def test_a_checkpoint_streams_to_s3_in_parts_and_resumes_from_ranges(
        s3: Bucket, proxy: Proxy, tmp_path: Path) -> None:
    url = s3.url("sweep", endpoint=proxy.url, part_size=5 * MiB)
    study = hpo.create_study(storage=f"sqlite:///{tmp_path}/s.db", artifact_store=url,
                             direction="maximize")
    assert study._storage.get_study_system_attrs(study._study_id)[_attrs.ARTIFACT_STORE] == \
        open_store(url).url
    trial = study.ask()
    first = hpo.checkpoint(trial, _state(1, 1.0), step=1)  # under one part: one PUT
    second = hpo.checkpoint(trial, _state(12, 2.0), step=2)
    study.tell(trial, 2.0)
    parts = proxy.requests("UploadPart")
    assert [status for _, status in parts] == [200, 200, 200]
    assert all(n <= 5 * MiB + 64 * 1024 for n, _ in parts)  # one part at a time (+ framing)
    assert len(proxy.requests("PutObject")) == 1
    assert len(proxy.requests("CompleteMultipartUpload")) == 1
    assert s3.keys() == [f"sweep/{second}"]  # the superseded checkpoint is gone
    assert first != second and s3.uploads() == []
    proxy.log.clear()
    loaded = load_checkpoint(study, trial.number)
    assert loaded["value"] == 2.0 and torch.equal(loaded["weights"], _state(12, 2.0)["weights"])
    gets = proxy.requests("GetObject")
    assert len(gets) > 1 and all(status == 206 for _, status in gets)  # byte ranges


def test_transient_errors_are_retried_with_backoff(
        s3: Bucket, proxy: Proxy, tmp_path: Path) -> None:
    study = hpo.create_study(storage=f"sqlite:///{tmp_path}/s.db",
                             artifact_store=s3.url("t", endpoint=proxy.url, part_size=5 * MiB))
    failures = iter([503, 503])
    proxy.rules.append(lambda m, q: next(failures, None) if "partNumber" in q else None)
    trial = study.ask()
    hpo.checkpoint(trial, _state(7, 3.0), step=5)
    statuses = [s for _, s in proxy.requests("UploadPart")]
    assert statuses == [503, 503, 200, 200]
    assert load_checkpoint(study, trial.number)["value"] == 3.0


def test_a_failed_upload_raises_and_keeps_the_previous_checkpoint(
        s3: Bucket, proxy: Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    study = hpo.create_study(storage=f"sqlite:///{tmp_path}/s.db",
                             artifact_store=s3.url("f", endpoint=proxy.url, part_size=5 * MiB))
    trial = study.ask()
    kept = hpo.checkpoint(trial, _state(1, 1.0), step=1)
    proxy.rules.append(lambda m, q: 500 if "partNumber" in q else None)
    with pytest.raises(ClientError, match="UploadPart"):
        hpo.checkpoint(trial, _state(11, 9.0), step=2)
    attrs = study._storage.get_trial_system_attrs(trial._trial_id)
    assert checkpoint_of(attrs) == (kept, 1)
    assert s3.keys() == [f"f/{kept}"] and s3.uploads() == []  # the upload was aborted
    assert load_checkpoint(study, trial.number)["value"] == 1.0


def test_a_reader_of_a_removed_checkpoint_gets_artifact_not_found(s3: Bucket) -> None:
    store = open_store(s3.url("r"))
    with store.open_writer("a") as f:
        f.write(b"x" * 100)
    reader = store.open_reader("a")
    store.remove("a")
    store.remove("a")  # already gone: nothing happens
    with pytest.raises(ArtifactNotFound):
        reader.read()
    with pytest.raises(ArtifactNotFound):
        store.open_reader("a")


# -- processes that share only PostgreSQL and the object store -----------------------------

OBJECTIVE = '''
import os, time, torch, hpo

@hpo.objective(direction="maximize")
def train(lr: float = hpo.loguniform(1e-3, 1.0), *, trial=None) -> float:
    state = hpo.resume(trial) or {"step": 0, "score": 0.0, "pid": os.getpid()}
    start, stop = hpo.budget(trial, max_resource=9)
    if state["step"] != start:
        raise RuntimeError(f"resumed at step {state['step']}, budget starts at {start}")
    if trial is not None:
        trial.set_user_attr("resumed_from_pid", state["pid"])
        trial.set_user_attr("cwd", os.getcwd())
    big = int(os.environ.get("CKMOD_MIB", "0"))
    for step in range(start, stop):
        state["score"] += lr
        state["step"] = step + 1
        state["pid"] = os.getpid()
        if big:
            state["weights"] = torch.full((big * 2**20 // 4,), float(step))
        pidfile = os.environ.get("CKMOD_PIDFILE")
        if pidfile:
            with open(pidfile, "a") as f:
                f.write(f"{os.getpid()} {step}\\n")
        hpo.checkpoint(trial, state, step=step + 1)
        trial.report(state["score"], step + 1)
        time.sleep(float(os.environ.get("CKMOD_SLEEP", "0")))
    return state["score"]
'''


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    """The user's code, on every host."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "ckmod.py").write_text(OBJECTIVE)
    return code


def _env(code: Path, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CKMOD_")}
    env.update(PYTHONPATH=f"{code}{os.pathsep}{ROOT}", HPO_HOME=str(home), **extra)
    return env


def _host(tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    return d


def _wait_for_sweep(storage_url: str, name: str) -> None:
    storage = hpo.storages.resolve_storage(storage_url)
    deadline = time.time() + 120
    while time.time() < deadline:
        with contextlib.suppress(KeyError):
            sid = storage.get_study_id_from_name(name)
            if _attrs.SWEEP in storage.get_study_system_attrs(sid):
                return
        time.sleep(0.2)
    raise AssertionError(f"sweep {name!r} did not start")


def _everything_stored(storage_url: str, name: str) -> str:
    storage = hpo.storages.resolve_storage(storage_url)
    sid = storage.get_study_id_from_name(name)
    dump = [storage.get_study_system_attrs(sid), storage.get_study_user_attrs(sid)]
    for t in storage.get_all_trials(sid):
        dump += [t.system_attrs, t.user_attrs, t.params]
    return json.dumps(dump, default=str)


def test_two_workers_share_only_postgres_and_s3(
        s3: Bucket, postgres_url: str, study_name: str, code_dir: Path, tmp_path: Path) -> None:
    host_a, host_b = _host(tmp_path, "host-a"), _host(tmp_path, "host-b")
    sweep = textwrap.dedent(f"""\
        name: {study_name}
        objective: ckmod:train
        sampler: {{name: asha, min_resource: 1, max_resource: 9, reduction_factor: 3, seed: 0}}
        budget: {{trials: 14}}
        storage: {postgres_url}
        artifact_store: {s3.url(f"sweeps/{study_name}")}
        """)
    (host_a / "sweep.yaml").write_text(sweep)
    env_a = _env(code_dir, host_a / "home", CKMOD_SLEEP="0.5")
    env_b = _env(code_dir, host_b / "home", CKMOD_SLEEP="0.5")
    a = subprocess.Popen([sys.executable, "-m", "hpo.cli", "sweep", "sweep.yaml",
                          "--no-progress"], cwd=host_a, env=env_a, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_sweep(postgres_url, study_name)  # host B joins once the sweep exists
    b = subprocess.run([sys.executable, "-m", "hpo.cli", "worker", "--study", study_name,
                        "--storage", postgres_url, "--no-progress"], cwd=host_b, env=env_b,
                       text=True, capture_output=True, timeout=600)
    out_a, err_a = a.communicate(timeout=600)
    assert a.returncode == 0, err_a[-3000:]
    assert b.returncode == 0, b.stderr[-3000:]

    study = hpo.load_study(study_name=study_name, storage=postgres_url)
    trials = study.get_trials()
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    hosts = {t.user_attrs["cwd"] for t in trials}
    assert hosts == {str(host_a), str(host_b)}  # both hosts ran trials
    promoted = [t for t in trials if _attrs.PARENT in t.system_attrs]
    assert promoted  # each resumed its parent's state (the objective checks the step)
    across = [t for t in promoted
              if t.user_attrs["cwd"] != trials[t.system_attrs[_attrs.PARENT]].user_attrs["cwd"]]
    print(f"{len(promoted)} promotions, {len(across)} resumed on the other host")
    # nothing but the object store holds checkpoints: no host made an artifact directory
    assert not list(tmp_path.rglob("*.artifacts")) and not list(tmp_path.rglob("artifacts"))
    latest = {t.number: checkpoint_of(t.system_attrs)[0] for t in trials}
    assert set(s3.keys()) == {f"sweeps/{study_name}/{a}" for a in latest.values()}

    # a worker on a fresh working directory continues a trial the others ran
    best = study.best_trial.number
    child = hpo.extend(study, best, stop=27)
    fresh = _host(tmp_path, "host-c")
    resume = subprocess.run(
        [sys.executable, "-c", "import hpo, ckmod\n"
         f"s = hpo.load_study(study_name={study_name!r}, storage={postgres_url!r})\n"
         "s.optimize(ckmod.train, n_trials=1)"],
        cwd=fresh, env=_env(code_dir, fresh / "home"), capture_output=True, text=True,
        timeout=300)
    assert resume.returncode == 0, resume.stderr[-3000:]
    done = study.trials[child]
    assert done.state == TrialState.COMPLETE and done.user_attrs["cwd"] == str(fresh)
    assert done.value > study.trials[best].value  # it went on from the best trial's score

    # status says where the checkpoints are; clean drops what the promotions superseded
    status = subprocess.run([sys.executable, "-m", "hpo.cli", "status", "--study", study_name,
                             "--storage", postgres_url], capture_output=True, text=True,
                            env=env_a, timeout=120)
    line = next(ln for ln in status.stdout.splitlines() if ln.startswith("checkpoints"))
    assert f"s3://{s3.name}/sweeps/{study_name}/" in line and "objects" in line

    # credentials: in the environment of every process, in nothing they stored or printed
    stored = _everything_stored(postgres_url, study_name)
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))
    for text in (stored, logs, out_a, err_a, b.stdout, b.stderr, resume.stderr, status.stdout):
        assert KEY_ID not in text and SECRET not in text


def test_clean_removes_what_no_lineage_needs(s3: Bucket, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hpo.continuation.SUPERSEDED_GRACE", 0.0)
    store_url = s3.url("c")
    study = hpo.create_study(storage=f"sqlite:///{tmp_path}/s.db", artifact_store=store_url,
                             direction="maximize")

    @hpo.objective(direction="maximize")
    def train(x: float = hpo.uniform(0, 1), *, trial: Any = None) -> float:
        state = hpo.resume(trial) or {"step": 0}
        start, stop = hpo.budget(trial, max_resource=2)
        assert state["step"] == start
        state["step"] = stop
        hpo.checkpoint(trial, state, step=stop)
        return x * stop

    study.optimize(train, n_trials=2)
    a = hpo.extend(study, 0, stop=4)  # trial 0 is superseded once trial `a` completes
    study.optimize(train, n_trials=1)
    pending = hpo.extend(study, 1, stop=4)  # waiting: trial 1 must stay
    trials = study.get_trials()
    ids = {t.number: checkpoint_of(t.system_attrs)[0] for t in trials if t.number != pending}
    # an upload a killed writer left behind, and an object no trial points to
    s3.client.create_multipart_upload(Bucket=s3.name, Key="c/torn")
    s3.client.put_object(Bucket=s3.name, Key="c/orphan", Body=b"x")
    dry = clean(study, dry_run=True, older_than=0)
    assert dry.removed == sorted([ids[0], "orphan"]) and len(s3.keys("c/")) == 4
    report = clean(study, older_than=0)
    assert report.removed == dry.removed and report.torn == 1 and report.kept == 2
    assert sorted(s3.keys("c/")) == sorted(f"c/{ids[n]}" for n in (1, a))
    assert s3.uploads() == []
    with pytest.raises(ValueError, match="removed by hpo clean"):
        hpo.extend(study, 0, stop=8)
    with pytest.raises(ValueError, match="running or waiting"):
        clean(study, finished=True)
    study.optimize(train, n_trials=1)  # runs the pending continuation of trial 1
    final = clean(study, finished=True)  # everything but the best trial's checkpoint
    best = study.best_trial.number
    assert s3.keys("c/") == [f"c/{checkpoint_of(study.trials[best].system_attrs)[0]}"]
    assert final.kept == 1
    out = subprocess.run([sys.executable, "-m", "hpo.cli", "clean", "--study", study.study_name,
                          "--storage", f"sqlite:///{tmp_path}/s.db", "--all"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{open_store(store_url).url}: removed 0 checkpoints (0 B); " \
                                 "kept 1"


def test_a_trial_killed_mid_upload_is_retried_from_its_previous_checkpoint(
        s3: Bucket, proxy: Proxy, postgres_url: str, study_name: str, code_dir: Path,
        tmp_path: Path) -> None:
    host = _host(tmp_path, "host")
    (host / "sweep.yaml").write_text(textwrap.dedent(f"""\
        name: {study_name}
        objective: ckmod:train
        sampler: {{name: random, seed: 0}}
        max_resource: 3
        budget: {{trials: 1}}
        retries: {{max: 1, when: [crash]}}
        storage: {postgres_url}
        artifact_store: {s3.url("k", endpoint=proxy.url, part_size=5 * MiB)}
        """))
    hold, held = threading.Event(), threading.Event()
    seen: list[int] = []

    def hold_second_multipart(method: str, query: dict[str, str]) -> threading.Event | None:
        if method == "POST" and "uploads" in query:
            seen.append(1)
        if "partNumber" in query and query["partNumber"] == "2" and len(seen) == 2 \
                and not held.is_set():
            held.set()
            return hold  # the second checkpoint's upload stalls after its first part
        return None

    proxy.rules.append(hold_second_multipart)
    pidfile = tmp_path / "pids"
    sweep = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "sweep", "sweep.yaml", "--no-progress"], cwd=host,
        env=_env(code_dir, host / "home", CKMOD_MIB="11", CKMOD_PIDFILE=str(pidfile)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert held.wait(240), "the second checkpoint never started uploading"
        pid = int(pidfile.read_text().split()[-2])  # the trial's process, mid-upload
        os.kill(pid, signal.SIGKILL)
        assert len(s3.uploads()) == 1  # the torn upload: invisible to readers
    finally:
        hold.set()
    _, err = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, err[-3000:]
    study = hpo.load_study(study_name=study_name, storage=postgres_url)
    failed, retry = study.get_trials()
    assert failed.state == TrialState.FAIL and retry.state == TrialState.COMPLETE
    assert retry.system_attrs[_attrs.RETRY_OF] == failed.number
    # the retry continued from the checkpoint the killed trial completed (step 1)
    assert retry.system_attrs[_attrs.PARENT] == failed.number
    assert retry.system_attrs[_attrs.START] == 1 and retry.user_attrs["resumed_from_pid"] == pid
    assert checkpoint_of(failed.system_attrs)[1] == 1
    report = clean(study, older_than=0)
    assert report.torn == 1 and s3.uploads() == []


def test_the_storages_page_runs_as_written(s3: Bucket, postgres_url: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/storages.md's two hosts: its sweep file with the test server for db-host and
    the S3 server as AWS_ENDPOINT_URL (the URL as written), then its command lines."""
    import re

    from test_doc_commands import shell_lines

    text = (ROOT / "docs" / "storages.md").read_text()
    (sweep,) = [b for b in re.findall(r"^```yaml\n(.*?)^```", text, flags=re.S | re.M)
                if "artifact_store:" in b]
    name = re.search(r"^name: (\S+)", sweep, flags=re.M).group(1)
    prefix = re.search(r"^artifact_store: s3://my-bucket/(\S+)", sweep, flags=re.M).group(1)
    with contextlib.suppress(KeyError):  # a study of an earlier run of this test
        optuna.delete_study(study_name=name, storage=postgres_url)
    with contextlib.suppress(s3.client.exceptions.BucketAlreadyOwnedByYou):
        s3.client.create_bucket(Bucket="my-bucket")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    host_a, host_b = _host(tmp_path, "host-a"), _host(tmp_path, "host-b")
    (host_a / "sweep-s3.yaml").write_text(
        re.sub(r"^storage: .*$", f"storage: {postgres_url}", sweep, flags=re.M))
    first, worker, *rest = [ln.replace("postgresql://user@db-host/hpo", postgres_url)
                            for ln in shell_lines("docs/storages.md")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    hpo_bin = str(Path(sys.executable).with_name("hpo"))
    a = subprocess.Popen([hpo_bin, *first.split()[1:], "--no-progress"], cwd=host_a,
                         env={**env, "HPO_HOME": str(host_a / "home")}, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_sweep(postgres_url, name)
    b = subprocess.run([hpo_bin, *worker.split()[1:], "--no-progress"], cwd=host_b,
                       env={**env, "HPO_HOME": str(host_b / "home")}, capture_output=True,
                       text=True, timeout=600)
    _, err = a.communicate(timeout=600)
    assert a.returncode == 0 and b.returncode == 0, (err[-2000:], b.stderr[-2000:])
    outputs = [subprocess.run([hpo_bin, *ln.split()[1:]], cwd=host_a, env=env, text=True,
                              capture_output=True, timeout=300) for ln in rest]
    assert [ln.split()[1] for ln in rest] == ["status", "clean", "clean"]
    for out in outputs:
        assert out.returncode == 0, out.stderr
    status, dry, everything = (o.stdout for o in outputs)
    assert re.search(rf"^checkpoints +s3://my-bucket/{prefix}/: \d+ objects, [\d.]+ (KiB|MiB)",
                     status, flags=re.M), status
    assert re.match(rf"s3://my-bucket/{prefix}/: would remove \d+ checkpoints", dry), dry
    assert re.match(rf"s3://my-bucket/{prefix}/: removed [1-9]\d* checkpoints .*; kept 1$",
                    everything.strip()), everything
    assert len(s3.client.list_objects_v2(Bucket="my-bucket", Prefix=prefix)["Contents"]) == 1


# -- another process cannot open a store given as an object; GCS ---------------------------


class DirectoryStore:
    """An artifact store a user might write: Optuna's protocol over a directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def open_reader(self, artifact_id: str) -> Any:
        try:
            return open(self.path / artifact_id, "rb")
        except FileNotFoundError as exc:
            raise ArtifactNotFound(artifact_id) from exc

    def write(self, artifact_id: str, content_body: Any) -> None:
        with open(self.path / artifact_id, "wb") as f:
            while chunk := content_body.read(2**16):
                f.write(chunk)

    def remove(self, artifact_id: str) -> None:
        (self.path / artifact_id).unlink()


def test_any_optuna_artifact_store_works_in_the_process_it_was_given_to(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    study = hpo.create_study(storage=storage, study_name="obj",
                             artifact_store=DirectoryStore(tmp_path / "mine"))
    trial = study.ask()
    hpo.checkpoint(trial, _state(7, 4.0), step=1)  # streamed through the store's write
    study.tell(trial, 1.0)
    assert load_checkpoint(study, trial.number)["value"] == 4.0
    assert len(list((tmp_path / "mine").iterdir())) == 1
    other = subprocess.run(
        [sys.executable, "-c", "import hpo\n"
         f"s = hpo.load_study(study_name='obj', storage={storage!r})\n"
         "hpo.load_checkpoint(s, 0)"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert other.returncode != 0
    assert "keeps its checkpoints in a DirectoryStore object given to hpo.create_study in " \
           "another process" in other.stderr


@pytest.fixture(scope="module")
def gcs_emulator() -> Iterator[str]:
    port = _free_port()
    exe = Path(sys.executable).with_name("gcp-storage-emulator")
    proc = _serve([str(exe), "start", "--host", "127.0.0.1", "--port", str(port),
                   "--in-memory"], port)
    yield f"http://127.0.0.1:{port}"
    _stop(proc)


def test_gcs_checkpoints_are_composed_from_parts_and_resumed(
        gcs_emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from google.cloud import storage as gcs

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    bucket = f"hpo-{uuid.uuid4().hex[:10]}"
    gcs.Client().create_bucket(bucket)
    store = GCSStore(bucket, "p", part_size=MiB)
    with pytest.raises(RuntimeError, match="writer died"), store.open_writer("torn") as f:
        f.write(b"x" * (3 * MiB))
        raise RuntimeError("writer died")
    assert list(store._blobs()) == []  # its parts were deleted, no object appeared
    study = hpo.create_study(storage=f"sqlite:///{tmp_path}/s.db",
                             artifact_store=f"gs://{bucket}/sweep?part_size={MiB}")
    trial = study.ask()
    hpo.checkpoint(trial, _state(3, 5.0), step=1)
    aid = hpo.checkpoint(trial, _state(2.5, 6.0), step=2)
    loaded = load_checkpoint(study, trial.number)
    assert loaded["value"] == 6.0 and loaded["weights"].numel() == int(2.5 * MiB) // 4
    assert [o.artifact_id for o in open_store(f"gs://{bucket}/sweep").objects()] == [aid]
    assert list(store._blobs()) == []  # another prefix: untouched
