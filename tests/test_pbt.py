"""Population Based Training on trial continuation."""

from __future__ import annotations

import itertools
import statistics
import tempfile
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState
from pbt_objectives import toy

import hpo
from hpo import _attrs, continuation
from hpo.samplers import PBT
from hpo.samplers._pbt._explore import perturb

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(sampler: optuna.samplers.BaseSampler, tmp: Path | None = None) -> hpo.Study:
    return hpo.create_study(direction="maximize", storage="sqlite:///:memory:", sampler=sampler,
                            artifact_dir=tmp or tempfile.mkdtemp())


def _chains(study: optuna.Study, pbt: PBT) -> None:
    """Every member trained [0, max) without gaps; each segment continued the checkpoint
    at its own start, its own member's or the copied one's."""
    for m in pbt.population(study):
        done = [t for t in m.segments if t.state == TrialState.COMPLETE]
        assert hpo.budget(done[0])[0] == 0
        for a, b in itertools.pairwise(done):
            assert hpo.budget(b)[0] == hpo.budget(a)[1]
            parent = study.trials[b.system_attrs[_attrs.PARENT]]
            assert hpo.budget(parent)[1] == hpo.budget(b)[0]
            if _attrs.EXPLOIT in b.system_attrs:
                assert parent.system_attrs[_attrs.MEMBER] == b.system_attrs[_attrs.EXPLOIT]
            else:
                assert parent.number == a.number and parent.params == b.params


def test_pbt_beats_its_own_population_without_exploit_on_the_toy_problem() -> None:
    pbt_best, fixed_best = [], []
    for seed in range(5):
        pbt = PBT(4, 4, 40, seed=seed)
        study = _study(pbt)
        study.optimize(toy, n_trials=200)  # ends by itself when every member reached 40
        assert len(study.trials) == 40  # 4 members x 10 segments: nobody skips training
        _chains(study, pbt)
        assert any(_attrs.EXPLOIT in t.system_attrs for t in study.trials)
        pbt_best.append(study.best_value)
        fixed = _study(optuna.samplers.RandomSampler(seed=seed))  # the same 4 initial members
        fixed.optimize(toy, n_trials=4)
        fixed_best.append(fixed.best_value)
    assert statistics.median(pbt_best) > statistics.median(fixed_best)
    assert statistics.median(pbt_best) > 1.19  # the optimum is 1.2


def test_members_are_compared_at_equal_resource() -> None:
    pbt = PBT(4, 4, 20, quantile_fraction=0.5, seed=0)
    study = _study(pbt)
    study.optimize(toy, n_trials=6)
    # members 0 and 1 are at 8, 2 and 3 at 4: member 2 is ranked among the members'
    # values at 4 (its own and those 0 and 1 had at 4), not against their values at 8
    study.optimize(toy, n_trials=1)
    t = study.trials[6]
    assert t.system_attrs[_attrs.MEMBER] == 2 and hpo.budget(t) == (4, 8)
    at4 = {tr.system_attrs[_attrs.MEMBER]: tr.value for tr in study.trials[:4]}
    worst_two = sorted(at4, key=at4.get)[:2]
    assert (_attrs.EXPLOIT in t.system_attrs) == (2 in worst_two)


def test_explore_stays_inside_the_distributions() -> None:
    space = {"lr": FloatDistribution(1e-5, 1e-1, log=True), "x": FloatDistribution(0, 1, step=0.1),
             "n": IntDistribution(1, 10), "act": CategoricalDistribution(["relu", "tanh"])}
    rng = np.random.default_rng(0)
    params = {"lr": 0.09, "x": 0.9, "n": 9, "act": "relu"}
    seen_acts = set()
    for _ in range(300):
        out = perturb(params, space, rng, resample_probability=0.25, factors=(1.2, 0.8))
        for name, dist in space.items():
            assert dist._contains(dist.to_internal_repr(out[name])), (name, out[name])
        assert isinstance(out["n"], int)
        seen_acts.add(out["act"])
        if out["lr"] not in (0.09, 0.09 * 0.8) and out["lr"] != 0.1:
            assert 1e-5 <= out["lr"] <= 0.1  # a resample
    assert seen_acts == {"relu", "tanh"}
    kept = perturb(params, space, rng, resample_probability=0.0, factors=(1.2, 0.8))
    assert kept["act"] == "relu" and kept["lr"] in (0.1, pytest.approx(0.072))  # clipped
    only = perturb(params, space, rng, resample_probability=1.0, factors=(2.0,), mutate=["n"])
    assert {k: only[k] for k in ("lr", "x", "act")} == {"lr": 0.09, "x": 0.9, "act": "relu"}


