"""Generate the learning-curve tables of the ground (``benchmarks/data/lc_*.npz``).

Every table is real training, run here:

* ``mlp-digits``, ``mlp-breast``, ``mlp-synth`` (classification, value = validation
  error) and ``mlp-diabetes`` (regression, value = validation MSE / Var(y_val), i.e.
  1 - R^2): scikit-learn ``MLPClassifier`` / ``MLPRegressor`` trained one epoch at a time
  with ``partial_fit`` over a full grid of 252 configurations (learning rate x L2
  penalty x hidden width x batch size x solver), 3 seeds, 32 epochs; the data split is
  fixed, the seed changes the initialisation and the minibatch order;
* ``ppo-cartpole`` (value = minus the mean training return since step 0, so that
  every table is minimised): hpo's own PPO (``hpo.integrations.ppo.train_ppo``) on
  CartPole-v1 at random configurations of its search space, 2 seeds, 27 checkpoints of
  750 environment steps.

The cost of an epoch (checkpoint) is the CPU time of the training process over it
(``time.process_time``, one BLAS / torch thread), so that other jobs on a shared machine
do not inflate it, and it includes the validation pass a real run makes each epoch.

    nice -n 15 python benchmarks/lcground/generate.py                 # every table
    nice -n 15 python benchmarks/lcground/generate.py --tables mlp-digits,mlp-breast
    python benchmarks/lcground/generate.py --tables mlp-breast --quick   # smoke run
    python benchmarks/lcground/generate.py --describe    # summary of the stored tables

About 14 min of CPU for the four MLP tables and 11 min for PPO on one AMD EPYC core.
Run it as a script, not with ``python -m``: it pins the BLAS threads before numpy is first
imported, which importing the ``benchmarks.lcground`` package first would defeat.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"

# The MLP grid: 7 x 2 x 3 x 3 x 2 = 252 configurations.
MLP_GRID: dict[str, list[Any]] = {
    "learning_rate_init": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
    "alpha": [1e-5, 1e-2],
    "hidden": [16, 64, 256],
    "batch_size": [32, 128, 512],
    "solver": ["sgd", "adam"],
}
MLP_SPACE: list[dict[str, Any]] = [
    {"name": "learning_rate_init", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    {"name": "alpha", "type": "float", "low": 1e-5, "high": 1e-2, "log": True},
    {"name": "hidden", "type": "int", "low": 16, "high": 256, "log": True},
    {"name": "batch_size", "type": "int", "low": 32, "high": 512, "log": True},
    {"name": "solver", "type": "categorical", "choices": ["sgd", "adam"]},
]
MLP_DATASETS = {
    "mlp-digits": "sklearn load_digits (1797 x 64, 10 classes)",
    "mlp-breast": "sklearn load_breast_cancer (569 x 30, 2 classes)",
    "mlp-synth": "sklearn make_classification (3000 x 30, 12 informative, 5 classes, "
                 "5% label noise, random_state=0)",
    "mlp-diabetes": "sklearn load_diabetes (442 x 10, regression, target standardised)",
}


def _dataset(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    classify = name != "mlp-diabetes"
    if name == "mlp-digits":
        X, y = datasets.load_digits(return_X_y=True)
    elif name == "mlp-breast":
        X, y = datasets.load_breast_cancer(return_X_y=True)
    elif name == "mlp-synth":
        X, y = datasets.make_classification(3000, 30, n_informative=12, n_redundant=6,
                                            n_classes=5, flip_y=0.05, random_state=0)
    elif name == "mlp-diabetes":
        X, y = datasets.load_diabetes(return_X_y=True)
    else:
        raise ValueError(f"unknown table {name!r}")
    Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.3, random_state=0,
                                          stratify=y if classify else None)
    sx = StandardScaler().fit(Xtr)
    Xtr, Xva = sx.transform(Xtr), sx.transform(Xva)
    if not classify:
        mu, sd = ytr.mean(), ytr.std()
        ytr, yva = (ytr - mu) / sd, (yva - mu) / sd
    return Xtr, Xva, ytr, yva, classify


def _mlp_curve(cfg: dict[str, Any], seed: int, epochs: int, data: tuple) -> tuple[list, list]:
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    Xtr, Xva, ytr, yva, classify = data
    kw = dict(hidden_layer_sizes=(int(cfg["hidden"]),), solver=cfg["solver"],
              learning_rate_init=float(cfg["learning_rate_init"]), alpha=float(cfg["alpha"]),
              batch_size=int(cfg["batch_size"]), random_state=seed, momentum=0.9,
              nesterovs_momentum=True)
    model = MLPClassifier(**kw) if classify else MLPRegressor(**kw)
    classes = np.unique(ytr) if classify else None
    # a diverged run: the constant predictor's error, or the cap of a regression value
    worst = 1.0 - np.bincount(yva.astype(int)).max() / len(yva) if classify else 10.0
    values, costs, diverged = [], [], False
    for _ in range(epochs):
        t0 = time.process_time()
        if not diverged:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if classify:
                        model.partial_fit(Xtr, ytr, classes=classes)
                    else:
                        model.partial_fit(Xtr, ytr)
                if not math.isfinite(model.loss_) or model.loss_ > 1e6:
                    diverged = True
            except (ValueError, FloatingPointError, OverflowError):
                diverged = True
        if diverged:
            v = worst
        elif classify:
            v = 1.0 - float(np.mean(model.predict(Xva) == yva))
        else:
            with np.errstate(all="ignore"):
                pred = model.predict(Xva)
            mse = float(np.mean((pred - yva) ** 2) / np.var(yva))
            v = min(mse, 10.0) if math.isfinite(mse) else 10.0
        costs.append(time.process_time() - t0)
        values.append(v)
    return values, costs


def _encode_configs(space: list[dict[str, Any]], configs: list[dict[str, Any]]) -> np.ndarray:
    out = np.zeros((len(configs), len(space)))
    for j, p in enumerate(space):
        for i, c in enumerate(configs):
            v = c[p["name"]]
            out[i, j] = p["choices"].index(v) if p["type"] == "categorical" else float(v)
    return out


def _save(name: str, *, values: np.ndarray, costs: np.ndarray, space: list, configs: list,
          meta: dict[str, Any]) -> Path:
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"lc_{name}.npz"
    meta = {**meta, "name": name, "space": space,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python " + " ".join(sys.argv),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "python": platform.python_version()}
    np.savez_compressed(path, values=values.astype(np.float32),
                        cost=costs.astype(np.float16),
                        configs=_encode_configs(space, configs).astype(np.float64),
                        meta=np.array(json.dumps(meta)))
    return path


def make_mlp(name: str, *, seeds: int, epochs: int, quick: bool) -> Path:
    import sklearn

    data = _dataset(name)
    names = list(MLP_GRID)
    configs = [dict(zip(names, combo, strict=True))
               for combo in itertools.product(*MLP_GRID.values())]
    if quick:
        configs = configs[::25]
    n = len(configs)
    values = np.zeros((n, seeds, epochs))
    costs = np.zeros((n, seeds, epochs))
    t0 = time.process_time()
    for i, cfg in enumerate(configs):
        for s in range(seeds):
            values[i, s], costs[i, s] = _mlp_curve(cfg, s, epochs, data)
        if i % 25 == 0:
            print(f"{name}: {i + 1}/{n} configs, {time.process_time() - t0:.0f} s CPU",
                  flush=True)
    meta = {"description": MLP_DATASETS[name], "resource": "epoch",
            "metric": "validation error" if data[4] else "validation MSE / Var(y_val)",
            "model": "sklearn MLP, one hidden ReLU layer, partial_fit per epoch; sgd with "
                     "Nesterov momentum 0.9 or adam",
            "n_train": len(data[2]), "n_val": len(data[3]), "grid": MLP_GRID,
            "sklearn": sklearn.__version__, "numpy": np.__version__,
            "cpu_seconds": time.process_time() - t0}
    return _save(name, values=values, costs=costs, space=MLP_SPACE, configs=configs, meta=meta)


PPO_UNIT = 750  # environment steps per checkpoint


def make_ppo(*, n_configs: int, seeds: int, checkpoints: int, quick: bool) -> Path:
    import optuna
    import torch

    import hpo
    from hpo import _attrs
    from hpo.integrations.ppo import DEFAULTS, ppo_space, train_ppo

    space_d = ppo_space(**DEFAULTS["CartPole-v1"]["space"])
    space: list[dict[str, Any]] = []
    for pname, d in space_d.items():
        if isinstance(d, optuna.distributions.IntDistribution):
            space.append({"name": pname, "type": "int", "low": d.low, "high": d.high,
                          "log": d.log})
        else:
            space.append({"name": pname, "type": "float", "low": d.low, "high": d.high,
                          "log": d.log})
    sampler = optuna.samplers.RandomSampler(seed=12345)
    configs = []
    pick = optuna.create_study(sampler=sampler)
    for _ in range(n_configs):
        t = pick.ask(space_d)
        configs.append(dict(t.params))
        pick.tell(t, 0.0)
    max_steps = PPO_UNIT * checkpoints
    values = np.zeros((n_configs, seeds, checkpoints))
    costs = np.zeros((n_configs, seeds, checkpoints))
    import tempfile

    train_ppo("CartPole-v1", **configs[0], max_steps=512, device="cpu")  # warm torch up
    t_start = time.process_time()
    with tempfile.TemporaryDirectory(prefix="lc-ppo-") as tmp:
        for i, cfg in enumerate(configs):
            for s in range(seeds):
                study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
                study._storage.set_study_system_attr(study._study_id, _attrs.ARTIFACT_STORE, tmp)
                trial = study.ask()
                reports: list[tuple[int, float, float]] = []
                orig = trial.report

                def report(value: float, step: int, _orig=orig, _r=reports) -> None:
                    _r.append((step, float(value), time.process_time()))
                    _orig(value, step)

                trial.report = report  # type: ignore[method-assign]
                t0 = time.process_time()
                final = train_ppo("CartPole-v1", **cfg, max_steps=max_steps, seed=s,
                                  report_every=PPO_UNIT, device="cpu", trial=trial)
                by_step = {st: (v, tt) for st, v, tt in reports}
                last_t, last_v = t0, float("nan")
                for k in range(checkpoints):
                    step = (k + 1) * PPO_UNIT
                    v, tt = by_step.get(step, (last_v, last_t))
                    if k == checkpoints - 1:
                        v, tt = final, max(tt, time.process_time())
                    values[i, s, k] = -v
                    costs[i, s, k] = max(tt - last_t, 0.0)
                    last_t, last_v = tt, v
                study.tell(trial, final)
            print(f"ppo-cartpole: {i + 1}/{n_configs} configs, "
                  f"{time.process_time() - t_start:.0f} s CPU", flush=True)
    meta = {"description": "hpo.integrations.ppo.train_ppo on CartPole-v1 (4 envs, "
                           "metric='train'), random configurations of ppo_space()",
            "resource": f"{PPO_UNIT} environment steps", "unit_steps": PPO_UNIT,
            "metric": "minus the mean training return since step 0",
            "hpo": hpo.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "cpu_seconds": time.process_time() - t_start}
    return _save("ppo-cartpole", values=values, costs=costs, space=space, configs=configs,
                 meta=meta)


def describe(data: Path = DATA) -> str:
    """A markdown table of the stored tables."""
    from scipy.stats import spearmanr

    rows = ["| table | rows x seeds x units | value (minimised) | best / median @27 | "
            "Spearman @1, @3, @9 vs @27 | s per unit (min-max) | CPU s | kB |",
            "|---|---|---|---|---|---|---|---|"]
    for path in sorted(data.glob("lc_*.npz")):
        with np.load(path) as d:
            meta = json.loads(str(d["meta"]))
            v, c = d["values"].astype(float), d["cost"].astype(float)
        m = v.mean(1)
        e = min(27, v.shape[2])
        rho = [spearmanr(m[:, k - 1], m[:, e - 1]).statistic for k in (1, 3, 9)]
        per = c.mean((1, 2))
        rows.append(f"| {meta['name']} | {v.shape[0]} x {v.shape[1]} x {v.shape[2]} | "
                    f"{meta['metric']} | {m[:, e - 1].min():.4g} / {np.median(m[:, e - 1]):.4g} "
                    f"| {' / '.join(f'{r:.2f}' for r in rho)} | {per.min():.3g}-{per.max():.3g} "
                    f"| {meta['cpu_seconds']:.0f} | {path.stat().st_size / 1e3:.0f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tables", default=",".join([*MLP_DATASETS, "ppo-cartpole"]))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=32)
    ap.add_argument("--ppo-configs", type=int, default=32)
    ap.add_argument("--ppo-seeds", type=int, default=2)
    ap.add_argument("--ppo-checkpoints", type=int, default=27)
    ap.add_argument("--quick", action="store_true", help="a few configurations, to /tmp")
    ap.add_argument("--describe", action="store_true", help="print the stored tables' summary")
    args = ap.parse_args(argv)
    if args.describe:
        print(describe())
        return
    global DATA
    if args.quick:
        DATA = Path("/tmp/lcground-quick")
    for name in args.tables.split(","):
        t0 = time.perf_counter()
        if name == "ppo-cartpole":
            path = make_ppo(n_configs=2 if args.quick else args.ppo_configs,
                            seeds=1 if args.quick else args.ppo_seeds,
                            checkpoints=4 if args.quick else args.ppo_checkpoints,
                            quick=args.quick)
        else:
            path = make_mlp(name, seeds=args.seeds, epochs=args.epochs, quick=args.quick)
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB) in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
