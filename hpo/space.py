"""Search spaces: helpers that build Optuna distributions, and the one unit-cube encoder.

A search space in hpo is a plain ``dict[str, optuna.distributions.BaseDistribution]``;
the helpers below only add argument checking with clear messages and an optional
``default`` used when a decorated objective is called as a plain function.

:class:`UnitCubeEncoder` is the single map between configurations and points of the
unit cube that every model-based sampler in hpo uses:

* floats: linear or log scale onto ``[0, 1]``;
* integers and stepped floats: each admissible value owns an equal-width cell, i.e.
  the interval is widened by half a step on either side before scaling (in log space
  for ``log=True``), and decoding rounds to the nearest admissible value;
* categoricals: one-hot, one column per choice, decoded by argmax;
* single-valued distributions (``hpo.fixed``, ``low == high``): no column at all.

Example:
    >>> import hpo
    >>> from hpo.space import UnitCubeEncoder
    >>> enc = UnitCubeEncoder({"lr": hpo.loguniform(1e-4, 1e-1),
    ...                        "act": hpo.choice(["relu", "tanh"])})
    >>> x = enc.encode({"lr": 1e-2, "act": "tanh"})
    >>> x.round(3).tolist()
    [0.667, 0.0, 1.0]
    >>> enc.decode(x)["act"]
    'tanh'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalChoiceType,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hpo import _attrs

if TYPE_CHECKING:  # torch is imported by the methods that need it, not by ``import hpo``
    import torch

__all__ = [
    "UnitCubeEncoder",
    "choice",
    "default_of",
    "fixed",
    "hints_of",
    "integer",
    "loguniform",
    "record_hints",
    "study_hints",
    "unbounded",
    "uniform",
]

_DEFAULT_ATTR = "_hpo_default"
_SCALE_ATTR = "_hpo_scale"
UNBOUNDED = 1e18
"""The bound an :func:`unbounded` side gets in its Optuna distribution (``1e-18`` for
the lower bound of a log scale): finite, so Optuna's storages and optuna-dashboard
show the parameter as usual; samplers that know about it (:class:`hpo.samplers.CARBS`)
read any bound at or beyond it as no bound at all."""


def _check_number(func: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"hpo.{func}: {name} must be a finite number, got {value!r}")
    return float(value)


def _check_bounds(func: str, low: float, high: float, log: bool) -> None:
    if low > high:
        raise ValueError(
            f"hpo.{func}: low must be <= high, got low={low!r} > high={high!r} (reversed bounds?)"
        )
    if log and low <= 0:
        raise ValueError(f"hpo.{func}: a log scale needs low > 0, got low={low!r}")


def _with_default(dist: BaseDistribution, func: str, default: Any) -> BaseDistribution:
    if default is not None:
        if not dist._contains(dist.to_internal_repr(default)):
            raise ValueError(
                f"hpo.{func}: default={default!r} lies outside the distribution {dist}")
        setattr(dist, _DEFAULT_ATTR, default)
    return dist


def uniform(low: float, high: float, *, step: float | None = None, default: float | None = None
            ) -> FloatDistribution:
    """A float drawn uniformly from ``[low, high]`` (on a grid of ``step`` if given).

    Example:
        >>> hpo.uniform(0.9, 0.999)
        FloatDistribution(high=0.999, log=False, low=0.9, step=None)
    """
    lo, hi = _check_number("uniform", "low", low), _check_number("uniform", "high", high)
    _check_bounds("uniform", lo, hi, log=False)
    if step is not None and (_check_number("uniform", "step", step) <= 0):
        raise ValueError(f"hpo.uniform: step must be > 0, got step={step!r}")
    return _with_default(FloatDistribution(lo, hi, step=step), "uniform", default)


def loguniform(low: float, high: float, *, default: float | None = None) -> FloatDistribution:
    """A float drawn uniformly in log space from ``[low, high]``, ``low > 0``.

    Example:
        >>> hpo.loguniform(1e-5, 1e-1)
        FloatDistribution(high=0.1, log=True, low=1e-05, step=None)
    """
    lo, hi = _check_number("loguniform", "low", low), _check_number("loguniform", "high", high)
    _check_bounds("loguniform", lo, hi, log=True)
    return _with_default(FloatDistribution(lo, hi, log=True), "loguniform", default)


def integer(low: int, high: int, log: bool = False, step: int = 1, *, default: int | None = None
            ) -> IntDistribution:
    """An integer from ``low`` to ``high`` inclusive, optionally on a log scale or a step grid.

    Example:
        >>> hpo.integer(1, 4)
        IntDistribution(high=4, log=False, low=1, step=1)
    """
    for name, v in (("low", low), ("high", high), ("step", step)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"hpo.integer: {name} must be an int, got {v!r}")
    _check_bounds("integer", low, high, log=log)
    if step < 1:
        raise ValueError(f"hpo.integer: step must be >= 1, got step={step!r}")
    if log and step != 1:
        raise ValueError(f"hpo.integer: log=True needs step=1, got step={step!r}")
    return _with_default(IntDistribution(int(low), int(high), log=log, step=int(step)),
                         "integer", default)


def choice(values: Sequence[CategoricalChoiceType], *, default: CategoricalChoiceType = None
           ) -> CategoricalDistribution:
    """One of ``values`` (None, bool, int, float or str), unordered.

    Example:
        >>> hpo.choice(["relu", "tanh"])
        CategoricalDistribution(choices=('relu', 'tanh'))
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"hpo.choice: values must be a list or tuple of choices, got {values!r}")
    if len(values) == 0:
        raise ValueError("hpo.choice: values must hold at least one choice, got an empty list")
    for v in values:
        if v is not None and not isinstance(v, (bool, int, float, str)):
            raise ValueError(
                f"hpo.choice: each value must be None, bool, int, float or str, got {v!r} "
                f"of type {type(v).__name__}"
            )
    if len(set(map(repr, values))) != len(values):
        raise ValueError(f"hpo.choice: values must be distinct, got {list(values)!r}")
    return _with_default(CategoricalDistribution(list(values)), "choice", default)


