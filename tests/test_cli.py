"""The `hpo` console script, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import hpo

HPO = str(Path(sys.executable).with_name("hpo"))


def _hpo(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([HPO, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_version(tmp_path: Path) -> None:
    out = _hpo("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == f"hpo {hpo.__version__}"


def test_best_and_studies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    study = hpo.create_study(storage=url, study_name="cli", direction="maximize")
    study.optimize(lambda t: -((t.suggest_float("x", -1, 1) - 0.5) ** 2), n_trials=6)
    out = _hpo("best", "--study", "cli", "--storage", url, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    best = json.loads(out.stdout)
    assert best["number"] == study.best_trial.number
    assert best["params"] == study.best_params
    out = _hpo("studies", "--storage", url, cwd=tmp_path)
    assert out.stdout.split("\t")[:2] == ["cli", "maximize"]


def test_best_pareto_front(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/mo.db"
    study = hpo.create_study(storage=url, study_name="mo", directions=["minimize", "minimize"])
    study.optimize(lambda t: (t.suggest_float("a", 0, 1), 1 - t.suggest_float("a", 0, 1) ** 2),
                   n_trials=6)
    out = _hpo("best", "--study", "mo", "--storage", url, cwd=tmp_path)
    front = json.loads(out.stdout)
    front = front if isinstance(front, list) else [front]
    assert sorted(r["number"] for r in front) == sorted(t.number for t in study.best_trials)


def test_errors_are_reported_not_raised(tmp_path: Path) -> None:
    out = _hpo("best", "--study", "nope", "--storage", f"sqlite:///{tmp_path}/e.db", cwd=tmp_path)
    assert out.returncode == 2
    assert "hpo best:" in out.stderr and "nope" in out.stderr
    out = _hpo("best", "--study", "x", "--storage", "foo://bar", cwd=tmp_path)
    assert out.returncode == 2 and "unknown URL" in out.stderr
    study = hpo.create_study(storage=f"sqlite:///{tmp_path}/e.db", study_name="empty")
    assert study.trials == []
    out = _hpo("best", "--study", "empty", "--storage", f"sqlite:///{tmp_path}/e.db",
               cwd=tmp_path)
    assert out.returncode == 1 and "no completed trial" in out.stderr
