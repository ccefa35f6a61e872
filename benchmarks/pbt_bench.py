"""Population-based training benchmark: hpo's PBT, PB2 and MO-PBT against baselines.

Three parts, each writing its raw results to ``benchmarks/results/pbt_<part>.json``, a
plot to ``docs/img/pbt_<part>.png`` and its own section of ``docs/pbt_benchmarks.md``
(between ``<!-- pbt-<part>:start -->`` / ``<!-- pbt-<part>:end -->`` markers):

* ``toy``: the PBT paper's toy problem (``benchmarks/pbt_problems.py``), population 4,
  interval 4, 40 steps: hpo PBT and PB2, random search (the same initial population
  with fixed hyperparameters, the same 160 steps), a fixed-hyperparameter baseline and
  Ray Tune's ``PopulationBasedTraining`` and ``PB2`` started from the same population;
  final best score and the measured overhead per exploit decision.
* ``ppo``: hpo's PPO on CartPole-v1 (``lr`` and ``ent_coef`` searched) under hpo PBT and
  PB2 against hpo's GPSampler at equal total environment steps.
* ``mo``: MO-PBT on the toy's score against its hyperparameter cost: hypervolume of the
  members' final front against random search and single-objective PBT.

    python -m benchmarks.pbt_bench --quick             # smoke run of all parts, < 3 min
    python -m benchmarks.pbt_bench toy --seeds 5
    nice python -m benchmarks.pbt_bench ppo --seeds 5 --jobs 2
    python -m benchmarks.pbt_bench mo --seeds 5
    python -m benchmarks.pbt_bench all --seeds 5 --jobs 2

Not part of the ``hpo`` package, which never imports it.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import argparse
import contextlib
import json
import logging
import math
import multiprocessing
import platform
import random
import statistics
import tempfile
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import optuna

import hpo
from benchmarks import _common
from benchmarks import pbt_problems as pp
from benchmarks._common import (
    command_line,
    git_rev,
    hpo_dirty,
    machine,
    med_range,
    now,
    table,
    versions,
)
from benchmarks._common import median as _median
from hpo import _attrs

ROOT = Path(__file__).resolve().parents[1]

DOC = ROOT / "docs" / "pbt_benchmarks.md"
IMG = ROOT / "docs" / "img"
RESULTS = ROOT / "benchmarks" / "results"
QUICK = Path(tempfile.gettempdir()) / "pbt_bench_quick"  # --quick output, outside the tree

DOC_HEADER = """# Population-based training: benchmarks

hpo's `PBT`, `PB2` and `MOPBT` samplers (docs/pbt.md) against random search, fixed
hyperparameters, hpo's `GPSampler` and Ray Tune's `PopulationBasedTraining` and `PB2`.
The harness is `benchmarks/pbt_bench.py` (objectives in `benchmarks/pbt_problems.py`);
it is not part of the `hpo` package. Each section below was written by the command it
names; all systems of a section ran in one invocation on the same machine, and only
ratios within one section are meaningful (the machine was shared with other work).
Values are medians over seeds with [min, max] ranges.
"""

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


# -- reporting helpers ----------------------------------------------------------------------

def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if math.isfinite(a) and math.isfinite(b) and b > 0 else "-"


def env_lines(extra: dict[str, str] | None = None) -> list[str]:
    vs = versions(("hpo", "optuna", "torch", "botorch", "gpytorch", "numpy", "scipy", "ray",
                   "scikit-learn", "gymnasium"))
    dirty = " (uncommitted changes under hpo/)" if hpo_dirty() else ""
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [f"machine: {machine()}; load average at the end {load}",
             f"versions: python {platform.python_version()}, "
             + ", ".join(f"{k} {v}" for k, v in vs.items()),
             f"commit: {git_rev() or 'unknown'}{dirty}"]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return lines


def write_section(name: str, body: str) -> None:
    _common.write_section(DOC, name, body, DOC_HEADER)


def header_lines(title: str, setting: str, extra: dict[str, str] | None = None) -> list[str]:
    out = [f"## {title}", "", f"- command: `{command_line()}`", f"- date: {now()}"]
    out += [f"- {ln}" for ln in env_lines(extra)]
    out.append(f"- setting: {setting}")
    return out


# -- running hpo's samplers with timed ask / tell ---------------------------------------------

def _storage(kind: str, tmp: str) -> str | optuna.storages.BaseStorage:
    if kind == "sqlite-memory":
        return "sqlite:///:memory:"
    if kind == "sqlite-file":
        return f"sqlite:///{tmp}/study.db"
    raise ValueError(kind)


def hpo_run(sampler: optuna.samplers.BaseSampler, objective: hpo.Objective,
            n_trials: int | None = None, storage: str = "sqlite-memory",
            max_resource: int | None = None) -> dict[str, Any]:
    """Run ``objective`` under ``sampler`` in one process with a timed ask/tell loop until
    a population sampler says it is finished (or ``n_trials``). Returns per-trial timings
    and the study's trials (values, members, resources)."""
    tmp = tempfile.mkdtemp(prefix="pbt_bench_")
    kw: dict[str, Any] = {"directions": objective.directions}
    if max_resource is not None:
        kw["max_resource"] = max_resource
    # NopPruner: hpo.create_study's default (Optuna's MedianPruner) prunes PBT segments of
    # objectives that report, e.g. hpo's PPO (see docs/pbt_benchmarks.md, "Findings")
    study = hpo.create_study(sampler=sampler, storage=_storage(storage, tmp), artifact_dir=tmp,
                             pruner=optuna.pruners.NopPruner(), **kw)
    population = getattr(sampler, "is_finished", None)
    log: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    while True:
        if population is not None and population(study):
            break
        if n_trials is not None and len(log) >= n_trials:
            break
        t0 = time.perf_counter()
        trial = study.ask()
        t1 = time.perf_counter()
        try:
            value = objective(trial)
            state = optuna.trial.TrialState.COMPLETE
        except optuna.TrialPruned:
            value, state = None, optuna.trial.TrialState.PRUNED
        t2 = time.perf_counter()
        study.tell(trial, value, state=state)
        t3 = time.perf_counter()
        attrs = study._storage.get_trial_system_attrs(trial._trial_id)
        kind = "exploit" if _attrs.EXPLOIT in attrs else \
            "continue" if _attrs.PARENT in attrs else "start"
        log.append({"number": trial.number, "kind": kind, "ask_s": t1 - t0, "run_s": t2 - t1,
                    "tell_s": t3 - t2})
    wall = time.perf_counter() - t_start
    trials = []
    for t in study.get_trials(deepcopy=False):
        a = t.system_attrs
        start, stop = hpo.budget(t, max_resource=max_resource or pp.MAX_STEPS)
        trials.append({"number": t.number, "state": t.state.name, "values": t.values,
                       "params": t.params, "member": a.get(_attrs.MEMBER),
                       "exploit": a.get(_attrs.EXPLOIT), "start": start, "stop": stop,
                       "user_attrs": t.user_attrs})
    members = []
    if population is not None:
        for m in sampler.population(study):  # type: ignore[attr-defined]
            last = m.last
            members.append({"id": m.id, "stop": m.stop, "values": last.values if last else None,
                            "params": dict(last.params) if last else None,
                            "user_attrs": dict(last.user_attrs) if last else {}})
    return {"wall_s": wall, "log": log, "trials": trials, "members": members}


