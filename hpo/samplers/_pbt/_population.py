"""A population read from the study: each member's segments, score and state."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo import _attrs

__all__ = ["Member", "read_population"]


class Member:
    """One member of a population: a chain of segment trials, with exploits in it.

    ``last`` is the latest COMPLETE segment (what the member continues or another member
    copies); ``score`` its (first) value as a reward (higher is better); ``busy`` whether a
    segment of it is RUNNING or WAITING; ``dead`` whether its latest segment failed for
    good (its retries used up).
    """

    __slots__ = ("busy", "dead", "id", "last", "score", "segments")

    def __init__(self, member_id: int) -> None:
        self.id = member_id
        self.segments: list[FrozenTrial] = []
        self.last: FrozenTrial | None = None
        self.score = -math.inf
        self.busy = False
        self.dead = False

    @property
    def stop(self) -> float:
        """Resource reached by the latest COMPLETE segment (0 before the first)."""
        return 0 if self.last is None else self.last.system_attrs[_attrs.STOP]

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.last.params) if self.last is not None else {}

    def done(self, max_resource: float) -> bool:
        return self.stop >= max_resource


def read_population(trials: Sequence[FrozenTrial], direction: StudyDirection
                    ) -> dict[int, Member]:
    """Members by id, from the trials that carry ``hpo:member`` (and their retries)."""
    sign = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0
    member_of: dict[int, int] = {}
    retried = {t.system_attrs[_attrs.RETRY_OF] for t in trials
               if _attrs.RETRY_OF in t.system_attrs}
    members: dict[int, Member] = {}
    for t in trials:
        attrs = t.system_attrs
        mid = attrs.get(_attrs.MEMBER)
        if mid is None and _attrs.RETRY_OF in attrs:
            mid = member_of.get(attrs[_attrs.RETRY_OF])
        if mid is None:
            continue
        member_of[t.number] = mid
        m = members.setdefault(mid, Member(mid))
        m.segments.append(t)
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            m.busy = True
        elif t.state == TrialState.COMPLETE:
            m.last, m.dead = t, False
            value = t.values[0] if t.values else math.nan  # the first objective
            m.score = sign * value if math.isfinite(value) else -math.inf
        elif t.state == TrialState.PRUNED or (t.state == TrialState.FAIL
                                               and t.number not in retried):
            m.dead = True
    return members
