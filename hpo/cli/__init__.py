"""The ``hpo`` command line.

=====================================  ================================================
``hpo sweep sweep.yaml``                run (or resume) the sweep a file describes
``hpo worker --study S --storage URL``  join a sweep from another process or host
``hpo status [sweep.yaml | --study]``   trials by state, the best so far, running trials
``hpo best [sweep.yaml | --study]``     the best configuration, or the Pareto front
``hpo plot [sweep.yaml | --study]``     history, importances, Pareto front, lineage
``hpo dashboard [sweep.yaml | ...]``    optuna-dashboard on the sweep's storage
``hpo studies [--storage URL]``         the studies of a storage
``hpo clean [sweep.yaml | --study]``    remove checkpoints no trial can resume any more
=====================================  ================================================

Without ``--storage``, commands use the embedded storage (``$HPO_HOME/hpo.db``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

import hpo
from hpo import _attrs
from hpo.runner.loop import INTERRUPTED
from hpo.storages import StorageNotFound, hpo_home, mask_url, resolve_storage
from hpo.study import recorded_names

__all__ = ["main"]


# -- locating a study ------------------------------------------------------------------


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", nargs="?", help="a sweep file (instead of --study/--storage)")
    parser.add_argument("--study", help="study name")
    parser.add_argument("--storage", default=None, help="storage URL (default: embedded SQLite)")


def _open(args: argparse.Namespace) -> optuna.Study:
    """The study to read (status, best, plot): nothing is sampled, so no model-based
    sampler is built (it would import torch for nothing)."""
    reader = optuna.samplers.RandomSampler()
    if args.sweep:
        from hpo.cli.sweepfile import load_sweep

        cfg = load_sweep(args.sweep)
        name, url = cfg.name, cfg.storage_url
    elif not args.study:
        raise ValueError("give a sweep file or --study NAME (with --storage URL)")
    else:
        name, url = args.study, args.storage
    storage = _read_only(url, name, args.sweep)
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        raise ValueError(_not_run(url, name, args.sweep)) from None
    return hpo.load_study(study_name=name, storage=storage, sampler=reader)


def _read_only(url: str | None, name: str | None, sweep: str | None) -> optuna.storages.BaseStorage:
    """The storage opened to be read: a missing file is an error, never created."""
    try:
        return resolve_storage(url, create=False)
    except StorageNotFound as exc:
        raise ValueError(_not_run(url, name, sweep) if name else str(exc)) from None


def _not_run(url: str | None, name: str, sweep: str | None) -> str:
    where = mask_url(url) if url else f"the embedded storage ({hpo_home() / 'hpo.db'})"
    if sweep:
        return (f"sweep {name!r} has not run yet: no study {name!r} in {where}; "
                f"`hpo sweep {sweep}` starts it")
    return f"no study {name!r} in {where}; `hpo studies --storage URL` lists a storage's studies"


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]


def _best_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """The best trial (or the Pareto front) as JSON rows: its configuration (numbered as
    ``hpo status`` numbers them), values, parameters, the resource it was compared at
    and the names of the metric and the resource; for PBT also its schedule."""
    from hpo import _segments

    best = study.best_trials if len(study.directions) > 1 else [study.best_trial]
    trials = study.get_trials(deepcopy=False)
    keys = _segments.config_keys(trials)
    metric, resource = recorded_names(study)
    pbt = any(_attrs.MEMBER in t.system_attrs for t in trials)
    rows = []
    for t in best:
        seg = _segments.segment(t)
        row = {"number": t.number, "configuration": keys[t.number], "values": t.values,
               "params": t.params, "resource": seg[1] if seg else None, "metric": metric,
               "resource_name": resource}
        if pbt:
            row["schedule"] = [s._asdict() for s in _segments.schedule(study, t)]
        rows.append(row)
    return rows


def _num(x: float | None) -> str:
    """A resource or value for people: whole numbers in full (100000, not 1e+05).

    Example:
        >>> _num(100000), _num(2.5), _num(-0.013612345), _num(None)
        ('100000', '2.5', '-0.0136123', '-')
    """
    if x is None:
        return "-"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


def _at(x: float | None, name: str | None) -> str:
    """``100000 environment steps``, or ``resource 100000`` when the study has no name
    for its resource."""
    return f"{_num(x)} {name}" if name else f"resource {_num(x)}"


def _best_summary(study: optuna.Study, rows: list[dict[str, Any]]) -> list[str]:
    """``hpo best`` for people (on stderr; stdout keeps the JSON): what the value is and
    at which resource it was compared, the best configuration at each resource, a
    warning when the best configuration's latest continuation scored below what it
    continued, and for PBT the schedule of hyperparameters that produced the best."""
    from hpo import _segments

    metric, resource = recorded_names(study)
    what = resource or "resource"
    if len(study.directions) > 1:
        names = metric if isinstance(metric, list) else ["value"] * len(study.directions)
        at = rows[0]["resource"]
        return [f"Pareto front: {len(rows)} trials ({', '.join(names)})"
                + (f" at {_at(at, resource)}" if at is not None else "")]
    row, trial = rows[0], study.get_trials(deepcopy=False)[rows[0]["number"]]
    name = metric if isinstance(metric, str) else "value"
    lines = [f"best: {row['configuration']} (trial {row['number']}), {name} "
             f"{_num(row['values'][0])}" + (f" at {_at(row['resource'], resource)}"
                                           if row["resource"] is not None else "")]
    standings = _segments.standings(study)
    if standings:
        enough = sum(s.configurations >= 2 for s in standings)
        lines.append(f"compared at {_at(row['resource'], resource)}: " + (
            "the largest resource that 2 or more configurations reached" if enough else
            "no resource was reached by 2 configurations; the largest reached"))
    if len(standings) > 1:
        keys = _segments.config_keys(study.get_trials(deepcopy=False))
        table = [(what, "configurations", "best", name)] + [
            (_num(s.resource), str(s.configurations),
             f"{keys[s.best.number]} (trial {s.best.number})", _num(s.best.values[0]))
            for s in standings]
        widths = [max(len(r[i]) for r in table) for i in range(3)]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False))
                  + "  " + r[3] for r in table]
    back = _segments.setback(study, trial)
    if back is not None:
        latest, parent = back
        worse = "below" if study.direction.name == "MAXIMIZE" else "above"
        lines.append(f"warning: trial {latest.number} continues trial {parent.number} to "
                     f"{_at((_segments.segment(latest) or (0, None))[1], resource)} and "
                     f"scored {_num(latest.values[0])}, {worse} {_num(parent.values[0])} at "
                     f"{_num((_segments.segment(parent) or (0, None))[1])}")
    if "schedule" in row:
        lines.append(f"schedule of {row['configuration']} (trial {row['number']}), by {what}:")
        lines += ["  " + line for line in _schedule_lines(row["schedule"])]
    return lines


def _schedule_lines(schedule: list[dict[str, Any]]) -> list[str]:
    """A PBT schedule in lines: consecutive segments of one member with the same
    parameters as one range; a copy (exploit) said where it happened.

    Example:
        >>> seg = lambda n, a, b, lr, m, e=None: {"trial": n, "start": a, "stop": b,
        ...                                       "params": {"lr": lr}, "member": m, "exploit": e}
        >>> for line in _schedule_lines([seg(0, 0, 10, 0.1, 0), seg(4, 10, 20, 0.1, 0),
        ...                              seg(9, 20, 30, 0.2, 1, 0)]):
        ...     print(line)
        0-20   member 0  trials 0, 4  lr=0.1
        20-30  member 1  trial 9      lr=0.2  (copied member 0 at 20)
    """
    runs: list[list[dict[str, Any]]] = []
    for s in schedule:
        last = runs[-1][-1] if runs else None
        if last is not None and s["exploit"] is None and s["member"] == last["member"] \
                and s["params"] == last["params"]:
            runs[-1].append(s)
        else:
            runs.append([s])
    cells = []
    for run in runs:
        first, numbers = run[0], [str(s["trial"]) for s in run]
        params = " ".join(f"{k}={_num(v) if isinstance(v, (int, float)) else v}"
                          for k, v in first["params"].items())
        copied = (f"  (copied member {first['exploit']} at {_num(first['start'])})"
                  if first["exploit"] is not None else "")
        cells.append((f"{_num(first['start'])}-{_num(run[-1]['stop'])}",
                       f"member {first['member']}" if first["member"] is not None else "",
                       f"trial{'s' if len(run) > 1 else ''} {', '.join(numbers)}",
                       params + copied))
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    return ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=False))
            + "  " + cell[3] for cell in cells]


# -- sweep and worker ------------------------------------------------------------------


def _run_config(cfg: Any, *, workers: int | None, gpus: float | None, trials: int | None,
                progress: bool, allow_space_change: bool = False,
                deepen_to: float | None = None) -> int:
    from hpo.runner import RepeatedFailureError, _prepare
    from hpo.samplers.protocols import Deepens

    # every setting is checked (and the study compared with the file) before the study
    # is created or its stored sweep settings are overwritten
    objective, directions = cfg.build_objective()
    sampler, pruner = cfg.build_sampler(len(directions)), cfg.build_pruner()
    if deepen_to is not None and not isinstance(sampler, Deepens):
        raise ValueError(f"--max-resource: sampler {type(sampler).__name__} has no maximum "
                         "resource to raise; it is for idhb, hyperband, successive_halving, "
                         "asha")
    out = cfg.out
    storage = cfg.storage_url
    n_trials = trials if trials is not None else cfg.budget.trials
    study, loop = _prepare(
        objective, storage=storage, study_name=cfg.name, n_trials=n_trials,
        timeout=cfg.budget.seconds, resource=cfg.budget.resource,
        workers=workers or cfg.workers,
        gpus_per_trial=cfg.gpus_per_trial if gpus is None else gpus,
        backend=cfg.backend, isolation=cfg.isolation, trial_timeout=cfg.trial_timeout,
        max_retries=cfg.retries.max, retry_on=cfg.retries.when, sampler=sampler,
        pruner=pruner, directions=directions, log_dir=str(out / "logs"),
        progress=progress, ray_address=cfg.ray.address,
        heartbeat_interval=cfg.heartbeat_interval, grace_period=cfg.grace_period,
        max_initial_failures=cfg.max_initial_failures,
        allow_space_change=allow_space_change, complete_space=cfg.command is not None,
        max_resource=cfg.max_resource, artifact_store=_artifact_store(cfg),
    )
    if deepen_to is not None and deepen_to == study.sampler.levels(study)[-1]:
        deepen_to = None  # raised already (the same command, run again to resume)
    spent = loop.spent()  # nothing left to run: said, not run
    how = "" if spent is None else (
        f"raise {spent[1]}" + (" in the sweep file" if "budget" in spent[1] else "")
        + (" (or pass --trials N)" if spent[1] == "budget.trials" else ""))
    if deepen_to is not None:  # IDHB: raise the maximum resource, reusing every result
        rungs = study.sampler.deepen(study, int(deepen_to) if deepen_to == int(deepen_to)
                                     and isinstance(study.sampler.levels(study)[-1], int)
                                     else deepen_to)
        print(f"sweep {cfg.name!r}: maximum resource raised to {deepen_to:g}; rungs "
              f"{', '.join(f'{r:g}' for r in rungs)}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    study._storage.set_study_system_attr(study._study_id, _attrs.SWEEP,
                                         cfg.model_dump(mode="json"))
    print(f"sweep {cfg.name!r}: storage {mask_url(storage)}, output {out}", file=sys.stderr)
    if spent is not None:
        print(f"sweep {cfg.name!r}: its budget is spent ({spent[0]}), so nothing runs"
              + (" at the new maximum" if deepen_to is not None else ": it is already done")
              + f"; {how} to run more", file=sys.stderr)
        loop.executor.close()
    else:
        try:
            summary = loop.run(objective)
        except RepeatedFailureError as exc:
            print(f"hpo sweep: {exc}\nthe trials' logs are in {out / 'logs'}",
                  file=sys.stderr)
            return 1
        except KeyboardInterrupt:  # raised by an objective in a slot's thread, or late Ctrl-C
            summary = None
        if summary is None or summary.interrupted:
            print(f"\nstopped; `hpo sweep` on the same file resumes sweep {cfg.name!r}",
                  file=sys.stderr)
            return 130
    trials_ = study.get_trials(deepcopy=False)
    print("trials: " + _state_counts(trials_))
    if not _finished(study):
        print(f"hpo sweep: no trial of sweep {cfg.name!r} completed; `hpo status` shows why "
              "they failed", file=sys.stderr)
        return 1
    rows = _best_rows(study)
    (out / "best.json").write_text(json.dumps(rows, indent=2, default=str))
    label = "best" if len(rows) == 1 else f"Pareto front ({len(rows)} trials)"
    print(f"{label}: " + json.dumps(rows[0] if len(rows) == 1 else rows, default=str))
    return 0


def _artifact_store(cfg: Any) -> str | None:
    """Where the sweep's checkpoints go: the file's ``artifact_store``; else, with a
    server storage (PostgreSQL, MySQL, Redis), ``<output_dir>/artifacts``, unless the
    study records a store already (it keeps its checkpoints); None: next to a file
    storage (``study.artifacts``), :func:`hpo.create_study`'s default."""
    if cfg.artifact_store_url is not None:
        return str(cfg.artifact_store_url)
    if cfg.storage_url.startswith(("sqlite:///", "journal:///")):
        return None
    storage = resolve_storage(cfg.storage_url)
    try:
        attrs = storage.get_study_system_attrs(storage.get_study_id_from_name(cfg.name))
    except KeyError:
        attrs = {}
    if _attrs.ARTIFACT_STORE in attrs or _attrs.ARTIFACT_DIR in attrs:
        return None
    return str(cfg.out / "artifacts")


