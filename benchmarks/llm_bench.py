#!/usr/bin/env python
"""Benchmark of hpo's LLMSampler: a mechanism check with scripted proposers, the latency
an LLM call adds, and a harness for a real endpoint.

There is no LLM on the machines these figures come from, so ``mechanism`` runs the
sampler with three *scripted proposers*, labelled as such everywhere, that answer the
sampler's chat requests as an LLM would (a JSON object of configurations):

* ``good``: configurations near the problem's known optimum (Gaussian noise of sd 0.1
  per coordinate of the unit-cube encoding);
* ``default``: always the centre of the space (the "default configuration");
* ``garbage``: prose without JSON, or configurations drawn uniformly at random, in turn.

and compares each with hpo's GPSampler (the same seeds) by median regret after 10, 25
and 50 trials. ``latency`` times ``study.ask()`` with a proposer that waits one second
before it answers, against GPSampler's ask. ``endpoint`` runs the sampler against any
OpenAI-compatible endpoint on the same problems, for users who have one::

    python -m benchmarks.llm_bench mechanism --seeds 10 --jobs 2
    python -m benchmarks.llm_bench latency
    python -m benchmarks.llm_bench report
    python -m benchmarks.llm_bench endpoint --base-url http://127.0.0.1:8000/v1 \\
        --model Qwen/Qwen2.5-7B-Instruct --seeds 3

Results go to ``benchmarks/results/llm.json``; ``report`` writes the section
``llm-results`` of ``docs/benchmarks.md`` and ``docs/img/llm_regret.png`` from them.
Not part of the ``hpo`` package.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import optuna

import hpo
from benchmarks import _common
from benchmarks.gp_problems import get_problem
from hpo.llm import _prompts
from hpo.samplers import GPSampler, LLMSampler
from hpo.space import UnitCubeEncoder

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROG = "python -m benchmarks.llm_bench"  # how the recorded commands ran
RESULTS = HERE / "results" / "llm.json"
PROBLEMS = ("branin", "hartmann6", "hpobench-vehicle", "hpolib-parkinsons")
PROPOSERS = ("good", "default", "garbage")
CHECKPOINTS = (10, 25, 50)
TASKS = {  # what a user would tell the LLM
    "branin": "minimise the Branin function of x0 in [-5, 10] and x1 in [0, 15]",
    "hartmann6": "minimise the 6-D Hartmann function on the unit cube",
    "hpobench-vehicle": "an MLP on the vehicle dataset (HPOBench); the value is 1 - "
                        "validation accuracy; integer parameters index each grid",
    "hpolib-parkinsons": "a 2-layer MLP on parkinsons_telemonitoring (HPOLib); the value is "
                         "the validation MSE; integer parameters index each grid",
}


class Scripted:
    """A scripted proposer (not an LLM): answers chat requests with configurations."""

    def __init__(self, kind: str, problem: Any, seed: int, latency: float = 0.0) -> None:
        self.kind, self.latency = kind, latency
        self.space = problem.distributions()
        self.encoder = UnitCubeEncoder(self.space)
        self.rng = np.random.default_rng(seed + 10_000)
        self.argmin = problem.info["argmin"]
        self.calls = 0

    def _config(self, u: np.ndarray) -> dict[str, Any]:
        return self.encoder.decode(np.clip(u, 0.0, 1.0))

    def chat(self, messages: list[dict[str, str]], *, n: int = 1,
             schema: dict[str, Any] | None = None, temperature: float = 0.7,
             max_tokens: int = 1024) -> hpo.llm.Reply:
        time.sleep(self.latency)
        self.calls += 1
        k = schema["properties"]["configs"]["minItems"] if schema else 1
        centre = self.encoder.encode(self.argmin)
        if self.kind == "good":
            configs = [self._config(centre + self.rng.normal(0, 0.1, centre.shape))
                       for _ in range(k)]
        elif self.kind == "default":
            configs = [self._config(np.full(self.encoder.dim, 0.5))] * k
        elif self.calls % 2:
            return hpo.llm.Reply(["I would start with a moderate learning rate and see."])
        else:
            configs = [self._config(self.rng.uniform(size=self.encoder.dim)) for _ in range(k)]
        text = json.dumps({"configs": configs}, default=int)
        return hpo.llm.Reply([text], prompt_tokens=len(messages[-1]["content"]) // 4,
                             completion_tokens=len(text) // 4, seconds=self.latency)


def _run(problem_name: str, system: str, seed: int, trials: int,
         endpoint: dict[str, str] | None = None, gate: float = 1.0) -> dict[str, Any]:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    problem = get_problem(problem_name)
    if system == "hpo-gp":
        sampler: Any = GPSampler(seed=seed)
    else:
        if endpoint is not None:
            backend: Any = hpo.llm.OpenAICompatible(**endpoint)
        else:
            backend = Scripted(system.removeprefix("llm-"), problem, seed)
        sampler = LLMSampler(backend, task=TASKS[problem_name], gate=gate,
                             search_space=problem.distributions(), seed=seed)
    study = optuna.create_study(sampler=sampler)
    best, curve, sources, seconds = np.inf, [], [], 0.0
    for _ in range(trials):
        start = time.perf_counter()
        trial = study.ask()
        params = problem.suggest(trial)
        seconds += time.perf_counter() - start
        value = float(problem.evaluate(params))
        study.tell(trial, value)
        best = min(best, value)
        curve.append(best - problem.optimum)
        record = study._storage.get_trial_system_attrs(trial._trial_id).get("hpo:llm", {})
        sources.append(record.get("source", "gp"))
    return {"problem": problem_name, "system": system, "seed": seed, "regret": curve,
            "sources": sources, "ask_s": seconds / trials,
            "gate": None if system == "hpo-gp" else gate}


def mechanism(args: argparse.Namespace) -> None:
    systems = ["hpo-gp", *(f"llm-{p}" for p in PROPOSERS)]
    jobs = [(p, s, seed, args.trials, None, args.gate) for p in args.problems for s in systems
            for seed in range(args.seeds)]
    results = _load().get("runs", [])
    done = {(r["problem"], r["system"], r["seed"], r.get("gate", 1.0)) for r in results}
    jobs = [j for j in jobs if (*j[:3], None if j[1] == "hpo-gp" else j[5]) not in done
            and not (j[1] == "hpo-gp" and (*j[:3], None) in done)]
    print(f"{len(jobs)} runs ({len(done)} recorded)", flush=True)
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        for i, r in enumerate(pool.map(_run, *zip(*jobs, strict=True)) if jobs else []):
            results.append(r)
            print(f"[{i + 1}/{len(jobs)}] {r['problem']} {r['system']} seed {r['seed']}: "
                  f"regret {r['regret'][-1]:.4g}", flush=True)
            _save({**_load(), "runs": results})
    data = _load()
    data["setting"] = {"seeds": args.seeds, "trials": args.trials, "jobs": args.jobs,
                       "command": f"{PROG} mechanism --seeds {args.seeds} --jobs {args.jobs}",
                       "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    _save(data)


def latency(args: argparse.Namespace) -> None:
    """Seconds per ask at 30 completed Hartmann6 trials: GPSampler, and LLMSampler with a
    proposer that waits ``--wait`` seconds (its own latency) before it answers."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    problem = get_problem("hartmann6")
    rng = np.random.default_rng(0)
    history = []
    for _ in range(30):
        params = problem.random_params(rng)
        history.append(optuna.trial.create_trial(params=params,
                                                 distributions=problem.distributions(),
                                                 value=float(problem.evaluate(params))))
    out: dict[str, list[float]] = {}
    for system in ("hpo-gp", "llm-wait"):
        times = []
        for rep in range(args.repeats):
            if system == "hpo-gp":
                sampler: Any = GPSampler(seed=rep)
            else:
                sampler = LLMSampler(Scripted("good", problem, rep, latency=args.wait),
                                     task=TASKS["hartmann6"], seed=rep, n_warm_start=0)
            study = optuna.create_study(sampler=sampler)
            study.add_trials(history)
            start = time.perf_counter()
            trial = study.ask()
            problem.suggest(trial)
            times.append(time.perf_counter() - start)
            study.tell(trial, 0.0)
        out[system] = times
        print(f"{system}: median {statistics.median(times):.3f} s per ask", flush=True)
    sizes = {}  # characters of a candidates request (system + user message) by history
    for n in (10, 50, 200):
        study = optuna.create_study()
        for _ in range(n):
            params = problem.random_params(rng)
            study.add_trial(optuna.trial.create_trial(
                params=params, distributions=problem.distributions(),
                value=float(problem.evaluate(params))))
        sampler = LLMSampler(Scripted("good", problem, 0), task=TASKS["hartmann6"])
        space = problem.distributions()
        lines, summary = _prompts.history(study.get_trials(), space, study.directions,
                                          sampler._context)
        messages = sampler._messages(sampler.prompts.candidates, history=lines, summary=summary,
                                     **sampler._fields(study, space, 4))
        sizes[n] = sum(len(m["content"]) for m in messages)
    print("candidates request, characters by trials in the history:", sizes)
    data = _load()
    data["latency"] = {"wait_s": args.wait, "repeats": args.repeats, **out,
                       "prompt_chars": sizes,
                       "command": f"{PROG} latency --wait {args.wait}"}
    _save(data)


