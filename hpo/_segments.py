"""Reading a study as configurations, each a chain of segment trials.

A scheduler (Hyperband, ASHA, PBT, ...) or :func:`hpo.extend` makes a configuration's
training a chain of trials, each one segment ``[start, stop)`` of the resource, linked
by ``hpo:parent`` (or, for a retry of a failed segment, by ``hpo:retry_of``). This
module is the one place that turns the trials of a study into that picture:

- :func:`segment` gives a trial's ``(start, stop)``, or ``None`` when it has none;
- :func:`config_ids` maps each trial to its configuration (the number of the chain's
  first trial);
- :func:`reached_trials` / :func:`best_trial` / :func:`best_trials` compare
  configurations at :func:`compared_at`, the largest resource that two or more of them
  reached: never a value after one epoch against one after 81, and never a
  continuation that only it made (``hpo.extend``) against the others' shorter runs;
- :func:`standings` gives the best configuration at each resource, :func:`setback`
  a continuation that scored below what it continued, :func:`schedule` the
  hyperparameters a trial's lineage trained with (PBT: across exploits);
- :func:`chains` groups the trials by configuration (or PBT member), :func:`config_keys`
  names each trial's;
- :func:`configurations_at` gives one trial per configuration at a common resource
  (what ``hpo plot`` compares);
- :func:`consumed` adds up the resource the trials used.

Example:
    >>> import optuna
    >>> from optuna.trial import create_trial
    >>> from hpo import _segments
    >>> study = optuna.create_study()
    >>> for value, stop in ((0.1, 1), (0.5, 9), (0.4, 9)):
    ...     study.add_trial(create_trial(value=value, system_attrs={"hpo:stop": stop}))
    >>> _segments.best_trial(study).number    # 0.1 was reached after 1, not 9
    2
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo import _attrs
from hpo._typing import Number

__all__ = ["Segment", "Standing", "best_trial", "best_trials", "chains", "compared_at",
           "config_ids", "config_keys", "configurations_at", "consumed", "reached_trials",
           "schedule", "segment", "setback", "standings"]


def segment(trial: FrozenTrial) -> tuple[Number, Number] | None:
    """``(start, stop)`` of a trial's resource, or ``None`` if it recorded no budget."""
    attrs = trial.system_attrs
    if _attrs.STOP not in attrs:
        return None
    return attrs.get(_attrs.START, 0), attrs[_attrs.STOP]


def config_ids(trials: Sequence[FrozenTrial]) -> dict[int, int]:
    """Trial number -> configuration id (the number of the first trial of its chain).

    A trial continues its ``hpo:parent`` or, as a retry, its ``hpo:retry_of``; a
    scheduler may also record the id itself (``hpo:config``). Trials must be given in
    number order, as ``study.get_trials`` returns them.
    """
    out: dict[int, int] = {}
    for t in trials:
        attrs = t.system_attrs
        link = attrs.get(_attrs.CONFIG)
        if link is None:
            link = attrs.get(_attrs.PARENT, attrs.get(_attrs.RETRY_OF))
            link = out.get(link, link) if link is not None else t.number
        out[t.number] = link
    return out


def chains(trials: Sequence[FrozenTrial]) -> dict[str, list[FrozenTrial]]:
    """The trials of each configuration in number order, keyed ``"member 3"`` for a
    population member (PBT: its segments, exploits included) or ``"config 12"`` for a
    scheduler's or an extended configuration (a chain of continuations)."""
    ids = config_ids(trials)
    member_of: dict[int, int] = {}
    out: dict[str, list[FrozenTrial]] = {}
    for t in trials:
        attrs = t.system_attrs
        member = attrs.get(_attrs.MEMBER, member_of.get(attrs.get(_attrs.RETRY_OF, -1)))
        if member is not None:
            member_of[t.number] = member
            key = f"member {member}"
        else:
            key = f"config {ids[t.number]}"
        out.setdefault(key, []).append(t)
    return out


def consumed(trials: Iterable[FrozenTrial]) -> float:
    """Resource the finished trials used: ``stop - start`` of each, a pruned or failed
    one up to its last report."""
    total = 0.0
    for t in trials:
        seg = segment(t)
        if seg is None or not t.state.is_finished():
            continue
        start, stop = seg
        if t.state != TrialState.COMPLETE and t.intermediate_values:
            stop = min(stop, max(t.intermediate_values) + 1)
        total += max(0.0, stop - start)
    return total


def reached_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The candidates for the best trial: one COMPLETE trial per configuration, at the
    resource :func:`compared_at` gives (:func:`configurations_at` with two or more).

    Trials without a recorded budget are all taken when no trial has one (a study
    without segments); when some have one, trials without a budget are left out.
    """
    return configurations_at(study)[1]


def compared_at(study: optuna.Study) -> Number | None:
    """The resource at which :func:`best_trial` compares configurations: the largest
    that two or more configurations (or PBT members) reached with a COMPLETE segment;
    the largest reached when no resource was reached by two; ``None`` for a study
    without segments.

    A configuration that alone went further (``hpo.extend``, one promotion to a rung no
    other reached yet) is compared where the others are, so a continuation that scored
    worse never becomes the best by being the only one at its resource.
    """
    return configurations_at(study)[0]


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The best COMPLETE trial among those at :func:`compared_at` (one per configuration).

    Raises ``ValueError`` when no trial is complete, as :attr:`optuna.Study.best_trial`.
    """
    if len(study.directions) > 1:
        raise RuntimeError("best_trial: a study with several objectives has best_trials")
    candidates = reached_trials(study)
    if not candidates:
        raise ValueError("no trial is complete yet")
    return _best_of(study, candidates)


