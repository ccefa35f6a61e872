"""Samples around origins in basic space (section 1.5), with categorical columns.

:func:`sample_around`: ``n * overgenerate`` draws, each an origin picked uniformly plus
isotropic ``Normal(0, radius)`` noise on the numeric columns; the prior density
``prob(x)`` is the largest, over the origins, of the one-dimensional normal density
``N(0, radius)`` at the Euclidean distance ``||x - origin||``, computed on the unrounded
draw; then integer columns are rounded (in parameter space), points outside the strict
bounds dropped and the first ``n`` kept. When fewer than ``n`` survive, the
overgeneration factor (initially ``2 ** (finite dims // 2)``) doubles, up to ``2 ** D``.
No deduplication.

Categorical columns (CARBS has none; this is hpo's extension) follow the numeric ones
and hold choice indices, one column per parameter with ``choices[j]`` values. A draw
keeps its origin's choice, or with probability ``mutation`` takes one of the other
choices uniformly; in ``prob(x)`` each changed choice multiplies that origin's density by
``mutation / ((k - 1) * (1 - mutation))``, the draw's probability relative to keeping.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, prob = sample_around(np.zeros((1, 2)), 0.3, 50, rng, np.array([-1.0, 0.0]),
    ...                         np.array([1.0, 1.0]))
    >>> x.shape, bool((x[:, 1] > 0).all()), prob.shape
    ((50, 2), True, (50,))
    >>> x, _ = sample_around(np.array([[0.0, 2.0]]), 0.3, 50, rng, np.array([-1.0]),
    ...                      np.array([1.0]), choices=(3,), mutation=0.2)
    >>> sorted(set(x[:, 1].tolist()))                 # mostly the origin's choice 2
    [0.0, 1.0, 2.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["initial_overgenerate", "normal_pdf", "random_point", "sample_around"]


def normal_pdf(r: np.ndarray, radius: float) -> np.ndarray:
    return np.exp(-0.5 * (r / radius) ** 2) / (radius * math.sqrt(2.0 * math.pi))


def initial_overgenerate(lo: np.ndarray, hi: np.ndarray) -> int:
    finite = int(np.sum(np.isfinite(lo) | np.isfinite(hi)))
    return 2 ** (finite // 2)


def _valid(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return ((x > lo) & (x < hi)).all(-1)


def _draw(origins: np.ndarray, radius: float, m: int, rng: np.random.Generator, D: int,
          choices: Sequence[int], mutation: float) -> tuple[np.ndarray, np.ndarray]:
    """``m`` draws around uniformly picked origins, and the picks."""
    pick = rng.integers(len(origins), size=m)
    x = origins[pick].copy()
    x[:, :D] += rng.normal(0.0, radius, size=(m, D))
    for j, k in enumerate(choices):
        if k > 1 and mutation > 0:
            col = x[:, D + j]
            move = rng.random(m) < mutation
            col[move] = (col[move] + rng.integers(1, k, size=int(move.sum()))) % k
    return x, pick


def sample_around(origins: np.ndarray, radius: float, n: int, rng: np.random.Generator,
                  lo: np.ndarray, hi: np.ndarray,
                  round_basic: Callable[[np.ndarray], np.ndarray] | None = None,
                  overgenerate: int | None = None, choices: Sequence[int] = (),
                  mutation: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n`` valid samples ``(k, D + C)`` around ``origins`` ``(m, D + C)`` and
    their prior density ``(k,)``; ``k == 0`` when none is valid at the largest factor.
    ``lo``, ``hi`` and ``round_basic`` concern the ``D`` numeric columns."""
    C = len(choices)
    D = origins.shape[1] - C
    ratio = np.array([mutation / ((k - 1) * (1.0 - mutation)) if k > 1 and mutation < 1
                      else 1.0 for k in choices])
    factor = overgenerate or initial_overgenerate(lo, hi)
    cap = max(2 ** D, factor)
    while True:
        m = n * factor
        x, _ = _draw(origins, radius, m, rng, D, choices, mutation)
        dist = np.linalg.norm(x[:, None, :D] - origins[None, :, :D], axis=-1)
        log_prob = np.log(normal_pdf(dist, radius))
        if C:
            changed = x[:, None, D:] != origins[None, :, D:]
            with np.errstate(divide="ignore"):
                log_prob = log_prob + np.where(changed, np.log(ratio), 0.0).sum(-1)
        prob = np.exp(log_prob.max(-1))
        if round_basic is not None:
            x[:, :D] = round_basic(x[:, :D])
        with np.errstate(invalid="ignore"):
            ok = _valid(x[:, :D], lo, hi)
        if ok.sum() >= n or factor >= cap:
            return x[ok][:n], prob[ok][:n]
        factor = min(2 * factor, cap)


def random_point(origins: np.ndarray, radius: float, rng: np.random.Generator,
                 lo: np.ndarray, hi: np.ndarray, attempts: int = 8,
                 batch: int = 32, choices: Sequence[int] = (),
                 mutation: float = 0.0) -> np.ndarray | None:
    """CARBS' random suggestion: up to ``attempts`` batches of ``batch`` samples around
    the origins; the first valid one (``None`` if every attempt fails)."""
    D = origins.shape[1] - len(choices)
    factor = initial_overgenerate(lo, hi)
    for _ in range(attempts):
        x, _ = _draw(origins, radius, batch * factor, rng, D, choices, mutation)
        with np.errstate(invalid="ignore"):
            ok = np.flatnonzero(_valid(x[:, :D], lo, hi))
        if len(ok):
            return x[ok[0]]
    return None
