"""hpo's samplers, each an ``optuna.samplers.BaseSampler`` usable in any Optuna study."""

from __future__ import annotations

from optuna.samplers import BaseSampler

from hpo.samplers.gp import GPSampler

__all__ = ["GPSampler", "default_sampler"]


def default_sampler(n_objectives: int = 1, seed: int | None = None) -> BaseSampler:
    """The sampler :func:`hpo.create_study` uses when none is given: :class:`GPSampler`
    (GP Bayesian optimisation; qLogEHVI for several objectives).

    Example:
        >>> type(default_sampler()).__name__
        'GPSampler'
    """
    if n_objectives < 1:
        raise ValueError(f"n_objectives: must be >= 1, got {n_objectives}")
    return GPSampler(seed=seed)
