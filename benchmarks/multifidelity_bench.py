"""Multi-fidelity BO on the learning-curve ground: regret against resource and wall time.

hpo's :class:`~hpo.samplers.MultiFidelityGPSampler` (searcher of ASHA and Hyperband)
and :class:`~hpo.samplers.FreezeThaw` against Optuna TPE + ``HyperbandPruner``, hpo
ASHA with a random searcher, Syne Tune BOHB and ASHA-BORE, and DEHB, on the simulator
of ``benchmarks/lcground`` (4 simulated workers, each unit costing its curve's recorded
time). The runs are those of ``schedulers_bench.py`` (same problems, policies and
simulator); this script adds the systems, the wall-time view and its own results file.

    python -m benchmarks.multifidelity_bench --quick               # smoke run, a few minutes
    python -m benchmarks.multifidelity_bench --jobs 2              # 10 seeds, 4 problems
    python -m benchmarks.multifidelity_bench --systems hpo-asha-gp,hpo-asha-mfgp-nocost \
        --problems mlp-digits,mf-hartmann6 --seeds 5 --merge       # ablations, merged in
    python -m benchmarks.multifidelity_bench report                # tables/plots again
    python -m benchmarks.multifidelity_bench overhead              # seconds per decision

Writes ``benchmarks/results/multifidelity.json``, ``docs/img/multifidelity_<problem>.png``
(regret against consumed resource and against simulated time) and the
``mf-results`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _common
from benchmarks import schedulers_bench as sb
from benchmarks._common import med_iqr, quartiles

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "multifidelity.json"
PROBLEMS = ("mlp-digits", "mlp-synth", "ppo-cartpole", "mf-hartmann6")
PEERS = ("optuna-tpe-hyperband", "hpo-asha", "syne-bohb", "syne-asha-bore", "dehb", "smac-mf")
HPO = ("hpo-asha-mfgp", "hpo-hyperband-mfgp", "hpo-freezethaw")
# what each design choice is worth: the GP of one rung's values as searcher, and no cost model
ABLATIONS = ("hpo-asha-gp", "hpo-asha-mfgp-time", "hpo-hyperband-mfgp-time",
             "hpo-freezethaw-time", "hpo-asha-mfgp-highest")
ANCHOR = "optuna-tpe-hyperband"
BASE_OF = {"hpo-asha-gp": "hpo-asha-mfgp", "hpo-asha-mfgp-time": "hpo-asha-mfgp",
           "hpo-hyperband-mfgp-time": "hpo-hyperband-mfgp",
           "hpo-asha-mfgp-highest": "hpo-asha-mfgp", "hpo-freezethaw-time": "hpo-freezethaw"}


def time_unit(runs: list[dict[str, Any]]) -> float:
    """Simulated seconds in which 4 workers consume ``max_resource`` units, on average
    over the problem's runs: time checkpoints are multiples of it."""
    rates = [r["sim_time"] / r["consumed"] * r["max_resource"] for r in runs if r["consumed"]]
    return float(np.median(rates))


def regret_at_time(run: dict[str, Any], t: float) -> float:
    best = float("inf")
    for _c, tt, inc in run["incumbent_steps"]:
        if tt > t:
            break
        best = inc
    return best - run["optimum"]


def _table(runs: list[dict[str, Any]], systems: list[str], checkpoints: list[float],
           at: Any) -> tuple[list[list[str]], dict[str, list[float]]]:
    rows, med = [], {}
    for s in systems:
        sr = [r for r in runs if r["system"] == s]
        if not sr:
            continue
        cells, med[s] = [], []
        for c in checkpoints:
            reg = [at(r, c) for r in sr]
            med[s].append(quartiles(reg)[0])
            cells.append(med_iqr(reg, sb._fmt))
        dec = sum(r["policy_s"] for r in sr) / max(1, sum(r["decisions"] for r in sr))
        rows.append([sb.LABELS.get(s, s), str(len(sr)), *cells,
                     f"{np.mean([r['jobs'] for r in sr]):.0f}", f"{dec * 1e3:.1f}"])
    return rows, med


