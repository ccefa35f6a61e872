"""Objectives for tests/test_plots.py, importable by the runner's child processes."""

from __future__ import annotations

import math

import optuna

import hpo


@hpo.objective(direction="maximize")
def ppo_like(lr: float = hpo.loguniform(1e-5, 1e-1),
             batch_size: int = hpo.integer(16, 512, log=True),
             n_steps: int = hpo.integer(16, 1024, log=True),
             ent_coef: float = hpo.uniform(0.0, 0.1),
             activation: str = hpo.choice(["tanh", "relu", "leaky_relu", "elu", "gelu",
                                           "silu"]),
             *, trial: optuna.Trial | None = None) -> float:
    """A return that grows with the resource (one unit per step, from its parent's
    checkpoint) and depends on every hyperparameter, with PPO's usual ranges: the
    slice plot's log-scaled integers are those that used to overlap."""
    state = hpo.resume(trial) or {"trained": 0}
    start, stop = hpo.budget(trial, max_resource=9)
    if state["trained"] != start:
        raise RuntimeError(f"resumed {state} for a segment from {start}")
    quality = (100 - 8 * (math.log10(lr) + 3) ** 2 - 4 * abs(math.log2(batch_size) - 6)
               - 150 * ent_coef + 2 * math.log2(n_steps) + 3 * (activation == "tanh"))
    value = 0.0
    for step in range(int(start), int(stop)):
        value = quality * (1 - 1 / (step + 2))
        if trial is not None:
            trial.report(value, step + 1)
    state["trained"] = stop
    hpo.checkpoint(trial, state, step=stop)
    return quality * (1 - 1 / (stop + 1))
