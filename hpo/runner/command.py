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

The command runs in a process group of its own (so Ctrl-C in the terminal goes to the
sweep, which stops it) that is killed, with every process in it, when the trial ends
for any reason: done, pruned, failed, at the time limit, on Ctrl-C/SIGTERM, or when the
sweep ends. Its stdout and stderr are read concurrently, so a command that writes much
to one before the other never blocks.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import shlex
import signal
import string
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution

from hpo.continuation import budget
from hpo.objective import as_number, suggest

__all__ = ["CommandObjective", "kill_commands"]

_BUILTIN = ("trial_number", "trial_dir", "start", "stop")
_GROUPS: set[int] = set()  # process groups of the commands this process is running
_GROUPS_LOCK = threading.Lock()
_SUPERVISE = str(Path(__file__).with_name("_supervise.py"))


def kill_commands() -> None:
    """SIGKILL the process groups of every command this process is running (used when a
    trial's process is told to stop, and when the sweep ends)."""
    with _GROUPS_LOCK:
        groups = list(_GROUPS)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _end_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """Stop the command's process group: SIGTERM while its leader runs (it may save a
    checkpoint), SIGKILL after ``grace`` seconds, and SIGKILL to whatever is left of the
    group (background children) once the leader is gone."""
    pgid = proc.pid
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        proc.wait()
    finally:
        with _GROUPS_LOCK:
            _GROUPS.discard(pgid)


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
        start, stop = budget(trial, max_resource=self.max_resource) \
            if self.max_resource is not None or self._has_budget(trial) else (0, "")
        builtins = {"trial_number": trial.number, "trial_dir": str(trial_dir),
                    "start": start, "stop": stop}
        quoted = {k: shlex.quote(str(v)) for k, v in {**params, **builtins}.items()}
        cmd = self.command.format(**quoted)
        env = {**os.environ, "HPO_TRIAL_NUMBER": str(trial.number),
               "HPO_TRIAL_DIR": str(trial_dir), "HPO_START": str(start), "HPO_STOP": str(stop)}
        # the command runs under a small supervisor that leads its process group and
        # kills the group if this process dies, even by SIGKILL
        argv = [sys.executable, "-I", "-S", _SUPERVISE, str(os.getpid()), cmd]
        with _GROUPS_LOCK:  # registered before a signal could ask to kill it
            proc = subprocess.Popen(argv, cwd=self.workdir, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    process_group=0)
            _GROUPS.add(proc.pid)
        last: list[float] | None = None
        n_lines = 0
        tail: deque[str] = deque(maxlen=20)
        assert proc.stdout is not None and proc.stderr is not None
        lines: queue.Queue[str | None] = queue.Queue()
        readers = [threading.Thread(target=_read_lines, args=(proc.stdout, lines.put),
                                    daemon=True, name="hpo-command-stdout"),
                   threading.Thread(target=_read_lines, args=(proc.stderr, tail.append, True),
                                    daemon=True, name="hpo-command-stderr")]
        for r in readers:
            r.start()
        try:
            exited_at = None
            while True:
                try:
                    line = lines.get(timeout=0.1)
                except queue.Empty:
                    # stdout may stay open in a background child of the command: one
                    # second after the command itself exited, its output is complete
                    if proc.poll() is not None:
                        exited_at = exited_at or time.monotonic()
                        if time.monotonic() - exited_at > 1.0:
                            break
                    continue
                if line is None:
                    break
                print(line, end="", flush=True)
                values = self._parse(line)
                if values is None:
                    continue
                last, n_lines = values[1], n_lines + 1
                step = values[0] if values[0] is not None else n_lines
                if len(self.metrics) == 1 and math.isfinite(last[0]):
                    trial.report(last[0], int(step))
                    if trial.should_prune():
                        raise optuna.TrialPruned(f"pruned at step {step}")
            code = proc.wait()
        finally:
            _end_group(proc)
            for r in readers:
                r.join(5)
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
        """(step, values) of a JSON line carrying every metric, or None for other lines.

        Raises:
            ValueError: a metric's value is not a number (``"0.25"`` and ``true`` are
                not; see :func:`hpo.objective.as_number`).
        """
        line = line.strip()
        if not line.startswith("{"):
            return None
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(obj, dict) or not all(m in obj for m in self.metrics):
            return None
        values = []
        for m in self.metrics:
            v = as_number(obj[m])
            if v is None:
                raise ValueError(f"metric {m!r} is {obj[m]!r} ({type(obj[m]).__name__}), not "
                                 f"a number, in the command's line {line!r}")
            values.append(v)
        return obj.get(self.step_key), values


def _read_lines(stream: Any, put: Callable[[Any], None], to_stderr: bool = False) -> None:
    """Pass each line of ``stream`` to ``put`` (stderr lines are also copied to ours);
    then None for stdout, so the reader knows it ended."""
    for line in stream:
        if to_stderr:
            print(line, end="", file=sys.stderr)
        put(line)
    if not to_stderr:
        put(None)
