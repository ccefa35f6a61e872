"""GPSampler on plain Optuna studies."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import numpy as np
import optuna
import pytest
import torch
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

import hpo.space as sp
from hpo.samplers.gp import GPSampler
from hpo.surrogates.device import cpu_threads

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with cpu_threads(1):
        yield


def _branin(x1: float, x2: float) -> float:
    return ((x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


def _branin_objective(trial: optuna.Trial) -> float:
    return _branin(trial.suggest_float("x1", -5, 10), trial.suggest_float("x2", 0, 15))


def _fast(seed: int, **kw: object) -> GPSampler:
    kw = {"n_startup_trials": 6, "n_candidates": 512, **kw}
    return GPSampler(seed=seed, **kw)  # type: ignore[arg-type]


def test_beats_random_search_on_branin() -> None:
    # Branin's minimum is 0.397887; random search with 25 trials stays ~1 above it.
    # Medians over 4 seeds: one seed in 8 can sit at the boundary point (10, 3) for a few
    # trials at this budget (regret 1.5 at 25 trials, solved by 100; docs/benchmarks.md).
    gp_regret, rnd_regret = [], []
    for seed in range(4):
        for sampler, out in ((_fast(seed), gp_regret),
                             (optuna.samplers.RandomSampler(seed=seed), rnd_regret)):
            study = optuna.create_study(sampler=sampler)
            study.optimize(_branin_objective, n_trials=25)
            out.append(study.best_value - 0.397887)
    assert np.median(gp_regret) < 0.2
    assert np.median(gp_regret) < 0.25 * np.median(rnd_regret)


def test_same_seed_same_suggestions_and_other_seed_differs() -> None:
    def run(seed: int) -> list[dict[str, float]]:
        study = optuna.create_study(sampler=_fast(seed))
        study.optimize(_branin_objective, n_trials=9)
        return [t.params for t in study.trials]

    a, b, c = run(3), run(3), run(4)
    assert a == b
    assert a != c


def _hypervolume_2d(points: np.ndarray, ref: np.ndarray) -> float:
    """Dominated area of minimised 2-D points with respect to ``ref``."""
    pts = points[(points < ref).all(1)]
    pts = pts[np.argsort(pts[:, 0])]
    hv, best_y = 0.0, ref[1]
    for x, y in pts:
        if y < best_y:
            hv += (ref[0] - x) * (best_y - y)
            best_y = y
    return hv


def test_multi_objective_front_beats_random() -> None:
    def two(trial: optuna.Trial) -> tuple[float, float]:
        x, y = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
        return x**2 + (y - 0.5) ** 2 * 4, (x - 1) ** 2 + (y - 0.5) ** 2 * 4

    ref = np.array([1.5, 1.5])
    hv = {}
    for name, sampler in (("gp", _fast(0)), ("random", optuna.samplers.RandomSampler(seed=0))):
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
        study.optimize(two, n_trials=16)
        hv[name] = _hypervolume_2d(np.array([t.values for t in study.trials]), ref)
    # the true front (y = 0.5, x in [0, 1]) dominates 1.5^2 - 1/6 ~ 2.083
    assert hv["gp"] > 2.0 and hv["gp"] > hv["random"] + 0.05


def test_failed_nan_and_infinite_trials_do_not_break_it() -> None:
    def flaky(trial: optuna.Trial) -> float:
        x, y = trial.suggest_float("x", -2, 2), trial.suggest_float("y", -2, 2)
        if x > 1.5:
            raise RuntimeError("diverged")  # FAIL
        if y > 1.5:
            return math.nan  # Optuna marks it FAIL
        if x < -1.5:
            return math.inf  # a diverged run: modelled as the worst value seen
        return (x - 0.5) ** 2 + (y + 0.5) ** 2

    study = optuna.create_study(sampler=_fast(0, n_startup_trials=8))
    study.optimize(flaky, n_trials=18, catch=(RuntimeError,))
    states = [t.state for t in study.trials]
    assert states.count(TrialState.FAIL) >= 1 and any(t.value == math.inf for t in study.trials)
    assert study.best_value < 0.05


def test_conditional_parameters_are_sampled_independently(caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    def cond(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.suggest_categorical("kind", ["a", "b"]) == "a":
            return (x - 0.2) ** 2 + trial.suggest_float("a_only", 0, 1)
        return (x - 0.7) ** 2 + trial.suggest_int("b_only", 0, 3)

    sampler = _fast(0, n_startup_trials=4)
    study = optuna.create_study(sampler=sampler)
    with caplog.at_level(logging.WARNING, logger="hpo.samplers.gp"):
        study.optimize(cond, n_trials=12)
    space = sampler.infer_relative_search_space(study, study.trials[-1])
    assert set(space) == {"x", "kind"}
    assert "a_only" in caplog.text or "b_only" in caplog.text
    assert all("a_only" in t.params or "b_only" in t.params for t in study.trials)


def test_pending_trials_get_different_suggestions() -> None:
    space = {"x1": FloatDistribution(-5, 10), "x2": FloatDistribution(0, 15)}
    study = optuna.create_study(sampler=_fast(0))
    study.optimize(_branin_objective, n_trials=10)
    # two workers ask before either tells: the second sees the first as pending
    t1 = study.ask(space)
    t2 = study.ask(space)
    a = np.array([(t1.params["x1"] + 5) / 15, t1.params["x2"] / 15])
    b = np.array([(t2.params["x1"] + 5) / 15, t2.params["x2"] / 15])
    assert np.linalg.norm(a - b) > 0.02
    # without the pending point the second worker would be sent where the first is:
    # a fresh sampler with the same seed and history suggests exactly t1's point
    fresh = optuna.create_study(sampler=_fast(0))
    fresh.add_trials(study.trials[:10])
    t3 = fresh.ask(space)
    c = np.array([(t3.params["x1"] + 5) / 15, t3.params["x2"] / 15])
    assert np.linalg.norm(a - c) < 1e-3  # the same point, up to the optimiser's tolerance


def test_no_configuration_is_suggested_twice_while_others_are_left() -> None:
    """A 12-configuration discrete space with a clear optimum: once the model has found
    it, LogEI's maximiser is that observed configuration itself; the sampler goes on
    to unseen ones, running trials included, and repeats only when none is left."""
    space = {"c": sp.choice(["a", "b", "c", "d"]), "n": sp.integer(0, 2)}

    def value(p: dict) -> float:
        return (p["c"] != "b") + abs(p["n"] - 1) * 0.5

    study = optuna.create_study(sampler=GPSampler(seed=0, n_startup_trials=3))
    seen = set()
    for _ in range(3):
        t = study.ask(space)
        study.tell(t, value(t.params))
        seen.add(tuple(sorted(t.params.items())))
    n_start = len(seen)
    while len(seen) < 11:
        t = study.ask(space)
        key = tuple(sorted(t.params.items()))
        assert key not in seen, (key, len(seen))
        seen.add(key)
        study.tell(t, value(t.params))
    last = study.ask(space)  # running: the next ask must take the one configuration left
    other = study.ask(space)
    assert tuple(sorted(last.params.items())) not in seen
    assert tuple(sorted(other.params.items())) in seen | {tuple(sorted(last.params.items()))}
    assert n_start <= 3 and study.best_value == 0.0


def test_mixed_space_with_hpo_distributions() -> None:
    space = {
        "lr": sp.loguniform(1e-5, 1e-1),
        "layers": sp.integer(1, 6),
        "batch": sp.integer(16, 1024, log=True),
        "clip": sp.uniform(0.1, 0.3, step=0.05),
        "act": sp.choice(["relu", "tanh", "gelu"]),
        "algo": sp.fixed("ppo"),
    }

    def obj(trial: optuna.Trial) -> float:
        p = {name: trial._suggest(name, dist) for name, dist in space.items()}
        return (abs(math.log10(p["lr"]) + 3.5) + abs(p["layers"] - 4) + abs(math.log2(p["batch"])
                - 7) + abs(p["clip"] - 0.2) * 10 + (p["act"] != "tanh"))

    study = optuna.create_study(sampler=_fast(0))
    study.optimize(obj, n_trials=18)
    for t in study.trials:
        assert t.params["algo"] == "ppo" and t.params["act"] in ("relu", "tanh", "gelu")
        assert 1 <= t.params["layers"] <= 6 and 16 <= t.params["batch"] <= 1024
        assert round((t.params["clip"] - 0.1) / 0.05, 9).is_integer()
    assert study.best_value < min(t.value for t in study.trials[:6]) - 0.5


def test_constraints_steer_to_the_feasible_optimum() -> None:
    def obj(trial: optuna.Trial) -> float:
        x, y = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
        trial.set_constraint("sum", 1.0 - x - y)  # feasible when x + y >= 1
        return x**2 + y**2  # constrained minimum 0.5 at (0.5, 0.5)

    study = optuna.create_study(sampler=_fast(0))
    study.optimize(obj, n_trials=16)
    feasible = [t.value for t in study.trials[6:] if sum(t.params.values()) >= 1.0]
    # half the square is feasible; the optimum lies on the boundary, approached from both sides
    assert len(feasible) >= 5 and min(feasible) < 0.505


def test_pruned_trials_are_ignored_unless_asked() -> None:
    def obj(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        trial.report(10 * x, step=0)
        if trial.number % 2:
            raise optuna.TrialPruned()
        return x

    for consider in (False, True):
        sampler = _fast(0, n_startup_trials=3, consider_pruned_trials=consider)
        study = optuna.create_study(sampler=sampler)
        study.optimize(obj, n_trials=6)
        trials, Y = sampler._observations(study, {"x": FloatDistribution(0, 1)})
        assert len(trials) == (6 if consider else 3)
        pruned = [y for t, y in zip(trials, Y[:, 0], strict=True) if t.state == TrialState.PRUNED]
        assert all(y == -10 * t_x for y, t_x in zip(
            pruned, [t.params["x"] for t in trials if t.state == TrialState.PRUNED], strict=True))


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="'auto', 'cuda', 'cpu'; got 'gpu'"):
        GPSampler(device="gpu")
    with pytest.raises(ValueError, match="n_startup_trials"):
        GPSampler(n_startup_trials=0)
    with pytest.raises(ValueError, match="max_points"):
        GPSampler(max_points=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_and_cpu_suggest_the_same() -> None:
    params = []
    for device in ("cpu", "cuda"):
        study = optuna.create_study(sampler=_fast(0, device=device))
        study.optimize(_branin_objective, n_trials=9)
        params.append(study.trials[-1].params)
    for k in params[0]:
        assert params[0][k] == pytest.approx(params[1][k], abs=1e-2)


def test_sampler_pickles_for_worker_processes() -> None:
    import pickle

    sampler = GPSampler(seed=3)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_branin_objective, n_trials=8)
    clone = pickle.loads(pickle.dumps(sampler))
    again = optuna.create_study(sampler=clone)
    again.add_trials(study.trials)
    again.optimize(_branin_objective, n_trials=1)
    assert again.trials[-1].state == optuna.trial.TrialState.COMPLETE