def _new_maximum(text: str) -> float:
    """``--max-resource``: the new maximum resource itself, a number."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected the new maximum resource, a number such as 27, got {text!r}; it must "
            "be the sweep's maximum times a power of the reduction factor (a maximum of 9 "
            "with reduction_factor 3: 27, 81, ...)") from None


def _state_name(t: optuna.trial.FrozenTrial) -> str:
    """A trial's state as shown to users: a FAIL caused by stopping the sweep is
    ``interrupted``."""
    if t.state == TrialState.FAIL and str(t.system_attrs.get(_attrs.FAIL_REASON, "")
                                          ).startswith(INTERRUPTED):
        return "interrupted"
    return t.state.name.lower()


def _state_counts(trials: Sequence[optuna.trial.FrozenTrial]) -> str:
    states = Counter(_state_name(t) for t in trials)
    return ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"


def _sweep(args: argparse.Namespace) -> int:
    from hpo.cli.sweepfile import load_sweep

    cfg = load_sweep(args.file)
    if args.output_dir is not None:
        cfg = cfg.model_copy(update={"output_dir": str(Path(args.output_dir).resolve())})
    return _run_config(cfg, workers=args.workers, gpus=args.gpus_per_trial, trials=args.trials,
                       progress=not args.no_progress,
                       allow_space_change=args.allow_space_change,
                       deepen_to=args.max_resource)


def _worker(args: argparse.Namespace) -> int:
    from hpo.cli.sweepfile import SweepConfig, load_sweep

    if args.sweep:
        cfg = load_sweep(args.sweep)
    else:
        if not args.study:
            raise ValueError("give a sweep file or --study NAME --storage URL")
        storage = _read_only(args.storage, args.study, None)
        try:
            sid = storage.get_study_id_from_name(args.study)
        except KeyError:
            where = mask_url(args.storage) if args.storage else "the embedded storage"
            raise ValueError(f"no study {args.study!r} in {where}; hpo worker joins a sweep "
                             "that `hpo sweep FILE` has started") from None
        data = storage.get_study_system_attrs(sid).get(_attrs.SWEEP)
        if data is None:
            raise ValueError(f"study {args.study!r} was not started by `hpo sweep`; pass its "
                             "sweep file: hpo worker sweep.yaml")
        if args.storage is not None:
            data = {**data, "storage": args.storage}
        cfg = SweepConfig(**data)
    return _run_config(cfg, workers=args.workers, gpus=args.gpus_per_trial, trials=args.trials,
                       progress=not args.no_progress,
                       allow_space_change=args.allow_space_change)


# -- reading a study -------------------------------------------------------------------


def _status_rows(study: optuna.Study) -> tuple[str, list[tuple[str, str]]]:
    """Title and rows of ``hpo status``: trials by state (stopped ones as
    ``interrupted``), budget progress, the best so far, running trials with their
    heartbeat (marked when stale or their worker is gone), the commonest failure reasons."""
    from hpo.runner.loop import counted
    from hpo.runner.retry import dead_worker

    trials = study.get_trials(deepcopy=False)
    states = Counter(_state_name(t) for t in trials)
    sweep = study._storage.get_study_system_attrs(study._study_id).get(_attrs.SWEEP) or {}
    rows: list[tuple[str, str]] = []
    for state in ("running", "waiting", "complete", "pruned", "fail", "interrupted"):
        rows.append((state, str(states.get(state, 0))))
    total = (sweep.get("budget") or {}).get("trials")
    if total:
        rows.append(("budget", f"{counted(trials)} of {total} trials"))
    rows += _segment_rows(study, trials, (sweep.get("budget") or {}).get("resource"))
    rows += _past_budget_rows(trials, (sweep.get("budget") or {}).get("resource"))
    if _finished(study):
        metric, _ = recorded_names(study)
        for row in _best_rows(study)[:5]:
            where = f" at {_at(row['resource'], row['resource_name'])}" \
                if row["resource"] is not None else ""
            values = (f"{metric} {_num(row['values'][0])}" if isinstance(metric, str) else
                      ", ".join(f"{n} {_num(v)}" for n, v in zip(
                          metric or ["value"] * len(row["values"]), row["values"],
                          strict=False)))
            rows.append((f"best {row['configuration']}",
                         f"{values}{where} (trial {row['number']}), "
                         f"{json.dumps(row['params'], default=str)}"))
    now = time.time()
    grace = float(sweep.get("grace_period", 60.0))
    for t in trials:
        if t.state == TrialState.RUNNING:
            worker = str(t.system_attrs.get(_attrs.WORKER, "?"))
            beat = t.system_attrs.get(_attrs.HEARTBEAT)
            age = f", heartbeat {now - beat:.0f} s ago" if beat else ", no heartbeat"
            if beat and dead_worker(worker):
                age += " (STALE: its worker process is gone)"
            elif beat and now - beat > grace:
                age += f" (STALE: over the grace period of {grace:g} s)"
            last = max(t.intermediate_values) if t.intermediate_values else None
            rows.append((f"running #{t.number}", f"{worker}{age}, step {last}"))
    rows += _checkpoint_rows(study, trials)
    rows += _llm_rows(trials)
    reasons = Counter(str(t.system_attrs[_attrs.FAIL_REASON]).splitlines()[0][:160]
                      for t in trials if t.state == TrialState.FAIL
                      and _state_name(t) == "fail" and _attrs.FAIL_REASON in t.system_attrs)
    for reason, n in reasons.most_common(5):
        rows.append((f"failed ({n})", reason))
    return f"study {study.study_name}: {len(trials)} trials", rows


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("not reached")


def _checkpoint_rows(study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial]
                     ) -> list[tuple[str, str]]:
    """Where the checkpoints live and how much they hold (when the study has any)."""
    from hpo.continuation import checkpoint_of, checkpoint_store

    n = sum(checkpoint_of(t.system_attrs) is not None for t in trials)
    if not n:
        return []
    try:
        store = checkpoint_store(study._storage, study._study_id)
        if not store.lists:
            return [("checkpoints", f"{store.url}: {n} trials saved one (it cannot list)")]
        objects = list(store.objects())
    except Exception as exc:  # status still shows the rest; the reason is shown here
        url = study._storage.get_study_system_attrs(study._study_id).get(_attrs.ARTIFACT_STORE)
        return [("checkpoints", f"{url}: cannot list ({type(exc).__name__}: {exc})")]
    total = sum(o.size for o in objects)
    return [("checkpoints", f"{store.url}: {len(objects)} objects, {_size(total)} "
                            f"({n} trials saved one)")]


def _llm_rows(trials: Sequence[optuna.trial.FrozenTrial]) -> list[tuple[str, str]]:
    """What an LLMSampler's proposals did, when the study has one."""
    records = [r for t in trials if (r := t.system_attrs.get(_attrs.LLM))]
    if not records:
        return []
    sources = Counter(r.get("source") for r in records)
    fallbacks = sum(1 for r in records if r.get("fallback"))
    tokens = sum(r.get("prompt_tokens", 0) + r.get("completion_tokens", 0) for r in records)
    return [("llm", f"{sources['warm_start'] + sources['llm']} of {len(records)} trials ran "
                    f"its configurations ({sources['warm_start']} warm start, "
                    f"{sources['llm']} won the gate); {fallbacks} fallbacks; {tokens} tokens")]


