"""Where the GP layer computes: one switch, ``device="auto" | "cuda" | "cpu"``.

Everything runs in float64 on either device: GP marginal likelihoods and Cholesky
factors of nearly singular kernel matrices are not safe in float32, and keeping one
dtype is what makes CPU and CUDA agree up to rounding.

``"auto"`` picks CUDA only when it is present *and* the data set is large enough for
the GPU to win; below :data:`AUTO_CUDA_MIN_POINTS` observations kernel-launch and
transfer latency dominate and the CPU is faster.

Example:
    >>> from hpo.surrogates.device import resolve_device
    >>> resolve_device("cpu", n=10)
    device(type='cpu')
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits  # a dependency of BoTorch

__all__ = ["AUTO_CUDA_MIN_POINTS", "DEVICES", "DTYPE", "check_device", "cpu_threads",
           "resolve_device"]

DEVICES = ("auto", "cuda", "cpu")
DTYPE = torch.float64
AUTO_CUDA_MIN_POINTS = 1024
"""``device="auto"`` uses CUDA from this many observations on."""


def check_device(device: str) -> str:
    """Validate a ``device=`` argument and return it; raise a ValueError naming the choices."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(map(repr, DEVICES))}; got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but torch.cuda.is_available() is False")
    return device


def resolve_device(device: str, n: int) -> torch.device:
    """The torch device for a GP on ``n`` observations under the ``device=`` switch.

    Example:
        >>> resolve_device("auto", n=50)   # small problems stay on the CPU
        device(type='cpu')
    """
    check_device(device)
    if device == "cuda" or (device == "auto" and n >= AUTO_CUDA_MIN_POINTS
                            and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


@contextmanager
def cpu_threads(n: int = 1) -> Iterator[None]:
    """Run torch's CPU ops and NumPy/SciPy's BLAS on ``n`` threads inside the block.

    GP matrices in BO are small (hundreds of rows): thread start-up, and torch's OpenMP
    threads competing with the spinning OpenBLAS threads of SciPy's L-BFGS-B, cost more
    than parallelism gains. On a loaded 2-core machine this made a GP suggestion 4-8x
    faster. Both limits are process-wide while the block runs.

    Example:
        >>> with cpu_threads(1):
        ...     torch.get_num_threads()
        1
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(n, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)
