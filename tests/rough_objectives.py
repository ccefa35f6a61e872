"""Objectives for tests/test_rough_edges.py, importable by the runner's child processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import optuna

import hpo


@hpo.objective(direction="minimize")
def stubborn(x: float = hpo.uniform(0, 1), *, trial: optuna.Trial | None = None) -> float:
    """Ignores SIGTERM, says so in the file ``HPO_TEST_READY`` names, then sleeps."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    Path(os.environ["HPO_TEST_READY"]).write_text("ready")
    time.sleep(120)
    return x
