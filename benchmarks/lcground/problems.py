"""Problems of the learning-curve ground: stored tables and synthetic multi-fidelity functions.

A problem has a search space of Optuna distributions (so any Optuna sampler can search
it), a resource axis of integer units ``1 .. max_resource`` (epochs, checkpoints), and
for any configuration a :class:`Curve`: the value after each unit (minimised) and the
cost of each unit in seconds.  Its ``optimum`` is the best value at ``max_resource``
over the whole space (the table's best row; the function's known minimum).
"""

from __future__ import annotations

import abc
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

DATA = Path(__file__).resolve().parents[1] / "data"

__all__ = ["DATA", "Curve", "Problem", "SyntheticProblem", "Table", "TableProblem",
           "get_problem", "list_problems", "load_table"]


@dataclass(frozen=True)
class Curve:
    """One configuration's learning curve: ``values[e-1]`` and ``costs[e-1]`` for unit e."""

    values: np.ndarray
    costs: np.ndarray
    key: Any = None  # the configuration's identity (a table row; a rounded point)

    def value(self, e: int) -> float:
        return float(self.values[e - 1])

    def cost(self, start: int, stop: int) -> float:
        """Seconds to train units ``start+1 .. stop``."""
        return float(self.costs[start:stop].sum())


class Problem(abc.ABC):
    """Interface of a problem (see the module docstring)."""

    name: str
    description: str
    space: dict[str, BaseDistribution]
    max_resource: int
    min_resource: int = 1
    reduction_factor: int = 3
    optimum: float

    @abc.abstractmethod
    def curve(self, params: Mapping[str, Any]) -> Curve:
        """The learning curve (values and costs per unit) of a configuration."""

    def final_value(self, params: Mapping[str, Any]) -> float:
        return self.curve(params).value(self.max_resource)


# ----------------------------------------------------------------------------- tables


def _distribution(p: Mapping[str, Any]) -> BaseDistribution:
    if p["type"] == "categorical":
        return CategoricalDistribution(list(p["choices"]))
    if p["type"] == "int":
        return IntDistribution(int(p["low"]), int(p["high"]), log=bool(p.get("log", False)))
    return FloatDistribution(float(p["low"]), float(p["high"]), log=bool(p.get("log", False)))


