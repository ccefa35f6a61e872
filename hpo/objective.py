"""The ``@hpo.objective`` decorator: a plain training function becomes an Optuna objective.

Parameters whose default is a distribution (``hpo.uniform`` and friends) form the
search space. Called with a trial, the objective suggests each of them and calls the
function; called with keyword arguments, it is the plain function again.

Example:
    >>> import hpo, optuna
    >>> @hpo.objective(direction="minimize")
    ... def f(x: float = hpo.uniform(-2.0, 2.0), *, trial=None) -> float:
    ...     return (x - 1.0) ** 2
    >>> f(x=0.0)
    1.0
    >>> sorted(f.space)
    ['x']
    >>> study = optuna.create_study(direction="minimize")
    >>> study.optimize(f, n_trials=3)
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import pickle
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any, Generic, ParamSpec, TypeVar, overload

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.exceptions import TrialPruned
from optuna.study import StudyDirection
from optuna.trial import BaseTrial, Trial

from hpo._failures import record_failure
from hpo.space import default_of, hints_of, record_hints

__all__ = ["Objective", "as_number", "normalise_values", "objective", "suggest"]

_DIRECTIONS = ("minimize", "maximize")


def suggest(trial: BaseTrial, name: str, dist: BaseDistribution) -> Any:
    """Suggest ``name`` from ``dist`` through the trial's public ``suggest_*`` API.

    A helper's ``default=`` / ``scale=`` (which the public API cannot carry) are stored in
    the study first (:func:`hpo.space.record_hints`), for samplers that start from them.
    """
    if isinstance(trial, Trial) and hints_of(dist):
        record_hints(trial.study, {name: dist})
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    raise TypeError(f"parameter {name!r}: unsupported distribution {dist!r}")


P = ParamSpec("P")
R = TypeVar("R")


class Objective(Generic[P, R]):
    """A decorated training function; see :func:`objective`.

    Attributes:
        space: parameter name -> Optuna distribution.
        directions: one ``"minimize"``/``"maximize"`` per objective.
        metric: what the value is (``"mean training return"``), one name per objective,
            or ``None``; the runner and :meth:`hpo.Study.optimize` record it in the study.
        resource: what the resource counts (``"environment steps"``), or ``None``.
    """

    def __init__(self, fn: Callable[P, R], directions: list[str], *,
                 metric: list[str] | None = None, resource: str | None = None) -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.directions = directions
        self.metric = metric
        self.resource = resource
        sig = inspect.signature(fn)
        self.space: dict[str, BaseDistribution] = {
            n: p.default for n, p in sig.parameters.items()
            if isinstance(p.default, BaseDistribution)
        }
        self._takes_trial = "trial" in sig.parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
        self._signature = sig

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        # By reference, like a function: the module attribute is this object, not ``fn``.
        # Refuse rather than let another process load a different object of that name.
        module, qualname = self.fn.__module__, self.fn.__qualname__
        try:
            same = _load(module, qualname) is self
        except (ImportError, AttributeError):
            same = False
        if not same:
            raise pickle.PicklingError(
                f"objective {module}.{qualname} cannot be sent to another process: that name "
                "does not lead to this object (defined inside a function, or made by a "
                "factory?). Assign it to a module-level name that matches, or run with "
                "isolation='none'.")
        return _load, (module, qualname)

    @property
    def direction(self) -> str:
        if len(self.directions) != 1:
            raise AttributeError("this objective has several directions; use .directions")
        return self.directions[0]

    @overload
    def __call__(self, trial: BaseTrial, /) -> R: ...

    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """With a trial: suggest the space and run; with values: the plain function."""
        if len(args) == 1 and not kwargs and isinstance(args[0], BaseTrial):
            return self._run_trial(args[0])
        for name, dist in self.space.items():
            if name not in kwargs and len(args) <= list(self._signature.parameters).index(name):
                default = default_of(dist)
                if default is None:
                    raise TypeError(
                        f"{self.fn.__name__}() missing a value for parameter {name!r} "
                        f"(its default is a search space {dist}, not a value: pass {name}=..., "
                        f"or give the helper a default=...)")
                kwargs[name] = default
        return self.fn(*args, **kwargs)

    def _run_trial(self, trial: BaseTrial) -> Any:
        def run(t: BaseTrial) -> Any:
            params = {name: suggest(t, name, dist) for name, dist in self.space.items()}
            if self._takes_trial:
                params["trial"] = t
            return self.fn(**params)

        if isinstance(trial, Trial):
            check_directions(self, trial.study.directions)
            return run_recorded(run, trial)
        return run(trial)  # a FrozenTrial or FixedTrial: nothing to record into


def _load(module: str, qualname: str) -> Objective:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


@overload
def objective(fn: Callable[P, R], /) -> Objective[P, R]: ...


@overload
def objective(fn: None = None, /, *, direction: str | None = None,
              directions: Sequence[str] | None = None,
              metric: str | Sequence[str] | None = None, resource: str | None = None,
              ) -> Callable[[Callable[P, R]], Objective[P, R]]: ...


def objective(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    direction: str | None = None,
    directions: Sequence[str] | None = None,
    metric: str | Sequence[str] | None = None,
    resource: str | None = None,
) -> Any:
    """Turn a training function into an objective for ``study.optimize``.

    Args:
        direction: ``"minimize"`` (default) or ``"maximize"`` for one objective.
        directions: one direction per value of a returned tuple (several objectives).
        metric: what the value is, e.g. ``"mean training return"`` (one name per
            objective with ``directions``); ``hpo best``, ``hpo status`` and the plots
            name it instead of "value".
        resource: what :func:`hpo.budget`'s resource counts, e.g. ``"environment steps"``.

    Every parameter whose default is a distribution is searched; a parameter named
    ``trial`` receives the Optuna trial (for ``trial.report``, ``hpo.resume``, ...).

    Example:
        >>> import hpo
        >>> @hpo.objective(directions=["maximize", "minimize"])
        ... def g(width: int = hpo.integer(8, 64, log=True), *, trial=None):
        ...     return width / 64, width * 1e3
        >>> g.directions
        ['maximize', 'minimize']
        >>> @hpo.objective(direction="maximize", metric="mean training return",
        ...                resource="environment steps")
        ... def h(lr: float = hpo.loguniform(1e-4, 1e-2), *, trial=None) -> float:
        ...     return lr
        >>> h.metric, h.resource
        (['mean training return'], 'environment steps')
    """
    if direction is not None and directions is not None:
        raise ValueError("hpo.objective: give direction or directions, not both")
    dirs = [direction or "minimize"] if directions is None else list(directions)
    if not dirs:
        raise ValueError("hpo.objective: directions must not be empty")
    for d in dirs:
        if d not in _DIRECTIONS:
            raise ValueError(f"hpo.objective: direction must be one of {_DIRECTIONS}, got {d!r}")
    names = _names("metric", metric, len(dirs))
    if resource is not None and (not isinstance(resource, str) or not resource.strip()):
        raise ValueError(f"hpo.objective: resource must be a non-empty string such as "
                         f"'environment steps', got {resource!r}")

    def wrap(f: Callable[..., Any]) -> Objective[Any, Any]:
        if not callable(f):
            raise TypeError(f"hpo.objective decorates a function, got {f!r}")
        for name, p in inspect.signature(f).parameters.items():
            if name != "trial" and p.default is inspect.Parameter.empty and p.kind in (
                    p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                raise TypeError(
                    f"hpo.objective: parameter {name!r} of {f.__name__}() has no search space; "
                    f"give it a default such as hpo.uniform(...), hpo.loguniform(...), "
                    f"hpo.integer(...), hpo.choice([...]) or hpo.fixed(value)")
        return Objective(f, dirs, metric=names, resource=resource)

    return wrap(fn) if fn is not None else wrap


def _names(key: str, value: str | Sequence[str] | None, n: int) -> list[str] | None:
    """``metric=``: one non-empty name per objective (a string for one objective)."""
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value) \
        if isinstance(value, Sequence) else None
    if names is None or len(names) != n or not all(
            isinstance(v, str) and v.strip() for v in names):
        want = "a non-empty string" if n == 1 else f"{n} non-empty strings, one per direction"
        raise ValueError(f"hpo.objective: {key} must be {want} such as 'mean training "
                         f"return', got {value!r}")
    return names


def check_directions(func: Any, study_directions: Sequence[StudyDirection]) -> None:
    """Raise if a decorated objective's directions differ from the study's."""
    want = getattr(func, "directions", None)
    if not isinstance(func, Objective) or want is None:
        return
    have = [d.name.lower() for d in study_directions]
    if have != want:
        raise ValueError(f"objective {func.__name__!r} declares directions {want}, but the study "
                         f"optimises {have}; create the study with the same direction(s)")


def as_number(v: Any) -> float | None:
    """``v`` as a float if hpo counts it as a number, else None.

    Numbers are ints and floats, numpy's integer and floating scalars, and 0-d arrays
    or tensors (numpy, torch) holding one of those; booleans, strings and None are not.
    NaN and infinities are numbers here (see :func:`normalise_values`).

    Example:
        >>> import numpy as np
        >>> as_number(np.float32(0.5)), as_number(np.array(2)), as_number("0.25"), as_number(True)
        (0.5, 2.0, None, None)
    """
    if v is None or isinstance(v, (bool, str, bytes)) or type(v).__name__ == "bool_":
        return None
    if isinstance(v, Real):
        return float(v)
    if getattr(v, "ndim", None) == 0 and callable(getattr(v, "item", None)):
        item = v.item()
        return None if item is v else as_number(item)
    return None


def normalise_values(value: Any, n_objectives: int) -> list[float] | str:
    """The objective values of a trial result, or the reason it is invalid (one rule for
    ``hpo sweep``, :meth:`hpo.Study.optimize`, :func:`hpo.run` and plain Optuna).

    A single value or a list/tuple of ``n_objectives`` numbers (see :func:`as_number`)
    is valid; infinities are kept (Optuna records them in a COMPLETE trial); NaN, None,
    strings, booleans and a wrong number of values are not.

    Example:
        >>> normalise_values(0.5, 1), normalise_values([1, float("inf")], 2)
        ([0.5], [1.0, inf])
        >>> normalise_values("0.25", 1)
        "the objective returned '0.25' (str); each value must be a number"
    """
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(values) != n_objectives:
        return (f"the objective returned {len(values)} value(s) {value!r}, but the study has "
                f"{n_objectives} objective(s)")
    out = []
    for v in values:
        f = as_number(v)
        if f is None:
            return (f"the objective returned {value!r} ({type(v).__name__}); each value must "
                    "be a number")
        if math.isnan(f):
            return f"the objective returned NaN ({value!r})"
        out.append(f)
    return out


def invalid_value_reason(value: Any, n_objectives: int) -> str | None:
    """Why ``value`` is not a valid trial result (see :func:`normalise_values`), or None."""
    result = normalise_values(value, n_objectives)
    return result if isinstance(result, str) else None


def run_recorded(func: Callable[[Trial], Any], trial: Trial) -> Any:
    """Run ``func(trial)``; record why the trial failed (reason and traceback), if it does.

    Exceptions are re-raised, so Optuna decides the trial's state as it would without
    hpo. A valid value is returned as float(s) (a numpy scalar or 0-d tensor becomes a
    float); an invalid one is recorded with its reason and returned as NaN, which
    Optuna records as FAIL, so every entry point judges values by one rule.
    """
    try:
        value = func(trial)
    except TrialPruned:
        raise
    except Exception as exc:
        record_failure(trial, f"{type(exc).__name__}: {exc}", exc)
        raise
    result = normalise_values(value, len(trial.study.directions))
    if isinstance(result, str):
        record_failure(trial, result)
        return math.nan
    return result[0] if len(result) == 1 else result