def endpoint(args: argparse.Namespace) -> None:
    spec = {"base_url": args.base_url, "model": args.model}
    for p in args.problems:
        for seed in range(args.seeds):
            for system in ("hpo-gp", "llm-endpoint"):
                r = _run(p, system, seed, args.trials, spec if system != "hpo-gp" else None)
                chosen = sum(s in ("llm", "warm_start") for s in r["sources"])
                print(f"{p} seed {seed} {system}: regret after {args.trials} trials "
                      f"{r['regret'][-1]:.4g}; LLM configurations run: {chosen}", flush=True)


# -- report --------------------------------------------------------------------------------


def _load() -> dict[str, Any]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def _save(data: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1))


def _median(runs: list[dict[str, Any]], at: int) -> float:
    return float(_common.median(r["regret"][at - 1] for r in runs))


def _p(a: list[dict[str, Any]], b: list[dict[str, Any]], at: int) -> float:
    """Two-sided Mann-Whitney U p-value of the regrets at trial ``at`` (seed to seed)."""
    from scipy.stats import mannwhitneyu

    x, y = [r["regret"][at - 1] for r in a], [r["regret"][at - 1] for r in b]
    if x == y:
        return 1.0
    return float(mannwhitneyu(x, y, alternative="two-sided").pvalue)


