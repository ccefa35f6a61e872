"""What the schedulers and the population samplers share: they decide continuation."""

from __future__ import annotations

import logging

from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial

from hpo import _segments
from hpo.samplers._local import ProcessLocal

__all__ = ["ContinuationSampler"]

_logger = logging.getLogger("hpo.samplers")


class ContinuationSampler(ProcessLocal, BaseSampler):
    """Base of samplers that decide, before a trial starts, which trial it continues."""

    #: ``hpo.create_study`` gives such a sampler no pruner by default (Optuna's median
    #: pruner would stop segments it scheduled).
    decides_continuation = True
    _pruner_warned = False

    def _warn_about_pruner(self, study: Study) -> None:
        """Once per sampler: say so when the study's pruner would stop its segments."""
        if not self._pruner_warned and (why := _segments.pruner_conflict(
                study, type(self).__name__)) is not None:
            self._pruner_warned = True
            _logger.warning(why)

    @staticmethod
    def _refuse(study: Study, trial: FrozenTrial, exc: Exception) -> None:
        """Record why ``trial`` cannot run and mark it FAIL: nothing may stay RUNNING."""
        from hpo.study import fail_trial

        fail_trial(study._storage, trial._trial_id, str(exc))
