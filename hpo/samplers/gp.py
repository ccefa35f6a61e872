"""GP Bayesian optimisation as an Optuna sampler, on :mod:`hpo.surrogates`.

Example:
    >>> import optuna
    >>> from hpo.samplers.gp import GPSampler
    >>> def f(trial):
    ...     x = trial.suggest_float("x", -5, 5)
    ...     n = trial.suggest_int("n", 1, 8)
    ...     return (x - 1) ** 2 + abs(n - 3)
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study = optuna.create_study(sampler=GPSampler(seed=0))
    >>> study.optimize(f, n_trials=20)
    >>> study.best_value < 1.0
    True
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo.samplers._local import ProcessLocal
from hpo.samplers._pending import store_params, stored_params
from hpo.space import UnitCubeEncoder
from hpo.surrogates import (
    GP,
    build_acquisition,
    fit_gp,
    grid_limit,
    optimize_acqf,
    warp_outputs,
)
from hpo.surrogates.device import DTYPE, check_device, cpu_threads
from hpo.surrogates.model import MIN_NOISE

__all__ = ["GPSampler"]

_logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Proposal:
    """One trial's acquisition over the encoded space, ready to be maximised (samplers
    that add candidates of their own score them with ``acq`` too)."""

    acq: Any  # (b, d) encodings -> (b,) acquisition values
    encoder: UnitCubeEncoder
    incumbents: torch.Tensor
    n_candidates: int
    seed: int
    device: torch.device
    max_grid: int = 2**15  # largest discrete space whose every configuration is scored
    exclude: torch.Tensor | None = None  # observed and running encodings, not re-suggested

    def optimize(self) -> torch.Tensor:
        """The encoding that maximises the acquisition (``optimize_acqf``)."""
        return self.best()[0]

    def best(self) -> tuple[torch.Tensor, float]:
        """The maximising encoding and its acquisition value."""
        return optimize_acqf(self.acq, self.encoder, incumbents=self.incumbents,
                             n_candidates=self.n_candidates, max_grid=self.max_grid,
                             seed=self.seed, device=self.device, exclude=self.exclude)


class GPSampler(ProcessLocal, BaseSampler):
    """Gaussian-process Bayesian optimisation; one or several objectives, mixed spaces.

    Start-up: the first ``n_startup_trials`` trials are drawn by ``independent_sampler``
    (uniform random by default); with ``startup="sobol"``, by a scrambled Sobol sequence
    over the unit-cube encoding, indexed by trial number so parallel workers get
    distinct points. Random is the default because it did better on Hartmann6 in our
    checks (5 seeds, 100 trials: random start reached the optimum -3.3223 on all 5,
    Sobol start stayed in the -3.20 local optimum on 2 of 5); see docs/benchmarks.md.
    Then each
    trial fits a GP (:func:`hpo.surrogates.fit_gp`, warm-started from the previous fit)
    to the completed trials and maximises an acquisition
    (:func:`hpo.surrogates.build_acquisition`): LogEI, averaged over fantasy outcomes
    of the trials still running (Snoek et al. 2012, so parallel workers do not duplicate
    them), LogEHVI for several objectives, times the probability of
    feasibility when trials carry Optuna constraints (``trial.set_constraint``; feasible
    when every value is ``<= 0``). A configuration that is already observed or running
    is not suggested again unless the acquisition's search finds nothing else (a small
    discrete space whose every configuration is taken).

    The search space modelled is the intersection of the completed trials' spaces
    (:class:`optuna.search_space.IntersectionSearchSpace`) without single-valued
    distributions; every other parameter (conditional ones, fixed ones) is sampled by
    ``independent_sampler``. Minimised objectives are negated once, when values are
    read; the model always maximises. FAIL trials (crashes, NaN) with all modelled
    parameters enter the model with the worst value observed so far, as SMAC does with
    crashed runs: ignoring them outright made the sampler re-suggest a crashing point
    every trial in our tests. PRUNED trials are ignored
    unless ``consider_pruned_trials`` (then, with one objective, their last
    intermediate value counts as their value: pessimistic for good configurations cut
    early, useful when most trials are pruned). A value that is infinite in the bad
    direction (a diverged run) is clipped to the worst finite value of its objective; a
    trial with a value infinite in the good direction is ignored. (Trials told FAIL
    only to discard them, e.g. in latency benchmarks, therefore count as bad points.)

    Args:
        seed: seed of the Sobol start-up, the acquisition optimiser and the default
            independent sampler; the same seed and history give the same suggestions.
        n_startup_trials: completed trials before the GP takes over (>= 1).
        startup: ``"random"`` (``independent_sampler``) or ``"sobol"`` for those trials.
        independent_sampler: sampler for parameters outside the modelled space and the
            first trial; defaults to ``RandomSampler(seed=seed)``.
        deterministic_objective: fix the noise variance at its floor instead of
            inferring it.
        consider_pruned_trials: model PRUNED trials by their last intermediate value.
        device: ``"auto"``, ``"cuda"`` or ``"cpu"`` for the GP (see
            :mod:`hpo.surrogates.device`).
        max_points: most observations the GP conditions on; ``None`` for the default of
            :func:`hpo.surrogates.fit_gp` (512 on the CPU, 8192 on CUDA).
        n_candidates: Sobol scan size of the acquisition optimiser.
        warn_independent_sampling: log a warning (once per parameter) when a parameter
            is sampled independently after start-up.
        output_warping: fit the GP to Yeo-Johnson-warped objective values
            (:func:`hpo.surrogates.warp_outputs`): monotone, so the same optimum, but a
            diverged run or a long tail of failed configurations no longer flattens
            the model around the good ones.
    """

    def __init__(self, *, seed: int | None = None, n_startup_trials: int = 10,
                 independent_sampler: BaseSampler | None = None,
                 startup: str = "random",
                 deterministic_objective: bool = False, consider_pruned_trials: bool = False,
                 device: str = "auto", max_points: int | None = None, n_candidates: int = 2048,
                 warn_independent_sampling: bool = True, output_warping: bool = True) -> None:
        check_device(device)
        if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int) \
                or n_startup_trials < 1:
            raise ValueError(f"GPSampler: n_startup_trials must be an int >= 1, "
                             f"got {n_startup_trials!r}")
        if max_points is not None and (not isinstance(max_points, int) or max_points < 2):
            raise ValueError(f"GPSampler: max_points must be an int >= 2 or None, "
                             f"got {max_points!r}")
        if not isinstance(n_candidates, int) or n_candidates < 1:
            raise ValueError(f"GPSampler: n_candidates must be an int >= 1, got {n_candidates!r}")
        if startup not in ("random", "sobol"):
            raise ValueError(f"GPSampler: startup must be 'random' or 'sobol', got {startup!r}")
        self._startup = startup
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._sobol_seed = int(self._rng.integers(2**31))
        self._independent = independent_sampler or RandomSampler(seed=seed)
        self._space = IntersectionSearchSpace()
        self._n_startup = n_startup_trials
        self._noise = MIN_NOISE if deterministic_objective else None
        self._pruned = consider_pruned_trials
        self._device = device
        self._max_points = max_points
        self._n_candidates = n_candidates
        self._warn = warn_independent_sampling
        self._warp = output_warping
        self._warned: set[str] = set()
        self._reset_local()

    _local = ("_cache",)

    def _reset_local(self) -> None:
        super()._reset_local()
        self._cache: dict[tuple[str, str], GP] = {}  # warm starts, per space and model role

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._sobol_seed = int(self._rng.integers(2**31))
        self._independent.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return {name: dist for name, dist in self._space.calculate(study).items()
                if not dist.single()}

    # -- data ------------------------------------------------------------------------------

    def _observations(self, study: Study, space: dict[str, BaseDistribution]
                      ) -> tuple[list[FrozenTrial], np.ndarray]:
        """Usable finished trials and their values to maximise ``(n, m)``."""
        states = ((TrialState.COMPLETE, TrialState.PRUNED) if self._pruned
                  else (TrialState.COMPLETE,))
        signs = np.array([1.0 if d == StudyDirection.MAXIMIZE else -1.0 for d in study.directions])
        trials, rows, failed = [], [], []
        for t in study.get_trials(deepcopy=False, states=(*states, TrialState.FAIL)):
            if not all(name in t.params for name in space):
                continue
            if t.state == TrialState.FAIL:
                failed.append(t)
                continue
            if t.state == TrialState.PRUNED:
                if len(signs) > 1 or not t.intermediate_values:
                    continue
                values = [t.intermediate_values[max(t.intermediate_values)]]
            else:
                values = t.values
            y = signs * np.asarray(values, dtype=float)
            if np.isnan(y).any() or np.isposinf(y).any():
                continue
            trials.append(t)
            rows.append(y)
        if rows and failed:  # crashed runs: as bad as the worst value (after the clip below)
            trials += failed
            rows += [np.full(len(signs), -np.inf)] * len(failed)
        Y = np.array(rows, dtype=float).reshape(len(rows), len(signs))
        bad = np.isneginf(Y)
        if bad.any():  # diverged runs: as bad as the worst finite value
            worst = np.where(bad, np.inf, Y).min(0)
            Y = np.where(bad, np.where(np.isfinite(worst), worst, 0.0), Y)
        return trials, Y

    @staticmethod
    def _pending_params(study: Study, trial: FrozenTrial, space: dict[str, BaseDistribution]
                        ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.number == trial.number:
                continue
            params = {**stored_params(t), **t.params}
            if all(name in params and space[name]._contains(space[name].to_internal_repr(
                    params[name])) for name in space):
                out.append(params)
        return out

    def _fit(self, key: tuple[str, str], X: torch.Tensor, Y: np.ndarray,
             encoder: UnitCubeEncoder) -> GP:
        gp = fit_gp(X, Y, warm_start=self._cache.get(key), noise=self._noise,
                    max_points=self._max_points, device=self._device,
                    categorical_groups=encoder.categorical_groups)
        self._cache[key] = gp
        return gp

    # -- sampling --------------------------------------------------------------------------

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        with self._lock, cpu_threads(1):
            params = self._sample(study, trial, search_space)
        store_params(study, trial, params)
        return params

    def _sample(self, study: Study, trial: FrozenTrial,
                search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        encoder = UnitCubeEncoder(search_space)
        trials, Y = self._observations(study, search_space)
        if len(trials) < self._n_startup:
            return self._startup_params(trial, encoder)
        proposal = self._acquisition(study, trial, search_space, trials, Y)
        return encoder.decode(proposal.optimize().cpu().numpy())

    def _startup_params(self, trial: FrozenTrial, encoder: UnitCubeEncoder) -> dict[str, Any]:
        """A start-up trial's parameters: ``{}`` sends every one to independent_sampler."""
        if self._startup == "random":
            return {}
        sobol = torch.quasirandom.SobolEngine(encoder.dim, scramble=True, seed=self._sobol_seed)
        sobol.fast_forward(trial.number)
        return encoder.decode(sobol.draw(1, dtype=DTYPE)[0].numpy())

    def _acquisition(self, study: Study, trial: FrozenTrial,
                     search_space: dict[str, BaseDistribution], trials: list[FrozenTrial],
                     Y: np.ndarray) -> Proposal:
        """Fit the models to ``trials`` (values ``Y`` to maximise) and build this trial's
        acquisition, with fantasies of the running trials."""
        encoder = UnitCubeEncoder(search_space)
        space_key = repr(sorted(search_space.items()))
        X = torch.as_tensor(encoder.encode_many([t.params for t in trials]), dtype=DTYPE)
        model = self._fit((space_key, "objectives"), X, warp_outputs(Y) if self._warp else Y,
                          encoder)
        constraint_model, feasible = None, None
        if any(t.constraints for t in trials):
            keys = sorted({k for t in trials for k in t.constraints})
            C = np.array([[t.constraints.get(k, math.inf) for k in keys] for t in trials])
            known = np.isfinite(C).all(1)
            if known.any():
                constraint_model = self._fit((space_key, "constraints"), X[known], C[known],
                                             encoder)
            feasible = torch.as_tensor(np.where(known, (C <= 0).all(1), False))
        pending = self._pending_params(study, trial, search_space)
        X_pending = torch.as_tensor(encoder.encode_many(pending), dtype=DTYPE) if pending else None
        seed = int(self._rng.integers(2**31))
        acq = build_acquisition(model, X, X_pending=X_pending, constraint_model=constraint_model,
                                feasible=feasible, seed=seed)
        taken = X if X_pending is None else torch.cat([X, X_pending])
        return Proposal(acq, encoder, self._incumbents(X, Y, feasible), self._n_candidates,
                        seed, model.train_X.device, grid_limit(len(model.train_X)), taken)

    def _incumbents(self, X: torch.Tensor, Y: np.ndarray, feasible: torch.Tensor | None,
                    k: int = 4) -> torch.Tensor:
        """The best few (feasible) observed points; with several objectives, Pareto points."""
        idx = np.arange(len(Y)) if feasible is None else np.flatnonzero(feasible.numpy())
        if len(idx) == 0:
            return X[:0]
        if Y.shape[1] == 1:
            return X[idx[np.argsort(-Y[idx, 0], kind="stable")[:k]]]
        Yf = Y[idx]
        dominated = ((Yf[None, :, :] >= Yf[:, None, :]).all(-1)
                     & (Yf[None, :, :] > Yf[:, None, :]).any(-1)).any(1)
        front = idx[~dominated]
        chosen = self._rng.choice(front, size=min(k, len(front)), replace=False)
        return X[np.sort(chosen)]

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if (self._warn and param_name not in self._warned and not param_distribution.single()
                and len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
                >= self._n_startup):
            self._warned.add(param_name)
            _logger.warning("GPSampler: parameter %r is not in every completed trial (conditional "
                            "or new); it is sampled by %s.", param_name,
                            type(self._independent).__name__)
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._independent.after_trial(study, trial, state, values)
