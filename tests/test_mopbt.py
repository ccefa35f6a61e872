"""MO-PBT: non-dominated sorting and greedy scattered-subset selection."""

from __future__ import annotations

import tempfile

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

import hpo
from hpo import _attrs, _segments
from hpo.samplers import MOPBT
from hpo.samplers.mopbt import scattered_order

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_scattered_order_goes_front_by_front_and_spreads_within_a_front() -> None:
    F = np.array([[3, 0], [0, 3], [2, 2], [1, 1], [0, 0]], dtype=float)
    # front {0, 1, 2}: 0 first (best on objective 0), then 1, farthest from 0 (4.24 > 2.24)
    assert scattered_order(F) == [0, 1, 2, 3, 4]
    F2 = np.array([[0, 4], [4, 0], [1, 3.5], [3.9, 0.2], [2, 2]], dtype=float)
    # after 1 and 0, point 4 (2, 2) is the farthest from both, before 2 and 3
    assert scattered_order(F2)[:3] == [1, 0, 4]


@hpo.objective(directions=["maximize", "minimize"])
def tradeoff(lr: float = hpo.loguniform(1e-3, 1.0), width: int = hpo.integer(1, 32),
             *, trial=None):
    """A score that grows with training, faster with lr and width, against a cost."""
    state = hpo.resume(trial) or {"w": 0.0}
    _, stop = hpo.budget(trial, max_resource=24)
    state["w"] += (1.0 - state["w"]) * min(1.0, lr * width / 8) * 0.5
    hpo.checkpoint(trial, state, step=stop)
    return state["w"], width * (1 + lr)


def test_mopbt_reports_the_front_of_its_members() -> None:
    mopbt = MOPBT(6, 4, 24, seed=0)
    study = hpo.create_study(directions=["maximize", "minimize"], sampler=mopbt,
                             storage="sqlite:///:memory:", artifact_dir=tempfile.mkdtemp())
    study.optimize(tradeoff, n_trials=500)
    assert [m.stop for m in mopbt.population(study)] == [24] * 6
    assert any(_attrs.EXPLOIT in t.system_attrs for t in study.trials)
    front = _segments.best_trials(study)
    assert front and all(hpo.budget(t)[1] == 24 for t in front)
    values = np.array([t.values for t in front])
    for i, a in enumerate(values):  # mutually non-dominated
        for j, b in enumerate(values):
            assert i == j or not (a[0] >= b[0] and a[1] <= b[1] and (a != b).any())


def test_mopbt_needs_several_objectives() -> None:
    study = optuna.create_study(sampler=MOPBT(4, 4, 24, seed=0))
    with pytest.raises(ValueError, match="MOPBT needs several objectives"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert study.trials[0].state == TrialState.FAIL


def test_plots_of_a_mopbt_study(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("matplotlib")
    from hpo.cli.plots import write_plots

    study = hpo.create_study(directions=["maximize", "minimize"], sampler=MOPBT(4, 8, 24, seed=0),
                             storage="sqlite:///:memory:", artifact_dir=tempfile.mkdtemp())
    study.optimize(tradeoff, n_trials=500)
    names = {p.name for p in write_plots(study, tmp_path)}
    assert {"fronts.png", "schedule.png", "pareto.png"} <= names
    assert (tmp_path / "fronts.png").stat().st_size > 10_000
