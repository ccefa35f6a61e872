"""Multi-fidelity GP Bayesian optimisation: a model of learning curves as an Optuna sampler.

Example:
    >>> import optuna, hpo
    >>> def train(trial):
    ...     x = trial.suggest_float("x", 0, 1)
    ...     for epoch in range(1, 10):
    ...         loss = (x - 0.3) ** 2 + 1.0 / epoch
    ...         trial.report(loss, epoch)
    ...         if trial.should_prune():
    ...             raise optuna.TrialPruned()
    ...     return loss
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study = optuna.create_study(sampler=hpo.samplers.MultiFidelityGPSampler(seed=0),
    ...                             pruner=optuna.pruners.SuccessiveHalvingPruner())
    >>> study.optimize(train, n_trials=30)
    >>> abs(study.best_params["x"] - 0.3) < 0.1
    True
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from hpo._typing import Number
from hpo.samplers._local import ProcessLocal
from hpo.samplers._multifidelity._data import Curves, ResourceScale, read_curves, resource_scale
from hpo.samplers._multifidelity._model import CurveModel, fit_curve_model
from hpo.samplers._pending import store_params
from hpo.space import UnitCubeEncoder
from hpo.surrogates import grid_limit, optimize_acqf
from hpo.surrogates.device import check_device, cpu_threads
from hpo.surrogates.model import MIN_NOISE

__all__ = ["MultiFidelityGPSampler"]

_logger = logging.getLogger(__name__)
ACQUISITION_RESOURCES = ("target", "highest")
COSTS = ("resource", "time")
# L-BFGS-B iterations per start: a scheduler proposes hundreds of configurations, each
# only a start at the lowest rung, so the acquisition is maximised less tightly than
# GPSampler's (100)
_ACQ_MAX_ITER = 30


class MultiFidelityGPSampler(ProcessLocal, BaseSampler):
    """GP Bayesian optimisation over (configuration, resource), fitted on every report.

    One GP (:mod:`hpo.surrogates`) models the value of a configuration ``x`` after a
    resource ``r`` (epochs, environment steps) from every intermediate value
    (``trial.report``) and every segment result in the study, PRUNED, FAILED and
    RUNNING trials' reports included; a new configuration is the maximiser of the
    expected improvement at the target resource (per predicted second of training with
    ``cost="time"``). See :mod:`hpo.samplers._multifidelity._model` for the model.

    Three ways to use it:

    - on its own with an Optuna pruner (``SuccessiveHalvingPruner``, ``MedianPruner``):
      a sweep in which most trials are pruned still informs the model;
    - as the ``searcher`` of :class:`~hpo.samplers.ASHA`,
      :class:`~hpo.samplers.Hyperband`, :class:`~hpo.samplers.SuccessiveHalving` or
      :class:`~hpo.samplers.IDHB` (the scheduler decides promotions, this sampler the
      new configurations, at the scheduler's maximum resource);
    - inside :class:`~hpo.samplers.FreezeThaw`, where the same model also decides
      which paused configuration to continue.

    The target resource is the scheduler's maximum (after any deepening), else
    ``max_resource``, else the ``max_resource`` given to :func:`hpo.budget`, else the
    largest resource observed. A COMPLETE trial without reports or segment is taken as
    trained to the target.

    Args:
        seed: seed of the acquisition optimiser and of the default independent sampler.
        n_startup_trials: configurations with at least one observation before the GP
            takes over (until then: ``independent_sampler``).
        min_resource: the smallest resource (``r0`` of the resource scale); default: a
            scheduler's smallest rung, else the smallest resource observed.
        max_resource: the target resource outside a scheduler (see above).
        acquisition_resource: ``"target"`` (expected improvement at the target
            resource) or ``"highest"`` (at the highest resource that at least three
            configurations reached, as MOBSTER's and BOHB's rule). With a single
            observed resource level both use that level.
        cost: what a configuration's expected improvement is divided by: ``"resource"``
            (the resource it would train; every new configuration costs the same) or
            ``"time"`` (its predicted seconds: seconds per unit of resource from the
            finished segments' durations, or their ``hpo:seconds`` system attribute where
            an objective records it). Use ``"time"`` when the sweep's budget is wall
            time and configurations differ in speed; under a resource budget it trades
            quality for speed (docs/multifidelity.md).
        resolution: most model points per configuration (bins of the log resource).
        independent_sampler: sampler for start-up and for parameters outside the
            modelled space; ``RandomSampler(seed=seed)`` by default.
        deterministic_objective: fix the noise variance at its floor.
        device: ``"auto"``, ``"cuda"`` or ``"cpu"`` for the GP.
        max_points: most model points the GP conditions on (default of
            :func:`hpo.surrogates.fit_gp`).
        n_candidates: Sobol scan size of the acquisition optimiser.
        output_warping: fit the GP to Yeo-Johnson-warped values.
    """

    #: A scheduler hands this searcher the whole study (every segment and report), not
    #: one trial per configuration.
    models_resource = True

    def __init__(self, *, seed: int | None = None, n_startup_trials: int = 10,
                 min_resource: Number | None = None, max_resource: Number | None = None,
                 acquisition_resource: str = "target", cost: str = "resource",
                 resolution: int = 16, independent_sampler: BaseSampler | None = None,
                 deterministic_objective: bool = False, device: str = "auto",
                 max_points: int | None = None, n_candidates: int = 1024,
                 output_warping: bool = True) -> None:
        check_device(device)
        for name, value, low in (("n_startup_trials", n_startup_trials, 1),
                                 ("resolution", resolution, 2), ("n_candidates", n_candidates, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"MultiFidelityGPSampler: {name} must be an int >= {low}, "
                                 f"got {value!r}")
        for name, value in (("min_resource", min_resource), ("max_resource", max_resource)):
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not value > 0 or not math.isfinite(value)):
                raise ValueError(f"MultiFidelityGPSampler: {name} must be a positive number "
                                 f"or None, got {value!r}")
        if min_resource is not None and max_resource is not None and min_resource >= max_resource:
            raise ValueError(f"MultiFidelityGPSampler: min_resource ({min_resource}) must be "
                             f"below max_resource ({max_resource})")
        if acquisition_resource not in ACQUISITION_RESOURCES:
            raise ValueError(f"MultiFidelityGPSampler: acquisition_resource must be one of "
                             f"{ACQUISITION_RESOURCES}, got {acquisition_resource!r}")
        if cost not in COSTS:
            raise ValueError(f"MultiFidelityGPSampler: cost must be one of {COSTS}, got {cost!r}")
        if max_points is not None and (not isinstance(max_points, int) or max_points < 2):
            raise ValueError(f"MultiFidelityGPSampler: max_points must be an int >= 2 or None, "
                             f"got {max_points!r}")
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._independent = independent_sampler or RandomSampler(seed=seed)
        self._n_startup = n_startup_trials
        self._min_resource, self._max_resource = min_resource, max_resource
        self._acq_resource = acquisition_resource
        self._cost_aware = cost == "time"
        self._resolution = resolution
        self._noise = MIN_NOISE if deterministic_objective else None
        self._device = device
        self._max_points = max_points
        self._n_candidates = n_candidates
        self._warp = output_warping
        self._space = IntersectionSearchSpace(include_pruned=True)
        self._reset_local()

    _local = ("_warm", "_fitted")

    def _reset_local(self) -> None:
        super()._reset_local()
        self._warm: dict[str, Any] = {}
        self._fitted: tuple[int, CurveModel | None] | None = None  # (trial id, model)

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._independent.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return {name: dist for name, dist in self._space.calculate(study).items()
                if not dist.single()}

    # -- the model ---------------------------------------------------------------------------

    def curves(self, study: Study, trial: FrozenTrial | None,
               search_space: dict[str, BaseDistribution]) -> tuple[Curves, ResourceScale]:
        """The study's learning curves over ``search_space`` and the resource scale."""
        r0, target = resource_scale(study, min_resource=self._min_resource,
                                    max_resource=self._max_resource)
        curves = read_curves(study, trial, search_space, target)
        levels = [r for r in curves.levels() if r > 0]
        top = curves.target if curves.target is not None else max(levels, default=1.0)
        if r0 is None:
            r0 = min(levels, default=top)
        return curves, ResourceScale(float(r0), float(max(top, r0 * (1 + 1e-9))))

    def model(self, study: Study, trial: FrozenTrial,
              search_space: dict[str, BaseDistribution]) -> CurveModel | None:
        """The learning-curve model for ``trial``'s decision, or ``None`` during start-up.

        Fitted once per trial (a scheduler's decision and the sampling that follows
        share it), warm-started from the previous fit.
        """
        if self._fitted is not None and self._fitted[0] == trial._trial_id:
            return self._fitted[1]
        curves, scale = self.curves(study, trial, search_space)
        model = None
        if len(curves.points) >= self._n_startup:
            with cpu_threads(1):
                model = fit_curve_model(
                    curves, UnitCubeEncoder(search_space), scale, resolution=self._resolution,
                    warm=self._warm, noise=self._noise, max_points=self._max_points,
                    device=self._device, warping=self._warp, cost_aware=self._cost_aware,
                    min_costs=self._n_startup)
            model.level = self._level(curves, scale, model)
        self._fitted = (trial._trial_id, model)
        return model

    def _level(self, curves: Curves, scale: ResourceScale, model: CurveModel) -> float:
        """The resource ``s`` the acquisition compares configurations at."""
        levels = curves.levels()
        if model.single_level and levels:
            return float(scale(levels[0]))
        if self._acq_resource == "highest":
            reach = sorted(curves.reach().values(), reverse=True)
            if len(reach) >= 3:
                return float(min(1.0, scale(reach[2])))
            return float(scale(levels[0]))
        return 1.0

    def resource_of(self, model: CurveModel, s: float) -> float:
        """The resource at scale value ``s``."""
        sc = model.scale
        return float(sc.r0 * math.expm1(s * math.log1p(sc.target / sc.r0)))

    def propose(self, model: CurveModel, s: float | None = None) -> tuple[dict[str, Any], float]:
        """The next configuration and its log expected improvement at resource ``s``
        (default: :attr:`CurveModel.level`), per unit of the cost of training it there
        when costs are modelled."""
        s = model.level if s is None else s
        seed = int(self._rng.integers(2**31))
        acq = model.acquisition(s, seed=seed, cost_scale=self.resource_of(model, s))
        with cpu_threads(1):
            x, value = optimize_acqf(acq, model.encoder, incumbents=model.incumbents(s),
                                     n_candidates=self._n_candidates, n_starts=4,
                                     max_iter=_ACQ_MAX_ITER, seed=seed,
                                     max_grid=grid_limit(len(model.gp.train_X)),
                                     device=model.gp.train_X.device, exclude=model.taken())
        return model.encoder.decode(x.cpu().numpy()), value

    def fit_and_propose(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution], s: float | None = None
                        ) -> tuple[CurveModel, dict[str, Any]] | None:
        """:meth:`model` for ``trial`` and the new configuration :meth:`propose` picks at
        resource ``s``, under this sampler's lock (its warm starts and generator are
        shared with its sampling); ``None`` during start-up. What FreezeThaw decides on."""
        with self._lock:
            model = self.model(study, trial, search_space)
            if model is None:
                return None
            params, _ = self.propose(model, s)
        return model, params

    # -- Optuna's sampler interface ----------------------------------------------------------

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        _check_single(study)
        if not search_space:
            return {}
        with self._lock:
            model = self.model(study, trial, search_space)
            if model is None:
                return {}  # start-up: every parameter goes to independent_sampler
            params, _ = self.propose(model)
        store_params(study, trial, params)
        return params

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        _check_single(study)
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._independent.after_trial(study, trial, state, values)


def _check_single(study: Study) -> None:
    if study._is_multi_objective():
        raise ValueError(f"MultiFidelityGPSampler models one objective; this study has "
                         f"{len(study.directions)} (use hpo.samplers.GPSampler)")
