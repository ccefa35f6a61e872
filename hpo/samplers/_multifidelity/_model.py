"""The learning-curve model: one GP over (configuration, resource), and a cost GP.

Model
    :func:`hpo.surrogates.fit_gp` on inputs ``(x, s)``: the configuration's unit-cube
    encoding and the log-scaled resource (:class:`._data.ResourceScale`), with one
    Matern-5/2 ARD kernel over all ``d + 1`` columns. The resource lengthscale is
    fitted like any other, so the model learns how far the ranking at a low resource
    carries to the target: a short lengthscale makes early results weak evidence, a
    long one lets them stand in for the final value. (The alternative, a GP of each
    configuration's value at one rung as BOHB builds its model, is compared in
    docs/benchmarks.md.)

Cost
    With ``cost="time"``, a second GP of ``log(seconds per unit of resource)`` over
    ``x``, from the recorded durations of finished segments, once ``min_costs`` of them
    are known: a wider network that trains slower costs more per unit.

Acquisition
    LogEI at one resource ``s`` (:class:`hpo.surrogates.AtFidelity`), over the best
    posterior mean at ``s`` among the observed configurations, averaged over fantasies
    of the pending ones at ``s``; with ``cost="time"``, divided by the predicted
    seconds of reaching it (:class:`hpo.surrogates.PerCost`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hpo.samplers._multifidelity._data import Curves, ResourceScale
from hpo.space import UnitCubeEncoder
from hpo.surrogates import GP, AtFidelity, PerCost, build_acquisition, fit_gp, warp_outputs
from hpo.surrogates.acquisition import Acquisition
from hpo.surrogates.device import DTYPE

__all__ = ["CurveModel", "fit_curve_model"]


@dataclass
class CurveModel:
    """A fitted learning-curve model of one study (see the module docstring)."""

    gp: GP
    cost: GP | None
    encoder: UnitCubeEncoder
    scale: ResourceScale
    ids: list[int]  # configuration of each row of the GP's data
    configs: dict[int, Tensor]  # configuration id -> encoded x (d,)
    pending: Tensor | None  # (p, d) encoded pending configurations
    single_level: bool  # every observation is at one resource
    level: float = 1.0  # the resource ``s`` new configurations are compared at

    def encode(self, params: dict) -> Tensor:
        return torch.as_tensor(self.encoder.encode(params), dtype=DTYPE)

    def _baseline(self) -> Tensor:
        return torch.stack(list(self.configs.values())).to(self.gp.train_X)

    def taken(self) -> Tensor:
        """The encoded configurations already started, observed or pending ``(m, d)``:
        a new configuration is none of them."""
        base = self._baseline()
        return base if self.pending is None else torch.cat([base, self.pending.to(base)])

    def acquisition(self, s: float, *, seed: int = 0, cost_scale: float | None = None
                    ) -> Acquisition:
        """LogEI at resource ``s`` over configurations ``(b, d)``; per unit of cost when
        costs are modelled and ``cost_scale`` (the resource to be trained) is given."""
        with_s = _at(self._baseline(), s)
        pending = None if self.pending is None else _at(self.pending.to(with_s), s)
        acq: Acquisition = AtFidelity(build_acquisition(self.gp, with_s, X_pending=pending,
                                                        seed=seed), s)
        if self.cost is not None and cost_scale is not None:
            acq = PerCost(acq, self.cost, cost_scale)
        return acq

    def log_rate(self, X: Tensor) -> Tensor:
        """Predicted log seconds per unit of resource at configurations ``(b, d)``
        (zeros when costs are not modelled)."""
        if self.cost is None:
            return torch.zeros(len(X), dtype=DTYPE)
        with torch.no_grad():
            return self.cost.mean_var(X.to(self.cost.train_X))[0][:, 0].cpu()

    def mean_at(self, X: Tensor, s: float) -> Tensor:
        """Posterior mean (in the model's units, to maximise) at ``(b, d)`` and ``s``."""
        with torch.no_grad():
            return self.gp.mean_var(_at(X.to(self.gp.train_X), s))[0][:, 0].cpu()

    def incumbents(self, s: float, k: int = 4) -> Tensor:
        """The ``k`` observed configurations with the best posterior mean at ``s``."""
        base = self._baseline()
        order = torch.argsort(self.mean_at(base, s), descending=True)
        return base[order[:k].to(base.device)]


def _at(X: Tensor, s: float) -> Tensor:
    return torch.cat([X, torch.full((len(X), 1), float(s), dtype=X.dtype, device=X.device)], -1)


def fit_curve_model(curves: Curves, encoder: UnitCubeEncoder, scale: ResourceScale, *,
                    resolution: int, warm: dict[str, GP], noise: float | None,
                    max_points: int | None, device: str, warping: bool, cost_aware: bool,
                    min_costs: int) -> CurveModel:
    """Fit the model to ``curves``; ``warm`` holds the previous fits (updated in place)."""
    ids, s, y = curves.table(scale, resolution)
    configs = {c: torch.as_tensor(encoder.encode(curves.params[c]), dtype=DTYPE)
               for c in dict.fromkeys(ids)}
    X = torch.stack([configs[c] for c in ids])
    Z = torch.cat([X, torch.as_tensor(s, dtype=DTYPE).unsqueeze(-1)], -1)
    Y = y[:, None]
    gp = fit_gp(Z, warp_outputs(Y) if warping else Y, warm_start=warm.get("curves"),
                noise=noise, max_points=max_points, device=device,
                categorical_groups=encoder.categorical_groups)
    warm["curves"] = gp
    cost = None
    rates = [(c, r) for c, r in curves.costs if c in curves.params]
    if cost_aware and len(rates) >= min_costs:
        log_r = np.log([r for _, r in rates])
        if np.ptp(log_r) > 1e-3:  # all equal: nothing to model
            Xc = torch.as_tensor(encoder.encode_many([curves.params[c] for c, _ in rates]),
                                 dtype=DTYPE)
            cost = fit_gp(Xc, log_r, warm_start=warm.get("cost"), max_points=max_points,
                          device=device, categorical_groups=encoder.categorical_groups)
            warm["cost"] = cost
    pending = None
    if curves.pending:
        pending = torch.as_tensor(encoder.encode_many([p for _, p in curves.pending]),
                                  dtype=DTYPE)
    return CurveModel(gp=gp, cost=cost, encoder=encoder, scale=scale, ids=ids,
                      configs=configs, pending=pending,
                      single_level=bool(np.ptp(s) < 1e-12) if len(s) else True)
