"""Basic-space transforms: CARBS searches in a space where a step of 1 means "one unit
of change" for every parameter (section 1.1 of the reference notes).

=========  ===========================  ================================
transform  basic(v)                     param(b)
=========  ===========================  ================================
linear     v / scale                    b * scale
log        log10(v) / scale             10 ** (b * scale)
logit      log10(v / (1 - v)) / scale   1 / (10 ** (-b * scale) + 1)
=========  ===========================  ================================

Integers (and stepped floats) round to their Optuna grid ``low + k * step`` in
parameter space; their bounds are padded by ``0.1 * step`` (CARBS pads by 0.1), and
validity is strict, ``lo < b < hi``, per dimension. A bound at or beyond
:data:`hpo.space.UNBOUNDED` is no bound (``-inf`` / ``inf`` in basic space).

Example:
    >>> from optuna.distributions import FloatDistribution
    >>> t = Transform.build("lr", FloatDistribution(1e-5, 1e-1, log=True))
    >>> t.kind, t.scale, t.center                      # middle of the log range
    ('log', 1.0, 0.001)
    >>> float(t.to_basic(1e-3)), float(t.to_param(-2.0))
    (-3.0, 0.01)
    >>> from optuna.distributions import IntDistribution
    >>> round(Transform.build("layers", IntDistribution(1, 4)).scale, 2)   # 1 / 0.3
    3.33
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

from hpo.space import UNBOUNDED

__all__ = ["KINDS", "Transform"]

KINDS = ("linear", "log", "logit")
_SPAN_UNITS = 3.0  # a bounded range spans this many basic units by default


def _unbounded_low(dist: FloatDistribution | IntDistribution) -> bool:
    return dist.low <= (1.0 / UNBOUNDED if dist.log else -UNBOUNDED)


def _unbounded_high(dist: FloatDistribution | IntDistribution) -> bool:
    return dist.high >= UNBOUNDED


@dataclass(frozen=True)
class Transform:
    """One parameter's map between its value and CARBS' basic space."""

    name: str
    dist: FloatDistribution | IntDistribution
    kind: str
    scale: float
    center: float  # in parameter space
    low: float  # parameter-space bounds (-inf / inf when open)
    high: float

    @property
    def step(self) -> float | None:
        """Rounding grid of integers and stepped floats (``None``: continuous)."""
        return None if self.dist.step is None else float(self.dist.step)

    @property
    def unbounded(self) -> bool:
        return not (math.isfinite(self.low) and math.isfinite(self.high))

    @classmethod
    def build(cls, name: str, dist: BaseDistribution, *, center: Any = None,
              scale: float | None = None, kind: str | None = None,
              radius: float = 0.3) -> Transform:
        """The transform of ``name``: ``kind`` defaults to ``log`` for log distributions,
        else ``linear``; ``scale`` to ``1`` (log, logit) or a third of the range (linear;
        for log, at most a third of its decades) and is required when a side is open;
        a linear integer (or stepped float) gets at least ``step / radius``, so that one
        search ``radius`` moves one step (below that, rounding pins the search to its
        centre; the reference warns for integer scales under 3); ``center`` defaults to
        the middle of the range in basic space."""
        if not isinstance(dist, (FloatDistribution, IntDistribution)):
            raise TypeError(f"CARBS: parameter {name!r}: only float and int distributions "
                            f"have a basic space, got {dist!r}")
        kind = kind or ("log" if dist.log else "linear")
        if kind not in KINDS:
            raise ValueError(f"CARBS: parameter {name!r}: transform must be one of {KINDS}, "
                             f"got {kind!r}")
        if kind == "logit" and (isinstance(dist, IntDistribution) or dist.step is not None
                                or dist.log or dist.low < 0 or dist.high > 1):
            raise ValueError(f"CARBS: parameter {name!r}: logit needs a continuous, "
                             f"linear float within [0, 1], got {dist!r}")
        if kind == "linear" and dist.log:
            kind = "log"
        low = -math.inf if _unbounded_low(dist) else float(dist.low)
        high = math.inf if _unbounded_high(dist) else float(dist.high)
        if kind == "log" and low == -math.inf:
            low = 0.0  # CARBS' LogSpace: min 0, i.e. -inf in basic space
        if scale is None:
            if not (math.isfinite(low) and math.isfinite(high)) and kind != "logit" \
                    and not (kind == "log" and low == 0.0 and math.isfinite(high)):
                raise ValueError(
                    f"CARBS: parameter {name!r} has no upper or lower bound ({dist}) and "
                    f"no scale: give one, e.g. hpo.unbounded(..., scale=1.0) or "
                    f"CARBS(scale={{{name!r}: 1.0}})")
            if kind == "linear":
                scale = max((high - low) / _SPAN_UNITS, 1e-12)
                if dist.step is not None:
                    scale = max(scale, float(dist.step) / radius)
            elif kind == "log" and math.isfinite(low) and low > 0:
                scale = min(1.0, math.log10(high / low) / _SPAN_UNITS) or 1.0
            else:
                scale = 1.0
        elif isinstance(scale, bool) or not isinstance(scale, (int, float)) \
                or not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"CARBS: parameter {name!r}: scale must be a positive number, "
                             f"got {scale!r}")
        t = cls(name, dist, kind, float(scale), math.nan, low, high)
        if center is None:
            if t.unbounded and kind != "logit" and not (kind == "log" and low == 0.0):
                raise ValueError(f"CARBS: parameter {name!r} is unbounded and has no search "
                                 f"centre: give default= or CARBS(search_center=...)")
            lo_b, hi_b = t.basic_bounds(pad=False)
            if not (math.isfinite(lo_b) and math.isfinite(hi_b)):
                raise ValueError(f"CARBS: parameter {name!r} has an open range and no search "
                                 f"centre: give default= or CARBS(search_center=...)")
            c = float(t.round_param(t.to_param(0.5 * (lo_b + hi_b))))
        else:
            if isinstance(center, bool) or not isinstance(center, (int, float)) \
                    or not math.isfinite(center):
                raise ValueError(f"CARBS: parameter {name!r}: search centre must be a finite "
                                 f"number, got {center!r}")
            if not dist.low <= center <= dist.high or (kind in ("log", "logit") and center <= 0) \
                    or (kind == "logit" and center >= 1):
                raise ValueError(f"CARBS: parameter {name!r}: search centre {center!r} lies "
                                 f"outside its range [{dist.low}, {dist.high}]"
                                 f"{' (a logit needs 0 < centre < 1)' if kind == 'logit' else ''}")
            c = float(center)
        return cls(name, dist, kind, float(scale), c, low, high)

    # -- maps --------------------------------------------------------------------------

    def to_basic(self, v: Any) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "linear":
                b = v / self.scale
            elif self.kind == "log":
                b = np.log10(v) / self.scale
            else:
                b = np.log10(v / (1.0 - v)) / self.scale
        return b

    def to_param(self, b: Any) -> np.ndarray:
        b = np.asarray(b, dtype=float)
        with np.errstate(over="ignore"):
            if self.kind == "linear":
                return b * self.scale
            if self.kind == "log":
                return np.power(10.0, b * self.scale)
            return 1.0 / (np.power(10.0, -b * self.scale) + 1.0)

    def round_param(self, v: Any) -> np.ndarray:
        """Onto the Optuna grid (integers, steps) and into the distribution's bounds."""
        v = np.asarray(v, dtype=float)
        if self.step is not None:
            v = self.dist.low + np.round((v - self.dist.low) / self.step) * self.step
        return np.clip(v, self.dist.low, self.dist.high)

    def round_basic(self, b: Any) -> np.ndarray:
        """Round in parameter space, map back (``round_tensor_in_basic``); continuous
        parameters are left as they are."""
        b = np.asarray(b, dtype=float)
        if self.step is None:
            return b
        with np.errstate(invalid="ignore"):
            v = self.dist.low + np.round((self.to_param(b) - self.dist.low) / self.step) * self.step
        return self.to_basic(v)

    def basic_bounds(self, pad: bool = True) -> tuple[float, float]:
        """Strict bounds in basic space; integers padded by ``0.1 * step``."""
        p = 0.1 * self.step if (pad and self.step is not None) else 0.0
        lo, hi = self.low - p, self.high + p
        if self.kind == "log":
            lo = max(lo, 0.0)
        if self.kind == "logit":
            lo, hi = max(lo, 0.0), min(hi, 1.0)
        return float(self.to_basic(lo)), float(self.to_basic(hi))

    def value(self, b: float) -> Any:
        """The parameter value (Python ``int`` for int distributions) of basic ``b``."""
        v = float(self.round_param(self.to_param(b)))
        return round(v) if isinstance(self.dist, IntDistribution) else v

