"""PB2: Population Based Bandits (Parker-Holder et al. 2020) as an Optuna sampler.

PBT whose explore step is a GP bandit instead of a random perturbation: a GP on hpo's
GP layer models how much the reward improves per unit of resource, as a function of
the time, the reward before the interval and the hyperparameters, and a member that
copies a top member gets the hyperparameters that maximise the upper confidence bound
of that improvement, from where it now stands.

Example:
    >>> import hpo, optuna, tempfile
    >>> @hpo.objective(direction="maximize")
    ... def train(lr: float = hpo.loguniform(1e-3, 1.0), *, trial=None) -> float:
    ...     state = hpo.resume(trial) or {"w": 0.0}
    ...     start, stop = hpo.budget(trial, max_resource=40)
    ...     for step in range(start, stop):
    ...         state["w"] += lr * (1.0 - state["w"])
    ...     hpo.checkpoint(trial, state, step=stop)
    ...     return state["w"]
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> pb2 = hpo.samplers.PB2(population_size=4, perturbation_interval=10, max_resource=40,
    ...                        seed=0)
    >>> study = hpo.create_study(direction="maximize", storage="sqlite:///:memory:",
    ...                          artifact_dir=tempfile.mkdtemp(), sampler=pb2)
    >>> study.optimize(train, n_trials=100)
    >>> [m.stop for m in pb2.population(study)]
    [40, 40, 40, 40]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.optimize
import torch
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo import _attrs
from hpo._typing import Number
from hpo.samplers._pbt._base import PopulationSampler
from hpo.samplers._pbt._population import Member
from hpo.space import UnitCubeEncoder
from hpo.surrogates import fit_gp
from hpo.surrogates.device import DTYPE

__all__ = ["PB2"]

_MAX_ROWS = 1000  # the most recent improvements the GP is fitted on (as Ray's PB2)


class PB2(PopulationSampler):
    """Population Based Bandits: PBT with a GP-bandit explore on hpo's GP layer.

    Exploit is :class:`~hpo.samplers.PBT`'s (members compared and copied at equal
    resource). Explore: every finished segment that continued a checkpoint is a row
    ``x = (its stop, the reward it started from, its hyperparameters)`` with target the
    reward gained per unit of resource over the segment; the GP (Matern-5/2 ARD, so
    the time column's lengthscale sets how fast old improvements stop telling, the role
    of PB2's time-varying kernel) is fitted to the latest 1000 rows, targets
    standardised and clipped to [-2, 2]. The new hyperparameters maximise
    ``mean + kappa * std`` at ``(the segment's stop, the copied reward)``, with
    ``kappa = sqrt(0.2 + max(0, log(0.4 n)))`` for ``n`` rows, over the numeric
    parameters' box (log scale and integers through :class:`hpo.space.UnitCubeEncoder`);
    segments running now enter as fantasies at their posterior mean, so members exploring
    at the same time spread out (GP-BUCB). Categorical parameters keep the copied value.
    With fewer than 3 rows the copied hyperparameters are kept.

    Args:
        population_size, perturbation_interval, max_resource, quantile_fraction,
        synchronous, searcher, seed, keep_checkpoints, mutate: as
        :class:`~hpo.samplers.PBT` (the GP explores the numeric parameters in ``mutate``;
        the others keep the copied values).
        device: ``"auto"``, ``"cuda"`` or ``"cpu"`` for the GP.
    """

    def __init__(self, population_size: int, perturbation_interval: Number,
                 max_resource: Number, *, quantile_fraction: float = 0.25,
                 synchronous: bool = False, searcher: BaseSampler | None = None,
                 seed: int | None = None, keep_checkpoints: bool = False,
                 mutate: Sequence[str] | None = None, device: str = "auto") -> None:
        super().__init__(population_size, perturbation_interval, max_resource,
                         quantile_fraction=quantile_fraction, synchronous=synchronous,
                         searcher=searcher, seed=seed, keep_checkpoints=keep_checkpoints)
        if mutate is not None and (isinstance(mutate, str) or not all(
                isinstance(n, str) for n in mutate)):
            raise ValueError(f"mutate: must be a list of parameter names, got {mutate!r}")
        self._mutate = None if mutate is None else tuple(mutate)
        self._device = device

    _local = (*PopulationSampler._local, "_fitted")

    def _reset_local(self) -> None:
        super()._reset_local()
        self._fitted: Any = None  # the last GP hyperparameters, to warm-start the next fit

    def _rows(self, study: Study, names: list[str]) -> tuple[list[FrozenTrial], list[FrozenTrial]]:
        """(finished segments with a finished parent, running segments with one)."""
        trials = study.get_trials(deepcopy=False)
        by_number = {t.number: t for t in trials}
        done, running = [], []
        for t in trials:
            parent = by_number.get(t.system_attrs.get(_attrs.PARENT, -1))
            if _attrs.MEMBER not in t.system_attrs or parent is None:
                continue
            if parent.state == TrialState.FAIL:  # a retry resuming its own attempt
                parent = by_number.get(parent.system_attrs.get(_attrs.PARENT, -1))
            if parent is None or parent.state != TrialState.COMPLETE \
                    or not all(n in t.params for n in names):
                continue
            if t.state == TrialState.COMPLETE and t.value is not None \
                    and math.isfinite(t.value):
                done.append((t, parent))
            elif t.state == TrialState.RUNNING:
                running.append((t, parent))
        return done[-_MAX_ROWS:], running  # type: ignore[return-value]

    def _explore(self, study: Study, member: Member, segment: FrozenTrial,
                 space: dict[str, BaseDistribution], rng: np.random.Generator
                 ) -> dict[str, Any]:
        params = dict(segment.params)
        numeric = {n: d for n, d in space.items()
                   if not isinstance(d, CategoricalDistribution) and not d.single()
                   and (self._mutate is None or n in self._mutate)}
        if not numeric:
            return params
        enc = UnitCubeEncoder(numeric)
        names = list(numeric)
        done, running = self._rows(study, names)
        if len(done) < 3:
            return params
        sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0

        def seg(t: FrozenTrial) -> tuple[float, float]:
            return t.system_attrs[_attrs.START], t.system_attrs[_attrs.STOP]

        stops = np.array([seg(t)[1] for t, _ in done], dtype=float)
        before = np.array([sign * p.value for _, p in done])
        gain = np.array([(sign * t.value - sign * p.value) / max(seg(t)[1] - seg(t)[0], 1e-12)
                         for t, p in done])
        start = float(segment.system_attrs[_attrs.STOP])
        point_t, point_r = start + self._interval, sign * float(segment.value)
        t_lo, t_hi = min(stops.min(), point_t), max(stops.max(), point_t)
        r_lo, r_hi = min(before.min(), point_r), max(before.max(), point_r)

        def scale(v: np.ndarray | float, lo: float, hi: float) -> np.ndarray:
            return (np.asarray(v, dtype=float) - lo) / (hi - lo if hi > lo else 1.0)

        X = np.column_stack([scale(stops, t_lo, t_hi), scale(before, r_lo, r_hi),
                             enc.encode_many([t.params for t, _ in done])])
        y = (gain - gain.mean()) / (gain.std() if gain.std() > 0 else 1.0)
        gp = fit_gp(torch.as_tensor(X, dtype=DTYPE), torch.as_tensor(np.clip(y, -2, 2)),
                    warm_start=self._fitted, device=self._device, seed=int(rng.integers(2**31)))
        self._fitted = gp.hyper
        if running:  # GP-BUCB: what is being tried now counts as seen, at its mean
            Xp = np.column_stack([
                scale([seg(t)[1] for t, _ in running], t_lo, t_hi),
                scale([sign * p.value for _, p in running], r_lo, r_hi),
                enc.encode_many([t.params for t, _ in running])])
            Xp_t = torch.as_tensor(Xp, dtype=DTYPE, device=gp.train_X.device)
            gp = gp.condition_on(Xp_t, gp.mean_var(Xp_t)[0].detach())
        kappa = math.sqrt(0.2 + max(0.0, math.log(0.4 * len(done))))
        fixed = torch.tensor([float(scale(point_t, t_lo, t_hi)), float(scale(point_r, r_lo, r_hi))],
                             dtype=DTYPE, device=gp.train_X.device)

        def ucb(u: torch.Tensor) -> torch.Tensor:
            x = torch.cat([fixed.expand(len(u), 2), u], dim=-1)
            mean, var = gp.mean_var(x)
            return (mean + kappa * var.sqrt()).squeeze(-1)

        cand = torch.as_tensor(rng.random((512, enc.dim)), dtype=DTYPE, device=fixed.device)
        with torch.no_grad():
            scores = ucb(cand)
        best_u, best = cand[int(scores.argmax())], float(scores.max())
        for i in torch.topk(scores, min(3, len(scores))).indices.tolist():
            def f(u: np.ndarray) -> tuple[float, np.ndarray]:
                ut = torch.as_tensor(u, dtype=DTYPE, device=fixed.device).requires_grad_(True)
                val = -ucb(ut[None])[0]
                (g,) = torch.autograd.grad(val, ut)
                return float(val.detach()), g.detach().cpu().numpy()

            res = scipy.optimize.minimize(f, cand[i].cpu().numpy(), jac=True, method="L-BFGS-B",
                                          bounds=[(0.0, 1.0)] * enc.dim,
                                          options={"maxiter": 50})
            if -res.fun > best:
                best, best_u = -float(res.fun), torch.as_tensor(res.x)
        params.update(enc.decode(np.clip(best_u.cpu().numpy(), 0.0, 1.0)))
        return params
