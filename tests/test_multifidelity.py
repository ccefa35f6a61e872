"""Multi-fidelity GP: the learning-curve model, as a searcher, with pruners, freeze-thaw."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

import hpo
from hpo import _attrs, _segments
from hpo.samplers import (
    ASHA,
    IDHB,
    FreezeThaw,
    GPSampler,
    Hyperband,
    MultiFidelityGPSampler,
    SuccessiveHalving,
)
from hpo.samplers._multifidelity._data import ResourceScale, read_curves

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPACE = {"x": FloatDistribution(0, 1)}
DOCS = Path(__file__).resolve().parents[1] / "docs"


def _curve(x: float, r: float) -> float:
    """A loss that falls with the resource; its ranking at r=1 is not the final one."""
    return (x - 0.3) ** 2 + (0.5 + x) / (1.0 + r)


def _pruned_objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 0, 1)
    for step in range(1, 28):
        trial.report(_curve(x, step), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return _curve(x, 27)


@hpo.objective
def _segmented(x: float = hpo.uniform(0, 1), *, trial: optuna.Trial | None = None) -> float:
    start, stop = hpo.budget(trial, max_resource=27)
    for step in range(start, stop):
        if trial is not None:
            trial.report(_curve(x, step + 1), step + 1)
    return _curve(x, stop)


def _trial_for(study: optuna.Study) -> optuna.trial.FrozenTrial:
    trial = study.ask()
    return study._storage.get_trial(trial._trial_id)


# -- the data the model sees ---------------------------------------------------------------


def test_every_report_of_pruned_complete_and_running_trials_is_an_observation() -> None:
    study = optuna.create_study()
    study.add_trial(create_trial(params={"x": 0.2}, distributions=SPACE, value=0.5,
                                 intermediate_values={1: 0.9, 3: 0.7}))
    study.add_trial(create_trial(params={"x": 0.8}, distributions=SPACE,
                                 state=TrialState.PRUNED, intermediate_values={1: 1.2}))
    running = study.ask({"x": FloatDistribution(0, 1)})
    running.report(1.0, 1)
    study.add_trial(create_trial(params={"x": 0.5}, distributions=SPACE, value=0.4))  # no reports
    curves = read_curves(study, None, SPACE, target=9.0)
    points = sorted(curves.points.values(), key=len)
    assert {1.0: 1.0} in [{r: -v for r, v in p.items()} for p in points]  # running, negated
    assert {1: -0.9, 3: -0.5} in points  # the final value replaces the last report
    assert {9.0: -0.4} in points  # a plain complete trial: at the target resource
    assert {1: -1.2} in points
    assert [c for c, _ in curves.pending] == [running.number]


def test_nan_and_infinite_values_are_dropped_or_clipped_not_fatal() -> None:
    study = optuna.create_study()  # minimise: +inf is the bad direction
    study.add_trial(create_trial(params={"x": 0.2}, distributions=SPACE, value=0.5,
                                 intermediate_values={1: math.nan, 2: math.inf, 3: 0.6}))
    study.add_trial(create_trial(params={"x": 0.4}, distributions=SPACE, value=0.3,
                                 intermediate_values={1: -math.inf, 2: 0.35}))
    curves = read_curves(study, None, SPACE, target=None)
    p0, p1 = (curves.points[c] for c in sorted(curves.points))
    assert 1 not in p0 and p0[2] == -0.5  # NaN dropped; +inf loss -> the worst finite value
    assert 1 not in p1  # -inf loss (infinitely good) dropped
    assert all(math.isfinite(v) for p in curves.points.values() for v in p.values())


def test_a_failed_configuration_enters_with_the_worst_value() -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(params={"x": 0.2}, distributions=SPACE, value=0.5,
                                 intermediate_values={1: 0.1, 2: 0.3}))
    study.add_trial(create_trial(params={"x": 0.9}, distributions=SPACE, state=TrialState.FAIL))
    ids, s, y = read_curves(study, None, SPACE, None).table(ResourceScale(1, 1), 16)
    assert ids == [0, 0, 1] and y.tolist() == [0.1, 0.5, 0.1] and s[-1] == s[0]


def test_a_curve_of_thousands_of_reports_becomes_at_most_resolution_points() -> None:
    study = optuna.create_study()
    for i in range(3):
        study.add_trial(create_trial(params={"x": i / 3}, distributions=SPACE, value=0.1,
                                     intermediate_values={s: 1.0 / s for s in range(1, 2001)}))
    curves = read_curves(study, None, SPACE, target=2000.0)
    ids, s, y = curves.table(ResourceScale(1, 2000), resolution=16)
    assert len(ids) <= 3 * 16 and np.all(np.diff(s[:len(s) // 3]) > 0)
    assert s.max() == 1.0 and y[len(s) // 3 - 1] == -0.1  # the last point is kept as it is


def test_resources_that_go_backwards_and_mixed_trials_do_not_break_the_sampler() -> None:
    sampler = MultiFidelityGPSampler(seed=0, n_startup_trials=3, max_resource=10)
    study = optuna.create_study(sampler=sampler)
    rng = np.random.default_rng(0)
    for i in range(8):
        x = float(rng.random())
        steps = {10 - k: (x - 0.3) ** 2 + k / 10 for k in range(3)} if i % 2 else {}
        study.add_trial(create_trial(params={"x": x}, distributions=SPACE,
                                     value=(x - 0.3) ** 2, intermediate_values=steps))
    study.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2, n_trials=3)
    assert sampler.model(study, _trial_for(study), SPACE) is not None


def test_a_single_observed_resource_level_compares_at_that_level() -> None:
    sampler = MultiFidelityGPSampler(seed=0, n_startup_trials=4, max_resource=27)
    study = optuna.create_study(sampler=sampler)
    for x in (0.1, 0.35, 0.6, 0.9):  # everything pruned after the first step
        study.add_trial(create_trial(params={"x": x}, distributions=SPACE,
                                     state=TrialState.PRUNED,
                                     intermediate_values={1: _curve(x, 1)}))
    model = sampler.model(study, _trial_for(study), SPACE)
    assert model is not None and model.single_level
    assert model.level == pytest.approx(float(model.scale(1.0)))


# -- on its own, with Optuna's pruners ---------------------------------------------------------


def test_with_a_pruner_the_model_leaves_start_up_although_most_trials_are_pruned() -> None:
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    mf = optuna.create_study(sampler=MultiFidelityGPSampler(seed=0, n_startup_trials=8),
                             pruner=pruner)
    mf.optimize(_pruned_objective, n_trials=40)
    assert sum(t.state == TrialState.PRUNED for t in mf.trials) > 20
    gp_sampler = GPSampler(seed=0, n_startup_trials=8)
    gp = optuna.create_study(sampler=gp_sampler, pruner=pruner)
    gp.optimize(_pruned_objective, n_trials=40)
    # GPSampler counts only COMPLETE trials: most of its suggestions stay random
    mf_last = [t.params["x"] for t in mf.trials[-15:]]
    assert float(np.median(np.abs(np.array(mf_last) - 0.3))) < 0.1
    assert abs(mf.best_params["x"] - 0.3) < 0.05


def test_as_searcher_of_asha_it_sees_every_segment_and_finds_the_optimum() -> None:
    mf = MultiFidelityGPSampler(seed=0, n_startup_trials=6)
    sampler = ASHA(1, 27, searcher=mf, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_segmented, n_trials=60)
    assert sampler._view(study, study.trials[-1]) is study
    model = mf.model(study, _trial_for(study), SPACE)
    assert model is not None and model.scale.target == 27.0 and model.scale.r0 == 1.0
    assert len(model.configs) == len({t.system_attrs[_attrs.CONFIG] for t in study.trials
                                      if t.state == TrialState.COMPLETE})
    assert hpo.budget(study.best_trial)[1] == 27
    assert abs(study.best_params["x"] - 0.3) < 0.05


@pytest.mark.parametrize("make", [
    lambda mf: Hyperband(1, 9, searcher=mf, seed=0),
    lambda mf: SuccessiveHalving(1, 9, searcher=mf, seed=0),
    lambda mf: IDHB(1, 9, searcher=mf, seed=0),
])
def test_every_scheduler_takes_it_as_searcher(make) -> None:  # type: ignore[no-untyped-def]
    study = optuna.create_study(sampler=make(MultiFidelityGPSampler(seed=0, n_startup_trials=4)))
    study.optimize(_segmented, n_trials=30)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert max(hpo.budget(t)[1] for t in study.trials) == 9


def test_it_targets_the_deepened_maximum_resource() -> None:
    mf = MultiFidelityGPSampler(seed=0, n_startup_trials=4)
    sampler = IDHB(1, 9, searcher=mf, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_segmented, n_trials=20)
    sampler.deepen(study, 27)
    model = mf.model(study, _trial_for(study), SPACE)
    assert model is not None and model.scale.target == 27.0


# -- costs -------------------------------------------------------------------------------------


def _costly_study(cost: str) -> list[float]:
    """x < 0.5 and x > 0.5 are equally good (two optima), but x > 0.5 trains 20x slower."""
    sampler = MultiFidelityGPSampler(seed=0, n_startup_trials=8, max_resource=9,
                                     cost=cost)
    study = optuna.create_study(sampler=sampler)
    chosen = []
    for i in range(30):
        trial = study.ask({"x": FloatDistribution(0, 1)})
        x = trial.params["x"]
        loss = min((x - 0.2) ** 2, (x - 0.8) ** 2)
        for step in (1, 3, 9):
            trial.report(loss + 1.0 / step, step)
        seconds = 9 * (20.0 if x > 0.5 else 1.0)
        study._storage.set_trial_system_attr(trial._trial_id, _attrs.SECONDS, seconds)
        study.tell(trial, loss + 1.0 / 9)
        if i >= 8:
            chosen.append(x)
    return chosen


def test_time_cost_prefers_configurations_that_train_faster() -> None:
    cheap = sum(x < 0.5 for x in _costly_study(cost="time"))
    blind = sum(x < 0.5 for x in _costly_study(cost="resource"))
    assert cheap >= 18 and cheap > blind


# -- freeze-thaw -----------------------------------------------------------------------------


def test_freeze_thaw_continues_checkpoints_and_reaches_the_maximum(tmp_path: Path) -> None:
    @hpo.objective
    def train(x: float = hpo.uniform(0, 1), *, trial: optuna.Trial | None = None) -> float:
        state = hpo.resume(trial) or {"trained": 0}
        start, stop = hpo.budget(trial, max_resource=27)
        assert state["trained"] == start
        for step in range(start, stop):
            state["trained"] = step + 1
            if trial is not None:
                trial.report(_curve(x, step + 1), step + 1)
        hpo.checkpoint(trial, state, step=stop)
        return _curve(x, stop)

    sampler = FreezeThaw(1, 27, searcher=MultiFidelityGPSampler(seed=0, n_startup_trials=6))
    study = hpo.create_study(storage=f"sqlite:///{tmp_path / 's.db'}",
                             artifact_dir=str(tmp_path / "a"), sampler=sampler)
    study.optimize(train, n_trials=45)
    trials = study.trials
    continued = [t for t in trials if _attrs.PARENT in t.system_attrs]
    assert continued and all(hpo.budget(t)[0] > 0 for t in continued)
    assert hpo.budget(study.best_trial)[1] == 27
    assert abs(study.best_params["x"] - 0.3) < 0.1
    # it promoted the configurations it expects most of, not all of them
    reached = {t.system_attrs[_attrs.CONFIG] for t in trials if hpo.budget(t)[1] == 27}
    started = {t.system_attrs[_attrs.CONFIG] for t in trials}
    assert 0 < len(reached) < len(started) / 2


def test_freeze_thaw_runs_what_gains_most_per_resource_left() -> None:
    @hpo.objective
    def plain(x: float = hpo.uniform(0, 1), *, trial: optuna.Trial | None = None) -> float:
        start, stop = hpo.budget(trial, max_resource=27)  # no rank reversal this time
        for step in range(start, stop):
            if trial is not None:
                trial.report((x - 0.3) ** 2 + 1.0 / (step + 1), step + 1)
        return (x - 0.3) ** 2 + 1.0 / stop

    sampler = FreezeThaw(1, 27, searcher=MultiFidelityGPSampler(seed=0, n_startup_trials=6))
    study = optuna.create_study(sampler=sampler)
    study.optimize(plain, n_trials=12)
    trial = _trial_for(study)
    configs = sampler.configurations(study)
    decision = sampler._decide(study, trial, configs, len(sampler.levels(study)) - 1)
    model = sampler._mf.model(study, trial, SPACE)
    assert model is not None
    paused = sorted((c for c in configs["0/0"] if c.top == 0 and not c.busy),
                    key=lambda c: c.scores[0])
    best, worst = paused[0], paused[-1]
    X = torch.stack([model.configs[best.id], model.configs[worst.id]])
    mean = model.mean_at(X, 1.0)  # to maximise: the negated loss at R
    assert float(mean[0]) > float(mean[1])  # the better early curve predicts a better end
    levels = sampler.levels(study)
    every = [c for c in configs["0/0"] if 0 <= c.top < 3 and not c.busy]
    X = torch.stack([model.configs[c.id] for c in every])
    left = torch.tensor([27.0 - levels[c.top] for c in every], dtype=X.dtype)
    scores = model.acquisition(1.0)(X.to(model.gp.train_X)).cpu() - left.log()
    if hasattr(decision, "config"):  # a continuation: the best EI at R per resource left
        assert decision.config.id == every[int(torch.argmax(scores))].id
    else:  # a new configuration: its EI per resource beat every paused one's
        x = torch.as_tensor([sampler._chosen[trial._trial_id]["x"]], dtype=X.dtype)
        new = model.acquisition(1.0)(x.unsqueeze(0).to(model.gp.train_X)).cpu() - math.log(27)
        assert float(new[0]) >= float(scores.max())


# -- input checking, registry, Optuna's own sampler cases ------------------------------------


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_startup_trials": 0}, "n_startup_trials"),
    ({"resolution": 1}, "resolution"),
    ({"acquisition_resource": "final"}, "acquisition_resource must be one of"),
    ({"cost": "money"}, "cost must be one of"),
    ({"max_resource": -1}, "max_resource"),
    ({"min_resource": 9, "max_resource": 3}, "min_resource"),
    ({"device": "tpu"}, "device"),
])
def test_bad_arguments_name_the_parameter(kwargs, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        MultiFidelityGPSampler(**kwargs)


def test_freeze_thaw_needs_a_learning_curve_searcher() -> None:
    with pytest.raises(ValueError, match="expected a MultiFidelityGPSampler"):
        FreezeThaw(1, 9, searcher=optuna.samplers.TPESampler())  # type: ignore[arg-type]


def test_several_objectives_are_refused_with_a_reason() -> None:
    study = optuna.create_study(directions=["minimize", "minimize"],
                                sampler=MultiFidelityGPSampler(seed=0, n_startup_trials=1))
    with pytest.raises(ValueError, match="models one objective"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=1)


def test_sweep_files_name_them() -> None:
    from hpo._registry import SAMPLERS, build

    asha = build("sampler", "asha", {"min_resource": 1, "max_resource": 9,
                                     "searcher": {"name": "multifidelity", "seed": 0}}, SAMPLERS)
    assert isinstance(asha._searcher, MultiFidelityGPSampler)
    ft = build("sampler", "freeze_thaw", {"min_resource": 1, "max_resource": 9, "seed": 0},
               SAMPLERS)
    assert isinstance(ft, FreezeThaw)


def test_the_gp_runs_on_the_device_it_is_given() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    sampler = MultiFidelityGPSampler(seed=0, n_startup_trials=4, device=device)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_pruned_objective, n_trials=6)
    model = sampler.model(study, _trial_for(study), SPACE)
    assert model is not None and model.gp.train_X.device.type == device


def test_the_multifidelity_page_runs_as_written(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import re

    from hpo.cli.sweepfile import load_sweep

    monkeypatch.chdir(tmp_path)
    page = (DOCS / "multifidelity.md").read_text()
    scope: dict = {}
    for code in re.findall(r"```python\n(.*?)```", page, flags=re.S):
        exec(compile(code, "docs/multifidelity.md", "exec"), scope)
    assert hpo.budget(scope["study"].best_trial)[1] == 27
    # ASHA took one configuration to 27: compared where two or more are (issue 28)
    with_asha = scope["with_asha"]
    assert hpo.budget(with_asha.best_trial)[1] == _segments.compared_at(with_asha)
    assert abs(scope["pruned"].best_params["x"] - 0.3) < 0.1
    (block,) = re.findall(r"```yaml\n(.*?)```", page, flags=re.S)
    strip = lambda text: [line.split("#")[0].rstrip() for line in text.splitlines()  # noqa: E731
                          if line.split("#")[0].strip()]
    example = DOCS.parent / "examples" / "ppo_freeze_thaw.yaml"
    assert strip(block) == strip(example.read_text())
    sampler = load_sweep(example).build_sampler(1)
    assert isinstance(sampler, FreezeThaw) and isinstance(sampler._mf, MultiFidelityGPSampler)
