"""What a scheduler does next, decided from the study alone.

The study is read into :class:`Config` snapshots: each configuration's scores at the
rungs it reached (as a loss: lower is better), the segments running or waiting, and the
segment to continue from. The planners are pure functions of those snapshots, so every
worker process on every host reaches the same decision, and a restarted sweep resumes
its brackets where they were.

- :func:`plan_synchronous`: Successive Halving over a bracket of ``n`` configurations,
  rung by rung: rung ``i + 1`` is decided once every configuration of rung ``i`` has a
  result; the IDHB variants differ in how they treat earlier decisions after the
  maximum resource was raised (Brandt et al. 2023, see docs/schedulers.md).
- :func:`plan_asynchronous`: ASHA (Li et al. 2020): promote a configuration as soon as
  it is in the top ``1/eta`` of the results at its rung; never wait.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo import _attrs, _segments

__all__ = ["Config", "New", "Promote", "plan_asynchronous", "plan_synchronous", "read_configs"]

VARIANTS = ("efficient", "preserving", "discarding")
_INF = math.inf


@dataclass
class Config:
    """One configuration of a scheduler, read from its segment trials."""

    id: int
    bracket: str
    params: dict[str, Any]
    scores: dict[int, float] = field(default_factory=dict)  # rung -> loss (inf: failed)
    ends: dict[int, FrozenTrial] = field(default_factory=dict)  # rung -> COMPLETE segment
    busy: set[int] = field(default_factory=set)  # rungs of RUNNING / WAITING segments

    @property
    def top(self) -> int:
        """The highest rung with a finite score, -1 for none."""
        finite = [r for r, s in self.scores.items() if s < _INF]
        return max(finite, default=-1)

    def key(self, rung: int) -> tuple[float, int]:
        return self.scores.get(rung, _INF), self.id


@dataclass(frozen=True)
class Promote:
    """Continue ``config`` up to ``rung``."""

    config: Config
    rung: int


@dataclass(frozen=True)
class New:
    """Start a new configuration in ``bracket`` at its first rung."""

    bracket: str
    rung: int


def read_configs(trials: Sequence[FrozenTrial], levels: Sequence[float],
                 direction: StudyDirection,
                 rung_of: Callable[[float], int | None]) -> dict[str, list[Config]]:
    """The scheduler's configurations by bracket, in id order.

    A configuration is a chain whose first trial carries ``hpo:bracket``. A segment
    counts at the rung its ``stop`` equals; a FAIL that was retried is replaced by its
    retry, a FAIL that was not (retries used up) or a PRUNED segment scores ``inf``.
    """
    ids = _segments.config_ids(trials)
    retried = {t.system_attrs[_attrs.RETRY_OF] for t in trials if _attrs.RETRY_OF in t.system_attrs}
    sign = -1.0 if direction == StudyDirection.MAXIMIZE else 1.0
    configs: dict[int, Config] = {}
    for t in trials:
        cid = ids[t.number]
        if cid == t.number:
            bracket = t.system_attrs.get(_attrs.BRACKET)
            if bracket is None:
                continue
            configs[cid] = Config(cid, bracket, {})
        cfg = configs.get(cid)
        seg = _segments.segment(t)
        if cfg is None or seg is None:
            continue
        rung = rung_of(seg[1])
        if rung is None:
            continue  # e.g. an hpo.extend beyond the ladder
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            cfg.busy.add(rung)
        elif t.state == TrialState.COMPLETE and rung not in cfg.ends:
            value = t.values[0] if t.values else math.nan
            cfg.scores[rung] = sign * value if math.isfinite(value) else _INF
            cfg.ends[rung] = t
            if not cfg.params:
                cfg.params = dict(t.params)
        elif t.state == TrialState.PRUNED or (t.state == TrialState.FAIL
                                               and t.number not in retried):
            cfg.scores.setdefault(rung, _INF)
        if t.number == cid and t.params:
            cfg.params = dict(t.params)
    out: dict[str, list[Config]] = {}
    for cfg in configs.values():
        out.setdefault(cfg.bracket, []).append(cfg)
    return out


def _promotions(todo: list[Config], rung: int) -> list[Promote]:
    return [Promote(c, rung) for c in sorted(todo, key=lambda c: c.key(c.top))]


def plan_synchronous(members: list[Config], first: int, last: int, n: int,
                     keep: Callable[[int], int], variant: str = "efficient"
                     ) -> tuple[list[Promote], int, bool]:
    """Successive Halving of one bracket over rungs ``first..last``.

    Args:
        members: the bracket's configurations, in id order.
        n: how many configurations the bracket holds at its first rung.
        keep: how many of ``size`` configurations go on to the next rung.
        variant: after a deepening, ``"efficient"`` keeps every earlier promotion and
            fills the extra places with the best of the rest; ``"preserving"`` re-decides
            each rung on the enlarged pool and re-admits configurations that already
            have a result at that rung; ``"discarding"`` re-decides without re-admission.

    Returns:
        ``(promotions, new, done)``: the promotions to run now (best first), how many new
        configurations the first rung still needs, and whether the bracket is finished.
    """
    new = max(0, n - len(members))
    current = list(members)
    for rung in range(first, last + 1):
        pending = [c for c in current if rung not in c.scores]
        if pending or (rung == first and new):
            todo = [c for c in pending if not c.busy]
            return _promotions(todo, rung), new if rung == first else 0, False
        if rung == last:
            return [], 0, True
        k = keep(len(current))
        alive = [c for c in current if c.scores[rung] < _INF]
        if variant == "efficient":
            kept = [c for c in alive if rung + 1 in c.scores or rung + 1 in c.busy]
            rest = sorted((c for c in alive if c not in kept), key=lambda c: c.key(rung))
            current = kept + rest[:max(0, k - len(kept))]
        elif variant == "preserving":
            pool = alive + [c for c in members if c not in current
                            and c.scores.get(rung, _INF) < _INF]
            current = sorted(pool, key=lambda c: c.key(rung))[:k]
        elif variant == "discarding":
            current = sorted(alive, key=lambda c: c.key(rung))[:k]
        else:
            raise ValueError(f"variant: {variant!r} is not one of {VARIANTS}")
        if not current:
            return [], 0, True
    return [], 0, True


def plan_asynchronous(members: list[Config], first: int, last: int, eta: float
                      ) -> list[Promote]:
    """ASHA over rungs ``first..last``: promotions available now, highest rung first.

    A configuration is promotable from rung ``i`` when it is among the best
    ``floor(results_i / eta)`` results at rung ``i`` and has no segment at rung ``i + 1``.
    """
    out: list[Promote] = []
    for rung in range(last - 1, first - 1, -1):
        at = [c for c in members if rung in c.scores]
        k = int(len(at) // eta)
        if k == 0:
            continue
        best = sorted((c for c in at if c.scores[rung] < _INF), key=lambda c: c.key(rung))[:k]
        out += [Promote(c, rung + 1) for c in best
                if rung + 1 not in c.scores and not c.busy and c.top == rung]
    return out