def report(runs: list[dict[str, Any]], problems: list[str], systems: list[str],
           checkpoints: list[float]) -> str:
    out, summary = [], []
    wins = {s: 0 for s in systems if s in HPO}
    halves = dict.fromkeys(wins, 0)
    for pname in problems:
        pr = [r for r in runs if r["problem"] == pname]
        if not pr:
            continue
        R = pr[0]["max_resource"]
        unit = time_unit(pr)
        rows, med = _table(pr, systems, checkpoints,
                           lambda r, c, R=R: sb.regret_at(r, c * R))
        trows, tmed = _table(pr, systems, checkpoints,
                             lambda r, c, unit=unit: regret_at_time(r, c * unit))
        head = ["system", "seeds", *[f"@{c:g}" for c in checkpoints], "jobs/run",
                "ms/decision"]
        out.append(f"**{pname}** ({sb.problem(pname).description}; max_resource {R}, "
                   f"optimum {pr[0]['optimum']:.6g}). Median regret [IQR] at consumed "
                   "resource = k x max_resource:\n")
        out.append(sb._md(head, rows))
        out.append(f"\nAt simulated time = k x {unit:.4g} s (the median time the 4 workers "
                   "take to consume max_resource units on this problem):\n")
        out.append(sb._md(head[:-2], [row[:-2] for row in trows]))
        out.append("")
        last = len(checkpoints) - 1
        for s in wins:
            if s not in med or ANCHOR not in med:
                continue
            best_other = min(med[o][last] for o in med if o != s and o not in ABLATIONS)
            is_best = med[s][last] <= best_other
            ratio = [sb._ratio(med[s][i], med[ANCHOR][i]) for i in range(len(checkpoints))]
            tratio = [sb._ratio(tmed[s][i], tmed[ANCHOR][i]) for i in range(len(checkpoints))]
            wins[s] += is_best
            halves[s] += med[s][last] <= 0.5 * med[ANCHOR][last]
            summary.append([pname, sb.LABELS.get(s, s), " / ".join(ratio), " / ".join(tratio),
                            "yes" if is_best else "no"])
    ablation = []
    for pname in problems:
        pr = [r for r in runs if r["problem"] == pname]
        R = pr[0]["max_resource"] if pr else 1
        for s in ABLATIONS:
            base = BASE_OF[s]
            mine = {r["seed"]: r for r in pr if r["system"] == s}
            ref = {r["seed"]: r for r in pr if r["system"] == base and r["seed"] in mine}
            if not mine or not ref:
                continue
            cells = []
            for c in checkpoints:
                a = float(np.median([sb.regret_at(r, c * R) for r in mine.values()]))
                b = float(np.median([sb.regret_at(r, c * R) for r in ref.values()]))
                cells.append(sb._ratio(a, b))
            ablation.append([pname, sb.LABELS.get(s, s), sb.LABELS.get(base, base),
                             str(len(mine)), " / ".join(cells)])
    if summary:
        out.append("Median regret / Optuna TPE + HB pruner's at " + " / ".join(
            f"{c:g}" for c in checkpoints) + " x max_resource (and at the same multiples of "
            "the time unit), and whether the system has the lowest median regret of all "
            f"systems (ablations aside) at {checkpoints[-1]:g} x max_resource:\n")
        out.append(sb._md(["problem", "system", "vs TPE + HB (resource)", "vs TPE + HB (time)",
                           "best of all"], summary))
        out.append("\nGoals at the last checkpoint, problems met out of "
                   f"{len(problems)}: " + "; ".join(
                       f"{sb.LABELS.get(s, s)}: <= 0.5x TPE + HB on {halves[s]}, best of all "
                       f"on {wins[s]}" for s in wins))
    if ablation:
        out.append("\nAblations: median regret of the variant / that of the full system on "
                   "the same seeds, at " + " / ".join(f"{c:g}" for c in checkpoints)
                   + " x max_resource (> 1: the design choice helps):\n")
        out.append(sb._md(["problem", "variant", "full system", "seeds", "ratio"], ablation))
    return "\n".join(out)


