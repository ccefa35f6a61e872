"""The one template of every sampler that decides continuation (schedulers, FreezeThaw,
population-based training).

Before a trial starts, such a sampler reads the study and returns a :class:`Decision`:
the segment ``[start, stop)`` the trial trains, the trial whose checkpoint it continues,
its fixed parameters and the attributes that place it (configuration, bracket, rung or
member). :meth:`ContinuationSampler.before_trial`, written once here, does the rest:

1. under the sampler's lock (one process), ask the subclass for a decision
   (:meth:`~ContinuationSampler._next`); ``None`` means "nothing to start now": wait
   and ask again;
2. write it on the trial (:func:`hpo.continuation.set_budget` and system attributes,
   Optuna's fixed parameters included);
3. re-read the study for a running or waiting trial that claimed the same thing (the
   decision's ``claim``: a configuration or member, at the same ``stop``) in another
   process meanwhile; if one did, take the decision's ``fallback``, or without one ask
   again after a pause;
4. a decision that holds is handed to :meth:`~ContinuationSampler._decided`.

A decision that cannot be made (a ``ValueError``, :class:`hpo.exceptions.PopulationFinished`
included) fails the trial with the reason before it is raised: nothing stays RUNNING.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import time
from typing import Any

from optuna.samplers import BaseSampler
from optuna.storages import InMemoryStorage
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from hpo import _attrs, _segments
from hpo._failures import fail_trial
from hpo._typing import Number
from hpo.continuation import set_budget
from hpo.samplers._local import ProcessLocal

__all__ = ["ContinuationSampler", "Decision"]

_logger = logging.getLogger("hpo.samplers")

_POLL = 0.2  # seconds between looks at the study while a trial waits for a decision


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the next trial trains: the segment ``[start, stop)`` of a configuration.

    Attributes:
        start, stop: the resource range (:func:`hpo.budget` returns it to the trial).
        parent: number of the trial whose checkpoint it continues; ``None``: from zero.
        params: its fixed parameters (Optuna's ``fixed_params``); empty: the searcher
            samples them.
        attrs: system attributes the trial records (and a retry keeps), e.g.
            ``hpo:config``, ``hpo:rung`` or ``hpo:member``.
        claim: the key in ``attrs`` whose value, with ``stop``, no two running or
            waiting trials may share (a promotion of one configuration, a member's next
            segment); ``None``: nothing to claim (a new configuration).
        fallback: the decision taken when another trial made the same claim first;
            ``None``: decide again after a pause.
    """

    start: Number
    stop: Number
    parent: int | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    claim: str | None = None
    fallback: Decision | None = None


class ContinuationSampler(ProcessLocal, BaseSampler):
    """Base of samplers that decide, before a trial starts, which trial it continues.

    Subclasses define :meth:`_next` (and may define :meth:`_decided`); Optuna's
    sampling methods then fill in the parameters a decision leaves open.
    """

    #: ``hpo.create_study`` gives such a sampler no pruner by default (Optuna's median
    #: pruner would stop segments it scheduled); see :mod:`hpo.samplers.protocols`.
    decides_continuation = True
    #: the studies it decides for: ``"one"`` objective or ``"several"``; for the others
    #: it does nothing in ``before_trial`` and its sampling methods say why.
    _objectives = "one"
    _pruner_warned = False

    # -- what subclasses define ----------------------------------------------------------

    @abc.abstractmethod
    def _next(self, study: Study, trial: FrozenTrial) -> Decision | None:
        """The decision for ``trial`` (called under the lock), or ``None`` to wait."""

    def _decided(self, study: Study, trial: FrozenTrial, decision: Decision) -> None:
        """Called under the lock once ``decision`` holds (no other trial claimed it)."""

    # -- the template ----------------------------------------------------------------------

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if study._is_multi_objective() != (self._objectives == "several"):
            return  # sample_relative / sample_independent say why
        if _attrs.STOP in trial.system_attrs:
            return  # decided already: a retry, an hpo.extend, or this trial in a worker
        self._warn_about_pruner(study)
        written: Decision | None = None  # what the trial carries from an earlier pass
        try:
            while True:
                with self._lock:
                    decision = self._next(study, trial)
                    if decision is not None:
                        _write(study, trial, decision, replaces=written)
                        written = decision
                        if not _claimed_elsewhere(study, trial, decision):
                            self._decided(study, trial, decision)
                            return
                        if decision.fallback is not None:
                            _write(study, trial, decision.fallback, replaces=decision)
                            self._decided(study, trial, decision.fallback)
                            return
                time.sleep(_POLL)
        except ValueError as exc:  # nothing may stay RUNNING: fail the trial, then say why
            fail_trial(study._storage, trial._trial_id, str(exc))
            raise

    def _warn_about_pruner(self, study: Study) -> None:
        """Once per sampler: say so when the study's pruner would stop its segments."""
        if not self._pruner_warned and (why := _segments.pruner_conflict(
                study, type(self).__name__)) is not None:
            self._pruner_warned = True
            _logger.warning(why)


def _write(study: Study, trial: FrozenTrial, decision: Decision,
           replaces: Decision | None = None) -> None:
    """Record ``decision`` on ``trial``, in the storage and on the object Optuna reads its
    fixed parameters from after ``before_trial``."""
    storage, tid = study._storage, trial._trial_id
    if replaces is not None:  # storage cannot delete an attribute: what no longer holds is None
        stale = [k for k in replaces.attrs if k not in decision.attrs]
        if replaces.parent is not None and decision.parent is None:
            stale.append(_attrs.PARENT)
        for key in stale:
            storage.set_trial_system_attr(tid, key, None)
            trial.system_attrs.pop(key, None)
    set_budget(study, trial, start=decision.start, stop=decision.stop, parent=decision.parent)
    for key, value in decision.attrs.items():
        storage.set_trial_system_attr(tid, key, value)
    storage.set_trial_system_attr(tid, _attrs.FIXED_PARAMS, decision.params)
    trial.system_attrs.update(decision.attrs)
    trial.system_attrs[_attrs.FIXED_PARAMS] = decision.params


def _claimed_elsewhere(study: Study, trial: FrozenTrial, decision: Decision) -> bool:
    """Whether another running or waiting trial holds the same claim at the same stop
    (decided in another process: in one, the lock has serialised the decisions)."""
    key = decision.claim
    if key is None or isinstance(study._storage, InMemoryStorage):
        return False
    value = decision.attrs[key]
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        a = t.system_attrs
        if t.number != trial.number and a.get(key) == value \
                and a.get(_attrs.STOP) == decision.stop and _attrs.RETRY_OF not in a:
            return True
    return False
