"""Build samplers and pruners by name with keyword options (for sweep files).

Unknown names and unknown options are errors that list what is allowed.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["PRUNERS", "SAMPLERS", "build"]

# name -> "module:attribute" of the class (or factory)
SAMPLERS: dict[str, str] = {
    "gp": "hpo.samplers.gp:GPSampler",
    "carbs": "hpo.samplers:CARBS",
    "multifidelity": "hpo.samplers:MultiFidelityGPSampler",
    "llm": "hpo.samplers:LLMSampler",
    "freeze_thaw": "hpo.samplers:FreezeThaw",
    "tpe": "optuna.samplers:TPESampler",
    "random": "optuna.samplers:RandomSampler",
    "qmc": "optuna.samplers:QMCSampler",
    "cmaes": "optuna.samplers:CmaEsSampler",
    "nsga2": "optuna.samplers:NSGAIISampler",
    "successive_halving": "hpo.samplers:SuccessiveHalving",
    "asha": "hpo.samplers:ASHA",
    "hyperband": "hpo.samplers:Hyperband",
    "idhb": "hpo.samplers:IDHB",
    "one_epoch": "hpo.samplers:OneEpoch",
    "pbt": "hpo.samplers:PBT",
    "pb2": "hpo.samplers:PB2",
    "mopbt": "hpo.samplers:MOPBT",
}
PRUNERS: dict[str, str] = {
    "asha": "optuna.pruners:SuccessiveHalvingPruner",
    "successive_halving": "optuna.pruners:SuccessiveHalvingPruner",
    "hyperband": "optuna.pruners:HyperbandPruner",
    "median": "optuna.pruners:MedianPruner",
    "percentile": "optuna.pruners:PercentilePruner",
    "patient": "optuna.pruners:PatientPruner",
    "nop": "optuna.pruners:NopPruner",
}
# Planned in hpo; named so that a sweep file using them gets a precise error.
PLANNED: tuple[str, ...] = ()


def _resolve(path: str) -> Callable[..., Any]:
    module, attr = path.split(":")
    return getattr(importlib.import_module(module), attr)


def build(kind: str, name: str, options: Mapping[str, Any], registry: Mapping[str, str]) -> Any:
    """Instantiate ``registry[name](**options)``; ``kind`` ("sampler", "pruner") for errors."""
    if name not in registry:
        extra = " (planned, not yet available)" if name in PLANNED else ""
        raise ValueError(f"{kind}.name: unknown {kind} {name!r}{extra}; allowed: "
                         f"{sorted(registry)}")
    cls = _resolve(registry[name])
    params = inspect.signature(cls).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            raise ValueError(f"{kind}: {name} has no option(s) {unknown}; allowed: "
                             f"{sorted(n for n in params if n != 'self')}")
    searcher = options.get("searcher")
    if registry is SAMPLERS and searcher is not None and not hasattr(searcher, "sample_relative"):
        # a scheduler's searcher, by name ("tpe") or as {name: tpe, seed: 0}
        spec = {"name": searcher} if isinstance(searcher, str) else searcher
        if not isinstance(spec, Mapping) or "name" not in spec:
            raise ValueError(f"{kind}: {name}: searcher must be a sampler name or "
                             f"{{name: ..., <options>}}, got {searcher!r}")
        inner = {k: v for k, v in spec.items() if k != "name"}
        options = {**options, "searcher": build("searcher", spec["name"], inner, SAMPLERS)}
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{kind}: {name}({dict(options)}): {exc}") from exc
