"""Multi-fidelity schedulers on the learning-curve ground (simulated workers, real curves).

Every system runs on every problem of the ground (``benchmarks/lcground``) with 4
simulated workers on a simulated clock until it has consumed ``--budget`` x
max_resource units (epochs) of training; the incumbent is the best configuration that
reached max_resource, its regret the distance to the table's (function's) best value at
max_resource.  Systems:

* stop-only peers: Optuna ``RandomSampler`` + ``SuccessiveHalvingPruner``, Optuna
  ``TPESampler`` + ``HyperbandPruner``, Syne Tune ``ASHA`` (stopping, random searcher);
* DEHB (``dehb`` package; retrains every job from zero) and plain random search at full
  budget;
* hpo's schedulers, picked up by name from ``hpo.samplers`` when they exist (``ASHA``,
  ``SuccessiveHalving``, ``Hyperband``, ``IDHB``, ``OneEpoch``); a missing class is
  skipped with a note.

    python -m benchmarks.schedulers_bench --quick          # smoke run, < 2 min
    python -m benchmarks.schedulers_bench                  # 10 seeds, every problem
    python -m benchmarks.schedulers_bench run --seeds 10 --problems mlp-digits,mf-hartmann6 \
        --systems hpo-asha,optuna-random-sha --jobs 2
    python -m benchmarks.schedulers_bench overhead         # per-decision cost at ~1000 trials
    python -m benchmarks.schedulers_bench deepen           # IDHB 16 -> 32 vs Hyperband at 32
    python -m benchmarks.schedulers_bench report           # tables/plots/doc again from the json

Writes ``benchmarks/results/schedulers.json`` (``schedulers_overhead.json``) and one plot
per problem, ``docs/img/schedulers_<problem>.png``; prints the tables (markdown).  Not part
of the ``hpo`` package, which never imports it.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import inspect
import json
import logging
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from benchmarks import _common
from benchmarks import lcground as lc
from benchmarks._common import med_iqr, quartiles
from benchmarks.lcground.peers import DEHBPolicy, SMACPolicy, SyneTuneASHA
from benchmarks.lcground.peers import available as peers_available

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results"
IMG = ROOT / "docs" / "img"
DEFAULT_PROBLEMS = ("mlp-digits", "mlp-synth", "mlp-breast", "mlp-diabetes", "ppo-cartpole",
                    "mf-hartmann6", "mf-branin")
STOP_ONLY = ("optuna-random-sha", "optuna-tpe-hyperband", "syne-asha")

# hpo's schedulers: system name -> (class in hpo.samplers, label, extra kwargs)
HPO_SYSTEMS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "hpo-asha": ("ASHA", "hpo ASHA", {}),
    "hpo-sha": ("SuccessiveHalving", "hpo SuccessiveHalving", {}),
    "hpo-hyperband": ("Hyperband", "hpo Hyperband", {}),
    "hpo-idhb": ("IDHB", "hpo IDHB", {}),
    "hpo-oneepoch": ("OneEpoch", "hpo OneEpoch", {}),
    # the same schedulers with TPE proposing new configurations (as Optuna TPE + HB pruner)
    "hpo-asha-tpe": ("ASHA", "hpo ASHA + TPE", {"searcher": "tpe"}),
    "hpo-hyperband-tpe": ("Hyperband", "hpo Hyperband + TPE", {"searcher": "tpe"}),
    # multi-fidelity GP (learning-curve model) as searcher, and freeze-thaw
    "hpo-asha-mfgp": ("ASHA", "hpo ASHA + MF-GP", {"searcher": "mfgp"}),
    "hpo-hyperband-mfgp": ("Hyperband", "hpo Hyperband + MF-GP", {"searcher": "mfgp"}),
    "hpo-freezethaw": ("FreezeThaw", "hpo FreezeThaw", {}),
    # ablations: the GP of one rung's values (GPSampler), EI at the highest rung, EI per
    # predicted second (cost="time") instead of per unit of resource
    "hpo-asha-gp": ("ASHA", "hpo ASHA + GP (one rung)", {"searcher": "gp"}),
    "hpo-asha-mfgp-highest": ("ASHA", "hpo ASHA + MF-GP (highest rung)",
                              {"searcher": "mfgp-highest"}),
    "hpo-asha-mfgp-time": ("ASHA", "hpo ASHA + MF-GP (time cost)", {"searcher": "mfgp-time"}),
    "hpo-hyperband-mfgp-time": ("Hyperband", "hpo Hyperband + MF-GP (time cost)",
                                {"searcher": "mfgp-time"}),
    "hpo-freezethaw-time": ("FreezeThaw", "hpo FreezeThaw (time cost)",
                            {"searcher": "mfgp-time"}),
}
LABELS = {"optuna-random-sha": "Random + SHA pruner", "optuna-tpe-hyperband": "TPE + HB pruner",
          "optuna-random": "Random (full budget)", "syne-asha": "Syne Tune ASHA",
          "syne-bohb": "Syne Tune BOHB", "syne-asha-bore": "Syne Tune ASHA-BORE",
          "dehb": "DEHB", "smac-mf": "SMAC3 multi-fidelity (RF + Hyperband)",
          **{k: v[1] for k, v in HPO_SYSTEMS.items()}}
ALL_SYSTEMS = ("optuna-random-sha", "optuna-tpe-hyperband", "optuna-random", "syne-asha",
               "syne-bohb", "syne-asha-bore", "dehb", "smac-mf", *HPO_SYSTEMS)

_problems: dict[tuple[str, int | None], lc.Problem] = {}


def problem(name: str, table_seed: int | None = None) -> lc.Problem:
    """A problem of the ground; ``table_seed`` replays that seed's curves of a table
    (noisy values) instead of the seed-mean (synthetic problems have no seeds)."""
    if name in lc.problems.SYNTHETIC:
        table_seed = None
    key = (name, table_seed)
    if key not in _problems:
        kw = {} if table_seed is None else {"seed": table_seed}
        _problems[key] = lc.get_problem(name, **kw)
    return _problems[key]


def _hpo_class(cls_name: str) -> type | None:
    try:
        import hpo.samplers as hs
    except ImportError:
        return None
    return getattr(hs, cls_name, None)


def _kwargs_for(cls: type, kw: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``kw`` the constructor accepts (the schedulers' options may differ)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return kw
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return kw
    return {k: v for k, v in kw.items() if k in params}


def make_policy(system: str, p: lc.Problem, seed: int) -> lc.Policy:
    rmin, R, eta = p.min_resource, p.max_resource, p.reduction_factor
    name = f"{system}-{p.name}-{seed}"
    if system == "optuna-random-sha":
        return lc.OptunaPolicy(p, optuna.samplers.RandomSampler(seed=seed),
                               optuna.pruners.SuccessiveHalvingPruner(
                                   min_resource=rmin, reduction_factor=eta),
                               name=LABELS[system], study_name=name)
    if system == "optuna-tpe-hyperband":
        return lc.OptunaPolicy(p, optuna.samplers.TPESampler(seed=seed),
                               optuna.pruners.HyperbandPruner(
                                   min_resource=rmin, max_resource=R, reduction_factor=eta),
                               name=LABELS[system], study_name=name)
    if system == "optuna-random":
        return lc.OptunaPolicy(p, optuna.samplers.RandomSampler(seed=seed), None,
                               name=LABELS[system], study_name=name, report=False)
    if system == "syne-asha":
        return SyneTuneASHA(p, seed=seed, name=LABELS[system])
    if system in ("syne-bohb", "syne-asha-bore"):
        return SyneTuneASHA(p, seed=seed, name=LABELS[system],
                            baseline={"syne-bohb": "BOHB", "syne-asha-bore": "ASHABORE"}[system])
    if system == "dehb":
        return DEHBPolicy(p, seed=seed, name=LABELS[system])
    if system == "smac-mf":
        return SMACPolicy(p, seed=seed, name=LABELS[system])
    if system in HPO_SYSTEMS:
        cls_name, label, extra = HPO_SYSTEMS[system]
        cls = _hpo_class(cls_name)
        if cls is None:
            raise LookupError(f"hpo.samplers.{cls_name} does not exist yet")
        kw = {"min_resource": rmin, "max_resource": R, "reduction_factor": eta, "seed": seed,
              **extra}
        kw["searcher"] = _searcher(kw.get("searcher"), seed)
        sampler = cls(**_kwargs_for(cls, kw))
        return lc.OptunaPolicy(p, sampler, None, name=label, study_name=name)
    raise ValueError(f"unknown system {system!r}; known: {', '.join(ALL_SYSTEMS)}")


def _searcher(name: str | None, seed: int) -> Any:
    import hpo.samplers as hs

    if name is None:
        return None
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "gp":
        return hs.GPSampler(seed=seed)
    options = {"mfgp": {}, "mfgp-highest": {"acquisition_resource": "highest"},
               "mfgp-time": {"cost": "time"}}[name]
    return hs.MultiFidelityGPSampler(seed=seed, **options)


def system_available(system: str) -> str | None:
    """``None`` if the system can run here, else why not."""
    if system in HPO_SYSTEMS:
        cls_name = HPO_SYSTEMS[system][0]
        return None if _hpo_class(cls_name) else f"hpo.samplers.{cls_name} does not exist yet"
    if system in ("syne-asha", "syne-bohb", "syne-asha-bore"):
        return peers_available()["syne-tune"]
    if system == "dehb":
        return peers_available()["dehb"]
    if system == "smac-mf":
        return peers_available()["smac"]
    return None


def _quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("syne_tune").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def run_one(task: tuple[str, str, int, float, bool]) -> dict[str, Any]:
    """One (problem, system, seed) run; a JSON-able summary."""
    _quiet()
    pname, system, seed, budget, noisy = task
    p = problem(pname, seed if noisy else None)
    policy = make_policy(system, p, seed)
    res = lc.simulate(p, policy, n_workers=4, max_consumed=budget * p.max_resource, seed=seed,
                      system=system, keep_jobs=False)
    steps: list[list[float]] = []
    last = None
    for h in res.history:
        if h["incumbent"] != last:
            steps.append([h["consumed"], h["time"], h["incumbent"]])
            last = h["incumbent"]
    return {"problem": pname, "system": system, "seed": seed, "optimum": res.optimum,
            "max_resource": res.max_resource, "consumed": res.consumed,
            "sim_time": res.sim_time, "jobs": len(res.history), "wall_s": res.wall_s,
            "policy_s": res.policy_s, "decisions": res.decisions,
            "utilisation": res.busy_time / (4 * res.sim_time) if res.sim_time else 0.0,
            "incumbent_steps": steps, "stop_reason": res.stop_reason}


def regret_at(run: dict[str, Any], consumed: float) -> float:
    best = float("inf")
    for c, _t, inc in run["incumbent_steps"]:
        if c > consumed:
            break
        best = inc
    return best - run["optimum"]


def _map(fn: Callable[[Any], Any], tasks: list[Any], jobs: int) -> list[Any]:
    if jobs <= 1:
        out = []
        for i, t in enumerate(tasks):
            out.append(fn(t))
            _progress(i + 1, len(tasks), out[-1])
        return out
    import multiprocessing as mp

    out = []
    with mp.get_context("fork").Pool(jobs) as pool:
        for i, r in enumerate(pool.imap_unordered(fn, tasks)):
            out.append(r)
            _progress(i + 1, len(tasks), r)
    return out


def _progress(i: int, n: int, r: dict[str, Any]) -> None:
    print(f"  [{i}/{n}] {r['problem']:<13} {r['system']:<21} seed {r['seed']}: "
          f"{r['jobs']} jobs, {r['wall_s']:.1f} s", file=sys.stderr, flush=True)


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "inf"
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.1e}"


def _ratio(a: float, b: float) -> str:
    if a == b:
        return "1.00"
    if b <= 0:
        return "inf" if a > 0 else "0.00"
    return f"{a / b:.2f}"


def _md(header: list[str], rows: list[list[str]]) -> str:
    return _common.table(header, rows, align="left")


def report(runs: list[dict[str, Any]], checkpoints: list[float], problems: list[str],
           systems: list[str]) -> str:
    out = []
    summary_rows = []
    for pname in problems:
        pruns = [r for r in runs if r["problem"] == pname]
        if not pruns:
            continue
        R = pruns[0]["max_resource"]
        med: dict[str, list[float]] = {}
        rows = []
        for s in systems:
            sr = [r for r in pruns if r["system"] == s]
            if not sr:
                continue
            cells, med[s] = [], []
            for c in checkpoints:
                reg = [regret_at(r, c * R) for r in sr]
                med[s].append(quartiles(reg)[0])
                cells.append(med_iqr(reg, _fmt))
            jobs = statistics.fmean(r["jobs"] for r in sr)
            dec = sum(r["policy_s"] for r in sr) / max(1, sum(r["decisions"] for r in sr))
            util = statistics.fmean(r["utilisation"] for r in sr)
            rows.append([LABELS.get(s, s), str(len(sr)), *cells, f"{jobs:.0f}",
                         f"{util:.2f}", f"{dec * 1e3:.2f}"])
        peers = [s for s in STOP_ONLY if s in med]
        out.append(f"**{pname}** ({problem(pname).description}; max_resource {R}, "
                   f"optimum {pruns[0]['optimum']:.6g}); median regret [IQR] at consumed "
                   "resource = k x max_resource (inf: no configuration had reached "
                   "max_resource yet)\n")
        out.append(_md(["system", "seeds", *[f"@{c:g}" for c in checkpoints], "jobs/run",
                        "util", "ms/decision"], rows))
        if peers:
            best = [min(med[s][i] for s in peers) for i in range(len(checkpoints))]
            same = med.get("optuna-random-sha")
            for s in systems:
                if s in med and s not in peers:
                    row = [pname, LABELS.get(s, s),
                           " / ".join(_ratio(med[s][i], best[i])
                                      for i in range(len(checkpoints))),
                           " / ".join(_ratio(med[s][i], same[i])
                                      for i in range(len(checkpoints))) if same else "-"]
                    summary_rows.append(row)
        out.append("")
    if summary_rows:
        out.append("Median regret / a peer's median regret at " + " / ".join(
            f"{c:g}" for c in checkpoints) + " x max_resource (< 1: better; 0: the peer "
            "had not solved it, the system had): against the best stop-only peer at each "
            "checkpoint (Random + SHA pruner, TPE + HB pruner, Syne Tune ASHA), and against "
            "Random + SHA pruner alone (the same random searcher):\n")
        out.append(_md(["problem", "system", "vs best stop-only peer",
                        "vs Random + SHA pruner"], summary_rows))
    return "\n".join(out)


def plot(runs: list[dict[str, Any]], problems: list[str], systems: list[str], budget: float,
         tag: str = "", img: Path = IMG) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img.mkdir(parents=True, exist_ok=True)
    paths = []
    for pname in problems:
        pruns = [r for r in runs if r["problem"] == pname]
        if not pruns:
            continue
        R = pruns[0]["max_resource"]
        xs = np.linspace(0.5, budget, 200)
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        floor = None
        for s in systems:
            sr = [r for r in pruns if r["system"] == s]
            if not sr:
                continue
            reg = np.array([[regret_at(r, x * R) for x in xs] for r in sr])
            m, q1, q3 = quartiles(reg, axis=0)
            ls = "-" if s.startswith("hpo") else "--"
            (line,) = ax.plot(xs, m, ls, label=f"{LABELS.get(s, s)}", lw=1.6)
            ax.fill_between(xs, q1, q3, color=line.get_color(), alpha=0.12, lw=0)
            pos = reg[np.isfinite(reg) & (reg > 0)]
            if pos.size:
                floor = pos.min() if floor is None else min(floor, pos.min())
        ax.set_yscale("symlog", linthresh=float(floor) if floor else 1e-3)
        ax.set_xlabel("consumed resource (x max_resource)")
        ax.set_ylabel("regret of the incumbent at max_resource")
        ax.set_title(f"{pname}: median and IQR over {len({r['seed'] for r in pruns})} seeds, "
                     "4 workers", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = img / f"schedulers_{pname}{tag}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def environment() -> dict[str, Any]:
    """The run's record (date, command, git, machine, versions) kept in its results file."""
    return _common.environment(("hpo", "optuna", "numpy", "scikit-learn", "botorch",
                                "syne-tune", "dehb"))


