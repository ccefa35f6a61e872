"""A lean acquisition optimiser for mixed spaces on the unit-cube encoding.

1. Scan: a scrambled Sobol set plus Gaussian perturbations of the incumbents, all
   projected with :meth:`UnitCubeEncoder.snap` onto valid encodings, evaluated as one
   batch without gradients.
2. Local search: the best scan points (half of ``n_starts`` from anywhere, half from
   the global Sobol part only) and the incumbents themselves each start an L-BFGS-B
   run of their own, all run in lockstep by :func:`batched_lbfgsb` so that every
   iteration is one batched acquisition evaluation (closed-form gradients where the
   acquisition has them, autograd otherwise). Integer and one-hot columns
   are relaxed to ``[0, 1]`` in a first pass; the results are snapped, then polished
   over the continuous columns alone with the discrete columns held fixed.
3. Discrete neighbourhood: from the best point, a few rounds of coordinate ascent over
   the discrete parameters (each integer one step up or down, each categorical every
   other choice).

The best snapped point seen anywhere is returned, so the result is always valid.
Points in ``exclude`` (the configurations already observed or running) are passed
over: in a discrete space the acquisition's maximiser can be the incumbent itself
(LogEI against a plug-in incumbent is positive there), and evaluating it again would
spend a trial on a known value. They are returned only when the search saw nothing
else.

A space without continuous parameters and at most ``max_grid`` configurations (six
categoricals of five choices are 15625) is instead evaluated exhaustively, in batches:
the exact maximiser, where the relaxation and coordinate ascent above can stop at a
local one among the discrete choices. Its cost grows with the number of points the
model is conditioned on; :func:`grid_limit` gives the ``max_grid`` that keeps it at
about that of 2^15 configurations against 128 points.

Example:
    >>> import hpo.space as sp, torch
    >>> enc = sp.UnitCubeEncoder({"x": sp.uniform(0, 1), "n": sp.integer(1, 9)})
    >>> x, v = optimize_acqf(lambda X: -(X - 0.5).square().sum(-1), enc, seed=0)
    >>> enc.decode(x.numpy())["n"]
    5
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import greenlet
import numpy as np
import scipy.optimize
import torch
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from torch import Tensor

from hpo.space import UnitCubeEncoder
from hpo.surrogates.acquisition import Acquisition, value_and_grad
from hpo.surrogates.device import DTYPE

__all__ = ["batched_lbfgsb", "grid_limit", "optimize_acqf"]

# |d log-EI / dx| < 1e-3: a step of 0.01 in the unit cube gains < 1e-5 in log-EI
_TOLERANCES = {"gtol": 1e-3}


def grid_limit(n_points: int) -> int:
    """The ``max_grid`` of :func:`optimize_acqf` for a model conditioned on ``n_points``
    points: 2^15 configurations up to 128 points, then fewer in proportion (kernel
    evaluations per acquisition scan at most 2^22).

    Example:
        >>> grid_limit(100), grid_limit(200), grid_limit(512)
        (32768, 20971, 8192)
    """
    return min(2**15, 2**22 // max(1, n_points))


def _evaluate(acq: Acquisition, X: Tensor, chunk: int = 1024) -> Tensor:
    with torch.no_grad():
        return torch.cat([acq(X[i:i + chunk]) for i in range(0, len(X), chunk)])


def _taken(X: Tensor, exclude: Tensor | None, tol: float = 1e-9) -> Tensor:
    """``(b,)`` mask of the rows of ``X`` within ``tol`` of a row of ``exclude`` in every
    column.

    Candidates come from a fixed weighted sum of the columns (weights in ``[1, 2)``): rows
    that agree within ``tol`` everywhere have sums within ``2 tol d``, found by binary
    search among the sorted sums of ``exclude``; only those are compared column by
    column. Cost ``O((len(X) + len(exclude)) d)`` rather than the ``len(X) len(exclude) d``
    of pairwise distances.
    """
    out = torch.zeros(len(X), dtype=torch.bool, device=X.device)
    if exclude is None or len(exclude) == 0 or len(X) == 0:
        return out
    E = torch.unique(exclude.to(X), dim=0)
    d = X.shape[-1]
    w = 1.0 + torch.rand(d, generator=torch.Generator().manual_seed(0), dtype=X.dtype)
    w = w.to(X.device)
    hE, order = (E @ w).sort()
    E, hX = E[order], X @ w
    slack = 2 * tol * d + 1e-12 * (1.0 + float(hX.abs().max()))  # + rounding of the sums
    lo = torch.searchsorted(hE, hX - slack)
    hi = torch.searchsorted(hE, hX + slack, right=True)
    for k in range(int((hi - lo).max())):
        live = lo + k < hi
        out[live] |= ((X[live] - E[lo[live] + k]).abs() <= tol).all(-1)
    return out


def batched_lbfgsb(fun_and_grad: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                   x0: np.ndarray, lower: np.ndarray, upper: np.ndarray, *,
                   max_iter: int = 100, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """Minimise from every row of ``x0`` ``(b, d)`` with its own L-BFGS-B, in lockstep.

    Each start runs scipy's L-BFGS-B, with its own curvature memory, line search and
    convergence test, inside a greenlet; whenever every live start is waiting for a
    function value, their points are evaluated in one call of ``fun_and_grad`` ``(k, d)
    -> (values (k,), gradients (k, d))``. The result of each start is exactly what
    ``scipy.optimize.minimize`` from that start alone would return, at the cost of
    ``max over starts`` batched calls, and a start that converges leaves the batch.
    (A single L-BFGS-B over the sum of the starts would share one curvature model and one
    stopping test between unrelated basins: it takes several times more iterations.)
    Non-finite values are replaced by a large constant with a zero gradient, which stops
    that start.

    Args:
        fun_and_grad: batched objective to minimise.
        x0: ``(b, d)`` starting points.
        lower, upper: ``(d,)`` or ``(b, d)`` bounds.
        max_iter: most iterations per start.
        **options: further ``scipy.optimize.minimize(method="L-BFGS-B")`` options.

    Returns:
        The final points ``(b, d)`` and their values ``(b,)``.

    Example:
        >>> import numpy as np
        >>> x, v = batched_lbfgsb(lambda X: (((X - 0.3) ** 2).sum(1), 2 * (X - 0.3)),
        ...                       np.array([[0.0, 1.0], [1.0, 1.0]]), np.zeros(2), np.ones(2))
        >>> np.round(x, 6).tolist()
        [[0.3, 0.3], [0.3, 0.3]]
    """
    b, d = x0.shape
    lower = np.broadcast_to(lower, (b, d))
    upper = np.broadcast_to(upper, (b, d))
    x_out, f_out = x0.astype(float).copy(), np.full(b, np.inf)
    main = greenlet.getcurrent()

    def start(i: int) -> tuple[str, int, Any]:
        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            return main.switch(("eval", i, x))  # type: ignore[no-any-return]

        res = scipy.optimize.minimize(fun, x_out[i], jac=True, method="L-BFGS-B",
                                      bounds=scipy.optimize.Bounds(lower[i], upper[i]),
                                      options={"maxiter": max_iter, **options})
        return ("done", i, res)

    runs = [greenlet.greenlet(start) for _ in range(b)]
    waiting: dict[int, np.ndarray] = {}

    def receive(message: tuple[str, int, Any]) -> None:
        kind, i, payload = message
        if kind == "eval":
            waiting[i] = payload
        else:
            x_out[i], f_out[i] = payload.x, payload.fun

    for i, run in enumerate(runs):
        receive(run.switch(i))
    while waiting:
        idx = sorted(waiting)
        values, grads = fun_and_grad(np.stack([waiting.pop(i) for i in idx]))
        for k, i in enumerate(idx):
            ok = bool(np.isfinite(values[k]) and np.isfinite(grads[k]).all())
            reply = (float(values[k]), grads[k]) if ok else (1e30, np.zeros(d))
            receive(runs[i].switch(reply))
    return x_out, f_out


def _lbfgsb(acq: Acquisition, X0: Tensor, free: Tensor, max_iter: int) -> Tensor:
    """Maximise ``acq`` from every row of ``X0``, moving only the ``free`` columns."""
    fixed = X0.cpu().numpy()
    lower = np.where(free.cpu().numpy(), 0.0, fixed)
    upper = np.where(free.cpu().numpy(), 1.0, fixed)

    def negated(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values, grad = value_and_grad(acq, torch.as_tensor(x, dtype=DTYPE, device=X0.device))
        return -values.cpu().numpy(), -grad.cpu().numpy()

    x, _ = batched_lbfgsb(negated, fixed, lower, upper, max_iter=max_iter, **_TOLERANCES)
    return torch.as_tensor(x, dtype=DTYPE, device=X0.device)


def _neighbours(encoder: UnitCubeEncoder, x: np.ndarray) -> np.ndarray:
    """Encodings one discrete move away from ``x``: integers +-1 step, other categories."""
    params = encoder.decode(x)
    out: list[dict[str, Any]] = []
    for name, dist in encoder.space.items():
        v = params[name]
        if isinstance(dist, CategoricalDistribution) and len(dist.choices) > 1:
            out += [{**params, name: c} for c in dist.choices if c != v]
        elif isinstance(dist, IntDistribution | FloatDistribution) and dist.step is not None \
                and dist.low < dist.high:
            for w in (v - dist.step, v + dist.step):
                if dist.low <= w <= dist.high:
                    out.append({**params, name: w})
    if not out:
        return np.zeros((0, encoder.dim))
    # keep the continuous columns exactly (decode/encode would round-trip them anyway)
    X = encoder.encode_many(out)
    X[:, encoder.continuous_columns] = x[encoder.continuous_columns]
    return X


def optimize_acqf(acq: Acquisition, encoder: UnitCubeEncoder, *, incumbents: Tensor | None = None,
                  n_candidates: int = 2048, n_starts: int = 8, max_iter: int = 100,
                  discrete_rounds: int = 3, max_grid: int = 2**15, seed: int = 0,
                  device: torch.device | str = "cpu",
                  exclude: Tensor | None = None) -> tuple[Tensor, float]:
    """Maximise ``acq`` over the valid encodings of ``encoder``'s space.

    Args:
        acq: ``(b, d) -> (b,)`` acquisition values, differentiable in the inputs.
        encoder: the search space's :class:`~hpo.space.UnitCubeEncoder`.
        incumbents: ``(k, d)`` good observed points: local-search starts and centres of
            extra scan points.
        n_candidates: size of the Sobol scan.
        n_starts: number of scan points that start a local search.
        max_iter: most L-BFGS-B iterations per local-search pass.
        discrete_rounds: most rounds of discrete coordinate ascent.
        max_grid: largest number of configurations of a space without continuous
            parameters that is evaluated exhaustively instead (0: never).
        seed: seed of the scan; the result is a deterministic function of it.
        device: where the candidates live (that of the model behind ``acq``).
        exclude: ``(m, d)`` encodings not to return (observed and running
            configurations) unless every point the search evaluated is among them.

    Returns:
        The best point found ``(d,)`` (snapped: ``encoder.decode`` of it is exact) and
        its acquisition value.

    Example:
        >>> import hpo.space as sp, torch
        >>> enc = sp.UnitCubeEncoder({"n": sp.integer(1, 9)})
        >>> acq = lambda X: -(X[:, 0] - 0.5).abs()  # best at n = 5
        >>> x, _ = optimize_acqf(acq, enc, exclude=torch.tensor([[0.5]], dtype=torch.float64))
        >>> enc.decode(x.numpy())["n"] in (4, 6)
        True
    """
    d = encoder.dim
    if d == 0:
        return torch.zeros(0, dtype=DTYPE), float("nan")
    if not encoder.continuous_columns and encoder.n_configurations() <= max_grid:
        grid = torch.as_tensor(encoder.grid(), dtype=DTYPE, device=device)
        raw = _evaluate(acq, grid)
        values = raw.masked_fill(_taken(grid, exclude), -math.inf)
        if not bool(values.max() > -math.inf):  # every configuration is taken (or NaN)
            values = raw
        # ties broken at random (seeded): configurations that differ only in choices no
        # observation has are symmetric under the kernel, and argmax would always take
        # the first of them in grid order, the lowest choice index
        top = float(values.max())
        tied = torch.nonzero(values >= top - 1e-9 * max(1.0, abs(top))).squeeze(-1)
        if len(tied) == 0:  # a NaN value: argmax returns it, as before
            best = int(values.argmax())
        else:
            pick = torch.randint(len(tied), (1,), generator=torch.Generator().manual_seed(seed))
            best = int(tied[pick])
        return grid[best], float(raw[best])
    g = torch.Generator().manual_seed(seed)
    sobol = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed)
    parts = [sobol.draw(n_candidates, dtype=DTYPE)]
    inc = None
    if incumbents is not None and len(incumbents) > 0:
        inc = encoder.snap(incumbents.detach().to("cpu", DTYPE))
        per = max(1, n_candidates // 4 // len(inc))
        for sigma in (0.02, 0.1):
            noise = torch.randn(len(inc), per // 2 + 1, d, generator=g, dtype=DTYPE) * sigma
            parts.append((inc.unsqueeze(1) + noise).reshape(-1, d))
        parts.append(inc)
    cand = encoder.snap(torch.cat(parts)).to(device)

    def scores(X: Tensor) -> Tensor:
        return _evaluate(acq, X).masked_fill(_taken(X, exclude), -math.inf)

    values = scores(cand)
    best_x, best_v = cand[values.argmax()], values.max()

    def consider(X: Tensor) -> None:
        nonlocal best_x, best_v
        X = encoder.snap(X)
        v = scores(X)
        if len(v) and v.max() > best_v:
            best_x, best_v = X[v.argmax()], v.max()

    # half the starts are the best points overall (often near incumbents), half the best
    # of the global Sobol scan, so that local search also refines distant basins
    order = torch.argsort(values, descending=True)
    top = order[:n_starts - n_starts // 2]
    glob = order[(order < n_candidates) & ~torch.isin(order, top)][:n_starts // 2]
    starts = cand[torch.cat([top, glob])]
    if inc is not None:
        starts = torch.cat([starts, inc.to(device)])
    continuous = torch.zeros(d, dtype=torch.bool)
    continuous[encoder.continuous_columns] = True
    if max_iter > 0:
        X = _lbfgsb(acq, starts, torch.ones(d, dtype=torch.bool), max_iter)
        consider(X)
        if bool(continuous.any()) and not bool(continuous.all()):
            consider(_lbfgsb(acq, encoder.snap(X), continuous, max_iter))
    if not bool(continuous.all()):
        for _ in range(discrete_rounds):
            nb = torch.as_tensor(_neighbours(encoder, best_x.cpu().numpy()), dtype=DTYPE)
            before = best_v
            consider(nb.to(device))
            if not best_v > before:
                break
    if best_v == -math.inf and exclude is not None:  # every point seen is taken
        return optimize_acqf(acq, encoder, incumbents=incumbents, n_candidates=n_candidates,
                             n_starts=n_starts, max_iter=max_iter,
                             discrete_rounds=discrete_rounds, max_grid=max_grid, seed=seed,
                             device=device)
    return best_x.detach(), float(best_v)
