"""Schedulers with promotion on trial continuation: SH, ASHA, Hyperband, IDHB, OneEpoch."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import hpo
from hpo import _attrs, _segments
from hpo.cli.sweepfile import load_sweep
from hpo.samplers import ASHA, IDHB, Hyperband, OneEpoch, SuccessiveHalving

optuna.logging.set_verbosity(optuna.logging.WARNING)
DOCS = Path(__file__).resolve().parents[1] / "docs"


def _loss(x: float, stop: float) -> float:
    return (x - 0.3) ** 2 + 1.0 / stop  # improves with the resource, same ranking


def _no_checkpoint(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 0, 1)
    _, stop = hpo.budget(trial, max_resource=1)
    return _loss(x, stop)


def _run_iteration(study: optuna.Study, sampler: IDHB, iteration: int = 0) -> None:
    """Run single trials until every bracket of ``iteration`` is finished."""
    top = len(sampler.levels(study)) - 1
    for _ in range(5000):
        mine = [b for b in sampler.brackets(study) if b["bracket"].startswith(f"{iteration}/")]
        if len(mine) == top + 1 and all(b["done"] for b in mine):
            return
        study.optimize(_no_checkpoint, n_trials=1)
    raise AssertionError("the iteration did not finish")


def _consumed(study: optuna.Study) -> float:
    return _segments.consumed(study.get_trials(deepcopy=False))


@pytest.mark.parametrize(("eta", "r", "first", "efficient", "naive"), [
    (2, 16.0, 372.0, 1128.0, 1500.0),
    (3, 16.0, 138.6667, 752.0, 890.6667),
])
def test_idhb_reproduces_the_reference_budget_totals(eta: int, r: float, first: float,
                                                     efficient: float, naive: float) -> None:
    # The reference notebooks count every evaluation at its full budget (no checkpoint).
    sampler = IDHB(min_resource=1.0, max_resource=r, reduction_factor=eta, seed=0)
    study = optuna.create_study(sampler=sampler)
    _run_iteration(study, sampler)
    assert _consumed(study) == pytest.approx(first, rel=1e-4)
    sampler.deepen(study, max_resource=eta * r)
    _run_iteration(study, sampler)
    assert _consumed(study) == pytest.approx(efficient, rel=1e-4)

    fresh = IDHB(min_resource=1.0, max_resource=eta * r, reduction_factor=eta, seed=0)
    again = optuna.create_study(sampler=fresh)
    _run_iteration(again, fresh)
    assert first + _consumed(again) == pytest.approx(naive, rel=1e-4)


@pytest.mark.parametrize("variant", ["preserving", "discarding"])
def test_idhb_conservative_variants_cost_between_efficient_and_naive(variant: str) -> None:
    sampler = IDHB(min_resource=1.0, max_resource=16.0, reduction_factor=2, variant=variant,
                   seed=0)
    study = optuna.create_study(sampler=sampler)
    _run_iteration(study, sampler)
    sampler.deepen(study, max_resource=32.0)
    _run_iteration(study, sampler)
    assert 1128.0 <= _consumed(study) < 1500.0  # reference: about 1150-1174


def test_idhb_efficient_keeps_every_earlier_promotion() -> None:
    sampler = IDHB(min_resource=1, max_resource=8, reduction_factor=2, seed=1)
    study = optuna.create_study(sampler=sampler)
    _run_iteration(study, sampler)
    before = {(c.id, r) for cs in sampler.configurations(study).values() for c in cs
              for r in c.scores}
    n_before = len(study.trials)
    sampler.deepen(study, max_resource=16)
    _run_iteration(study, sampler)
    # nothing evaluated before is evaluated again
    again = Counter((t.system_attrs[_attrs.CONFIG], t.system_attrs[_attrs.RUNG])
                    for t in study.trials[n_before:])
    rungs = sampler.levels(study)
    assert not [k for k in again if (k[0], k[1]) in before]
    assert max(again.values()) == 1
    assert rungs == [1, 2, 4, 8, 16]


def _stateful(trial: optuna.Trial) -> float:
    """Trains one unit per step from its parent's checkpoint; returns the loss at stop."""
    x = trial.suggest_float("x", 0, 1)
    state = hpo.resume(trial) or {"trained": 0, "x": x}
    assert state["x"] == x  # a promotion has its configuration's parameters
    start, stop = hpo.budget(trial, max_resource=1)
    assert state["trained"] == start  # continues where the parent stopped
    for step in range(int(start), int(stop)):
        state["trained"] = step + 1
        trial.report(_loss(x, step + 1), step)
    hpo.checkpoint(trial, state, step=stop)
    return _loss(x, stop)


