"""Issue 28: which trial is "the best", said with its metric, resource and configuration.

`hpo best` and `Study.best_trial` compare configurations at the largest resource that two
or more of them reached, show the best at every resource, never hide a continuation
that scored below its parent, name the value and the resource, number configurations
as `hpo status` does, and give PBT's best as a schedule. Real SQLite studies, the real
`hpo` command.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import optuna
import pytest
from cli_helpers import run_hpo

import hpo
from hpo import _attrs, _segments
from hpo.samplers import ASHA, PBT

optuna.logging.set_verbosity(optuna.logging.WARNING)


@hpo.objective(direction="maximize", metric="distance to 0.5", resource="updates")
def drift(lr: float = hpo.uniform(0.001, 0.01), *, trial: optuna.Trial | None = None) -> float:
    """The README's example in one parameter: w grows by lr per update, the score is
    -|w - 0.5|, so a good run overshoots (gets worse) when extended."""
    state = hpo.resume(trial) or {"w": 0.0}
    start, stop = hpo.budget(trial, max_resource=100)
    for _ in range(int(start), int(stop)):
        state["w"] += lr
    hpo.checkpoint(trial, state, step=stop)
    return -abs(state["w"] - 0.5)


def _extended(tmp_path: Path) -> tuple[hpo.Study, str, int, int]:
    url = f"sqlite:///{tmp_path}/d.db"
    study = hpo.create_study(direction="maximize", storage=url, study_name="d",
                             sampler=optuna.samplers.RandomSampler(seed=0),
                             artifact_store=str(tmp_path / "ckpt"))
    study.optimize(drift, n_trials=6)
    best = study.best_trial.number
    child = hpo.extend(study, best, stop=400)  # 4x the updates: far past 0.5
    study.optimize(drift, n_trials=1)
    return study, url, best, child


def test_an_extension_that_got_worse_does_not_become_the_best(tmp_path: Path) -> None:
    study, url, best, child = _extended(tmp_path)
    assert study.trials[child].value < study.trials[best].value  # it did get worse
    assert study.best_trial.number == best  # compared at 100, where 6 configurations are
    assert hpo.budget(study.best_trial)[1] == 100
    assert _segments.compared_at(study) == 100
    # the Python API was given the names by the objective
    attrs = study._storage.get_study_system_attrs(study._study_id)
    assert attrs[_attrs.METRIC] == "distance to 0.5" and attrs[_attrs.RESOURCE] == "updates"

    out = run_hpo("best", "--study", "d", "--storage", url, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)  # stdout stays JSON
    assert (row["number"], row["configuration"], row["resource"]) == (best, f"config {best}", 100)
    assert (row["metric"], row["resource_name"]) == ("distance to 0.5", "updates")
    text = out.stderr
    v = study.trials[best].value
    assert f"best: config {best} (trial {best}), distance to 0.5 " in text
    assert "at 100 updates" in text
    assert "compared at 100 updates: the largest resource that 2 or more configurations" in text
    # the table: every resource, with how many configurations reached it
    assert re.search(rf"^  100 +6 +config {best} \(trial {best}\) +", text, re.M), text
    assert re.search(rf"^  400 +1 +config {best} \(trial {child}\) +", text, re.M), text
    # and the continuation that scored below its parent is said, not hidden
    assert (f"warning: trial {child} continues trial {best} to 400 updates and scored "
            f"{study.trials[child].value:.6g}, below {v:.6g} at 100") in text


def test_a_single_configuration_is_its_furthest_trial(tmp_path: Path) -> None:
    study = hpo.create_study(direction="maximize", storage="sqlite:///:memory:",
                             artifact_store=str(tmp_path))
    study.optimize(drift, n_trials=1)
    child = hpo.extend(study, 0, stop=150)
    study.optimize(drift, n_trials=1)
    assert study.best_trial.number == child  # nothing else to compare it with


@hpo.objective(direction="minimize")
def loss(x: float = hpo.uniform(0, 1), *, trial: optuna.Trial | None = None) -> float:
    _start, stop = hpo.budget(trial, max_resource=9)
    return (x - 0.3) ** 2 + 1.0 / stop


def test_best_and_status_number_configurations_alike(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    study = hpo.create_study(storage=url, study_name="a", sampler=ASHA(1, 9, seed=0))
    study.optimize(loss, n_trials=20)
    best = study.best_trial
    config = best.system_attrs[_attrs.CONFIG]
    assert best.number != config  # a promotion: its configuration's first trial differs
    out = run_hpo("best", "--study", "a", "--storage", url, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["configuration"] == f"config {config}"
    status = run_hpo("status", "--study", "a", "--storage", url, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    line = next(ln for ln in status.stdout.splitlines() if ln.startswith("best "))
    assert line.startswith(f"best config {config} ")
    assert f"value {best.value:.6g} at resource 9 (trial {best.number})" in line  # no names
    assert re.search(rf"^config {config} +at 9", status.stdout, re.M)  # the same number


def test_names_come_from_the_objective_through_a_sweep(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(textwrap.dedent("""\
        name: named
        objective: test_best:drift
        sampler: {name: random, seed: 0}
        budget: {trials: 3}
        workers: 1
        """))
    out = run_hpo("sweep", "s.yaml", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    study = hpo.load_study(study_name="named",
                           storage=f"sqlite:///{tmp_path}/sweeps/named/study.db")
    attrs = study._storage.get_study_system_attrs(study._study_id)
    assert (attrs[_attrs.METRIC], attrs[_attrs.RESOURCE]) == ("distance to 0.5", "updates")
    status = run_hpo("status", "s.yaml", cwd=tmp_path)
    assert re.search(r"^best config \d+ +distance to 0\.5 -?[\d.e-]+ at 100 updates \(trial",
                     status.stdout, re.M), status.stdout
    best = run_hpo("best", "s.yaml", cwd=tmp_path)
    assert "distance to 0.5" in best.stderr and "at 100 updates" in best.stderr


X = hpo.uniform(0, 1)


def test_names_are_checked_before_anything_is_written(tmp_path: Path) -> None:
    def f(x: float = X) -> float:
        return x

    with pytest.raises(ValueError, match=r"hpo\.objective: metric must be a non-empty str"):
        hpo.objective(metric=3)(f)
    with pytest.raises(ValueError, match="metric must be 2 non-empty strings, one per dir"):
        hpo.objective(directions=["minimize", "maximize"], metric="loss")(f)
    with pytest.raises(ValueError, match=r"hpo\.objective: resource must be a non-empty str"):
        hpo.objective(resource="")(f)
    url = f"sqlite:///{tmp_path}/n.db"
    with pytest.raises(ValueError, match=r"metric: one non-empty name per objective \(2\)"):
        hpo.create_study(storage=url, study_name="n", directions=["minimize"] * 2,
                         metric="loss")
    with pytest.raises(ValueError, match=r"metric: one non-empty name per objective \(1\)"):
        hpo.create_study(storage=url, study_name="n", metric=5)
    with pytest.raises(ValueError, match="resource: a non-empty name"):
        hpo.create_study(storage=url, study_name="n", resource=5)
    assert optuna.get_all_study_names(url) == []
    study = hpo.create_study(storage=url, study_name="n", directions=["minimize"] * 2,
                             metric=["loss", "seconds"], resource="epochs")
    attrs = study._storage.get_study_system_attrs(study._study_id)
    assert (attrs[_attrs.METRIC], attrs[_attrs.RESOURCE]) == (["loss", "seconds"], "epochs")


def test_ppo_and_dpo_objectives_name_their_value_and_resource() -> None:
    ppo = pytest.importorskip("hpo.integrations.ppo")
    assert (ppo.ppo_cartpole.metric, ppo.ppo_cartpole.resource) == (
        ["mean training return"], "environment steps")
    evaluated = ppo.make_ppo_objective("CartPole-v1", metric="eval")
    assert evaluated.metric == ["mean evaluation return"]
    dpo = pytest.importorskip("hpo.integrations.dpo")
    assert (dpo.dpo_tiny.metric, dpo.dpo_tiny.resource) == (["held-out DPO loss"],
                                                            "optimisation steps")
    assert dpo.make_dpo_objective(metric="accuracy").metric == ["held-out preference accuracy"]


def test_pbt_best_is_the_schedule_that_produced_it(tmp_path: Path) -> None:
    from pbt_objectives import toy

    url = f"sqlite:///{tmp_path}/p.db"
    pbt = PBT(population_size=4, perturbation_interval=8, max_resource=40, seed=0)
    study = hpo.create_study(direction="maximize", sampler=pbt, storage=url, study_name="p",
                             artifact_store=str(tmp_path / "ckpt"))
    study.optimize(toy, n_trials=1000)
    best = study.best_trial
    plan = hpo.schedule(study, best)
    # contiguous from 0 to 40, one segment per trial of the lineage, the best's last
    assert [(s.start, s.stop) for s in plan] == [(i, i + 8) for i in range(0, 40, 8)]
    assert plan[-1].trial == best.number and plan[-1].params == best.params
    lineage = [best, *hpo.lineage(best, study)]
    assert [s.trial for s in plan] == [t.number for t in reversed(lineage)]
    for s in plan:
        assert s.params == study.trials[s.trial].params
        assert s.member == study.trials[s.trial].system_attrs[_attrs.MEMBER]
    # the population exploited; some best member's history goes through a copy
    exploited = [t for t in study.trials if _attrs.EXPLOIT in t.system_attrs]
    assert exploited
    copied = max(exploited, key=lambda t: t.value)
    through = hpo.schedule(study, copied)
    assert len({s.member for s in through}) > 1 and any(s.exploit is not None for s in through)

    out = run_hpo("best", "--study", "p", "--storage", url, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    assert [(s["start"], s["stop"], s["params"]) for s in row["schedule"]] == [
        (s.start, s.stop, s.params) for s in plan]
    text = out.stderr
    assert f"schedule of member {best.system_attrs[_attrs.MEMBER]} (trial {best.number})" in text
    assert re.search(r"^  0-\d+ +member \d+  trials? \d+", text, re.M), text
    assert re.match(r"  \d+-40 +member \d+  trials? ", text.splitlines()[-1]), text
    assert "(copied member " in text


def test_schedule_refuses_an_unknown_trial() -> None:
    study = hpo.create_study(storage="sqlite:///:memory:")
    with pytest.raises(ValueError, match=r"trial: study .* has no trial 3"):
        hpo.schedule(study, 3)
