"""Tune PPO on CartPole-v1: a real RL sweep with pruning, end to end.

Searches learning rate, gamma, GAE lambda, clip range, entropy coefficient, rollout
length, minibatch size and epochs of hpo's plain-torch PPO (``hpo.integrations.ppo``);
the value of a trial is the mean training return over its run. Poor trials are pruned
by an Optuna median pruner on the returns reported every 2,000 environment steps. The
study lives in SQLite under runs/, so running the script again continues it.

    python examples/ppo_cartpole.py                        # about 5 minutes on 2 CPU cores
    python examples/ppo_cartpole.py --trials 3 --steps 2048   # a smoke run
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import optuna

import hpo
from hpo.integrations.ppo import make_ppo_objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20_000, help="environment steps per trial")
    parser.add_argument("--storage", default="sqlite:///runs/ppo_cartpole.db")
    parser.add_argument("--study", default="ppo_cartpole")
    parser.add_argument("--plot", default="runs/ppo_cartpole.png")
    args = parser.parse_args()

    Path("runs").mkdir(exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    objective = make_ppo_objective("CartPole-v1", max_steps=args.steps,
                                   report_every=max(1, args.steps // 10))
    study = hpo.create_study(
        direction="maximize", storage=args.storage, study_name=args.study, load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=args.steps // 4),
        max_resource=args.steps,
    )
    study.enqueue_trial({k: hpo.space.default_of(d) for k, d in objective.space.items()},
                        skip_if_exists=True)  # the default configuration, as a baseline
    study.optimize(objective, n_trials=args.trials, show_progress_bar=True)

    states = [t.state.name for t in study.trials]
    print(f"trials: {len(states)} ({states.count('COMPLETE')} complete, "
          f"{states.count('PRUNED')} pruned, {states.count('FAIL')} failed)")
    default = next((t for t in study.trials if t.state.name == "COMPLETE"
                    and all(t.params[k] == hpo.space.default_of(d)
                            for k, d in objective.space.items())), None)
    if default is not None:
        print(f"default configuration: mean training return {default.value:.1f}")
    best = study.best_trial
    params = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in best.params.items()}
    print(f"best: trial {best.number}, mean training return {best.value:.1f}, params {params}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        from optuna.visualization.matplotlib import plot_optimization_history
    except ImportError:
        print("install matplotlib (pip install 'hpo[plot]') for the plot")
        return
    ax = plot_optimization_history(study)
    ax.set_title("PPO on CartPole-v1: mean training return")
    Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(args.plot, dpi=120, bbox_inches="tight")
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