def test_asha_promotes_from_checkpoints_and_counts_resource(tmp_path) -> None:
    sampler = ASHA(min_resource=1, max_resource=9, reduction_factor=3, seed=0)
    study = hpo.create_study(sampler=sampler, storage=f"sqlite:///{tmp_path / 's.db'}",
                             artifact_dir=tmp_path / "ckpt")
    study.optimize(_stateful, n_trials=20)
    trials = study.get_trials(deepcopy=False)
    assert all(t.state == TrialState.COMPLETE for t in trials)
    promoted = [t for t in trials if t.system_attrs[_attrs.CONFIG] != t.number]
    assert promoted
    for t in promoted:
        parent = study.trials[t.system_attrs[_attrs.PARENT]]
        assert parent.params == t.params
        assert hpo.budget(t)[0] == hpo.budget(parent)[1]  # (r_k, r_k+1)
    # a promotion costs only its increment
    assert _segments.consumed(trials) == sum(hpo.budget(t)[1] - hpo.budget(t)[0] for t in trials)
    assert sum(1 for t in trials if hpo.budget(t)[1] == 9) >= 1
    # the best trial is compared at the largest resource reached
    assert hpo.budget(_segments.best_trial(study))[1] == 9


def test_without_a_checkpoint_a_promotion_retrains_from_zero() -> None:
    study = optuna.create_study(sampler=ASHA(1, 9, seed=0))
    study.optimize(_no_checkpoint, n_trials=15)
    promoted = [t for t in study.trials if t.system_attrs[_attrs.CONFIG] != t.number]
    assert promoted
    assert all(hpo.budget(t)[0] == 0 and _attrs.PARENT not in t.system_attrs for t in promoted)


def test_asha_with_threads_never_runs_a_promotion_twice() -> None:
    study = optuna.create_study(sampler=ASHA(1, 27, seed=3))
    study.optimize(_no_checkpoint, n_trials=80, n_jobs=4)
    claims = Counter((t.system_attrs[_attrs.CONFIG], hpo.budget(t)[1]) for t in study.trials)
    assert max(claims.values()) == 1
    assert {hpo.budget(t)[1] for t in study.trials} == {1, 3, 9, 27}


def test_synchronous_successive_halving_waits_for_a_full_rung() -> None:
    sampler = SuccessiveHalving(1, 9, reduction_factor=3, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_no_checkpoint, n_trials=9)
    assert [hpo.budget(t)[1] for t in study.trials] == [1] * 9
    study.optimize(_no_checkpoint, n_trials=4)
    assert [hpo.budget(t)[1] for t in study.trials[9:]] == [3, 3, 3, 9]
    # the 3 promoted are the best 3 at rung 1
    best3 = sorted(study.trials[:9], key=lambda t: t.value)[:3]
    assert {t.params["x"] for t in best3} == {t.params["x"] for t in study.trials[9:12]}
    # a worker that would wait starts the next bracket
    pending = study.ask()
    assert hpo.budget(pending)[1] == 1 and pending.number == 13
    assert pending.study.trials[13].system_attrs[_attrs.BRACKET] == "1/0"


