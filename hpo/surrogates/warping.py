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
import scipy.stats
import torch
from torch import Tensor

__all__ = ["warp_outputs"]

_LAMBDA_RANGE = (-2.0, 4.0)  # beyond it the transform is exponential-like on one side


def warp_outputs(Y: Tensor | np.ndarray) -> Tensor:
    """Standardise each column of ``Y`` ``(n, m)``, Yeo-Johnson-transform it, standardise again.

    The exponent is the maximum-likelihood one, clipped to ``[-2, 4]``. Columns with fewer
    than 3 distinct values are only standardised. Returns float64 on ``Y``'s device.
    """
    Y = torch.as_tensor(Y, dtype=torch.float64)
    flat = Y.ndim == 1
    Y2 = Y.reshape(len(Y), -1)
    cols = []
    for y in Y2.T.cpu().numpy():
        std = y.std()
        z = (y - y.mean()) / (std if std > 0 else 1.0)
        if len(np.unique(z)) >= 3:
            lmbda = float(np.clip(scipy.stats.yeojohnson_normmax(z), *_LAMBDA_RANGE))
            z = scipy.stats.yeojohnson(z, lmbda=lmbda)
            std = z.std()
            z = (z - z.mean()) / (std if std > 0 else 1.0)
        cols.append(z)
    out = torch.as_tensor(np.stack(cols, 1), dtype=torch.float64, device=Y.device)
    return out.reshape(Y.shape) if flat else out
