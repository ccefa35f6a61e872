"""The README's main job, shortened: examples/quickstart.py as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna

import hpo

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_runs_end_to_end_and_resumes(tmp_path: Path) -> None:
    cmd = [sys.executable, str(EXAMPLES / "quickstart.py"), "--trials", "4", "--epochs", "4"]
    outputs = []
    for _run in range(2):  # the second run continues the same study
        out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert "best: trial" in out.stdout and "extended trial" in out.stdout
        outputs.append(out.stdout)
    # the same seed in a new study: the same trials, the same results
    other = tmp_path / "other"
    other.mkdir()
    out = subprocess.run(cmd, cwd=other, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.replace(str(other), "") == outputs[0].replace(str(tmp_path), "")
    assert (tmp_path / "runs" / "quickstart.png").stat().st_size > 10_000
    study = hpo.load_study(study_name="quickstart", storage=f"sqlite:///{tmp_path}/runs/quickstart.db")
    assert len(study.trials) == 10  # (4 trials + 1 extension) x 2 runs
    finished = [t for t in study.trials if t.state.is_finished()]
    assert all(t.state != optuna.trial.TrialState.FAIL for t in finished)
    extensions = [t for t in study.trials if hpo.lineage(t, study)]
    assert len(extensions) == 2
    for t in extensions:  # each doubles the epochs its parent trained
        parent = hpo.lineage(t, study)[0]
        assert hpo.budget(t) == (hpo.budget(parent)[1], 2 * hpo.budget(parent)[1])


def _hpo(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).with_name("hpo"))
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_example_sweep_files_run(tmp_path: Path) -> None:
    for name, trials in (("sweep.yaml", "3"), ("sweep_command.yaml", "2")):
        out = _hpo("sweep", str(EXAMPLES / name), "--trials", trials, "--no-progress",
                   "--output-dir", str(tmp_path / name), cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert "best:" in out.stdout
        assert (tmp_path / name / "best.json").exists()