def _ratio(v: float, gp: float) -> str:
    if gp > 0:
        return f"{v / gp:.2f}"
    return "1.00" if v == 0 else "inf"


def _runs(runs: list[dict[str, Any]], problem: str, system: str, gate: float | None
          ) -> list[dict[str, Any]]:
    return [r for r in runs if r["problem"] == problem and r["system"] == system
            and (system == "hpo-gp" or r.get("gate", 1.0) == gate)]


def render(data: dict[str, Any]) -> str:
    runs, setting = data["runs"], data["setting"]
    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in runs)]
    gates = sorted({r.get("gate", 1.0) for r in runs if r["system"] != "hpo-gp"}, reverse=True)
    prog = setting["command"].split(" mechanism")[0]  # as the recorded run was started
    commands = ", ".join(f"`{prog} mechanism --seeds {setting['seeds']} "
                         f"--jobs 1{'' if g == 1.0 else f' --gate {g:g}'}`" for g in gates)
    lines = [f"{commands} ({setting['seeds']} seeds, {setting['trials']} trials, "
             f"{setting['machine']}). Proposers are **scripted, not LLMs** (see the script): "
             "`good` answers near the known optimum, `default` always the centre of the "
             "space, `garbage` prose or uniformly random configurations in turn. Median "
             "regret (lower is better) with LLMSampler's default `gate=1.0`, its ratio to "
             "hpo's GPSampler (same seeds; < 1: better), and in brackets the two-sided "
             "Mann-Whitney p-value of the 10 regrets against GPSampler's (> 0.05: within "
             "seed-to-seed noise).", "",
             "| problem | trials | GPSampler | good | default | garbage | good / GP | "
             "default / GP | garbage / GP |", "|---|---|---|---|---|---|---|---|---|"]
    for p in problems:
        gp_runs = _runs(runs, p, "hpo-gp", None)
        for at in CHECKPOINTS:
            gp = _median(gp_runs, at)
            cells, ratios = [], []
            for k in PROPOSERS:
                mine = _runs(runs, p, f"llm-{k}", 1.0)
                v = _median(mine, at)
                cells.append(f"{v:.3g}")
                ratios.append(f"{_ratio(v, gp)} ({_p(mine, gp_runs, at):.2f})")
            lines.append(f"| {p} | {at} | {gp:.3g} | " + " | ".join(cells) + " | "
                         + " | ".join(ratios) + " |")
    lines += ["", "The gate (`gate`: the fraction of the GP's best acquisition value an LLM "
              "candidate needs to run). Per proposer: trials that ran an LLM configuration "
              "(warm start + candidates that passed the gate), and the problems (of "
              f"{len(problems)}) where its median regret is at most GPSampler's at 10 / 25 / "
              "50 trials:", "", "| gate | proposer | LLM runs | <= GPSampler at 10 / 25 / 50 |",
              "|---|---|---|---|"]
    for g in gates:
        for k in PROPOSERS:
            src = [s for r in runs if r["system"] == f"llm-{k}" and r.get("gate", 1.0) == g
                   for s in r["sources"]]
            if not src:
                continue
            warm = sum(s == "warm_start" for s in src) / len(src)
            gate = sum(s == "llm" for s in src) / len(src)
            have = [p for p in problems if _runs(runs, p, f"llm-{k}", g)]
            wins = [sum(_median(_runs(runs, p, f"llm-{k}", g), at)
                        <= _median(_runs(runs, p, "hpo-gp", None), at) for p in have)
                    for at in CHECKPOINTS]
            lines.append(f"| {g:g} | {k} | {100 * (warm + gate):.0f}% ({100 * warm:.0f}% + "
                         f"{100 * gate:.0f}%) | {' / '.join(map(str, wins))}"
                         f"{'' if len(have) == len(problems) else f' (of {len(have)})'} |")
    lat = data.get("latency")
    if lat:
        gp, llm = statistics.median(lat["hpo-gp"]), statistics.median(lat["llm-wait"])
        lines += ["", f"Latency (`{lat['command']}`, median of {lat['repeats']} asks at 30 "
                  f"Hartmann6 trials): GPSampler {gp:.2f} s; LLMSampler with a proposer that "
                  f"takes {lat['wait_s']:g} s {llm:.2f} s, i.e. {llm - lat['wait_s']:+.2f} s "
                  "beyond the proposer's own latency (the GP works while the LLM answers)."]
        chars = lat["prompt_chars"]
        lines += ["", "Size of a candidates request (6-D Hartmann, system and user messages, "
                  "default `context_chars=12000`): " + ", ".join(
                      f"{c} characters (~{int(c) // 4} tokens at 4 characters per token) with "
                      f"{n} trials" for n, c in chars.items()) + "."]
    return "\n".join(lines)


