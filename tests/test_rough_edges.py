"""Issue 28, "what a new user still trips over": safety, files and the command line,
each on real processes (the `hpo` command, real SQLite, PostgreSQL and torch files)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli_helpers import HPO, TESTS, env, run_hpo, start_hpo, sweep_file
from optuna.trial import TrialState

import hpo

ROOT = TESTS.parent


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


# -- safety and files -------------------------------------------------------------------


def test_a_sweep_name_that_is_a_path_is_refused_before_anything_is_written(
        tmp_path: Path) -> None:
    home = tmp_path / "a" / "b"
    home.mkdir(parents=True)
    path = sweep_file(home, """\
        budget: {trials: 1}
        name: "../../etc/x"
        objective: runner_objectives:quadratic
        isolation: none
        """)
    before = _files(tmp_path)
    out = run_hpo("sweep", str(path), "--no-progress", cwd=home)
    assert out.returncode == 2, out.stderr
    assert f"{path}:2: name: '../../etc/x' is not a plain name" in out.stderr
    assert _files(tmp_path) == before  # no study anywhere, inside or outside the sweep


def test_read_only_commands_and_a_refused_sweep_create_nothing(tmp_path: Path,
                                                               hpo_home: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: never
        objective: runner_objectives:quadratic
        budget: {trials: 1}
        """)
    before = _files(tmp_path)
    for command in ("status", "best", "plot"):
        out = run_hpo(command, str(path), cwd=tmp_path)
        assert out.returncode == 2, (command, out.stderr)
        assert "sweep 'never' has not run yet" in out.stderr, out.stderr
        assert f"`hpo sweep {path}` starts it" in out.stderr
    out = run_hpo("status", "--study", "never", cwd=tmp_path)
    assert out.returncode == 2 and "no study 'never' in the embedded storage" in out.stderr
    out = run_hpo("studies", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == ""
    assert "no studies" in out.stderr and "hpo.db does not exist" in out.stderr
    out = run_hpo("studies", "--storage", f"journal:///{tmp_path}/j.log", cwd=tmp_path)
    assert out.returncode == 0 and "j.log does not exist" in out.stderr
    # backend: ray without Ray installed (a package that fails to import stands in)
    shim = tmp_path / "no_ray"
    (shim / "ray").mkdir(parents=True)
    (shim / "ray" / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    ray = sweep_file(tmp_path, """\
        name: on-ray
        objective: runner_objectives:quadratic
        budget: {trials: 1}
        backend: ray
        """, "ray.yaml")
    before = _files(tmp_path)
    out = run_hpo("sweep", str(ray), "--no-progress", cwd=tmp_path,
                  PYTHONPATH=f"{shim}{os.pathsep}{TESTS}")
    assert out.returncode == 2, out.stderr
    assert "backend: 'ray' needs Ray, which is not installed: pip install 'hpo[ray]'" \
        in out.stderr
    assert _files(tmp_path) == before, _files(tmp_path) - before
    assert not hpo_home.exists()


def test_checkpoints_follow_the_sweep_with_a_server_storage(tmp_path: Path, hpo_home: Path,
                                                            postgres_url: str,
                                                            study_name: str) -> None:
    sweeps, elsewhere = tmp_path / "sweeps-here", tmp_path / "elsewhere"
    sweeps.mkdir()
    elsewhere.mkdir()
    path = sweep_file(sweeps, f"""\
        name: {study_name}
        objective: scheduler_objectives:segmented
        storage: {postgres_url}
        budget: {{trials: 1}}
        isolation: none
        """)
    out = run_hpo("sweep", str(path), "--no-progress", cwd=elsewhere,
                  HPO_TEST_STEP_SLEEP="0")
    assert out.returncode == 0, out.stderr
    store = sweeps / "sweeps" / study_name / "artifacts"
    assert len([p for p in store.iterdir() if not p.name.startswith(".")]) == 1
    assert not hpo_home.exists() and not (elsewhere / "hpo_runs").exists()
    study = hpo.load_study(study_name=study_name, storage=postgres_url)
    assert study._storage.get_study_system_attrs(study._study_id)["hpo:artifact_store"] \
        == str(store)
    # a study that records its store keeps it when the sweep runs again
    again = run_hpo("sweep", str(path), "--no-progress", "--trials", "2", cwd=elsewhere)
    assert again.returncode == 0, again.stderr
    assert len([p for p in store.iterdir() if not p.name.startswith(".")]) == 2


def test_a_truncated_checkpoint_names_the_trials_and_the_configuration_retrains_from_zero(
        tmp_path: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: torn
        objective: scheduler_objectives:segmented
        sampler: {name: asha, min_resource: 1, max_resource: 3, reduction_factor: 3, seed: 0}
        budget: {trials: 3}
        isolation: none
        """)
    url = f"sqlite:///{tmp_path}/sweeps/torn/study.db"
    assert run_hpo("sweep", str(path), "--no-progress", cwd=tmp_path).returncode == 0
    store = tmp_path / "sweeps" / "torn" / "study.artifacts"
    checkpoints = [p for p in store.iterdir() if not p.name.startswith(".")]
    assert len(checkpoints) == 3
    for p in checkpoints:  # every first-rung checkpoint cut in half
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    out = run_hpo("sweep", str(path), "--no-progress", "--trials", "4", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    study = hpo.load_study(study_name="torn", storage=url)
    promoted, retry = study.trials[3], study.trials[4]
    parent = promoted.system_attrs["hpo:parent"]
    reason = promoted.system_attrs["hpo:fail_reason"]
    assert promoted.state == TrialState.FAIL
    artifact = study.trials[parent].system_attrs["hpo:checkpoint"]
    assert f"trial 3 continues trial {parent}, whose checkpoint {artifact} in {store} " \
           "cannot be read (truncated or corrupt): RuntimeError: PytorchStreamReader" in reason
    assert reason in out.stderr  # the sweep said so too
    # the documented rule: retried (retries.when is [crash]) and retrained from zero
    assert retry.state == TrialState.COMPLETE
    assert retry.system_attrs["hpo:retry_of"] == 3 and "hpo:parent" not in retry.system_attrs
    assert hpo.budget(retry) == (0, 3) and retry.params == study.trials[parent].params
    assert retry.system_attrs["hpo:config"] == promoted.system_attrs["hpo:config"]
    assert retry.user_attrs["state"]["starts"] == [0]


def test_a_truncated_checkpoint_under_hpo_extend(tmp_path: Path) -> None:
    from scheduler_objectives import segmented

    study = hpo.create_study(storage=f"sqlite:///{tmp_path}/e.db", study_name="e")
    study.optimize(segmented, n_trials=1)
    (artifact,) = [p for p in (tmp_path / "e.artifacts").iterdir()
                   if not p.name.startswith(".")]
    artifact.write_bytes(artifact.read_bytes()[:100])
    child = hpo.extend(study, 0, stop=12)
    study.optimize(segmented, n_trials=1)
    failed = study.trials[child]
    assert failed.state == TrialState.FAIL
    assert failed.system_attrs["hpo:fail_reason"].startswith(
        f"CheckpointUnreadable: trial {child} continues trial 0, whose checkpoint "
        f"{artifact.name} in {tmp_path / 'e.artifacts'} cannot be read")
    assert failed.system_attrs["hpo:unreadable_parent"] == 0


_BLOCKER = """
import importlib.abc, sys
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {"psycopg", "psycopg2", "pymysql", "MySQLdb", "redis"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Blocker())
from hpo.storages import resolve_storage
try:
    resolve_storage(sys.argv[1])
except ValueError as exc:
    print(exc)
"""


def test_a_missing_database_driver_names_the_extra_to_install(tmp_path: Path) -> None:
    for url, extra in (("postgresql://me@127.0.0.1:5432/test", "postgres"),
                       ("mysql+pymysql://me@127.0.0.1:3306/test", "mysql"),
                       ("redis://127.0.0.1:6379/0", "redis")):
        out = subprocess.run([sys.executable, "-c", _BLOCKER, url], capture_output=True,
                             text=True, timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert "which is not installed: pip install " \
               f"'hpo[{extra}]'" in out.stdout, (url, out.stdout)
    out = subprocess.run([sys.executable, "-c", _BLOCKER, "mysql://me@127.0.0.1/test"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "needs the database driver 'MySQLdb', which is not installed: pip install " \
           "'hpo[mysql]' and write the URL as mysql+pymysql://" in out.stdout, out.stdout


# -- the command line -------------------------------------------------------------------


def test_max_resource_says_what_it_accepts(tmp_path: Path) -> None:
    helped = run_hpo("sweep", "--help", cwd=tmp_path)
    assert "3x" not in helped.stdout and "--max-resource R" in helped.stdout
    path = sweep_file(tmp_path, "name: x\nobjective: runner_objectives:quadratic\n"
                                "budget: {trials: 1}\n")
    out = run_hpo("sweep", str(path), "--max-resource", "3x", cwd=tmp_path)
    assert out.returncode == 2
    assert "--max-resource: expected the new maximum resource, a number such as 27, got " \
           "'3x'" in out.stderr
    assert not (tmp_path / "sweeps").exists()


def test_a_spent_budget_is_said_so_with_how_to_raise_it(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: spent
        objective: scheduler_objectives:segmented
        sampler: {name: idhb, min_resource: 1, max_resource: 2, reduction_factor: 2, seed: 0}
        budget: {resource: 6}
        isolation: none
        """)
    first = run_hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    n = len(hpo.load_study(study_name="spent",
                           storage=f"sqlite:///{tmp_path}/sweeps/spent/study.db").trials)
    again = run_hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert re.search(r"sweep 'spent': its budget is spent \(resource \d+ of 6\), so nothing "
                     r"runs: it is already done; raise budget.resource in the sweep file to "
                     r"run more", again.stderr), again.stderr
    deeper = run_hpo("sweep", str(path), "--no-progress", "--max-resource", "4", cwd=tmp_path)
    assert deeper.returncode == 0, deeper.stderr
    assert "maximum resource raised to 4" in deeper.stderr
    assert "so nothing runs at the new maximum; raise budget.resource in the sweep file to " \
           "run more" in deeper.stderr
    study = hpo.load_study(study_name="spent",
                           storage=f"sqlite:///{tmp_path}/sweeps/spent/study.db")
    assert len(study.trials) == n
    trials = sweep_file(tmp_path, "name: t\nobjective: runner_objectives:quadratic\n"
                                  "budget: {trials: 1}\nisolation: none\n", "t.yaml")
    assert run_hpo("sweep", str(trials), "--no-progress", cwd=tmp_path).returncode == 0
    out = run_hpo("sweep", str(trials), "--no-progress", cwd=tmp_path)
    assert "its budget is spent (1 of 1 trials), so nothing runs: it is already done; raise " \
           "budget.trials in the sweep file (or pass --trials N) to run more" in out.stderr


def test_a_second_sigterm_leaves_at_once(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: stubborn
        objective: rough_objectives:stubborn
        budget: {trials: 2}
        """)
    ready = tmp_path / "ready"
    proc = start_hpo("sweep", str(path), "--no-progress", cwd=tmp_path,
                     HPO_TEST_READY=str(ready))
    deadline = time.monotonic() + 120
    while not ready.exists():  # the trial ignores SIGTERM from here on
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
        time.sleep(0.1)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - started
    assert proc.returncode == 130, err
    assert took < 4.0, f"left {took:.1f} s after the signals (one alone waits 5 s)"
    study = hpo.load_study(study_name="stubborn",
                           storage=f"sqlite:///{tmp_path}/sweeps/stubborn/study.db")
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]
    assert study.trials[0].system_attrs["hpo:fail_reason"] == "the sweep was stopped"


def test_progress_to_a_file_counts_the_resource_once_per_state_and_status_shows_the_rule(
        tmp_path: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: prog
        objective: scheduler_objectives:segmented
        sampler: {name: asha, min_resource: 2, max_resource: 6, reduction_factor: 3, seed: 0}
        budget: {resource: 9}
        isolation: none
        """)
    with open(tmp_path / "sweep.log", "w") as log:  # progress into a file, as in a batch job
        done = subprocess.run([HPO, "sweep", str(path)], cwd=tmp_path, stderr=log,
                              stdout=subprocess.PIPE, text=True, timeout=300, env=env())
    text = (tmp_path / "sweep.log").read_text()
    assert done.returncode == 0, text
    assert "\r" not in text
    lines = [ln for ln in text.splitlines() if ln.startswith("prog: ")]
    assert lines[0].startswith("prog: 0/9 resource (0%)")
    assert re.fullmatch(r"prog: 1\d/9 resource \(1\d\d%\), best=\S+, \d\d:\d\d elapsed",
                        lines[-1]), lines
    assert len(lines) == len(set(lines))  # no state written twice
    study = hpo.load_study(study_name="prog",
                           storage=f"sqlite:///{tmp_path}/sweeps/prog/study.db")
    spent = sum(hpo.budget(t)[1] - hpo.budget(t)[0] for t in study.trials)
    assert spent > 9  # the last segment ran past the budget, as documented
    status = run_hpo("status", str(path), cwd=tmp_path)
    assert re.search(rf"past budget +by {spent - 9:g}: each worker finishes the segment it "
                     r"runs when the budget is reached \(up to one segment per worker\)",
                     status.stdout), status.stdout
    again = run_hpo("sweep", str(path), cwd=tmp_path)
    assert "it is already done" in again.stderr and "prog: " not in again.stderr


def test_progress_of_a_trial_budget_shows_its_total_and_time_left(tmp_path: Path) -> None:
    out = _lines_of_progress(tmp_path, "budget: {trials: 3}")
    assert out[0] == "quad: 0/3 trials (0%), 00:00 elapsed"
    assert re.fullmatch(r"quad: 3/3 trials \(100%\), best=\S+, \d\d:\d\d elapsed", out[-1])


def test_progress_of_pbt_counts_the_population_to_its_end(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: pbt
        objective: pbt_objectives:toy
        sampler: {name: pbt, population_size: 2, perturbation_interval: 4, max_resource: 8,
                  seed: 0}
        budget: {trials: 1000}
        isolation: none
        """)
    out = run_hpo("sweep", str(path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("pbt: ")]
    assert lines[0] == "pbt: 0/16 resource (0%), 00:00 elapsed"  # 2 members x 8, not 1000
    assert re.fullmatch(r"pbt: 16/16 resource \(100%\), best=\S+, \d\d:\d\d elapsed",
                        lines[-1]), lines
    again = run_hpo("sweep", str(path), cwd=tmp_path)
    assert "its budget is spent (the population finished: every member reached the " \
           "sampler's max_resource), so nothing runs: it is already done" in again.stderr


def _lines_of_progress(tmp_path: Path, budget: str) -> list[str]:
    path = sweep_file(tmp_path, f"name: quad\nobjective: runner_objectives:quadratic\n"
                                f"{budget}\nisolation: none\n")
    out = run_hpo("sweep", str(path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return [ln for ln in out.stderr.splitlines() if ln.startswith("quad: ")]


def test_validation_names_the_line_of_each_problem(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, """\
        name: v
        objective: runner_objectives:quadratic
        budget: {trials: 1}
        sampler:
          name: asha
          min_resource: 1
          max_resource: 9
          searcher: {name: pbt}
        pruner:
          name: medianx
        """)
    out = run_hpo("sweep", str(path), cwd=tmp_path)
    assert out.returncode == 2
    assert f"{path}:8: sampler.searcher.name: pbt cannot be a searcher: it decides itself " \
           "which trials continue" in out.stderr
    assert f"{path}:10: pruner.name: unknown pruner 'medianx'; allowed: [" in out.stderr
    for searcher in ("freeze_thaw", "hyperband", "mopbt"):
        path.write_text(path.read_text().replace("{name: pbt}", f"{searcher}")
                        .replace("medianx", "median").replace("searcher: hyperband",
                                                              f"searcher: {searcher}"))
        out = run_hpo("sweep", str(path), cwd=tmp_path)
        assert f"{path}:8: sampler.searcher: {searcher} cannot be a searcher" in out.stderr
        path.write_text(path.read_text().replace(f"searcher: {searcher}", "searcher: {name: pbt}"))
    path = sweep_file(tmp_path, "name: v\nobjective: runner_objectives:quadratic\n"
                                "budget: {trials: 1}\nsampler: {name: gridd}\n", "s.yaml")
    out = run_hpo("sweep", str(path), cwd=tmp_path)
    assert f"{path}:4: sampler.name: unknown sampler 'gridd'; allowed: [" in out.stderr


def test_a_changed_direction_and_space_are_listed_together(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import json, sys\n"
                                       "print(json.dumps({'loss': float(sys.argv[1])}))\n")
    text = """\
        name: both
        command: "python train.py {x}"
        metric: {name: loss, direction: minimize}
        space:
          x: {type: uniform, low: 0, high: 1}
        budget: {trials: 1}
        isolation: none
        """
    path = sweep_file(tmp_path, text)
    first = run_hpo("sweep", str(path), "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    sweep_file(tmp_path, text.replace("minimize", "maximize").replace("high: 1", "high: 2"))
    out = run_hpo("sweep", str(path), "--no-progress", "--trials", "2", cwd=tmp_path)
    assert out.returncode == 2
    assert "with other settings:\n  direction(s) ['minimize'], not ['maximize']\n  " \
           "x: float in [0.0, 1.0] -> float in [0.0, 2.0]\n" in out.stderr, out.stderr


def test_the_documented_examples_run_without_warnings(tmp_path: Path) -> None:
    page = (ROOT / "docs" / "schedulers.md").read_text()
    script = tmp_path / "schedulers.py"
    script.write_text("\n\n".join(re.findall(r"^```python\n(.*?)^```", page, flags=re.S | re.M)))
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600, env=env())
    assert out.returncode == 0, out.stderr[-2000:]
    assert "[1, 3, 9, 27]" in out.stdout
    assert "pruner" not in out.stderr and "Warning" not in out.stderr, out.stderr[-2000:]
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py"), "--trials",
                          "3", "--epochs", "2"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600, env=env())
    assert out.returncode == 0, out.stderr[-2000:]
    assert "plot: runs/quickstart.png" in out.stdout
    assert "Warning" not in out.stderr, out.stderr[-2000:]


def test_the_slurm_recipe_runs_its_array_tasks_as_workers_of_one_sweep(tmp_path: Path) -> None:
    page = (ROOT / "docs" / "runner.md").read_text()
    (script,) = [b for b in re.findall(r"^```sh\n(.*?)^```", page, flags=re.S | re.M)
                 if "#SBATCH --array" in b]
    (tmp_path / "hpo.sbatch").write_text(script)
    # the recipe's sweep file: a journal file on the (here: local) shared filesystem
    sweep_file(tmp_path, """\
        name: slurm
        objective: runner_objectives:sleepy
        storage: journal:///shared/slurm.journal
        output_dir: shared/slurm
        budget: {trials: 9}
        isolation: none
        """)
    bin_dir = Path(HPO).parent
    tasks = [subprocess.Popen(["bash", "hpo.sbatch"], cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env(SLURM_ARRAY_TASK_ID=str(i), HPO_TEST_SLEEP="0.5",
                                      PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}"))
             for i in range(3)]
    outs = [t.communicate(timeout=300) for t in tasks]
    for i, (task, (stdout, stderr)) in enumerate(zip(tasks, outs, strict=True)):
        assert task.returncode == 0, stderr
        assert stdout.startswith(f"array task {i} on "), stdout
    study = hpo.load_study(study_name="slurm", storage=f"journal:///{tmp_path}/shared/"
                                                       "slurm.journal")
    # each worker checks the shared budget before it asks: at most one trial each past it
    assert 9 <= len(study.trials) <= 11
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    workers = {t.system_attrs["hpo:worker"].split("/")[0] for t in study.trials}
    assert len(workers) >= 2, workers  # the array tasks shared the sweep
    assert json.loads((tmp_path / "shared" / "slurm" / "best.json").read_text())

