"""The sampler shell of population-based training, on trial continuation.

Each member's training is a chain of segment trials of ``perturbation_interval``
resource. Before a trial starts, :meth:`PopulationSampler.before_trial` picks the idle
member that is furthest behind and decides, from the study alone:

- a new member while the population is not full (parameters from the ``searcher``);
- **exploit**: a member in the bottom quantile (or one whose segment failed for good)
  continues the checkpoint of a top-quantile member's segment that ends where it stands
  (members are ranked at equal resource; finished ones count), with parameters from
  :meth:`_explore`;
- otherwise it continues its own checkpoint with its own parameters.

A member copies only a COMPLETE segment that committed a checkpoint. A worker with
nothing to do (every idle member would have to wait, or synchronous mode waits for the
generation) waits outside the lock; the runner asks :meth:`has_work` first.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo import _attrs
from hpo._typing import Number
from hpo.continuation import checkpoint_of, checkpoint_store, still_needed
from hpo.exceptions import PopulationFinished
from hpo.samplers._continuing import ContinuationSampler, Decision
from hpo.samplers._pbt._explore import check_params
from hpo.samplers._pbt._population import Member, read_population
from hpo.samplers._schedulers._ladder import check_resource
from hpo.samplers.protocols import DecidesContinuation

__all__ = ["PopulationSampler"]

_logger = logging.getLogger("hpo.samplers")



@dataclass(frozen=True)
class _Start:
    member: int


@dataclass(frozen=True)
class _Continue:
    member: Member


@dataclass(frozen=True)
class _Exploit:
    member: Member
    source: Member
    segment: FrozenTrial  # the source's segment that ends where the member stands


class PopulationSampler(ContinuationSampler):
    """Base of :class:`~hpo.samplers.PBT`, :class:`~hpo.samplers.PB2` and
    :class:`~hpo.samplers.MOPBT`; subclasses rank members (:meth:`_ranked`) and explore
    (:meth:`_explore`)."""

    _objectives = "one"

    def __init__(self, population_size: int, perturbation_interval: Number,
                 max_resource: Number, *, quantile_fraction: float = 0.25,
                 synchronous: bool = False, searcher: BaseSampler | None = None,
                 seed: int | None = None, keep_checkpoints: bool = False) -> None:
        if isinstance(population_size, bool) or not isinstance(population_size, int) \
                or population_size < 2:
            raise ValueError(f"population_size: must be an int >= 2, got {population_size!r}")
        check_resource("perturbation_interval", perturbation_interval)
        check_resource("max_resource", max_resource)
        if perturbation_interval > max_resource:
            raise ValueError(f"perturbation_interval ({perturbation_interval}) must not exceed "
                             f"max_resource ({max_resource})")
        if isinstance(quantile_fraction, bool) or not isinstance(quantile_fraction, (int, float)) \
                or not 0 < quantile_fraction <= 0.5:
            raise ValueError(f"quantile_fraction: must be in (0, 0.5], got {quantile_fraction!r}")
        if not isinstance(synchronous, bool):
            raise ValueError(f"synchronous: must be True or False, got {synchronous!r}")
        if searcher is not None and not isinstance(searcher, BaseSampler):
            raise ValueError(f"searcher: expected an optuna sampler, got {type(searcher).__name__}")
        if isinstance(searcher, DecidesContinuation):
            raise ValueError(f"searcher: {type(searcher).__name__} decides continuation itself "
                             "and cannot be a searcher; use a sampler that proposes "
                             "parameters (TPE, GPSampler, MultiFidelityGPSampler, ...)")
        self._n, self._interval, self._max = population_size, perturbation_interval, max_resource
        self._q, self._synchronous, self._seed = quantile_fraction, synchronous, seed
        self._searcher = searcher if searcher is not None else RandomSampler(seed=seed)
        self._keep = keep_checkpoints
        self._reset_local()
        self._removed: set[str] = set()
        self._warned: set[int] = set()

    # -- what subclasses define ----------------------------------------------------------

    def _ranked(self, study: Study, entries: list[tuple[Member, FrozenTrial]]
                ) -> list[tuple[Member, FrozenTrial]]:
        """``(member, its segment at the resource compared)`` pairs, worst first."""
        sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0

        def reward(entry: tuple[Member, FrozenTrial]) -> tuple[float, int]:
            value = entry[1].value
            ok = value is not None and math.isfinite(value)
            return (sign * value if ok else -math.inf), -entry[0].id  # type: ignore[operator]

        return sorted(entries, key=reward)

    @abc.abstractmethod
    def _explore(self, study: Study, member: Member, segment: FrozenTrial,
                 space: dict[str, BaseDistribution], rng: np.random.Generator
                 ) -> dict[str, Any]:
        """The parameters of ``member`` once it copied ``segment`` (another member's)."""

    def reseed_rng(self) -> None:
        self._searcher.reseed_rng()

    # -- reading the population --------------------------------------------------------------

    def population(self, study: Study, *, but: int | None = None) -> list[Member]:
        """The members, by id: each one's segments, latest score and state (leaving out
        trial ``but``, the one being decided)."""
        trials = [t for t in study.get_trials(deepcopy=False) if t.number != but]
        members = read_population(trials, study.directions[0])
        return [members[k] for k in sorted(members)]

    def is_finished(self, study: Study) -> bool:
        """Whether every member reached ``max_resource``."""
        members = self.population(study)
        return len(members) >= self._n and all(
            m.done(self._max) and not m.busy for m in members)

    def progress(self, study: Study) -> tuple[float, float]:
        """(resource the members reached, in all; ``population_size * max_resource``)."""
        return (sum(min(m.stop, self._max) for m in self.population(study)),
                self._n * self._max)

    def has_work(self, study: Study) -> bool:
        """Whether a trial asked now would start at once (a free worker asks only then)."""
        with self._lock:
            return self._decide(study, None, self.population(study)) is not None

    # -- deciding --------------------------------------------------------------------------

    def _check_segments(self, members: list[Member]) -> None:
        """Refuse, after its first segment, a training function that does not checkpoint.

        A function that asked :func:`hpo.budget` or reported steps but saved no
        checkpoint would lose its training at every boundary. One that did none of these
        (a plain function of its parameters) gets a warning: members then never copy
        each other, since there is nothing to copy."""
        for m in members:
            for t in m.segments:
                if t.state != TrialState.COMPLETE:
                    continue
                attrs = t.system_attrs
                if checkpoint_of(attrs) is not None:
                    return
                if attrs.get(_attrs.BUDGET_READ) or t.intermediate_values:
                    raise ValueError(
                        f"objective: trial {t.number} finished without hpo.checkpoint(trial, "
                        f"state); {type(self).__name__} continues and copies members from "
                        "their checkpoints, so every segment must save one (docs/pbt.md)")
                if t.number not in self._warned:
                    self._warned.add(t.number)
                    _logger.warning("trial %d neither trained hpo.budget(trial) nor saved a "
                                    "checkpoint: %s cannot copy members of such an objective",
                                    t.number, type(self).__name__)
                return  # the first finished segment tells

    def _decide(self, study: Study, trial: FrozenTrial | None, members: list[Member]
                ) -> _Start | _Continue | _Exploit | None:
        self._check_segments(members)
        if len(members) < self._n:
            taken = {m.id for m in members}
            return _Start(min(i for i in range(self._n + 1) if i not in taken))
        live = [m for m in members if not m.done(self._max)]
        idle = [m for m in live if not m.busy]
        if not idle:
            return None
        member = min(idle, key=lambda m: (m.stop, m.id))
        if self._synchronous and min(m.stop for m in live) < member.stop:
            return None  # the generation is not complete: wait for the members behind
        # Compare at equal resource: each member's segment that ends where this one
        # stands (members ahead passed through it, finished ones too); members behind
        # are left out.
        at = member.stop
        by_number = {t.number: t for m in members for t in m.segments}
        entries = [(m, seg) for m in members if not m.dead
                   and (seg := _segment_at(m, at, by_number)) is not None]
        ranked = self._ranked(study, entries)
        n = math.ceil(len(ranked) * self._q)
        if n > len(ranked) / 2:
            n = len(ranked) // 2
        lower, upper = ranked[:n], ranked[len(ranked) - n:] if n else []
        replace = member.dead or member.last is None  # its segment failed for good
        if replace or member in [m for m, _ in lower]:
            others = [(m, seg) for m, seg in ranked if m is not member]
            pool = upper if not replace else others[len(others) - max(n, 1):]
            sources = [(m, seg) for m, seg in pool if m is not member
                       and (latest := checkpoint_of(seg.system_attrs)) is not None
                       and latest[0] not in self._removed]
            if sources:
                rng = np.random.default_rng([self._seed or 0, 7, trial.number if trial else 0])
                source, seg = sources[int(rng.integers(len(sources)))]
                return _Exploit(member, source, seg)
            if replace:
                return _Start(member.id)  # nothing to copy: start it afresh
        return _Continue(member)

    def _next(self, study: Study, trial: FrozenTrial) -> Decision | None:
        members = self.population(study, but=trial.number)
        action = self._decide(study, trial, members)
        if action is None:
            if not any(m.busy for m in members):
                raise PopulationFinished(f"{type(self).__name__}: the population has finished: "
                                         f"every member reached max_resource={self._max}")
            return None  # wait for a running member
        if isinstance(action, _Start):
            return Decision(0, min(self._interval, self._max),
                            attrs={_attrs.MEMBER: action.member}, claim=_attrs.MEMBER)
        seg = action.segment if isinstance(action, _Exploit) else action.member.last
        assert seg is not None
        latest = checkpoint_of(seg.system_attrs)
        start = latest[1] if latest is not None and latest[1] is not None \
            else seg.system_attrs[_attrs.STOP]
        attrs: dict[str, Any] = {_attrs.MEMBER: action.member.id}
        params = dict(seg.params)
        if isinstance(action, _Exploit):
            space = dict(seg.distributions)
            rng = np.random.default_rng([self._seed or 0, 11, trial.number])
            params = self._explore(study, action.member, seg, space, rng)
            check_params(params, space, f"{type(self).__name__} explore")
            attrs[_attrs.EXPLOIT] = seg.system_attrs.get(_attrs.MEMBER, action.source.id)
        return Decision(start, min(start + self._interval, self._max), parent=seg.number,
                        params=params, attrs=attrs, claim=_attrs.MEMBER)

    def _decided(self, study: Study, trial: FrozenTrial, decision: Decision) -> None:
        """Remove the checkpoints no trial can continue or copy any more
        (:func:`hpo.continuation.still_needed`), unless ``keep_checkpoints``."""
        if self._keep:
            return
        store = None
        trials = study.get_trials(deepcopy=False)
        needed = still_needed(trials)
        for t in trials:
            latest = checkpoint_of(t.system_attrs)
            if latest is None or t.number in needed or latest[0] in self._removed:
                continue
            store = store or checkpoint_store(study._storage, study._study_id)
            with contextlib.suppress(FileNotFoundError):  # another worker removed it
                store.remove(latest[0])
            self._removed.add(latest[0])

    # -- sampling --------------------------------------------------------------------------

    def _check_objectives(self, study: Study) -> None:
        several = study._is_multi_objective()
        if several and self._objectives == "one":
            raise ValueError(f"{type(self).__name__} optimises one objective; this study has "
                             f"{len(study.directions)} (use hpo.samplers.MOPBT)")
        if not several and self._objectives == "several":
            raise ValueError(f"{type(self).__name__} needs several objectives; this study has "
                             "one (use hpo.samplers.PBT)")

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        if trial.system_attrs.get(_attrs.FIXED_PARAMS):
            return {}
        self._check_objectives(study)
        return self._searcher.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        self._check_objectives(study)
        if not search_space:
            return {}
        return self._searcher.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        self._check_objectives(study)
        return self._searcher.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._searcher.after_trial(study, trial, state, values)
        # Optuna stores this trial's state after after_trial: count it as finished here.
        if state != TrialState.COMPLETE or trial.system_attrs.get(_attrs.STOP, 0) < self._max:
            return  # the population can only finish with a member's last segment
        members = self.population(study)
        mine = trial.system_attrs.get(_attrs.MEMBER)
        if len(members) >= self._n and all(
                (m.done(self._max) and not m.busy) or (m.id == mine and sum(
                    t.state == TrialState.RUNNING for t in m.segments) == 1)
                for m in members):
            # inside study.optimize: end it; outside (ask and tell, hpo's runner) Optuna
            # refuses with a RuntimeError, and the caller asks is_finished itself
            with contextlib.suppress(RuntimeError):
                study.stop()


def _segment_at(member: Member, resource: Number, by_number: dict[int, FrozenTrial]
                ) -> FrozenTrial | None:
    """The COMPLETE segment in ``member``'s history (its own segments and the ones it
    copied) that ends at ``resource``."""
    t = member.last
    while t is not None:
        stop = t.system_attrs.get(_attrs.STOP)
        if stop == resource:
            return t if t.state == TrialState.COMPLETE else None
        if stop is not None and stop < resource:
            return None
        t = by_number.get(t.system_attrs.get(_attrs.PARENT, -1))
    return None
