"""Where a trial's objective runs: in the worker's thread, in a child process, or on Ray.

Every executor offers ``slots`` places to run trials and one call,
``run(slot, trial_id, stop) -> Outcome``, that blocks until the trial ends, dies, hits
its time limit or ``stop`` is set. The worker loop (:mod:`hpo.runner.loop`) is the same
for all of them.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import re
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from multiprocessing.connection import Connection
from typing import Any

from hpo.runner.execute import TrialSpec, execute
from hpo.runner.outcome import Outcome

__all__ = ["Executor", "InlineExecutor", "ProcessExecutor", "RayExecutor"]


def _signal_name(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


class Executor(ABC):
    """Runs trials of one study in ``slots`` parallel places."""

    def __init__(self, spec: TrialSpec, slots: int, trial_timeout: float | None) -> None:
        self.spec = spec
        self.slots = slots
        self.trial_timeout = trial_timeout

    @abstractmethod
    def run(self, slot: int, trial_id: int, stop: threading.Event) -> Outcome:
        """Run trial ``trial_id`` in ``slot``; block until it has an outcome."""

    @abstractmethod
    def close(self, *, now: bool = False) -> None:
        """Release processes and connections; ``now``: kill running trials at once, with
        no grace to stop (a second Ctrl-C or SIGTERM)."""


class InlineExecutor(Executor):
    """Runs the objective in the worker's own thread: no isolation, no overhead.

    For in-memory storages and cheap objectives. A crash takes the worker with it,
    and the per-trial time limit cannot be enforced.
    """

    def run(self, slot: int, trial_id: int, stop: threading.Event) -> Outcome:
        return execute(self.spec, trial_id)

    def close(self, *, now: bool = False) -> None:
        from hpo.runner.command import kill_commands

        kill_commands()  # commands of trials still running in the slots' threads


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this process when its parent dies, so that a
    SIGKILLed worker leaves no orphan writing to a trial that is being retried."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


def _on_sigterm(signum: int, frame: Any) -> None:
    """A trial's process told to stop: take the command objectives it runs along."""
    from hpo.runner.command import kill_commands

    kill_commands()
    os._exit(128 + signum)


def _child_main(conn: Connection, spec_bytes: bytes) -> None:
    """Body of a child process: run trials until the parent closes the pipe.

    The child leads a process group of its own, so that the terminal's Ctrl-C reaches
    only the sweep (which decides what to stop) and the sweep can kill the child with
    everything it started.
    """
    _die_with_parent()
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _on_sigterm)
    spec = pickle.loads(spec_bytes)
    while True:
        try:
            trial_id = conn.recv()
        except EOFError:
            return
        conn.send(execute(spec, trial_id, redirect=True))


class ProcessExecutor(Executor):
    """One long-lived child process per slot; a dead or timed-out child is replaced.

    A segfault, an out-of-memory kill or ``os._exit`` in a trial kills only its child:
    the trial is recorded as crashed and the next trial gets a fresh process. Each
    slot's child sees only its GPUs (``CUDA_VISIBLE_DEVICES``).

    Args:
        gpus: per slot, the GPU ids its child may see (``None``: leave the variable as
            it is; ``[]``: hide all GPUs).
        fresh_process: start a new child for every trial (no state leaks between
            trials, at ~1-2 s of start-up per trial).
    """

    _env_lock = threading.Lock()

    def __init__(self, spec: TrialSpec, slots: int, trial_timeout: float | None,
                 gpus: list[list[str] | None] | None = None, fresh_process: bool = False) -> None:
        if not isinstance(spec.storage, str):
            raise ValueError("storage: isolation='process' needs a storage URL that other "
                             "processes can open (sqlite:///..., postgresql://..., "
                             "journal:///..., redis://...), not an in-memory storage")
        super().__init__(spec, slots, trial_timeout)
        self._spec_bytes = pickle.dumps(spec)
        self._gpus = gpus or [None] * slots
        self._fresh = fresh_process
        self._children: list[tuple[mp.process.BaseProcess, Connection] | None] = [None] * slots
        self._started: list[mp.process.BaseProcess] = []  # those being stopped too
        self._ctx = mp.get_context("spawn")

    def _child(self, slot: int) -> tuple[mp.process.BaseProcess, Connection]:
        child = self._children[slot]
        if child is not None and child[0].is_alive():
            return child
        parent_conn, child_conn = self._ctx.Pipe()
        proc = self._ctx.Process(target=_child_main, args=(child_conn, self._spec_bytes),
                                 daemon=True, name=f"hpo-trial-slot-{slot}")
        gpus = self._gpus[slot]
        with self._env_lock:  # the child copies os.environ when it starts
            old = os.environ.get("CUDA_VISIBLE_DEVICES")
            if gpus is not None:
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
            try:
                proc.start()
            finally:
                if gpus is not None:
                    if old is None:
                        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                    else:
                        os.environ["CUDA_VISIBLE_DEVICES"] = old
        child_conn.close()
        self._children[slot] = (proc, parent_conn)
        self._started = [p for p in self._started if p.is_alive()] + [proc]
        return proc, parent_conn

    def _kill(self, slot: int) -> None:
        child = self._children[slot]
        self._children[slot] = None
        if child is None:
            return
        proc, conn = child
        conn.close()
        if proc.is_alive():
            proc.terminate()  # its handler kills the commands it runs, then exits
            proc.join(5)
        # the child if it is still there, and whatever it left in its process group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.join(5)

    def run(self, slot: int, trial_id: int, stop: threading.Event) -> Outcome:
        if stop.is_set():
            return Outcome("interrupted", reason="the sweep was stopped")
        proc, conn = self._child(slot)
        conn.send(trial_id)
        started = time.monotonic()
        try:
            while True:
                if conn.poll(0.05):
                    try:
                        outcome: Outcome = conn.recv()
                    except (EOFError, ConnectionError):
                        proc.join(5)
                        return Outcome("crash", reason="the trial's process died "
                                       f"({_signal_name(proc.exitcode)})")
                    if self._fresh:
                        self._kill(slot)
                    return outcome
                if not proc.is_alive():
                    return Outcome("crash", reason="the trial's process died "
                                   f"({_signal_name(proc.exitcode)})")
                if stop.is_set():
                    self._kill(slot)
                    return Outcome("interrupted", reason="the sweep was stopped")
                if self.trial_timeout is not None and \
                        time.monotonic() - started > self.trial_timeout:
                    self._kill(slot)
                    return Outcome("timeout", reason="killed at the time limit of "
                                   f"{self.trial_timeout:g} s per trial")
        except BaseException:
            self._kill(slot)
            raise

    def close(self, *, now: bool = False) -> None:
        if now:  # every child and its process group, those a slot is stopping included
            for proc in list(self._started):
                if proc.pid is not None and proc.is_alive():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
        for slot in range(self.slots):
            self._kill(slot)


