"""CARBS (hpo.samplers.CARBS) against algorithms.md section 1: transforms, Pareto groups,
candidates, models, the schedule of random / resample / model suggestions, failures,
costs, the scaling read-off, the CLI and Optuna's own sampler cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState

import hpo
from hpo import _attrs
from hpo.samplers import CARBS
from hpo.samplers import carbs as carbs_mod
from hpo.samplers._carbs._candidates import (
    initial_overgenerate,
    normal_pdf,
    random_point,
    sample_around,
)
from hpo.samplers._carbs._models import (
    CostScaler,
    FittedGP,
    FixedGP,
    Surrogate,
    quantile_normal,
)
from hpo.samplers._carbs._pareto import group_observations, pareto_groups
from hpo.samplers._carbs._scaling import PowerLaw
from hpo.samplers._carbs._spaces import Transform

optuna.logging.set_verbosity(optuna.logging.WARNING)


# --------------------------------------------------------------------------- transforms


def test_log_linear_and_logit_transforms_match_section_1_1() -> None:
    log = Transform.build("lr", FloatDistribution(1e-5, 1e-1, log=True), scale=1.0)
    assert float(log.to_basic(1e-3)) == pytest.approx(-3.0)
    assert float(log.to_param(-2.0)) == pytest.approx(1e-2)
    assert log.center == pytest.approx(1e-3)  # middle of the range in basic space
    half = Transform.build("lr", FloatDistribution(1e-5, 1e-1, log=True), scale=0.5)
    assert float(half.to_basic(1e-3)) == pytest.approx(-6.0)
    logit = Transform.build("gamma", FloatDistribution(0.9, 0.9999), kind="logit", center=0.99)
    assert float(logit.to_basic(0.99)) == pytest.approx(math.log10(99))
    assert float(logit.to_param(math.log10(99))) == pytest.approx(0.99)
    lin = Transform.build("x", FloatDistribution(-1.0, 2.0), scale=2.0)
    assert float(lin.to_basic(1.0)) == 0.5 and float(lin.to_param(0.5)) == 1.0
    assert Transform.build("x", FloatDistribution(0.0, 3.0)).scale == pytest.approx(1.0)


def test_integers_round_on_their_grid_with_bounds_padded_by_a_tenth_of_a_step() -> None:
    t = Transform.build("n", IntDistribution(1, 8), scale=1.0)
    assert t.basic_bounds() == pytest.approx((0.9, 8.1))
    assert t.value(3.4) == 3 and t.value(3.6) == 4 and isinstance(t.value(3.6), int)
    assert float(t.round_basic(np.array([2.6]))[0]) == 3.0
    stepped = Transform.build("s", FloatDistribution(-10.2, 10.2, step=0.1), scale=1.0)
    assert stepped.value(0.04) == pytest.approx(0.0, abs=1e-9)
    assert stepped.basic_bounds() == pytest.approx((-10.21, 10.21))
    log_int = Transform.build("w", IntDistribution(16, 4096, log=True))
    assert log_int.value(float(log_int.to_basic(100.4))) == 100


def test_unbounded_parameters_need_a_scale_and_a_centre_and_name_the_parameter() -> None:
    open_high = FloatDistribution(1.0, hpo.space.UNBOUNDED, log=True)
    with pytest.raises(ValueError, match=r"'width'.*no scale"):
        Transform.build("width", open_high, center=10.0)
    with pytest.raises(ValueError, match=r"'width'.*search centre"):
        Transform.build("width", open_high, scale=1.0)
    t = Transform.build("width", open_high, scale=1.0, center=10.0)
    assert t.basic_bounds()[1] == math.inf and t.unbounded
    with pytest.raises(ValueError, match=r"'lr'.*outside its range"):
        Transform.build("lr", FloatDistribution(1e-5, 1e-1, log=True), center=0.5)
    with pytest.raises(ValueError, match=r"hpo.unbounded: scale must be > 0"):
        hpo.unbounded(10, scale=0, low=1)
    d = hpo.unbounded(256, low=16, log=True, integer=True, scale=0.5)
    assert isinstance(d, IntDistribution) and d.high == 10**18 and d.low == 16
    assert hpo.space.hints_of(d) == {"default": 256, "scale": 0.5}


def test_log_without_a_lower_bound_is_minus_infinity_in_basic_space() -> None:
    t = Transform.build("lr", hpo.unbounded(1e-3, log=True, scale=1.0), center=1e-3, scale=1.0)
    assert t.basic_bounds() == (-math.inf, math.inf)  # 1e-18 and 1e18 are no bounds


# --------------------------------------------------------------------------- Pareto groups


def _groups(outputs: list[list[float]], costs: list[float]):  # type: ignore[no-untyped-def]
    X, ys, cs = [], [], []
    for i, (outs, c) in enumerate(zip(outputs, costs, strict=True)):
        for o in outs:
            X.append([float(i)])
            ys.append(o)
            cs.append(c)
    return group_observations(np.array(X), np.array(ys), np.array(cs))


def test_grouping_merges_isclose_points_with_mean_output_and_cost() -> None:
    X = np.array([[1.0, 2.0], [1.0 + 1e-9, 2.0], [1.5, 2.0]])
    groups = group_observations(X, np.array([1.0, 3.0, 5.0]), np.array([1.0, 3.0, 2.0]))
    assert [g.indices for g in groups] == [[0, 1], [2]]
    assert groups[0].output == 2.0 and groups[0].cost == 2.0


def test_pareto_groups_low_cost_bucket_and_strict_improvement() -> None:
    # outputs to maximise; frac 0.2 -> np.quantile([1, 1.5, 3, 4, 5], 0.2) = 1.4
    groups = _groups([[1.0], [2.0], [1.5], [2.0], [3.0]], [1.0, 1.5, 3.0, 4.0, 5.0])
    front = pareto_groups(groups, 0.2, 1, conservative=False)
    assert [g.indices for g in front] == [[0], [1], [4]]  # bucket {cost 1}; 2.0 joins,
    # 1.5 < 2 drops, 2.0 is not strictly better, 3.0 joins
    wide = pareto_groups(groups, 0.3, 1, conservative=False)  # quantile 1.6: bucket {1, 1.5}
    assert [g.indices for g in wide] == [[1], [4]]
    minimise = pareto_groups(groups, 0.0, -1, conservative=False)
    assert [g.indices for g in minimise] == [[0]]  # nothing dearer is lower than 1.0


def test_conservative_groups_prefer_repeats_and_need_a_single_to_beat_the_max() -> None:
    # group 0: repeated (outputs 1 and 3, mean 2), cheap; group 1 single, cheap, output 2.5;
    # group 2 single 2.9 (beats mean 2 but not max 3); group 3 single 3.5
    groups = _groups([[1.0, 3.0], [2.5], [2.9], [3.5]], [1.0, 1.0, 5.0, 6.0])
    plain = pareto_groups(groups, 0.5, 1, conservative=False)
    cons = pareto_groups(groups, 0.5, 1, conservative=True)
    assert [len(g) for g in plain][:1] == [1] and plain[0].output == 2.5
    assert cons[0].output == 2.0 and len(cons[0]) == 2  # the repeated group starts the front
    assert [g.outputs for g in cons] == [[1.0, 3.0], [3.5]]  # 2.9 < max 3 of the repeat
    assert [g.outputs for g in plain] == [[2.5], [2.9], [3.5]]


def test_equal_costs_give_one_group_on_the_front() -> None:
    groups = _groups([[1.0], [2.0], [0.5]], [2.0, 2.0, 2.0])
    front = pareto_groups(groups, 0.2, 1)
    assert len(front) == 1 and front[0].output == 2.0


# --------------------------------------------------------------------------- candidates


def test_prior_density_is_a_1d_normal_at_the_euclidean_distance() -> None:
    assert normal_pdf(np.array([0.0]), 0.3)[0] == pytest.approx(1 / (0.3 * math.sqrt(2 * math.pi)))
    rng = np.random.default_rng(0)
    origins = np.array([[0.0, 0.0], [5.0, 5.0]])
    x, prob = sample_around(origins, 0.3, 200, rng, np.full(2, -np.inf), np.full(2, np.inf))
    d = np.linalg.norm(x[:, None] - origins[None], axis=-1).min(1)
    assert np.allclose(prob, normal_pdf(d, 0.3))
    assert len(x) == 200 and 0.3 < np.mean(np.linalg.norm(x - origins[0], axis=1) < 1) < 0.7


def test_candidates_respect_strict_bounds_and_overgenerate_by_finite_dims() -> None:
    assert initial_overgenerate(np.array([0.0, -np.inf, 0.0]), np.array([1.0, np.inf, 1.0])) == 2
    assert initial_overgenerate(np.full(4, -1.0), np.full(4, 1.0)) == 4
    rng = np.random.default_rng(1)
    lo, hi = np.array([0.0, 0.0]), np.array([0.1, 1.0])  # a tight box around the corner
    x, _ = sample_around(np.zeros((1, 2)), 0.3, 50, rng, lo, hi)
    assert len(x) > 0 and ((x > lo) & (x < hi)).all()
    assert random_point(np.zeros((1, 1)), 0.3, rng, np.array([5.0]), np.array([6.0])) is None


def test_categorical_columns_keep_the_origin_choice_unless_mutated() -> None:
    rng = np.random.default_rng(0)
    origins = np.array([[0.0, 2.0, 0.0], [5.0, 0.0, 1.0]])  # one numeric, choices (3, 2)
    x, prob = sample_around(origins, 0.3, 4000, rng, np.full(1, -np.inf), np.full(1, np.inf),
                            choices=(3, 2), mutation=0.2)
    near = x[:, 0] > 2.5  # drawn around the second origin
    own = origins[near.astype(int)]
    changed = x[:, 1:] != own[:, 1:]
    assert changed.mean(0) == pytest.approx([0.2, 0.2], abs=0.03)
    assert set(np.unique(x[:, 1])) == {0.0, 1.0, 2.0} and set(np.unique(x[:, 2])) == {0.0, 1.0}
    # the prior: the normal density at the numeric distance, times 0.2 / (2 * 0.8) per
    # changed 3-way choice and 0.2 / 0.8 per changed 2-way choice
    ratio = np.where(changed[:, 0], 0.2 / 1.6, 1.0) * np.where(changed[:, 1], 0.25, 1.0)
    expect = normal_pdf(np.abs(x[:, 0] - own[:, 0]), 0.3) * ratio
    assert np.allclose(prob, expect)
    x0, _ = sample_around(origins, 0.3, 50, rng, np.full(1, -np.inf), np.full(1, np.inf),
                          choices=(3, 2), mutation=0.0)
    assert {tuple(r) for r in x0[:, 1:]} <= {(2.0, 0.0), (0.0, 1.0)}


def test_a_few_valued_integer_moves_off_its_centre() -> None:
    # CARBS's own default (scale 1) leaves a 4-valued integer at its centre: one search
    # radius is 0.3 of a step, which rounds back; hpo's default scale is step / radius
    t = Transform.build("layers", IntDistribution(0, 3))
    assert t.scale == pytest.approx(1 / 0.3)
    assert Transform.build("x", IntDistribution(0, 300)).scale == pytest.approx(100)

    def objective(trial: optuna.Trial) -> float:
        layers = trial.suggest_int("layers", 0, 3)
        trial.set_user_attr("cost", 1.0 + layers)
        return -abs(layers - 3) + 0.1 * trial.suggest_float("x", 0.0, 1.0)

    study = optuna.create_study(direction="maximize", sampler=CARBS(seed=0))
    study.optimize(objective, n_trials=25)
    seen = {t.params["layers"] for t in study.trials}
    assert len(seen) >= 3 and 3 in seen


def test_categoricals_are_searched_around_the_front_and_centres_are_checked() -> None:
    def objective(trial: optuna.Trial) -> float:
        act = trial.suggest_categorical("act", ["relu", "tanh", "gelu", "silu"])
        opt = trial.suggest_categorical("opt", ["sgd", "adam"])
        x = trial.suggest_float("x", 0.0, 3.0)
        trial.set_user_attr("cost", 1.0 + x)
        return (act == "gelu") + (opt == "adam") + 0.1 * x

    study = optuna.create_study(direction="maximize",
                                sampler=CARBS(seed=0, search_center={"act": "relu"}))
    study.optimize(objective, n_trials=40)
    model = [t for t in study.trials if t.system_attrs.get(_attrs.CARBS_KIND) == "model"]
    last = model[-15:]
    # the model phase keeps what works: most late suggestions hold both good choices
    assert sum(t.params["act"] == "gelu" and t.params["opt"] == "adam" for t in last) >= 10
    assert study.best_value > 2.0
    with pytest.raises(ValueError, match=r"'act': search centre 'elu' is not one of its "
                                         r"choices \['relu', 'tanh'\]"):
        bad = optuna.create_study(sampler=CARBS(seed=0, search_center={"act": "elu"}))
        bad.optimize(lambda t: float(t.suggest_categorical("act", ["relu", "tanh"]) == "relu"),
                     n_trials=3)
    with pytest.raises(ValueError, match=r"categorical_mutation must be in \[0, 1\)"):
        CARBS(categorical_mutation=1.0)


def test_model_suggestions_never_repeat_a_tried_configuration() -> None:
    """On a small integer grid rounding collapses many candidates onto their origin; a model
    suggestion is still always new (repeats come from resampling only). Without the
    exclusion, ``clamp_pareto_value=False`` re-ran the front: 10 distinct configurations
    in 100 trials on HPOLib-naval."""
    def objective(trial: optuna.Trial) -> float:
        a, b = trial.suggest_int("a", 1, 6), trial.suggest_int("b", 1, 6)
        trial.set_user_attr("cost", float(a * b))
        return -1.0 / (a * b) + 0.05 * (a - b) ** 2

    for clamp in (True, False):
        study = optuna.create_study(sampler=CARBS(seed=0, clamp_pareto_value=clamp))
        study.optimize(objective, n_trials=30)
        seen: set[tuple[int, int]] = set()
        for t in study.trials:
            key = (t.params["a"], t.params["b"])
            if t.system_attrs.get(_attrs.CARBS_KIND) == "model":
                assert key not in seen, (clamp, t.number, key)
            seen.add(key)
        kinds = [t.system_attrs.get(_attrs.CARBS_KIND) for t in study.trials]
        assert kinds.count("model") >= 10, kinds


# --------------------------------------------------------------------------- models


def test_quantile_transform_matches_scikit_learn_and_saturates_at_n_4() -> None:
    z = quantile_normal(np.array([3.0, 1.0, 2.0, 4.0]))
    assert z.round(4).tolist() == [0.4307, -5.1993, -0.4307, 5.1993]
    sk = pytest.importorskip("sklearn.preprocessing")
    y = np.random.default_rng(0).normal(size=30) ** 3
    ref = sk.QuantileTransformer(output_distribution="normal", n_quantiles=5).fit_transform(
        y[:, None])[:, 0]
    assert np.allclose(quantile_normal(y), ref)


def test_cost_scaler_maps_log_cost_to_minus_one_one() -> None:
    s = CostScaler.fit(np.array([1.0, 10.0, 100.0]))
    assert s.transform_log(np.log([1.0, 10.0, 100.0])).tolist() == pytest.approx([-1, 0, 1])
    assert CostScaler.fit(np.array([3.0, 3.0])).transform_log(np.log([3.0]))[0] == -1.0


def test_failures_feed_only_the_success_model_and_lower_its_probability() -> None:
    X = np.array([[0.0], [0.3], [0.6], [0.9]])
    X_fail = np.array([[2.0], [2.1], [2.2]])
    m = Surrogate(X, np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 4.0]), X_fail,
                  [0, 1, 2, 3], sign=1, radius=0.3)
    assert m.output.X.shape == (4, 1) and m.cost.X.shape == (4, 1)
    assert m.success is not None and m.success.X.shape == (7, 1)
    obs = m.observe(np.array([[0.5], [2.1]]))
    assert obs.p_success[0] > 0.9 > 0.2 > obs.p_success[1]


def test_fitted_hyperparameters_learn_a_lengthscale_the_fixed_model_lacks() -> None:
    # sin over 8 basic units sampled every 0.8: the reference's lengthscale (the radius,
    # 0.3) reverts to the mean between the points; a fitted one interpolates
    X = np.arange(0.0, 8.01, 0.8)[:, None]
    y = np.sin(X[:, 0])
    Xt = X[:-1] + 0.4
    fixed = FixedGP(X, y, lengthscale=0.3, trend=False)
    fitted = FittedGP(X, y, np.array([-0.3]), np.array([8.3]))
    err = {name: np.abs(m.mean_var(Xt)[0] - np.sin(Xt[:, 0])).max()
           for name, m in (("fixed", fixed), ("fitted", fitted))}
    assert err["fitted"] < 0.05 < 0.2 < err["fixed"]
    assert float(fitted.gp.hyper.lengthscale.min()) * 8.6 > 1.0  # in basic units
    more = fitted.with_data(np.array([[9.0]]), np.array([0.41]))  # fantasies: not refitted
    assert more.gp.hyper is fitted.gp.hyper and more.X.shape == (12, 1)
    m = Surrogate(X, y, np.exp(X[:, 0]), np.zeros((0, 1)), [0, 1], sign=1, radius=0.3,
                  unit_bounds=(np.array([-0.3]), np.array([6.3])))
    assert isinstance(m.output, FittedGP) and isinstance(m.cost, FittedGP)


# --------------------------------------------------------------------------- the sampler


def _front_problem(trial: optuna.Trial) -> float:
    width = trial.suggest_int("width", 4, 4096, log=True)
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    trial.set_user_attr("cost", float(width))
    return 1.0 / math.sqrt(width) + (math.log10(lr) + 2.0) ** 2  # front: lr = 1e-2


def _kinds(study: optuna.Study) -> list[str | None]:
    return [t.system_attrs.get(_attrs.CARBS_KIND) for t in study.trials]


def test_random_phase_then_resample_at_6_11_successes_then_model() -> None:
    study = optuna.create_study(sampler=CARBS(seed=0))
    study.optimize(_front_problem, n_trials=13)
    kinds = _kinds(study)
    assert kinds[0] is None  # trial 0: no relative space yet, drawn around the centre
    assert kinds[1:4] == ["random"] * 3 and kinds[4] == kinds[5] == "model"
    assert kinds[6] == "resample" and kinds[11] == "resample"  # > 5 and > 10 successes
    assert kinds.count("resample") == 2
    resampled = study.trials[6].params
    assert any(t.params == resampled for t in study.trials[:6])


@pytest.mark.parametrize("fit", [False, True])
def test_end_to_end_recovers_the_known_front_of_a_synthetic_problem(fit: bool) -> None:
    study = optuna.create_study(sampler=CARBS(seed=0, fit_hyperparameters=fit))
    study.optimize(_front_problem, n_trials=60)
    assert "fallback" not in _kinds(study) and _kinds(study).count("model") > 40
    front = carbs_mod.cost_front(study)
    costs = np.array([r["cost"] for r in front])
    assert costs.max() / costs.min() > 30  # the front spans well over a decade of cost
    lrs = np.array([r["params"]["lr"] for r in front])
    assert np.median(np.abs(np.log10(lrs) + 2)) < 0.25  # optimal lr found along it
    gap = [r["value"] - 1 / math.sqrt(r["params"]["width"]) for r in front]
    assert np.median(gap) < 0.05
    law = carbs_mod.scaling_laws(study)["width"]
    assert law.exponent == pytest.approx(1.0) and law.n == len(front)


def test_same_seed_same_suggestions_and_pending_trials_are_fantasised() -> None:
    def run() -> list[dict]:
        study = optuna.create_study(sampler=CARBS(seed=3))
        study.optimize(_front_problem, n_trials=15)
        return [t.params for t in study.trials]

    assert run() == run()
    study = optuna.create_study(sampler=CARBS(seed=3, resample_frequency=0))
    study.optimize(_front_problem, n_trials=10)
    a, b = study.ask(), study.ask()  # a is still running when b is suggested
    pa = {"width": a.suggest_int("width", 4, 4096, log=True),
          "lr": a.suggest_float("lr", 1e-4, 1.0, log=True)}
    pb = {"width": b.suggest_int("width", 4, 4096, log=True),
          "lr": b.suggest_float("lr", 1e-4, 1.0, log=True)}
    assert pa != pb and _kinds(study)[-2:] == ["model", "model"]


def test_failed_trials_stay_out_of_the_output_model_and_their_region_is_avoided() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 3.0)
        trial.set_user_attr("cost", 1.0 + x)
        if x > 1.8:
            raise RuntimeError("diverged")
        return -((x - 1.5) ** 2) - 1.0 / (1.0 + x)

    sampler = CARBS(seed=0, search_center={"x": 1.6})
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=30, catch=(RuntimeError,))
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed
    space = sampler.infer_relative_search_space(study, study.trials[-1])
    transforms = [sampler.transform(study, n, d) for n, d in space.items()]
    obs = sampler._data(study, study.ask(), transforms)
    assert len(obs.y) == len(study.get_trials(states=(TrialState.COMPLETE,)))
    assert len(obs.failed) == len(failed) and (obs.X[:, 0] * transforms[0].scale <= 1.8).all()
    model = [t for t in study.trials if t.system_attrs.get(_attrs.CARBS_KIND) == "model"]
    assert sum(t.state == TrialState.FAIL for t in model) <= len(model) // 3


def test_a_study_whose_every_trial_failed_still_gets_a_suggestion() -> None:
    study = optuna.create_study(sampler=CARBS(seed=0))

    def crash(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        raise RuntimeError("boom")

    study.optimize(crash, n_trials=5, catch=(RuntimeError,))
    trial = study.ask()
    assert 0.0 <= trial.suggest_float("x", 0.0, 1.0) <= 1.0


def test_bad_costs_raise_errors_naming_the_trial_and_the_attribute() -> None:
    for bad, match in ((-1.0, "positive finite"), (float("nan"), "positive finite")):
        study = optuna.create_study(sampler=CARBS(seed=0))
        study.optimize(lambda t, bad=bad: (t.set_user_attr("cost", bad),
                                           t.suggest_float("x", 0, 1))[1], n_trials=1)
        with pytest.raises(ValueError, match=f"trial 0: cost.*'cost'.*{match}"):
            study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    study = optuna.create_study(sampler=CARBS(seed=0, cost="gpu_hours"))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    with pytest.raises(ValueError, match="trial 0 has no user attr 'gpu_hours'"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    # without a user attr, "auto" is the wall time
    study = optuna.create_study(sampler=CARBS(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=6)
    assert all(r["cost"] > 0 for r in carbs_mod.cost_front(study))


@pytest.mark.parametrize("fit", [False, True])
def test_unbounded_parameters_through_a_decorated_objective_and_the_read_off(fit: bool
                                                                            ) -> None:
    @hpo.objective
    def train(width: int = hpo.unbounded(32, low=4, log=True, integer=True, scale=1.0),
              lr: float = hpo.unbounded(1e-3, log=True, scale=1.0),
              trial: optuna.Trial | None = None) -> float:
        assert trial is not None
        trial.set_user_attr("cost", width / 4)
        lr_opt = 1e-2 * (width / 32) ** -0.5
        return 1 / math.sqrt(width) + (math.log10(lr / lr_opt)) ** 2

    study = hpo.create_study(sampler=CARBS(seed=0, fit_hyperparameters=fit))
    study.optimize(train, n_trials=50)
    assert "fallback" not in _kinds(study)
    assert hpo.space.study_hints(study)["width"] == {"default": 32, "scale": 1.0}
    assert study.trials[0].params["width"] < 400  # started near the centre
    assert study.trials[0].distributions["width"].high == 10**18  # plain Optuna distribution
    out = carbs_mod.extrapolate(study, 1e4)
    assert set(out["params"]) == {"width", "lr"}
    low, high = out["intervals"]["lr"]
    assert low < out["params"]["lr"] < high
    law = carbs_mod.scaling_laws(study)["lr"]
    assert -1.0 < law.exponent < 0.0 and law.exponent_stderr > 0  # true: -0.5


def test_power_law_fit_and_prediction_interval() -> None:
    c = np.array([1.0, 10.0, 100.0, 1000.0, 1e4])
    law = PowerLaw.fit("lr", c, 0.1 * c ** -0.3)
    assert law.exponent == pytest.approx(-0.3) and law.coefficient == pytest.approx(0.1)
    assert law.predict(1e6)[0] == pytest.approx(0.1 * 1e6 ** -0.3)
    with pytest.raises(ValueError, match=r"'lr'.*>= 3 points"):
        PowerLaw.fit("lr", c[:2], c[:2])
    with pytest.raises(ValueError, match=r"'x'.*positive"):
        PowerLaw.fit("x", c, -c)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="num_random_samples"):
        CARBS(num_random_samples=0)
    with pytest.raises(ValueError, match="fantasies"):
        CARBS(fantasies="constant")
    with pytest.raises(ValueError, match="min_pareto_cost_fraction"):
        CARBS(min_pareto_cost_fraction=-0.1)


def test_max_suggestion_cost_keeps_model_suggestions_cheap() -> None:
    study = optuna.create_study(sampler=CARBS(seed=0, max_suggestion_cost=200.0))
    study.optimize(_front_problem, n_trials=30)
    model = [t for t in study.trials if t.system_attrs.get(_attrs.CARBS_KIND) == "model"]
    assert model and np.median([t.params["width"] for t in model]) < 200


# --------------------------------------------------------------------------- CLI, sweep files


def test_sweep_registry_and_unbounded_sweep_params() -> None:
    from hpo._registry import PLANNED, SAMPLERS, build
    from hpo.cli.sweepfile import Param

    assert "carbs" not in PLANNED
    s = build("sampler", "carbs", {"seed": 0, "search_center": {"lr": 1e-3}}, SAMPLERS)
    assert isinstance(s, CARBS)
    d = Param(type="unbounded", default=64, low=8, log=True, integer=True,
              scale=0.5).distribution()
    assert isinstance(d, IntDistribution) and hpo.space.hints_of(d)["scale"] == 0.5
    with pytest.raises(ValueError, match="needs"):
        Param(type="unbounded", low=8).distribution()


def test_hpo_best_and_plot_read_the_front_and_the_scaling(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from hpo.cli import main

    storage = f"sqlite:///{tmp_path / 'c.db'}"
    study = optuna.create_study(study_name="c", storage=storage, sampler=CARBS(seed=0))
    study.optimize(_front_problem, n_trials=25)
    assert main(["best", "--study", "c", "--storage", storage]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cost_front"] and "width" in out["scaling"]
    assert main(["best", "--study", "c", "--storage", storage, "--cost", "1e4"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["cost"] == 1e4 and pred["params"]["width"] == pytest.approx(1e4, rel=0.01)
    assert "width" in pred["outside_range"]  # 1e4 > 4096, the searched maximum
    pytest.importorskip("matplotlib")
    assert main(["plot", "--study", "c", "--storage", storage, "--out", str(tmp_path)]) == 0
    assert (tmp_path / "cost-front.png").exists() and (tmp_path / "scaling.png").exists()
