"""hpo.create_study / hpo.load_study on real storages (SQLite, journal file, PostgreSQL,
MariaDB, Redis), Optuna's API on hpo studies, and storage errors."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import hpo
from hpo.samplers import GPSampler


def _artifact_dir(study: optuna.Study) -> str:
    return study._storage.get_study_system_attrs(study._study_id)["hpo:artifact_store"]


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    k = trial.suggest_int("k", 0, 3)
    return (x - 1) ** 2 + k


def test_default_storage_is_embedded_sqlite(hpo_home: Path) -> None:
    study = hpo.create_study(study_name="demo")
    study.optimize(_objective, n_trials=3)
    assert (hpo_home / "hpo.db").exists()
    again = hpo.load_study(study_name="demo")
    assert isinstance(again, hpo.Study) and isinstance(again, optuna.Study)
    assert len(again.trials) == 3
    assert isinstance(again.sampler, GPSampler)
    assert _artifact_dir(again) == str((hpo_home / "artifacts").resolve())


def test_the_issue_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # load_if_exists: the second run continues the same study
        study = hpo.create_study(direction="maximize", storage="sqlite:///runs/demo.db",
                                 study_name="demo", load_if_exists=True)
        study.optimize(lambda t: -_objective(t), n_trials=4)
    assert len(study.trials) == 8
    assert (tmp_path / "runs" / "demo.db").exists()
    assert _artifact_dir(study) == str(tmp_path / "runs" / "demo.artifacts")


def test_optuna_api_on_hpo_studies() -> None:
    study = hpo.create_study(storage="sqlite:///:memory:")
    study.enqueue_trial({"x": 1.0, "k": 0})
    trial = study.ask()
    assert trial.suggest_float("x", -5, 5) == 1.0
    assert trial.suggest_int("k", 0, 3) == 0
    study.tell(trial, 0.0)
    study.optimize(_objective, n_trials=4)
    assert study.best_value == 0.0
    assert study.best_trial.number == 0
    df = study.trials_dataframe()
    assert len(df) == 5 and "params_x" in df.columns


def test_multi_objective_default_sampler_and_best_trials() -> None:
    study = hpo.create_study(directions=["minimize", "maximize"], storage="sqlite:///:memory:")
    study.optimize(lambda t: (t.suggest_float("a", 0, 1), t.suggest_float("b", 0, 1)),
                   n_trials=8)
    assert study.best_trials
    assert all(len(t.values) == 2 for t in study.best_trials)
    assert isinstance(study.sampler, hpo.samplers.GPSampler)  # LogEHVI after start-up


@pytest.mark.parametrize(
    ("storage", "match"),
    [
        ("foo://bar", r"storage: unknown URL 'foo://bar' \(scheme 'foo'\); allowed: sqlite"),
        ("runs/demo.db", r"scheme 'missing'.*allowed"),
        (42, r"storage: expected a URL string or a BaseStorage, got 42"),
        ("journal://x.log", r"journal:///relative/path"),
    ],
)
def test_unknown_storage_is_a_clear_error(storage, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        hpo.create_study(storage=storage)


def test_bad_direction_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"direction must be 'minimize' or 'maximize', got 'up'"):
        hpo.create_study(direction="up", storage="sqlite:///:memory:")


def test_journal_file_storage(tmp_path: Path, study_name: str) -> None:
    url = f"journal:///{tmp_path}/j/sweep.log"
    study = hpo.create_study(storage=url, study_name=study_name)
    study.optimize(_objective, n_trials=3)
    assert (tmp_path / "j" / "sweep.log").exists()
    assert len(hpo.load_study(study_name=study_name, storage=url).trials) == 3
    assert _artifact_dir(study) == str(tmp_path / "j" / "sweep.artifacts")


def _roundtrip(url: str, study_name: str) -> None:
    study = hpo.create_study(storage=url, study_name=study_name)
    try:
        study.optimize(_objective, n_trials=3)
        loaded = hpo.load_study(study_name=study_name, storage=url)
        assert [t.state for t in loaded.trials] == [TrialState.COMPLETE] * 3
        assert loaded.best_value == study.best_value
    finally:
        optuna.delete_study(study_name=study_name, storage=hpo.storages.resolve_storage(url))


def test_postgresql_storage(postgres_url: str, study_name: str) -> None:
    _roundtrip(postgres_url, study_name)


def test_mariadb_storage(mysql_url: str, study_name: str) -> None:
    _roundtrip(mysql_url, study_name)


def test_redis_journal_storage(redis_url: str, study_name: str) -> None:
    _roundtrip(redis_url, study_name)


def test_load_unknown_study_names_it_and_the_existing_ones() -> None:
    s = optuna.storages.InMemoryStorage()
    hpo.create_study(study_name="a", storage=s)
    with pytest.raises(ValueError,
                       match=r"study_name: no study 'b' in the storage InMemoryStorage; "
                             r"it has \['a'\]"):
        hpo.load_study(study_name="b", storage=s)
