"""Output warping: a monotone power transform of the values a GP is fitted to.

RL returns and validation losses are often heavy-tailed: one diverged run, or a few
configurations that never learn, put most observations in a narrow band and stretch the
standardised scale. A stationary GP then spends its lengthscales and noise on the tail
and sees the good region as flat. :func:`warp_outputs` applies the Yeo-Johnson power
transform (Yeo & Johnson 2000) to each standardised column, with the exponent chosen by
maximum likelihood so that the result is as close to normal as the family allows, as
HEBO does (Cowen-Rivers et al. 2022, who found output warping among the components that
mattered most on HPO benchmarks). The transform is strictly increasing, so the best
point, the Pareto front and every ordering are unchanged; near-normal data get an
exponent near 1, close to the identity.

Example:
    >>> import torch
    >>> y = torch.tensor([[0.1], [0.2], [0.15], [0.18], [0.12], [25.0]], dtype=torch.float64)
    >>> w = warp_outputs(y)
    >>> bool((w.argsort(0) == y.argsort(0)).all())   # order kept
    True
    >>> def spread(v):  # range of the five inliers, relative to the outlier's distance
    ...     return float((v[:5].max() - v[:5].min()) / (v[5] - v[:5].max()))
    >>> spread(w) > 5 * spread(y)   # the good values are told apart
    True
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["warp_outputs"]

_LAMBDA_GRID = np.linspace(-2.0, 4.0, 61)  # beyond it the transform is exponential-like


def _yeo_johnson(z: np.ndarray, lmbda: np.ndarray) -> np.ndarray:
    """Yeo-Johnson transforms of ``z`` ``(n,)`` for each exponent in ``lmbda`` -> ``(L, n)``."""
    lmbda = np.asarray(lmbda, dtype=float).reshape(-1, 1)
    a = np.log1p(np.abs(z))  # (n,)
    out = np.empty((len(lmbda), len(z)))
    for sign, lam in ((1.0, lmbda), (-1.0, 2.0 - lmbda)):  # z >= 0 with lmbda, z < 0 with 2 - lmbda
        small = np.abs(lam) < 1e-8
        safe = np.where(small, 1.0, lam)
        t = np.where(small, a, np.expm1(safe * a) / safe)
        side = (z >= 0) if sign > 0 else (z < 0)
        out[:, side] = sign * t[:, side]
    return out


def _normmax(z: np.ndarray) -> float:
    """Maximum-likelihood Yeo-Johnson exponent on ``[-2, 4]``: a grid, then a parabola.

    What ``scipy.stats.yeojohnson_normmax`` computes (bounded), vectorised: scipy's scalar
    search took ~20-40 ms per call, a tenth to a third of a whole GP suggestion.
    """
    psi = _yeo_johnson(z, _LAMBDA_GRID)
    jacobian = np.sign(z) @ np.log1p(np.abs(z))
    llf = -0.5 * len(z) * np.log(psi.var(1) + 1e-300) + (_LAMBDA_GRID - 1.0) * jacobian
    i = int(np.clip(np.argmax(llf), 1, len(llf) - 2))
    y0, y1, y2 = llf[i - 1:i + 2]
    step = _LAMBDA_GRID[1] - _LAMBDA_GRID[0]
    curvature = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / curvature if curvature < 0 else 0.0
    best = _LAMBDA_GRID[i] + float(np.clip(shift, -1.0, 1.0)) * step
    return float(np.clip(best, _LAMBDA_GRID[0], _LAMBDA_GRID[-1]))


def warp_outputs(Y: Tensor | np.ndarray) -> Tensor:
    """Standardise each column of ``Y`` ``(n, m)``, Yeo-Johnson-transform it, standardise again.

    The exponent is the maximum-likelihood one on ``[-2, 4]``. Columns with fewer than 3
    distinct values are only standardised. Returns float64 on ``Y``'s device.
    """
    Y = torch.as_tensor(Y, dtype=torch.float64)
    flat = Y.ndim == 1
    Y2 = Y.reshape(len(Y), -1)
    cols = []
    for y in Y2.T.cpu().numpy():
        std = y.std()
        z = (y - y.mean()) / (std if std > 0 else 1.0)
        if len(np.unique(z)) >= 3:
            z = _yeo_johnson(z, np.array([_normmax(z)]))[0]
            std = z.std()
            z = (z - z.mean()) / (std if std > 0 else 1.0)
        cols.append(z)
    out = torch.as_tensor(np.stack(cols, 1), dtype=torch.float64, device=Y.device)
    return out.reshape(Y.shape) if flat else out
