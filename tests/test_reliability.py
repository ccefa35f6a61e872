"""Issue 9: nothing stuck, nothing orphaned, nothing repeated, with real processes and
real storages (SQLite files, PostgreSQL)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import hpo
from hpo.runner.loop import counted

TESTS = Path(__file__).resolve().parent
HPO = str(Path(sys.executable).with_name("hpo"))

# a command objective: its mode says how it misbehaves
TRAIN = """\
import json, os, subprocess, sys, time
mode, x = sys.argv[1], float(sys.argv[2])
trial_dir = os.environ["HPO_TRIAL_DIR"]
def child():  # a grandchild of the trial, which must not outlive it
    p = subprocess.Popen(["sleep", "300"])
    with open(os.path.join(trial_dir, "child.pid"), "w") as f:
        f.write(str(p.pid))
if mode == "stderr":
    sys.stderr.write("x" * 131072 + "\\n")
    sys.stderr.flush()
    print(json.dumps({"loss": x}))
elif mode == "background":
    child()
    print(json.dumps({"loss": x}), flush=True)
elif mode == "hang":
    child()
    print(json.dumps({"loss": x}), flush=True)
    time.sleep(300)
elif mode == "string":
    print(json.dumps({"loss": "0.25"}))
elif mode == "bool":
    print(json.dumps({"loss": True}))
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(TESTS), **extra}


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def _hpo(*args: str, cwd: Path, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([HPO, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=_env(**env))


def _trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return hpo.load_study(study_name=name, storage=url).trials
    except ValueError:  # not created yet
        return []


def _wait_for(url: str, name: str, done, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not done(_trials(url, name)):
        assert time.monotonic() < deadline, f"study {name!r} made no progress"
        time.sleep(0.3)


def _sweep_attr(url: str, name: str) -> dict:
    study = hpo.load_study(study_name=name, storage=url)
    return study._storage.get_study_system_attrs(study._study_id)["hpo:sweep"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def _wait_dead(pid: int, seconds: float = 5) -> None:
    """Wait (a little: processes take a moment to be reaped) until ``pid`` is gone."""
    deadline = time.monotonic() + seconds
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid} outlived its trial"
        time.sleep(0.1)


def _running(trials: list[optuna.trial.FrozenTrial]) -> list[int]:
    return [t.number for t in trials if t.state == TrialState.RUNNING]


def _stepper_sweep(tmp_path: Path, name: str, trials: int, workers: int,
                   storage: str | None = None) -> Path:
    return _write(tmp_path / f"{name}.yaml", f"""\
        name: {name}
        objective: runner_objectives:stepper
        sampler: {{name: random, seed: 0}}
        budget: {{trials: {trials}}}
        workers: {workers}
        heartbeat_interval: 0.5
        grace_period: 600
        """ + (f"storage: {storage}\n" if storage else ""))


def _slow_in_flight(ts: list[optuna.trial.FrozenTrial], n: int) -> bool:
    """``n`` trials RUNNING inside their slow steps (checkpointed at step 6 or later)."""
    return sum(t.state == TrialState.RUNNING and t.system_attrs.get("hpo:checkpoint_step", 0)
               >= 6 for t in ts) >= n


# -- nothing stuck ------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path, study_name: str) -> Iterator[str]:
    """A SQLite file, or the test PostgreSQL server (the study deleted afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/study.db"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name=study_name, storage=hpo.storages.resolve_storage(url))


def test_sweep_sigkilled_and_restarted_retries_dead_trials_at_once(
        tmp_path: Path, storage_url: str, study_name: str) -> None:
    name, url = study_name, storage_url
    path = _stepper_sweep(tmp_path, name, trials=3, workers=2, storage=url)
    victim = subprocess.Popen([HPO, "sweep", str(path), "--no-progress"], cwd=tmp_path,
                              env=_env(HPO_TEST_SLOW_STEPS="1"), stderr=subprocess.DEVNULL,
                              start_new_session=True)
    _wait_for(url, name, lambda ts: _slow_in_flight(ts, 2))
    os.killpg(victim.pid, signal.SIGKILL)  # the whole process group, children too
    victim.wait(30)
    assert len(_running(_trials(url, name))) == 2
    # the grace period is 600 s, past the command's time limit: the dead workers' trials
    # must be found dead by their process, at once
    out = _hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    trials = _trials(url, name)
    assert _running(trials) == []
    assert counted(trials) == 3
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    dead = [t for t in trials if t.state == TrialState.FAIL]
    assert len(dead) == 2
    for t in dead:
        assert "is gone (its process no longer exists)" in t.system_attrs["hpo:fail_reason"]


def test_running_trial_of_another_host_is_awaited_then_retried(tmp_path: Path) -> None:
    """Budget reached with another host's trial RUNNING: the run waits for it; when its
    heartbeat stops for the grace period it is failed and retried, then the run ends."""
    from runner_objectives import quadratic

    url = f"sqlite:///{tmp_path}/w.db"
    study = hpo.create_study(storage=url, study_name="w")
    other = study.ask({"x": hpo.uniform(-2, 2)})
    study._storage.set_trial_system_attr(other._trial_id, "hpo:worker", "elsewhere:1/0")
    study._storage.set_trial_system_attr(other._trial_id, "hpo:heartbeat", time.time())
    start = time.monotonic()
    study = hpo.run(quadratic, storage=url, study_name="w", n_trials=2, isolation="none",
                    heartbeat_interval=0.2, grace_period=2, progress=False)
    assert time.monotonic() - start >= 1.5  # it waited (most of) the grace period
    trials = study.trials
    assert _running(trials) == []
    assert trials[0].state == TrialState.FAIL
    assert "elsewhere:1/0 stopped sending heartbeats" in trials[0].system_attrs["hpo:fail_reason"]
    retry = [t for t in trials if t.system_attrs.get("hpo:retry_of") == 0]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert counted(trials) == 2


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_twice_leaves_no_trial_running(tmp_path: Path, sig: signal.Signals) -> None:
    path = _stepper_sweep(tmp_path, "twice", trials=4, workers=2)
    url = f"sqlite:///{tmp_path}/sweeps/twice/study.db"
    proc = subprocess.Popen([HPO, "sweep", str(path), "--no-progress"], cwd=tmp_path,
                            env=_env(HPO_TEST_SLOW_STEPS="1"), stderr=subprocess.PIPE, text=True)
    _wait_for(url, "twice", lambda ts: _slow_in_flight(ts, 2))
    proc.send_signal(sig)
    time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    trials = _trials(url, "twice")
    assert _running(trials) == []
    stopped = [t for t in trials if t.state == TrialState.FAIL]
    assert len(stopped) == 2
    assert all(t.system_attrs["hpo:fail_reason"] == "the sweep was stopped" for t in stopped)
    # shown as interrupted, and resumed from their checkpoints
    status = _hpo("status", str(path), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert re.search(r"^interrupted\s+2$", status.stdout, re.M), status.stdout
    out = _hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "2 interrupted" in out.stdout
    trials = _trials(url, "twice")
    assert _running(trials) == [] and counted(trials) == 4


def test_systemexit_and_keyboardinterrupt_in_a_thread_objective(tmp_path: Path) -> None:
    from runner_objectives import raises

    url = f"sqlite:///{tmp_path}/x.db"
    with pytest.raises(SystemExit):
        hpo.run(raises, storage=url, study_name="exit", n_trials=3, isolation="none",
                progress=False, workers=2)
    trials = _trials(url, "exit")
    assert _running(trials) == [] and trials
    reasons = {t.system_attrs.get("hpo:fail_reason") for t in trials}
    assert any("SystemExit(3)" in str(r) for r in reasons), reasons

    os.environ["HPO_TEST_RAISE"] = "KeyboardInterrupt"
    try:
        with pytest.raises(KeyboardInterrupt):
            hpo.run(raises, storage=url, study_name="kbd", n_trials=3, isolation="none",
                    progress=False)
    finally:
        del os.environ["HPO_TEST_RAISE"]
    trials = _trials(url, "kbd")
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[0].system_attrs["hpo:fail_reason"].startswith("the sweep was stopped")


def test_changed_space_is_refused_and_error_stop_leaves_nothing_running(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    sweep = """\
        name: space
        command: "python train.py stderr {x}"
        metric: {name: loss}
        space:
          x: %s
        budget: {trials: %d}
        isolation: none
        """
    path = _write(tmp_path / "s.yaml", sweep % ("{type: uniform, low: 0, high: 1}", 1))
    assert _hpo("sweep", str(path), "--no-progress", cwd=tmp_path).returncode == 0
    url = f"sqlite:///{tmp_path}/sweeps/space/study.db"
    stored = _sweep_attr(url, "space")
    path = _write(tmp_path / "s.yaml", sweep % ("{type: choice, values: [0.5, 1.0]}", 2))
    out = _hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "x: float in [0.0, 1.0] -> choice of (0.5, 1.0)" in out.stderr
    assert "Traceback" not in out.stderr
    assert len(_trials(url, "space")) == 1 and _sweep_attr(url, "space") == stored
    # going on anyway: Optuna refuses the new kind at the first suggestion; the sweep
    # stops on that error and leaves no trial RUNNING
    out = _hpo("sweep", str(path), "--no-progress", "--allow-space-change", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    trials = _trials(url, "space")
    assert _running(trials) == [] and len(trials) == 2
    assert trials[1].system_attrs["hpo:fail_reason"].startswith("the sweep stopped on an error")


def test_other_direction_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/d.db"
    hpo.create_study(storage=url, study_name="quadratic", direction="maximize")
    path = _write(tmp_path / "d.yaml", f"""\
        name: quadratic
        objective: runner_objectives:quadratic
        budget: {{trials: 1}}
        storage: {url}
        """)
    out = _hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert out.returncode == 2
    assert "exists in" in out.stderr and "['maximize'], not ['minimize']" in out.stderr
    assert _trials(url, "quadratic") == []


def test_two_processes_open_a_fresh_sqlite_file_together(tmp_path: Path) -> None:
    """Four processes create the schema of one new SQLite file at the same instant
    (without the lock, most tries failed with 'table ... already exists')."""
    code = textwrap.dedent("""\
        import sys, time
        import optuna
        from hpo.storages import resolve_storage
        at = float(sys.argv[2])
        while time.time() < at:
            time.sleep(0.001)
        s = resolve_storage("sqlite:///" + sys.argv[1])
        optuna.create_study(storage=s, study_name="race", load_if_exists=True)
        """)
    db = tmp_path / "race.db"
    at = time.time() + 8
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), str(at)],
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    assert len(_trials(f"sqlite:///{db}", "race")) == 0


# -- nothing orphaned ---------------------------------------------------------------------


def _command_sweep(tmp_path: Path, mode: str, **extra: str) -> Path:
    (tmp_path / "train.py").write_text(TRAIN)
    lines = "".join(f"{k}: {v}\n" for k, v in extra.items())
    return _write(tmp_path / f"{mode}.yaml", f"""\
        name: {mode}
        command: "python train.py {mode} {{x}}"
        metric: {{name: loss}}
        space:
          x: {{type: uniform, low: 0, high: 1}}
        budget: {{trials: 1}}
        """ + lines)


def _child_pids(tmp_path: Path) -> list[int]:
    return [int(p.read_text()) for p in tmp_path.glob("trials/*/child.pid")]


def test_command_with_much_stderr_completes(tmp_path: Path) -> None:
    path = _command_sweep(tmp_path, "stderr", trial_timeout="60")
    out = _hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (t,) = _trials(f"sqlite:///{tmp_path}/sweeps/stderr/study.db", "stderr")
    assert t.state == TrialState.COMPLETE


@pytest.mark.parametrize("isolation", ["process", "none"])
def test_command_children_do_not_outlive_the_sweep(tmp_path: Path, isolation: str) -> None:
    path = _command_sweep(tmp_path, "background", isolation=isolation)
    out = _hpo("sweep", str(path), "--no-progress", cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    (pid,) = _child_pids(tmp_path)
    _wait_dead(pid, 2)


def test_command_killed_with_its_children_at_the_time_limit(tmp_path: Path) -> None:
    path = _command_sweep(tmp_path, "hang", trial_timeout="15")
    out = _hpo("sweep", str(path), "--no-progress", cwd=tmp_path, timeout=90)
    assert out.returncode == 1, out.stderr  # nothing completed
    (t,) = _trials(f"sqlite:///{tmp_path}/sweeps/hang/study.db", "hang")
    assert t.system_attrs["hpo:fail_reason"] == "killed at the time limit of 15 s per trial"
    (pid,) = _child_pids(tmp_path)
    _wait_dead(pid)


@pytest.mark.parametrize("isolation", ["process", "none"])
def test_command_killed_with_its_children_on_ctrl_c(tmp_path: Path, isolation: str) -> None:
    path = _command_sweep(tmp_path, "hang", isolation=isolation)
    proc = subprocess.Popen([HPO, "sweep", str(path), "--no-progress"], cwd=tmp_path,
                            env=_env(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not _child_pids(tmp_path):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    if isolation == "none":  # the thread cannot be stopped: the second Ctrl-C leaves
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (pid,) = _child_pids(tmp_path)
    _wait_dead(pid)
    assert _running(_trials(f"sqlite:///{tmp_path}/sweeps/hang/study.db", "hang")) == []


@pytest.mark.parametrize("isolation", ["process", "none"])
def test_command_dies_with_a_sigkilled_sweep(tmp_path: Path, isolation: str) -> None:
    path = _command_sweep(tmp_path, "hang", isolation=isolation)
    proc = subprocess.Popen([HPO, "sweep", str(path), "--no-progress"], cwd=tmp_path,
                            env=_env(), stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while not _child_pids(tmp_path):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep's group; the command has its own
    proc.wait(30)
    (pid,) = _child_pids(tmp_path)
    _wait_dead(pid, 10)  # its supervisor gives it 3 s to exit


@pytest.mark.parametrize("mode", ["string", "bool"])
def test_command_metrics_must_be_numbers(tmp_path: Path, mode: str) -> None:
    path = _command_sweep(tmp_path, mode, isolation="none")
    out = _hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert out.returncode == 1
    (t,) = _trials(f"sqlite:///{tmp_path}/sweeps/{mode}/study.db", mode)
    assert t.state == TrialState.FAIL
    assert "metric 'loss' is" in t.system_attrs["hpo:fail_reason"]
    assert "not a number" in t.system_attrs["hpo:fail_reason"]


# -- nothing repeated, nothing surprising -------------------------------------------------


def _params(url: str, name: str) -> list[tuple]:
    return [tuple(sorted(t.params.items())) for t in _trials(url, name)]


def test_seeded_sampler_does_not_repeat_across_resume(tmp_path: Path) -> None:
    path = _write(tmp_path / "seed.yaml", """\
        name: seed
        objective: runner_objectives:quadratic
        sampler: {name: random, seed: 0}
        budget: {trials: 2}
        isolation: none
        """)
    url = f"sqlite:///{tmp_path}/sweeps/seed/study.db"
    assert _hpo("sweep", str(path), "--no-progress", cwd=tmp_path).returncode == 0
    out = _hpo("sweep", str(path), "--no-progress", "--trials", "4", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    params = _params(url, "seed")
    assert len(params) == 4 and len(set(params)) == 4, params
    # a fresh study with the same seed is reproducible
    again = _write(tmp_path / "again.yaml", path.read_text().replace("name: seed", "name: again"))
    assert _hpo("sweep", str(again), "--no-progress", cwd=tmp_path).returncode == 0
    assert _params(f"sqlite:///{tmp_path}/sweeps/again/study.db", "again") == params[:2]


def test_seeded_concurrent_workers_do_not_repeat(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    path = _write(tmp_path / "c.yaml", f"""\
        name: conc
        objective: runner_objectives:quadratic
        sampler: {{name: random, seed: 0}}
        budget: {{trials: 6}}
        isolation: none
        storage: {url}
        """)
    procs = [subprocess.Popen([HPO, "sweep", str(path), "--no-progress"], cwd=tmp_path,
                              env=_env(), stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    params = _params(url, "conc")
    assert len(params) >= 6 and len(set(params)) == len(params), params


def test_processes_of_one_sweep_do_not_repeat_self_sampled_parameters(tmp_path: Path) -> None:
    """An Optuna-style objective samples in the trial's child process, with a copy of
    the seeded sampler in each of them."""
    from runner_objectives import plain

    url = f"sqlite:///{tmp_path}/p.db"
    study = hpo.run(plain, storage=url, study_name="p", n_trials=6, workers=2,
                    sampler=optuna.samplers.RandomSampler(seed=0), progress=False)
    xs = [t.params["x"] for t in study.trials]
    assert len(set(xs)) == 6, xs


def test_sweep_file_without_pruner_prunes_nothing(tmp_path: Path) -> None:
    from hpo.cli.sweepfile import load_sweep

    path = _write(tmp_path / "p.yaml", """\
        name: p
        objective: runner_objectives:quadratic
        budget: {trials: 1}
        """)
    assert isinstance(load_sweep(path).build_pruner(), optuna.pruners.NopPruner)
    # the Python API keeps Optuna's default
    study = hpo.create_study(storage=f"sqlite:///{tmp_path}/d.db")
    assert isinstance(study.pruner, optuna.pruners.MedianPruner)


VALUES = {"np.float32": "np.float32(0.5)", "np.int64": "np.int64(2)",
          "0-d tensor": "torch.tensor(0.5)", "0-d array": "np.array(0.25)",
          "inf": "float('inf')", "string": "'0.25'", "bool": "True", "np.bool_": "np.bool_(True)",
          "None": "None", "nan": "float('nan')", "pair": "(1.0, 2.0)", "1-d tensor":
          "torch.tensor([0.5])"}
VALID = {"np.float32": 0.5, "np.int64": 2.0, "0-d tensor": 0.5, "0-d array": 0.25,
         "inf": float("inf")}


def _check_values(trials: list[optuna.trial.FrozenTrial]) -> None:
    for kind, t in zip(VALUES, trials, strict=True):
        if kind in VALID:
            assert (t.state, t.value) == (TrialState.COMPLETE, VALID[kind]), kind
            assert "hpo:fail_reason" not in t.system_attrs, kind
        else:
            assert t.state == TrialState.FAIL, kind
            assert "the objective returned" in t.system_attrs["hpo:fail_reason"], kind


@pytest.mark.parametrize("entry", ["optuna", "hpo.Study.optimize", "hpo.run-process",
                                   "hpo.run-thread"])
def test_one_value_rule_in_every_entry_point(tmp_path: Path, entry: str) -> None:
    from runner_objectives import returns

    url = f"sqlite:///{tmp_path}/v.db"
    study = hpo.create_study(storage=url, study_name="v")
    for kind in VALUES:
        study.enqueue_trial({"kind": kind})
    if entry == "optuna":
        optuna.load_study(study_name="v", storage=url).optimize(returns, n_trials=len(VALUES))
    elif entry == "hpo.Study.optimize":
        study.optimize(returns, n_trials=len(VALUES))
    else:
        study = hpo.run(returns, storage=url, study_name="v", n_trials=len(VALUES),
                        isolation="process" if entry.endswith("process") else "none",
                        max_initial_failures=0, progress=False)
    _check_values(study.trials)


def test_repeated_initial_failures_stop_the_sweep(tmp_path: Path) -> None:
    path = _write(tmp_path / "f.yaml", """\
        name: f
        objective: runner_objectives:always_fails
        budget: {trials: 20}
        isolation: none
        max_initial_failures: 3
        """)
    out = _hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.count("the first 3 trials all failed with the same error") == 1
    assert out.stderr.count("RuntimeError: out of memory at step 7") == 2  # trial 0, summary
    assert "trial 2 fail: as trial 0" in out.stderr
    assert len(_trials(f"sqlite:///{tmp_path}/sweeps/f/study.db", "f")) == 3


def test_storage_url_errors_are_one_line(tmp_path: Path, postgres_url: str) -> None:
    cases = {"sqlite://x.db": "three or four slashes",
             "postgresql://postgres:s3cret@127.0.0.1:1/test": "cannot open "
             "postgresql://postgres:***@127.0.0.1:1/test",
             postgres_url.rsplit("/", 1)[0] + "/no_such_db_hpo": "no_such_db_hpo",
             "redis://:s3cret@127.0.0.1:1/0": "cannot open redis://:***@127.0.0.1:1/0"}
    for url, expected in cases.items():
        out = _hpo("studies", "--storage", url, cwd=tmp_path, timeout=60)
        assert out.returncode == 2, (url, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert expected in out.stderr and "s3cret" not in out.stderr
    assert not (tmp_path / "sqlite:").exists()
    # postgres:// is postgresql://
    alias = postgres_url.replace("postgresql://", "postgres://", 1)
    out = _hpo("studies", "--storage", alias, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr


def test_settings_are_checked_before_the_study_is_created(tmp_path: Path) -> None:
    path = _write(tmp_path / "g.yaml", """\
        name: g
        objective: runner_objectives:quadratic
        budget: {trials: 1}
        workers: 2
        gpus_per_trial: 1
        """)
    out = subprocess.run([HPO, "sweep", str(path), "--no-progress"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120,
                         env=_env(CUDA_VISIBLE_DEVICES=""))
    assert out.returncode == 2
    assert "gpus_per_trial: 2 workers x 1 GPUs need 2 GPUs, but 0 are visible" in out.stderr
    assert not (tmp_path / "sweeps" / "g" / "study.db").exists()