def _final_values(run: dict[str, Any], at: int) -> list[list[float]]:
    """Objective vectors of the population at resource ``at`` (members) or of the plain
    trials trained to ``at`` (baselines)."""
    if run["members"]:
        return [m["values"] for m in run["members"] if m["stop"] == at and m["values"]]
    return [t["values"] for t in run["trials"] if t["stop"] == at and t["values"]]


def _best_curve(run: dict[str, Any], checkpoints: Sequence[int]) -> list[float]:
    """Best value among the segments/trials that end at each resource in ``checkpoints``."""
    out = []
    for c in checkpoints:
        vals = [t["values"][0] for t in run["trials"] if t["stop"] == c and t["values"]]
        out.append(max(vals) if vals else math.nan)
    return out


def _timing_summary(log: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, dict[str, list[float]]] = {}
    for r in log:
        d = by.setdefault(r["kind"], {"ask_s": [], "run_s": [], "tell_s": [], "segment_s": []})
        d["ask_s"].append(r["ask_s"])
        d["run_s"].append(r["run_s"])
        d["tell_s"].append(r["tell_s"])
        d["segment_s"].append(r["ask_s"] + r["run_s"] + r["tell_s"])
    return by


# -- Ray Tune ---------------------------------------------------------------------------------

def _ray_scheduler(kind: str, seed: int) -> Any:
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.schedulers.pb2 import PB2

    base: type = PopulationBasedTraining if kind == "pbt" else PB2

    class Timed(base):  # type: ignore[misc, valid-type]
        """Times ``on_trial_result`` at every perturbation point (decision + waiting for
        the clone's checkpoint, which Ray resolves inside the call)."""

        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, **k)
            self.timings: list[tuple[float, bool]] = []

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
            state = self._trial_state.get(trial)
            point = state is not None and self._time_attr in result and \
                result[self._time_attr] - state.last_perturbation_time >= \
                self._perturbation_interval
            n0 = self._num_perturbations
            t = time.perf_counter()
            out = super().on_trial_result(tune_controller, trial, result)
            if point:
                self.timings.append((time.perf_counter() - t, self._num_perturbations > n0))
            return out

    common = {"time_attr": "step", "perturbation_interval": pp.INTERVAL,
              "quantile_fraction": 0.25}
    if kind == "pbt":
        def clip(c: dict[str, Any]) -> dict[str, Any]:  # keep h in [0, 1] like hpo does
            return {**c, "h0": min(1.0, max(0.0, c["h0"])), "h1": min(1.0, max(0.0, c["h1"]))}

        return Timed(**common, hyperparam_mutations={"h0": tune.uniform(0, 1),
                                                     "h1": tune.uniform(0, 1)},
                     resample_probability=0.25, perturbation_factors=(1.2, 0.8),
                     custom_explore_fn=clip)
    return Timed(**common, hyperparam_bounds={"h0": [0.0, 1.0], "h1": [0.0, 1.0]})


