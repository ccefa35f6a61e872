"""Trial continuation: checkpoint / resume / budget / lineage / extend, within one process
and across real subprocesses, on real SQLite storage and the filesystem artifact store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

import hpo


@hpo.objective(direction="maximize")
def counter(lr: float = hpo.loguniform(1e-3, 1e-1), *, trial=None) -> float:
    """Trains a 'model' whose state is a tensor; one unit of resource = one step."""
    state = hpo.resume(trial) or {"w": torch.zeros(3), "steps_done": 0}
    start, stop = hpo.budget(trial, max_resource=5)
    assert state["steps_done"] == start
    for step in range(start, stop):
        state["w"] += lr
        state["steps_done"] = step + 1
        if trial is not None:
            trial.report(float(state["w"].sum()), step)
    hpo.checkpoint(trial, state, step=stop)
    return float(state["w"].sum())


def _study(tmp_path: Path, **kw) -> hpo.Study:
    return hpo.create_study(direction="maximize", storage=f"sqlite:///{tmp_path}/s.db",
                            study_name="c", load_if_exists=True, **kw)


def test_plain_call_needs_no_trial() -> None:
    assert counter(lr=0.01) == pytest.approx(0.15)
    assert hpo.resume(None) is None
    assert hpo.checkpoint(None, {"x": 1}) is None
    assert hpo.budget(None, max_resource=7) == (0, 7)


def test_fresh_trial_budget_resume_and_lineage(tmp_path: Path) -> None:
    study = _study(tmp_path)
    study.optimize(counter, n_trials=1)
    t = study.trials[0]
    assert t.state == TrialState.COMPLETE
    assert hpo.budget(t) == (0, 5)
    assert hpo.lineage(t, study) == []
    state = hpo.load_checkpoint(study, 0)
    assert state["steps_done"] == 5
    assert torch.allclose(state["w"], torch.full((3,), 5 * t.params["lr"]))
    # the checkpoint file lives next to the storage
    assert len(list((tmp_path / "s.artifacts").iterdir())) == 1


def test_study_max_resource_overrides_the_functions_default(tmp_path: Path) -> None:
    study = _study(tmp_path, max_resource=8)
    study.optimize(counter, n_trials=1)
    assert hpo.budget(study.trials[0]) == (0, 8)
    assert hpo.load_checkpoint(study, 0)["steps_done"] == 8


def test_extend_continues_from_the_checkpoint(tmp_path: Path) -> None:
    study = _study(tmp_path)
    study.optimize(counter, n_trials=2)
    child = hpo.extend(study, 1, stop=12)
    assert child == 2
    assert study.trials[child].state == TrialState.WAITING
    study.optimize(counter, n_trials=1)  # runs the enqueued continuation first
    t1, t2 = study.trials[1], study.trials[2]
    assert t2.state == TrialState.COMPLETE
    assert t2.params == t1.params
    assert hpo.budget(t2) == (5, 12)
    assert t2.value == pytest.approx(3 * 12 * t1.params["lr"])
    assert sorted(t2.intermediate_values) == list(range(5, 12))
    # extend the extension: lineage is nearest first
    hpo.extend(study, 2, stop=20)
    study.optimize(counter, n_trials=1)
    assert [a.number for a in hpo.lineage(study.trials[3], study)] == [2, 1]
    assert study.trials[3].value == pytest.approx(3 * 20 * t1.params["lr"])


def test_extend_rejects_bad_requests(tmp_path: Path) -> None:
    study = _study(tmp_path)
    study.optimize(counter, n_trials=1)
    with pytest.raises(ValueError, match="stop: must be a number above the 5"):
        hpo.extend(study, 0, stop=5)
    with pytest.raises(ValueError, match="has no trial 9"):
        hpo.extend(study, 9, stop=50)

    def no_checkpoint(trial: optuna.Trial) -> float:
        return trial.suggest_float("lr", 1e-3, 1e-1, log=True)

    study.optimize(no_checkpoint, n_trials=1)
    with pytest.raises(ValueError, match="trial 1 saved no checkpoint"):
        hpo.extend(study, 1, stop=50)
    waiting = hpo.extend(study, 0, stop=50)
    with pytest.raises(ValueError, match=f"trial {waiting} is WAITING"):
        hpo.extend(study, waiting, stop=60)


def test_set_budget_from_a_sampler_before_the_trial(tmp_path: Path) -> None:
    """A sampler that promotes the best finished trial, as Hyperband promotion will."""

    class Promote(optuna.samplers.RandomSampler):
        def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            done = study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])
            if done:
                best = max(done, key=lambda t: t.value)
                hpo.set_budget(study, trial, start=5, stop=10, parent=best.number)
                self._promoted = best

        def sample_independent(self, study, trial, name, dist):  # the parent's parameters
            parent = getattr(self, "_promoted", None)
            if parent is not None:
                return parent.params[name]
            return super().sample_independent(study, trial, name, dist)

    study = _study(tmp_path, sampler=Promote(seed=1))
    study.optimize(counter, n_trials=2)
    t0, t1 = study.trials
    assert hpo.budget(t1) == (5, 10)
    assert [a.number for a in hpo.lineage(t1, study)] == [0]
    assert t1.value == pytest.approx(3 * 10 * t0.params["lr"])


def test_set_budget_validates(tmp_path: Path) -> None:
    study = _study(tmp_path)
    trial = study.ask()
    with pytest.raises(ValueError, match="0 <= start < stop"):
        hpo.set_budget(study, trial, start=5, stop=5)
    with pytest.raises(ValueError, match="cannot continue itself"):
        hpo.set_budget(study, trial, start=0, stop=5, parent=trial.number)
    with pytest.raises(KeyError):
        hpo.set_budget(study, trial, start=0, stop=5, parent=42)


def test_resume_from_a_parent_without_checkpoint_is_an_error(tmp_path: Path) -> None:
    study = _study(tmp_path)
    study.optimize(lambda t: t.suggest_float("lr", 1e-3, 1e-1), n_trials=1)
    trial = study.ask()
    hpo.set_budget(study, trial, start=5, stop=10, parent=0)
    with pytest.raises(FileNotFoundError, match="continues trial 0, which saved no checkpoint"):
        hpo.resume(trial)


def test_checkpoint_keeps_only_the_latest(tmp_path: Path) -> None:
    study = _study(tmp_path)
    trial = study.ask()
    for i in range(3):
        hpo.checkpoint(trial, {"i": i}, step=i)
    study.tell(trial, 1.0)
    assert hpo.load_checkpoint(study, 0) == {"i": 2}
    assert len(list((tmp_path / "s.artifacts").iterdir())) == 1


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, text=True,
                          capture_output=True, timeout=120, env={**os.environ})


def test_checkpoint_in_one_process_resumes_in_another(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    writer = _run(f"""
        import hpo, torch
        def f(trial):
            trial.suggest_float("lr", 1e-3, 1e-1)
            torch.manual_seed(0)
            model = torch.nn.Linear(4, 2)
            opt = torch.optim.Adam(model.parameters(), lr=0.01)
            model(torch.randn(8, 4)).sum().backward(); opt.step()
            hpo.checkpoint(trial, {{"model": model.state_dict(), "opt": opt.state_dict()}},
                           step=100)
            torch.save(model.state_dict(), "expected.pt")
            return 1.0
        hpo.create_study(storage="{url}", study_name="x").optimize(f, n_trials=1)
        """, tmp_path)
    assert writer.returncode == 0, writer.stderr
    reader = _run(f"""
        import hpo, torch
        study = hpo.load_study(study_name="x", storage="{url}")
        hpo.extend(study, 0, stop=200)
        def f(trial):
            trial.suggest_float("lr", 1e-3, 1e-1)
            state = hpo.resume(trial)
            expected = torch.load("expected.pt")
            assert hpo.budget(trial) == (100, 200), hpo.budget(trial)
            for k, v in expected.items():
                assert torch.equal(state["model"][k], v), k
            assert state["opt"]["state"][0]["step"] == 1
            return 2.0
        study.optimize(f, n_trials=1, catch=())
        print("resumed", study.trials[1].state.name)
        """, tmp_path)
    assert reader.returncode == 0, reader.stderr
    assert "resumed COMPLETE" in reader.stdout


def test_a_reader_never_sees_a_half_written_checkpoint(tmp_path: Path) -> None:
    """Kill a writer while its second checkpoint is being copied into the artifact store:
    the half-written artifact is on disk, yet readers get the first checkpoint intact."""
    url = f"sqlite:///{tmp_path}/k.db"
    store = tmp_path / "k.artifacts"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import hpo, torch
        study = hpo.create_study(storage="{url}", study_name="k")
        trial = study.ask()
        hpo.checkpoint(trial, {{"version": 1, "w": torch.ones(10)}}, step=1)
        big = torch.zeros(600_000_000, dtype=torch.uint8)   # 600 MB: slow to copy
        print("first", flush=True)
        hpo.checkpoint(trial, {{"version": 2, "w": big}}, step=2)
        """)], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "first"
    deadline = time.monotonic() + 60
    while len(list(store.iterdir())) < 2:  # the second artifact has started to appear
        assert time.monotonic() < deadline and proc.poll() is None, "writer ended too early"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(list(store.iterdir())) == 2  # the torn artifact is there ...
    study = hpo.load_study(study_name="k", storage=url)
    state = hpo.load_checkpoint(study, 0)  # ... and invisible to readers
    assert state["version"] == 1 and torch.equal(state["w"], torch.ones(10))
    assert study.trials[0].system_attrs["hpo:checkpoint_step"] == 1
    # the pointer and its step are one record
    artifact, step = study.trials[0].system_attrs["hpo:checkpoint_at"]
    assert step == 1 and artifact == study.trials[0].system_attrs["hpo:checkpoint"]
    # the torn upload is a partial file; once it is an hour old the next checkpoint of any
    # trial removes it (a partial file that young may still be written)
    (torn,) = [p for p in store.iterdir() if p.name.startswith(".partial-")]
    other = study.ask()
    hpo.checkpoint(other, {"x": 1}, step=1)
    assert torn.exists()
    os.utime(torn, (time.time() - 7200, time.time() - 7200))
    hpo.checkpoint(other, {"x": 2}, step=2)
    assert not torn.exists()
    assert not [p for p in store.iterdir() if p.name.startswith(".partial-")]