def plot(runs: list[dict[str, Any]], problems: list[str], systems: list[str], budget: float,
         img: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img.mkdir(parents=True, exist_ok=True)
    paths = []
    for pname in problems:
        pr = [r for r in runs if r["problem"] == pname]
        if not pr:
            continue
        R, unit = pr[0]["max_resource"], time_unit(pr)
        xs = np.linspace(0.5, budget, 150)
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
        floor = None
        for s in systems:
            sr = [r for r in pr if r["system"] == s]
            if not sr:
                continue
            ls = "-" if s.startswith("hpo") else "--"
            for ax, at in ((axes[0], lambda r, x, R=R: sb.regret_at(r, x * R)),
                           (axes[1], lambda r, x, unit=unit: regret_at_time(r, x * unit))):
                reg = np.array([[at(r, x) for x in xs] for r in sr])
                m, q1, q3 = quartiles(reg, axis=0)
                (line,) = ax.plot(xs, m, ls, label=sb.LABELS.get(s, s), lw=1.5)
                ax.fill_between(xs, q1, q3, color=line.get_color(), alpha=0.1, lw=0)
                pos = reg[np.isfinite(reg) & (reg > 0)]
                if pos.size:
                    floor = pos.min() if floor is None else min(floor, pos.min())
        for ax, label in ((axes[0], "consumed resource (x max_resource)"),
                          (axes[1], f"simulated time (x {unit:.3g} s)")):
            ax.set_yscale("symlog", linthresh=float(floor) if floor else 1e-3)
            ax.set_xlabel(label)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("regret of the incumbent at max_resource")
        axes[1].legend(fontsize=7)
        fig.suptitle(f"{pname}: median and IQR over {len({r['seed'] for r in pr})} seeds, "
                     "4 workers", fontsize=9)
        fig.tight_layout()
        path = img / f"multifidelity_{pname}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def _write(runs: list[dict[str, Any]], meta: dict[str, Any], doc: bool, quick: bool) -> None:
    problems, systems, checkpoints = meta["problems"], meta["systems"], meta["checkpoints"]
    text = report(runs, problems, systems, checkpoints)
    print(text)
    img = ROOT / "benchmarks" / "_quick" if quick else sb.IMG
    paths = plot(runs, problems, systems, meta["budget"], img)
    if quick:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**meta, "table": text, "runs": runs}, indent=1))
    if doc:
        setting = (f"{meta['seeds']} seeds, 4 simulated workers, budget {meta['budget']:g} x "
                   "max_resource consumed units per run, min_resource 1, reduction factor 3; "
                   f"tables replay the seed-mean curves; {len(runs)} runs, "
                   f"{meta['wall_s']:.0f} s wall in all")
        sb.write_section("mf-results", sb._section(
            "Multi-fidelity BO on the learning-curve ground", meta["env"], setting, text, paths))
        print(f"updated the mf-results section of {sb.DOC.relative_to(ROOT)}", file=sys.stderr)


