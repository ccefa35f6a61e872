"""PBT in `hpo sweep` / `hpo worker`: real processes, checkpoints, SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import os
import signal
from pathlib import Path

import optuna
from cli_helpers import run_hpo, start_hpo, sweep_file, wait_for
from optuna.trial import TrialState

import hpo
from hpo import _attrs


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
    path = sweep_file(tmp_path, """\
        name: pbt
        objective: pbt_objectives:toy
        sampler: {name: pbt, population_size: 4, perturbation_interval: 4, max_resource: 16,
                  seed: 0}
        budget: {trials: 1000}
        workers: 2
        """)
    out = run_hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    study = hpo.load_study(study_name="pbt", storage=f"sqlite:///{tmp_path}/sweeps/pbt/study.db")
    assert len(study.trials) == 16  # the population finished: the sweep ended by itself
    _check_population(study, 4, 16)
    assert len({t.system_attrs[_attrs.WORKER] for t in study.trials}) == 2


def test_pbt_workers_on_postgresql_and_a_killed_worker(tmp_path: Path, postgres_url: str,
                                                       study_name: str) -> None:
    path = sweep_file(tmp_path, f"""\
        name: {study_name}
        objective: pbt_objectives:toy
        sampler: {{name: pbt, population_size: 4, perturbation_interval: 4, max_resource: 16,
                  seed: 0}}
        budget: {{trials: 1000}}
        storage: {postgres_url}
        heartbeat_interval: 0.5
        grace_period: 2
        """)
    victim, other = (start_hpo("worker", str(path), "--no-progress", cwd=tmp_path,
                               HPO_TEST_SEGMENT_SLEEP="1.5") for _ in range(2))
    try:
        def victim_mid_segment(trials: list) -> bool:  # a later segment of the victim's
            # a trial just created has no budget yet: its sampler writes it next
            return any(t.state == TrialState.RUNNING and _attrs.STOP in t.system_attrs
                       and hpo.budget(t)[0] > 0
                       and str(victim.pid) in t.system_attrs.get(_attrs.WORKER, "")
                       for t in trials)

        wait_for(postgres_url, study_name, victim_mid_segment, timeout=120)
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
        optuna.delete_study(study_name=study_name,
                            storage=hpo.storages.resolve_storage(postgres_url))


def test_ppo_under_pbt_changes_lr_and_entropy_on_resume(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: ppo-pbt
        objective: hpo.integrations.ppo:ppo_cartpole
        sampler: {name: pbt, population_size: 2, perturbation_interval: 2048,
                  max_resource: 6144, quantile_fraction: 0.5, resample_probability: 0.5,
                  mutate: [lr, ent_coef], seed: 0}
        budget: {trials: 100}
        isolation: none
        """)
    out = run_hpo("sweep", str(path), "--no-progress", cwd=tmp_path, timeout=400)
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


def test_a_stopped_pbt_sweep_resumes_its_population(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: again
        objective: pbt_objectives:toy
        sampler: {name: pbt, population_size: 4, perturbation_interval: 4, max_resource: 16,
                  seed: 0}
        budget: {trials: 6}
        isolation: none
        """)
    assert run_hpo("sweep", str(path), "--no-progress", cwd=tmp_path).returncode == 0
    url = f"sqlite:///{tmp_path}/sweeps/again/study.db"
    first = hpo.load_study(study_name="again", storage=url).trials
    assert len(first) == 6
    out = run_hpo("sweep", str(path), "--no-progress", "--trials", "100", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    study = hpo.load_study(study_name="again", storage=url)
    assert len(study.trials) == 16  # the same 4 members went on; nothing was redone
    assert [t.params for t in study.trials[:6]] == [t.params for t in first]
    _check_population(study, 4, 16)
