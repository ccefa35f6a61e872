"""hpo's samplers, each an ``optuna.samplers.BaseSampler`` usable in any Optuna study."""

from __future__ import annotations

from optuna.samplers import BaseSampler, TPESampler

from hpo.samplers.gp import GPSampler

__all__ = ["GPSampler", "default_sampler"]


def default_sampler(n_objectives: int = 1, seed: int | None = None) -> BaseSampler:
    """The sampler :func:`hpo.create_study` uses when none is given.

    One objective: :class:`GPSampler` (GP Bayesian optimisation). Several objectives:
    Optuna's TPE (multivariate, constant liar), Optuna 5's own default there, because
    GPSampler's qLogEHVI costs seconds per suggestion beyond ~50 trials (about 8 s on
    BraninCurrin on 2 cores; docs/benchmarks.md); pass ``GPSampler()`` to use it anyway.

    Example:
        >>> type(default_sampler()).__name__, type(default_sampler(2)).__name__
        ('GPSampler', 'TPESampler')
    """
    if n_objectives < 1:
        raise ValueError(f"n_objectives: must be >= 1, got {n_objectives}")
    if n_objectives > 1:
        return TPESampler(seed=seed, multivariate=True, constant_liar=True)
    return GPSampler(seed=seed)