def test_hyperband_brackets_and_sizes() -> None:
    sampler = Hyperband(1, 9, reduction_factor=3, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_no_checkpoint, n_trials=9 + 3 + 1 + 5 + 1 + 3)
    brackets = {b["bracket"]: b for b in sampler.brackets(study)}
    assert brackets["0/0"]["results"] == [9, 3, 1]
    assert brackets["0/1"]["results"] == [5, 1]
    assert brackets["0/2"]["results"] == [3]
    assert all(b["done"] for b in brackets.values())


def test_async_hyperband_spreads_new_configurations_over_brackets() -> None:
    sampler = Hyperband(1, 9, reduction_factor=3, synchronous=False, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_no_checkpoint, n_trials=60)
    firsts = Counter(t.system_attrs[_attrs.BRACKET] for t in study.trials
                     if t.system_attrs[_attrs.CONFIG] == t.number)
    assert set(firsts) == {"0/0", "0/1", "0/2"}
    assert firsts["0/0"] > firsts["0/2"]


def test_one_epoch_continues_the_top_k() -> None:
    study = optuna.create_study(sampler=OneEpoch(max_resource=20, n_configs=8, k=2, seed=0))
    study.optimize(_no_checkpoint, n_trials=10)
    first = study.trials[:8]
    assert [hpo.budget(t)[1] for t in study.trials] == [1] * 8 + [20, 20]
    best = {t.params["x"] for t in sorted(first, key=lambda t: t.value)[:2]}
    assert {t.params["x"] for t in study.trials[8:]} == best


def test_maximize_promotes_the_largest_values() -> None:
    study = optuna.create_study(direction="maximize", sampler=SuccessiveHalving(1, 3, seed=0))
    study.optimize(lambda t: -_no_checkpoint(t), n_trials=4)
    best = max(study.trials[:3], key=lambda t: t.value)
    assert study.trials[3].params == best.params


