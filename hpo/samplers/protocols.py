"""What the rest of hpo may ask of a sampler beyond Optuna's ``BaseSampler``.

Every hook is optional and written here once, as a :class:`typing.Protocol`; the
runner, :func:`hpo.create_study`, the command line and the schedulers test for it with
``isinstance`` and call it, and nothing else of a sampler. docs/architecture.md lists
who implements and who calls each.

Example:
    >>> import hpo
    >>> from hpo.samplers import protocols
    >>> pbt = hpo.samplers.PBT(population_size=4, perturbation_interval=1, max_resource=4)
    >>> isinstance(pbt, protocols.DecidesContinuation), isinstance(pbt, protocols.Population)
    (True, True)
    >>> isinstance(hpo.samplers.ASHA(1, 9), protocols.Deepens)
    True
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from optuna.distributions import BaseDistribution
from optuna.study import Study

from hpo._typing import Number

__all__ = ["DecidesContinuation", "Deepens", "ModelsResource", "Population",
           "WantsSearchSpace"]


@runtime_checkable
class DecidesContinuation(Protocol):
    """Decides in ``before_trial`` which trial the next one continues, and over which
    range (the schedulers, FreezeThaw, the population samplers).

    :func:`hpo.create_study` gives such a sampler no pruner by default: a pruner would
    stop the segments it scheduled.
    """

    decides_continuation: Literal[True]


@runtime_checkable
class ModelsResource(Protocol):
    """A searcher that models the resource itself (MultiFidelityGPSampler): a scheduler
    shows it the whole study, every segment and report, rather than one trial per
    configuration at a common rung."""

    models_resource: Literal[True]


@runtime_checkable
class Population(Protocol):
    """A sampler whose trials may have to wait for others (population-based training).

    The runner asks, before it asks the study for a trial, :meth:`is_finished` (then
    the loop ends) and :meth:`has_work` (if not, the worker waits outside the loop's
    lock). Asked for a trial anyway, such a sampler waits, or raises
    :class:`hpo.exceptions.PopulationFinished` once nothing is left to start.
    """

    def is_finished(self, study: Study) -> bool:
        """Whether nothing is left to run: every member reached the end."""

    def has_work(self, study: Study) -> bool:
        """Whether a trial asked now would start at once."""

    def progress(self, study: Study) -> tuple[float, float]:
        """(resource the members reached, in all; resource of the whole run: every
        member at its maximum), for the runner's progress bar and its time left."""


@runtime_checkable
class Deepens(Protocol):
    """A scheduler whose maximum resource can be raised on a running or finished study
    (``hpo sweep --max-resource``): Iterative Deepening Hyperband's move."""

    def levels(self, study: Study) -> list[Number]:
        """The resources of the study's rungs, lowest first."""

    def deepen(self, study: Study, max_resource: Number) -> list[Number]:
        """Raise the study's maximum resource; returns the new rungs."""


@runtime_checkable
class WantsSearchSpace(Protocol):
    """A sampler that wants the objective's declared search space before the first
    trial (the LLM sampler's zero-shot warm start); the runner hands it over."""

    wants_search_space: Literal[True]

    def set_search_space(self, space: dict[str, BaseDistribution]) -> Any:
        """Receive the objective's declared search space."""
