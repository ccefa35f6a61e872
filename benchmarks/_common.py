"""What the benchmark scripts share: statistics over seeds, markdown tables, the
environment a run records (machine, versions, commit, date, command line) and the
writing of a marked section of a docs page.

Light on purpose (numpy is imported where a function needs it): several scripts pin
their thread counts before numpy or torch is first imported.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# -- statistics over seeds ------------------------------------------------------------------


def median(xs: Iterable[float]) -> float:
    """``statistics.median`` of ``xs``; NaN when there is none."""
    xs = list(xs)
    return statistics.median(xs) if xs else math.nan


def quartiles(x: Any, axis: int | None = None) -> tuple[Any, Any, Any]:
    """(median, 25th percentile, 75th percentile) with numpy's default (linear)
    interpolation; floats, or arrays along ``axis``."""
    import numpy as np

    m, (q1, q3) = np.median(x, axis=axis), np.percentile(x, [25, 75], axis=axis)
    if axis is None:
        return float(m), float(q1), float(q3)
    return m, q1, q3


def med_iqr(x: Any, fmt: Callable[[float], str]) -> str:
    """``median [25%, 75%]``, each number written by ``fmt``."""
    m, q1, q3 = quartiles(x)
    return f"{fmt(m)} [{fmt(q1)}, {fmt(q3)}]"


def med_range(xs: Iterable[float | None], fmt: str = "{:.4f}", sep: str = ", ") -> str:
    """``median [min, max]`` of the finite values of ``xs`` (``statistics.median``), each
    written by the format string ``fmt``; ``-`` when there is none."""
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return "-"
    return (f"{fmt.format(statistics.median(xs))} "
            f"[{fmt.format(min(xs))}{sep}{fmt.format(max(xs))}]")


# -- markdown tables ------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[Any]], *, align: str = "right") -> str:
    """A GitHub-markdown table that also reads well in a terminal: cells padded to the
    column width; ``align="right"`` right-aligns every column but the first (numbers),
    ``"left"`` left-aligns all."""
    cols = list(zip(headers, *rows, strict=False)) if rows else [(h,) for h in headers]
    widths = [max(len(str(c)) for c in col) for col in cols]
    right = [align == "right" and i > 0 for i in range(len(headers))]

    def line(cells: list[Any]) -> str:
        return "| " + " | ".join(str(c).rjust(widths[i]) if right[i] else str(c).ljust(widths[i])
                                 for i, c in enumerate(cells)) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if right[i] else ("-" * (w + 2))
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), sep, *[line(r) for r in rows]])


# -- the environment of a run -----------------------------------------------------------------


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def command_line() -> str:
    """This process's command line as typed at the repository root:
    ``python -m benchmarks.NAME ARGS`` (or ``python PATH ARGS`` for a script)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        head = ["-m", spec.name.removesuffix(".__main__")]
    else:
        head = [sys.argv[0]]
        with contextlib.suppress(ValueError):
            head = [os.path.relpath(sys.argv[0], ROOT)]
    return "python " + " ".join(shlex.quote(a) for a in [*head, *sys.argv[1:]])


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def machine() -> str:
    """CPU model, logical and usable cores, operating system and architecture."""
    return (f"{cpu_model()}, {os.cpu_count()} logical cores ({usable_cores()} usable), "
            f"{platform.system()} {platform.machine()}")


def machine_short() -> str:
    """The shorter form the learning-curve benchmarks record: ``x86_64, 2 cores``."""
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def versions(packages: Iterable[str], missing: str | None = "-") -> dict[str, str | None]:
    """Installed version of each distribution, ``missing`` for those not installed."""
    out: dict[str, str | None] = {}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = missing
    return out


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5,
                             cwd=ROOT)
    except Exception:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_rev() -> str | None:
    """Short hash of the checkout's HEAD; None outside a git checkout."""
    return _git("rev-parse", "--short", "HEAD") or None


def hpo_dirty() -> bool:
    """Whether ``hpo/`` has uncommitted changes (the figures may not be HEAD's)."""
    return bool(_git("status", "--porcelain", "--", str(ROOT / "hpo")))


def environment(packages: Iterable[str]) -> dict[str, Any]:
    """The record the learning-curve benchmarks keep in their results files (and
    render with :func:`env_lines`)."""
    return {"date": now(), "command": command_line(), "git": git_rev(),
            "machine": machine_short(), "python": platform.python_version(),
            "versions": versions(packages, missing=None)}


def env_lines(env: dict[str, Any], machine_note: str = "", with_versions: bool = True
              ) -> list[str]:
    """The ``- command/date/machine/versions`` lines of a section, from :func:`environment`'s
    record (as stored in a results file)."""
    lines = [f"- command: `{env['command']}`", f"- date: {env['date']}",
             f"- machine: {env['machine']}{machine_note}"]
    if with_versions:
        v = ", ".join(f"{k} {x}" for k, x in env["versions"].items() if x)
        lines.append(f"- versions: python {env['python']}, {v}, git {env['git']}")
    return lines


# -- docs sections ----------------------------------------------------------------------------


def write_section(doc: Path, name: str, body: str, header: str = "") -> None:
    """Replace the block between ``<!-- name:start -->`` and ``<!-- name:end -->`` of
    ``doc`` by ``body`` (appended if absent; a new file starts with ``header``); the rest
    of the file is left alone. Locked, as other benchmarks write other sections."""
    import fcntl

    doc.parent.mkdir(parents=True, exist_ok=True)
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    with open(doc, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        text = fh.read() or header
        pat = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if pat.search(text):
            text = pat.sub(lambda _m: block, text, count=1)
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        fh.seek(0)
        fh.truncate()
        fh.write(text if text.endswith("\n") else text + "\n")
