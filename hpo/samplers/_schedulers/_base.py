"""The sampler shell every scheduler shares: decide in ``before_trial``, then sample.

A scheduler is an Optuna sampler. Before each trial starts it decides, from the study
alone (:mod:`._plan`), whether the trial is

- a **new configuration** at the first rung of a bracket: its parameters come from the
  ``searcher`` (any Optuna sampler), which sees each configuration once, with its value
  at the highest rung that has enough results (as BOHB fits its model), or
- the **promotion** of a paused configuration: the same parameters (as Optuna fixed
  parameters), parent = the segment that reached its last rung, budget
  ``(r_k, r_{k+1})`` through :func:`hpo.set_budget`; without a checkpoint the
  configuration is retrained from zero, ``(0, r_{k+1})``.

Two workers never run the same promotion: in one process a lock serialises the
decisions; across processes a trial re-reads the study after writing its claim and, if
another trial claimed the same promotion meanwhile, becomes a new configuration instead.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from hpo import _attrs
from hpo._typing import Number
from hpo.continuation import checkpoint_of
from hpo.samplers._continuing import ContinuationSampler, Decision
from hpo.samplers._schedulers._ladder import Ladder
from hpo.samplers._schedulers._plan import (
    VARIANTS,
    Config,
    ConfigReader,
    New,
    Promote,
    plan_asynchronous,
    plan_synchronous,
)
from hpo.samplers.protocols import DecidesContinuation, ModelsResource

__all__ = ["Scheduler"]

_logger = logging.getLogger("hpo.samplers")


class Scheduler(ContinuationSampler):
    """Base of hpo's promotion schedulers; use a subclass (:class:`~hpo.samplers.ASHA`, ...).

    Subclasses say which brackets an iteration has (:meth:`_firsts`), how many
    configurations a synchronous bracket holds (:meth:`_size`) and how many go on from
    a rung (:meth:`_keep`).
    """

    def __init__(self, *, min_resource: Number, max_resource: Number,
                 reduction_factor: float, searcher: BaseSampler | None, seed: int | None,
                 synchronous: bool, variant: str = "efficient") -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant: {variant!r} is not one of {VARIANTS}")
        if searcher is not None and not isinstance(searcher, BaseSampler):
            raise ValueError(f"searcher: expected an optuna sampler, got {type(searcher).__name__}")
        if isinstance(searcher, DecidesContinuation):
            raise ValueError(f"searcher: {type(searcher).__name__} decides continuation itself "
                             "and cannot be a searcher; use a sampler that proposes "
                             "parameters (TPE, GPSampler, MultiFidelityGPSampler, ...)")
        if not isinstance(synchronous, bool):
            raise ValueError(f"synchronous: must be True or False, got {synchronous!r}")
        self._ladder = Ladder(min_resource, max_resource, reduction_factor)
        self._searcher = searcher if searcher is not None else RandomSampler(seed=seed)
        self._seed = seed
        self._synchronous = synchronous
        self._variant = variant
        self._warned: set[int] = set()
        self._reset_local()

    _local = ("_seen", "_views", "_readers", "_finished")

    def _reset_local(self) -> None:
        super()._reset_local()
        self._seen: tuple[int, dict[str, list[Config]]] | None = None
        self._views: dict[int, Study] = {}
        self._readers: dict[tuple[int, int, Number], ConfigReader] = {}
        self._finished: dict[int, set[str]] = {}  # top rung -> brackets known finished

    # -- what subclasses define ----------------------------------------------------------

    def _firsts(self, top: int) -> list[int]:
        """First rungs of the brackets of one iteration, in the order they run."""
        return [0]

    def _size(self, first: int, top: int) -> int:
        """How many configurations a synchronous bracket starting at ``first`` holds."""
        return math.ceil(self._ladder.eta ** (top - first))

    def _keep(self, size: int) -> int:
        """How many of ``size`` configurations go on to the next rung."""
        return int(size // self._ladder.eta)

    def reseed_rng(self) -> None:
        self._searcher.reseed_rng()

    # -- the study's ladder ----------------------------------------------------------------

    def levels(self, study: Study) -> list[Number]:
        """The rung resources this study runs, lowest first (after any deepening)."""
        ladder, current = self._ladder_of(study)
        return ladder.levels(current)

    def _ladder_of(self, study: Study) -> tuple[Ladder, Number]:
        storage, sid = study._storage, study._study_id
        attrs = storage.get_study_system_attrs(sid)
        own = self._ladder
        stored = attrs.get(_attrs.SCHEDULER_LADDER)
        if stored is None:
            storage.set_study_system_attr(sid, _attrs.SCHEDULER_LADDER,
                                          [own.min_resource, own.max_resource, own.eta])
            return own, attrs.get(_attrs.SCHEDULER_MAX, own.max_resource)
        lo, hi, eta = stored
        if [lo, eta] != [own.min_resource, own.eta]:
            raise ValueError(
                f"min_resource / reduction_factor: study {study.study_name!r} was scheduled "
                f"with min_resource={lo}, max_resource={hi}, reduction_factor={eta}; this "
                f"scheduler has min_resource={own.min_resource}, reduction_factor={own.eta}")
        base = own if hi == own.max_resource else Ladder(lo, hi, eta)
        current = attrs.get(_attrs.SCHEDULER_MAX, hi)
        if own.max_resource > current:  # e.g. the sweep file's max_resource was raised
            base.deepenings(own.max_resource)  # must be a deepening of the study's ladder
            current = own.max_resource
            storage.set_study_system_attr(sid, _attrs.SCHEDULER_MAX, current)
        return base, current

    def deepen(self, study: Study, max_resource: Number) -> list[Number]:
        """Raise the study's maximum resource to ``max_resource``; returns the new rungs.

        Running or finished, the study goes on from where it is: each bracket gets
        the rungs above its old top, every result and checkpoint is reused, and new
        configurations fill the brackets to their new sizes (Iterative Deepening
        Hyperband). ``max_resource`` must be ``max_resource * reduction_factor**m``.
        """
        ladder, current = self._ladder_of(study)
        if isinstance(max_resource, bool) or not isinstance(max_resource, (int, float)) \
                or max_resource <= current:
            raise ValueError(f"max_resource: must exceed the study's current maximum resource "
                             f"{current}, got {max_resource!r}")
        levels = ladder.levels(max_resource)
        study._storage.set_study_system_attr(study._study_id, _attrs.SCHEDULER_MAX, max_resource)
        return levels

    # -- deciding --------------------------------------------------------------------------

    def configurations(self, study: Study) -> dict[str, list[Config]]:
        """The scheduler's configurations by bracket (``"iteration/first rung"``)."""
        ladder, current = self._ladder_of(study)
        key = (id(study._storage), study._study_id, current)
        reader = self._readers.get(key)
        if reader is None:
            levels = ladder.levels(current)
            exact = {r: j for j, r in enumerate(levels)}

            def rung_of(resource: Number) -> int | None:
                j = exact.get(resource)
                return j if j is not None else ladder.index(levels, resource)

            reader = ConfigReader(study.direction, rung_of)
            self._readers = {key: reader}  # one study at a time
            self._finished = {}
        return reader.read(study.get_trials(deepcopy=False))

    def brackets(self, study: Study) -> list[dict[str, Any]]:
        """Progress of every bracket: its rungs, how many configurations have a result
        at each, how many segments run, and (synchronous) whether it is finished.

        Example:
            >>> import hpo, optuna
            >>> sampler = hpo.samplers.SuccessiveHalving(1, 4, reduction_factor=2, seed=0)
            >>> sampler.brackets(optuna.create_study(sampler=sampler))
            []
        """
        ladder, current = self._ladder_of(study)
        levels = ladder.levels(current)
        top = len(levels) - 1
        out = []
        for key, members in sorted(self.configurations(study).items(),
                                   key=lambda kv: tuple(int(x) for x in kv[0].split("/"))):
            first = int(key.split("/")[1])
            done = self._synchronous and plan_synchronous(
                members, first, top, self._size(first, top), self._keep, self._variant)[2]
            out.append({"bracket": key, "rungs": levels[first:],
                        "results": [sum(1 for c in members if r in c.scores)
                                    for r in range(first, top + 1)],
                        "running": sum(1 for c in members if c.busy), "done": bool(done)})
        return out

    def _decide(self, study: Study, trial: FrozenTrial, configs: dict[str, list[Config]],
                top: int) -> Promote | New:
        if self._synchronous:
            # A finished bracket stays finished until the ladder changes (a deepening
            # makes a new reader): no new configuration joins it, nothing in it is pending.
            finished = self._finished.setdefault(top, set())
            iterations = [int(key.split("/")[0]) for key in configs] or [-1]
            for it in range(0, max(iterations) + 2):
                for first in self._firsts(top):
                    key = f"{it}/{first}"
                    if key in finished:
                        continue
                    promos, new, done = plan_synchronous(
                        configs.get(key, []), first, top, self._size(first, top), self._keep,
                        self._variant)
                    if promos:
                        return promos[0]
                    if new:
                        return New(key, first)
                    if done and not any(math.isinf(v) for c in configs.get(key, [])
                                        for v in c.scores.values()):
                        finished.add(key)  # (one with a failure may still see a retry)
            raise AssertionError("unreachable: a new iteration always has room")
        firsts = self._firsts(top)
        for first in firsts:
            promos = plan_asynchronous(configs.get(f"0/{first}", []), first, top,
                                       self._ladder.eta)
            if promos:
                return promos[0]
        if len(firsts) == 1:
            return New(f"0/{firsts[0]}", firsts[0])
        sizes = np.array([self._size(f, top) for f in firsts], dtype=float)
        rng = np.random.default_rng([self._seed or 0, trial.number])
        first = firsts[int(rng.choice(len(firsts), p=sizes / sizes.sum()))]
        return New(f"0/{first}", first)

    def _next(self, study: Study, trial: FrozenTrial) -> Decision:
        ladder, current = self._ladder_of(study)
        levels = ladder.levels(current)
        configs = self.configurations(study)
        self._seen = (trial._trial_id, configs)  # for the searcher's view below
        _check_budget_read(configs, self._warned)
        action = self._decide(study, trial, configs, len(levels) - 1)
        if isinstance(action, New):
            return _new(trial, action, levels)
        cfg = action.config
        parent = cfg.ends[cfg.top]
        attrs = {_attrs.CONFIG: cfg.id, _attrs.BRACKET: cfg.bracket, _attrs.RUNG: action.rung}
        # another process may take the same promotion meanwhile: then a new configuration
        fallback = _new(trial, New(cfg.bracket, _first(action)), levels)
        latest = checkpoint_of(parent.system_attrs)
        if latest is None:  # nothing to continue from: retrain from zero
            return Decision(0, levels[action.rung], params=cfg.params, attrs=attrs,
                            claim=_attrs.CONFIG, fallback=fallback)
        start = latest[1] if latest[1] is not None else levels[cfg.top]
        return Decision(start, levels[action.rung], parent=parent.number, params=cfg.params,
                        attrs=attrs, claim=_attrs.CONFIG, fallback=fallback)

    # -- sampling --------------------------------------------------------------------------

    def _check_single(self, study: Study) -> None:
        if study._is_multi_objective():
            raise ValueError(f"{type(self).__name__} schedules one objective; this study has "
                             f"{len(study.directions)} (use a multi-objective sampler)")

    def _view(self, study: Study, trial: FrozenTrial) -> Study:
        """The study as the searcher sees it: one trial per configuration, with its value
        at the highest rung where at least ``dimensions + 2`` configurations have one; a
        searcher that models the resource itself (``models_resource``) sees the study."""
        if isinstance(self._searcher, ModelsResource):
            return study
        cached = self._views.get(trial._trial_id)
        if cached is not None:
            return cached
        seen = self._seen
        by_bracket = seen[1] if seen is not None and seen[0] == trial._trial_id \
            else self.configurations(study)
        configs = [c for cs in by_bracket.values() for c in cs]
        counts: Counter[int] = Counter(r for c in configs for r, v in c.scores.items()
                                       if v < math.inf)
        dims = max((len(c.params) for c in configs), default=0)
        enough = [r for r, n in counts.items() if n >= dims + 2]
        rung = max(enough) if enough else 0
        shown = [c.ends[rung] for c in configs if rung in c.ends]
        running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                   if t.system_attrs.get(_attrs.CONFIG, t.number) == t.number]
        view = _StudyView(study, sorted(shown + running, key=lambda t: t.number))
        self._views = {trial._trial_id: view}  # one trial at a time: keep only the latest
        return view

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        if study._is_multi_objective():
            return {}
        if trial.system_attrs.get(_attrs.FIXED_PARAMS):
            return {}  # a promotion: its parameters are fixed
        return self._searcher.infer_relative_search_space(self._view(study, trial), trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        self._check_single(study)
        if not search_space:
            return {}
        return self._searcher.sample_relative(self._view(study, trial), trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        self._check_single(study)
        return self._searcher.sample_independent(self._view(study, trial), trial, param_name,
                                                 param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._searcher.after_trial(study, trial, state, values)


def _first(action: Promote) -> int:
    return int(action.config.bracket.split("/")[1])


def _new(trial: FrozenTrial, action: New, levels: Sequence[Number]) -> Decision:
    """A new configuration (its id is the trial's number) at the bracket's first rung."""
    return Decision(0, levels[action.rung], attrs={
        _attrs.CONFIG: trial.number, _attrs.BRACKET: action.bracket, _attrs.RUNG: action.rung})


def _check_budget_read(configs: dict[str, list[Config]], warned: set[int]) -> None:
    """Refuse an objective that trains past its segment: it reported steps but never
    asked :func:`hpo.budget` for its range. One without reports (a plain function of
    the parameters) gets a warning: promotions then re-run it unchanged."""
    for cs in configs.values():
        for c in cs:
            if not c.ends:
                continue
            t = min(c.ends.values(), key=lambda t: t.number)
            if t.system_attrs.get(_attrs.BUDGET_READ):
                return
            if t.intermediate_values:
                raise ValueError(
                    f"objective: trial {t.number} reported steps but never asked "
                    "hpo.budget(trial) for its range; a scheduler's trials must train "
                    "hpo.budget(trial) from hpo.resume(trial) (docs/schedulers.md)")
            if t.number not in warned:
                warned.add(t.number)
                _logger.warning("trial %d did not ask hpo.budget(trial) for its range: a "
                                "scheduler's promotions re-run such an objective unchanged",
                                t.number)
            return


class _StudyView:
    """A study whose trials are a given list; everything else is the study's."""

    def __init__(self, study: Study, trials: list[FrozenTrial]) -> None:
        self._study, self._trials = study, trials

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def get_trials(self, deepcopy: bool = True, states: Sequence[TrialState] | None = None
                   ) -> list[FrozenTrial]:
        out = [t for t in self._trials if states is None or t.state in states]
        if deepcopy:
            import copy

            out = copy.deepcopy(out)
        return out

    def _get_trials(self, deepcopy: bool = True, states: Sequence[TrialState] | None = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        return self.get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()
