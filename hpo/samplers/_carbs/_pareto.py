"""Grouping of repeated points and CARBS' Pareto groups (section 1.7).

``group_observations`` merges successful observations whose basic inputs are all
``isclose`` (a resampled point); a group's output and cost are their means.

``pareto_groups``: every group whose mean cost is at most the ``frac`` quantile of
the individual costs falls into one low-cost bucket, whose best group (for the
conservative variant: the best among groups with >= 2 samples, if any) starts the
front; the other groups, by mean cost ascending, join when they beat the last front
group strictly. Conservative: a single-sample group must beat the *largest individual*
output of the last front group, a repeated group only its mean.

Example:
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> groups = group_observations(X, np.array([1.0, 3.0, 2.0, 4.0]),
    ...                             np.array([1.0, 2.0, 3.0, 4.0]))
    >>> [g.indices for g in pareto_groups(groups, 0.0, 1, conservative=False)]
    [[0], [1], [3]]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Group", "group_observations", "pareto_groups", "same_point"]


@dataclass
class Group:
    """Successful observations at one point (indices into the observation arrays)."""

    x: np.ndarray
    indices: list[int] = field(default_factory=list)
    outputs: list[float] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)

    @property
    def output(self) -> float:
        return float(np.mean(self.outputs))

    @property
    def cost(self) -> float:
        return float(np.mean(self.costs))

    def __len__(self) -> int:
        return len(self.indices)


def same_point(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``(len(X), len(Y))``: whether row ``X[i]`` is the point ``Y[j]``, i.e. ``isclose``
    in every column with torch's default tolerances, as the reference compares points:
    ``|x - y| <= 1e-8 + 1e-5 |y|``."""
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
    return (np.abs(X[:, None, :] - Y[None]) <= 1e-8 + 1e-5 * np.abs(Y[None])).all(-1)


def group_observations(X: np.ndarray, outputs: np.ndarray, costs: np.ndarray) -> list[Group]:
    """Groups of rows of ``X`` that are the same point (:func:`same_point`), in order of
    first appearance."""
    X = np.asarray(X, dtype=float)
    groups: list[Group] = []
    heads = np.zeros((0, X.shape[1]))
    for i, x in enumerate(X):
        close = same_point(x[None], heads)[0]
        if close.any():
            g = groups[int(np.argmax(close))]
        else:
            g = Group(x)
            groups.append(g)
            heads = np.vstack([heads, x])
        g.indices.append(i)
        g.outputs.append(float(outputs[i]))
        g.costs.append(float(costs[i]))
    return groups


def pareto_groups(groups: list[Group], frac: float, sign: int, *, conservative: bool = True
                  ) -> list[Group]:
    """The Pareto groups, by mean cost ascending (``sign`` +1 maximises, -1 minimises).

    Edge (decided here; the reference would fail): when no group's *mean* cost is below
    the quantile (repeated points with spread costs), the cheapest group starts the front.
    """
    if not groups:
        return []
    all_costs = np.concatenate([g.costs for g in groups])
    c0 = float(np.quantile(all_costs, frac))
    cheap = [g for g in groups if g.cost <= c0]
    if not cheap:
        cheap = [min(groups, key=lambda g: g.cost)]
    if conservative and any(len(g) >= 2 for g in cheap):
        cheap = [g for g in cheap if len(g) >= 2]
    first = max(cheap, key=lambda g: sign * g.output)  # the first maximum on ties
    front = [first]
    rest = sorted((g for g in groups if g.cost > c0 and g is not first), key=lambda g: g.cost)
    for g in rest:
        last = front[-1]
        if conservative and len(g) == 1:
            threshold = max(sign * o for o in last.outputs)
        else:
            threshold = sign * last.output
        if sign * g.output > threshold:
            front.append(g)
    return front