def test_deepen_refuses_a_lower_or_irregular_maximum() -> None:
    sampler = IDHB(1, 9, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_no_checkpoint, n_trials=3)
    with pytest.raises(ValueError, match="max_resource: must exceed"):
        sampler.deepen(study, 9)
    with pytest.raises(ValueError, match=r"max_resource: 20 is not .* allowed: 27, 81"):
        sampler.deepen(study, 20)
    with pytest.raises(ValueError, match="OneEpoch cannot be deepened"):
        OneEpoch(10).deepen(study, 20)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"min_resource": 9, "max_resource": 9}, r"min_resource \(9\) must be below"),
    ({"min_resource": 1, "max_resource": 9, "reduction_factor": 1.5}, "reduction_factor: must"),
    ({"min_resource": 1, "max_resource": 2}, "max_resource: 2 leaves a single rung"),
    ({"min_resource": 0, "max_resource": 9}, "min_resource: must be a positive"),
    ({"min_resource": 1, "max_resource": "9"}, "max_resource: must be a positive"),
])
def test_bad_arguments_name_the_parameter(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ASHA(**kwargs)


def test_variant_and_searcher_are_checked() -> None:
    with pytest.raises(ValueError, match="variant: 'fast' is not one of"):
        IDHB(1, 9, variant="fast")
    with pytest.raises(ValueError, match="searcher: expected an optuna sampler"):
        ASHA(1, 9, searcher="tpe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k: must be below n_configs"):
        OneEpoch(10, n_configs=3, k=3)


def test_an_objective_that_trains_past_its_segment_is_refused() -> None:
    def ignores_budget(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        for step in range(9):
            trial.report(x, step)
        return x

    study = optuna.create_study(sampler=ASHA(1, 9, seed=0))
    study.optimize(ignores_budget, n_trials=1)
    with pytest.raises(ValueError, match=r"objective: trial 0 reported steps but never asked "
                                         r"hpo.budget"):
        study.optimize(ignores_budget, n_trials=1)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert "hpo.budget" in study.trials[1].system_attrs[_attrs.FAIL_REASON]


def test_a_study_scheduled_with_other_rungs_is_refused() -> None:
    study = optuna.create_study(sampler=ASHA(1, 9, seed=0))
    study.optimize(_no_checkpoint, n_trials=2)
    study.sampler = ASHA(2, 18)
    with pytest.raises(ValueError, match="was scheduled with min_resource=1"):
        study.optimize(_no_checkpoint, n_trials=1)
    assert not study.get_trials(states=(TrialState.RUNNING,))


def test_a_larger_max_resource_in_a_new_sampler_deepens_the_study() -> None:
    study = optuna.create_study(sampler=IDHB(1, 9, seed=0))
    study.optimize(_no_checkpoint, n_trials=5)
    study.sampler = IDHB(1, 27, seed=0)  # e.g. the sweep file's max_resource raised
    assert study.sampler.levels(study) == [1, 3, 9, 27]
    study.sampler = IDHB(1, 9, seed=0)  # a worker with the old file follows the study
    assert study.sampler.levels(study) == [1, 3, 9, 27]


def test_failed_segment_is_retried_and_a_dead_one_is_not_promoted() -> None:
    calls = {"n": 0}

    def flaky(trial: optuna.Trial) -> float:
        calls["n"] += 1
        x = trial.suggest_float("x", 0, 1)
        _, stop = hpo.budget(trial, max_resource=1)
        if trial.number == 0:
            raise RuntimeError("boom")
        return _loss(x, stop)

    sampler = SuccessiveHalving(1, 3, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(flaky, n_trials=4, catch=(RuntimeError,))
    # trial 0 failed for good (no retry): the rung of 3 is complete without it
    assert study.trials[0].state == TrialState.FAIL
    assert hpo.budget(study.trials[3])[1] == 3
    assert study.trials[3].params != study.trials[0].params


def test_searcher_sees_one_trial_per_configuration() -> None:
    seen: list[int] = []

    class Spy(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, name, dist):  # type: ignore[no-untyped-def]
            seen.append(len(study.get_trials(states=(TrialState.COMPLETE,))))
            return super().sample_independent(study, trial, name, dist)

    study = optuna.create_study(sampler=ASHA(1, 9, searcher=Spy(seed=0)))
    study.optimize(_no_checkpoint, n_trials=30)
    assert len(study.trials) == 30
    configs = {t.system_attrs[_attrs.CONFIG] for t in study.trials}
    assert len(seen) == len(configs)          # asked once per new configuration
    assert max(seen) < len(configs)           # never shown the promotions as extra points


def test_trials_at_the_top_rung_are_the_best_trial_candidates() -> None:
    study = hpo.create_study(sampler=ASHA(1, 9, seed=0), storage="sqlite:///:memory:")
    study.optimize(_no_checkpoint, n_trials=20)
    top = _segments.reached_trials(study)
    assert top and all(hpo.budget(t)[1] == 9 for t in top)
    assert _segments.best_trial(study).number == min(top, key=lambda t: t.value).number


def test_float_resource_rungs_are_exact() -> None:
    study = optuna.create_study(sampler=ASHA(0.5, 4.5, seed=0))
    study.optimize(_no_checkpoint, n_trials=12)
    stops = sorted({hpo.budget(t)[1] for t in study.trials})
    assert all(math.isclose(a, b) for a, b in zip(stops, [0.5, 1.5, 4.5], strict=False))


@pytest.mark.parametrize("make", [
    lambda: ASHA(1, 9, seed=0), lambda: SuccessiveHalving(1, 9, seed=0),
    lambda: Hyperband(1, 9, seed=0), lambda: IDHB(1, 9, seed=0),
    lambda: OneEpoch(9, n_configs=4, k=1, seed=0),
])
def test_a_second_sampler_on_the_same_storage_decides_the_same(make) -> None:  # type: ignore[no-untyped-def]
    # Decisions live in the study, not in the sampler object (other processes, restarts).
    storage = optuna.storages.InMemoryStorage()
    a = optuna.create_study(storage=storage, sampler=make(), study_name="s")
    a.optimize(_no_checkpoint, n_trials=10)
    b = optuna.load_study(storage=storage, study_name="s", sampler=make())
    nxt = a.trials[-1]
    top = len(a.sampler.levels(a)) - 1
    d_a = a.sampler._decide(a, nxt, a.sampler.configurations(a), top)
    d_b = b.sampler._decide(b, nxt, b.sampler.configurations(b), top)
    assert type(d_a) is type(d_b) and d_a.rung == d_b.rung
    assert getattr(d_a, "bracket", None) == getattr(d_b, "bracket", None)
    assert getattr(getattr(d_a, "config", None), "id", None) == \
        getattr(getattr(d_b, "config", None), "id", None)


def _blocks(path: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(), flags=re.S)


def test_the_schedulers_page_runs_as_written(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    page = DOCS / "schedulers.md"
    scope: dict = {}
    for code in _blocks(page, "python"):
        exec(compile(code, str(page), "exec"), scope)
    study, sampler = scope["study"], scope["sampler"]
    assert sampler.levels(study) == [1, 3, 9, 27]
    assert max(hpo.budget(t)[1] for t in study.trials) == 27
    # the sweep file on the page is the example's, and it is valid
    (yaml_block,) = _blocks(page, "yaml")
    example = (DOCS.parent / "examples" / "ppo_asha.yaml").read_text()
    strip = lambda text: [line.split("#")[0].rstrip() for line in text.splitlines()  # noqa: E731
                          if line.split("#")[0].strip()]
    assert strip(yaml_block) == strip(example)
    cfg = load_sweep(DOCS.parent / "examples" / "ppo_asha.yaml")
    assert isinstance(cfg.build_sampler(1), ASHA)


def test_optunas_stop_only_pruners_work_with_hpos_gp_sampler() -> None:
    from hpo.samplers import GPSampler

    def curve(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        for step in range(9):
            trial.report(_loss(x, step + 1), step)
            if trial.should_prune():
                raise optuna.TrialPruned
        return _loss(x, 9)

    study = hpo.create_study(storage="sqlite:///:memory:",
                             sampler=GPSampler(seed=0, n_startup_trials=5),
                             pruner=optuna.pruners.HyperbandPruner(1, 9, 3))
    study.optimize(curve, n_trials=20)
    states = Counter(t.state for t in study.trials)
    assert states[TrialState.PRUNED] > 0 and states[TrialState.COMPLETE] > 0
    assert study.best_value < 0.2


def test_a_segment_that_returns_no_value_fails_and_the_sweep_goes_on() -> None:
    @hpo.objective
    def sometimes_nothing(x: float = hpo.uniform(0, 1), *, trial=None):  # type: ignore[no-untyped-def]
        _, stop = hpo.budget(trial, max_resource=9)
        return None if x > 0.7 else _loss(x, stop)

    study = hpo.create_study(storage="sqlite:///:memory:", sampler=ASHA(1, 9, seed=0))
    study.optimize(sometimes_nothing, n_trials=30)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and all("None" in t.system_attrs[_attrs.FAIL_REASON] for t in failed)
    promoted = [t for t in study.trials if t.system_attrs[_attrs.CONFIG] != t.number]
    assert promoted and all(t.params["x"] <= 0.7 for t in promoted)  # failed ones stay
    assert max(hpo.budget(t)[1] for t in study.trials if t.state == TrialState.COMPLETE) >= 3


def test_hpo_studies_of_schedulers_prune_nothing_and_plain_optuna_is_warned(caplog) -> None:  # type: ignore[no-untyped-def]
    study = hpo.create_study(storage="sqlite:///:memory:", sampler=ASHA(1, 9, seed=0))
    assert isinstance(study.pruner, optuna.pruners.NopPruner)
    plain = optuna.create_study(sampler=ASHA(1, 9, seed=0))  # Optuna's MedianPruner
    with caplog.at_level("WARNING", logger="hpo.samplers"):
        plain.optimize(_no_checkpoint, n_trials=2)
    assert sum("pruner: MedianPruner also stops trials" in r.message
               for r in caplog.records) == 1