def ray_toy_run(kind: str, seed: int, init: list[dict[str, float]]) -> dict[str, Any]:
    """One Ray Tune run of the toy (``kind`` 'pbt' or 'pb2') from the population ``init``;
    4 trials at 0.5 CPU each run concurrently on the 2 CPUs given to ``ray.init``."""
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    random.seed(seed)
    np.random.seed(seed)
    tmp = tempfile.mkdtemp(prefix="pbt_bench_ray_")
    log = os.path.join(tmp, "segments.log")
    sched = _ray_scheduler(kind, seed)
    tuner = tune.Tuner(
        tune.with_resources(pp.ray_toy, {"cpu": 0.5}),
        param_space={"h0": tune.uniform(0, 1), "h1": tune.uniform(0, 1), "_log": log},
        tune_config=tune.TuneConfig(
            scheduler=sched, num_samples=len(init), metric="score", mode="max",
            reuse_actors=True,
            search_alg=BasicVariantGenerator(points_to_evaluate=[dict(p) for p in init],
                                             random_state=seed)),
        run_config=tune.RunConfig(storage_path=tmp, name="toy", stop={"step": pp.MAX_STEPS},
                                  verbose=0,
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=4)))
    t0 = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - t0
    finals = [r.metrics.get("score") for r in grid if r.metrics]
    stops = [r.metrics.get("step") for r in grid if r.metrics]
    segs, best_at = [], {}
    with open(log) as f:
        for ln in f:
            step, train_s, score = ln.split()
            segs.append((int(step), float(train_s)))
            best_at[int(step)] = max(best_at.get(int(step), -math.inf), float(score))
    return {"wall_s": wall, "final": finals, "final_stops": stops, "segments": len(segs),
            "steps_trained": len(segs) * pp.INTERVAL, "train_s": sum(s for _, s in segs),
            "decision_s": [d for d, _ in sched.timings],
            "exploit_decision_s": [d for d, e in sched.timings if e],
            "perturbations": sched._num_perturbations,
            "curve": [best_at.get(c, math.nan)
                      for c in range(pp.INTERVAL, pp.MAX_STEPS + 1, pp.INTERVAL)]}


# -- part 1: the toy problem --------------------------------------------------------------------

TOY_POP = 4
FIXED_H = {"h0": 0.5, "h1": 0.5}


def toy_part(seeds: list[int], ray_on: bool, quick: bool) -> dict[str, Any]:
    res: dict[str, Any] = {"seeds": seeds, "runs": {}}
    runs = res["runs"]
    checkpoints = list(range(pp.INTERVAL, pp.MAX_STEPS + 1, pp.INTERVAL))

    def add(system: str, seed: int, r: dict[str, Any]) -> None:
        runs.setdefault(system, {})[str(seed)] = r

    for seed in seeds:
        rnd = hpo_run(optuna.samplers.RandomSampler(seed=seed), pp.toy, n_trials=TOY_POP)
        init = [t["params"] for t in rnd["trials"]]
        fixed_theta = pp.toy_train(list(pp.THETA0), FIXED_H["h0"], FIXED_H["h1"], pp.MAX_STEPS)
        add("random", seed, {"final": [v[0] for v in _final_values(rnd, pp.MAX_STEPS)],
                             "steps_trained": TOY_POP * pp.MAX_STEPS, "init": init,
                             "curve": [max(pp.toy_score(pp.toy_train(list(pp.THETA0), p["h0"],
                                                                      p["h1"], c)) for p in init)
                                       for c in checkpoints]})
        add("fixed", seed, {"final": [pp.toy_score(fixed_theta)], "steps_trained": pp.MAX_STEPS,
                            "curve": [pp.toy_score(pp.toy_train(list(pp.THETA0), FIXED_H["h0"],
                                                                FIXED_H["h1"], c))
                                      for c in checkpoints]})
        for name, cls in (("hpo-pbt", hpo.samplers.PBT), ("hpo-pb2", hpo.samplers.PB2)):
            for storage in ("sqlite-memory", "sqlite-file"):
                if storage == "sqlite-file" and (quick or name != "hpo-pbt"):
                    continue
                sampler = cls(TOY_POP, pp.INTERVAL, pp.MAX_STEPS, seed=seed)
                r = hpo_run(sampler, pp.toy, storage=storage)
                steps = sum(t["stop"] - t["start"] for t in r["trials"] if t["state"] == "COMPLETE")
                key = name if storage == "sqlite-memory" else f"{name} (SQLite file)"
                add(key, seed, {"final": [v[0] for v in _final_values(r, pp.MAX_STEPS)],
                                "steps_trained": steps, "wall_s": r["wall_s"],
                                "segments": len(r["log"]), "timing": _timing_summary(r["log"]),
                                "curve": _best_curve(r, checkpoints),
                                "init": [t["params"] for t in r["trials"][:TOY_POP]]})
                print(f"  toy seed {seed} {key}: best {max(runs[key][str(seed)]['final']):.5f} "
                      f"wall {r['wall_s']:.1f}s", flush=True)
        if ray_on:
            for kind in ("pbt", "pb2"):
                r = ray_toy_run(kind, seed, init)
                add(f"ray-{kind}", seed, r)
                print(f"  toy seed {seed} ray-{kind}: best {max(r['final']):.5f} "
                      f"wall {r['wall_s']:.1f}s, {r['segments']} segments, "
                      f"{r['perturbations']} exploits", flush=True)
    return res


