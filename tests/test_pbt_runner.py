"""PBT in `hpo sweep` / `hpo worker`: real processes, checkpoints, SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

import hpo
from hpo import _attrs

TESTS = Path(__file__).resolve().parent
HPO = str(Path(sys.executable).with_name("hpo"))


def _sweep(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(TESTS), **extra}


def _check_population(study: optuna.Study, n: int, top: int) -> None:
    """Every member reached ``top`` without a gap; each segment continued a committed
    checkpoint at its own start."""
    members: dict[int, list] = {}
    for t in study.trials:
        if t.state == TrialState.COMPLETE:
            members.setdefault(t.system_attrs[_attrs.MEMBER], []).append(t)
    assert sorted(members) == list(range(n))
    for segs in members.values():
        assert hpo.budget(segs[0])[0] == 0 and hpo.budget(segs[-1])[1] == top
        for a, b in itertools.pairwise(segs):
            assert hpo.budget(b)[0] == hpo.budget(a)[1]
            parent = study.trials[b.system_attrs[_attrs.PARENT]]
            # a COMPLETE segment, or the failed attempt of this one that a retry resumes
            assert parent.state == TrialState.COMPLETE or \
                b.system_attrs.get(_attrs.RETRY_OF) == parent.number
            assert parent.system_attrs[_attrs.CHECKPOINT_STEP] == hpo.budget(b)[0]


def test_pbt_sweep_with_fewer_workers_than_members(tmp_path: Path) -> None:
    path = _sweep(tmp_path, """\
        name: pbt
        objective: pbt_objectives:toy
        sampler: {name: pbt, population_size: 4, perturbation_interval: 4, max_resource: 16,
                  seed: 0}
        budget: {trials: 1000}
        workers: 2
        """)
    out = subprocess.run([HPO, "sweep", str(path), "--no-progress"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, env=_env())
    assert out.returncode == 0, out.stderr
    study = hpo.load_study(study_name="pbt", storage=f"sqlite:///{tmp_path}/sweeps/pbt/study.db")
    assert len(study.trials) == 16  # the population finished: the sweep ended by itself
    _check_population(study, 4, 16)
    assert len({t.system_attrs[_attrs.WORKER] for t in study.trials}) == 2


def test_pbt_workers_on_postgresql_and_a_killed_worker(tmp_path: Path, postgres_url: str,
                                                       study_name: str) -> None:
    path = _sweep(tmp_path, f"""\
        name: {study_name}
        objective: pbt_objectives:toy
        sampler: {{name: pbt, population_size: 4, perturbation_interval: 4, max_resource: 16,
                  seed: 0}}
        budget: {{trials: 1000}}
        storage: {postgres_url}
        heartbeat_interval: 0.5
        grace_period: 2
        """)
    env = _env(HPO_TEST_SEGMENT_SLEEP="1.5")
    victim = subprocess.Popen([HPO, "worker", str(path), "--no-progress"], cwd=tmp_path,
                              env=env, stderr=subprocess.DEVNULL, start_new_session=True)
    other = subprocess.Popen([HPO, "worker", str(path), "--no-progress"], cwd=tmp_path,
                             env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:  # kill one worker in the middle of a later segment
            assert time.monotonic() < deadline
            time.sleep(0.3)
            try:
                trials = hpo.load_study(study_name=study_name, storage=postgres_url).trials
            except ValueError:
                continue
            mine = [t for t in trials if t.state == TrialState.RUNNING
                    and str(victim.pid) in t.system_attrs.get(_attrs.WORKER, "")
                    and hpo.budget(t)[0] > 0]
            if mine:
                break
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(30)
        _, err = other.communicate(timeout=300)
        assert other.returncode == 0, err
        study = hpo.load_study(study_name=study_name, storage=postgres_url)
        _check_population(study, 4, 16)
        dead = [t for t in study.trials if t.state == TrialState.FAIL]
        assert len(dead) == 1 and str(victim.pid) in dead[0].system_attrs[_attrs.FAIL_REASON]
        retry = [t for t in study.trials if t.system_attrs.get(_attrs.RETRY_OF) == dead[0].number]
        assert len(retry) == 1 and retry[0].system_attrs[_attrs.MEMBER] == \
            dead[0].system_attrs[_attrs.MEMBER]
        assert hpo.budget(retry[0])[1] == hpo.budget(dead[0])[1]
        assert len(study.trials) == 17  # 16 segments and the one retried
    finally:
        for p in (victim, other):
            if p.poll() is None:
                p.kill()
        optuna.delete_study(study_name=study_name, storage=hpo.study.resolve_storage(postgres_url))


def test_ppo_under_pbt_changes_lr_and_entropy_on_resume(tmp_path: Path) -> None:
    path = _sweep(tmp_path, """\
        name: ppo-pbt
        objective: hpo.integrations.ppo:ppo_cartpole
        sampler: {name: pbt, population_size: 2, perturbation_interval: 2048,
                  max_resource: 6144, quantile_fraction: 0.5, resample_probability: 0.5,
                  mutate: [lr, ent_coef], seed: 0}
        budget: {trials: 100}
        isolation: none
        """)
    out = subprocess.run([HPO, "sweep", str(path), "--no-progress"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=400, env=_env())
    assert out.returncode == 0, out.stderr
    study = hpo.load_study(study_name="ppo-pbt",
                           storage=f"sqlite:///{tmp_path}/sweeps/ppo-pbt/study.db")
    _check_population(study, 2, 6144)
    exploits = [t for t in study.trials if _attrs.EXPLOIT in t.system_attrs]
    assert exploits
    for t in exploits:
        parent = study.trials[t.system_attrs[_attrs.PARENT]]
        changed = {k for k in t.params if t.params[k] != parent.params[k]}
        assert changed <= {"lr", "ent_coef"}