def fixed(value: CategoricalChoiceType) -> CategoricalDistribution:
    """A constant: recorded as a parameter of every trial, never searched.

    Example:
        >>> hpo.fixed(0.99).choices
        (0.99,)
    """
    dist = choice([value])
    setattr(dist, _DEFAULT_ATTR, value)
    return dist


def default_of(dist: BaseDistribution) -> Any:
    """The ``default=`` given to a helper, or ``None`` when there was none."""
    return getattr(dist, _DEFAULT_ATTR, None)


def unbounded(default: float, *, scale: float, low: float | None = None,
              high: float | None = None, log: bool = False, integer: bool = False
              ) -> FloatDistribution | IntDistribution:
    """A number with no upper (or lower) bound, e.g. a width, a step count, tokens.

    ``default`` is where a search starts (CARBS' search centre); ``scale`` is how far one
    unit of search moves: on a log scale, ``scale=1`` is a factor of 10 (base-10 log
    divided by ``scale``), on a linear scale it is ``scale`` itself. A missing ``low``
    or ``high`` is open; in the Optuna distribution it becomes :data:`UNBOUNDED`
    (``1e18``, or ``1e-18`` below a log scale), so the study stores an ordinary
    ``FloatDistribution`` / ``IntDistribution`` that optuna-dashboard shows. Samplers
    other than CARBS see that wide range as it is.

    Example:
        >>> width = hpo.unbounded(256, low=16, log=True, integer=True, scale=0.5)
        >>> type(width).__name__, width.low, width.high == 10**18, width.log
        ('IntDistribution', 16, True, True)
        >>> hpo.space.hints_of(width)
        {'default': 256, 'scale': 0.5}
    """
    func = "unbounded"
    scale = _check_number(func, "scale", scale)
    if scale <= 0:
        raise ValueError(f"hpo.unbounded: scale must be > 0, got scale={scale!r}")
    _check_number(func, "default", default)
    if low is None and high is None and not log:
        lo, hi = -UNBOUNDED, UNBOUNDED
    else:
        lo = _check_number(func, "low", low) if low is not None else (
            1.0 / UNBOUNDED if log else -UNBOUNDED)
        hi = _check_number(func, "high", high) if high is not None else UNBOUNDED
    if low is not None and high is not None:
        raise ValueError("hpo.unbounded: give at most one of low and high (with both, use "
                         "hpo.uniform / hpo.loguniform / hpo.integer)")
    _check_bounds(func, lo, hi, log=log)
    dist: FloatDistribution | IntDistribution
    if integer:
        if log and lo < 1:
            raise ValueError(f"hpo.unbounded: an integer on a log scale needs low >= 1, "
                             f"got low={low!r}")
        dist = IntDistribution(math.ceil(lo), math.floor(hi), log=log)
        default = int(default) if float(default).is_integer() else default
    else:
        dist = FloatDistribution(lo, hi, log=log)
    dist = _with_default(dist, func, default)
    setattr(dist, _SCALE_ATTR, scale)
    return dist


