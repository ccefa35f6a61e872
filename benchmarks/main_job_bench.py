"""hpo's main job against the previous one, at equal environment steps.

Both tune hpo's PPO on CartPole-v1 (``hpo.integrations.ppo``, the 8 hyperparameters of
``ppo_cartpole``) until 450 000 environment steps were trained in all:

* ``freeze-thaw``: ``examples/ppo_freeze_thaw.yaml``'s sampler, FreezeThaw on the
  learning-curve GP, segments 5 000 -> 15 000 -> 45 000 steps continued from checkpoints;
* ``gp+median``: the previous main job's recipe (``examples/ppo_cartpole.py``):
  ``GPSampler`` with Optuna's ``MedianPruner`` (5 start-up trials, warm-up a quarter of
  the run), each trial up to 45 000 steps, reports every 4 500.

The recommended configuration of each sweep (``study.best_params``) is then retrained
from scratch for 45 000 steps on three fresh training seeds (1001-1003), each scored by
10 deterministic evaluation episodes; the table shows the mean over those.

    python -m benchmarks.main_job_bench --seeds 5 --jobs 2      # about 40 min on 2 cores
    python -m benchmarks.main_job_bench --systems freeze-thaw --merge   # one system again

Writes ``benchmarks/results/main_job.json`` and the ``main-job`` section of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results" / "main_job.json"
BUDGET = 450_000
FULL = 45_000
EVAL_SEEDS = (1001, 1002, 1003)


def _study(system: str, seed: int, tmp: str) -> tuple[Any, Any]:
    import optuna

    import hpo
    from hpo.integrations.ppo import make_ppo_objective, ppo_cartpole

    storage = f"sqlite:///{tmp}/study.db"
    if system == "freeze-thaw":
        sampler = hpo.samplers.FreezeThaw(
            5000, FULL, 3, searcher=hpo.samplers.MultiFidelityGPSampler(seed=seed))
        study = hpo.create_study(direction="maximize", storage=storage, sampler=sampler,
                                 artifact_dir=f"{tmp}/artifacts")
        return study, ppo_cartpole
    objective = make_ppo_objective("CartPole-v1", max_steps=FULL, report_every=FULL // 10)
    study = hpo.create_study(
        direction="maximize", storage=storage, sampler=hpo.samplers.GPSampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=FULL // 4),
        max_resource=FULL, artifact_dir=f"{tmp}/artifacts")
    return study, objective


def run_one(task: tuple[str, int]) -> dict[str, Any]:
    import optuna

    from hpo import _segments
    from hpo.integrations.ppo import make_ppo_objective

    system, seed = task
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        study, objective = _study(system, seed, tmp)
        history: list[list[float]] = []

        def stop_at_budget(study: optuna.Study, trial: Any) -> None:
            spent = _segments.consumed(study.get_trials(deepcopy=False))
            with contextlib.suppress(ValueError):  # nothing complete yet
                history.append([spent, study.best_value])
            if spent >= BUDGET:
                study.stop()

        study.optimize(objective, n_trials=10_000, callbacks=[stop_at_budget])
        best = dict(study.best_params)
        trials = len(study.trials)
        consumed = _segments.consumed(study.trials)
    sweep_s = time.perf_counter() - t0
    evaluate = make_ppo_objective("CartPole-v1", metric="eval", eval_episodes=10)
    scores = [evaluate(**best, max_steps=FULL, seed=s) for s in EVAL_SEEDS]
    return {"system": system, "seed": seed, "best_params": best, "trials": trials,
            "consumed": consumed, "eval": scores, "eval_mean": statistics.fmean(scores),
            "history": history, "sweep_s": sweep_s, "wall_s": time.perf_counter() - t0}


def report(runs: list[dict[str, Any]]) -> str:
    systems = list(dict.fromkeys(r["system"] for r in runs))
    seeds = sorted({r["seed"] for r in runs})
    head = ["system", *[f"seed {s}" for s in seeds], "median", "mean", "trials/sweep",
            "sweep s"]
    rows = []
    for s in systems:
        sr = {r["seed"]: r for r in runs if r["system"] == s}
        vals = [sr[k]["eval_mean"] for k in seeds if k in sr]
        rows.append([s, *[f"{sr[k]['eval_mean']:.1f}" if k in sr else "-" for k in seeds],
                     f"{statistics.median(vals):.1f}", f"{statistics.fmean(vals):.1f}",
                     f"{statistics.fmean(r['trials'] for r in sr.values()):.0f}",
                     f"{statistics.fmean(r['sweep_s'] for r in sr.values()):.0f}"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return ("Mean evaluation return (10 deterministic episodes, max 500) of each sweep's "
            f"recommended configuration retrained from scratch for {FULL} steps on training "
            f"seeds {', '.join(map(str, EVAL_SEEDS))}; each sweep stopped after {BUDGET} "
            "environment steps in all:\n\n" + "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--systems", default="freeze-thaw,gp+median")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other systems' sweeps of the results file")
    args = ap.parse_args()
    tasks = [(s, seed) for seed in range(args.seeds) for s in args.systems.split(",")]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = []
        for r in pool.map(run_one, tasks):
            print(f"{r['system']:12s} seed {r['seed']}: eval {r['eval_mean']:.1f} "
                  f"({r['trials']} trials, {r['wall_s']:.0f} s)", file=sys.stderr, flush=True)
            runs.append(r)
    wall = time.perf_counter() - t0
    if args.merge and RESULTS.exists():
        old = json.loads(RESULTS.read_text())
        mine = {r["system"] for r in runs}
        runs = [r for r in old["runs"] if r["system"] not in mine] + runs
        wall += old.get("wall_s", 0.0)
    text = report(runs)
    print(text)
    from benchmarks import _common
    from benchmarks import schedulers_bench as sb

    env = sb.environment()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"env": env, "wall_s": wall, "runs": runs}, indent=1))
    if not args.no_doc:
        sb.write_section("main-job", "\n".join([
            "## The main job: freeze-thaw against GPSampler + median pruner on PPO", "",
            *_common.env_lines(env),
            f"- {len(runs)} sweeps, {wall:.0f} s wall with --jobs {args.jobs}", "", text]))


if __name__ == "__main__":
    main()
