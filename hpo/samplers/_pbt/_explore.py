"""PBT's explore step: perturb or resample parameters, inside their distributions."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = ["check_params", "perturb", "sample"]


def sample(dist: BaseDistribution, rng: np.random.Generator) -> Any:
    """A uniform draw from ``dist`` (log-uniform where it is log)."""
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[int(rng.integers(len(dist.choices)))]
    if isinstance(dist, (FloatDistribution, IntDistribution)):
        lo, hi = float(dist.low), float(dist.high)
        u = math.exp(rng.uniform(math.log(lo), math.log(hi))) if dist.log else rng.uniform(lo, hi)
        return _snap(dist, u)
    raise ValueError(f"explore: unsupported distribution {dist!r}")


def _snap(dist: FloatDistribution | IntDistribution, value: float) -> Any:
    """``value`` clipped into ``dist`` and rounded to its step (or to an integer)."""
    lo, hi = dist.low, dist.high
    value = min(max(value, lo), hi)
    step = None if dist.log else dist.step  # Optuna makes (high - low) a multiple of step
    if step is not None:
        value = min(max(lo + round((value - lo) / step) * step, lo), hi)
    if isinstance(dist, IntDistribution):
        return round(value)
    return float(value)


def perturb(params: Mapping[str, Any], space: Mapping[str, BaseDistribution],
            rng: np.random.Generator, *, resample_probability: float,
            factors: Sequence[float], mutate: Sequence[str] | None = None) -> dict[str, Any]:
    """Ray Tune's explore, kept inside each parameter's distribution.

    Each mutated numeric parameter is resampled with probability
    ``resample_probability``, otherwise multiplied by one of ``factors`` (so a log
    parameter moves by the same ratio anywhere in its range), then clipped to its
    bounds and rounded to its step; an integer is rounded. A categorical parameter is
    resampled with probability ``resample_probability`` and kept otherwise: its choices
    have no order to step along. Parameters not in ``mutate`` keep their value.
    """
    out = dict(params)
    for name, dist in space.items():
        if name not in out or (mutate is not None and name not in mutate) or dist.single():
            continue
        if rng.random() < resample_probability:
            out[name] = sample(dist, rng)
        elif isinstance(dist, (FloatDistribution, IntDistribution)):
            factor = float(factors[int(rng.integers(len(factors)))])
            out[name] = _snap(dist, float(out[name]) * factor)
    return out


def check_params(params: Mapping[str, Any], space: Mapping[str, BaseDistribution],
                 where: str) -> None:
    """Every value inside its distribution, or a ValueError naming the parameter."""
    for name, value in params.items():
        dist = space.get(name)
        if dist is None:
            continue
        try:
            ok = dist._contains(dist.to_internal_repr(value))
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise ValueError(f"{where}: parameter {name!r} = {value!r} is outside {dist}")


ExploreFn = Callable[[dict[str, Any]], dict[str, Any]]
