"""Prompt templates of :class:`hpo.samplers.LLMSampler`, the search space as text and as
a JSON schema, and the history summarised to a context budget.

Templates are ``str.format`` strings; the fields they may use are ``{task}``,
``{space}``, ``{objective}``, ``{n}`` and, for ``candidates``, ``{history}`` and
``{summary}``.

Example:
    >>> from optuna.distributions import FloatDistribution
    >>> print(describe_space({"lr": FloatDistribution(1e-5, 1e-1, log=True)}))
    - lr: float in [1e-05, 0.1], log scale
"""

from __future__ import annotations

import dataclasses
import json
import math
import string
from collections.abc import Sequence
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

__all__ = ["Prompts", "describe_space", "history", "schema_for"]

SYSTEM = ("You are an expert in machine learning and hyperparameter optimisation. You answer "
          "with JSON only.")
WARM_START = """Task: {task}

Search space (every parameter is required):
{space}

{objective}

Propose {n} diverse configurations that you expect to do well on this task, as the start \
of a Bayesian optimisation. Answer with one JSON object {{"configs": [...]}} holding {n} \
objects, each mapping every parameter name to its value."""
CANDIDATES = """Task: {task}

Search space (every parameter is required):
{space}

{objective}

Trials so far ({summary}), one JSON object per line:
{history}

Propose {n} new configurations, different from those tried, that are likely to beat the \
best so far. Answer with one JSON object {{"configs": [...]}} holding {n} objects, each \
mapping every parameter name to its value."""

_FIELDS = {"warm_start": {"task", "space", "objective", "n"},
           "candidates": {"task", "space", "objective", "n", "history", "summary"},
           "system": set()}


@dataclasses.dataclass(frozen=True)
class Prompts:
    """The templates; replace any of them (``Prompts(candidates="...")``)."""

    system: str = SYSTEM
    warm_start: str = WARM_START
    candidates: str = CANDIDATES

    def __post_init__(self) -> None:
        for name, allowed in _FIELDS.items():
            template = getattr(self, name)
            if not isinstance(template, str):
                raise ValueError(f"prompts.{name}: must be a string, got {template!r}")
            try:
                used = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            except ValueError as exc:
                raise ValueError(f"prompts.{name}: not a format string: {exc}") from None
            unknown = used - allowed
            if unknown:
                raise ValueError(f"prompts.{name}: unknown field(s) {sorted(unknown)}; allowed: "
                                 f"{sorted(allowed) or 'none'}")


def _number(x: float) -> str:
    return f"{x:.6g}"


def describe_space(space: dict[str, BaseDistribution]) -> str:
    """One line per parameter: its type, range or values, scale and step."""
    lines = []
    for name, d in space.items():
        if isinstance(d, CategoricalDistribution):
            lines.append(f"- {name}: one of {json.dumps(list(d.choices), default=str)}")
            continue
        assert isinstance(d, (FloatDistribution, IntDistribution))
        kind = "integer" if isinstance(d, IntDistribution) else "float"
        extra = ", log scale" if d.log else ""
        if d.step is not None and not (isinstance(d, IntDistribution) and d.step == 1):
            extra += f", multiple of {_number(d.step)} from {_number(d.low)}"
        lines.append(f"- {name}: {kind} in [{_number(d.low)}, {_number(d.high)}]{extra}")
    return "\n".join(lines)


def schema_for(space: dict[str, BaseDistribution], n: int) -> dict[str, Any]:
    """The JSON schema of an answer holding ``n`` configurations of ``space``."""
    props: dict[str, Any] = {}
    for name, d in space.items():
        if isinstance(d, CategoricalDistribution):
            props[name] = {"enum": list(d.choices)}
        else:
            assert isinstance(d, (FloatDistribution, IntDistribution))
            props[name] = {"type": "integer" if isinstance(d, IntDistribution) else "number",
                           "minimum": d.low, "maximum": d.high,
                           "description": "log scale" if d.log else "linear scale"}
    item = {"type": "object", "properties": props, "required": list(space),
            "additionalProperties": False}
    return {"type": "object", "additionalProperties": False, "required": ["configs"],
            "properties": {"configs": {"type": "array", "items": item, "minItems": n,
                                       "maxItems": n}}}


def objective_text(directions: Sequence[StudyDirection]) -> str:
    if len(directions) == 1:
        return f"The objective value is {directions[0].name.lower()}d."
    goals = ", ".join(f"values[{i}] is {d.name.lower()}d" for i, d in enumerate(directions))
    return f"There are {len(directions)} objectives: {goals}."


def _line(t: FrozenTrial, space: dict[str, BaseDistribution]) -> str:
    params = {k: v for k, v in t.params.items() if k in space}
    if t.state == TrialState.COMPLETE:
        value: Any = t.values[0] if len(t.values) == 1 else t.values
    elif t.state == TrialState.FAIL:
        value = "failed"
    elif t.state == TrialState.PRUNED:
        value = "stopped early"
    else:
        value = "running"
    return json.dumps({"params": params, "value": value}, default=str)


def history(trials: Sequence[FrozenTrial], space: dict[str, BaseDistribution],
            directions: Sequence[StudyDirection], max_chars: int) -> tuple[str, str]:
    """``(lines, summary)``: the trials as JSON lines, cut to ``max_chars`` by keeping
    the best and the most recent (in trial order), and a summary of what is shown."""
    trials = [t for t in trials if t.params and any(k in space for k in t.params)]
    lines = {t.number: _line(t, space) for t in trials}
    sign = 1.0 if directions[0] == StudyDirection.MINIMIZE else -1.0
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values
            and math.isfinite(t.values[0])]
    ranked = [t.number for t in sorted(done, key=lambda t: sign * t.values[0])]
    recent = [t.number for t in sorted(trials, key=lambda t: -t.number)]
    keep = len(trials)
    while keep > 0:
        best_k = ranked[:max(1, keep // 2)] if ranked else []
        chosen = set(best_k)
        for number in recent:
            if len(chosen) >= keep:
                break
            chosen.add(number)
        text = "\n".join(lines[n] for n in sorted(chosen))
        if len(text) <= max_chars or keep == 1:
            break
        keep = max(1, int(keep * 0.8))
    if keep >= len(trials):
        return text, f"{len(trials)} trials"
    return text, (f"{len(trials)} trials; shown: the {len(best_k)} best and the "
                  f"{len(chosen) - len(set(best_k))} most recent others")
