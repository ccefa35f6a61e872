"""Pending parameters: what a model-based sampler chose for a trial that is still running.

A sampler picks all of a trial's relative parameters in ``sample_relative``, before the
objective suggests them one by one, so until the trial finishes ``trial.params`` lacks
some of them. :func:`store_params` records the whole choice in the trial's system
attributes (:data:`hpo._attrs.PENDING_PARAMS`, JSON in chunks short enough for RDB
storages), so that other workers' models (GP, CARBS, LLM, multi-fidelity) see the trial
as a pending point (a fantasy) rather than as nothing. A leaf: it imports only Optuna
and :mod:`hpo._attrs`.

Example:
    >>> import optuna
    >>> study = optuna.create_study()
    >>> trial = study.ask()
    >>> store_params(study, study.trials[-1], {"lr": 0.01, "width": 64})
    >>> stored_params(study.trials[-1])
    {'lr': 0.01, 'width': 64}
"""

from __future__ import annotations

import json
from typing import Any

from optuna.study import Study
from optuna.trial import FrozenTrial

from hpo import _attrs

__all__ = ["store_params", "stored_params"]

_CHUNK = 2000  # characters per system attr (RDB storages limit their length)


def store_params(study: Study, trial: FrozenTrial, params: dict[str, Any]) -> None:
    """Record the parameters a sampler chose for ``trial`` before the trial suggests
    them, so that other workers' samplers see them as pending (fantasies)."""
    text = json.dumps(params)
    for i in range(0, len(text), _CHUNK):
        study._storage.set_trial_system_attr(
            trial._trial_id, f"{_attrs.PENDING_PARAMS}:{i // _CHUNK}", text[i:i + _CHUNK])


def stored_params(trial: FrozenTrial) -> dict[str, Any]:
    """The parameters :func:`store_params` recorded for ``trial`` (``{}`` if none)."""
    chunks, i = [], 0
    while (chunk := trial.system_attrs.get(f"{_attrs.PENDING_PARAMS}:{i}")) is not None:
        chunks.append(chunk)
        i += 1
    return json.loads("".join(chunks)) if chunks else {}