def test_a_custom_explore_function_and_its_errors() -> None:
    pbt = PBT(2, 4, 12, quantile_fraction=0.5, explore=lambda p: {"h0": 1.0}, seed=0)
    study = _study(pbt)
    study.optimize(toy, n_trials=100)
    exploits = [t for t in study.trials if _attrs.EXPLOIT in t.system_attrs]
    assert exploits and all(t.params["h0"] == 1.0 for t in exploits)

    bad = PBT(2, 4, 12, quantile_fraction=0.5, explore=lambda p: {"h0": 2.0}, seed=0)
    study = _study(bad)
    with pytest.raises(ValueError, match=r"PBT explore: parameter 'h0' = 2.0 is outside"):
        study.optimize(toy, n_trials=100)
    assert not study.get_trials(states=(TrialState.RUNNING,))


def test_categorical_without_resample_is_refused() -> None:
    @hpo.objective(direction="maximize")
    def f(act: str = hpo.choice(["a", "b"]), x: float = hpo.uniform(0, 1), *, trial=None):
        _, stop = hpo.budget(trial, max_resource=8)
        hpo.checkpoint(trial, {}, step=stop)
        return x + (act == "a")

    study = _study(PBT(2, 4, 8, quantile_fraction=0.5, resample_probability=0, seed=0))
    with pytest.raises(ValueError, match=r"resample_probability: categorical parameter\(s\) "
                                         r"\['act'\] change only by resampling"):
        study.optimize(f, n_trials=10)


def test_an_objective_that_does_not_checkpoint_is_refused_after_its_first_segment() -> None:
    @hpo.objective(direction="maximize")
    def forgetful(x: float = hpo.uniform(0, 1), *, trial=None) -> float:
        hpo.budget(trial, max_resource=100)
        return x

    study = _study(PBT(4, 10, 100, seed=0))
    with pytest.raises(ValueError, match=r"objective: trial 0 finished without hpo.checkpoint"):
        study.optimize(forgetful, n_trials=10)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL]


def test_a_member_that_fails_for_good_is_replaced_by_a_copy_of_a_top_member() -> None:
    def flaky(trial: optuna.Trial) -> float:
        if trial.number == 5:  # member 1's second segment
            raise RuntimeError("diverged")
        return toy(trial)

    pbt = PBT(4, 4, 16, seed=0)
    study = _study(pbt)
    study.optimize(flaky, n_trials=200, catch=(RuntimeError,))
    assert study.trials[5].state == TrialState.FAIL
    after = [t for t in study.trials[6:] if t.system_attrs[_attrs.MEMBER] == 1]
    assert _attrs.EXPLOIT in after[0].system_attrs  # copied, not restarted from zero
    assert hpo.budget(after[0])[0] == 4
    assert [m.stop for m in pbt.population(study)] == [16] * 4


def test_synchronous_generations_with_parallel_threads() -> None:
    pbt = PBT(4, 4, 16, synchronous=True, seed=0)
    # (threads share one connection of sqlite:///:memory:; Optuna's in-memory storage is
    # the thread-safe one)
    study = hpo.create_study(direction="maximize", storage=optuna.storages.InMemoryStorage(),
                             sampler=pbt, artifact_dir=tempfile.mkdtemp())
    study.optimize(toy, n_trials=100, n_jobs=2)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(done) == 16
    for t in done:  # nobody starts generation g+1 before everyone finished g
        start = hpo.budget(t)[0]
        before = [u for u in done if hpo.budget(u)[1] == start]
        assert all(u.datetime_complete <= t.datetime_start for u in before)


def test_superseded_checkpoints_are_removed(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(continuation, "SUPERSEDED_GRACE", 0.0)
    pbt = PBT(2, 4, 16, seed=0)
    study = _study(pbt, tmp_path / "ckpt")
    study.optimize(toy, n_trials=100)
    files = sorted(p.name for p in (tmp_path / "ckpt").rglob("*") if p.is_file())
    lasts = [m.last for m in pbt.population(study)]
    assert {t.system_attrs[_attrs.CHECKPOINT] for t in lasts} <= set(files)
    assert len(files) < len(study.trials)  # older segments' checkpoints are gone
    assert hpo.load_checkpoint(study, lasts[0].number)["steps"] == 16

    keep = PBT(2, 4, 16, seed=0, keep_checkpoints=True)
    study = _study(keep, tmp_path / "all")
    study.optimize(toy, n_trials=100)
    assert len([p for p in (tmp_path / "all").rglob("*") if p.is_file()]) == len(study.trials)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"population_size": 1}, "population_size: must be an int >= 2"),
    ({"quantile_fraction": 0.6}, r"quantile_fraction: must be in \(0, 0.5\]"),
    ({"quantile_fraction": 0}, r"quantile_fraction: must be in \(0, 0.5\]"),
    ({"perturbation_interval": 0}, "perturbation_interval: must be a positive"),
    ({"perturbation_interval": 200}, r"perturbation_interval \(200\) must not exceed"),
    ({"resample_probability": 1.5}, r"resample_probability: must be in \[0, 1\]"),
    ({"perturbation_factors": (1.2, -1)}, "perturbation_factors: must be positive"),
    ({"explore": 3}, "explore: must be a function"),
    ({"mutate": "lr"}, "mutate: must be a list of parameter names"),
])
def test_bad_arguments_name_the_parameter(kwargs: dict, match: str) -> None:
    args = {"population_size": 4, "perturbation_interval": 10, "max_resource": 100, **kwargs}
    with pytest.raises(ValueError, match=match):
        PBT(**args)


