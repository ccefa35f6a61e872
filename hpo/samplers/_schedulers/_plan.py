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
from dataclasses import dataclass
from typing import Any

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo import _attrs

__all__ = ["Config", "ConfigReader", "New", "Promote", "plan_asynchronous", "plan_synchronous"]

VARIANTS = ("efficient", "preserving", "discarding")
_INF = math.inf


class Config:
    """One configuration of a scheduler, read from its segment trials.

    ``scores``: rung -> loss (lower is better; ``inf`` for a failed or pruned segment);
    ``ends``: rung -> the COMPLETE segment that reached it; ``busy``: rungs of RUNNING or
    WAITING segments.
    """

    __slots__ = ("_first", "bracket", "busy", "ends", "id", "scores")

    def __init__(self, first: FrozenTrial, bracket: str) -> None:
        self.id, self.bracket, self._first = first.number, bracket, first
        self.scores: dict[int, float] = {}
        self.ends: dict[int, FrozenTrial] = {}
        self.busy: set[int] = set()

    @property
    def params(self) -> dict[str, Any]:
        """The configuration's parameters (of its first segment, or of a finished one)."""
        if self._first.params or not self.ends:
            return dict(self._first.params)
        return dict(next(iter(self.ends.values())).params)

    @property
    def top(self) -> int:
        """The highest rung with a finite score, -1 for none."""
        return max((r for r, s in self.scores.items() if s < _INF), default=-1)

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


class ConfigReader:
    """Reads a study's trials into the scheduler's configurations, by bracket.

    A configuration is a chain whose first trial carries ``hpo:bracket``. A segment
    counts at the rung its ``stop`` equals; a FAIL that was retried is replaced by its
    retry, a FAIL that was not (retries used up) or a PRUNED segment scores ``inf``.

    COMPLETE and PRUNED trials never change, so each is folded in once; RUNNING,
    WAITING and FAIL trials (a FAIL may still be retried) are read afresh every time.
    """

    def __init__(self, direction: StudyDirection, rung_of: Callable[[float], int | None]):
        self._sign = -1.0 if direction == StudyDirection.MAXIMIZE else 1.0
        self._rung_of = rung_of
        self._ids: dict[int, int] = {}  # settled trial -> configuration id
        self._settled: set[int] = set()
        self._retried: set[int] = set()  # FAIL trials a settled retry replaced
        self._configs: dict[int, Config] = {}
        self._brackets: dict[str, list[Config]] = {}
        self._overlay: list[tuple[Config, int | None]] = []  # (config, rung scored inf)

    def _config_of(self, t: FrozenTrial, ids: dict[int, int]) -> int:
        attrs = t.system_attrs
        link = attrs.get(_attrs.CONFIG)
        if link is None:
            link = attrs.get(_attrs.PARENT, attrs.get(_attrs.RETRY_OF))
            return t.number if link is None else ids.get(link, self._ids.get(link, link))
        return link

    def read(self, trials: Sequence[FrozenTrial]) -> dict[str, list[Config]]:
        for cfg, rung in self._overlay:  # undo what the unsettled trials said last time
            cfg.busy.clear()
            if rung is not None:
                cfg.scores.pop(rung, None)
        self._overlay = []
        settled, sign = self._settled, self._sign
        unsettled: list[tuple[FrozenTrial, Config, int]] = []
        fresh: dict[int, int] = {}
        retried = set(self._retried)
        for t in trials:
            number = t.number
            if number in settled:
                continue
            attrs = t.system_attrs
            cid = self._config_of(t, fresh)
            fresh[number] = cid
            if _attrs.RETRY_OF in attrs:
                retried.add(attrs[_attrs.RETRY_OF])
            if cid == number and number not in self._configs:
                bracket = attrs.get(_attrs.BRACKET)
                if bracket is not None:
                    cfg = Config(t, bracket)
                    self._configs[number] = cfg
                    self._brackets.setdefault(bracket, []).append(cfg)
            cfg = self._configs.get(cid)
            stop = attrs.get(_attrs.STOP)
            rung = None if cfg is None or stop is None else self._rung_of(stop)
            state = t.state
            if state in (TrialState.COMPLETE, TrialState.PRUNED):
                settled.add(number)
                self._ids[number] = cid
                if _attrs.RETRY_OF in attrs:
                    self._retried.add(attrs[_attrs.RETRY_OF])
                if cfg is None or rung is None:
                    continue
                if state == TrialState.PRUNED:
                    cfg.scores.setdefault(rung, _INF)
                elif rung not in cfg.ends:
                    value = t.value if t.value is not None else math.nan
                    cfg.scores[rung] = sign * value if math.isfinite(value) else _INF
                    cfg.ends[rung] = t
            elif cfg is not None and rung is not None:
                unsettled.append((t, cfg, rung))
        for t, cfg, rung in unsettled:
            if t.state == TrialState.FAIL:
                if t.number not in retried and rung not in cfg.scores:
                    cfg.scores[rung] = _INF
                    self._overlay.append((cfg, rung))
            else:  # RUNNING or WAITING
                cfg.busy.add(rung)
                self._overlay.append((cfg, None))
        return self._brackets


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
