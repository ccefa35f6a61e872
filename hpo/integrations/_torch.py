"""Torch helpers shared by the ready training functions (PPO and DPO)."""

from __future__ import annotations

import torch


def torch_device(device: str | torch.device | None) -> torch.device:
    """The device a trial trains on: ``"auto"`` or ``None`` is CUDA when there is a GPU.

    Example:
        >>> torch_device("cpu")
        device(type='cpu')
        >>> torch_device("gpu0")
        Traceback (most recent call last):
        ...
        ValueError: device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu0'
    """
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
                         ) from None
