"""Population Based Training (Jaderberg et al. 2017) as an Optuna sampler.

Example:
    >>> import hpo, optuna, tempfile
    >>> @hpo.objective(direction="maximize")
    ... def train(lr: float = hpo.loguniform(1e-3, 1.0), *, trial=None) -> float:
    ...     state = hpo.resume(trial) or {"w": 0.0}
    ...     start, stop = hpo.budget(trial, max_resource=40)
    ...     for step in range(start, stop):
    ...         state["w"] += lr * (1.0 - state["w"])      # converges faster with a larger lr
    ...     hpo.checkpoint(trial, state, step=stop)
    ...     return state["w"]
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> pbt = hpo.samplers.PBT(population_size=4, perturbation_interval=10, max_resource=40,
    ...                        seed=0)
    >>> study = hpo.create_study(direction="maximize", storage="sqlite:///:memory:",
    ...                          artifact_dir=tempfile.mkdtemp(), sampler=pbt)
    >>> study.optimize(train, n_trials=100)          # ends when every member reached 40
    >>> [m.stop for m in pbt.population(study)]
    [40, 40, 40, 40]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial

from hpo._typing import Number
from hpo.samplers._pbt._base import PopulationSampler
from hpo.samplers._pbt._explore import perturb
from hpo.samplers._pbt._population import Member

__all__ = ["PBT"]


class PBT(PopulationSampler):
    """Population Based Training on trial continuation, with Ray Tune's semantics.

    ``population_size`` members train in segments of ``perturbation_interval``
    resource (steps, frames, epochs, seconds: what ``hpo.budget`` counts) up to
    ``max_resource``. When a member's segment ends, the members with a score are
    ranked by their latest value; a member in the bottom ``quantile_fraction``
    continues a random top-quantile member's checkpoint (exploit) with explored
    parameters, the others continue their own. Members advance asynchronously (the
    one furthest behind goes first; a free worker never waits for the others) or,
    with ``synchronous=True``, one generation at a time. A member whose segment fails
    for good (its retries used up) is replaced by a copy of a top member.

    Explore (Ray Tune's, kept inside the declared distributions): each parameter is
    resampled with probability ``resample_probability``, otherwise a number is
    multiplied by one of ``perturbation_factors`` (so log parameters move by the same
    ratio), clipped to its bounds and rounded to its step or to an integer; a
    categorical parameter is only ever resampled. ``explore`` replaces this with a
    plain function ``explore(params) -> params``; its values must stay in the space.

    Args:
        population_size: members, >= 2.
        perturbation_interval: resource between two exploit/explore decisions.
        max_resource: where every member stops.
        mutate: names of the parameters explore may change (default: all).
        searcher: the Optuna sampler of the initial members (random by default).
        keep_checkpoints: keep every segment's checkpoint (default: remove one once a
            later segment of its member finished and nothing continues from it).
        seed: seeds the searcher, the choice of the member to copy and explore.
    """

    def __init__(self, population_size: int, perturbation_interval: Number,
                 max_resource: Number, *, quantile_fraction: float = 0.25,
                 resample_probability: float = 0.25,
                 perturbation_factors: Sequence[float] = (1.2, 0.8),
                 explore: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 mutate: Sequence[str] | None = None, synchronous: bool = False,
                 searcher: BaseSampler | None = None, seed: int | None = None,
                 keep_checkpoints: bool = False) -> None:
        super().__init__(population_size, perturbation_interval, max_resource,
                         quantile_fraction=quantile_fraction, synchronous=synchronous,
                         searcher=searcher, seed=seed, keep_checkpoints=keep_checkpoints)
        if isinstance(resample_probability, bool) or not isinstance(
                resample_probability, (int, float)) or not 0 <= resample_probability <= 1:
            raise ValueError(f"resample_probability: must be in [0, 1], got "
                             f"{resample_probability!r}")
        factors = tuple(perturbation_factors)
        if not factors or any(isinstance(f, bool) or not isinstance(f, (int, float)) or f <= 0
                              for f in factors):
            raise ValueError(f"perturbation_factors: must be positive numbers, got "
                             f"{perturbation_factors!r}")
        if explore is not None and not callable(explore):
            raise ValueError(f"explore: must be a function params -> params, got {explore!r}")
        if mutate is not None and (isinstance(mutate, str) or not all(
                isinstance(n, str) for n in mutate)):
            raise ValueError(f"mutate: must be a list of parameter names, got {mutate!r}")
        self._p, self._factors, self._explore_fn = float(resample_probability), factors, explore
        self._mutate = None if mutate is None else tuple(mutate)

    def _explore(self, study: Study, member: Member, segment: FrozenTrial,
                 space: dict[str, BaseDistribution], rng: np.random.Generator
                 ) -> dict[str, Any]:
        params = dict(segment.params)
        if self._explore_fn is not None:
            out = self._explore_fn(dict(params))
            if not isinstance(out, dict):
                raise ValueError(f"explore: must return a dict of parameters, got {out!r}")
            return {**params, **out}
        if self._p == 0:
            fixed = [n for n, d in space.items() if isinstance(d, CategoricalDistribution)
                     and not d.single() and (self._mutate is None or n in self._mutate)]
            if fixed:
                raise ValueError(
                    f"resample_probability: categorical parameter(s) {fixed} change only by "
                    "resampling; give resample_probability > 0, leave them out of mutate=, "
                    "or pass explore=")
        return perturb(params, space, rng, resample_probability=self._p,
                       factors=self._factors, mutate=self._mutate)
