"""hpo's exceptions (a leaf module, as ``optuna.exceptions``).

Example:
    >>> from hpo.exceptions import PopulationFinished
    >>> issubclass(PopulationFinished, ValueError)
    True
"""

from __future__ import annotations

from optuna.artifacts.exceptions import ArtifactNotFound

__all__ = ["ArtifactNotFound", "CheckpointUnreadable", "PopulationFinished",
           "RepeatedFailureError"]


class CheckpointUnreadable(RuntimeError):
    """A checkpoint that exists but cannot be loaded (truncated, corrupt, or from an
    incompatible torch): the message names the trial, the artifact and the store.

    Attributes: ``trial`` (number of the trial that saved it), ``artifact`` (its id),
    ``store`` (the store's URL), ``detail`` (the loader's error, one line).
    """

    def __init__(self, trial: int, artifact: str, store: str, detail: str,
                 continued_by: int | None = None) -> None:
        who = f"trial {continued_by} continues trial {trial}, whose" if continued_by is not \
            None else f"trial {trial}: its"
        super().__init__(f"{who} checkpoint {artifact} in {store} cannot be read (truncated "
                         f"or corrupt): {detail}")
        self.trial, self.artifact, self.store, self.detail = trial, artifact, store, detail


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
