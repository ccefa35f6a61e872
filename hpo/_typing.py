"""Type aliases used across hpo (a leaf: imports nothing from hpo)."""

from __future__ import annotations

__all__ = ["Number"]

Number = int | float  # a resource amount (steps, epochs, samples) or a parameter bound
