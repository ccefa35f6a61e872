"""The house: imports only point down, plain-Python paths import no torch, and the one
continuation template's claim / fallback / wait on a real SQLite storage."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

import hpo
from hpo import _attrs
from hpo.samplers import protocols
from hpo.samplers._continuing import ContinuationSampler, Decision

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("code", [
    "import hpo.samplers",
    "import hpo.samplers; hpo.samplers.ASHA(1, 9, seed=0); hpo.samplers.Hyperband(1, 9)",
    "import hpo.samplers; hpo.samplers.PBT(population_size=4, perturbation_interval=1, "
    "max_resource=4)",
    "import hpo; hpo.budget(None, max_resource=3); hpo.set_budget; hpo.extend",
    "import hpo.samplers.protocols, hpo.exceptions, hpo.storages",
])
def test_plain_python_paths_import_no_torch(code: str) -> None:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\n"
                          "print(sorted(m for m in ('torch', 'botorch', 'gpytorch') "
                          "if m in sys.modules))"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_import_contract_holds() -> None:
    """pyproject.toml's [tool.importlinter] layers (the package's, and inside
    hpo.samplers), as .ci/run checks them."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is a dev dependency"
    out = subprocess.run([exe, "--no-cache"], capture_output=True, text=True, timeout=300,
                         cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "2 kept, 0 broken" in out.stdout


def test_every_package_has_an_init() -> None:
    """setuptools' package finder skips folders without ``__init__.py``: an installed
    (not editable) hpo would miss them."""
    missing = [str(d.relative_to(ROOT)) for d in (ROOT / "hpo").rglob("*")
               if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py"))
               and not (d / "__init__.py").exists()]
    assert missing == []


def test_every_sampler_hook_is_a_protocol_the_samplers_meet() -> None:
    asha = hpo.samplers.ASHA(1, 9, searcher=hpo.samplers.MultiFidelityGPSampler(seed=0))
    pbt = hpo.samplers.PBT(population_size=2, perturbation_interval=1, max_resource=2)
    assert isinstance(asha, protocols.DecidesContinuation)
    assert isinstance(asha, protocols.Deepens) and not isinstance(asha, protocols.Population)
    assert isinstance(pbt, protocols.Population) and not isinstance(pbt, protocols.Deepens)
    assert isinstance(hpo.samplers.MultiFidelityGPSampler(), protocols.ModelsResource)
    gp = hpo.samplers.GPSampler()
    assert not any(isinstance(gp, p) for p in (protocols.DecidesContinuation,
                                                protocols.Population, protocols.Deepens,
                                                protocols.ModelsResource,
                                                protocols.WantsSearchSpace))


class _Scripted(ContinuationSampler):
    """Returns the decisions it is given, one per call (``None``: wait)."""

    def __init__(self, decisions: list[Decision | None]) -> None:
        self._decisions = decisions
        self.decided: list[Decision] = []
        self._reset_local()

    def _next(self, study: optuna.Study, trial: FrozenTrial) -> Decision | None:
        return self._decisions.pop(0)

    def _decided(self, study: optuna.Study, trial: FrozenTrial, decision: Decision) -> None:
        self.decided.append(decision)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict:
        return {}

    def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
        return optuna.samplers.RandomSampler(seed=0).sample_independent(study, trial, name, dist)


def _claimed(study: optuna.Study, stop: int) -> None:
    """A running trial of 'another process' that holds member 3's segment up to ``stop``."""
    storage = study._storage
    tid = storage.create_new_trial(study._study_id)
    for key, value in ((_attrs.MEMBER, 3), (_attrs.STOP, stop), (_attrs.START, 0)):
        storage.set_trial_system_attr(tid, key, value)


def test_a_claim_taken_elsewhere_falls_back_and_clears_what_no_longer_holds(
        tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler())
    study.add_trial(optuna.trial.create_trial(value=1.0, system_attrs={_attrs.STOP: 2}))
    _claimed(study, stop=4)
    promote = Decision(2, 4, parent=0, params={"x": 0.5},
                       attrs={_attrs.MEMBER: 3, _attrs.EXPLOIT: 1}, claim=_attrs.MEMBER,
                       fallback=Decision(0, 2, attrs={_attrs.MEMBER: 4}))
    sampler = _Scripted([promote])
    study.sampler = sampler
    t = study.ask()
    attrs = study._storage.get_trial_system_attrs(t._trial_id)
    assert attrs[_attrs.MEMBER] == 4
    assert sampler.decided == [promote.fallback]
    assert hpo.budget(t) == (0, 2)
    assert attrs[_attrs.PARENT] is None and attrs[_attrs.EXPLOIT] is None  # cleared
    assert attrs[_attrs.FIXED_PARAMS] == {}
    assert hpo.resume(t) is None  # it continues nothing


def test_a_decision_to_wait_asks_again_and_a_refusal_fails_the_trial(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/s.db")
    study.sampler = _Scripted([None, Decision(0, 3, attrs={_attrs.MEMBER: 0})])
    trial = study.ask()
    assert hpo.budget(trial) == (0, 3)

    class _Refuses(_Scripted):
        def _next(self, study: optuna.Study, trial: FrozenTrial) -> Decision | None:
            raise ValueError("objective: no")

    study.sampler = _Refuses([])
    with pytest.raises(ValueError, match="objective: no"):
        study.ask()
    last = study.get_trials(deepcopy=False)[-1]
    assert last.state == TrialState.FAIL
    assert last.system_attrs[_attrs.FAIL_REASON] == "objective: no"


@pytest.mark.parametrize("make", [
    lambda s: hpo.samplers.ASHA(1, 9, searcher=s),
    lambda s: hpo.samplers.PBT(population_size=2, perturbation_interval=1, max_resource=2,
                               searcher=s),
])
def test_a_sampler_that_decides_continuation_is_no_searcher(make: Any) -> None:
    for searcher in (hpo.samplers.PBT(population_size=2, perturbation_interval=1,
                                      max_resource=2), hpo.samplers.Hyperband(1, 9)):
        with pytest.raises(ValueError, match=r"^searcher: \w+ decides continuation itself"):
            make(searcher)