def _plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = data["runs"]
    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in runs)]
    fig, axes = plt.subplots(1, len(problems), figsize=(4 * len(problems), 3.2))
    for ax, p in zip(np.atleast_1d(axes), problems, strict=True):
        for s in ("hpo-gp", *(f"llm-{k}" for k in PROPOSERS)):
            curves = np.array([r["regret"] for r in _runs(runs, p, s, 1.0)])
            med = np.median(curves, axis=0)
            ax.plot(np.arange(1, len(med) + 1), np.maximum(med, 1e-9),
                    label=s.replace("llm-", "scripted ") if s != "hpo-gp" else "GPSampler")
        ax.set_yscale("log")
        ax.set_title(p)
        ax.set_xlabel("trials")
        ax.set_ylabel("median regret")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def report(args: argparse.Namespace) -> None:
    data = _load()
    text = render(data)
    _common.write_section(ROOT / "docs" / "benchmarks.md", "llm-results", text)
    _plot(data, ROOT / "docs" / "img" / "llm_regret.png")
    print(text)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    m = sub.add_parser("mechanism")
    m.add_argument("--seeds", type=int, default=10)
    m.add_argument("--trials", type=int, default=50)
    m.add_argument("--jobs", type=int, default=1)
    m.add_argument("--problems", type=lambda s: s.split(","), default=list(PROBLEMS))
    m.add_argument("--gate", type=float, default=1.0, help="LLMSampler's gate (default 1.0)")
    la = sub.add_parser("latency")
    la.add_argument("--wait", type=float, default=1.0)
    la.add_argument("--repeats", type=int, default=5)
    e = sub.add_parser("endpoint")
    e.add_argument("--base-url", required=True)
    e.add_argument("--model", required=True)
    e.add_argument("--seeds", type=int, default=3)
    e.add_argument("--trials", type=int, default=25)
    e.add_argument("--problems", type=lambda s: s.split(","), default=list(PROBLEMS))
    sub.add_parser("report")
    args = p.parse_args(argv)
    {"mechanism": mechanism, "latency": latency, "endpoint": endpoint, "report": report}[
        args.what](args)


if __name__ == "__main__":
    main()
