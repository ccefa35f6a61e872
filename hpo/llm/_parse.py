"""Reading configurations out of an LLM's answer, and fitting them into the space.

Answers are read leniently: a JSON object, a list of them, an object holding a list,
inside a fenced code block or surrounded by prose, ``<think>`` blocks dropped, Python
literals (single quotes) accepted. Every configuration is then validated against the
search space: numbers (also numeric strings) clipped into range and rounded to the
grid, integers rounded, categorical values matched; a missing or unusable value
rejects the configuration with a reason.

Example:
    >>> from optuna.distributions import FloatDistribution, CategoricalDistribution
    >>> space = {"lr": FloatDistribution(1e-5, 1e-1, log=True),
    ...          "opt": CategoricalDistribution(["adam", "sgd"])}
    >>> configs = extract("Try this:\\n```json\\n{'lr': 0.5, 'opt': 'Adam'}\\n```")
    >>> fit(configs[0], space)
    ({'lr': 0.1, 'opt': 'adam'}, None)
"""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = ["extract", "fit"]

_THINK = re.compile(r"<think>.*?(</think>|$)", flags=re.S | re.I)
_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", flags=re.S)


def _loads(text: str) -> tuple[Any, int] | None:
    """The JSON value (or Python literal) at the start of ``text`` and its length."""
    try:
        return json.JSONDecoder().raw_decode(text)
    except ValueError:
        pass
    depth, quote = 0, None
    for i, ch in enumerate(text):  # the balanced span, for a Python literal
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                try:
                    return ast.literal_eval(text[:i + 1]), i + 1
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    return None
    return None


def _configs(value: Any) -> list[dict[str, Any]]:
    """The configurations a parsed value holds."""
    if isinstance(value, list):
        return [c for v in value for c in _configs(v)]
    if not isinstance(value, dict):
        return []
    lists = [v for v in value.values() if isinstance(v, list) and v
             and all(isinstance(c, dict) for c in v)]
    if lists:  # {"configs": [...]} or any key holding a list of objects
        return [c for v in lists for c in v]
    return [value]


def extract(text: str) -> list[dict[str, Any]]:
    """Every configuration (a dict) found in ``text``, in order."""
    text = _THINK.sub("", text or "")
    blocks = _FENCE.findall(text) or [text]
    out: list[dict[str, Any]] = []
    for block in blocks:
        i = 0
        while i < len(block):
            if block[i] in "{[":
                found = _loads(block[i:])
                if found is not None:
                    got = _configs(found[0])
                    if got:
                        out += got
                        i += found[1]
                        continue
            i += 1
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _fit_one(value: Any, dist: BaseDistribution) -> tuple[Any, str | None]:
    if isinstance(dist, CategoricalDistribution):
        for choice in dist.choices:  # the same type and value (True is not 1 here)
            if type(choice) is type(value) and choice == value:
                return choice, None
        text = str(value).strip().lower()
        for choice in dist.choices:
            if str(choice).lower() == text:
                return choice, None
        number = _number(value)
        for choice in dist.choices:
            if number is not None and _number(choice) == number:
                return choice, None
        return None, f"not one of {list(dist.choices)}"
    x = _number(value)
    if x is None or not math.isfinite(x):
        return None, "not a number"
    assert isinstance(dist, (FloatDistribution, IntDistribution))
    low, high = dist.low, dist.high
    x = min(max(x, low), high)
    step = dist.step
    if step is not None:
        x = low + round((x - low) / step) * step
        x = min(x, high)
    if isinstance(dist, IntDistribution):
        return round(x), None
    return float(x), None


def fit(config: dict[str, Any], space: dict[str, BaseDistribution]
        ) -> tuple[dict[str, Any] | None, str | None]:
    """``config`` fitted into ``space`` (keys outside it ignored), or ``None`` and why."""
    if not isinstance(config, dict):
        return None, "not an object"
    out: dict[str, Any] = {}
    for name, dist in space.items():
        if name not in config:
            return None, f"{name}: missing"
        value, problem = _fit_one(config[name], dist)
        if problem is not None:
            return None, f"{name}: {problem}"
        out[name] = value
    return out, None
