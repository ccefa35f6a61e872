"""CARBS: cost-aware local search around the (performance, cost) Pareto front.

Fetterman et al. 2023, "Tune As You Scale" (arXiv 2306.08055), after the reference
code (imbue-ai/carbs) as described in ``algorithms.md`` section 1, as an Optuna sampler
on hpo's GP layer. Its pieces live in :mod:`hpo.samplers._carbs`.

Example:
    >>> import math, optuna, hpo
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> def train(trial):
    ...     width = trial.suggest_int("width", 8, 4096, log=True)
    ...     lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    ...     trial.set_user_attr("cost", width / 8)           # e.g. GPU hours
    ...     return 1 / math.sqrt(width) + (math.log10(lr) + 2) ** 2
    >>> study = optuna.create_study(sampler=hpo.samplers.CARBS(seed=0))
    >>> study.optimize(train, n_trials=20)
    >>> rows = hpo.samplers.carbs.cost_front(study)
    >>> rows[0]["cost"] <= rows[-1]["cost"] and rows[0]["value"] >= rows[-1]["value"]
    True
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo import _attrs
from hpo.samplers._carbs._candidates import random_point, sample_around
from hpo.samplers._carbs._pareto import group_observations, pareto_groups, same_point
from hpo.samplers._carbs._scaling import PowerLaw, front
from hpo.samplers._carbs._spaces import Transform
from hpo.samplers._local import ProcessLocal
from hpo.samplers._pending import store_params, stored_params
from hpo.space import study_hints

__all__ = ["CARBS", "PowerLaw", "cost_front", "cost_mode", "cost_of", "extrapolate", "scaling_laws"]

_logger = logging.getLogger(__name__)
_MIN_WALL_TIME = 1e-6  # seconds; a wall time of 0 would break log(cost)


# --------------------------------------------------------------------------- cost


def cost_of(trial: FrozenTrial, cost: str = "auto") -> float:
    """A finished trial's cost: ``cost="auto"``: its user attribute ``"cost"`` when set,
    else its wall time in seconds; ``"wall_time"``: its wall time; any other string: the
    user attribute of that name, which must be set. Raises ``ValueError`` naming the trial
    for a missing, negative, zero or non-finite cost.

    Example:
        >>> import optuna
        >>> t = optuna.trial.create_trial(value=1.0, user_attrs={"cost": 2.5})
        >>> cost_of(t)
        2.5
    """
    if cost == "wall_time" or (cost == "auto" and "cost" not in trial.user_attrs):
        if trial.datetime_start is None or trial.datetime_complete is None:
            raise ValueError(f"CARBS: trial {trial.number} has no wall time (no start or end) "
                             f"and no user attr 'cost'")
        return max((trial.datetime_complete - trial.datetime_start).total_seconds(),
                   _MIN_WALL_TIME)
    name = "cost" if cost == "auto" else cost
    if name not in trial.user_attrs:
        raise ValueError(f"CARBS: trial {trial.number} has no user attr {name!r} (the cost): "
                         f"call trial.set_user_attr({name!r}, ...) in the objective, or use "
                         f"cost='auto' / 'wall_time'")
    v = trial.user_attrs[name]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"CARBS: trial {trial.number}: cost (user attr {name!r}) must be a "
                         f"positive finite number, got {v!r}")
    return float(v)


def _check_cost_mode(cost: Any) -> str:
    if not isinstance(cost, str) or not cost:
        raise ValueError(f"CARBS: cost must be 'auto', 'wall_time' or a user attr name, "
                         f"got {cost!r}")
    return cost


@dataclass(frozen=True)
class _Categorical:
    """A categorical parameter and the index of its search centre (``None``: none)."""

    name: str
    dist: CategoricalDistribution
    center: int | None

    def index(self, value: Any) -> float:
        """The choice index of ``value`` (NaN when it is not a choice any more)."""
        try:
            return float(self.dist.to_internal_repr(value))
        except ValueError:
            return math.nan


@dataclass(frozen=True)
class _Space:
    """What CARBS searches: the numeric parameters' transforms, with their basic-space
    bounds ``lo``, ``hi``, then the categoricals, with their numbers of ``choices``.
    A row of basic values has the ``D`` numeric columns first, then one choice index
    per categorical."""

    transforms: list[Transform]
    cats: list[_Categorical]
    lo: np.ndarray
    hi: np.ndarray
    choices: list[int]

    @classmethod
    def build(cls, transforms: list[Transform], cats: list[_Categorical]) -> _Space:
        return cls(transforms, cats, np.array([t.basic_bounds()[0] for t in transforms]),
                   np.array([t.basic_bounds()[1] for t in transforms]),
                   [len(c.dist.choices) for c in cats])

    @property
    def D(self) -> int:
        return len(self.transforms)


@dataclass(frozen=True)
class _Observations:
    """Rows of basic values (:class:`_Space`) of a study's trials: ``X`` of the completed
    ones, with their outputs ``y``, ``costs`` and ``trials``; ``failed`` of the failed
    ones (exceptions, NaN); ``pending`` of those still running."""

    X: np.ndarray
    y: np.ndarray
    costs: np.ndarray
    trials: list[FrozenTrial]
    failed: np.ndarray
    pending: np.ndarray

    @property
    def tried(self) -> np.ndarray:
        """Every row: completed, failed and running."""
        return np.vstack([self.X, self.failed, self.pending])


# --------------------------------------------------------------------------- sampler


class CARBS(ProcessLocal, BaseSampler):
    """Cost-Aware pareto-Region Bayesian Search, for one objective with a cost per trial.

    Each trial's *cost* is its user attribute ``"cost"`` (``trial.set_user_attr("cost",
    gpu_hours)``) or else its wall time (``cost=``). CARBS keeps a Pareto front of
    (performance, cost) and searches near it, in a "basic space" where each parameter
    moves in units of its ``scale`` (linear, log10 or logit; :mod:`._carbs._spaces`):

    1. while fewer than ``num_random_samples`` trials succeeded: a random point around the
       search centre (``Normal(0, initial_search_radius)`` per basic dimension);
    2. every ``resample_frequency`` successes: the cheapest least-sampled Pareto point
       again (the front is noisy at the cheap end);
    3. otherwise ``num_candidates_per_dim * D`` samples around the conservative Pareto
       groups, scored by ``EI(output > Pareto value at the candidate's predicted cost
       + exploration_bias) * prior density * P(success)``; the Pareto value is clamped
       up to the front at a log-uniform cost between the cheapest and the dearest
       Pareto group (``clamp_pareto_value``), which pushes the search up the front.
       Trials still running are fantasised (Thompson draws) so parallel workers differ.
       Candidates equal to a configuration already tried or running are dropped (hpo's
       departure: rounding makes many candidates their origin). Any failure of this
       step, or no candidate left, falls back to a random point around the Pareto groups.

    Failed trials (exceptions, NaN) only teach the success model, so a region that keeps
    failing gets a low ``P(success)``. Pruned trials are ignored.

    Categorical parameters (CARBS has none; hpo's extension) are searched locally too: a
    candidate keeps its origin's choice or, with probability ``categorical_mutation``,
    takes another one; the GPs see them one-hot, scaled so that a changed choice is one
    search radius away. In the random phase they are drawn uniformly, or around their
    centre when one is given (``search_center`` or the helper's ``default=``).

    Search centre of a parameter: ``search_center[name]``, else the ``default=`` of its
    hpo helper (stored in the study by a decorated objective), else the middle of its
    range. Unbounded parameters (:func:`hpo.unbounded`) need a centre and a ``scale``.

    Args:
        seed: the same seed and history give the same suggestions.
        search_center: parameter name -> starting value.
        scale: parameter name -> basic-space scale (overrides the helpers').
        logit: names of parameters in (0, 1) searched on the logit scale.
        cost: ``"auto"``, ``"wall_time"`` or the name of a user attr that every completed
            trial sets.
        num_random_samples, initial_search_radius, exploration_bias,
        num_candidates_per_dim, resample_frequency, max_suggestion_cost,
        min_pareto_cost_fraction: as ``CARBSParams`` (defaults 4, 0.3, 1.0, 100, 5,
            None, 0.2); ``resample_frequency=0`` disables resampling.
        conservative_pareto: conservative Pareto groups for the model and the origins.
        clamp_pareto_value: clamp the EI threshold to a random point up the front.
        fantasies: ``"thompson"`` or ``"mean"`` for trials still running.
        categorical_mutation: probability in ``[0, 1)`` that a candidate changes a
            categorical parameter from its origin's choice (default 0.2).
        fit_hyperparameters: fit the output and cost GPs' hyperparameters by MAP
            (:func:`hpo.surrogates.fit_gp`) instead of the reference's fixed values
            (lengthscale = ``initial_search_radius``); see docs/carbs.md.
        device: ``"auto"``, ``"cuda"`` or ``"cpu"`` for the GPs.
    """

    def __init__(self, *, seed: int | None = None, search_center: Mapping[str, float] | None = None,
                 scale: Mapping[str, float] | None = None, logit: Iterable[str] = (),
                 cost: str = "auto", num_random_samples: int = 4,
                 initial_search_radius: float = 0.3, exploration_bias: float = 1.0,
                 num_candidates_per_dim: int = 100, resample_frequency: int = 5,
                 max_suggestion_cost: float | None = None, min_pareto_cost_fraction: float = 0.2,
                 conservative_pareto: bool = True, clamp_pareto_value: bool = True,
                 fantasies: str = "thompson", categorical_mutation: float = 0.2,
                 fit_hyperparameters: bool = False, device: str = "auto") -> None:
        # hpo.surrogates imports torch: deferred here and below, so that importing this
        # module (cost_front and the CLI's read-off of a CARBS study) loads none
        from hpo.surrogates.device import check_device

        check_device(device)

        def positive_int(name: str, v: Any, low: int) -> int:
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"CARBS: {name} must be an int >= {low}, got {v!r}")
            return v

        def number(name: str, v: Any, positive: bool) -> float:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or (v <= 0 if positive else v < 0):
                raise ValueError(f"CARBS: {name} must be a {'positive' if positive else '>= 0'}"
                                 f" number, got {v!r}")
            return float(v)

        self._n_random = positive_int("num_random_samples", num_random_samples, 1)
        self._radius = number("initial_search_radius", initial_search_radius, True)
        self._bias = float(exploration_bias)
        self._per_dim = positive_int("num_candidates_per_dim", num_candidates_per_dim, 1)
        self._resample = positive_int("resample_frequency", resample_frequency, 0)
        self._max_cost = (None if max_suggestion_cost is None
                          else number("max_suggestion_cost", max_suggestion_cost, True))
        self._frac = number("min_pareto_cost_fraction", min_pareto_cost_fraction, False)
        if self._frac > 1:
            raise ValueError(f"CARBS: min_pareto_cost_fraction must be in [0, 1], "
                             f"got {min_pareto_cost_fraction!r}")
        self._mutation = number("categorical_mutation", categorical_mutation, False)
        if self._mutation >= 1:
            raise ValueError(f"CARBS: categorical_mutation must be in [0, 1), "
                             f"got {categorical_mutation!r}")
        if fantasies not in ("thompson", "mean"):
            raise ValueError(f"CARBS: fantasies must be 'thompson' or 'mean', got {fantasies!r}")
        self._centers = dict(search_center or {})
        self._scales = dict(scale or {})
        for name, v in self._scales.items():
            number(f"scale[{name!r}]", v, True)
        self._logit = {str(n): "logit" for n in ([logit] if isinstance(logit, str) else logit)}
        self._cost = _check_cost_mode(cost)
        self._conservative = bool(conservative_pareto)
        self._clamp = bool(clamp_pareto_value)
        self._thompson = fantasies == "thompson"
        self._fit = bool(fit_hyperparameters)
        self._device = device
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._random = RandomSampler(seed=seed)
        self._space = IntersectionSearchSpace()
        self._marked: set[int] = set()
        self._reset_local()

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._random.reseed_rng()

    # -- Optuna's interface ----------------------------------------------------------------

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return {n: d for n, d in self._space.calculate(study).items() if not d.single()}

    def _single(self, study: Study) -> None:
        if len(study.directions) != 1:
            raise ValueError(f"CARBS optimises one objective (performance), with the cost of "
                             f"a trial from its user attr or wall time; this study has "
                             f"{len(study.directions)} objectives")

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if study._study_id not in self._marked:
            self._marked.add(study._study_id)
            study._storage.set_study_system_attr(study._study_id, _attrs.CARBS,
                                                 {"cost": self._cost})
        self._random.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._random.after_trial(study, trial, state, values)

    def transform(self, study: Study, name: str, dist: BaseDistribution) -> Transform:
        """The basic-space transform CARBS uses for ``name`` in ``study``."""
        hint = study_hints(study).get(name, {})
        center = self._centers.get(name, hint.get("default"))
        return Transform.build(name, dist, center=center,
                               scale=self._scales.get(name, hint.get("scale")),
                               kind=self._logit.get(name), radius=self._radius)

    def _categorical(self, study: Study, name: str, dist: CategoricalDistribution
                     ) -> _Categorical:
        center = self._centers.get(name, study_hints(study).get(name, {}).get("default"))
        if center is None:
            return _Categorical(name, dist, None)
        if center not in dist.choices:
            raise ValueError(f"CARBS: parameter {name!r}: search centre {center!r} is not "
                             f"one of its choices {list(dist.choices)}")
        return _Categorical(name, dist, dist.to_internal_repr(center))

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        self._single(study)
        if not isinstance(param_distribution, (FloatDistribution, IntDistribution)) \
                or param_distribution.single():
            return self._random.sample_independent(study, trial, param_name, param_distribution)
        t = self.transform(study, param_name, param_distribution)
        lo, hi = t.basic_bounds()
        with self._lock:
            rng = np.random.default_rng(self._rng.integers(2**63))
        b = random_point(np.atleast_2d(t.to_basic(t.center)), self._radius, rng,
                         np.array([lo]), np.array([hi]))
        return t.value(float(t.to_basic(t.center)) if b is None else float(b[0]))

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        self._single(study)
        if not search_space:
            return {}
        from hpo.surrogates.device import cpu_threads  # defers torch (see __init__)

        transforms = [self.transform(study, n, d) for n, d in search_space.items()
                      if not isinstance(d, CategoricalDistribution)]
        cats = [self._categorical(study, n, d) for n, d in search_space.items()
                if isinstance(d, CategoricalDistribution)]
        with self._lock:
            seed = int(self._rng.integers(2**63))
        with cpu_threads(1):
            params, kind = self._suggest(study, trial, transforms, cats,
                                         np.random.default_rng(seed))
        study._storage.set_trial_system_attr(trial._trial_id, _attrs.CARBS_KIND, kind)
        store_params(study, trial, params)
        return params

    # -- the algorithm ---------------------------------------------------------------------

    def _data(self, study: Study, trial: FrozenTrial, transforms: list[Transform],
              cats: Sequence[_Categorical] = ()) -> _Observations:
        """The completed, failed and running trials other than ``trial`` that have every
        parameter of ``transforms`` and ``cats``, as rows of basic values."""
        names = [t.name for t in transforms] + [c.name for c in cats]
        Xs, ys, cs, trials, Xf, Xp = [], [], [], [], [], []
        for t in study.get_trials(deepcopy=False):
            if t.number == trial.number:
                continue
            running = t.state in (TrialState.RUNNING, TrialState.WAITING)
            params = {**stored_params(t), **t.params} if running else t.params
            if not all(n in params for n in names):
                continue
            x = np.array([float(tr.to_basic(params[tr.name])) for tr in transforms]
                         + [c.index(params[c.name]) for c in cats])
            if not np.isfinite(x).all():
                continue
            if t.state == TrialState.COMPLETE:
                if t.value is None or not math.isfinite(t.value):
                    Xf.append(x)
                    continue
                Xs.append(x)
                ys.append(float(t.value))
                cs.append(cost_of(t, self._cost))
                trials.append(t)
            elif t.state == TrialState.FAIL:
                Xf.append(x)
            elif running:
                Xp.append(x)
        D = len(transforms) + len(cats)
        as2d = lambda rows: np.array(rows, dtype=float).reshape(len(rows), D)  # noqa: E731
        return _Observations(as2d(Xs), np.array(ys), np.array(cs), trials, as2d(Xf), as2d(Xp))

    def _suggest(self, study: Study, trial: FrozenTrial, transforms: list[Transform],
                 cats: list[_Categorical], rng: np.random.Generator
                 ) -> tuple[dict[str, Any], str]:
        obs = self._data(study, trial, transforms, cats)
        space = _Space.build(transforms, cats)
        sign = 1 if study.direction == StudyDirection.MAXIMIZE else -1
        D, lo, hi, choices = space.D, space.lo, space.hi, space.choices

        def params_of(b: np.ndarray) -> dict[str, Any]:
            out = {t.name: t.value(float(v)) for t, v in zip(transforms, b[:D], strict=True)}
            out.update({c.name: c.dist.choices[int(v)] for c, v in zip(cats, b[D:],
                                                                       strict=True)})
            return out

        def random_around(origins: np.ndarray, mutation: float) -> dict[str, Any]:
            b = random_point(origins, self._radius, rng, lo, hi, choices=choices,
                             mutation=mutation)
            return params_of(origins[0] if b is None else b)

        if len(obs.y) < self._n_random:
            # a categorical without a centre: a uniform draw (mutating it keeps it uniform)
            center = np.array([[float(t.to_basic(t.center)) for t in transforms]
                               + [float(rng.integers(k)) if c.center is None else c.center
                                  for c, k in zip(cats, choices, strict=True)]])
            return random_around(center, self._mutation), "random"
        groups = group_observations(obs.X, obs.y, obs.costs)
        if self._resample:
            n_resampled = sum(1 for t in study.get_trials(deepcopy=False)
                              if t.system_attrs.get(_attrs.CARBS_KIND) == "resample")
            # Trials CARBS did not suggest (added, enqueued, another sampler's) count as
            # resamples already made, one per resample_frequency of them: a study warm-
            # started with 200 of them does not resample 39 times in a row (the
            # reference would, after initialize_from_observations).
            n_external = sum(1 for t in obs.trials if _attrs.CARBS_KIND not in t.system_attrs)
            n_resampled += n_external // self._resample
            if len(obs.y) > (n_resampled + 1) * self._resample:
                plain = sorted(pareto_groups(groups, self._frac, sign, conservative=False),
                               key=lambda g: g.cost)
                counts = [len(g) + int(same_point(obs.pending, g.x[None]).sum()) for g in plain]
                g = plain[int(np.argmin(counts))]
                chosen = obs.trials[g.indices[0]].params
                return {n: chosen[n] for n in [t.name for t in transforms]
                        + [c.name for c in cats]}, "resample"
        pareto = pareto_groups(groups, self._frac, sign, conservative=self._conservative)
        origins = np.array([obs.X[g.indices[0]] for g in pareto])
        try:
            b = self._candidate(obs, space, pareto, origins, sign, rng)
        except Exception as exc:  # the reference falls back on any error too
            _logger.debug("CARBS: candidate generation failed (%s); random fallback", exc)
            b = None
        if b is None:
            return random_around(origins, self._mutation), "fallback"
        return params_of(b), "model"

    def _candidate(self, obs: _Observations, space: _Space, pareto: list[Any],
                   origins: np.ndarray, sign: int, rng: np.random.Generator
                   ) -> np.ndarray | None:
        """The best model suggestion around ``origins`` (the Pareto groups' first rows),
        or ``None`` when every candidate was tried already."""
        from hpo.samplers._carbs._models import Surrogate, log_expected_improvement  # torch

        D, choices, lo, hi = space.D, space.choices, space.lo, space.hi

        def encode(X: np.ndarray) -> np.ndarray:
            # one-hot choices scaled by radius / sqrt(2): a changed choice is one radius
            w = self._radius / math.sqrt(2.0)
            hot = [w * (X[:, D + j, None] == np.arange(k)) for j, k in enumerate(choices)]
            return np.hstack([X[:, :D], *hot])

        pareto_idx = [i for g in pareto for i in g.indices]
        bounds = None
        if self._fit:  # the unit cube of the fitted GPs: the data's box, one radius wider
            E = encode(obs.tried)
            w = np.full(E.shape[1] - D, self._radius / math.sqrt(2.0))
            bounds = (np.r_[np.maximum(lo, E[:, :D].min(0) - self._radius), np.zeros_like(w)],
                      np.r_[np.minimum(hi, E[:, :D].max(0) + self._radius), w])
        model = Surrogate(encode(obs.X), obs.y, obs.costs, encode(obs.failed), pareto_idx, sign,
                          self._radius, self._device, unit_bounds=bounds)
        model.fantasise(encode(obs.pending), rng, thompson=self._thompson)

        def round_basic(x: np.ndarray) -> np.ndarray:
            return np.column_stack([t.round_basic(x[:, j]) for j, t in enumerate(space.transforms)])

        n = self._per_dim * (D + len(choices))
        X, prob = sample_around(origins, self._radius, n, rng, lo, hi,
                                round_basic if D else None, choices=choices,
                                mutation=self._mutation)
        # a model suggestion is never a configuration already tried or running: rounding
        # collapses many candidates onto the origins, whose EI against a smoothed front can
        # stay high (the reference would re-run them; repeats are resample_frequency's job)
        fresh = ~same_point(X, obs.tried).any(-1)
        X, prob = X[fresh], prob[fresh]
        if len(X) == 0:
            return None
        pred = model.observe(encode(X))
        threshold = pred.pareto_value
        if self._clamp:
            c_min, c_max = pareto[0].cost, pareto[-1].cost
            if self._max_cost is not None:
                c_max = min(c_max, self._max_cost)
            c_max = max(c_max, c_min)
            c = math.exp(rng.uniform(math.log(c_min), math.log(c_max)))
            t = np.clip(model.cost_scaler.transform_log(np.array([math.log(c)])),
                        *model.pareto_range)
            threshold = np.maximum(threshold, model.pareto_at(t))
        log_acq = log_expected_improvement(pred.mean, pred.var, threshold + self._bias)
        with np.errstate(divide="ignore"):
            log_acq = log_acq + np.log(prob) + np.log(pred.p_success)
        if self._max_cost is not None:
            ok = pred.cost < self._max_cost
            if not ok.any():
                raise ValueError("no candidate under max_suggestion_cost")
            log_acq = np.where(ok, log_acq, -np.inf)
        return X[int(np.argmax(log_acq))]


# --------------------------------------------------------------------------- read-off


def cost_mode(study: Study, cost: str | None = None) -> str:
    """How ``study``'s costs are read: ``cost`` if given (checked), else the mode its
    CARBS sampler recorded (``"auto"`` when none did)."""
    if cost is not None:
        return _check_cost_mode(cost)
    attrs = study._storage.get_study_system_attrs(study._study_id)
    return str(attrs.get(_attrs.CARBS, {}).get("cost", "auto"))


def cost_front(study: Study, cost: str | None = None) -> list[dict[str, Any]]:
    """The completed trials on the (performance, cost) Pareto front, cheapest first:
    ``{"number", "value", "cost", "params"}`` each. ``cost`` as :class:`CARBS` (default:
    the mode the study's CARBS sampler recorded, else ``"auto"``)."""
    if len(study.directions) != 1:
        raise ValueError("cost_front: needs a single-objective study (performance); the cost "
                         "comes from each trial")
    mode = cost_mode(study, cost)
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value)]
    if not done:
        return []
    values = np.array([t.value for t in done], dtype=float)
    costs = np.array([cost_of(t, mode) for t in done])
    sign = 1 if study.direction == StudyDirection.MAXIMIZE else -1
    return [{"number": done[i].number, "value": float(values[i]), "cost": float(costs[i]),
             "params": dict(done[i].params)} for i in front(values, costs, sign)]


def scaling_laws(study: Study, cost: str | None = None,
                 params: Iterable[str] | None = None) -> dict[str, PowerLaw]:
    """A power law ``value = coefficient * cost ** exponent`` of each numeric parameter
    (or those of ``params``) along the front, fitted by least squares in log-log space
    with standard errors (:class:`PowerLaw`). Parameters that are not positive numbers
    on every point of the front, or that need >= 3 points it lacks, are left out (a
    named ``params`` entry raises ``ValueError`` instead)."""
    rows = cost_front(study, cost)
    asked = None if params is None else list(params)
    names = asked if asked is not None else sorted(
        {n for r in rows for n, v in r["params"].items()
         if isinstance(v, (int, float)) and not isinstance(v, bool)})
    laws: dict[str, PowerLaw] = {}
    for name in names:
        pts = [(r["cost"], r["params"][name]) for r in rows if name in r["params"]]
        try:
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) for _, v in pts):
                raise ValueError(f"scaling of {name!r}: not a number on the front")
            c, v = (np.array(a, dtype=float) for a in zip(*pts, strict=True)) if pts else (
                np.zeros(0), np.zeros(0))
            laws[name] = PowerLaw.fit(name, c, v)
        except ValueError:
            if asked is not None:
                raise
    return laws


def extrapolate(study: Study, target_cost: float, *, cost: str | None = None,
                params: Iterable[str] | None = None, level: float = 0.95) -> dict[str, Any]:
    """The setting each fitted :func:`scaling_laws` predicts at ``target_cost``, with its
    ``level`` prediction interval: ``{"cost", "params": {name: value}, "intervals":
    {name: [low, high]}, "laws": {name: PowerLaw.as_dict()}, "outside_range": [names]}``;
    integer parameters are rounded in ``params`` (the interval is not); ``outside_range``
    names the parameters whose prediction leaves their distribution's range."""
    if isinstance(target_cost, bool) or not isinstance(target_cost, (int, float)) \
            or not math.isfinite(target_cost) or target_cost <= 0:
        raise ValueError(f"extrapolate: cost must be a positive finite number, got "
                         f"{target_cost!r}")
    laws = scaling_laws(study, cost, params)
    if not laws:
        raise ValueError(f"extrapolate: no parameter of study {study.study_name!r} has a power "
                         f"law along the front (it needs >= 3 front points with positive "
                         f"numeric values and distinct costs)")
    dists = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        dists.update(t.distributions)
    out: dict[str, Any] = {"cost": float(target_cost), "params": {}, "intervals": {}, "laws": {},
                           "outside_range": []}
    for name, law in laws.items():
        value, low, high = law.predict(float(target_cost), level)
        dist = dists.get(name)
        out["params"][name] = (round(value) if isinstance(dist, IntDistribution)
                               else value)
        if isinstance(dist, (FloatDistribution, IntDistribution)) \
                and not dist.low <= value <= dist.high:
            out["outside_range"].append(name)  # the law leaves the searched range
        out["intervals"][name] = [low, high]
        out["laws"][name] = law.as_dict()
    return out
