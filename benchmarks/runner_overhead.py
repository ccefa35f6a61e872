"""Scheduling overhead of hpo's runner: trials per second for a trivial objective.

The objective (``runner_objective.objective``) suggests one uniform float and returns its
square, with Optuna's ``RandomSampler``, so that every second is spent in the runner and
the storage. For 1, 2 and 4 workers and each storage (an SQLite file, a journal file,
PostgreSQL) it times

- ``hpo-process``: ``hpo.run(isolation="process")``, one long-lived child process per
  worker (the default),
- ``hpo-thread``: ``hpo.run(isolation="none")``, trials in the worker threads,
- ``optuna``: Optuna's ``study.optimize(objective, n_trials, n_jobs=k)`` on the same
  storage (the reference of the ratios),
- ``ray-tune``: ``ray.tune.Tuner`` with ``OptunaSearch(RandomSampler)`` and
  ``max_concurrent_trials=k`` on a function trainable; Tune keeps its own state (files
  in a temporary directory), so it is timed once per worker count, not per storage,
- ``hpo-ray``: ``hpo.run(backend="ray")``, each trial a Ray task.

Each point is a fresh study (a fresh file for SQLite and the journal) of ``--trials``
trials. Two rates: ``total`` = trials / wall time of the whole call (process start-up,
study creation and shut-down included) and ``steady`` = trials completed after the
k-th completion / the time between the k-th and the last completion (start-up
excluded, taken from the trials' completion times). Ray's own start-up (``ray.init``)
is timed once and excluded from both.

    python -m benchmarks.runner_overhead                       # everything, ~10 min
    python -m benchmarks.runner_overhead --quick               # smoke test, < 2 min
    python -m benchmarks.runner_overhead --workers 1,2 --storages sqlite,journal \\
        --systems hpo-process,optuna --trials 60

The full run prints its tables, writes ``docs/img/runner_overhead.png`` and replaces its
section of ``docs/benchmarks.md`` (between ``<!-- runner-overhead:start -->`` and
``<!-- runner-overhead:end -->``); ``--quick`` writes both into a temporary directory
unless ``--doc`` / ``--png`` say otherwise. PostgreSQL: ``$HPO_TEST_POSTGRES_URL``,
default ``postgresql://postgres@127.0.0.1:5432/test``; its studies are deleted afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks._common import (
    command_line,
    git_rev,
    machine,
    median,
    now,
    table,
    versions,
    write_section,
)

ROOT = Path(__file__).resolve().parents[1]

SECTION = "runner-overhead"
POSTGRES_URL = os.environ.get("HPO_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
STORAGES = ("sqlite", "journal", "postgresql")
SYSTEMS = {
    "hpo-process": "hpo.run, isolation='process'",
    "hpo-thread": "hpo.run, isolation='none'",
    "optuna": "Optuna optimize(n_jobs=k)",
    "ray-tune": "Ray Tune (own storage)",
    "hpo-ray": "hpo.run, backend='ray'",
}
REFERENCE = "optuna"
RAY_SYSTEMS = ("ray-tune", "hpo-ray")
STORAGE_LABELS = {"sqlite": "SQLite file", "journal": "journal file",
                  "postgresql": "PostgreSQL", "tune": "Tune's own"}
DOC_HEADER = "# Benchmarks\n"


# -- one point ---------------------------------------------------------------------------


def _unique(system: str, storage: str, k: int) -> str:
    return f"bench-overhead-{system}-{storage}-{k}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _url(storage: str, tmp: Path, name: str) -> str:
    if storage == "sqlite":
        return f"sqlite:///{tmp / (name + '.db')}"  # absolute path: four slashes
    if storage == "journal":
        return f"journal:///{tmp / (name + '.log')}"
    if storage == "postgresql":
        return POSTGRES_URL
    raise ValueError(f"storage: {storage!r} is not one of {STORAGES}")


def _rates(t0: float, wall: float, done: list[float], k: int, n: int) -> dict[str, Any]:
    """Total and steady-state rates from the start time and the completion times."""
    done = sorted(done)
    out: dict[str, Any] = {"wall": wall, "completed": len(done), "failed": n - len(done),
                           "total": len(done) / wall if wall > 0 else None,
                           "first": done[0] - t0 if done else None, "steady": None}
    if len(done) > k and done[-1] > done[k - 1]:
        out["steady"] = (len(done) - k) / (done[-1] - done[k - 1])
    return out


def _completion_times(study: Any) -> list[float]:
    from optuna.trial import TrialState

    return [t.datetime_complete.timestamp() for t in study.get_trials(deepcopy=False)
            if t.state == TrialState.COMPLETE and t.datetime_complete is not None]


def _delete(name: str, url: str) -> None:
    import optuna

    from hpo.storages import resolve_storage

    with contextlib.suppress(Exception):
        optuna.delete_study(study_name=name, storage=resolve_storage(url))


def run_hpo(system: str, storage: str, k: int, n: int, tmp: Path,
            objective: str = "decorated") -> dict[str, Any]:
    import optuna

    import hpo
    from benchmarks.runner_objective import OBJECTIVES

    isolation = "none" if system == "hpo-thread" else "process"
    backend = "ray" if system == "hpo-ray" else "local"
    name = _unique(system, storage, k)
    url = _url(storage, tmp, name)
    try:
        t0 = time.time()
        study = hpo.run(OBJECTIVES[objective], storage=url, study_name=name, n_trials=n, workers=k,
                        isolation=isolation, backend=backend, direction="minimize",
                        sampler=optuna.samplers.RandomSampler(seed=0), progress=False)
        wall = time.time() - t0
        return _rates(t0, wall, _completion_times(study), k, n)
    finally:
        if storage == "postgresql":
            _delete(name, url)


def run_optuna(storage: str, k: int, n: int, tmp: Path,
               objective: str = "decorated") -> dict[str, Any]:
    import optuna

    from benchmarks.runner_objective import OBJECTIVES
    from hpo.storages import resolve_storage

    name = _unique("optuna", storage, k)
    url = _url(storage, tmp, name)
    # the same storage object hpo opens for the URL (an Optuna RDBStorage / JournalStorage)
    store = resolve_storage(url)
    try:
        t0 = time.time()
        study = optuna.create_study(storage=store, study_name=name, direction="minimize",
                                    sampler=optuna.samplers.RandomSampler(seed=0))
        study.optimize(OBJECTIVES[objective], n_trials=n, n_jobs=k)
        wall = time.time() - t0
        return _rates(t0, wall, _completion_times(study), k, n)
    finally:
        if storage == "postgresql":
            _delete(name, url)


def run_tune(k: int, n: int, tmp: Path) -> dict[str, Any]:
    import optuna
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from benchmarks.runner_objective import tune_trainable

    name = _unique("ray-tune", "tune", k)
    t0 = time.time()
    search = OptunaSearch(metric="loss", mode="min",
                          sampler=optuna.samplers.RandomSampler(seed=0))
    tuner = tune.Tuner(
        tune_trainable, param_space={"x": tune.uniform(-1.0, 1.0)},
        tune_config=tune.TuneConfig(search_alg=search, num_samples=n,
                                    max_concurrent_trials=k, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp / "tune"), name=name, verbose=0))
    results = tuner.fit()
    wall = time.time() - t0
    done = [r.metrics["done_at"] for r in results
            if r.error is None and r.metrics and "done_at" in r.metrics]
    return _rates(t0, wall, done, k, n)


_ray_started: float | None = None


def start_ray(max_workers: int) -> float:
    """Start a local Ray instance once, with a CPU per worker (logical CPUs: the machine
    may have fewer cores) and the repository root (``benchmarks``) on the workers' path; its
    start-up time."""
    global _ray_started
    if _ray_started is None:
        import ray

        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # quiet Tune's console
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        t = time.time()
        ray.init(num_cpus=max(max_workers, 1), include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path}})
        _ray_started = time.time() - t
    return _ray_started


def stop_ray() -> None:
    if _ray_started is not None:
        import ray

        ray.shutdown()


def measure(system: str, storage: str, k: int, n: int, tmp: Path,
            objective: str = "decorated") -> dict[str, Any]:
    if system == "optuna":
        return run_optuna(storage, k, n, tmp, objective)
    if system == "ray-tune":
        return run_tune(k, n, tmp)
    return run_hpo(system, storage, k, n, tmp, objective)


# -- the whole benchmark -----------------------------------------------------------------


def postgres_ok() -> str | None:
    """None if PostgreSQL answers, else why not."""
    try:
        import sqlalchemy

        eng = sqlalchemy.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(sqlalchemy.text("select 1"))
        eng.dispose()
    except Exception as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"
    return None


def plan(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """(system, storage, workers) points; non-Ray systems first, interleaved per point so
    that they see the same load, then the Ray ones (Ray's daemons use CPU while up)."""
    points = []
    for ray_phase in (False, True):
        if ray_phase and not any(s in RAY_SYSTEMS for s in args.systems):
            continue
        for k in args.workers:
            if ray_phase and "ray-tune" in args.systems:
                points.append(("ray-tune", "tune", k))
            for storage in args.storages:
                for system in args.systems:
                    if (system in RAY_SYSTEMS) == ray_phase and system != "ray-tune":
                        points.append((system, storage, k))
    return points


def run_all(args: argparse.Namespace, tmp: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    info: dict[str, Any] = {"load_before": os.getloadavg()}
    results: list[dict[str, Any]] = []
    points = plan(args)
    try:
        for i, (system, storage, k) in enumerate(points, 1):
            n = args.tune_trials if system == "ray-tune" else args.trials
            if system in RAY_SYSTEMS:
                info["ray_init"] = start_ray(max(args.workers))
            reps = []
            for _ in range(args.repeats):
                try:
                    reps.append(measure(system, storage, k, n, tmp, args.objective))
                except Exception as e:
                    reps.append({"error": f"{type(e).__name__}: {str(e).splitlines()[0]}"[:300]})
            row = _median(reps)
            row.update(system=system, storage=storage, workers=k, trials=n)
            results.append(row)
            print(f"[{i}/{len(points)}] {_describe(row)}", flush=True)
    finally:
        stop_ray()
    info["load_after"] = os.getloadavg()
    return results, info


def _median(reps: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in reps if "error" not in r]
    if not ok:
        return dict(reps[0])
    out = dict(ok[len(ok) // 2])
    for key in ("wall", "total", "first", "steady"):
        vals = [r[key] for r in ok if r.get(key) is not None]
        out[key] = median(vals) if vals else None
    out["repeats"] = len(ok)
    return out


def _describe(r: dict[str, Any]) -> str:
    head = f"{r['system']:<11} {r['storage']:<10} k={r['workers']}: "
    if "error" in r:
        return head + "ERROR " + r["error"]
    return head + (f"{r['trials']} trials in {r['wall']:.2f} s, total {_f(r['total'])}/s, "
                   f"steady {_f(r['steady'])}/s, first after {_f(r['first'])} s"
                   + (f", {r['failed']} not complete" if r["failed"] else ""))


def _f(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


# -- tables, figure, document ------------------------------------------------------------


def _rows(results: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(system, storage) rows in the order of SYSTEMS and STORAGES."""
    seen = {(r["system"], r["storage"]) for r in results}
    order = [(s, st) for s in SYSTEMS for st in (*STORAGES, "tune") if (s, st) in seen]
    return order


def _get(results: list[dict[str, Any]], system: str, storage: str, k: int) -> dict | None:
    for r in results:
        if (r["system"], r["storage"], r["workers"]) == (system, storage, k):
            return r
    return None


def _ref_storage(storage: str, storages: list[str]) -> str:
    # Tune keeps its own state: compare it with Optuna on the first storage benchmarked
    return storages[0] if storage == "tune" else storage


def tables(results: list[dict[str, Any]], workers: list[int], storages: list[str]) -> str:
    rows = _rows(results)
    label = [f"{SYSTEMS[s]} / {STORAGE_LABELS[st]}" for s, st in rows]
    out = []
    for key, title in (("total", "trials/s, whole call"), ("steady", "trials/s, steady")):
        body = []
        for lab, (s, st) in zip(label, rows, strict=True):
            cells = []
            for k in workers:
                r = _get(results, s, st, k)
                cells.append("error" if r is not None and "error" in r
                             else _f(r.get(key) if r else None))
            body.append([lab, *cells])
        out.append(table([title, *(f"k={k}" for k in workers)], body))
    for key, title in (("total", "ratio to Optuna, whole call"),
                       ("steady", "ratio to Optuna, steady")):
        body = []
        for lab, (s, st) in zip(label, rows, strict=True):
            if s == REFERENCE:
                continue
            cells = []
            for k in workers:
                r = _get(results, s, st, k)
                ref = _get(results, REFERENCE, _ref_storage(st, storages), k)
                v = r.get(key) if r else None
                rv = ref.get(key) if ref else None
                cells.append(f"{v / rv:.2f}x" if v and rv else "-")
            body.append([lab, *cells])
        if body:
            out.append(table([title, *(f"k={k}" for k in workers)], body))
    body = []
    for lab, (s, st) in zip(label, rows, strict=True):
        cells = []
        for k in workers:
            r = _get(results, s, st, k)
            cells.append(f"{_f(r.get('first'), 2)} / {_f(r.get('wall'), 1)}"
                         if r and "error" not in r else "-")
        body.append([lab, *cells])
    out.append(table(["s to first trial / s in all", *(f"k={k}" for k in workers)], body))
    errors = [r for r in results if "error" in r or r.get("failed")]
    if errors:
        out.append("\n".join(f"- {_describe(r)}" for r in errors))
    return "\n\n".join(out)


def findings(results: list[dict[str, Any]], workers: list[int], storages: list[str]) -> list[str]:
    """Per-trial costs derived from the steady rates at one worker."""
    lines = []
    k = 1 if 1 in workers else workers[0]

    def ms(system: str, storage: str) -> float | None:
        r = _get(results, system, storage, k)
        return 1000.0 / r["steady"] if r and r.get("steady") else None

    for st in storages:
        o, t, p, ry = (ms(s, st) for s in ("optuna", "hpo-thread", "hpo-process", "hpo-ray"))
        parts = []
        if o is not None:
            parts.append(f"Optuna {o:.1f} ms/trial")
        if t is not None:
            parts.append(f"hpo threads {t:.1f} ms" + (f" ({t - o:+.1f} ms: the loop's "
                                                       "extra storage calls)" if o else ""))
        if p is not None:
            parts.append(f"hpo processes {p:.1f} ms" + (f" ({p - t:+.1f} ms over threads: "
                                                         "the pipe and the child's own "
                                                         "storage connection)" if t else ""))
        if ry is not None:
            parts.append(f"hpo on Ray {ry:.1f} ms")
        if parts:
            lines.append(f"{STORAGE_LABELS[st]}, k={k}, steady: " + "; ".join(parts))
    starts = [r["first"] for r in results
              if r["system"] == "hpo-process" and r.get("first") is not None]
    if starts:
        lines.append(f"hpo-process start-up (call to first completed trial): "
                     f"{min(starts):.1f}-{max(starts):.1f} s, mostly the child's "
                     "`import hpo` (torch)")
    return lines


def plot(results: list[dict[str, Any]], workers: list[int], storages: list[str],
         path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"hpo-process": "C0", "hpo-thread": "C1", "optuna": "C2", "ray-tune": "C7",
              "hpo-ray": "C3"}
    fig, axes = plt.subplots(1, len(storages), figsize=(4.2 * len(storages), 4.0),
                             sharey=True, squeeze=False)
    for ax, st in zip(axes[0], storages, strict=True):
        for system in SYSTEMS:
            sto = "tune" if system == "ray-tune" else st
            for key, style in (("steady", "-"), ("total", ":")):
                xs, ys = [], []
                for k in workers:
                    r = _get(results, system, sto, k)
                    if r and r.get(key):
                        xs.append(k)
                        ys.append(r[key])
                if xs:
                    ax.plot(xs, ys, style, marker="o" if key == "steady" else ".",
                            color=colors[system],
                            label=SYSTEMS[system] if key == "steady" else None)
        ax.set_title(STORAGE_LABELS[st])
        ax.set_xlabel("workers k")
        ax.set_xticks(workers)
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("trials/s (solid: steady, dotted: whole call)")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _postgres_version() -> str:
    try:
        import sqlalchemy

        eng = sqlalchemy.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            v = c.execute(sqlalchemy.text("show server_version")).scalar()
        eng.dispose()
        return str(v).split()[0]
    except Exception:
        return "-"


def section(args: argparse.Namespace, results: list[dict[str, Any]], info: dict[str, Any],
            png: Path, doc: Path) -> str:
    import sqlite3

    vs = ", ".join(
        [f"python {platform.python_version()}"]
        + [f"{d} {v}" for d, v in versions(("hpo", "optuna", "ray", "sqlalchemy",
                                             "psycopg2-binary")).items()]
        + [f"sqlite {sqlite3.sqlite_version}"]
        + ([f"PostgreSQL server {_postgres_version()}"] if "postgresql" in args.storages
           else [])
        + [f"git {git_rev() or 'unknown'}"])
    la, lb = info["load_before"], info["load_after"]
    lines = [
        "## Runner: scheduling overhead",
        "",
        f"- command: `{info.get('command') or command_line()}`",
        f"- date: {info.get('date') or now()}",
        f"- machine: {machine()}; shared with other jobs: load average "
        f"{la[0]:.1f} before, {lb[0]:.1f} after (1 min)",
        f"- versions: {vs}",
        "- setting: objective "
        + ("`@hpo.objective def f(x=hpo.uniform(-1, 1)): return x * x` (the declared space "
           "is sampled by hpo's worker loop, by Optuna in its worker thread)"
           if args.objective == "decorated" else
           "`x = trial.suggest_float('x', -1, 1); return x * x` (sampled in the worker)")
        + f" (`benchmarks/runner_objective.py`), `RandomSampler(seed=0)`, {args.trials} trials "
        f"per point ({args.tune_trials} for Ray Tune), one fresh study per point (a fresh "
        "file for SQLite and the journal), median of "
        f"{args.repeats} run(s); k = workers (hpo), `n_jobs` (Optuna), "
        "`max_concurrent_trials` (Tune)",
        "- rates: *whole call* = trials / wall time of the call (study creation, process "
        "start-up and shut-down included); *steady* = trials completed after the k-th "
        "completion / time from the k-th to the last completion (from the trials' "
        "completion times), i.e. with start-up excluded",
        "- Ray: one local instance for both Ray systems, started once with "
        f"`num_cpus={max(args.workers)}` (logical CPUs, so that k trials run at once on "
        "this machine)"
        + (f"; `ray.init` took {info['ray_init']:.1f} s, not counted" if "ray_init" in info
           else "")
        + "; Ray Tune uses `OptunaSearch(RandomSampler)`, a function trainable, "
        "`reuse_actors=True` and keeps its state in its own files (no Optuna storage), so "
        f"its ratios are against Optuna on {STORAGE_LABELS[args.storages[0]]}",
        "",
        f"![runner overhead]({os.path.relpath(png, doc.parent)})",
        "",
        tables(results, args.workers, args.storages),
    ]
    found = findings(results, args.workers, args.storages)
    if found:
        lines += ["", "Per-trial cost (1 / steady rate):", "", *(f"- {x}" for x in found)]
    lines += [
        "",
        "Reading the figures:",
        "",
        "- the objective costs nothing, so these rates are upper bounds set by the storage "
        "(each write is a commit: SQLite and the journal file fsync, PostgreSQL commits over "
        "a socket) and the runner's bookkeeping; for trials of seconds or more the "
        "differences vanish",
        f"- {args.repeats} run(s) per point on a shared, loaded machine: differences under "
        "about 30% between two systems are within the noise",
        "- Ray's worker processes are reused from point to point, so only the first Ray "
        "point at each k pays their start-up (importing hpo in the worker)",
        "- Tune's steady rate comes from timestamps taken inside the trainable, over few "
        "trials: treat it as rough; its whole-call rate includes setting up the experiment",
    ]
    return "\n".join(lines)


# -- command line ------------------------------------------------------------------------


def _list(kind: str, allowed: tuple[str, ...] | None = None):
    def parse(text: str) -> list:
        items = [x.strip() for x in text.split(",") if x.strip()]
        if allowed is None:
            try:
                vals = [int(x) for x in items]
            except ValueError:
                raise argparse.ArgumentTypeError(f"{kind}: integers, e.g. 1,2,4") from None
            if not vals or min(vals) < 1:
                raise argparse.ArgumentTypeError(f"{kind}: integers >= 1, e.g. 1,2,4")
            return sorted(set(vals))
        bad = [x for x in items if x not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{kind}: {bad or text!r} not among "
                                             f"{','.join(allowed)}")
        return list(dict.fromkeys(items))
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=_list("workers"), default=None, help="default 1,2,4")
    p.add_argument("--storages", type=_list("storages", STORAGES), default=None,
                   help=f"among {','.join(STORAGES)} (default: all)")
    p.add_argument("--systems", type=_list("systems", tuple(SYSTEMS)), default=None,
                   help=f"among {','.join(SYSTEMS)} (default: all)")
    p.add_argument("--trials", type=int, default=None, help="trials per point (default 100)")
    p.add_argument("--tune-trials", type=int, default=None,
                   help="trials per Ray Tune point (default 40: Tune is slow)")
    p.add_argument("--objective", choices=("decorated", "plain"), default="decorated",
                   help="decorated: @hpo.objective with a declared space, sampled by the "
                        "worker loop (default); plain: trial.suggest_float inside the "
                        "objective, the Optuna way")
    p.add_argument("--repeats", type=int, default=1, help="runs per point; the median counts")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 20 trials, workers 1,2, SQLite and journal, no Ray; "
                        "outputs go to a temporary directory")
    p.add_argument("--doc", type=Path, default=None,
                   help="markdown file whose section is replaced (default docs/benchmarks.md)")
    p.add_argument("--png", type=Path, default=None,
                   help="figure (default docs/img/runner_overhead.png)")
    p.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    p.add_argument("--replot", type=Path, default=None, metavar="JSON",
                   help="measure nothing: redraw the figure and the section from --json output")
    a = p.parse_args(argv)
    quick_dir = Path(tempfile.mkdtemp(prefix="runner-overhead-quick-")) if a.quick else None
    a.workers = a.workers or ([1, 2] if a.quick else [1, 2, 4])
    a.storages = a.storages or (["sqlite", "journal"] if a.quick else list(STORAGES))
    a.systems = a.systems or (["hpo-process", "hpo-thread", "optuna"] if a.quick
                              else list(SYSTEMS))
    a.trials = a.trials or (20 if a.quick else 100)
    a.tune_trials = a.tune_trials or (10 if a.quick else 40)
    if a.trials < 1 or a.tune_trials < 1 or a.repeats < 1:
        p.error("--trials, --tune-trials and --repeats must be >= 1")
    a.doc = a.doc or ((quick_dir / "benchmarks.md") if quick_dir else ROOT / "docs" /
                      "benchmarks.md")
    a.png = a.png or ((quick_dir / "img" / "runner_overhead.png") if quick_dir else
                      ROOT / "docs" / "img" / "runner_overhead.png")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "postgresql" in args.storages and (why := postgres_ok()) is not None:
        print(f"PostgreSQL at {POSTGRES_URL} does not answer ({why}); skipping it",
              file=sys.stderr)
        args.storages = [s for s in args.storages if s != "postgresql"]
        if not args.storages:
            return 1
    if args.replot:  # figures of an earlier run, with its settings
        saved = json.loads(args.replot.read_text())
        results, info = saved["results"], saved["info"]
        for key, val in saved["settings"].items():
            setattr(args, key, val)
    else:
        started = time.time()
        info = {"command": command_line(), "date": now()}
        with tempfile.TemporaryDirectory(prefix="runner-overhead-") as tmp:
            results, more = run_all(args, Path(tmp))
        info.update(more)
        print(f"\n{len(results)} points in {time.time() - started:.0f} s\n")
    print(tables(results, args.workers, args.storages))
    for line in findings(results, args.workers, args.storages):
        print("-", line)
    title = (f"{args.trials} trivial trials ({args.tune_trials} for Tune), "
             f"{os.cpu_count()} cores, {_dt.date.today()}")
    plot(results, args.workers, args.storages, args.png, title)
    write_section(args.doc, SECTION, section(args, results, info, args.png, args.doc),
                  DOC_HEADER)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: getattr(args, k) for k in ("workers", "storages", "systems", "trials",
                                                    "tune_trials", "repeats", "objective")}
        args.json.write_text(json.dumps({"settings": settings, "info": info,
                                         "results": results}, indent=1))
    print(f"\nwrote {args.png} and the {SECTION!r} section of {args.doc}")
    return 0 if not any("error" in r for r in results) else 2


if __name__ == "__main__":
    sys.exit(main())
