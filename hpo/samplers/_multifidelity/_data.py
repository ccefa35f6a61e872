"""A study read as learning curves: ``(configuration, resource) -> value`` observations.

Every trial of a configuration's chain (:func:`hpo._segments.config_ids`) contributes:

- each intermediate value ``trial.report(value, step)``, at resource ``step``;
- a COMPLETE trial's value, at its segment's ``stop`` (a trial without a segment: at
  its last reported step, or at the target resource when it reported nothing, i.e. a
  plain trial trained in full);
- RUNNING, PRUNED and FAIL trials their reports (observed before they stopped); a
  configuration that failed without any observation enters once, at the smallest
  resource, with the worst value seen (crashing regions are not re-proposed).

Values are turned into values to maximise; NaN and values infinite in the good
direction are dropped, values infinite in the bad direction become the worst finite
value. Later trials of a chain override earlier ones at the same resource (a retry, or
a continuation that re-reports a step).

Resources are encoded on a log scale, ``s(r) = log(1 + r / r0) / log(1 + R / r0)``
(``r0`` the smallest rung or resource, ``R`` the target), so ``s(R) = 1`` and each
rung of a geometric ladder is about equally far from the next. To keep the model's
size flat in the number of reports, each configuration's curve is averaged within
``resolution`` equal bins of ``s`` (one point per bin at the bin's mean resource and
mean value; the configuration's last point, at the largest resource it reached, is kept
as it is): thousands of per-step RL reports become at most ``resolution`` points per
configuration, and averaging within a bin also averages out per-step noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo import _attrs, _segments
from hpo._typing import Number
from hpo.samplers._pending import stored_params

__all__ = ["Curves", "ResourceScale", "read_curves", "resource_scale"]


@dataclass(frozen=True)
class ResourceScale:
    """``s(r) = log(1 + r / r0) / log(1 + R / r0)``: 0 at no resource, 1 at ``R``.

    Example:
        >>> scale = ResourceScale(1, 27)
        >>> [round(float(scale(r)), 3) for r in (1, 3, 9, 27)]
        [0.208, 0.416, 0.691, 1.0]
    """

    r0: float
    target: float

    def __call__(self, r: float | np.ndarray) -> Any:
        return np.log1p(np.asarray(r, dtype=float) / self.r0) / math.log1p(self.target / self.r0)


def resource_scale(study: Study, *, min_resource: Number | None,
                   max_resource: Number | None) -> tuple[float | None, float | None]:
    """``(r0, R)`` a study's resource is measured against, where known before reading it.

    A scheduler's ladder (its smallest rung, its current maximum) comes first, then the
    sampler's own ``min_resource`` / ``max_resource``, then ``hpo.budget``'s
    ``max_resource`` recorded on the study; ``None`` where the data must say.
    """
    attrs = study._storage.get_study_system_attrs(study._study_id)
    ladder = attrs.get(_attrs.SCHEDULER_LADDER)
    if ladder is not None:
        return float(ladder[0]), float(attrs.get(_attrs.SCHEDULER_MAX, ladder[1]))
    top = max_resource if max_resource is not None else attrs.get(_attrs.MAX_RESOURCE)
    return (None if min_resource is None else float(min_resource),
            None if top is None else float(top))


@dataclass
class Curves:
    """The observations of a study, per configuration.

    ``points[c]``: resource -> value to maximise, for configuration ``c`` (its id);
    ``params[c]``: its parameters; ``pending``: parameters of the RUNNING or WAITING
    trials other than the one being sampled, with their configuration ids; ``costs``:
    ``(configuration, seconds per unit of resource)`` of finished segments.
    """

    points: dict[int, dict[float, float]] = field(default_factory=dict)
    params: dict[int, dict[str, Any]] = field(default_factory=dict)
    failed: list[int] = field(default_factory=list)
    pending: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    costs: list[tuple[int, float]] = field(default_factory=list)
    target: float | None = None

    def reach(self) -> dict[int, float]:
        """The largest resource observed per configuration."""
        return {c: max(p) for c, p in self.points.items() if p}

    def levels(self) -> list[float]:
        """The distinct resources observed, lowest first."""
        return sorted({r for p in self.points.values() for r in p})

    def table(self, scale: ResourceScale, resolution: int
              ) -> tuple[list[int], np.ndarray, np.ndarray]:
        """Rows ``(configuration id, s, value)``, at most ``resolution`` per configuration
        (bin means), configurations in id order, each curve by increasing resource."""
        ids, ss, ys = [], [], []
        worst = min((v for p in self.points.values() for v in p.values()), default=0.0)
        for c in sorted(self.points):
            p = self.points[c]
            if not p:
                continue
            r = np.array(sorted(p), dtype=float)
            v = np.array([p[x] for x in sorted(p)], dtype=float)
            s = scale(r)
            if len(r) > resolution:  # bin means below the last point, which stays as it is
                bins = np.minimum((np.clip(s[:-1], 0.0, 1.0) * (resolution - 1)).astype(int),
                                  resolution - 2)
                inverse = np.unique(bins, return_inverse=True)[1]
                counts = np.bincount(inverse)
                s = np.append(np.bincount(inverse, weights=s[:-1]) / counts, s[-1])
                v = np.append(np.bincount(inverse, weights=v[:-1]) / counts, v[-1])
            ids += [c] * len(s)
            ss.append(s)
            ys.append(v)
        lowest = scale(min(self.levels(), default=1.0)) if self.points else 0.0
        for c in self.failed:
            ids.append(c)
            ss.append(np.array([lowest]))
            ys.append(np.array([worst]))
        if not ids:
            return [], np.zeros(0), np.zeros(0)
        return ids, np.concatenate(ss), np.concatenate(ys)


def _stored_params(trial: FrozenTrial) -> dict[str, Any]:
    """Parameters a RUNNING trial has not suggested yet but a sampler chose for it."""
    fixed = trial.system_attrs.get(_attrs.FIXED_PARAMS) or {}
    return {**stored_params(trial), **fixed, **trial.params}


def read_curves(study: Study, trial: FrozenTrial | None,
                space: Mapping[str, BaseDistribution], target: float | None) -> Curves:
    """The study's observations for configurations that have every parameter of ``space``.

    ``target``: the resource of a COMPLETE trial that has neither a segment nor reports
    (``None``: the largest resource observed).
    """
    sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
    trials = study.get_trials(deepcopy=False)
    ids = _segments.config_ids(trials)
    out = Curves()
    unplaced: list[tuple[int, float]] = []  # (config, value) of plain complete trials
    failed: set[int] = set()
    bad: list[tuple[int, float]] = []  # (config, resource) of values -inf after the sign
    for t in trials:
        if trial is not None and t.number == trial.number:
            continue
        cid = ids[t.number]
        state = t.state
        if state in (TrialState.RUNNING, TrialState.WAITING):
            params = _stored_params(t)
            if all(name in params for name in space):
                out.pending.append((cid, {n: params[n] for n in space}))
        if not all(name in t.params for name in space):
            continue
        out.params.setdefault(cid, {n: t.params[n] for n in space})
        points = out.points.setdefault(cid, {})
        for step, value in t.intermediate_values.items():
            _add(points, bad, cid, float(step), sign * value)
        if state == TrialState.COMPLETE and t.values is not None and len(t.values) == 1:
            seg = _segments.segment(t)
            if seg is not None:
                _add(points, bad, cid, float(seg[1]), sign * t.values[0])
            elif t.intermediate_values:
                _add(points, bad, cid, float(max(t.intermediate_values)), sign * t.values[0])
            else:
                unplaced.append((cid, sign * t.values[0]))
        elif state == TrialState.FAIL:
            failed.add(cid)
        if state in (TrialState.COMPLETE, TrialState.PRUNED):
            rate = _rate(t)
            if rate is not None:
                out.costs.append((cid, rate))
    top = target if target is not None else max(out.levels(), default=None)
    for cid, value in unplaced:
        _add(out.points[cid], bad, cid, float(top if top is not None else 1.0), value)
    finite = [v for p in out.points.values() for v in p.values()]
    if bad:
        worst = min(finite, default=0.0)
        for cid, r in bad:
            out.points[cid][r] = worst
    out.failed = sorted(c for c in failed if not out.points.get(c))
    for c in out.failed:
        out.points.pop(c, None)
    out.target = top
    return out


def _add(points: dict[float, float], bad: list[tuple[int, float]], cid: int, r: float,
         value: float) -> None:
    if math.isnan(value) or value == math.inf or r < 0:
        return
    if value == -math.inf:
        bad.append((cid, r))
        return
    points[r] = value


def _rate(t: FrozenTrial) -> float | None:
    """Seconds per unit of resource the trial trained, if both are known."""
    seconds = t.system_attrs.get(_attrs.SECONDS)
    if seconds is None:
        if t.datetime_start is None or t.datetime_complete is None:
            return None
        seconds = (t.datetime_complete - t.datetime_start).total_seconds()
    seg = _segments.segment(t)
    start, stop = seg if seg is not None else (0, None)
    if t.state == TrialState.PRUNED or stop is None:
        if not t.intermediate_values:
            return None
        stop = max(t.intermediate_values) if stop is None else min(
            stop, max(t.intermediate_values) + 1)
    units = float(stop) - float(start)
    if not units > 0 or not seconds > 0 or not math.isfinite(seconds):
        return None
    return float(seconds) / units