DOC = ROOT / "docs" / "benchmarks.md"  # its sections; the ground itself: docs/lc_ground.md


def write_section(name: str, body: str, path: Path = DOC) -> None:
    """Replace ``<!-- name:start -->`` .. ``<!-- name:end -->`` of ``path`` (appended if
    absent); the rest of the file is left alone."""
    _common.write_section(path, name, body)


def _section(title: str, env: dict[str, Any], setting: str, text: str,
             images: list[Path]) -> str:
    imgs = "\n".join(f"![{p.stem}](img/{p.name})" for p in images)
    head = _common.env_lines(env, " (shared with other work; simulated time and resource do "
                                  "not depend on it)")
    return "\n".join([f"## {title}", "", *head, f"- setting: {setting}", "", imgs, "", text, ""])


def cmd_run(args: argparse.Namespace) -> None:
    _quiet()
    np.seterr(invalid="ignore")  # percentiles of regrets that are still inf
    problems = [p for p in args.problems.split(",") if p]
    missing = [p for p in problems if p not in lc.list_problems()]
    if missing:
        print(f"note: no data for {', '.join(missing)}; skipped", file=sys.stderr)
        problems = [p for p in problems if p not in missing]
    systems = []
    for s in args.systems.split(","):
        why = system_available(s)
        if why:
            print(f"note: skipping {s}: {why}", file=sys.stderr)
        else:
            systems.append(s)
    checkpoints = [float(c) for c in args.checkpoints.split(",")]
    budget = max(args.budget, max(checkpoints))
    tasks = [(p, s, seed, budget, args.table_seed == "run") for p in problems for s in systems
             for seed in range(args.seeds)]
    print(f"{len(tasks)} runs: {len(problems)} problems x {len(systems)} systems x "
          f"{args.seeds} seeds, budget {budget:g} x max_resource, 4 workers", file=sys.stderr)
    t0 = time.perf_counter()
    runs = _map(run_one, tasks, args.jobs)
    wall = time.perf_counter() - t0
    if args.merge:  # keep the other systems' runs of the results file
        old = json.loads((RESULTS / "schedulers.json").read_text())
        runs += [r for r in old["runs"] if r["system"] not in systems
                 and r["problem"] in problems]
        systems = [s for s in old["systems"] if s not in systems] + systems
        wall += old.get("wall_s", 0.0)
    runs.sort(key=lambda r: (problems.index(r["problem"]), systems.index(r["system"]),
                             r["seed"]))
    text = report(runs, checkpoints, problems, systems)
    print(text)
    print(f"\n{len(runs)} runs in {wall:.0f} s wall", file=sys.stderr)
    tag = ""
    results = img = None
    if args.quick:  # a smoke run's files go to the ignored benchmarks/_quick/
        results = img = ROOT / "benchmarks" / "_quick"
    env = environment()
    results = results or RESULTS
    results.mkdir(parents=True, exist_ok=True)
    out = results / "schedulers.json"
    out.write_text(json.dumps({
        "env": env, "wall_s": wall, "seeds": args.seeds, "budget": budget,
        "table_seed": args.table_seed, "jobs": args.jobs,
        "checkpoints": checkpoints, "problems": problems, "systems": systems,
        "skipped": {s: system_available(s) for s in args.systems.split(",")
                    if system_available(s)},
        "problem_info": {p: {"description": problem(p).description,
                             "max_resource": problem(p).max_resource,
                             "min_resource": problem(p).min_resource,
                             "reduction_factor": problem(p).reduction_factor,
                             "optimum": problem(p).optimum} for p in problems},
        "table": text, "runs": runs}, indent=1))
    paths = plot(runs, problems, systems, budget, tag, img or IMG)
    print(f"wrote {out.relative_to(ROOT)} and {len(paths)} plots "
          f"({(img or IMG).relative_to(ROOT)}/schedulers_*.png)", file=sys.stderr)
    if not args.quick and not args.no_doc:
        setting = _setting(json.loads(out.read_text()))
        write_section("lc-results", _section("Scheduler comparison on the ground", env,
                                             setting, text, paths))
        print(f"updated the lc-results section of {DOC.relative_to(ROOT)}", file=sys.stderr)


