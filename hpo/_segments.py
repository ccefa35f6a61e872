"""Reading a study as configurations, each a chain of segment trials.

A scheduler (Hyperband, ASHA, PBT, ...) or :func:`hpo.extend` makes a configuration's
training a chain of trials, each one segment ``[start, stop)`` of the resource, linked
by ``hpo:parent`` (or, for a retry of a failed segment, by ``hpo:retry_of``). This
module is the one place that turns the trials of a study into that picture:

- :func:`segment` gives a trial's ``(start, stop)``, or ``None`` when it has none;
- :func:`config_ids` maps each trial to its configuration (the number of the chain's
  first trial);
- :func:`reached_trials` / :func:`best_trial` / :func:`best_trials` compare
  configurations at the largest resource any of them reached, never a value after one
  epoch against one after 81;
- :func:`chains` groups the trials by configuration (or PBT member);
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

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo import _attrs
from hpo._typing import Number

__all__ = ["best_trial", "best_trials", "chains", "config_ids", "consumed", "reached_trials",
           "segment"]


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
    """The COMPLETE trials at the largest resource any COMPLETE trial reached.

    Trials without a recorded budget are all taken when no trial has one (a study
    without segments); when some have one, trials without a budget are left out.
    """
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    stops = [seg[1] for t in done if (seg := segment(t)) is not None]
    if not stops:
        return list(done)
    top = max(stops)
    return [t for t in done if (seg := segment(t)) is not None and seg[1] == top]


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The best COMPLETE trial among those at the largest resource reached.

    Raises ``ValueError`` when no trial is complete, as :attr:`optuna.Study.best_trial`.
    """
    if len(study.directions) > 1:
        raise RuntimeError("best_trial: a study with several objectives has best_trials")
    candidates = reached_trials(study)
    if not candidates:
        raise ValueError("no trial is complete yet")
    sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
    return min(candidates, key=lambda t: (sign * t.values[0], t.number))


def best_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The Pareto-optimal COMPLETE trials among those at the largest resource reached."""
    from optuna.study._multi_objective import _get_pareto_front_trials_by_trials

    return _get_pareto_front_trials_by_trials(reached_trials(study), study.directions)


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
