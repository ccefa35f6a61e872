"""The rungs of a scheduler: a geometric ladder of resources anchored at the maximum."""

from __future__ import annotations

import itertools
import math

from hpo._typing import Number

__all__ = ["Ladder", "check_resource"]

_TOL = 1e-9


def check_resource(name: str, value: object) -> Number:
    """A positive int or float, or a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or not math.isfinite(value):
        raise ValueError(f"{name}: must be a positive int or float, got {value!r}")
    return value


class Ladder:
    """Rung resources ``r_j = R * eta**(j - K)`` for ``j = 0..K``, top rung ``R``.

    ``K`` is the largest integer with ``R / eta**K >= min_resource``, as in Hyperband,
    so the maximum resource is always a rung. Raising ``R`` to ``R * eta**m`` (IDHB's
    deepening) adds ``m`` rungs on top and keeps every existing rung where it was. With
    an integer resource (``min_resource`` and ``max_resource`` both ints) the rungs are
    rounded to whole numbers.

    Example:
        >>> Ladder(1, 27, 3).levels()
        [1, 3, 9, 27]
        >>> Ladder(1, 27, 3).levels(81)
        [1, 3, 9, 27, 81]
        >>> [round(r, 3) for r in Ladder(1.0, 16.0, 3).levels()]
        [1.778, 5.333, 16.0]
    """

    def __init__(self, min_resource: Number, max_resource: Number, reduction_factor: float):
        check_resource("min_resource", min_resource)
        check_resource("max_resource", max_resource)
        if isinstance(reduction_factor, bool) or not isinstance(reduction_factor, (int, float)) \
                or not reduction_factor >= 2:
            raise ValueError(f"reduction_factor: must be a number >= 2, got {reduction_factor!r}")
        if min_resource >= max_resource:
            raise ValueError(f"min_resource ({min_resource}) must be below max_resource "
                             f"({max_resource})")
        if max_resource < min_resource * reduction_factor * (1 - _TOL):
            raise ValueError(
                f"max_resource: {max_resource} leaves a single rung with min_resource="
                f"{min_resource} and reduction_factor={reduction_factor}; it must be at least "
                f"min_resource * reduction_factor = {min_resource * reduction_factor}")
        self.min_resource, self.max_resource = min_resource, max_resource
        self.eta = reduction_factor
        self.integer = isinstance(min_resource, int) and isinstance(max_resource, int)
        k = 0
        while max_resource / reduction_factor ** (k + 1) >= min_resource * (1 - _TOL):
            k += 1
        self.k = k
        self.levels()  # validates the rounding of an integer resource

    def deepenings(self, max_resource: Number) -> int:
        """How many rungs ``max_resource`` adds on top: ``m`` with ``R * eta**m``."""
        check_resource("max_resource", max_resource)
        m = round(math.log(max_resource / self.max_resource) / math.log(self.eta))
        if m < 0 or not math.isclose(self.max_resource * self.eta ** m, max_resource,
                                     rel_tol=1e-9):
            allowed = ", ".join(str(self._top(i)) for i in range(1, 4))
            raise ValueError(f"max_resource: {max_resource} is not max_resource * "
                             f"reduction_factor**m for this scheduler (max_resource="
                             f"{self.max_resource}, reduction_factor={self.eta}); allowed: "
                             f"{allowed}, ...")
        return m

    def _top(self, m: int) -> Number:
        top = self.max_resource * self.eta ** m
        return round(top) if self.integer else top

    def levels(self, max_resource: Number | None = None) -> list[Number]:
        """The rung resources, lowest first, for the (possibly deepened) maximum."""
        m = 0 if max_resource is None else self.deepenings(max_resource)
        k = self.k + m
        top = self._top(m)
        raw = [self.max_resource * self.eta ** (j - self.k) for j in range(k)] + [top]
        if not self.integer:
            return raw
        out = [max(1, round(r)) for r in raw]
        if any(b <= a for a, b in itertools.pairwise(out)):
            raise ValueError(f"max_resource / min_resource: the integer rungs {out} of "
                             f"min_resource={self.min_resource}, max_resource="
                             f"{self.max_resource}, reduction_factor={self.eta} collapse; use "
                             "a larger max_resource or a float resource")
        return out

    def index(self, levels: list[Number], resource: Number) -> int | None:
        """The rung index of ``resource``, or None when it is not a rung."""
        for j, r in enumerate(levels):
            if r == resource or math.isclose(r, resource, rel_tol=_TOL):
                return j
        return None
