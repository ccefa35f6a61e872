"""Objectives for tests/test_pbt.py, importable by the runner's child processes."""

from __future__ import annotations

import os
import time

import optuna

import hpo


@hpo.objective(direction="maximize")
def toy(h0: float = hpo.uniform(0, 1), h1: float = hpo.uniform(0, 1), *,
        trial: optuna.Trial | None = None) -> float:
    """The toy problem of the PBT paper: gradient ascent on the surrogate
    1.2 - (h0 t0^2 + h1 t1^2) from theta = (0.9, 0.9); the score is the true
    Q = 1.2 - (t0^2 + t1^2), best when both parts of theta shrink."""
    state = hpo.resume(trial) or {"theta": [0.9, 0.9], "steps": 0}
    start, stop = hpo.budget(trial, max_resource=40)
    if state["steps"] != start:
        raise RuntimeError(f"resumed at {state['steps']} for a segment from {start}")
    t0, t1 = state["theta"]
    for step in range(int(start), int(stop)):
        t0, t1 = t0 - 0.05 * 2 * h0 * t0, t1 - 0.05 * 2 * h1 * t1
        state["steps"] = step + 1
        if trial is not None:
            trial.report(1.2 - (t0 * t0 + t1 * t1), step)
    state["theta"] = [t0, t1]
    time.sleep(float(os.environ.get("HPO_TEST_SEGMENT_SLEEP", "0")))
    hpo.checkpoint(trial, state, step=stop)
    return 1.2 - (t0 * t0 + t1 * t1)
