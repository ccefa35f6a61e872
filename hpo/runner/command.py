"""Objectives that are shell commands printing metrics as JSON lines.

``python train.py --lr {lr} --gamma {gamma}`` is run with the trial's parameters
(shell-quoted) substituted; every stdout line that parses as a JSON object carrying the
metric is an intermediate result (``{"step": 1000, "return": 87.5}``), and the last one
is the trial's value. Other lines are passed through to the trial's log. The trial is
pruned (the command terminated) when the pruner says so.

Besides the parameters, the template may use ``{trial_number}``, ``{trial_dir}`` (a
directory of the trial's own), ``{start}`` and ``{stop}`` (the trial's budget); the
same are in the environment as ``HPO_TRIAL_NUMBER``, ``HPO_TRIAL_DIR``, ``HPO_START``
and ``HPO_STOP``.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import string
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution

import hpo
from hpo.objective import suggest

__all__ = ["CommandObjective"]

_BUILTIN = ("trial_number", "trial_dir", "start", "stop")


class CommandObjective:
    """A command template as an objective (picklable, so it runs in any worker).

    Args:
        command: the template, e.g. ``"python train.py --lr {lr}"``.
        metrics: the JSON key(s) of the value(s) to optimise, one per objective.
        space: parameter name -> distribution for the placeholders.
        step_key: the JSON key of the step (default ``"step"``; a line without it gets
            the number of metric lines seen so far).
        max_resource: the ``stop`` of a fresh trial (see :func:`hpo.budget`).
        workdir: directory the command runs in and under which ``trials/<n>`` lives.

    Example:
        >>> obj = CommandObjective("echo {x}", ["loss"], {"x": hpo.uniform(0, 1)})
        >>> sorted(obj.space)
        ['x']
    """

    def __init__(self, command: str, metrics: Sequence[str],
                 space: Mapping[str, BaseDistribution], *, step_key: str = "step",
                 max_resource: float | None = None, workdir: str | os.PathLike[str] = ".") -> None:
        if not metrics:
            raise ValueError("metrics: at least one metric name is needed")
        fields = {f for _, f, _, _ in string.Formatter().parse(command) if f}
        unknown = fields - set(space) - set(_BUILTIN)
        if unknown:
            raise ValueError(f"command: placeholder(s) {sorted(unknown)} are neither in the "
                             f"space {sorted(space)} nor built in {list(_BUILTIN)}")
        self.command, self.metrics, self.space = command, list(metrics), dict(space)
        self.step_key, self.max_resource = step_key, max_resource
        self.workdir = str(Path(workdir).resolve())

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        params = {n: suggest(trial, n, d) for n, d in self.space.items()}
        trial_dir = Path(self.workdir) / "trials" / str(trial.number)
        trial_dir.mkdir(parents=True, exist_ok=True)
        start, stop = hpo.budget(trial, max_resource=self.max_resource) \
            if self.max_resource is not None or self._has_budget(trial) else (0, "")
        builtins = {"trial_number": trial.number, "trial_dir": str(trial_dir),
                    "start": start, "stop": stop}
        quoted = {k: shlex.quote(str(v)) for k, v in {**params, **builtins}.items()}
        cmd = self.command.format(**quoted)
        env = {**os.environ, "HPO_TRIAL_NUMBER": str(trial.number),
               "HPO_TRIAL_DIR": str(trial_dir), "HPO_START": str(start), "HPO_STOP": str(stop)}
        proc = subprocess.Popen(cmd, shell=True, cwd=self.workdir, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        last: list[float] | None = None
        n_lines = 0
        tail: deque[str] = deque(maxlen=20)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                print(line, end="", flush=True)
                values = self._parse(line)
                if values is None:
                    continue
                last, n_lines = values[1], n_lines + 1
                step = values[0] if values[0] is not None else n_lines
                if len(self.metrics) == 1 and math.isfinite(last[0]):
                    trial.report(last[0], int(step))
                    if trial.should_prune():
                        proc.terminate()
                        raise optuna.TrialPruned(f"pruned at step {step}")
            assert proc.stderr is not None
            for line in proc.stderr:
                print(line, end="", file=sys.stderr)
                tail.append(line)
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if code != 0:
            raise RuntimeError(f"command exited with code {code}: {cmd}\n" + "".join(tail))
        if last is None:
            raise RuntimeError(f"command printed no JSON line with {self.metrics}: {cmd}")
        return last[0] if len(last) == 1 else last

    @staticmethod
    def _has_budget(trial: optuna.Trial) -> bool:
        from hpo import _attrs

        return _attrs.STOP in trial.study._storage.get_trial_system_attrs(trial._trial_id)

    def _parse(self, line: str) -> tuple[Any, list[float]] | None:
        line = line.strip()
        if not line.startswith("{"):
            return None
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(obj, dict) or not all(m in obj for m in self.metrics):
            return None
        try:
            values = [float(obj[m]) for m in self.metrics]
        except (TypeError, ValueError):
            return None
        return obj.get(self.step_key), values