def test_a_retry_resumes_the_step_its_checkpoint_reached(tmp_path: Path) -> None:
    """A worker killed between writing the pointer and the step (the legacy attributes
    disagree) never makes the retry train a step twice: the pointer and step pair wins."""
    from optuna.trial import create_trial

    from hpo.runner.retry import retry

    study = _study(tmp_path)
    trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)})
    hpo.budget(trial, max_resource=10)
    hpo.checkpoint(trial, {"w": torch.zeros(3), "steps_done": 6}, step=6)
    attrs = study._storage.get_trial_system_attrs(trial._trial_id)
    # as if killed between the two legacy writes of an older hpo: step still says 3
    study._storage.set_trial_system_attr(trial._trial_id, "hpo:checkpoint_step", 3)
    study.tell(trial, state=TrialState.FAIL)
    again = retry(study, study.trials[0], max_retries=2)
    assert again is not None
    assert hpo.budget(study.trials[again]) == (6, 10)
    assert attrs["hpo:checkpoint_at"][1] == 6
    # a checkpoint written by another tool (legacy attributes only) still counts
    legacy = create_trial(state=TrialState.FAIL, params={}, distributions={},
                          system_attrs={"hpo:stop": 10, "hpo:checkpoint": "x",
                                        "hpo:checkpoint_step": 4})
    study.add_trial(legacy)
    again = retry(study, study.trials[-1], max_retries=2)
    assert hpo.budget(study.trials[again]) == (4, 10)