def hints_of(dist: BaseDistribution) -> dict[str, Any]:
    """What a helper recorded beyond the Optuna distribution: ``default`` and ``scale``
    (those given), for samplers that start from a centre (CARBS).

    Example:
        >>> hpo.space.hints_of(hpo.loguniform(1e-4, 1e-1, default=3e-4))
        {'default': 0.0003}
    """
    out: dict[str, Any] = {}
    if (d := default_of(dist)) is not None:
        out["default"] = d
    if (s := getattr(dist, _SCALE_ATTR, None)) is not None:
        out["scale"] = s
    return out


def record_hints(study: Any, space: Mapping[str, BaseDistribution]) -> None:
    """Store :func:`hints_of` each parameter of ``space`` in ``study`` (a study system
    attribute, so every worker's sampler reads them; written only when they change).

    A decorated objective (:func:`hpo.objective`) does this before each trial, because
    the trial suggests plain Optuna distributions, which carry no hints.
    """
    hints = {name: h for name, dist in space.items() if (h := hints_of(dist))}
    if not hints:
        return
    current = study_hints(study)
    if all(current.get(k) == v for k, v in hints.items()):
        return
    study._storage.set_study_system_attr(study._study_id, _attrs.SPACE_HINTS,
                                         {**current, **hints})


def study_hints(study: Any) -> dict[str, dict[str, Any]]:
    """The hints :func:`record_hints` stored in ``study`` (``{}`` if none)."""
    attrs = study._storage.get_study_system_attrs(study._study_id)
    return dict(attrs.get(_attrs.SPACE_HINTS, {}))


# --------------------------------------------------------------------------- encoder


@dataclass(frozen=True)
class _Column:
    """How one parameter maps to the columns ``[start, stop)`` of the cube."""

    name: str
    dist: BaseDistribution
    start: int
    stop: int
    kind: str  # "float" | "int" (stepped, rounded) | "cat" | "const"
    log: bool = False
    lo: float = 0.0  # transformed (log if ``log``) lower edge of the cube cell range
    hi: float = 1.0  # transformed upper edge
    step: float | None = None  # grid step in original space for "int"