def _setting(data: dict) -> str:
    """The section's setting line, from a results file (the run's and the report's)."""
    jobs = data.get("jobs")
    if jobs is None:  # files written before "jobs" was recorded: the command says it
        found = re.search(r"--jobs[= ](\d+)", data["env"]["command"])
        jobs = int(found.group(1)) if found else 1
    return (f"{data['seeds']} seeds (0..{data['seeds'] - 1}), 4 simulated workers, budget "
            f"{data['budget']:g} x max_resource consumed units per run, min_resource 1, "
            "reduction factor 3, random searchers for the schedulers; tables replay "
            + ("one table seed per run (run seed mod 3)" if data.get("table_seed") == "run"
               else "the seed-mean curves")
            + f"; {len(data['runs'])} runs in {data['wall_s']:.0f} s wall with --jobs {jobs}"
            + (f"; skipped: {data['skipped']}" if data.get("skipped") else ""))


def cmd_report(args: argparse.Namespace) -> None:
    """Tables, plots and the doc section again from a results file (no simulation)."""
    np.seterr(invalid="ignore")  # percentiles of regrets that are still inf
    data = json.loads(Path(args.results).read_text())
    runs, problems, systems = data["runs"], data["problems"], data["systems"]
    checkpoints = data["checkpoints"]
    for pname in problems:
        problem(pname)
    text = report(runs, checkpoints, problems, systems)
    print(text)
    paths = plot(runs, problems, systems, data["budget"])
    if not args.no_doc:
        env = data["env"]
        setting = _setting(data)
        write_section("lc-results", _section("Scheduler comparison on the ground", env,
                                             setting, text, paths))