LABELS = {"hpo-pbt": "hpo PBT", "hpo-pb2": "hpo PB2", "ray-pbt": "Ray Tune PBT",
          "ray-pb2": "Ray Tune PB2", "random": "random search (fixed h)",
          "fixed": "fixed h = (0.5, 0.5)", "hpo-pbt (SQLite file)": "hpo PBT, SQLite file",
          "hpo-gp": "hpo GPSampler", "hpo-mopbt": "hpo MOPBT",
          "pbt-scalar": "hpo PBT on Q - w cost", "pbt-score": "hpo PBT on Q only"}


def toy_report(res: dict[str, Any], ray_init_s: float | None, out_png: Path,
               part_wall: float) -> str:
    runs = res["runs"]
    order = [s for s in ("hpo-pbt", "hpo-pb2", "ray-pbt", "ray-pb2", "random", "fixed")
             if s in runs]
    best = {s: [max(r["final"]) for r in runs[s].values()] for s in order}
    rows = []
    for s in order:
        steps = [r["steps_trained"] for r in runs[s].values()]
        reg = [1.2 - b for b in best[s]]
        rows.append([LABELS[s], med_range(best[s], "{:.5f}"), med_range(reg, "{:.2e}"),
                     med_range(steps, "{:.0f}")])
    t1 = table(["system", "final best Q (max 1.2)", "regret 1.2 - Q", "steps trained"], rows)
    ratio_rows = []
    for num, den in (("hpo-pbt", "ray-pbt"), ("hpo-pb2", "ray-pb2"), ("hpo-pbt", "random"),
                     ("hpo-pb2", "random"), ("hpo-pbt", "fixed")):
        if num in best and den in best:
            a = _median(1.2 - b for b in best[num])
            b = _median(1.2 - b for b in best[den])
            ratio_rows.append([f"{LABELS[num]} / {LABELS[den]}", f"{a / b:.3f}x"])
    t2 = table(["median regret ratio (< 1: first is better)", "ratio"], ratio_rows)

    ov_rows = []
    ms = "{:.2f}"
    for s in ("hpo-pbt", "hpo-pbt (SQLite file)", "hpo-pb2"):
        if s not in runs:
            continue
        tim = [r["timing"] for r in runs[s].values()]

        def pool(kind: str, key: str, tim: list[Any] = tim) -> list[float]:
            return [1e3 * x for t in tim for x in t.get(kind, {}).get(key, [])]

        wall = [1e3 * r["wall_s"] / r["segments"] for r in runs[s].values()]
        ov_rows.append([LABELS[s], med_range(pool("exploit", "ask_s"), ms),
                        med_range(pool("continue", "ask_s"), ms),
                        med_range(pool("exploit", "segment_s"), ms),
                        med_range(wall, ms), str(len(pool("exploit", "ask_s")))])
    for s in ("ray-pbt", "ray-pb2"):
        if s not in runs:
            continue
        rr = list(runs[s].values())
        exp = [1e3 * x for r in rr for x in r["exploit_decision_s"]]
        dec = [1e3 * x for r in rr for x in r["decision_s"]]
        wall = [1e3 * (r["wall_s"] - r["train_s"]) / r["segments"] for r in rr]
        ov_rows.append([LABELS[s], med_range(exp, ms), med_range(dec, ms), "-",
                        med_range(wall, ms), str(len(exp))])
    t3 = table(["overhead, ms", "per exploit decision", "per other decision",
                "exploit segment (ask + run + tell)", "wall per segment - training",
                "exploits timed"], ov_rows)
    ratio_ov = []
    for a, b in (("hpo-pbt", "ray-pbt"), ("hpo-pb2", "ray-pb2")):
        if a in runs and b in runs:
            ha = _median([x for r in runs[a].values()
                          for x in r["timing"].get("exploit", {}).get("ask_s", [])])
            hb = _median([x for r in runs[b].values() for x in r["exploit_decision_s"]])
            wa = _median([r["wall_s"] / r["segments"] for r in runs[a].values()])
            wb = _median([(r["wall_s"] - r["train_s"]) / r["segments"] for r in runs[b].values()])
            ratio_ov.append([f"{LABELS[a]} / {LABELS[b]}", _ratio(ha, hb), _ratio(wa, wb)])
    t4 = table(["overhead ratio", "per exploit decision", "wall per segment"], ratio_ov) \
        if ratio_ov else ""
    _plot_toy(res, order, out_png)
    seeds = res["seeds"]
    ray_txt = f"{ray_init_s:.1f} s" if ray_init_s else "not run"
    setting = (
        f"population {TOY_POP}, perturbation interval {pp.INTERVAL} steps, {pp.MAX_STEPS} "
        f"steps per member ({TOY_POP * pp.MAX_STEPS} in all), quantile 0.25, seeds {seeds} "
        "(the sampler seed; every system of a seed starts from the same 4 random (h0, h1), "
        "drawn by Optuna's RandomSampler(seed)); hpo: one process, `study.ask()` / objective / "
        "`study.tell()` timed around each segment, storage `sqlite:///:memory:` unless the row "
        "says SQLite file, checkpoints in a temporary artifact dir; random search = the "
        "initial members trained 40 steps without exploit; fixed = h = (0.5, 0.5); Ray Tune: "
        "one report + checkpoint (a directory with a JSON file) per 4-step segment, "
        "`time_attr='step'`, the same quantile / resample probability 0.25 / factors (1.2, "
        "0.8), PBT's explore clipped into [0, 1] by a `custom_explore_fn` (Ray does not clip), "
        "4 trials at 0.5 CPU each running concurrently, `reuse_actors=True`, "
        f"`ray.init(num_cpus=2)` once ({ray_txt}, "
        f"not counted); part wall time {part_wall / 60:.1f} min")
    lines = header_lines("Toy problem of the PBT paper", setting)
    lines += ["", f"![toy](img/{out_png.name})", "", t1, "", t2, "", t3, ""]
    if t4:
        lines += [t4, ""]
    lines += [
        "Overhead columns: hpo's *per exploit decision* is the time of `study.ask()` for a "
        "segment that copies another member (ranking, explore, PB2's GP fit, writing the "
        "segment's budget and parent); Ray's is the time of the scheduler's "
        "`on_trial_result` at a perturbation point that exploited (it also waits for the "
        "clone's checkpoint there); *per other decision* are the remaining perturbation "
        "points (hpo: continue decisions). *Wall per segment - training* is the run's wall "
        "time over the segments trained, less the training itself (a few microseconds on "
        "the toy), i.e. everything the framework adds per segment, the checkpoint save "
        "and load included. hpo runs the segments one after another in one process; Ray "
        "runs the 4 trials concurrently in actor processes, which helps it on this measure."]
    return "\n".join(lines)


