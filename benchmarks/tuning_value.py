"""The value of tuning, and how separable the ready objectives are.

For PPO on CartPole-v1 and DPO of the tiny GPT-2 (``hpo.integrations``):

1. a sweep with hpo's default sampler and an Optuna median pruner, on seed 0, with the
   default configuration enqueued as its first trial;
2. the default configuration, the sweep's best ("tuned") and a deliberately bad one
   (learning rate 1e-5) re-trained on ``--seeds`` fresh seeds (1..k) at the same budget
   per run (equal compute per run; the sweep's own cost is reported beside it);
3. per configuration the mean, standard deviation and range over seeds, and for each pair
   the standardised gap d = |mean difference| / pooled std and the seeds per
   configuration needed for the gap to exceed two standard errors of the difference
   (n >= 8 / d^2), so benchmarks built on these objectives can choose their seed counts.

Writes the section ``<!-- tuning-value:start -->`` ... ``<!-- tuning-value:end -->`` of
docs/benchmarks.md (other sections are left alone), docs/img/tuning_value.png and
benchmarks/results/tuning_value.json.

    python -m benchmarks.tuning_value                 # about 18 minutes on 2 busy CPU cores
    python -m benchmarks.tuning_value --quick         # a smoke run, < 2 minutes, no doc update
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import torch

import hpo
from benchmarks import _common
from benchmarks._common import command_line, now
from hpo.space import default_of

ROOT = Path(__file__).resolve().parents[1]
SECTION = "tuning-value"


def _stats(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def _separation(a: list[float], b: list[float]) -> tuple[float, float]:
    """(d, seeds needed): d = |mean gap| / pooled std; n with gap > 2 SE of the difference."""
    gap = abs(statistics.fmean(a) - statistics.fmean(b))
    pooled = math.sqrt((statistics.variance(a) + statistics.variance(b)) / 2)
    if pooled == 0:
        return math.inf, 1.0
    d = gap / pooled
    return d, max(1.0, math.ceil(8 / d**2)) if d > 0 else math.inf


def _sweep(objective: hpo.Objective, direction: str, trials: int, budget: int,
           warmup: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run a sweep on seed 0; return (best params, summary)."""
    with tempfile.TemporaryDirectory(prefix="hpo-tv-") as tmp:
        study = hpo.create_study(
            direction=direction, storage=f"sqlite:///{tmp}/s.db", artifact_dir=f"{tmp}/a",
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup),
            max_resource=budget)
        study.enqueue_trial({k: default_of(d) for k, d in objective.space.items()})
        t0 = time.perf_counter()
        study.optimize(objective, n_trials=trials)
        seconds = time.perf_counter() - t0
        states = [t.state.name for t in study.trials]
        used = sum(max(t.intermediate_values, default=budget) if t.state.name == "PRUNED"
                   else budget for t in study.trials)
        return dict(study.best_params), {
            "trials": trials, "complete": states.count("COMPLETE"),
            "pruned": states.count("PRUNED"), "failed": states.count("FAIL"),
            "best_value_seed0": study.best_value,
            "default_value_seed0": study.trials[0].value, "seconds": seconds,
            "resource_used": used, "full_runs_equivalent": used / budget,
            "sampler": type(study.sampler).__name__}


def _evaluate(run: Callable[[dict[str, Any], int], float], configs: dict[str, dict[str, Any]],
              seeds: list[int]) -> tuple[dict[str, list[float]], float]:
    t0 = time.perf_counter()
    out = {name: [run(params, s) for s in seeds] for name, params in configs.items()}
    return out, time.perf_counter() - t0


