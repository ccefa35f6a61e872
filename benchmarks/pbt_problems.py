"""Objectives of the PBT benchmark (``benchmarks/pbt_bench.py``); not part of ``hpo``.

* :data:`toy`: the toy problem of the PBT paper (Jaderberg et al. 2017, section 4.1):
  gradient ascent on the surrogate ``1.2 - (h0 t0^2 + h1 t1^2)`` from
  ``theta = (0.9, 0.9)``, scored on the true ``Q = 1.2 - (t0^2 + t1^2)`` (a copy of
  ``tests/pbt_objectives.py:toy`` without the per-step reports).
* :data:`toy_mo`: the same training, two objectives: ``Q`` (maximised) and the cost
  ``mean over the steps trained of (h0 + h1)`` (minimised; it travels with the
  checkpoint, so a member that copies another inherits its cost so far).
* :func:`toy_scalar`: ``Q - w * cost`` for single-objective PBT on a scalarisation.
* :func:`ray_toy`: the same training as a Ray Tune function trainable, one report (with
  a checkpoint) per segment of ``INTERVAL`` steps.
* :func:`ppo_objective`: hpo's PPO on CartPole with only ``lr`` and ``ent_coef``
  searched (the rest fixed at the defaults).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any

import optuna

import hpo

MAX_STEPS = 40  # the toy's max_resource
INTERVAL = 4  # the toy's perturbation interval
THETA0 = (0.9, 0.9)
LR = 0.05  # step size of the ascent on the surrogate (gradient 2 h t)


def toy_train(theta: list[float], h0: float, h1: float, steps: int) -> list[float]:
    """``steps`` ascent steps on the surrogate from ``theta``."""
    t0, t1 = theta
    for _ in range(steps):
        t0, t1 = t0 - LR * 2 * h0 * t0, t1 - LR * 2 * h1 * t1
    return [t0, t1]


def toy_score(theta: list[float]) -> float:
    return 1.2 - (theta[0] ** 2 + theta[1] ** 2)


@hpo.objective(direction="maximize")
def toy(h0: float = hpo.uniform(0, 1), h1: float = hpo.uniform(0, 1), *,
        trial: optuna.Trial | None = None) -> float:
    """The PBT paper's toy problem, one checkpoint per segment."""
    state = hpo.resume(trial) or {"theta": list(THETA0), "steps": 0}
    start, stop = hpo.budget(trial, max_resource=MAX_STEPS)
    if state["steps"] != start:
        raise RuntimeError(f"resumed at {state['steps']} for a segment from {start}")
    state["theta"] = toy_train(state["theta"], h0, h1, int(stop - start))
    state["steps"] = int(stop)
    hpo.checkpoint(trial, state, step=stop)
    return toy_score(state["theta"])


def _toy_with_cost(h0: float, h1: float, trial: optuna.Trial | None) -> tuple[float, float]:
    state = hpo.resume(trial) or {"theta": list(THETA0), "steps": 0, "cost": 0.0}
    start, stop = hpo.budget(trial, max_resource=MAX_STEPS)
    if state["steps"] != start:
        raise RuntimeError(f"resumed at {state['steps']} for a segment from {start}")
    n = int(stop - start)
    state["theta"] = toy_train(state["theta"], h0, h1, n)
    state["cost"] += n * (h0 + h1)
    state["steps"] = int(stop)
    hpo.checkpoint(trial, state, step=stop)
    score, cost = toy_score(state["theta"]), state["cost"] / state["steps"]
    if trial is not None:
        trial.set_user_attr("score", score)
        trial.set_user_attr("cost", cost)
    return score, cost


@hpo.objective(directions=["maximize", "minimize"])
def toy_mo(h0: float = hpo.uniform(0, 1), h1: float = hpo.uniform(0, 1), *,
           trial: optuna.Trial | None = None) -> tuple[float, float]:
    """Two objectives: the toy's score Q (max) and the mean h0 + h1 over training (min)."""
    return _toy_with_cost(h0, h1, trial)


SCALAR_WEIGHT = float(os.environ.get("PBT_BENCH_SCALAR_WEIGHT", "0.1"))


@hpo.objective(direction="maximize")
def toy_scalar(h0: float = hpo.uniform(0, 1), h1: float = hpo.uniform(0, 1), *,
               trial: optuna.Trial | None = None) -> float:
    """``Q - w * cost`` (``w = SCALAR_WEIGHT``); Q and cost are kept as user attributes."""
    score, cost = _toy_with_cost(h0, h1, trial)
    return score - SCALAR_WEIGHT * cost


def ray_toy(config: dict[str, Any]) -> None:
    """The toy as a Ray Tune function trainable: one report per ``INTERVAL`` steps, each
    with a checkpoint (Ray's PBT copies the latest reported one). ``config["_log"]``
    names a file that gets one line per segment trained (Ray's own result history is
    rewritten when a trial is restored, so it cannot count the steps)."""
    from ray import tune

    ck = tune.get_checkpoint()
    theta, step = list(THETA0), 0
    if ck is not None:
        with ck.as_directory() as d, open(os.path.join(d, "state.json")) as f:
            s = json.load(f)
        theta, step = s["theta"], s["step"]
    log = config["_log"]
    while step < MAX_STEPS:
        t = time.perf_counter()
        theta = toy_train(theta, config["h0"], config["h1"], INTERVAL)
        step += INTERVAL
        train_s = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "state.json"), "w") as f:
                json.dump({"theta": theta, "step": step}, f)
            with open(log, "a") as f:
                f.write(f"{step} {train_s:.9f} {toy_score(theta)!r}\n")
            tune.report({"score": toy_score(theta), "step": step},
                        checkpoint=tune.Checkpoint.from_directory(d))


def ppo_objective(seed: int, max_steps: int, metric: str = "train") -> hpo.Objective:
    """hpo's PPO on CartPole-v1, searching only ``lr`` and ``ent_coef`` (CPU, 4 envs);
    ``metric`` as in :func:`hpo.integrations.ppo.make_ppo_objective`."""
    from hpo.integrations.ppo import make_ppo_objective

    fixed = {"gamma": 0.99, "gae_lambda": 0.95, "clip_range": 0.2, "n_steps": 128,
             "batch_size": 64, "n_epochs": 10}
    return make_ppo_objective("CartPole-v1", max_steps=max_steps, seed=seed, device="cpu",
                              metric=metric, space={k: hpo.fixed(v) for k, v in fixed.items()})