def test_a_finished_population_ends_the_runner(tmp_path: Path) -> None:
    pbt = PBT(2, 4, 8, seed=0)
    study = hpo.run(toy, storage=f"sqlite:///{tmp_path}/p.db", study_name="p", n_trials=50,
                    sampler=pbt, isolation="none", workers=3, progress=False)
    assert len(study.trials) == 4
    assert pbt.is_finished(study)



def test_the_pbt_page_runs_as_written(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import re

    from hpo.cli.sweepfile import load_sweep

    monkeypatch.chdir(tmp_path)
    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "pbt.md").read_text()
    scope: dict = {}
    for code in re.findall(r"```python\n(.*?)```", page, flags=re.S):
        exec(compile(code, "docs/pbt.md", "exec"), scope)
    assert [m.stop for m in scope["pbt"].population(scope["study"])] == [40] * 4
    exploits = [t for t in scope["study2"].trials if _attrs.EXPLOIT in t.system_attrs]
    assert exploits
    (block,) = re.findall(r"```yaml\n(.*?)```", page, flags=re.S)
    strip = lambda text: [line.split("#")[0].rstrip() for line in text.splitlines()  # noqa: E731
                          if line.split("#")[0].strip()]
    assert strip(block) == strip((root / "examples" / "ppo_pbt.yaml").read_text())
    assert isinstance(load_sweep(root / "examples" / "ppo_pbt.yaml").build_sampler(1), PBT)


def test_synchronous_pbt_never_waits_for_a_dead_member() -> None:
    def flaky(trial: optuna.Trial) -> float:
        if trial.number == 5:  # member 1's second segment dies for good (no retries here)
            raise RuntimeError("diverged")
        return toy(trial)

    pbt = PBT(4, 4, 16, synchronous=True, seed=0)
    study = _study(pbt)
    study.optimize(flaky, n_trials=200, catch=(RuntimeError,))
    assert [m.stop for m in pbt.population(study)] == [16] * 4
    assert study.trials[5].state == TrialState.FAIL


def test_plots_of_a_pbt_study(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from hpo.cli.plots import write_plots

    study = _study(PBT(4, 8, 40, seed=0))
    study.optimize(toy, n_trials=1000)
    names = {p.name for p in write_plots(study, tmp_path / "plots")}
    assert {"curves.png", "schedule.png", "lineage.png"} <= names
    assert (tmp_path / "plots" / "schedule.png").stat().st_size > 10_000


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_the_last_member_failing_for_good_copies_a_finished_one(tmp_path: Path,
                                                                 storage: str) -> None:
    # (found by the PBT benchmark: this used to hang, or restart the member from zero)
    @hpo.objective(direction="maximize")
    def f(x: float = hpo.uniform(0, 1), *, trial=None) -> float:
        state = hpo.resume(trial) or {"w": 0.0}
        start, stop = hpo.budget(trial, max_resource=12)
        if trial is not None and trial.number == 5:  # member 1's last segment, 8 -> 12
            raise RuntimeError("diverged")
        state["w"] += x * (stop - start)
        hpo.checkpoint(trial, state, step=stop)
        return state["w"]

    pbt = PBT(2, 4, 12, seed=0)
    url = optuna.storages.InMemoryStorage() if storage == "memory" else \
        f"sqlite:///{tmp_path}/s.db"
    study = hpo.create_study(direction="maximize", sampler=pbt, storage=url,
                             artifact_dir=tmp_path / "ckpt")
    study.optimize(f, n_trials=50, catch=(RuntimeError,))
    replaced = [t for t in study.trials[6:] if t.system_attrs[_attrs.MEMBER] == 1]
    assert len(replaced) == 1 and _attrs.EXPLOIT in replaced[0].system_attrs
    assert hpo.budget(replaced[0]) == (8, 12)  # copied at 8, not restarted from zero
    parent = study.trials[replaced[0].system_attrs[_attrs.PARENT]]
    # the state member 0 (finished) passed through at 8
    assert parent.number in {t.system_attrs.get(_attrs.PARENT) for t in study.trials
                             if t.system_attrs[_attrs.MEMBER] == 0}
    assert [m.stop for m in pbt.population(study)] == [12, 12]


def test_a_finished_member_is_ranked_for_the_last_interval() -> None:
    pbt = PBT(2, 4, 8, quantile_fraction=0.5, seed=0)
    study = _study(pbt)
    study.optimize(toy, n_trials=50)
    first = {t.system_attrs[_attrs.MEMBER]: t.value for t in study.trials[:2]}
    worse = min(first, key=first.get)
    last = [t for t in study.trials[2:] if t.system_attrs[_attrs.MEMBER] == worse]
    assert last[0].system_attrs.get(_attrs.EXPLOIT) == 1 - worse  # copies the better one
