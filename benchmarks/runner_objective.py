"""The trivial objectives timed by ``benchmarks/runner_overhead.py``.

They live in a module of their own, imported by name, so that the runner's child
processes and Ray workers unpickle them the way they would a user's objective.
"""

from __future__ import annotations

import time
from typing import Any

import hpo


def objective(trial: Any) -> float:
    """One uniform parameter, no work: every second spent is scheduling and storage.

    The Optuna way: the objective samples its parameter itself (in the worker)."""
    x = trial.suggest_float("x", -1.0, 1.0)
    return x * x


@hpo.objective(direction="minimize")
def decorated(x: float = hpo.uniform(-1.0, 1.0)) -> float:
    """The same objective the hpo way: the space is declared, and ``hpo.run`` samples it
    in the worker loop (where the sampler lives) before the trial starts."""
    return x * x


OBJECTIVES = {"decorated": decorated, "plain": objective}


def tune_trainable(config: dict[str, float]) -> None:
    """The same objective as a Ray Tune function trainable; reports when it finished."""
    from ray import tune

    tune.report({"loss": config["x"] ** 2, "done_at": time.time()})
