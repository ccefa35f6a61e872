"""Freeze-thaw Bayesian optimisation: the learning-curve model decides what runs next.

Swersky, Snoek & Adams (2014) pause ("freeze") every configuration after a short
segment and let a model of the learning curves decide which one to continue ("thaw")
or whether to start a new one. hpo's version runs on the same segments as the
schedulers (:mod:`hpo.continuation`) with the GP of
:class:`~hpo.samplers.MultiFidelityGPSampler`.

Example:
    >>> import hpo, optuna
    >>> @hpo.objective
    ... def train(x: float = hpo.uniform(0, 1), *, trial=None) -> float:
    ...     start, stop = hpo.budget(trial, max_resource=27)
    ...     for step in range(start, stop):
    ...         if trial is not None:
    ...             trial.report((x - 0.3) ** 2 + 1.0 / (step + 1), step + 1)
    ...     return (x - 0.3) ** 2 + 1.0 / stop
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> sampler = hpo.samplers.FreezeThaw(min_resource=1, max_resource=27, seed=0)
    >>> study = optuna.create_study(sampler=sampler)
    >>> study.optimize(train, n_trials=40)
    >>> hpo.budget(study.best_trial)[1], abs(study.best_params["x"] - 0.3) < 0.15
    (27, True)
"""

from __future__ import annotations

from typing import Any

import torch
from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial

from hpo._typing import Number
from hpo.samplers._pending import store_params
from hpo.samplers._schedulers._base import Scheduler
from hpo.samplers._schedulers._plan import Config, New, Promote
from hpo.samplers.multifidelity import MultiFidelityGPSampler

__all__ = ["FreezeThaw"]

_BRACKET = "0/0"


class FreezeThaw(Scheduler):
    """Freeze-thaw: continue the paused configuration, or start the new one, with the
    largest expected improvement at the maximum resource per unit of cost to get there.

    What hpo recommends for long runs (docs/multifidelity.md; the comparison with the
    peers is in docs/benchmarks.md).

    Configurations train rung by rung on the ladder ``max_resource *
    reduction_factor**-j`` (as :class:`~hpo.samplers.ASHA`), each segment continuing its
    checkpoint. Before each trial the learning-curve GP of ``searcher`` (fitted on every
    report) scores

    - every paused configuration ``c`` at rung ``r_c``: ``EI_R(x_c) / ((R - r_c)
      rate(x_c))``, the expected improvement of its value at the maximum resource ``R``
      over the best predicted one, per unit of cost of the training left;
    - the best new configuration: ``max_x EI_R(x) / (R rate(x))``,

    and runs the best: a paused configuration continues to its next rung, a new one
    starts at the first. ``rate`` is 1 by default (the searcher's ``cost="resource"``:
    expected improvement per unit of resource left), the modelled seconds per unit of
    resource with ``cost="time"``. Until the searcher's start-up is done, new
    configurations start.

    Args:
        min_resource, max_resource, reduction_factor: the rungs, as for ASHA.
        searcher: the :class:`~hpo.samplers.MultiFidelityGPSampler` whose model decides
            (default ``MultiFidelityGPSampler(seed=seed)``).
        seed: seed of the default searcher.
    """

    def __init__(self, min_resource: Number, max_resource: Number, reduction_factor: float = 3,
                 *, searcher: MultiFidelityGPSampler | None = None,
                 seed: int | None = None) -> None:
        if searcher is not None and not isinstance(searcher, MultiFidelityGPSampler):
            raise ValueError(f"searcher: FreezeThaw decides with a learning-curve model; "
                             f"expected a MultiFidelityGPSampler, got {type(searcher).__name__}")
        super().__init__(min_resource=min_resource, max_resource=max_resource,
                         reduction_factor=reduction_factor,
                         searcher=searcher or MultiFidelityGPSampler(seed=seed), seed=seed,
                         synchronous=False)
        self._mf: MultiFidelityGPSampler = self._searcher  # type: ignore[assignment]

    _local = (*Scheduler._local, "_chosen")

    def _reset_local(self) -> None:
        super()._reset_local()
        self._chosen: dict[int, dict[str, Any]] = {}  # trial id -> the new configuration

    def _decide(self, study: Study, trial: FrozenTrial, configs: dict[str, list[Config]],
                top: int) -> Promote | New:
        self._chosen.pop(trial._trial_id, None)
        space = self._mf.infer_relative_search_space(study, trial)
        if not space:
            return New(_BRACKET, 0)
        fitted = self._mf.fit_and_propose(study, trial, space, 1.0)
        if fitted is None:
            return New(_BRACKET, 0)
        model, new_params = fitted
        levels = self.levels(study)
        R = levels[-1]
        paused = [c for c in configs.get(_BRACKET, []) if not c.busy and 0 <= c.top < top
                  and c.id in model.configs]
        if paused:
            X = torch.stack([model.configs[c.id] for c in paused] + [model.encode(new_params)])
            with torch.no_grad():
                log_ei = model.acquisition(1.0)(X.to(model.gp.train_X)).cpu()
            left = torch.tensor([R - levels[c.top] for c in paused] + [R], dtype=X.dtype)
            scores = log_ei - model.log_rate(X) - left.log()  # log(EI / cost left)
            best = int(torch.argmax(scores))
            if best < len(paused):
                return Promote(paused[best], paused[best].top + 1)
        self._chosen[trial._trial_id] = new_params
        return New(_BRACKET, 0)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        chosen = self._chosen.pop(trial._trial_id, None)
        if chosen is not None and set(chosen) == set(search_space):
            store_params(study, trial, chosen)
            return chosen
        return super().sample_relative(study, trial, search_space)