def _past_budget_rows(trials: Sequence[optuna.trial.FrozenTrial], budget: float | None
                      ) -> list[tuple[str, str]]:
    """The resource budget's rule, when a study went past it: each worker finishes the
    segment it runs when the budget is reached (docs/runner.md)."""
    from hpo import _segments

    spent = _segments.consumed(trials)
    if not budget or spent <= budget:
        return []
    return [("past budget", f"by {spent - budget:g}: each worker finishes the segment it runs "
                            "when the budget is reached (up to one segment per worker)")]


def _segment_rows(study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial],
                  budget: float | None) -> list[tuple[str, str]]:
    """Rows for a study of segments: consumed resource, the resource every configuration
    (or PBT member) reached, the ten furthest with their latest value."""
    from hpo import _segments

    if not any(_attrs.STOP in t.system_attrs for t in trials):
        return []
    spent = _segments.consumed(trials)
    rows = [("resource", f"{spent:g} consumed" + (f" of {budget:g}" if budget else ""))]
    chains = _segments.chains(trials)
    if len(chains) == len(trials) and not any(
            _attrs.CONFIG in t.system_attrs or _attrs.MEMBER in t.system_attrs for t in trials):
        return rows  # every trial its own configuration: nothing more to say
    sign = -1.0 if len(study.directions) == 1 and study.direction.name == "MAXIMIZE" else 1.0
    reached: list[tuple[float, float, str, str]] = []
    for key, chain in chains.items():
        done = [t for t in chain if t.state == TrialState.COMPLETE]
        running = any(t.state == TrialState.RUNNING for t in chain)
        if not done:
            continue
        last = max(done, key=lambda t: (_segments.segment(t) or (0, 0))[1])
        stop = (_segments.segment(last) or (0, 0))[1]
        value = last.values[0]
        reached.append((stop, sign * value, key, f"at {stop:g}{', running' if running else ''}"
                        f", value {value:.6g}, {json.dumps(last.params, default=str)}"))
    by_stop = Counter(r[0] for r in reached)
    rows.append(("reached", ", ".join(f"{n} at {stop:g}" for stop, n in sorted(by_stop.items()))))
    for _, _, key, text in sorted(reached, key=lambda r: (-r[0], r[1]))[:10]:
        rows.append((key, text))
    return rows