def overhead(observations: int, per_config: int, repeats: int, device: str) -> dict[str, Any]:
    """Seconds per suggestion (fit + acquisition) and per freeze-thaw decision in a study
    of ``observations`` reports (``per_config`` per configuration, 5 parameters, 4
    running trials), each repeat after one more finished configuration."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    import hpo

    space = {f"x{i}": FloatDistribution(0, 1) for i in range(5)}
    rng = np.random.default_rng(0)

    def curve(params: dict[str, float]) -> dict[int, float]:
        x = np.array(list(params.values()))
        final = float(((x - 0.3) ** 2).sum())
        return {r: final + (1 + x[0]) / r + 0.01 * float(rng.normal())
                for r in range(1, per_config + 1)}

    mf = hpo.samplers.MultiFidelityGPSampler(seed=0, device=device)
    sampler = hpo.samplers.FreezeThaw(1, per_config, 3, searcher=mf)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler, pruner=optuna.pruners.NopPruner())
    for _ in range(observations // per_config):
        params = {k: float(rng.random()) for k in space}
        values = curve(params)
        study.add_trial(create_trial(params=params, distributions=space,
                                     value=values[per_config], intermediate_values=values))
    for _ in range(4):
        study.ask(space)
    suggest, decide = [], []
    for _ in range(repeats):
        trial = study.ask()
        frozen = study._storage.get_trial(trial._trial_id)
        t0 = time.perf_counter()
        mf.sample_relative(study, frozen, space)
        suggest.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sampler.before_trial(study, study._storage.get_trial(study.ask()._trial_id))
        decide.append(time.perf_counter() - t0)
        params = {k: float(rng.random()) for k in space}
        values = curve(params)
        study.add_trial(create_trial(params=params, distributions=space,
                                     value=values[per_config], intermediate_values=values))
    return {"observations": observations, "per_config": per_config, "device": device,
            "suggest_s": float(np.median(suggest)), "decide_s": float(np.median(decide))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", nargs="?", choices=("run", "report", "overhead"), default="run")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=float, default=50,
                    help="consumed resource per run, in units of max_resource")
    ap.add_argument("--checkpoints", default="10,25,50")
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--systems", default=",".join(PEERS + HPO))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--merge", action="store_true",
                    help="add these runs to the results file (replacing the same systems')")
    ap.add_argument("--quick", action="store_true", help="2 seeds, budget 10, 2 problems")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args(argv)
    sb._quiet()
    np.seterr(invalid="ignore")
    if args.cmd == "overhead":
        import torch

        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        rows = [overhead(n, k, 5, d) for d in devices for n, k in
                ((500, 27), (2000, 27), (2000, 200), (5000, 200))]
        text = sb._md(["observations", "reports per configuration", "device",
                       "s / suggestion", "s / freeze-thaw decision"],
                      [[str(r["observations"]), str(r["per_config"]), r["device"],
                        f"{r['suggest_s']:.3f}", f"{r['decide_s']:.3f}"] for r in rows])
        print(text)
        if not args.no_doc:
            env = sb.environment()
            head = _common.env_lines(env, ", torch threads 1 (hpo's default for the GP)",
                                     with_versions=False)
            sb.write_section("mf-overhead", "\n".join([
                "### Multi-fidelity GP: time per decision", "", *head, "",
                "Median of 5 suggestions, each after one more finished configuration "
                "(warm-started fits); 5 parameters, 4 running trials:", "", text]))
        return
    if args.cmd == "report":
        data = json.loads(RESULTS.read_text())
        _write(data.pop("runs"), data, not args.no_doc, False)
        return
    if args.quick:
        args.seeds, args.budget, args.checkpoints = 2, 10, "5,10"
        args.problems = "mlp-digits,mf-branin"
    problems = args.problems.split(",")
    systems = []
    for s in args.systems.split(","):
        why = sb.system_available(s)
        if why:
            print(f"note: skipping {s}: {why}", file=sys.stderr)
        else:
            systems.append(s)
    checkpoints = [float(c) for c in args.checkpoints.split(",")]
    budget = max(args.budget, max(checkpoints))
    tasks = [(p, s, seed, budget, False) for p in problems for s in systems
             for seed in range(args.seeds)]
    print(f"{len(tasks)} runs", file=sys.stderr)
    t0 = time.perf_counter()
    runs = sb._map(sb.run_one, tasks, args.jobs)
    wall = time.perf_counter() - t0
    if args.merge and RESULTS.exists():
        old = json.loads(RESULTS.read_text())
        rerun = {(p, s) for p in problems for s in systems}  # keep every other pair
        runs += [r for r in old["runs"] if (r["problem"], r["system"]) not in rerun]
        problems = list(dict.fromkeys(old["problems"] + problems))
        systems = [s for s in old["systems"] if s not in systems] + systems
        wall += old.get("wall_s", 0.0)
    meta = {"env": sb.environment(), "wall_s": wall, "seeds": args.seeds, "budget": budget,
            "checkpoints": checkpoints, "problems": problems, "systems": systems}
    _write(runs, meta, not args.no_doc, args.quick)
    print(f"{len(runs)} runs in {wall:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