@dataclass
class Table:
    """A learning-curve table: ``values[row, seed, epoch]``, ``cost[row, seed, epoch]``.

    ``configs[row, j]`` is the value of parameter j (the choice's index for a categorical
    one).  :meth:`lookup` maps any configuration of :attr:`distributions` to the nearest
    row: numeric parameters are compared in the unit interval of their distribution (log
    scale where the distribution is), categorical ones must match (a mismatch costs more
    than any numeric distance).  On a full grid this snaps each parameter to its nearest
    grid value.
    """

    name: str
    values: np.ndarray
    cost: np.ndarray
    configs: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> Table:
        with np.load(path) as d:
            meta = json.loads(str(d["meta"]))
            return cls(name=meta["name"], values=d["values"].astype(np.float64),
                       cost=d["cost"].astype(np.float64), configs=d["configs"], meta=meta)

    @property
    def space_spec(self) -> list[dict[str, Any]]:
        return self.meta["space"]

    @cached_property
    def distributions(self) -> dict[str, BaseDistribution]:
        return {p["name"]: _distribution(p) for p in self.space_spec}

    @property
    def n_rows(self) -> int:
        return self.values.shape[0]

    @property
    def n_seeds(self) -> int:
        return self.values.shape[1]

    @property
    def n_epochs(self) -> int:
        return self.values.shape[2]

    def _unit(self, j: int, x: np.ndarray | float) -> np.ndarray:
        p = self.space_spec[j]
        lo, hi = float(p["low"]), float(p["high"])
        if p.get("log"):
            return (np.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return (np.asarray(x, dtype=float) - lo) / (hi - lo)

    @cached_property
    def _encoded(self) -> np.ndarray:
        cols = []
        for j, p in enumerate(self.space_spec):
            if p["type"] == "categorical":
                cols.append(self.configs[:, j] * 10.0)  # distinct choices never mix
            else:
                cols.append(self._unit(j, self.configs[:, j]))
        return np.stack(cols, axis=1)

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        out = np.empty(len(self.space_spec))
        for j, p in enumerate(self.space_spec):
            v = params[p["name"]]
            out[j] = (p["choices"].index(v) * 10.0 if p["type"] == "categorical"
                      else float(self._unit(j, float(v))))
        return out

    def lookup(self, params: Mapping[str, Any]) -> int:
        """Row of the nearest stored configuration."""
        d = self._encoded - self.encode(params)
        return int(np.argmin(np.einsum("ij,ij->i", d, d)))

    def params(self, row: int) -> dict[str, Any]:
        """The stored configuration of a row, as an Optuna sampler would suggest it."""
        out: dict[str, Any] = {}
        for j, p in enumerate(self.space_spec):
            v = self.configs[row, j]
            if p["type"] == "categorical":
                out[p["name"]] = p["choices"][int(v)]
            elif p["type"] == "int":
                out[p["name"]] = round(v)
            else:
                out[p["name"]] = float(v)
        return out

    def curve(self, row: int, seed: int | None = None) -> Curve:
        """Values and per-epoch costs of a row: the mean over seeds, or one seed's."""
        if seed is None:
            return Curve(self.values[row].mean(0), self.cost[row].mean(0), key=row)
        return Curve(self.values[row, seed], self.cost[row, seed], key=(row, seed))

    def best(self, epoch: int) -> float:
        """Best seed-mean value over rows after ``epoch`` epochs."""
        return float(self.values[:, :, epoch - 1].mean(1).min())


def load_table(name: str, data: Path = DATA) -> Table:
    path = data / f"lc_{name}.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such table; generate it with "
                                f"python benchmarks/lcground/generate.py --tables {name}")
    return Table.load(path)


class TableProblem(Problem):
    """A stored table as a problem: the seed-mean curve of the nearest row.

    ``seed=k`` replays one seed's curves instead (noisy values; the regret still uses
    the seed-mean value of the configuration found).
    """

    def __init__(self, table: Table, *, max_resource: int | None = None, min_resource: int = 1,
                 reduction_factor: int = 3, seed: int | None = None) -> None:
        self.table = table
        self.name = table.name
        self.description = table.meta.get("description", "")
        self.space = dict(table.distributions)
        self.max_resource = int(max_resource or table.n_epochs)
        if not 1 <= min_resource < self.max_resource <= table.n_epochs:
            raise ValueError(f"max_resource: table {table.name} has {table.n_epochs} epochs; "
                             f"need 1 <= min_resource < max_resource <= {table.n_epochs}")
        self.min_resource = min_resource
        self.reduction_factor = reduction_factor
        self.seed = seed
        self.optimum = table.best(self.max_resource)
        self._mean = table.values.mean(1)
        self._cost = table.cost.mean(1)
        self._cache: dict[int, Curve] = {}

    def row(self, params: Mapping[str, Any]) -> int:
        return self.table.lookup(params)

    def curve(self, params: Mapping[str, Any]) -> Curve:
        row = self.row(params)
        c = self._cache.get(row)
        if c is None:
            if self.seed is None:
                c = Curve(self._mean[row], self._cost[row], key=row)
            else:
                s = self.seed % self.table.n_seeds
                c = Curve(self.table.values[row, s], self.table.cost[row, s], key=row)
            self._cache[row] = c
        return c

    def final_value(self, params: Mapping[str, Any]) -> float:
        return float(self._mean[self.row(params), self.max_resource - 1])


# ------------------------------------------------------------------------ synthetic


