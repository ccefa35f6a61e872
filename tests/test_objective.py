"""The @hpo.objective decorator, in hpo and in plain Optuna studies, and failure recording."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

import hpo


@hpo.objective(direction="maximize")
def quadratic(
    lr: float = hpo.loguniform(1e-5, 1e-1),
    layers: int = hpo.integer(1, 4),
    act: str = hpo.choice(["relu", "tanh"]),
    *,
    trial=None,
) -> float:
    bonus = 0.5 if act == "tanh" else 0.0
    value = -((math.log10(lr) + 3) ** 2) - (layers - 2) ** 2 + bonus
    if trial is not None:
        trial.report(value, step=0)
    return value


def test_plain_call_and_space() -> None:
    assert quadratic(lr=1e-3, layers=2, act="relu") == 0.0
    assert quadratic(1e-3, 2, "tanh") == 0.5
    assert set(quadratic.space) == {"lr", "layers", "act"}
    assert quadratic.space["lr"] == hpo.loguniform(1e-5, 1e-1)
    assert quadratic.direction == "maximize"
    assert quadratic.__name__ == "quadratic"


def test_plain_call_without_value_names_the_parameter() -> None:
    with pytest.raises(TypeError, match=r"missing a value for parameter 'lr'"):
        quadratic(layers=2, act="relu")


def test_plain_call_uses_helper_defaults() -> None:
    @hpo.objective
    def f(x: float = hpo.uniform(0, 1, default=0.25), k: int = hpo.fixed(3)) -> float:
        return x * k

    assert f() == 0.75
    assert f(x=1.0) == 3.0


def test_hpo_study_runs_the_objective() -> None:
    study = hpo.create_study(direction="maximize", storage="sqlite:///:memory:")
    study.optimize(quadratic, n_trials=15)
    assert len(study.trials) == 15
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert set(study.best_params) == {"lr", "layers", "act"}
    assert study.trials[0].intermediate_values == {0: study.trials[0].value}


def test_plain_optuna_study_runs_the_objective() -> None:
    study = optuna.create_study(direction="maximize")
    study.optimize(quadratic, n_trials=5)
    assert len(study.trials) == 5
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_direction_mismatch_is_an_error() -> None:
    study = hpo.create_study(direction="minimize", storage="sqlite:///:memory:")
    with pytest.raises(ValueError, match=r"declares directions \['maximize'\].*\['minimize'\]"):
        study.optimize(quadratic, n_trials=1)
    assert len(study.trials) == 0


def test_multi_objective() -> None:
    @hpo.objective(directions=["maximize", "minimize"])
    def f(width: int = hpo.integer(8, 64, log=True), *, trial=None) -> tuple[float, float]:
        return width / 64, float(width)

    study = hpo.create_study(directions=["maximize", "minimize"], storage="sqlite:///:memory:")
    study.optimize(f, n_trials=10)
    assert all(len(t.values) == 2 for t in study.trials)
    assert 1 <= len(study.best_trials) <= 10


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("raise RuntimeError('diverged at step 7')", "RuntimeError: diverged at step 7"),
        ("return float('nan')", "returned NaN"),
        ("return None", "returned None"),
        ("return 1.0, 2.0", "returned 2 value(s)"),
        ("return 'high'", "each value must be a number"),
    ],
)
def test_failures_are_recorded_and_the_study_goes_on(body: str, reason: str) -> None:
    ns: dict = {"hpo": hpo}
    exec(  # a fresh objective per case, failing on even trials only
        "@hpo.objective(direction='minimize')\n"
        "def f(x: float = hpo.uniform(0, 1), *, trial=None):\n"
        "    if trial.number % 2 == 0:\n"
        f"        {body}\n"
        "    return x\n",
        ns,
    )
    study = hpo.create_study(storage="sqlite:///:memory:")
    study.optimize(ns["f"], n_trials=4)
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL, TrialState.COMPLETE] * 2
    failed = study.trials[0]
    assert reason in failed.system_attrs["hpo:fail_reason"]
    if body.startswith("raise"):
        assert "Traceback" in failed.system_attrs["hpo:traceback"]
        assert "diverged at step 7" in failed.system_attrs["hpo:traceback"]
    assert "hpo:fail_reason" not in study.trials[1].system_attrs


def test_undecorated_objective_failures_are_recorded_too() -> None:
    def f(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 1:
            raise ValueError("bad batch")
        return x

    study = hpo.create_study(storage="sqlite:///:memory:")
    study.optimize(f, n_trials=3)
    assert [t.state for t in study.trials].count(TrialState.FAIL) == 1
    assert study.trials[1].system_attrs["hpo:fail_reason"] == "ValueError: bad batch"


def test_catch_nothing_keeps_optunas_behaviour() -> None:
    def f(trial: optuna.Trial) -> float:
        raise KeyError("stop")

    study = hpo.create_study(storage="sqlite:///:memory:")
    with pytest.raises(KeyError):
        study.optimize(f, n_trials=3, catch=())
    assert len(study.trials) == 1


def test_decorating_a_parameter_without_space_is_an_error() -> None:
    with pytest.raises(TypeError, match=r"parameter 'lr' of f\(\) has no search space"):

        @hpo.objective
        def f(lr, x: float = hpo.uniform(0, 1)) -> float:
            return x


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"direction": "max"}, r"direction must be one of \('minimize', 'maximize'\), got 'max'"),
        ({"direction": "minimize", "directions": ["minimize"]}, "not both"),
        ({"directions": []}, "must not be empty"),
    ],
)
def test_bad_directions(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        hpo.objective(**kwargs)


def test_conditional_parameters_by_define_by_run() -> None:
    @hpo.objective
    def f(opt: str = hpo.choice(["sgd", "adam"]), *, trial=None) -> float:
        if opt == "sgd":
            return trial.suggest_float("momentum", 0.0, 0.99)
        return trial.suggest_float("beta1", 0.8, 0.999)

    study = hpo.create_study(storage="sqlite:///:memory:")
    study.optimize(f, n_trials=12)
    for t in study.trials:
        extra = {"sgd": "momentum", "adam": "beta1"}[t.params["opt"]]
        assert set(t.params) == {"opt", extra}


def test_objectives_pickle_by_reference_and_refuse_ambiguous_names() -> None:
    import pickle

    assert pickle.loads(pickle.dumps(quadratic)) is quadratic

    def factory() -> hpo.Objective:
        @hpo.objective
        def inner(x: float = hpo.uniform(0, 1)) -> float:
            return x

        return inner

    with pytest.raises(pickle.PicklingError, match="cannot be sent to another process"):
        pickle.dumps(factory())