def _plot_toy(res: dict[str, Any], order: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = res["runs"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    xs = list(range(pp.INTERVAL, pp.MAX_STEPS + 1, pp.INTERVAL))
    for s in order:
        curves = [r["curve"] for r in runs[s].values() if "curve" in r]
        if not curves:
            continue
        med = np.nanmedian(np.array(curves), axis=0)
        ax1.plot(xs, np.maximum(1.2 - med, 1e-6), marker="o", ms=3, label=LABELS[s],
                 ls="--" if s.startswith("ray") else "-")
    ax1.set_yscale("log")
    ax1.set_xlabel("steps per member")
    ax1.set_ylabel("regret 1.2 - best Q (median over seeds)")
    ax1.set_title("toy problem, population 4")
    ax1.legend(fontsize=8)
    data, labels = [], []
    for s in order:
        data.append([max(1.2 - max(r["final"]), 1e-6) for r in runs[s].values()])
        labels.append(LABELS[s].replace(" (fixed h)", "\n(fixed h)"))
    ax2.boxplot(data, tick_labels=labels)
    ax2.set_yscale("log")
    ax2.set_ylabel("final regret at 40 steps")
    ax2.tick_params(axis="x", labelsize=7, rotation=20)
    ax2.set_title("final regret per seed")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


# -- part 2: PPO ----------------------------------------------------------------------------

def ppo_job(system: str, seed: int, pop: int, interval: int, segments: int,
            metric: str = "train") -> dict[str, Any]:
    """One (system, seed) run of the PPO part, in its own process."""
    import torch

    with contextlib.suppress(OSError):
        if os.nice(0) < 10:
            os.nice(10 - os.nice(0))
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    max_steps = interval * segments
    obj = pp.ppo_objective(seed, max_steps, metric)
    mutate = ["lr", "ent_coef"]
    if system == "hpo-pbt":
        r = hpo_run(hpo.samplers.PBT(pop, interval, max_steps, mutate=mutate, seed=seed), obj,
                    max_resource=max_steps)
    elif system == "hpo-pb2":
        # PB2 has no mutate=: it explores every numeric parameter, here lr and ent_coef
        # (the others are hpo.fixed, single-choice categoricals, which it keeps)
        r = hpo_run(hpo.samplers.PB2(pop, interval, max_steps, seed=seed, device="cpu"), obj,
                    max_resource=max_steps)
    elif system == "hpo-gp":
        r = hpo_run(hpo.samplers.GPSampler(seed=seed, n_startup_trials=max(1, pop // 2),
                                           device="cpu"), obj, n_trials=pop,
                    max_resource=max_steps)
    else:
        raise ValueError(system)
    steps = sum(t["stop"] - t["start"] for t in r["trials"] if t["state"] == "COMPLETE")
    finals = [v[0] for v in _final_values(r, max_steps)]
    # best value among runs/segments finished so far, against environment steps consumed
    curve, used, best = [], 0, -math.inf
    for t in sorted(r["trials"], key=lambda t: t["number"]):
        if t["state"] != "COMPLETE":
            continue
        used += t["stop"] - t["start"]
        if t["stop"] == max_steps:
            best = max(best, t["values"][0])
        curve.append((used, best))
    return {"system": system, "seed": seed, "final": finals, "env_steps": steps,
            "wall_s": r["wall_s"], "timing": _timing_summary(r["log"]), "curve": curve,
            "params": [m["params"] for m in r["members"]] if r["members"] else
            [t["params"] for t in r["trials"]]}


def ppo_part(seeds: list[int], jobs: int, pop: int, interval: int, segments: int,
             systems: list[str], metric: str = "train") -> dict[str, Any]:
    tasks = [(s, seed) for seed in seeds for s in systems]
    out: dict[str, Any] = {"seeds": seeds, "pop": pop, "interval": interval,
                           "segments": segments, "metric": metric, "runs": {}}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as ex:
        futs = [ex.submit(ppo_job, s, seed, pop, interval, segments, metric)
                for s, seed in tasks]
        for f in futs:
            r = f.result()
            out["runs"].setdefault(r["system"], {})[str(r["seed"])] = r
            print(f"  ppo seed {r['seed']} {r['system']}: best {max(r['final']):.1f} "
                  f"({r['env_steps']} env steps, {r['wall_s']:.0f}s)", flush=True)
    return out


def ppo_report(res: dict[str, Any], out_png: Path, part_wall: float, jobs: int) -> str:
    runs = res["runs"]
    order = [s for s in ("hpo-pbt", "hpo-pb2", "hpo-gp") if s in runs]
    best = {s: [max(r["final"]) for r in runs[s].values()] for s in order}
    mean = {s: [statistics.mean(r["final"]) for r in runs[s].values()] for s in order}
    rows = [[LABELS[s], med_range(best[s], "{:.1f}"), med_range(mean[s], "{:.1f}"),
             med_range([r["env_steps"] for r in runs[s].values()], "{:.0f}"),
             med_range([r["wall_s"] for r in runs[s].values()], "{:.0f}")] for s in order]
    t1 = table(["system", "best final value", "mean over the population / trials",
                "env steps", "wall s per run"], rows)
    ratio = []
    for a in ("hpo-pbt", "hpo-pb2"):
        if a in best and "hpo-gp" in best:
            ratio.append([f"{LABELS[a]} / {LABELS['hpo-gp']}",
                          f"{_median(best[a]) / _median(best['hpo-gp']):.2f}x",
                          f"{sum(x > y for x, y in zip(best[a], best['hpo-gp'], strict=True))}"
                          f"/{len(best[a])}"])
    t2 = table(["median best ratio (> 1: first is better)", "ratio", "seeds won"], ratio)
    ov = []
    for s in ("hpo-pbt", "hpo-pb2"):
        if s in runs:
            tim = [r["timing"] for r in runs[s].values()]
            ex = [1e3 * x for t in tim for x in t.get("exploit", {}).get("ask_s", [])]
            co = [1e3 * x for t in tim for x in t.get("continue", {}).get("ask_s", [])]
            seg = [x for t in tim for k in t for x in t[k]["run_s"]]
            ov.append([LABELS[s], med_range(ex, "{:.1f}"), med_range(co, "{:.1f}"),
                       str(len(ex)), med_range(seg, "{:.1f}")])
    t3 = table(["system", "ask ms, exploit", "ask ms, continue", "exploits",
                "training s per segment"], ov) if ov else ""
    _plot_ppo(res, order, out_png)
    pop, interval, segs = res["pop"], res["interval"], res["segments"]
    metric = res.get("metric", "train")
    metric_txt = (
        "Value = the objective's `metric='train'`: mean return of all training episodes since "
        "step 0 (copied with the checkpoint on exploit)." if metric == "train" else
        "Value = `metric='eval'`: mean return of 5 deterministic evaluation episodes of the "
        "policy at the end of the run (evaluated every max_steps / 10 steps, not counted in "
        "the env steps).")
    setting = (
        f"hpo's PPO (`hpo.integrations.ppo`, CartPole-v1, 4 envs, CPU, 1 torch thread, nice "
        f"10), only `lr` (log-uniform 1e-5..1e-2) and `ent_coef` (0..0.05) searched, the "
        f"other hyperparameters fixed at the defaults; a full run is {interval * segs} env "
        f"steps. PBT / PB2: population {pop}, {segs} segments of {interval} steps, "
        f"mutate lr and ent_coef, quantile 0.25; GPSampler: {pop} full runs "
        f"(n_startup_trials={max(1, pop // 2)}), i.e. the same {pop * interval * segs} env "
        f"steps. {metric_txt} Seeds {res['seeds']} seed the sampler and "
        f"the PPO run (network, environments); {jobs} runs in parallel processes; part wall "
        f"time {part_wall / 60:.1f} min")
    title = "PPO on CartPole: PBT and PB2 against the GP sampler" + (
        "" if metric == "train" else " (final evaluation return)")
    lines = header_lines(title, setting)
    lines += ["", f"![ppo](img/{out_png.name})", "", t1, "", t2, ""]
    if t3:
        lines += [t3, ""]
    return "\n".join(lines)


def _plot_ppo(res: dict[str, Any], order: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    total = res["pop"] * res["interval"] * res["segments"]
    grid = np.linspace(0, total, 41)
    for s in order:
        ys = []
        for r in res["runs"][s].values():
            c = r["curve"]
            y = [max([b for u, b in c if u <= g] or [-math.inf]) for g in grid]
            ys.append(y)
        arr = np.array(ys, dtype=float)
        arr[~np.isfinite(arr)] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ax1.plot(grid, np.nanmedian(arr, axis=0), label=LABELS[s])
    ax1.set_xlabel("environment steps consumed (all members / trials)")
    ax1.set_ylabel("best full-run value so far (median)")
    ax1.legend(fontsize=8)
    ax1.set_title("PPO CartPole-v1")
    ax2.boxplot([[max(r["final"]) for r in res["runs"][s].values()] for s in order],
                tick_labels=[LABELS[s] for s in order])
    ax2.set_ylabel("best final value per seed")
    ax2.set_title("at equal env steps")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


# -- part 3: MO-PBT -------------------------------------------------------------------------

MO_POP = 8
MO_REF = (0.0, -2.0)  # (Q, -cost): Q above 0, cost below 2 (h0 + h1 <= 2 always)


def hypervolume(points: list[tuple[float, float]]) -> float:
    """Hypervolume of (Q, cost) points, Q maximised and cost minimised, from MO_REF."""
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume
    from botorch.utils.multi_objective.pareto import is_non_dominated

    if not points:
        return 0.0
    y = torch.tensor([[q, -c] for q, c in points], dtype=torch.double)
    ref = torch.tensor(MO_REF, dtype=torch.double)
    y = y[(y > ref).all(dim=-1)]
    if len(y) == 0:
        return 0.0
    return float(Hypervolume(ref).compute(y[is_non_dominated(y)]))


def mo_part(seeds: list[int]) -> dict[str, Any]:
    res: dict[str, Any] = {"seeds": seeds, "runs": {}, "weight": pp.SCALAR_WEIGHT}
    for seed in seeds:
        runs: dict[str, dict[str, Any]] = {}
        r = hpo_run(hpo.samplers.MOPBT(MO_POP, pp.INTERVAL, pp.MAX_STEPS, seed=seed), pp.toy_mo)
        runs["hpo-mopbt"] = r
        runs["random"] = hpo_run(optuna.samplers.RandomSampler(seed=seed), pp.toy_mo,
                                 n_trials=MO_POP)
        runs["pbt-scalar"] = hpo_run(hpo.samplers.PBT(MO_POP, pp.INTERVAL, pp.MAX_STEPS,
                                                      seed=seed), pp.toy_scalar)
        for name, run in runs.items():
            if name == "pbt-scalar":
                pts = [(m["user_attrs"]["score"], m["user_attrs"]["cost"]) for m in run["members"]
                       if m["stop"] == pp.MAX_STEPS]
            else:
                pts = [(v[0], v[1]) for v in _final_values(run, pp.MAX_STEPS)]
            steps = sum(t["stop"] - t["start"] for t in run["trials"]
                        if t["state"] == "COMPLETE")
            res["runs"].setdefault(name, {})[str(seed)] = {
                "points": pts, "hv": hypervolume(pts), "steps_trained": steps,
                "wall_s": run["wall_s"]}
        print(f"  mo seed {seed}: " + ", ".join(
            f"{k} HV {res['runs'][k][str(seed)]['hv']:.4f}" for k in runs), flush=True)
    return res


def mo_report(res: dict[str, Any], out_png: Path, part_wall: float) -> str:
    runs = res["runs"]
    order = [s for s in ("hpo-mopbt", "pbt-scalar", "random") if s in runs]
    hv = {s: [r["hv"] for r in runs[s].values()] for s in order}
    rows = [[LABELS[s], med_range(hv[s]),
             med_range([sum(1 for _ in r["points"]) for r in runs[s].values()], "{:.0f}"),
             med_range([r["steps_trained"] for r in runs[s].values()], "{:.0f}")]
            for s in order]
    t1 = table(["system", "hypervolume of the final members", "members at 40", "steps"], rows)
    ratio = [[f"{LABELS['hpo-mopbt']} / {LABELS[s]}",
              f"{_median(hv['hpo-mopbt']) / _median(hv[s]):.3f}x",
              f"{sum(a > b for a, b in zip(hv['hpo-mopbt'], hv[s], strict=True))}/{len(hv[s])}"]
             for s in order if s != "hpo-mopbt"]
    t2 = table(["median HV ratio (> 1: MOPBT better)", "ratio", "seeds won"], ratio)
    _plot_mo(res, order, out_png)
    setting = (
        f"the toy's training with two objectives, Q (maximised) and cost = mean of h0 + h1 "
        f"over the steps trained (minimised, inherited on exploit); population {MO_POP}, "
        f"interval {pp.INTERVAL}, {pp.MAX_STEPS} steps; hpo MOPBT (defaults); random search = "
        f"{MO_POP} members with fixed random h (the same initial population as MOPBT's); "
        f"single-objective hpo PBT on Q - {res['weight']} cost, its members' final (Q, cost) "
        f"evaluated; hypervolume of the non-dominated final members by botorch's "
        f"`Hypervolume` with reference point Q = {MO_REF[0]}, cost = {-MO_REF[1]} (maximum "
        f"possible {1.2 * 2:.1f}); seeds {res['seeds']}; part wall time "
        f"{part_wall / 60:.1f} min")
    lines = header_lines("MO-PBT: score against hyperparameter cost on the toy", setting)
    lines += ["", f"![mo](img/{out_png.name})", "", t1, "", t2, ""]
    return "\n".join(lines)


def _plot_mo(res: dict[str, Any], order: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    seed = str(res["seeds"][0])
    for s, mk in zip(order, "o^s", strict=False):
        pts = res["runs"][s][seed]["points"]
        ax1.scatter([c for _, c in pts], [q for q, _ in pts], marker=mk, label=LABELS[s],
                    alpha=0.8)
    ax1.set_xlabel("cost: mean h0 + h1 over training (min)")
    ax1.set_ylabel("Q at 40 steps (max)")
    ax1.set_ylim(bottom=MO_REF[0])
    ax1.set_title(f"final members, seed {seed}")
    ax1.legend(fontsize=8)
    ax2.boxplot([[r["hv"] for r in res["runs"][s].values()] for s in order],
                tick_labels=[LABELS[s] for s in order])
    ax2.set_ylabel("hypervolume")
    ax2.tick_params(axis="x", labelsize=8)
    ax2.set_title("hypervolume per seed")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


# -- main -------------------------------------------------------------------------------------

def _ray_init() -> float | None:
    try:
        import ray
    except ImportError:
        print("ray is not installed: Ray Tune rows skipped (pip install -e '.[dev]')")
        return None
    logging.getLogger("ray").setLevel(logging.ERROR)
    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             configure_logging=False)
    return time.perf_counter() - t


def _save(name: str, data: dict[str, Any], quick: bool) -> Path:
    d = QUICK if quick else RESULTS
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{name}.json"
    p.write_text(json.dumps(data, indent=1, default=float))
    return p


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", nargs="?", default="all", choices=["all", "toy", "ppo", "mo"])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run (< 3 min): 1 seed (2 for mo), tiny PPO; writes under "
                         "$TMPDIR/pbt_bench_quick and leaves docs/ and results/ alone")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2, help="parallel PPO processes (at most 2)")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray Tune rows")
    ap.add_argument("--ppo-pop", type=int, default=4)
    ap.add_argument("--ppo-interval", type=int, default=4096)
    ap.add_argument("--ppo-segments", type=int, default=5)
    ap.add_argument("--ppo-systems", default="hpo-pbt,hpo-pb2,hpo-gp")
    ap.add_argument("--ppo-metric", default="train", choices=["train", "eval"],
                    help="the PPO objective's value; eval writes pbt_ppo_eval.* and its own "
                         "section")
    args = ap.parse_args(argv)
    quick = args.quick
    seeds = list(range(2 if quick else args.seeds))
    jobs = max(1, min(args.jobs, 2))
    parts = ["toy", "ppo", "mo"] if args.part == "all" else [args.part]
    img = QUICK if quick else IMG
    t_all = time.perf_counter()
    # quick mode writes nothing into docs/: its sections go to a scratch copy
    global DOC
    if quick:
        DOC = QUICK / "pbt_benchmarks.md"
    if "toy" in parts:
        t = time.perf_counter()
        ray_s = None if args.no_ray else _ray_init()
        print(f"toy: seeds {seeds}, ray {'on' if ray_s is not None else 'off'}", flush=True)
        res = toy_part(seeds[:1] if quick else seeds, ray_s is not None, quick)
        res["ray_init_s"] = ray_s
        if ray_s is not None:
            import ray

            ray.shutdown()
        part_wall = time.perf_counter() - t
        res["part_wall_s"] = part_wall
        _save("pbt_toy", res, quick)
        body = toy_report(res, ray_s, img / "pbt_toy.png", part_wall)
        print(body)
        write_section("pbt-toy", body)
    if "ppo" in parts:
        t = time.perf_counter()
        pop, interval, segs = args.ppo_pop, args.ppo_interval, args.ppo_segments
        if quick:
            pop, interval, segs = 2, 512, 3
        systems = args.ppo_systems.split(",")
        print(f"ppo: seeds {seeds}, population {pop}, {segs} x {interval} steps", flush=True)
        res = ppo_part(seeds[:1] if quick else seeds, jobs, pop, interval, segs, systems,
                       args.ppo_metric)
        part_wall = time.perf_counter() - t
        res["part_wall_s"] = part_wall
        name = "pbt_ppo" if args.ppo_metric == "train" else "pbt_ppo_eval"
        _save(name, res, quick)
        body = ppo_report(res, img / f"{name}.png", part_wall, jobs)
        print(body)
        write_section(name.replace("_", "-"), body)
    if "mo" in parts:
        t = time.perf_counter()
        print(f"mo: seeds {seeds}", flush=True)
        res = mo_part(seeds)
        part_wall = time.perf_counter() - t
        res["part_wall_s"] = part_wall
        _save("pbt_mo", res, quick)
        body = mo_report(res, img / "pbt_mo.png", part_wall)
        print(body)
        write_section("pbt-mo", body)
    print(f"total {time.perf_counter() - t_all:.0f} s; doc: {DOC}")


if __name__ == "__main__":
    main()
