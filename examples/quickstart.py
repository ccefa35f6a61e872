"""Quick start: a real sweep over a small torch classifier, end to end.

Tunes learning rate, width, depth, activation and weight decay of an MLP on a noisy
two-spirals task (generated here, nothing downloaded), with pruning of poor trials,
checkpoints, and a continuation of the best trial to twice the epochs. The study lives
in SQLite, so running the script again continues it.

    python examples/quickstart.py                 # about 2 minutes on 2 CPU cores
    python examples/quickstart.py --trials 4 --epochs 6   # a smoke run

A new study with the same ``--seed`` gives the same trials and results (training is
seeded by the trial number); a resumed study goes on with fresh suggestions.
"""

from __future__ import annotations

import argparse
import itertools
import math
import warnings
from pathlib import Path

import optuna
import torch
from torch import nn

import hpo


def spirals(n: int, seed: int, noise: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals in 2-D, ``n`` points per class."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=g) * 3 * math.pi + 0.5
    arm = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) / 5
    x = torch.cat([arm, -arm]) + noise * torch.randn(2 * n, 2, generator=g)
    y = torch.cat([torch.zeros(n), torch.ones(n)]).long()
    return x, y


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


@hpo.objective(direction="maximize", metric="validation accuracy", resource="epochs")
def train(
    lr: float = hpo.loguniform(1e-4, 3e-1, default=1e-3),
    width: int = hpo.integer(8, 128, log=True, default=32),
    layers: int = hpo.integer(1, 3, default=2),
    act: str = hpo.choice(["relu", "tanh", "gelu"], default="relu"),
    weight_decay: float = hpo.loguniform(1e-6, 1e-2, default=1e-4),
    *,
    trial: optuna.Trial | None = None,
) -> float:
    """Validation accuracy of an MLP after the epochs ``hpo.budget`` gives this trial."""
    torch.set_num_threads(1)
    torch.manual_seed(trial.number if trial is not None else 0)  # before the model's init
    x_train, y_train = spirals(500, seed=0)
    x_val, y_val = spirals(500, seed=1)
    dims = [2] + [width] * layers
    blocks = [m for a, b in itertools.pairwise(dims)
              for m in (nn.Linear(a, b), ACTIVATIONS[act]())]
    model = nn.Sequential(*blocks, nn.Linear(width, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(trial.number if trial is not None else 0)

    state = hpo.resume(trial)  # None for a fresh trial
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        g.set_state(state["rng"])
    start, stop = hpo.budget(trial, max_resource=30)  # epochs

    accuracy = 0.0
    for epoch in range(start, stop):
        model.train()
        for idx in torch.randperm(len(x_train), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
        if trial is not None:
            trial.report(accuracy, epoch)
            if trial.should_prune():
                hpo.checkpoint(trial, {"model": model.state_dict(), "opt": opt.state_dict(),
                                       "rng": g.get_state()}, step=epoch + 1)
                raise optuna.TrialPruned()
    hpo.checkpoint(trial, {"model": model.state_dict(), "opt": opt.state_dict(),
                           "rng": g.get_state()}, step=stop)
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--storage", default="sqlite:///runs/quickstart.db")
    parser.add_argument("--study", default="quickstart")
    parser.add_argument("--plot", default="runs/quickstart.png")
    parser.add_argument("--seed", type=int, default=0,
                        help="sampler seed: a new study with the same seed gives the same trials")
    args = parser.parse_args()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"plain call with default hyperparameters: accuracy "
          f"{train():.3f}")
    study = hpo.create_study(
        direction="maximize", storage=args.storage, study_name=args.study, load_if_exists=True,
        sampler=hpo.samplers.default_sampler(seed=args.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5),
        max_resource=args.epochs,
    )
    study.optimize(train, n_trials=args.trials, show_progress_bar=True)

    states = [t.state.name for t in study.trials]
    print(f"trials: {len(states)} ({states.count('COMPLETE')} complete, "
          f"{states.count('PRUNED')} pruned, {states.count('FAIL')} failed)")
    best = study.best_trial
    print(f"best: trial {best.number}, accuracy {best.value:.3f} after "
          f"{hpo.budget(best)[1]} epochs, params {best.params}")

    # Continue the best trial from its checkpoint to twice the epochs it trained. The
    # study's best stays compared where the other configurations are (their epochs): a
    # longer run of one configuration alone is no comparison.
    child = hpo.extend(study, best.number, stop=2 * hpo.budget(best)[1])
    study.optimize(train, n_trials=1)
    extended = study.trials[child]
    change = "above" if extended.value > best.value else "not above"
    print(f"extended trial {best.number} -> trial {child} over epochs "
          f"{hpo.budget(extended)}: accuracy {extended.value:.3f}, {change} its "
          f"{best.value:.3f} after {hpo.budget(best)[1]}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        from optuna.visualization.matplotlib import plot_optimization_history
    except ImportError:
        print("install matplotlib (pip install 'hpo[plot]') for the plot")
        return
    with warnings.catch_warnings():  # Optuna marks its matplotlib plots "experimental"
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = plot_optimization_history(study)
    Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(args.plot, dpi=120, bbox_inches="tight")
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
