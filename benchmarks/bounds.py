"""Where the multi-fidelity acquisition puts its proposals: on the bounds of the space?

Issue 29's diagnosis on the learning-curve ground's simulator (2 simulated workers):
FreezeThaw on MultiFidelityGPSampler against GPSampler + Optuna's MedianPruner on
problems whose optimum is interior. For every new configuration it records how many of
its parameter values lie exactly on a bound, and for FreezeThaw's model-based proposals
what the model said there at the target resource: the posterior mean (against the
incumbent's) and standard deviation, and the log expected improvement.

    python -m benchmarks.bounds run --seeds 3 --budget 20      # about 30 min on 2 cores
    python -m benchmarks.bounds report

Writes ``benchmarks/results/bounds.json``, ``docs/img/bounds_proposals.png`` and the
``bounds`` section of ``docs/multifidelity.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import env_lines, environment, med_iqr, table, write_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bounds.json"
FIGURE = ROOT / "docs" / "img" / "bounds_proposals.png"
DOC = ROOT / "docs" / "multifidelity.md"
SYSTEMS = ("freeze-thaw", "gp+median")
PROBLEMS = ("mf-hartmann6", "mf-branin")


def _on_bound(params: dict[str, Any], space: dict[str, Any]) -> int:
    return sum(1 for k, d in space.items() if k in params and params[k] in (d.low, d.high))


def run_one(system: str, pname: str, seed: int, budget: float) -> dict[str, Any]:
    """One simulated sweep: per new configuration its values on a bound, and for
    FreezeThaw's model-based proposals the model's view at the target resource."""
    import optuna
    import torch

    import hpo
    from benchmarks.lcground import OptunaPolicy, get_problem, simulate
    from hpo.samplers.multifidelity import MultiFidelityGPSampler

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    problem = get_problem(pname)
    R = problem.max_resource
    proposals: list[dict[str, float]] = []
    if system == "freeze-thaw":

        class Recording(MultiFidelityGPSampler):
            def propose(self, model: Any, s: float | None = None) -> tuple[dict, float]:
                params, value = super().propose(model, s)
                s = model.level if s is None else s
                x = torch.as_tensor(model.encoder.encode(params), dtype=torch.float64)
                inc = model.incumbents(s, 1)[0]
                m, v = model.gp.mean_var(torch.stack([
                    torch.cat([x, torch.tensor([s], dtype=torch.float64)]),
                    torch.cat([inc, torch.tensor([s], dtype=torch.float64)])]))
                proposals.append({"on_bound": _on_bound(params, problem.space),
                                  "mean_gap": float(m[0, 0] - m[1, 0]),
                                  "sd": float(v[0, 0].sqrt()), "log_ei": float(value),
                                  "configs": len(model.configs)})
                return params, value

        sampler: Any = hpo.samplers.FreezeThaw(problem.min_resource, R, 3,
                                               searcher=Recording(seed=seed))
        policy = OptunaPolicy(problem, sampler, name=system)
    else:
        policy = OptunaPolicy(problem, hpo.samplers.GPSampler(seed=seed),
                              optuna.pruners.MedianPruner(n_startup_trials=5,
                                                          n_warmup_steps=R // 4), name=system)
    result = simulate(problem, policy, n_workers=2, seed=seed, max_consumed=budget * R)
    study = policy.study
    firsts = [t for t in study.trials
              if t.system_attrs.get("hpo:config", t.number) == t.number and t.params]
    best = hpo.Study.best_trial.fget(study).params  # type: ignore[attr-defined]
    return {"system": system, "problem": pname, "seed": seed, "budget": budget,
            "dims": len(problem.space),
            "on_bound": [_on_bound(t.params, problem.space) for t in firsts],
            "best_on_bound": _on_bound(best, problem.space),
            "regret": float(result.regret_at(budget * R)), "proposals": proposals}


def _run(args: argparse.Namespace) -> None:
    runs = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() and args.merge else []
    for pname in args.problems.split(","):
        for system in args.systems.split(","):
            for seed in range(args.seed0, args.seed0 + args.seeds):
                runs = [r for r in runs if (r["system"], r["problem"], r["seed"])
                        != (system, pname, seed)]
                runs.append(run_one(system, pname, seed, args.budget))
                print(system, pname, seed, f"regret {runs[-1]['regret']:.4g}", flush=True)
    RESULTS.write_text(json.dumps({"env": environment(("optuna", "torch", "botorch")),
                                   "runs": runs}, indent=1) + "\n")


def report() -> str:
    data = json.loads(RESULTS.read_text())
    runs = data["runs"]
    rows = []
    for pname in PROBLEMS:
        for system in SYSTEMS:
            rs = [r for r in runs if r["problem"] == pname and r["system"] == system]
            if not rs:
                continue
            share = [sum(r["on_bound"]) / max(1, r["dims"] * len(r["on_bound"])) for r in rs]
            late = [sum(r["on_bound"][len(r["on_bound"]) // 5:]) /
                    max(1, r["dims"] * (len(r["on_bound"]) - len(r["on_bound"]) // 5))
                    for r in rs]
            rec = sum(r["best_on_bound"] for r in rs) / sum(r["dims"] for r in rs)
            rows.append([pname, system, str(len(rs)),
                         f"{np.median([len(r['on_bound']) for r in rs]):.0f}",
                         med_iqr(share, "{:.2f}".format), med_iqr(late, "{:.2f}".format),
                         f"{rec:.2f}",
                         med_iqr([r["regret"] for r in rs], "{:.3g}".format)])
    props = [p for r in runs for p in r["proposals"] if r["system"] == "freeze-thaw"]
    edge = [p for p in props if p["on_bound"] >= 1]
    inner = [p for p in props if p["on_bound"] == 0]

    def cell(ps: list[dict[str, float]], key: str) -> str:
        return f"{np.median([p[key] for p in ps]):.3g}" if ps else "-"

    lines = [
        "Share of the parameter values of new configurations that lie exactly on a bound "
        "(median [IQR] over seeds; 'after start-up' leaves out the first fifth of the "
        "configurations), of the recommended configurations' values, and the regret at "
        f"the end (budget {runs[0]['budget']:g} x max_resource, 2 simulated workers):",
        "",
        table(["problem", "system", "seeds", "configs", "values on a bound",
               "after start-up", "recommended", "regret"], rows),
        "",
        f"FreezeThaw's model-based proposals ({len(props)}), split by whether any value lies "
        "on a bound; the model's view at the target resource (medians; mean gap = posterior "
        "mean minus the incumbent's, in the model's units to maximise):",
        "",
        table(["proposals", "n", "mean gap", "sd", "log EI"],
              [["on a bound", str(len(edge)), cell(edge, "mean_gap"), cell(edge, "sd"),
                cell(edge, "log_ei")],
               ["interior", str(len(inner)), cell(inner, "mean_gap"), cell(inner, "sd"),
                cell(inner, "log_ei")]]),
        "",
        "![proposals](img/bounds_proposals.png)",
        "",
        *env_lines(data["env"]),
    ]
    _figure(props)
    return "\n".join(lines)


def _figure(props: list[dict[str, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for on, colour, label in ((False, "tab:blue", "no value on a bound"),
                              (True, "tab:red", "a value on a bound")):
        ps = [p for p in props if (p["on_bound"] >= 1) == on]
        ax.scatter([p["sd"] for p in ps], [p["mean_gap"] for p in ps], s=9, alpha=0.6,
                   color=colour, label=f"{label} ({len(ps)})")
    ax.set_xscale("log")
    ax.set_xlabel("posterior sd at the target resource")
    ax.set_ylabel("posterior mean minus the incumbent's")
    ax.set_title("FreezeThaw's new-configuration proposals")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--seeds", type=int, default=3)
    run.add_argument("--seed0", type=int, default=0)
    run.add_argument("--budget", type=float, default=20.0, help="x max_resource")
    run.add_argument("--problems", default=",".join(PROBLEMS))
    run.add_argument("--systems", default=",".join(SYSTEMS))
    run.add_argument("--merge", action="store_true")
    sub.add_parser("report")
    args = parser.parse_args()
    if args.cmd == "run":
        _run(args)
    write_section(DOC, "bounds", report())


if __name__ == "__main__":
    main()