def cmd_overhead(args: argparse.Namespace) -> None:
    """Seconds per decision (ask + suggest + budget; report + should_prune; tell) of a
    system's Optuna study once it holds ~``--trials`` trials."""
    _quiet()
    p = problem(args.problem)
    rows, out = [], []
    systems = [s for s in args.systems.split(",")]
    for s in systems:
        why = system_available(s)
        if why:
            print(f"note: skipping {s}: {why}", file=sys.stderr)
            continue
        policy = make_policy(s, p, 0)
        t0 = time.perf_counter()
        res = lc.simulate(p, policy, n_workers=4, max_jobs=args.trials, system=s,
                          keep_jobs=False)
        build = time.perf_counter() - t0
        # time further decisions on the grown study: one job at a time, 4 units each
        asks, reps, tells = [], [], []
        for _ in range(args.repeats):
            a0 = time.perf_counter()
            spec = policy.ask(res.sim_time)
            a1 = time.perf_counter()
            if spec is None:
                break
            curve = p.curve(spec.params)
            begin = spec.start if spec.continued else 0
            job = lc.Job(spec, curve, 0, begin, begin, res.sim_time, -1)
            stop, pruned = round(spec.stop), False
            while job.epoch + 1 < stop:
                job.epoch += 1
                r0 = time.perf_counter()
                keep = policy.report(job, job.epoch, curve.value(job.epoch), res.sim_time)
                reps.append(time.perf_counter() - r0)
                if not keep:
                    pruned = True
                    break
            if not pruned:
                job.epoch = stop
            t1 = time.perf_counter()
            policy.tell(job, curve.value(job.epoch), res.sim_time, pruned)
            tells.append(time.perf_counter() - t1)
            asks.append(a1 - a0)
        n_trials = len(policy.study.trials) if hasattr(policy, "study") else len(res.history)
        row = {"system": s, "trials": n_trials, "build_s": build,
               "ask_ms": 1e3 * statistics.median(asks) if asks else None,
               "report_ms": 1e3 * statistics.median(reps) if reps else None,
               "tell_ms": 1e3 * statistics.median(tells) if tells else None,
               "timed_asks": len(asks), "sim_decision_ms": 1e3 * res.policy_s / res.decisions}
        out.append(row)
        f = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
        rows.append([LABELS.get(s, s), str(n_trials), f(row["ask_ms"]), f(row["report_ms"]),
                     f(row["tell_ms"]), f(row["sim_decision_ms"])])
        print(f"  {s}: {n_trials} trials built in {build:.1f} s", file=sys.stderr)
    table = _md(["system", "trials", "ask+suggest ms", "report+prune ms", "tell ms",
                 "mean ms/decision over the run"], rows)
    print(f"Per-decision overhead on {args.problem}, study at ~{args.trials} trials "
          f"(median ms over {args.repeats} further trials; InMemoryStorage):\n")
    print(table)
    env = environment()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "schedulers_overhead.json").write_text(json.dumps(
        {"env": env, "problem": args.problem, "rows": out}, indent=1))
    if not args.no_doc:
        setting = (f"{args.problem}; each system's study is grown to {args.trials} finished "
                   f"jobs by the simulator (4 workers), then {args.repeats} more trials are "
                   "run one at a time: ask+suggest = `study.ask()` + the problem's "
                   "`suggest_*` calls + `hpo.budget`; report+prune = `trial.report` + "
                   "`trial.should_prune()` per unit; tell = checkpoint attributes + "
                   "`study.tell`; last column: policy seconds / decisions over the whole "
                   "simulated run (a run's mean, not at 1000 trials)")
        write_section("lc-overhead", _section("Per-decision overhead at ~1000 trials", env,
                                              setting, table, []))


