"""The ``hpo`` command line.

``hpo best --study NAME [--storage URL]`` prints a study's best configuration (or its
Pareto front); ``hpo studies [--storage URL]`` lists the studies of a storage.
The storage defaults to the embedded one (``$HPO_HOME/hpo.db``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import optuna

import hpo
from hpo.study import resolve_storage

__all__ = ["main"]


def _best(args: argparse.Namespace) -> int:
    study = hpo.load_study(study_name=args.study, storage=args.storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        print(f"study {args.study!r} has no completed trial yet", file=sys.stderr)
        return 1
    best = study.best_trials if len(study.directions) > 1 else [study.best_trial]
    rows = [{"number": t.number, "values": t.values, "params": t.params} for t in best]
    print(json.dumps(rows if len(rows) > 1 else rows[0], indent=2, default=str))
    return 0


def _studies(args: argparse.Namespace) -> int:
    storage = resolve_storage(args.storage)
    for s in storage.get_all_studies():
        dirs = ",".join(d.name.lower() for d in s.directions)
        n = len(storage.get_all_trials(s._study_id, deepcopy=False))
        print(f"{s.study_name}\t{dirs}\t{n} trials")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hpo", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"hpo {hpo.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("best", help="print the best configuration or the Pareto front")
    p.add_argument("--study", required=True, help="study name")
    p.add_argument("--storage", default=None, help="storage URL (default: embedded SQLite)")
    p.set_defaults(run=_best)
    p = sub.add_parser("studies", help="list the studies of a storage")
    p.add_argument("--storage", default=None, help="storage URL (default: embedded SQLite)")
    p.set_defaults(run=_studies)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (KeyError, ValueError) as exc:
        print(f"hpo {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
