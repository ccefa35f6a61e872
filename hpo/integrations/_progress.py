"""Progress lines of the ready training functions: what a trial's log shows.

Under ``hpo sweep`` each trial's stdout goes to ``<output_dir>/logs/trial-<n>.log``;
the PPO and DPO objectives print one line there per report (only when they run a
trial: a plain call stays silent), flushed at once so ``tail -f`` follows it.

Example:
    >>> import optuna
    >>> trial = optuna.create_study().ask()
    >>> log = Progress(trial, start=0, stop=45000, clock=iter([0.0, 6.5]).__next__)
    >>> log(15000, "return", 187.3)
    trial 0  steps 15000/45000  return 187.3  2308 steps/s
    >>> Progress(None, start=0, stop=10)(5, "return", 1.0)  # a plain call: nothing
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any


class Progress:
    """Print ``trial N  steps S/STOP  <what> V  R steps/s`` for a trial (not for ``None``).

    The rate counts the steps this process trained since ``start`` (a continuation
    starts at its parent's step).
    """

    def __init__(self, trial: Any, *, start: float, stop: float,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.trial, self.start, self.stop, self.clock = trial, start, stop, clock
        self.t0 = clock() if trial is not None else 0.0

    def __call__(self, step: float, what: str, value: float | None) -> None:
        if self.trial is None:
            return
        elapsed = self.clock() - self.t0
        rate = f"{(step - self.start) / elapsed:.0f}" if elapsed > 0 else "-"
        shown = "-" if value is None else f"{value:.4g}"
        print(f"trial {self.trial.number}  steps {step:g}/{self.stop:g}  {what} {shown}  "
              f"{rate} steps/s", file=sys.stdout, flush=True)
