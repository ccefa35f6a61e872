"""PB2: PBT with a GP-bandit explore on hpo's GP layer."""

from __future__ import annotations

import statistics
import tempfile

import optuna
import pytest
from optuna.trial import TrialState
from pbt_objectives import toy

import hpo
from hpo import _attrs
from hpo.samplers import PB2

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(sampler: optuna.samplers.BaseSampler) -> hpo.Study:
    return hpo.create_study(direction="maximize", storage="sqlite:///:memory:", sampler=sampler,
                            artifact_dir=tempfile.mkdtemp())


def test_pb2_beats_its_own_population_without_exploit_on_the_toy_problem() -> None:
    pb2_best, fixed_best = [], []
    for seed in range(2):
        pb2 = PB2(4, 4, 40, seed=seed)
        study = _study(pb2)
        study.optimize(toy, n_trials=200)
        assert [m.stop for m in pb2.population(study)] == [40] * 4
        pb2_best.append(study.best_value)
        fixed = _study(optuna.samplers.RandomSampler(seed=seed))
        fixed.optimize(toy, n_trials=4)
        fixed_best.append(fixed.best_value)
    assert statistics.median(pb2_best) > statistics.median(fixed_best)
    assert min(pb2_best) > 1.19


@hpo.objective(direction="minimize")
def mixed(lr: float = hpo.loguniform(1e-4, 1e-1), n: int = hpo.integer(1, 64, log=True),
          act: str = hpo.choice(["relu", "tanh"]), *, trial=None) -> float:
    state = hpo.resume(trial) or {"loss": 1.0}
    _, stop = hpo.budget(trial, max_resource=12)
    state["loss"] *= 0.5 + abs(lr - 1e-2) + abs(n - 16) / 64 + (act == "tanh") * 0.1
    hpo.checkpoint(trial, state, step=stop)
    return state["loss"]


def test_explore_keeps_log_int_and_categorical_parameters_valid() -> None:
    pb2 = PB2(4, 2, 12, quantile_fraction=0.5, seed=0)
    study = hpo.create_study(direction="minimize", storage="sqlite:///:memory:", sampler=pb2,
                             artifact_dir=tempfile.mkdtemp())
    study.optimize(mixed, n_trials=200)
    exploits = [t for t in study.trials if _attrs.EXPLOIT in t.system_attrs]
    assert len(exploits) >= 4
    for t in exploits:
        parent = study.trials[t.system_attrs[_attrs.PARENT]]
        assert t.params["act"] == parent.params["act"]  # categoricals are copied
        assert isinstance(t.params["n"], int) and 1 <= t.params["n"] <= 64
        assert 1e-4 <= t.params["lr"] <= 1e-1
    # the GP proposals are not the copied values
    assert any(t.params["lr"] != study.trials[t.system_attrs[_attrs.PARENT]].params["lr"]
               for t in exploits)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_bad_arguments_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="population_size: must be an int >= 2"):
        PB2(1, 4, 40)
    with pytest.raises(ValueError, match="perturbation_interval: must be a positive"):
        PB2(4, -1, 40)


def test_mutate_restricts_what_the_gp_explores() -> None:
    pb2 = PB2(4, 2, 12, quantile_fraction=0.5, mutate=["lr"], seed=0)
    study = hpo.create_study(direction="minimize", storage="sqlite:///:memory:", sampler=pb2,
                             artifact_dir=tempfile.mkdtemp())
    study.optimize(mixed, n_trials=200)
    exploits = [t for t in study.trials if _attrs.EXPLOIT in t.system_attrs]
    assert exploits
    for t in exploits:
        parent = study.trials[t.system_attrs[_attrs.PARENT]]
        assert t.params["n"] == parent.params["n"] and t.params["act"] == parent.params["act"]
