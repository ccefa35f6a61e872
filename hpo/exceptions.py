"""hpo's exceptions (a leaf module, as ``optuna.exceptions``).

Example:
    >>> from hpo.exceptions import PopulationFinished
    >>> issubclass(PopulationFinished, ValueError)
    True
"""

from __future__ import annotations

from optuna.artifacts.exceptions import ArtifactNotFound

__all__ = ["ArtifactNotFound", "PopulationFinished", "RepeatedFailureError"]


class PopulationFinished(ValueError):
    """A population sampler (:class:`~hpo.samplers.PBT`, ``PB2``, ``MOPBT``) was asked
    for a trial after every member reached ``max_resource``.

    ``study.optimize`` and the runner end on it by themselves; an ask-and-tell loop
    catches it (or asks the sampler's ``is_finished(study)`` first).
    """


class RepeatedFailureError(RuntimeError):
    """The first trials of a run all failed with the same error; the sweep stopped."""

    def __init__(self, n: int, reason: str) -> None:
        super().__init__(f"the first {n} trials all failed with the same error, so the sweep "
                         f"stopped (max_initial_failures={n}): {reason}")
        self.reason = reason