def bench_ppo(args: argparse.Namespace) -> dict[str, Any]:
    from hpo.integrations.ppo import make_ppo_objective

    steps = args.ppo_steps
    obj = make_ppo_objective("CartPole-v1", max_steps=steps, report_every=max(1, steps // 10))
    defaults = {k: default_of(d) for k, d in obj.space.items()}
    print(f"PPO CartPole-v1: sweep of {args.ppo_trials} trials x {steps} steps ...", flush=True)
    best, sweep = _sweep(obj, "maximize", args.ppo_trials, steps, steps // 4)
    configs = {"default": defaults, "tuned": best, "bad (lr 1e-5)": defaults | {"lr": 1e-5}}
    seeds = list(range(1, args.seeds + 1))
    print(f"  re-training 3 configurations on seeds {seeds} ...", flush=True)
    values, seconds = _evaluate(lambda p, s: obj(**p, seed=s, max_steps=steps), configs, seeds)
    return {"task": "PPO CartPole-v1", "metric": "mean training return over the run",
            "direction": "maximize", "budget": f"{steps} environment steps",
            "sweep": sweep, "configs": configs, "values": values,
            "eval_seconds": seconds, "runs": len(configs) * len(seeds)}


def bench_dpo(args: argparse.Namespace) -> dict[str, Any]:
    from hpo.integrations.dpo import make_dpo_objective

    steps = args.dpo_steps
    objs: dict[int, hpo.Objective] = {}

    def objective(seed: int) -> hpo.Objective:  # the seed sets model init and data order
        if seed not in objs:
            objs[seed] = make_dpo_objective(max_steps=steps, eval_every=max(1, steps // 10),
                                            seed=seed)
        return objs[seed]

    defaults = {k: default_of(d) for k, d in objective(0).space.items()}
    print(f"DPO tiny GPT-2: sweep of {args.dpo_trials} trials x {steps} steps ...", flush=True)
    best, sweep = _sweep(objective(0), "minimize", args.dpo_trials, steps, steps // 4)
    configs = {"default": defaults, "tuned": best, "bad (lr 1e-5)": defaults | {"lr": 1e-5}}
    seeds = list(range(1, args.seeds + 1))
    print(f"  re-training 3 configurations on seeds {seeds} ...", flush=True)
    values, seconds = _evaluate(lambda p, s: objective(s)(**p, max_steps=steps), configs, seeds)
    return {"task": "DPO tiny GPT-2 (sorting preferences)", "metric": "held-out DPO loss",
            "direction": "minimize", "budget": f"{steps} optimisation steps",
            "sweep": sweep, "configs": configs, "values": values,
            "eval_seconds": seconds, "runs": len(configs) * len(seeds)}


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf"
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


def _params(p: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())


def render(results: list[dict[str, Any]], args: argparse.Namespace, total: float) -> str:
    lines = [
        "## Value of tuning and separability of the ready objectives "
        "(`benchmarks/tuning_value.py`)", "",
        "```bash", "pip install -e '.[rl,dpo,plot]'", command_line(), "```", "",
        f"Run {now()} in {total / 60:.1f} min; "
        f"machine: {os.cpu_count()} logical cores, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__} on 1 thread, optuna {optuna.__version__}, "
        "shared with other jobs (timings are indicative only).", "",
        "Each sweep ran on seed 0 with hpo's default sampler, an Optuna `MedianPruner` "
        "(5 start-up trials, warm-up a quarter of the budget) and the default configuration "
        "enqueued first. The three configurations were then re-trained on fresh seeds "
        f"1..{args.seeds} at the same budget per run. `d` = |gap of means| / pooled std; "
        "`seeds` = seeds per configuration for the gap to exceed two standard errors of the "
        "difference (ceil(8 / d^2)).", ""]
    for r in results:
        sw, vals = r["sweep"], r["values"]
        arrow = "higher" if r["direction"] == "maximize" else "lower"
        lines += [f"### {r['task']}: {r['metric']} ({arrow} is better), {r['budget']} per run",
                  "",
                  f"Sweep: {sw['trials']} trials ({sw['complete']} complete, {sw['pruned']} "
                  f"pruned, {sw['failed']} failed), {sw['full_runs_equivalent']:.1f} full runs "
                  f"of compute, {sw['seconds']:.0f} s; on seed 0 the default scored "
                  f"{_fmt(sw['default_value_seed0'])} and the best "
                  f"{_fmt(sw['best_value_seed0'])}. Re-training: {r['runs']} runs, "
                  f"{r['eval_seconds']:.0f} s.", "",
                  "| configuration | mean | std | min | max | parameters |",
                  "|---|---:|---:|---:|---:|---|"]
        for name, v in vals.items():
            s = _stats(v)
            lines.append(f"| {name} | {_fmt(s['mean'])} | {_fmt(s['std'])} | {_fmt(s['min'])} "
                         f"| {_fmt(s['max'])} | {_params(r['configs'][name])} |")
        lines += ["", "| pair | gap of means | d | seeds |", "|---|---:|---:|---:|"]
        for a, b in (("tuned", "default"), ("default", "bad (lr 1e-5)")):
            d, n = _separation(vals[a], vals[b])
            gap = statistics.fmean(vals[a]) - statistics.fmean(vals[b])
            seeds = "inf" if math.isinf(n) else str(int(n))
            lines.append(f"| {a} vs {b} | {_fmt(gap)} | {_fmt(d)} | {seeds} |")
        lines.append("")
    lines.append("![tuned, default and bad configurations over seeds](img/tuning_value.png)")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 3.8), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        for i, v in enumerate(r["values"].values()):
            ax.scatter([i] * len(v), v, alpha=0.7, s=28)
            ax.errorbar(i + 0.18, statistics.fmean(v), yerr=_stats(v)["std"], fmt="ks",
                        capsize=4, ms=5)
        ax.set_xticks(range(len(r["values"])), list(r["values"]))
        ax.set_xlim(-0.5, len(r["values"]) - 0.3)
        ax.set_title(f"{r['task']}\n{r['budget']} per run", fontsize=10)
        ax.set_ylabel(r["metric"] + (" (higher better)" if r["direction"] == "maximize"
                                     else " (lower better)"), fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def write_section(doc: Path, body: str) -> None:
    """Replace or append our marked section; the rest of the file is left as it is."""
    _common.write_section(doc, SECTION, body, "# Benchmarks\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="ppo,dpo", help="comma-separated: ppo, dpo")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--ppo-steps", type=int, default=20_000)
    parser.add_argument("--ppo-trials", type=int, default=12)
    parser.add_argument("--dpo-steps", type=int, default=100)
    parser.add_argument("--dpo-trials", type=int, default=20)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run (2 seeds, tiny budgets) that writes no docs")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--img", type=Path, default=ROOT / "docs" / "img" / "tuning_value.png")
    parser.add_argument("--json", type=Path,
                        default=ROOT / "benchmarks" / "results" / "tuning_value.json")
    args = parser.parse_args()
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    for t in tasks:
        if t not in ("ppo", "dpo"):
            parser.error(f"--tasks: unknown task {t!r}; choose from ppo, dpo")
    if args.seeds < 2:
        parser.error("--seeds: needs at least 2 to measure a spread")
    if args.quick:
        args.seeds, args.ppo_steps, args.ppo_trials = 2, 2048, 3
        args.dpo_steps, args.dpo_trials = 10, 3
        tmp = Path(tempfile.mkdtemp(prefix="hpo-tv-quick-"))
        args.doc, args.img, args.json = tmp / "benchmarks.md", tmp / "tv.png", tmp / "tv.json"

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    t0 = time.perf_counter()
    results = [{"ppo": bench_ppo, "dpo": bench_dpo}[t](args) for t in tasks]
    total = time.perf_counter() - t0
    body = render(results, args, total)
    print(body)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, default=str))
    plot(results, args.img)
    rel = os.path.relpath(args.img, args.doc.parent)
    write_section(args.doc, body.replace("(img/tuning_value.png)", f"({rel})"))
    print(f"wrote {args.doc} ({SECTION} section), {args.img}, {args.json}")


if __name__ == "__main__":
    main()