class UnitCubeEncoder:
    """Maps configurations of a search space to ``[0, 1]^d`` and back.

    Args:
        space: parameter name -> Optuna distribution. Parameter order is preserved.

    Attributes:
        dim: number of columns ``d``.
        names: the parameter names, in order.
        discrete_columns: column indices of integer / stepped parameters.
        categorical_groups: ``(start, stop)`` column ranges of one-hot groups.
    """

    def __init__(self, space: Mapping[str, BaseDistribution]) -> None:
        columns: list[_Column] = []
        d = 0
        for name, dist in space.items():
            col = self._column(name, dist, d)
            columns.append(col)
            d = col.stop
        self.space = dict(space)
        self.names = list(space)
        self.dim = d
        self._columns = columns
        self.discrete_columns = [c.start for c in columns if c.kind == "int"]
        self.categorical_groups = [(c.start, c.stop) for c in columns if c.kind == "cat"]
        self.continuous_columns = [c.start for c in columns if c.kind == "float"]

    @staticmethod
    def _column(name: str, dist: BaseDistribution, start: int) -> _Column:
        if isinstance(dist, CategoricalDistribution):
            k = len(dist.choices)
            if k == 1:
                return _Column(name, dist, start, start, "const")
            return _Column(name, dist, start, start + k, "cat")
        if isinstance(dist, (FloatDistribution, IntDistribution)):
            if dist.low == dist.high:
                return _Column(name, dist, start, start, "const")
            step = dist.step
            if isinstance(dist, IntDistribution) or step is not None:
                half = 0.5 * float(step)
                lo, hi = dist.low - half, dist.high + half
                if dist.log:  # IntDistribution(log=True) has step 1 and low >= 1
                    lo, hi = math.log(lo), math.log(hi)
                return _Column(name, dist, start, start + 1, "int", dist.log, lo, hi, float(step))
            lo, hi = dist.low, dist.high
            if dist.log:
                lo, hi = math.log(lo), math.log(hi)
            return _Column(name, dist, start, start + 1, "float", dist.log, lo, hi)
        raise TypeError(
            f"UnitCubeEncoder: parameter {name!r} has unsupported distribution {dist!r}")

    # -- single configurations ---------------------------------------------------------

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """Encode one configuration; every parameter of the space must be present."""
        x = np.zeros(self.dim)
        for c in self._columns:
            if c.name not in params:
                raise KeyError(
                    f"UnitCubeEncoder.encode: parameter {c.name!r} missing from {params}")
            v = params[c.name]
            if c.kind == "const":
                continue
            if c.kind == "cat":
                x[c.start + c.dist.to_internal_repr(v)] = 1.0  # type: ignore[attr-defined]
                continue
            t = math.log(v) if c.log else float(v)
            x[c.start] = min(1.0, max(0.0, (t - c.lo) / (c.hi - c.lo)))
        return x

    def encode_many(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encode several configurations into an ``(n, d)`` array."""
        out = np.zeros((len(configs), self.dim))
        for i, p in enumerate(configs):
            out[i] = self.encode(p)
        return out

    def decode(self, x: Sequence[float] | np.ndarray) -> dict[str, Any]:
        """Decode one point of the cube (values outside ``[0, 1]`` are clipped)."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.dim,):
            raise ValueError(f"UnitCubeEncoder.decode: expected shape ({self.dim},), got {x.shape}")
        x = np.clip(x, 0.0, 1.0)
        out: dict[str, Any] = {}
        for c in self._columns:
            d = c.dist
            if c.kind == "const":
                out[c.name] = d.choices[0] if isinstance(d, CategoricalDistribution) else d.low
            elif c.kind == "cat":
                out[c.name] = d.choices[int(np.argmax(x[c.start:c.stop]))]  # type: ignore[attr-defined]
            else:
                u = float(x[c.start])
                t = c.lo + u * (c.hi - c.lo)
                v = math.exp(t) if c.log else t
                if c.kind == "int":
                    assert c.step is not None
                    k = round((v - d.low) / c.step)  # type: ignore[attr-defined]
                    n_max = round((d.high - d.low) / c.step)  # type: ignore[attr-defined]
                    v = d.low + min(max(k, 0), n_max) * c.step  # type: ignore[attr-defined]
                    if isinstance(d, IntDistribution):
                        v = int(v)
                    else:  # low + k * step may overshoot high by an ulp
                        v = min(max(float(v), d.low), d.high)
                else:
                    v = min(max(v, d.low), d.high)  # type: ignore[attr-defined]
                out[c.name] = v
        return out

    # -- batched, for acquisition optimisation -------------------------------------------

    def snap(self, x: torch.Tensor) -> torch.Tensor:
        """Project points ``(..., d)`` onto the encodings of valid configurations.

        Integer columns go to the centre of their value's cell, one-hot groups to the
        one-hot vector of their argmax; continuous columns are clipped to ``[0, 1]``.
        ``snap(encode(p)) == encode(p)`` and ``decode(snap(x)) == decode(x)``. Differentiable
        almost nowhere: use it on candidates, not inside a gradient step.
        """
        import torch

        out = x.clamp(0.0, 1.0).clone()
        for c in self._columns:
            if c.kind == "int":
                out[..., c.start] = self._snap_int(c, out[..., c.start])
            elif c.kind == "cat":
                grp = out[..., c.start:c.stop]
                onehot = torch.zeros_like(grp)
                onehot.scatter_(-1, grp.argmax(dim=-1, keepdim=True), 1.0)
                out[..., c.start:c.stop] = onehot
        return out

    @staticmethod
    def _snap_int(c: _Column, u: torch.Tensor) -> torch.Tensor:
        import torch

        d = c.dist
        assert c.step is not None
        t = c.lo + u * (c.hi - c.lo)
        v = torch.exp(t) if c.log else t
        n_max = round((d.high - d.low) / c.step)  # type: ignore[attr-defined]
        k = torch.round((v - d.low) / c.step).clamp(0, n_max)  # type: ignore[attr-defined]
        v = d.low + k * c.step  # type: ignore[attr-defined]
        t = torch.log(v) if c.log else v
        return ((t - c.lo) / (c.hi - c.lo)).clamp(0.0, 1.0)

    # -- finite spaces ------------------------------------------------------------------

    def n_configurations(self) -> float:
        """How many distinct configurations the space has (``inf`` with a continuous one).

        Example:
            >>> import hpo.space as sp
            >>> enc = UnitCubeEncoder({"a": sp.choice(["x", "y"]), "n": sp.integer(1, 3)})
            >>> enc.n_configurations()
            6
        """
        if self.continuous_columns:
            return math.inf
        total = 1
        for c in self._columns:
            total *= len(self._values(c))
        return total

    def grid(self) -> np.ndarray:
        """The encodings of every configuration ``(n_configurations(), d)``, when finite.

        Rows are in lexicographic order of the parameters' values (the first parameter
        varies slowest); each row is what :meth:`encode` gives for that configuration.

        Example:
            >>> import hpo.space as sp
            >>> UnitCubeEncoder({"a": sp.choice(["x", "y"]), "n": sp.integer(1, 2)}).grid().tolist()
            [[1.0, 0.0, 0.25], [1.0, 0.0, 0.75], [0.0, 1.0, 0.25], [0.0, 1.0, 0.75]]
        """
        if self.continuous_columns:
            name = next(c.name for c in self._columns if c.kind == "float")
            raise ValueError(f"UnitCubeEncoder.grid: parameter {name!r} is continuous, so the "
                             "space has no finite grid")
        out = np.zeros((1, self.dim))
        for c in self._columns:
            if c.kind == "const":
                continue
            rows = self._values(c)
            k = len(rows)
            out = np.repeat(out, k, axis=0)
            block = np.tile(rows, (len(out) // k, 1))
            out[:, c.start:c.stop] = block
        return out

    def _values(self, c: _Column) -> np.ndarray:
        """The encodings ``(k, stop - start)`` of a discrete column's values, in order."""
        if c.kind == "const":
            return np.zeros((1, 0))
        if c.kind == "cat":
            return np.eye(c.stop - c.start)
        assert c.kind == "int" and c.step is not None
        d = c.dist
        n = round((d.high - d.low) / c.step) + 1  # type: ignore[attr-defined]
        v = d.low + c.step * np.arange(n)  # type: ignore[attr-defined]
        t = np.log(v) if c.log else v
        return ((t - c.lo) / (c.hi - c.lo)).clip(0.0, 1.0)[:, None]

    def __repr__(self) -> str:
        return f"UnitCubeEncoder(dim={self.dim}, names={self.names})"