def _best_of(study: optuna.Study, trials: Iterable[FrozenTrial]) -> FrozenTrial:
    sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
    return min(trials, key=lambda t: (sign * t.values[0], t.number))


def best_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The Pareto-optimal COMPLETE trials among those at :func:`compared_at`."""
    from optuna.study._multi_objective import _get_pareto_front_trials_by_trials

    return _get_pareto_front_trials_by_trials(reached_trials(study), study.directions)


def config_keys(trials: Sequence[FrozenTrial]) -> dict[int, str]:
    """Trial number -> its configuration as :func:`chains` names it: ``"config 12"``
    (the number of the configuration's first trial, as ``hpo:config``) or, for a PBT
    member, ``"member 3"``; ``hpo best`` and ``hpo status`` number configurations so."""
    return {t.number: key for key, chain in chains(trials).items() for t in chain}


class Standing(NamedTuple):
    """The best configuration at one resource (:func:`standings`)."""

    resource: Number
    configurations: int  # how many configurations (or members) reached it
    best: FrozenTrial  # the best COMPLETE segment ending there


def standings(study: optuna.Study) -> list[Standing]:
    """The best configuration at each resource some COMPLETE segment ends at, by
    increasing resource (one objective; ``[]`` for a study without segments).

    Example:
        >>> import optuna
        >>> from optuna.trial import create_trial
        >>> from hpo import _segments
        >>> study = optuna.create_study(direction="maximize")
        >>> for value, start, stop, parent in ((0.5, 0, 5, None), (0.6, 0, 5, None),
        ...                                    (0.3, 5, 15, 1)):
        ...     attrs = {"hpo:start": start, "hpo:stop": stop}
        ...     attrs |= {} if parent is None else {"hpo:parent": parent}
        ...     study.add_trial(create_trial(value=value, system_attrs=attrs))
        >>> [(s.resource, s.configurations, s.best.number) for s in _segments.standings(study)]
        [(5, 2, 1), (15, 1, 2)]
    """
    at = _by_resource(study.get_trials(deepcopy=False))
    return [Standing(r, len(at[r]), _best_of(study, at[r].values())) for r in sorted(at)]


def _by_resource(trials: Sequence[FrozenTrial]) -> dict[Number, dict[str, FrozenTrial]]:
    """Resource -> configuration (:func:`config_keys`) -> its COMPLETE segment ending
    there; a later segment of a configuration at the same stop (a retry) wins."""
    keys = config_keys(trials)
    at: dict[Number, dict[str, FrozenTrial]] = {}
    for t in trials:  # number order
        if t.state == TrialState.COMPLETE and (seg := segment(t)) is not None:
            at.setdefault(seg[1], {})[keys[t.number]] = t
    return at


def setback(study: optuna.Study, trial: FrozenTrial) -> tuple[FrozenTrial, FrozenTrial] | None:
    """``(latest, ancestor)`` when the latest COMPLETE segment of ``trial``'s
    configuration (the one that went furthest) scored worse than the nearest COMPLETE
    trial it continues; ``None`` when it did not, or continues nothing (one objective).

    Example:
        >>> import optuna
        >>> from optuna.trial import create_trial
        >>> from hpo import _segments
        >>> study = optuna.create_study(direction="maximize")
        >>> study.add_trial(create_trial(value=-0.01, system_attrs={"hpo:stop": 100}))
        >>> study.add_trial(create_trial(value=-1.5, system_attrs={
        ...     "hpo:parent": 0, "hpo:start": 100, "hpo:stop": 400}))
        >>> [t.number for t in _segments.setback(study, study.trials[0])]
        [1, 0]
    """
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    keys = config_keys(trials)
    mine = [t for t in trials if keys[t.number] == keys[trial.number]
            and t.state == TrialState.COMPLETE]
    latest = max(mine, key=lambda t: ((segment(t) or (0, 0))[1], t.number))
    parent = by_number.get(latest.system_attrs.get(_attrs.PARENT, -1))
    while parent is not None and parent.state != TrialState.COMPLETE:  # a retried segment
        parent = by_number.get(parent.system_attrs.get(_attrs.PARENT, -1))
    if parent is None or _best_of(study, (parent, latest)) is not parent \
            or parent.values[0] == latest.values[0]:
        return None
    return latest, parent


class Segment(NamedTuple):
    """One step of a :func:`schedule`: the parameters a trial trained with over
    ``[start, stop)`` of the resource."""

    trial: int
    start: Number
    stop: Number | None  # None: a trial without a budget
    params: dict[str, Any]
    member: int | None  # PBT: the member the segment belongs to
    exploit: int | None  # PBT: the member whose checkpoint it copied, at ``start``


def schedule(study: optuna.Study, trial: FrozenTrial | int) -> list[Segment]:
    """The hyperparameter schedule that produced ``trial``: one :class:`Segment` per
    trial of its lineage, the first first, following ``hpo:parent`` across PBT exploits
    (a copied checkpoint continues the copied member's history).

    A segment's ``stop`` is where the next one started (a crashed segment's retry goes
    on from its last checkpoint); the last one's is the trial's own. A trial that
    continues nothing has a one-segment schedule (``start`` 0 without a budget).

    Example:
        >>> import optuna
        >>> from optuna.trial import create_trial
        >>> from optuna.distributions import FloatDistribution
        >>> from hpo import _segments
        >>> study = optuna.create_study(direction="maximize")
        >>> for lr, start, parent in ((0.1, 0, None), (0.2, 10, 0)):
        ...     attrs = {"hpo:start": start, "hpo:stop": start + 10}
        ...     attrs |= {} if parent is None else {"hpo:parent": parent}
        ...     study.add_trial(create_trial(value=lr, params={"lr": lr}, system_attrs=attrs,
        ...                                  distributions={"lr": FloatDistribution(0, 1)}))
        >>> [(s.start, s.stop, s.params) for s in _segments.schedule(study, 1)]
        [(0, 10, {'lr': 0.1}), (10, 20, {'lr': 0.2})]
    """
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    number = trial if isinstance(trial, int) else trial.number
    if number not in by_number:
        raise ValueError(f"trial: study {study.study_name!r} has no trial {number}")
    chain = [by_number[number]]
    while (parent := chain[-1].system_attrs.get(_attrs.PARENT)) is not None:
        if parent not in by_number or any(t.number == parent for t in chain):
            raise ValueError(f"trial {number}: its lineage is broken at trial {parent}")
        chain.append(by_number[parent])
    chain.reverse()
    out: list[Segment] = []
    for i, t in enumerate(chain):
        start, stop = segment(t) or (0, None)
        if i + 1 < len(chain):
            stop = (segment(chain[i + 1]) or (0, stop))[0]
        attrs = t.system_attrs
        out.append(Segment(t.number, start, stop, dict(t.params), attrs.get(_attrs.MEMBER),
                           attrs.get(_attrs.EXPLOIT)))
    return out


def pruner_conflict(study: optuna.Study, sampler_name: str) -> str | None:
    """Why the study's pruner would fight a sampler that decides continuation (a
    scheduler, PBT), or ``None`` when it has none (``NopPruner``)."""
    from optuna.pruners import NopPruner

    pruner = getattr(study, "pruner", None)
    if pruner is None or isinstance(pruner, NopPruner):
        return None
    return (f"pruner: {type(pruner).__name__} also stops trials, and {sampler_name} already "
            "decides which segments go on; a pruned segment ends its configuration. Create "
            "the study with pruner=optuna.pruners.NopPruner() (hpo.create_study does so "
            "by default for this sampler)")


def configurations_at(study: optuna.Study, at_least: int = 2
                      ) -> tuple[Number | None, list[FrozenTrial]]:
    """One COMPLETE trial per configuration (or PBT member), all at one resource:
    ``(resource, trials in number order)``, what a plot that compares configurations
    draws.

    The resource is the largest at which a COMPLETE segment of ``at_least``
    configurations ends; when no resource has that many, the one most configurations
    reached (the larger on a tie). A configuration continued twice (to 5, 15 and 45)
    counts once, with its value at that resource. A study without segments gives
    ``(None, every COMPLETE trial)``; when some trials recorded a budget, those without
    one are left out, as in :func:`reached_trials`.

    Example:
        >>> import optuna
        >>> from optuna.trial import create_trial
        >>> from hpo import _segments
        >>> study = optuna.create_study()
        >>> for value, start, stop, parent in ((0.5, 0, 5, None), (0.6, 0, 5, None),
        ...                                    (0.3, 5, 15, 0), (0.2, 15, 45, 2)):
        ...     attrs = {"hpo:start": start, "hpo:stop": stop}
        ...     attrs |= {} if parent is None else {"hpo:parent": parent}
        ...     study.add_trial(create_trial(value=value, system_attrs=attrs))
        >>> resource, trials = _segments.configurations_at(study)
        >>> resource, [t.number for t in trials]    # configurations 0 and 1, at 5
        (5, [0, 1])
    """
    if isinstance(at_least, bool) or not isinstance(at_least, int) or at_least < 1:
        raise ValueError(f"at_least: must be an int >= 1, got {at_least!r}")
    trials = study.get_trials(deepcopy=False)
    at = _by_resource(trials)
    if not at:
        return None, [t for t in trials if t.state == TrialState.COMPLETE]
    enough = [r for r, configs in at.items() if len(configs) >= at_least]
    resource = max(enough) if enough else max(at, key=lambda r: (len(at[r]), r))
    return resource, sorted(at[resource].values(), key=lambda t: t.number)
