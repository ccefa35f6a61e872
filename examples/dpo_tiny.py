"""Tune DPO of a tiny GPT-2 on synthetic preferences: an alignment sweep, end to end.

Searches learning rate, batch size, warm-up and weight decay of hpo's plain-torch DPO
(``hpo.integrations.dpo``) on a ~100k-parameter GPT-2 built from a config (nothing is
downloaded) and a generated task (prefer the alphabetically sorted word list); the
value of a trial is its held-out DPO loss, evaluated every 10 steps, and poor trials
are pruned. Point it at your own model and data with ``--model PATH --data FILE.jsonl``.

    python examples/dpo_tiny.py                          # about 3 minutes on 2 CPU cores
    python examples/dpo_tiny.py --trials 3 --steps 20    # a smoke run
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import optuna

import hpo
from hpo.integrations.dpo import make_dpo_objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--steps", type=int, default=100, help="optimisation steps per trial")
    parser.add_argument("--model", default=None, help="a model directory or hub id (optional)")
    parser.add_argument("--data", default=None, help="a .jsonl of {prompt, chosen, rejected}")
    parser.add_argument("--storage", default="sqlite:///runs/dpo_tiny.db")
    parser.add_argument("--study", default="dpo_tiny")
    parser.add_argument("--plot", default="runs/dpo_tiny.png")
    args = parser.parse_args()

    Path("runs").mkdir(exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    objective = make_dpo_objective(model_name_or_path=args.model, dataset=args.data,
                                   max_steps=args.steps, eval_every=max(1, args.steps // 10))
    study = hpo.create_study(
        direction="minimize", storage=args.storage, study_name=args.study, load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=args.steps // 4),
        max_resource=args.steps,
    )
    study.enqueue_trial({k: hpo.space.default_of(d) for k, d in objective.space.items()},
                        skip_if_exists=True)  # the default configuration, as a baseline
    study.optimize(objective, n_trials=args.trials, show_progress_bar=True)

    states = [t.state.name for t in study.trials]
    print(f"trials: {len(states)} ({states.count('COMPLETE')} complete, "
          f"{states.count('PRUNED')} pruned, {states.count('FAIL')} failed)")
    best = study.best_trial
    params = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in best.params.items()}
    print(f"best: trial {best.number}, held-out DPO loss {best.value:.4f} (accuracy "
          f"{best.user_attrs.get('heldout_accuracy', float('nan')):.3f}), params {params}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        from optuna.visualization.matplotlib import plot_optimization_history
    except ImportError:
        print("install matplotlib (pip install 'hpo[plot]') for the plot")
        return
    ax = plot_optimization_history(study)
    ax.set_title("DPO of a tiny GPT-2: held-out DPO loss")
    Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(args.plot, dpi=120, bbox_inches="tight")
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