def run_deepen(task: tuple[str, str, int, dict[str, Any]]) -> dict[str, Any]:
    """IDHB at r1 for ``first`` x r1 units, deepened to r2, continued to ``budget`` x r2;
    or a fresh Hyperband at r2 for the same total budget."""
    _quiet()
    pname, system, seed, o = task
    eta, r1, r2 = o["eta"], o["r1"], o["r2"]
    p2 = lc.get_problem(pname, max_resource=r2, reduction_factor=eta)
    total = o["budget"] * r2
    if system == "hpo-idhb-deepen":
        cls = _hpo_class("IDHB")
        p1 = lc.get_problem(pname, max_resource=r1, reduction_factor=eta)
        sampler = cls(**_kwargs_for(cls, {"min_resource": 1, "max_resource": r1,
                                          "reduction_factor": eta, "seed": seed,
                                          "variant": o["variant"]}))
        policy = lc.OptunaPolicy(p1, sampler, None, name="IDHB deepened",
                                 study_name=f"deepen-{pname}-{seed}")
        sim = lc.Simulator(p1, policy, seed=seed, system=system, keep_jobs=False)
        sim.run(max_consumed=o["first"] * r1)
        at, n0 = sim.result.consumed, len(sim.result.history)
        sampler.deepen(policy.study, max_resource=r2)
        policy.problem = p2
        sim.set_problem(p2)
        res = sim.run(max_consumed=total)
    else:
        cls = _hpo_class("Hyperband")
        sampler = cls(**_kwargs_for(cls, {"min_resource": 1, "max_resource": r2,
                                          "reduction_factor": eta, "seed": seed}))
        policy = lc.OptunaPolicy(p2, sampler, None, name="Hyperband at r2",
                                 study_name=f"fresh-{pname}-{seed}")
        res = lc.simulate(p2, policy, max_consumed=total, seed=seed, system=system,
                          keep_jobs=False)
        at, n0 = 0, 0
    steps, last = [], None
    for h in res.history[n0:]:  # incumbents at r2 (before deepening there are none)
        if h["incumbent"] != last:
            steps.append([h["consumed"], h["time"], h["incumbent"]])
            last = h["incumbent"]
    return {"problem": pname, "system": system, "seed": seed, "optimum": p2.optimum,
            "max_resource": r2, "deepened_at": at, "consumed": res.consumed,
            "jobs": len(res.history), "wall_s": res.wall_s, "policy_s": res.policy_s,
            "decisions": res.decisions, "incumbent_steps": steps,
            "utilisation": res.busy_time / (4 * res.sim_time) if res.sim_time else 0.0}


