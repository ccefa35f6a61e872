"""Ready training functions: decorated objectives for RL (PPO) and alignment (DPO).

Each is an ``@hpo.objective`` with a search space, intermediate reports, and
checkpoint/resume through :func:`hpo.resume`, :func:`hpo.budget` and
:func:`hpo.checkpoint`, so pruners, Hyperband-style promotion and PBT use them unchanged.

* :mod:`hpo.integrations.ppo` (extra ``rl``: gymnasium): a compact plain-torch PPO;
  ``ppo_cartpole``, ``ppo_acrobot``, ``ppo_pendulum`` and :func:`make_ppo_objective`.
* :mod:`hpo.integrations.dpo` (extra ``dpo``: transformers): DPO on a tiny GPT-2 built
  from a config and a synthetic preference task, or on a model and dataset of yours;
  :func:`make_dpo_objective` and ``dpo_tiny``.

The submodules import their optional dependencies lazily; importing
``hpo.integrations`` itself needs neither.

Example:
    >>> from hpo.integrations import ppo  # doctest: +SKIP
    >>> ppo.ppo_cartpole(lr=1e-3, max_steps=4096)  # doctest: +SKIP
    31.4
"""

from __future__ import annotations

from typing import Any

__all__ = ["dpo_tiny", "make_dpo_objective", "make_ppo_objective", "ppo_acrobot",
           "ppo_cartpole", "ppo_pendulum"]

_PPO = {"make_ppo_objective", "ppo_cartpole", "ppo_acrobot", "ppo_pendulum"}
_DPO = {"make_dpo_objective", "dpo_tiny"}


def __getattr__(name: str) -> Any:
    if name in _PPO:
        from hpo.integrations import ppo

        return getattr(ppo, name)
    if name in _DPO:
        from hpo.integrations import dpo

        return getattr(dpo, name)
    raise AttributeError(f"module 'hpo.integrations' has no attribute {name!r}")
