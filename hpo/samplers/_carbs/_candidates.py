"""Samples around origins in basic space (section 1.5).

:func:`sample_around`: ``n * overgenerate`` draws, each an origin picked uniformly plus
isotropic ``Normal(0, radius)`` noise; the prior density ``prob(x)`` is the largest,
over the origins, of the one-dimensional normal density ``N(0, radius)`` at the
Euclidean distance ``||x - origin||``, computed on the unrounded draw; then integer
columns are rounded (in parameter space), points outside the strict bounds dropped and
the first ``n`` kept. When fewer than ``n`` survive, the overgeneration factor
(initially ``2 ** (finite dims // 2)``) doubles, up to ``2 ** D``. No deduplication.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, prob = sample_around(np.zeros((1, 2)), 0.3, 50, rng, np.array([-1.0, 0.0]),
    ...                         np.array([1.0, 1.0]))
    >>> x.shape, bool((x[:, 1] > 0).all()), prob.shape
    ((50, 2), True, (50,))
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["initial_overgenerate", "normal_pdf", "random_point", "sample_around"]


def normal_pdf(r: np.ndarray, radius: float) -> np.ndarray:
    return np.exp(-0.5 * (r / radius) ** 2) / (radius * math.sqrt(2.0 * math.pi))


def initial_overgenerate(lo: np.ndarray, hi: np.ndarray) -> int:
    finite = int(np.sum(np.isfinite(lo) | np.isfinite(hi)))
    return 2 ** (finite // 2)


def _valid(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return ((x > lo) & (x < hi)).all(-1)


def sample_around(origins: np.ndarray, radius: float, n: int, rng: np.random.Generator,
                  lo: np.ndarray, hi: np.ndarray,
                  round_basic: Callable[[np.ndarray], np.ndarray] | None = None,
                  overgenerate: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n`` valid samples ``(k, D)`` around ``origins`` ``(m, D)`` and their prior
    density ``(k,)``; ``k == 0`` when none is valid at the largest factor."""
    D = origins.shape[1]
    factor = overgenerate or initial_overgenerate(lo, hi)
    cap = max(2 ** D, factor)
    while True:
        m = n * factor
        pick = rng.integers(len(origins), size=m)
        x = origins[pick] + rng.normal(0.0, radius, size=(m, D))
        dist = np.linalg.norm(x[:, None, :] - origins[None, :, :], axis=-1)
        prob = normal_pdf(dist, radius).max(-1)
        if round_basic is not None:
            x = round_basic(x)
        with np.errstate(invalid="ignore"):
            ok = _valid(x, lo, hi)
        if ok.sum() >= n or factor >= cap:
            return x[ok][:n], prob[ok][:n]
        factor = min(2 * factor, cap)


def random_point(origins: np.ndarray, radius: float, rng: np.random.Generator,
                 lo: np.ndarray, hi: np.ndarray, attempts: int = 8,
                 batch: int = 32) -> np.ndarray | None:
    """CARBS' random suggestion: up to ``attempts`` batches of ``batch`` samples around
    the origins; the first valid one (``None`` if every attempt fails)."""
    factor = initial_overgenerate(lo, hi)
    for _ in range(attempts):
        m = batch * factor
        x = origins[rng.integers(len(origins), size=m)] + rng.normal(
            0.0, radius, size=(m, origins.shape[1]))
        with np.errstate(invalid="ignore"):
            ok = np.flatnonzero(_valid(x, lo, hi))
        if len(ok):
            return x[ok[0]]
    return None