def test_clean_all_keeps_where_the_best_configuration_went_on_to(tmp_path: Path) -> None:
    """An extension of the best configuration that scored worse is not the best trial
    (it is compared at the resource the others reached), but `hpo clean --all` keeps its
    checkpoint: it is the configuration's furthest training, what hpo.extend goes on from."""
    study = hpo.create_study(direction="maximize", storage=f"sqlite:///{tmp_path}/s.db",
                             artifact_dir=tmp_path / "ckpt")

    @hpo.objective(direction="maximize")
    def train(x: float = hpo.uniform(0, 1), *, trial: object = None) -> float:
        state = hpo.resume(trial) or {"step": 0}
        _start, stop = hpo.budget(trial, max_resource=2)
        state["step"] = stop
        hpo.checkpoint(trial, state, step=stop)
        return x if stop <= 2 else x - 10.0  # training on made it worse

    study.optimize(train, n_trials=2)
    best = study.best_trial.number
    ext = hpo.extend(study, best, stop=4)
    study.optimize(train, n_trials=1)
    assert study.best_trial.number == best  # compared at 2, where both configurations are
    hpo.continuation.clean(study, finished=True)
    kept = sorted(p.name for p in (tmp_path / "ckpt").rglob("*") if p.is_file())
    ids = {n: hpo.continuation.checkpoint_of(study.trials[n].system_attrs)[0]
           for n in (best, ext)}
    assert kept == sorted(ids.values())
    assert hpo.load_checkpoint(study, ext)["step"] == 4