class SyntheticProblem(Problem):
    """BoTorch's ``AugmentedHartmann`` (6-D) or ``AugmentedBranin`` (2-D) over resource.

    The last input of the BoTorch function is its fidelity s in [0, 1]; unit e of
    ``max_resource`` evaluates it at ``s = e / max_resource`` (noise-free), so the value
    after the full resource is the plain Hartmann / Branin.  Cost model: an epoch costs
    ``base_cost * (0.5 + x_0)`` seconds (x_0 the first input scaled to [0, 1]): some
    configurations are three times as expensive as others, as batch size or width make
    real ones.
    """

    def __init__(self, kind: str, *, max_resource: int = 27, min_resource: int = 1,
                 reduction_factor: int = 3, base_cost: float = 1.0) -> None:
        import torch
        from botorch.test_functions.multi_fidelity import AugmentedBranin, AugmentedHartmann

        if kind == "hartmann":
            self._f = AugmentedHartmann(negate=False)
            self.name, dim, self.optimum = "mf-hartmann6", 6, -3.32237
            self.description = ("botorch AugmentedHartmann (6-D on [0, 1]^6, fidelity = "
                                "epoch / max_resource), optimum -3.32237")
            bounds = [(0.0, 1.0)] * dim
        elif kind == "branin":
            self._f = AugmentedBranin(negate=False)
            self.name, dim, self.optimum = "mf-branin", 2, 0.397887
            self.description = ("botorch AugmentedBranin (2-D on [-5, 10] x [0, 15], fidelity "
                                "= epoch / max_resource), optimum 0.397887")
            bounds = [(-5.0, 10.0), (0.0, 15.0)]
        else:
            raise ValueError(f"kind: 'hartmann' or 'branin', got {kind!r}")
        self._torch = torch
        self._bounds = bounds
        self.space = {f"x{i}": FloatDistribution(lo, hi) for i, (lo, hi) in enumerate(bounds)}
        self.max_resource, self.min_resource = max_resource, min_resource
        self.reduction_factor, self.base_cost = reduction_factor, base_cost
        self._s = np.arange(1, max_resource + 1) / max_resource

    def _x(self, params: Mapping[str, Any]) -> np.ndarray:
        return np.array([float(params[f"x{i}"]) for i in range(len(self._bounds))])

    def curve(self, params: Mapping[str, Any]) -> Curve:
        torch = self._torch
        x = self._x(params)
        X = np.concatenate([np.repeat(x[None], len(self._s), 0), self._s[:, None]], 1)
        with torch.no_grad():
            v = self._f.evaluate_true(torch.as_tensor(X, dtype=torch.float64)).numpy()
        lo, hi = self._bounds[0]
        c = self.base_cost * (0.5 + (x[0] - lo) / (hi - lo))
        return Curve(v.astype(float), np.full(len(self._s), c), key=tuple(np.round(x, 12)))


# -------------------------------------------------------------------------- registry

TABLES = ("mlp-digits", "mlp-breast", "mlp-synth", "mlp-diabetes", "ppo-cartpole")
SYNTHETIC = ("mf-hartmann6", "mf-branin")


def list_problems(data: Path = DATA) -> list[str]:
    """Names of every problem whose data is present."""
    return [t for t in TABLES if (data / f"lc_{t}.npz").exists()] + list(SYNTHETIC)


def get_problem(name: str, *, max_resource: int | None = None, data: Path = DATA,
                **kwargs: Any) -> Problem:
    """A problem by name: a table (``mlp-digits``, ...) or ``mf-hartmann6`` / ``mf-branin``.

    Tables default to ``max_resource=27`` (rungs 1, 3, 9, 27 with reduction factor 3)
    for the 32-epoch MLP tables and all 27 checkpoints for PPO.
    """
    if name == "mf-hartmann6":
        return SyntheticProblem("hartmann", max_resource=max_resource or 27, **kwargs)
    if name == "mf-branin":
        return SyntheticProblem("branin", max_resource=max_resource or 27, **kwargs)
    table = load_table(name, data)
    return TableProblem(table, max_resource=max_resource or min(27, table.n_epochs), **kwargs)
