"""Run one shell command so that nothing it starts outlives the trial (stdlib only).

``python -I -S _supervise.py PARENT_PID COMMAND``: this process leads a process group
of its own, in which the shell command runs. When the process that started it (the
trial's process) dies, even by SIGKILL, the kernel sends this one SIGTERM
(``PR_SET_PDEATHSIG``, Linux); on SIGTERM, from there or from the runner, the command
gets a few seconds to exit, then the whole group is killed. The exit status is the
command's (128 + n for a signal n).
"""

import os
import signal
import subprocess
import sys
import time

GRACE = 3.0  # seconds a stopped command has to exit (e.g. to save a checkpoint)


def _die_with(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before prctl took effect
        os.killpg(0, signal.SIGKILL)


def main() -> int:
    parent, command = int(sys.argv[1]), sys.argv[2]
    stop_at: list[float] = []

    def on_term(signum: int, frame: object) -> None:
        if not stop_at:
            stop_at.append(time.monotonic())
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            os.killpg(0, signal.SIGTERM)  # the command too, if only this process got it

    signal.signal(signal.SIGTERM, on_term)
    _die_with(parent)
    proc = subprocess.Popen(command, shell=True)  # in this process group
    while True:
        try:
            code = proc.wait(0.1)
            break
        except subprocess.TimeoutExpired:
            if stop_at and time.monotonic() - stop_at[0] > GRACE:
                os.killpg(0, signal.SIGKILL)  # this process too
    if stop_at:
        os.killpg(0, signal.SIGKILL)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
