"""The (performance, cost) front of a study and power laws of its settings along it.

:func:`front`: the completed trials that no other trial beats on both performance and
cost (botorch's ``is_non_dominated``), cheapest first.

:class:`PowerLaw`: ``value = coefficient * cost ** exponent``, fitted by least squares
of ``log10 value`` on ``log10 cost`` over the front, with the standard errors of both
terms and a 95% prediction interval (Student t, ``n - 2`` degrees of freedom) for a
cost you name: the read-off of "Tune As You Scale" (e.g. how the best learning rate
moves with compute).

Example:
    >>> import numpy as np
    >>> cost = np.array([1.0, 10.0, 100.0, 1000.0])
    >>> law = PowerLaw.fit("lr", cost, 0.1 * cost ** -0.5 * np.array([1.0, 1.1, 0.9, 1.0]))
    >>> round(law.exponent, 1), law.n
    (-0.5, 4)
    >>> value, low, high = law.predict(1e4)
    >>> low < value < high
    True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["PowerLaw", "front"]


def front(values: np.ndarray, costs: np.ndarray, sign: int) -> np.ndarray:
    """Indices of the non-dominated rows of (``sign * values`` up, ``costs`` down),
    by cost ascending."""
    import torch
    from botorch.utils.multi_objective.pareto import is_non_dominated

    if len(values) == 0:
        return np.zeros(0, dtype=int)
    Y = torch.as_tensor(np.column_stack([sign * np.asarray(values, float),
                                         -np.asarray(costs, float)]), dtype=torch.float64)
    idx = np.flatnonzero(is_non_dominated(Y, deduplicate=True).numpy())
    return idx[np.argsort(np.asarray(costs)[idx], kind="stable")]


@dataclass(frozen=True)
class PowerLaw:
    """``value = coefficient * cost ** exponent`` along the front, with uncertainty."""

    name: str
    coefficient: float
    exponent: float
    exponent_stderr: float
    log10_coefficient_stderr: float
    n: int
    residual_std: float  # of log10 value
    mean_log10_cost: float
    sxx: float

    @classmethod
    def fit(cls, name: str, costs: np.ndarray, values: np.ndarray) -> PowerLaw:
        c = np.asarray(costs, dtype=float)
        v = np.asarray(values, dtype=float)
        if len(c) < 3:
            raise ValueError(f"scaling of {name!r}: needs >= 3 points on the front, got {len(c)}")
        if (v <= 0).any() or not np.isfinite(v).all():
            raise ValueError(f"scaling of {name!r}: a power law needs positive values, got "
                             f"{v.min():g} on the front")
        x, y = np.log10(c), np.log10(v)
        xbar = float(x.mean())
        sxx = float(((x - xbar) ** 2).sum())
        if sxx <= 1e-24:
            raise ValueError(f"scaling of {name!r}: every point of the front has the same cost")
        b = float(((x - xbar) * (y - y.mean())).sum() / sxx)
        a = float(y.mean() - b * xbar)
        n = len(x)
        resid = y - (a + b * x)
        s = float(math.sqrt((resid ** 2).sum() / (n - 2))) if n > 2 else math.nan
        return cls(name, 10.0 ** a, b, s / math.sqrt(sxx), s * math.sqrt(1 / n + xbar ** 2 / sxx),
                   n, s, xbar, sxx)

    def predict(self, cost: float, level: float = 0.95) -> tuple[float, float, float]:
        """The value at ``cost`` and its ``level`` prediction interval."""
        if not (isinstance(cost, (int, float)) and math.isfinite(cost) and cost > 0):
            raise ValueError(f"cost must be a positive finite number, got {cost!r}")
        x = math.log10(cost)
        y = math.log10(self.coefficient) + self.exponent * x
        se = self.residual_std * math.sqrt(1 + 1 / self.n + (x - self.mean_log10_cost) ** 2
                                           / self.sxx)
        t = float(stats.t.ppf(0.5 + level / 2, self.n - 2))
        return 10.0 ** y, 10.0 ** (y - t * se), 10.0 ** (y + t * se)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("mean_log10_cost", "sxx"):
            d.pop(k)
        return d