def _first_reaching(run: dict[str, Any], target: float) -> float:
    """Consumed units at which the run's regret first is <= target (inf if never)."""
    for c, _t, inc in run["incumbent_steps"]:
        if inc - run["optimum"] <= target:
            return c
    return float("inf")


def _time_to_target(runs: list[dict[str, Any]], problems: list[str], budget: float) -> str:
    """Resource each system needs to reach the regret the fresh Hyperband has at half the
    budget (median over seeds), so that most runs of both get there."""
    rows = []
    for pname in problems:
        pr = [r for r in runs if r["problem"] == pname]
        hb = [r for r in pr if r["system"] == "hpo-hyperband-fresh"]
        idhb = [r for r in pr if r["system"] == "hpo-idhb-deepen"]
        if not hb or not idhb:
            continue
        R = hb[0]["max_resource"]
        target = float(np.median([regret_at(r, budget * R / 2) for r in hb]))
        a = float(np.median([_first_reaching(r, target) for r in idhb]))
        b = float(np.median([_first_reaching(r, target) for r in hb]))
        rows.append([pname, _fmt(target), f"{a / R:.1f}", f"{b / R:.1f}",
                     f"{a / b:.2f}" if np.isfinite(a) and b > 0 else "-"])
    return ("Resource to reach a target regret = the fresh Hyperband's median regret at half "
            f"the budget ({budget / 2:g} x max_resource): median over seeds of the first "
            "consumed resource with regret <= target, x max_resource (inf: more than half "
            "the seeds never got there); IDHB's includes its phase at r1:\n\n"
            + _md(["problem", "target regret", "IDHB deepened", "Hyperband fresh",
                   "ratio"], rows))


