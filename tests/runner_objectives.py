"""Objectives for tests/test_runner.py, importable by the runner's child processes."""

from __future__ import annotations

import os
import signal
import time

import optuna

import hpo


@hpo.objective(direction="minimize")
def quadratic(x: float = hpo.uniform(-2, 2), *, trial: optuna.Trial | None = None) -> float:
    if trial is not None:
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("cuda_visible_devices", os.environ.get("CUDA_VISIBLE_DEVICES"))
    return (x - 1) ** 2


CRASH, RAISE, EXIT = 0.5, -0.5, 1.5


@hpo.objective(direction="minimize")
def misbehaving(x: float = hpo.uniform(-2, 2), *, trial: optuna.Trial | None = None) -> float:
    """x == CRASH segfaults, x == RAISE raises, x == EXIT exits hard; a retry of a trial
    (a transient failure) succeeds."""
    assert trial is not None
    if "hpo:retry_of" not in trial.study._storage.get_trial_system_attrs(trial._trial_id):
        if x == CRASH:
            os.kill(os.getpid(), signal.SIGSEGV)
        if x == RAISE:
            raise RuntimeError("diverged")
        if x == EXIT:
            os._exit(3)
    return x * x


@hpo.objective(direction="minimize")
def sleepy(x: float = hpo.uniform(0, 1), *, trial: optuna.Trial | None = None) -> float:
    time.sleep(float(os.environ.get("HPO_TEST_SLEEP", "30")))
    return x


@hpo.objective(direction="maximize")
def stepper(lr: float = hpo.loguniform(1e-3, 1e-1), *, trial: optuna.Trial | None = None) -> float:
    """Ten steps of a fake training run, one second each from step 5 on (a kill window),
    checkpointing every step; the state records where it resumed."""
    state = hpo.resume(trial) or {"w": 0.0, "resumed_at": None, "steps": []}
    start, stop = hpo.budget(trial, max_resource=10)
    if start > 0:
        state["resumed_at"] = start
    for step in range(start, stop):
        state["w"] += lr
        state["steps"].append(step)
        hpo.checkpoint(trial, state, step=step + 1)
        if trial is not None:
            trial.report(state["w"], step)
            trial.set_user_attr("state", state)
        if step >= 5 and os.environ.get("HPO_TEST_SLOW_STEPS"):
            time.sleep(1.0)
    return state["w"]


def plain(trial: optuna.Trial) -> float:
    """An Optuna-style objective: it samples its own parameters, conditionally too."""
    x = trial.suggest_float("x", -1, 1)
    if trial.suggest_categorical("kind", ["a", "b"]) == "a":
        return x * x + trial.suggest_float("extra", 0, 1)
    return x * x


@hpo.objective(direction="minimize")
def raises(x: float = hpo.uniform(0, 1), *, trial: optuna.Trial | None = None) -> float:
    """Raises what ``HPO_TEST_RAISE`` names (default: SystemExit(3)) after a moment."""
    time.sleep(0.3)
    if os.environ.get("HPO_TEST_RAISE") == "KeyboardInterrupt":
        raise KeyboardInterrupt
    raise SystemExit(3)


_KINDS = ["np.float32", "np.int64", "0-d tensor", "0-d array", "inf", "string", "bool",
          "np.bool_", "None", "nan", "pair", "1-d tensor"]


@hpo.objective(direction="minimize")
def returns(kind: str = hpo.choice(_KINDS)) -> object:
    """Returns the value ``kind`` names (test_one_value_rule_in_every_entry_point)."""
    import numpy as np
    import torch

    return {"np.float32": np.float32(0.5), "np.int64": np.int64(2),
            "0-d tensor": torch.tensor(0.5), "0-d array": np.array(0.25), "inf": float("inf"),
            "string": "0.25", "bool": True, "np.bool_": np.bool_(True), "None": None,
            "nan": float("nan"), "pair": (1.0, 2.0), "1-d tensor": torch.tensor([0.5])}[kind]


@hpo.objective(direction="minimize")
def always_fails(x: float = hpo.uniform(0, 1), *, trial: optuna.Trial | None = None) -> float:
    """Fails as a broken training script does: the same error whatever the parameters."""
    raise RuntimeError(f"out of memory at step 7 (x={x})")