def _ray_execute(spec_bytes: bytes, trial_id: int) -> Outcome:
    return execute(pickle.loads(spec_bytes), trial_id)


class RayExecutor(Executor):
    """Each trial is a Ray task with ``gpus_per_trial`` GPUs as a Ray resource.

    Args:
        address: passed to ``ray.init`` (``None``: a cluster found through
            ``RAY_ADDRESS``, or a new local instance; ``"auto"``: an existing one).
    """

    def __init__(self, spec: TrialSpec, slots: int, trial_timeout: float | None,
                 gpus_per_trial: float = 0.0, address: str | None = None,
                 cpus_per_trial: float = 1.0) -> None:
        if not isinstance(spec.storage, str):
            raise ValueError("storage: backend='ray' needs a storage URL that Ray workers can "
                             "open, not an in-memory storage")
        try:
            import ray
        except ImportError:
            raise ImportError("backend='ray' needs Ray: pip install 'hpo[ray]'") from None
        module = getattr(getattr(spec.objective, "fn", spec.objective), "__module__", None)
        if module == "__main__":
            raise ValueError("objective: backend='ray' needs the objective in an importable "
                             "module (Ray workers do not run your script): move it to a module "
                             "and use module:function, or use backend='local'")
        super().__init__(spec, slots, trial_timeout)
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            runtime_env: dict[str, Any] = {"env_vars": {"PYTHONPATH": os.pathsep.join(
                [*spec.sys_path, os.environ.get("PYTHONPATH", "")])}}
            ray.init(address=address, runtime_env=runtime_env, include_dashboard=False,
                     log_to_driver=False)
        self._remote = ray.remote(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial,
                                  max_retries=0)(_ray_execute)
        self._spec_ref = ray.put(pickle.dumps(spec))

    def run(self, slot: int, trial_id: int, stop: threading.Event) -> Outcome:
        ray = self._ray
        ref = self._remote.remote(self._spec_ref, trial_id)
        started = time.monotonic()
        while True:
            done, _ = ray.wait([ref], timeout=0.1)
            if done:
                try:
                    return ray.get(ref)
                except ray.exceptions.RayError as exc:
                    return Outcome("crash", reason=_ray_reason(exc))
            if stop.is_set():
                ray.cancel(ref, force=True)
                return Outcome("interrupted", reason="the sweep was stopped")
            if self.trial_timeout is not None and time.monotonic() - started > self.trial_timeout:
                ray.cancel(ref, force=True)
                return Outcome("timeout", reason="killed at the time limit of "
                               f"{self.trial_timeout:g} s per trial")

    def close(self, *, now: bool = False) -> None:
        if self._owns_ray:
            self._ray.shutdown()


def _ray_reason(exc: BaseException) -> str:
    """One readable line: the Ray error's kind and its last meaningful line, no colours."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    cause = lines[-1] if lines else type(exc).__name__
    return f"the Ray task died ({type(exc).__name__}): {cause}"[:500]
