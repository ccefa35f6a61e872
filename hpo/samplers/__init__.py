"""hpo's samplers, each an ``optuna.samplers.BaseSampler`` usable in any Optuna study.

- :class:`GPSampler`: GP Bayesian optimisation.
- :class:`CARBS`: cost-aware search around the (performance, cost) Pareto front, with
  power laws of the best settings against cost (docs/carbs.md).
- :class:`LLMSampler`: an LLM proposes configurations, the GP's acquisition decides
  (docs/llm.md).
- :class:`MultiFidelityGPSampler`: GP Bayesian optimisation of learning curves, on its
  own with a pruner, as a scheduler's searcher, or in :class:`FreezeThaw`
  (docs/multifidelity.md).
- Schedulers with promotion, on trial continuation (docs/schedulers.md):
  :class:`SuccessiveHalving`, :class:`ASHA`, :class:`Hyperband`, :class:`IDHB`,
  :class:`OneEpoch`.
- Population-based training on trial continuation (docs/pbt.md): :class:`PBT`,
  :class:`PB2`, :class:`MOPBT`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from optuna.samplers import BaseSampler

if TYPE_CHECKING:
    from hpo.samplers.carbs import CARBS
    from hpo.samplers.freeze_thaw import FreezeThaw
    from hpo.samplers.gp import GPSampler
    from hpo.samplers.hyperband import IDHB, Hyperband
    from hpo.samplers.llm import LLMSampler
    from hpo.samplers.mopbt import MOPBT
    from hpo.samplers.multifidelity import MultiFidelityGPSampler
    from hpo.samplers.one_epoch import OneEpoch
    from hpo.samplers.pb2 import PB2
    from hpo.samplers.pbt import PBT
    from hpo.samplers.successive_halving import ASHA, SuccessiveHalving

__all__ = ["ASHA", "CARBS", "IDHB", "MOPBT", "PB2", "PBT", "FreezeThaw", "GPSampler", "Hyperband",
           "LLMSampler", "MultiFidelityGPSampler", "OneEpoch", "SuccessiveHalving",
           "default_sampler"]

# Each sampler's module is imported on first use (as Optuna keeps torch behind a lazy
# import): ``hpo.samplers.ASHA`` and the population samplers load no torch or BoTorch.
_MODULES = {
    "CARBS": "carbs", "FreezeThaw": "freeze_thaw", "GPSampler": "gp", "Hyperband": "hyperband",
    "IDHB": "hyperband", "LLMSampler": "llm", "MOPBT": "mopbt",
    "MultiFidelityGPSampler": "multifidelity", "OneEpoch": "one_epoch", "PB2": "pb2",
    "PBT": "pbt", "ASHA": "successive_halving", "SuccessiveHalving": "successive_halving",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = getattr(importlib.import_module(f"hpo.samplers.{_MODULES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hpo.samplers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULES})


def default_sampler(n_objectives: int = 1, seed: int | None = None) -> BaseSampler:
    """The sampler :func:`hpo.create_study` uses when none is given: :class:`GPSampler`.

    For one objective and for several (LogEHVI); on BraninCurrin it reached a larger
    hypervolume than Optuna's GPSampler, TPE and NSGA-II at 50 and 100 trials, at a
    fraction of a second per suggestion (docs/benchmarks.md).

    Example:
        >>> type(default_sampler()).__name__, type(default_sampler(2)).__name__
        ('GPSampler', 'GPSampler')
    """
    if n_objectives < 1:
        raise ValueError(f"n_objectives: must be >= 1, got {n_objectives}")
    return __getattr__("GPSampler")(seed=seed)
