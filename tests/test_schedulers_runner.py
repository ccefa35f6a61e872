"""Schedulers in `hpo sweep` / `hpo worker`: real processes, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from cli_helpers import TESTS, run_hpo, start_hpo, sweep_file, wait_for
from optuna.trial import TrialState

import hpo
from hpo import _attrs, _segments


def _check_chains(study: optuna.Study) -> None:
    """Every promotion ran once and continued its parent's checkpoint exactly."""
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    claims = Counter((t.system_attrs[_attrs.CONFIG], hpo.budget(t)[1]) for t in done)
    assert max(claims.values()) == 1, "a promotion ran twice"
    for t in done:
        start, stop = hpo.budget(t)
        state = t.user_attrs["state"]
        assert state["trained"] == stop
        if start > 0:
            parent = study.trials[t.system_attrs[_attrs.PARENT]]
            assert parent.params == t.params
            assert parent.system_attrs[_attrs.CHECKPOINT_STEP] == start


def test_hyperband_sweep_in_worker_processes_resumes_its_brackets(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: hb
        objective: scheduler_objectives:segmented
        sampler: {name: hyperband, min_resource: 1, max_resource: 9, seed: 0}
        budget: {trials: 12}
        workers: 2
        """)
    out = run_hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    url = f"sqlite:///{tmp_path}/sweeps/hb/study.db"
    study = hpo.load_study(study_name="hb", storage=url)
    assert len(study.trials) == 12
    _check_chains(study)
    out = run_hpo("sweep", str(path), "--no-progress", "--trials", "22", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    study = hpo.load_study(study_name="hb", storage=url)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    _check_chains(study)
    # the restart went on with the first bracket: 9 configurations, 3 promoted, 1 to the top
    first = [t for t in study.trials if t.system_attrs[_attrs.BRACKET] == "0/0"]
    assert Counter(hpo.budget(t)[1] for t in first) == {1: 9, 3: 3, 9: 1}
    # best: compared at the largest resource reached
    assert hpo.budget(_segments.best_trial(study))[1] == 9


def test_asha_workers_share_a_postgresql_study(tmp_path: Path, postgres_url: str,
                                               study_name: str) -> None:
    path = sweep_file(tmp_path, f"""\
        name: {study_name}
        objective: scheduler_objectives:segmented
        sampler: {{name: asha, min_resource: 1, max_resource: 9, seed: 0}}
        budget: {{trials: 24}}
        storage: {postgres_url}
        """)
    procs = [start_hpo("worker", str(path), "--no-progress", cwd=tmp_path) for _ in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    study = hpo.load_study(study_name=study_name, storage=postgres_url)
    try:
        _check_chains(study)
        assert {hpo.budget(t)[1] for t in study.trials} >= {1, 3}
        workers = {t.system_attrs[_attrs.WORKER].split("/")[0] for t in study.trials}
        assert len(workers) >= 2
    finally:
        optuna.delete_study(study_name=study_name,
                            storage=hpo.storages.resolve_storage(postgres_url))


def test_a_worker_killed_mid_segment_costs_only_that_segment(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: kill
        objective: scheduler_objectives:segmented
        sampler: {name: successive_halving, min_resource: 1, max_resource: 9, seed: 0}
        budget: {trials: 13}
        heartbeat_interval: 0.5
        grace_period: 2
        """)
    url = f"sqlite:///{tmp_path}/sweeps/kill/study.db"
    victim = start_hpo("sweep", str(path), "--no-progress", cwd=tmp_path,
                       HPO_TEST_STEP_SLEEP="0.6")

    def top_half_way(trials: list) -> bool:  # the top segment (3 -> 9) is half way
        top = [t for t in trials if t.system_attrs.get(_attrs.STOP) == 9]
        return bool(top) and top[0].system_attrs.get(_attrs.CHECKPOINT_STEP, 0) >= 5

    wait_for(url, "kill", top_half_way)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(30)
    time.sleep(2.5)  # past the grace period
    out = run_hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    study = hpo.load_study(study_name="kill", storage=url)
    dead = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(dead) == 1 and hpo.budget(dead[0]) == (3, 9)
    retry = [t for t in study.trials if t.system_attrs.get(_attrs.RETRY_OF) == dead[0].number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    reached = dead[0].system_attrs[_attrs.CHECKPOINT_STEP]
    assert hpo.budget(retry[0]) == (reached, 9)  # resumed from the dead one's checkpoint
    assert retry[0].user_attrs["state"]["starts"] == [0, 1, 3, reached]
    # nothing else was redone: 9 + 3 + 1 segments and the one retry
    assert Counter(hpo.budget(t)[1] for t in study.trials if t.state == TrialState.COMPLETE) \
        == {1: 9, 3: 3, 9: 1}


@pytest.mark.parametrize("resource", [30])
def test_a_resource_budget_stops_thesweep_file(tmp_path: Path, resource: int) -> None:
    path = sweep_file(tmp_path, f"""\
        name: res
        objective: scheduler_objectives:segmented
        sampler: {{name: asha, min_resource: 1, max_resource: 9, seed: 0}}
        budget: {{resource: {resource}}}
        isolation: none
        """)
    out = run_hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    study = hpo.load_study(study_name="res", storage=f"sqlite:///{tmp_path}/sweeps/res/study.db")
    spent = _segments.consumed(study.trials)
    last = hpo.budget(study.trials[-1])
    assert resource <= spent < resource + (last[1] - last[0])


def test_ppo_under_asha_continues_from_its_checkpoint(tmp_path: Path) -> None:
    example = TESTS.parent / "examples" / "ppo_asha.yaml"
    out = run_hpo("sweep", str(example), "--no-progress", "--trials", "4", "--workers", "1",
               "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    study = hpo.load_study(study_name="ppo-asha", storage=f"sqlite:///{tmp_path}/out/study.db")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert [hpo.budget(t) for t in study.trials] == [(0, 5000)] * 3 + [(5000, 15000)]
    best = min(study.trials[:3], key=lambda t: -t.value)
    assert hpo.lineage(study.trials[3], study)[0].number == best.number
    assert study.trials[3].params == best.params


def test_idhb_sweep_deepens_from_the_command_line(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: deep
        objective: scheduler_objectives:segmented
        sampler: {name: idhb, min_resource: 1, max_resource: 4, reduction_factor: 2, seed: 0}
        budget: {trials: 14}
        isolation: none
        """)
    assert run_hpo("sweep", str(path), "--no-progress", cwd=tmp_path).returncode == 0
    low = run_hpo("sweep", str(path), "--no-progress", "--max-resource", "3", cwd=tmp_path)
    assert low.returncode == 2 and "max_resource: must exceed the study's current maximum " \
        "resource 4, got 3" in low.stderr
    odd = run_hpo("sweep", str(path), "--no-progress", "--max-resource", "6", cwd=tmp_path)
    assert odd.returncode == 2 and "allowed: 8, 16, 32" in odd.stderr
    out = run_hpo("sweep", str(path), "--no-progress", "--max-resource", "8", "--trials", "35",
               cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "maximum resource raised to 8; rungs 1, 2, 4, 8" in out.stderr
    study = hpo.load_study(study_name="deep", storage=f"sqlite:///{tmp_path}/sweeps/deep/study.db")
    assert len(study.trials) == 35  # as many as one fresh Hyperband(R=8): nothing redone
    assert max(hpo.budget(t)[1] for t in study.trials) == 8
    _check_chains(study)
    # running the same command again resumes; it does not deepen twice
    again = run_hpo("sweep", str(path), "--no-progress", "--max-resource", "8", "--trials", "35",
                 cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    status = run_hpo("status", str(path), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "consumed" in status.stdout and "at 8" in status.stdout
    best = run_hpo("best", str(path), cwd=tmp_path)
    assert best.returncode == 0
    number = json.loads(best.stdout)["number"]
    assert hpo.budget(study.trials[number])[1] == 8  # compared at the largest resource
    plot = run_hpo("plot", str(path), "--out", str(tmp_path / "plots"), cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "plots" / "curves.png").stat().st_size > 10_000


def test_max_resource_needs_a_scheduler(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: tpe
        objective: scheduler_objectives:segmented
        sampler: {name: tpe}
        budget: {trials: 2}
        """)
    out = run_hpo("sweep", str(path), "--no-progress", "--max-resource", "8", cwd=tmp_path)
    assert out.returncode == 2
    assert "--max-resource: sampler TPESampler has no maximum resource to raise" in out.stderr


def test_asha_on_ray_workers(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is in the 'ray' extra")
    path = sweep_file(tmp_path, """\
        name: ray-asha
        objective: scheduler_objectives:segmented
        sampler: {name: asha, min_resource: 1, max_resource: 9, seed: 0}
        budget: {trials: 8}
        workers: 2
        backend: ray
        """)
    out = run_hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    study = hpo.load_study(study_name="ray-asha",
                           storage=f"sqlite:///{tmp_path}/sweeps/ray-asha/study.db")
    assert len(study.trials) == 8
    _check_chains(study)
    assert {hpo.budget(t)[1] for t in study.trials} >= {1, 3}


def test_freeze_thaw_sweep_in_worker_processes_resumes_and_continues_checkpoints(
        tmp_path: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: ft
        objective: scheduler_objectives:segmented
        sampler:
          name: freeze_thaw
          min_resource: 1
          max_resource: 9
          searcher: {name: multifidelity, seed: 0, n_startup_trials: 4}
        budget: {trials: 14}
        workers: 2
        """)
    out = run_hpo("sweep", str(path), "--no-progress", "--trials", "8", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = run_hpo("sweep", str(path), "--no-progress", cwd=tmp_path)  # resumes to 14
    assert out.returncode == 0, out.stderr
    study = hpo.load_study(study_name="ft", storage=f"sqlite:///{tmp_path}/sweeps/ft/study.db")
    assert len(study.trials) == 14
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert any(hpo.budget(t)[0] > 0 for t in study.trials)  # the model continued some
    _check_chains(study)


def test_the_main_job_sweep_file_runs_ppo_under_freeze_thaw(tmp_path: Path) -> None:
    example = TESTS.parent / "examples" / "ppo_freeze_thaw.yaml"
    out = run_hpo("sweep", str(example), "--no-progress", "--trials", "3",
                  "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert '"params"' in out.stdout  # the best configuration, printed
    study = hpo.load_study(study_name="ppo-freeze-thaw",
                           storage=f"sqlite:///{tmp_path}/out/study.db")
    assert [hpo.budget(t) for t in study.trials] == [(0, 5000)] * 3
    assert all(len(t.intermediate_values) >= 1 for t in study.trials)
    plots = run_hpo("plot", "--study", "ppo-freeze-thaw", "--storage",
                    f"sqlite:///{tmp_path}/out/study.db", "--out", str(tmp_path / "plots"),
                    cwd=tmp_path)
    assert plots.returncode == 0, plots.stderr
    assert (tmp_path / "plots" / "curves.png").exists()