def _status_table(study: optuna.Study) -> Any:
    """``hpo status`` as a rich table (for a terminal)."""
    from rich.table import Table

    title, rows = _status_rows(study)
    table = Table(title=title)
    for col in ("state", "trials"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    return table


def _status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    study = _open(args)
    try:
        if not sys.stdout.isatty():  # piped: plain lines, never wrapped; --watch repeats
            while True:
                title, rows = _status_rows(study)
                print(title)
                width = max(len(label) for label, _ in rows)
                for label, value in rows:
                    print(f"{label:<{width}}  {value}")
                sys.stdout.flush()
                if not args.watch:
                    return 0
                time.sleep(args.watch)
                print()
        if not args.watch:
            Console().print(_status_table(study))
            return 0
        with Live(_status_table(study), refresh_per_second=1) as live:
            while True:
                time.sleep(args.watch)
                live.update(_status_table(study))
    except KeyboardInterrupt:  # Ctrl-C ends --watch
        return 0


def _best(args: argparse.Namespace) -> int:
    study = _open(args)
    if not _finished(study):
        print(f"study {study.study_name!r} has no completed trial yet", file=sys.stderr)
        return 1
    if args.cost is not None or _is_carbs(study):
        from hpo.samplers import carbs

        if len(study.directions) != 1:
            raise ValueError("--cost: needs a single-objective study (the cost comes from "
                             "each trial's user attr 'cost' or its wall time)")
        if args.cost is not None:
            out: Any = carbs.extrapolate(study, args.cost)
        else:
            laws = carbs.scaling_laws(study)
            out = {**_best_rows(study)[0], "cost_front": carbs.cost_front(study),
                   "scaling": {n: law.as_dict() for n, law in laws.items()}}
        print(json.dumps(out, indent=2, default=str))
        return 0
    rows = _best_rows(study)
    print("\n".join(_best_summary(study, rows)), file=sys.stderr)
    print(json.dumps(rows if len(rows) > 1 else rows[0], indent=2, default=str))
    return 0


def _is_carbs(study: optuna.Study) -> bool:
    """Whether a CARBS sampler ran this study (it records its cost mode in the study)."""
    return _attrs.CARBS in study._storage.get_study_system_attrs(study._study_id)


def _plot(args: argparse.Namespace) -> int:
    from hpo.cli.plots import write_plots

    study = _open(args)
    out = args.out
    if out is None and args.sweep:
        from hpo.cli.sweepfile import load_sweep

        out = load_sweep(args.sweep).out / "plots"
    for path in write_plots(study, Path(out or "plots"), fmt=args.format,
                            note=lambda line: print(f"hpo plot: {line}", file=sys.stderr)):
        print(path)
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    exe = shutil.which("optuna-dashboard")
    if exe is None:
        print("hpo dashboard: optuna-dashboard is not installed; pip install optuna-dashboard",
              file=sys.stderr)
        return 2
    if args.sweep:
        from hpo.cli.sweepfile import load_sweep

        url = load_sweep(args.sweep).storage_url
    else:
        url = args.storage or f"sqlite:///{hpo_home() / 'hpo.db'}"
    if url.startswith("journal:///"):
        url = url[len("journal:///"):]  # optuna-dashboard takes a journal file's path
    os.execv(exe, [exe, url, "--port", str(args.port)])
    return 0  # not reached


def _studies(args: argparse.Namespace) -> int:
    url = args.storage
    if args.sweep:
        from hpo.cli.sweepfile import load_sweep

        url = load_sweep(args.sweep).storage_url
    try:
        storage = resolve_storage(url, create=False)
    except StorageNotFound as exc:  # nothing to list, and nothing is created
        print(f"hpo studies: no studies: {exc}", file=sys.stderr)
        return 0
    for s in storage.get_all_studies():
        dirs = ",".join(d.name.lower() for d in s.directions)
        n = len(storage.get_all_trials(s._study_id, deepcopy=False))
        print(f"{s.study_name}\t{dirs}\t{n} trials")
    return 0


def _clean(args: argparse.Namespace) -> int:
    from hpo.continuation import clean

    study = _open(args)
    report = clean(study, finished=args.all, older_than=args.older_than, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{report.store}: {verb} {len(report.removed)} checkpoints ({_size(report.bytes)})"
          + (f" and {report.torn} unfinished uploads" if report.torn else "")
          + f"; kept {report.kept}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpo", description="hyperparameter sweeps on Optuna",
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=_plain(__doc__.split("\n\n", 1)[1]))
    parser.add_argument("--version", action="version", version=f"hpo {hpo.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def runner_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--workers", type=int, help="parallel trials (overrides the file)")
        p.add_argument("--gpus-per-trial", type=float, help="overrides gpus_per_trial")
        p.add_argument("--trials", type=int, help="overrides budget.trials")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.add_argument("--allow-space-change", action="store_true",
                       help="go on with a study whose trials used another search space")

    p = sub.add_parser("sweep", help="run or resume the sweep a file describes")
    p.add_argument("file", help="the sweep file (YAML)")
    p.add_argument("--output-dir", help="overrides output_dir (and so the default storage)")
    p.add_argument("--max-resource", type=_new_maximum, default=None, metavar="R",
                   help="raise the scheduler's maximum resource to R (IDHB deepening): the "
                   "old maximum times a power of the reduction factor, e.g. 27 after 9")
    runner_options(p)
    p.set_defaults(run=_sweep)
    p = sub.add_parser("worker", help="join a running sweep (any host with the storage)")
    _target(p)
    runner_options(p)
    p.set_defaults(run=_worker)
    p = sub.add_parser("status", help="trials by state, best so far, running trials")
    _target(p)
    p.add_argument("--watch", type=float, default=0, help="refresh every N seconds")
    p.set_defaults(run=_status)
    p = sub.add_parser("best", help="the best configuration or the Pareto front, as JSON "
                       "(CARBS: also the (performance, cost) front and the scaling laws)")
    _target(p)
    p.add_argument("--cost", type=float, default=None,
                   help="the setting the power laws along the (performance, cost) front "
                   "predict at this cost, e.g. 1e4 (CARBS, docs/carbs.md)")
    p.set_defaults(run=_best)
    p = sub.add_parser("plot", help="write plots of a study")
    _target(p)
    p.add_argument("--out", default=None, help="output directory (default: the sweep's "
                   "output directory/plots with a sweep file, else ./plots)")
    p.add_argument("--format", choices=("png", "html"), default="png")
    p.set_defaults(run=_plot)
    p = sub.add_parser("dashboard", help="open optuna-dashboard on a sweep's storage")
    p.add_argument("sweep", nargs="?", help="a sweep file (instead of --storage)")
    p.add_argument("--storage", default=None)
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(run=_dashboard)
    p = sub.add_parser("studies", help="list the studies of a storage")
    p.add_argument("sweep", nargs="?", help="a sweep file (instead of --storage)")
    p.add_argument("--storage", default=None, help="storage URL (default: embedded SQLite)")
    p.set_defaults(run=_studies)

    p = sub.add_parser("clean", help="remove checkpoints that no trial can resume or exploit")
    _target(p)
    p.add_argument("--all", action="store_true", help="the study is finished: remove every "
                   "checkpoint but those of its best trials and their configurations' "
                   "furthest segments")
    p.add_argument("--older-than", type=float, default=3600.0, metavar="SECONDS",
                   help="unfinished uploads and unreferenced objects older than this go "
                        "(default: 3600)")
    p.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    p.set_defaults(run=_clean)
    return parser


def _plain(rst: str) -> str:
    r"""The module docstring's table as plain text for ``--help``: no rules, no markup.

    Example:
        >>> print(_plain("===  ===\n``hpo x``  does x\n===  ===\n\nUse ``--storage``."))
        hpo x  does x
        <BLANKLINE>
        Use --storage.
    """
    lines = [ln for ln in rst.splitlines() if not set(ln.strip()) <= {"=", " "} or not ln]
    return "\n".join(lines).replace("``", "").strip("\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hpo`` command line; returns the exit status (2: bad settings or storage)."""
    args = _parser().parse_args(argv)
    from hpo.cli.sweepfile import SweepFileError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return int(args.run(args))
    except SweepFileError as exc:
        print(f"hpo {args.command}: {exc}", file=sys.stderr)
        return 2
    except (KeyError, ValueError, ImportError) as exc:
        print(f"hpo {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`hpo studies | head`): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
