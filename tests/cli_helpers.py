"""Running `hpo` as a user does, for the tests: sweep files, the command, polling a study."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from optuna.trial import FrozenTrial

import hpo

TESTS = Path(__file__).resolve().parent
HPO = str(Path(sys.executable).with_name("hpo"))


def sweep_file(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    """Write a sweep file (dedented) into ``tmp_path``."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def env(**extra: str) -> dict[str, str]:
    """The environment of an `hpo` process: the tests' objectives importable."""
    return {**os.environ, "PYTHONPATH": str(TESTS), **extra}


def run_hpo(*args: str, cwd: Path, timeout: float = 300, **extra: str
            ) -> subprocess.CompletedProcess:
    return subprocess.run([HPO, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env(**extra))


def start_hpo(*args: str, cwd: Path, **extra: str) -> subprocess.Popen:
    """`hpo` in the background, in its own session (so a test can kill its whole group)."""
    return subprocess.Popen([HPO, *args], cwd=cwd, env=env(**extra), stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def wait_for(url: str, name: str, done: Callable[[list[FrozenTrial]], bool],
             timeout: float = 200) -> list[FrozenTrial]:
    """Poll the study (which may not exist yet) until ``done(trials)``; its trials."""
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, f"study {name!r} made no progress"
        time.sleep(0.3)
        try:
            trials = hpo.load_study(study_name=name, storage=url).trials
        except ValueError:
            continue
        if done(trials):
            return trials