def cmd_deepen(args: argparse.Namespace) -> None:
    _quiet()
    for cls_name in ("IDHB", "Hyperband"):
        if _hpo_class(cls_name) is None:
            print(f"note: hpo.samplers.{cls_name} does not exist yet; nothing to run",
                  file=sys.stderr)
            return
    problems = [p for p in args.problems.split(",") if p in lc.list_problems()]
    o = {"eta": args.eta, "r1": args.r1, "r2": args.r2, "first": args.first,
         "budget": args.budget, "variant": args.variant}
    systems = ["hpo-idhb-deepen", "hpo-hyperband-fresh"]
    LABELS.update({"hpo-idhb-deepen": f"IDHB {args.r1} -> {args.r2} ({args.variant})",
                   "hpo-hyperband-fresh": f"Hyperband at {args.r2}"})
    tasks = [(p, s, seed, o) for p in problems for s in systems for seed in range(args.seeds)]
    t0 = time.perf_counter()
    runs = _map(run_deepen, tasks, args.jobs)
    runs.sort(key=lambda r: (problems.index(r["problem"]), systems.index(r["system"]),
                             r["seed"]))
    checkpoints = [float(c) for c in args.checkpoints.split(",")]
    text = report(runs, checkpoints, problems, systems)
    text += "\n\n" + _time_to_target(runs, problems, args.budget)
    deep = [r["deepened_at"] for r in runs if r["system"] == "hpo-idhb-deepen"]
    print(f"IDHB ran at max_resource {args.r1} for {args.first:g} x {args.r1} units "
          f"(median {statistics.median(deep):.0f}), then deepened to {args.r2}; regret at "
          f"{args.r2}; consumed counts both phases.\n")
    print(text)
    print(f"\n{len(runs)} runs in {time.perf_counter() - t0:.0f} s wall", file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "schedulers_deepen.json").write_text(json.dumps(
        {"env": environment(), "options": o, "seeds": args.seeds, "problems": problems,
         "checkpoints": checkpoints, "table": text, "runs": runs}, indent=1))
    paths = plot(runs, problems, systems, args.budget, "_deepen")
    if not args.no_doc:
        setting = (f"{args.seeds} seeds, 4 simulated workers, reduction factor {args.eta}; "
                   f"IDHB ({args.variant}) runs with max_resource {args.r1} until it has "
                   f"consumed {args.first:g} x {args.r1} units, then `deepen(study, "
                   f"max_resource={args.r2})` and goes on; Hyperband starts at {args.r2}; "
                   f"regret of the incumbent at {args.r2}; consumed resource counts both "
                   "phases; budget " f"{args.budget:g} x {args.r2}")
        write_section("lc-deepen", _section("IDHB deepening against a fresh Hyperband",
                                            environment(), setting, text, paths))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 seeds, budget 20 x max_resource, 3 problems: a smoke run")
    sub = ap.add_subparsers(dest="cmd")
    r = sub.add_parser("run", help="the comparison (default)")
    o = sub.add_parser("overhead", help="per-decision cost at ~1000 trials")
    rp = sub.add_parser("report", help="tables, plots and doc section from a results file")
    rp.add_argument("--results", default=str(RESULTS / "schedulers.json"))
    rp.add_argument("--no-doc", action="store_true")
    d = sub.add_parser("deepen", help="IDHB deepened r1 -> r2 against a fresh Hyperband at r2")
    d.add_argument("--seeds", type=int, default=10)
    d.add_argument("--problems", default="mlp-digits,mlp-synth,mlp-diabetes,mf-hartmann6")
    d.add_argument("--eta", type=int, default=2)
    d.add_argument("--r1", type=int, default=16)
    d.add_argument("--r2", type=int, default=32)
    d.add_argument("--first", type=float, default=20,
                   help="units consumed at r1 before deepening, x r1")
    d.add_argument("--budget", type=float, default=60, help="total units, x r2")
    d.add_argument("--checkpoints", default="10,20,40,60")
    d.add_argument("--variant", default="efficient")
    d.add_argument("--jobs", type=int, default=1)
    for a in (o, d):
        a.add_argument("--no-doc", action="store_true",
                       help="do not rewrite the section of docs/benchmarks.md")
    for a in (ap, r):
        a.add_argument("--seeds", type=int, default=10)
        a.add_argument("--budget", type=float, default=100,
                       help="consumed resource per run, in units of max_resource")
        a.add_argument("--checkpoints", default="5,10,25,50,100")
        a.add_argument("--problems", default=",".join(DEFAULT_PROBLEMS))
        a.add_argument("--systems", default=",".join(ALL_SYSTEMS))
        a.add_argument("--merge", action="store_true",
                       help="add these systems' runs to benchmarks/results/schedulers.json "
                            "(same seeds, problems and budget) instead of replacing it")
        a.add_argument("--jobs", type=int, default=1, help="runs in parallel processes")
        a.add_argument("--no-doc", action="store_true",
                       help="do not rewrite the results section of docs/benchmarks.md")
        a.add_argument("--table-seed", choices=("mean", "run"), default="mean",
                       help="tables: the seed-mean curves (deterministic), or run seed s "
                            "replays table seed s mod n_seeds (noisy; regret still uses "
                            "the seed-mean)")
    o.add_argument("--problem", default="mlp-digits")
    o.add_argument("--trials", type=int, default=1000)
    o.add_argument("--repeats", type=int, default=20)
    o.add_argument("--systems", default="optuna-random-sha,optuna-tpe-hyperband,"
                   "optuna-random," + ",".join(HPO_SYSTEMS))
    args = ap.parse_args(argv)
    if args.cmd == "overhead":
        cmd_overhead(args)
        return
    if args.cmd == "report":
        cmd_report(args)
        return
    if args.cmd == "deepen":
        cmd_deepen(args)
        return
    if args.quick:
        args.seeds, args.budget, args.checkpoints = 2, 20, "5,10,20"
        if args.problems == ",".join(DEFAULT_PROBLEMS):
            args.problems = "mlp-breast,mlp-diabetes,mf-branin"
    cmd_run(args)


if __name__ == "__main__":
    main()
