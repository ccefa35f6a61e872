"""Which GPUs each parallel slot of a local worker may see."""

from __future__ import annotations

import math
import os

__all__ = ["assign_gpus", "visible_gpus"]


def visible_gpus() -> list[str]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else all of torch's."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def assign_gpus(workers: int, gpus_per_trial: float, gpus: list[str] | None = None
                ) -> list[list[str] | None]:
    """Per slot, the GPU ids its trials see; ``[]`` hides all GPUs (CPU trials).

    ``gpus_per_trial`` may be a whole number (each slot gets that many GPUs of its
    own) or a fraction ``1/k`` (``k`` slots share each GPU).

    Example:
        >>> assign_gpus(4, 0.5, ["0", "1"])
        [['0'], ['0'], ['1'], ['1']]
        >>> assign_gpus(2, 0, ["0"])
        [[], []]
    """
    if gpus_per_trial < 0:
        raise ValueError(f"gpus_per_trial: must be >= 0, got {gpus_per_trial}")
    if gpus_per_trial == 0:
        return [[] for _ in range(workers)]
    gpus = visible_gpus() if gpus is None else gpus
    needed = workers * gpus_per_trial
    if needed > len(gpus) + 1e-9:
        raise ValueError(
            f"gpus_per_trial: {workers} workers x {gpus_per_trial:g} GPUs need {needed:g} GPUs, "
            f"but {len(gpus)} {'is' if len(gpus) == 1 else 'are'} visible ({gpus}); use fewer "
            "workers, a fraction such as 0.5, or gpus_per_trial: 0 for CPU trials")
    if gpus_per_trial >= 1:
        if gpus_per_trial != int(gpus_per_trial):
            raise ValueError(f"gpus_per_trial: above 1 it must be whole, got {gpus_per_trial}")
        k = int(gpus_per_trial)
        return [gpus[i * k:(i + 1) * k] for i in range(workers)]
    share = round(1 / gpus_per_trial)
    if not math.isclose(share * gpus_per_trial, 1.0):
        raise ValueError(f"gpus_per_trial: a fraction must be 1/k (0.5, 0.25, ...), "
                         f"got {gpus_per_trial}")
    return [[gpus[i // share]] for i in range(workers)]
