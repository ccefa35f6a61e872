"""Objectives for tests/test_schedulers_runner.py, importable by the runner's children."""

from __future__ import annotations

import os
import time

import optuna

import hpo


@hpo.objective(direction="minimize")
def segmented(x: float = hpo.uniform(0, 1), *, trial: optuna.Trial | None = None) -> float:
    """Trains one unit per step from its parent's checkpoint (checkpointing every step);
    the loss at ``stop`` falls with the resource and ranks configurations by ``x``.
    ``HPO_TEST_STEP_SLEEP`` seconds per step leave a window to kill a worker."""
    state = hpo.resume(trial) or {"trained": 0, "x": x, "starts": []}
    start, stop = hpo.budget(trial, max_resource=9)
    if state["trained"] != start or state["x"] != x:
        raise RuntimeError(f"resumed {state} for a segment from {start} with x={x}")
    state["starts"].append(start)
    for step in range(int(start), int(stop)):
        state["trained"] = step + 1
        hpo.checkpoint(trial, state, step=step + 1)
        if trial is not None:
            trial.report((x - 0.3) ** 2 + 1.0 / (step + 1), step)
        time.sleep(float(os.environ.get("HPO_TEST_STEP_SLEEP", "0")))
    if trial is not None:
        trial.set_user_attr("state", state)
    return (x - 0.3) ** 2 + 1.0 / stop
