"""Ready training functions: real PPO and DPO training, small and fast (no mocks)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import optuna
import pytest
import torch

import hpo
from hpo.space import default_of

pytest.importorskip("gymnasium")
from hpo.integrations import ppo

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEFAULTS_CARTPOLE = {k: default_of(d) for k, d in ppo.ppo_cartpole.space.items()}


def _study(tmp_path: Path, direction: str, max_resource: int, **kw) -> hpo.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return hpo.create_study(direction=direction, storage="sqlite:///:memory:",
                            artifact_dir=str(tmp_path / "artifacts"), max_resource=max_resource,
                            **kw)


# --------------------------------------------------------------------------- PPO


def test_ppo_good_learning_rate_beats_a_terrible_one() -> None:
    good = ppo.ppo_cartpole(lr=1e-3, max_steps=3072)
    bad = ppo.ppo_cartpole(lr=1e-6, max_steps=3072)
    assert bad < 30  # a random CartPole policy lasts about 22 steps
    assert good > bad + 12, (good, bad)


def test_ppo_plain_calls_are_deterministic_and_seeded() -> None:
    f = ppo.make_ppo_objective("CartPole-v1", space={"n_epochs": hpo.fixed(1)})
    a, b = f(max_steps=1024), f(max_steps=1024)
    c = f(max_steps=1024, seed=1)
    assert a == b
    assert a != c


def _continue(study: hpo.Study, f: hpo.Objective, parent: int, start: int, stop: int,
              params: dict) -> int:
    """A continuation of ``parent`` with (possibly changed) params, as PBT makes one."""
    study.enqueue_trial(params)
    trial = study.ask()
    hpo.set_budget(study, trial, start=start, stop=stop, parent=parent)
    study.tell(trial, f(trial))
    return trial.number


def test_ppo_resume_is_exact(tmp_path: Path) -> None:
    f = ppo.make_ppo_objective("CartPole-v1", space={"n_epochs": hpo.fixed(2)},
                               report_every=256)
    params = {k: default_of(d) for k, d in f.space.items()}  # rollouts of 128 x 4 steps
    one = _study(tmp_path / "one", "maximize", 1024)
    one.enqueue_trial(params)
    one.optimize(f, n_trials=1)
    two = _study(tmp_path / "two", "maximize", 512)
    two.enqueue_trial(params)
    two.optimize(f, n_trials=1)
    child = hpo.extend(two, 0, stop=1024)
    two.optimize(f, n_trials=1)

    a, b = hpo.load_checkpoint(one, 0), hpo.load_checkpoint(two, child)
    assert a["env_steps"] == b["env_steps"] == 1024
    assert hpo.budget(two.trials[child]) == (512, 1024)
    assert a["returns"] == b["returns"] and len(a["returns"]) > 20
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert one.trials[0].value == two.trials[child].value
    assert one.trials[0].intermediate_values[1024] == two.trials[child].intermediate_values[1024]
    assert sorted(two.trials[child].intermediate_values) == [768, 1024]


def test_ppo_continuation_applies_a_changed_learning_rate(tmp_path: Path) -> None:
    f = ppo.make_ppo_objective("CartPole-v1", space={"n_epochs": hpo.fixed(1)})
    params = {k: default_of(d) for k, d in f.space.items()}
    study = _study(tmp_path, "maximize", 512)
    study.enqueue_trial(params)
    study.optimize(f, n_trials=1)
    parent = hpo.load_checkpoint(study, 0)
    child = _continue(study, f, 0, 512, 1024, {**params, "lr": 5e-3})
    state = hpo.load_checkpoint(study, child)
    assert [g["lr"] for g in state["opt"]["param_groups"]] == [5e-3]
    # the optimizer state was continued, not restarted: Adam's step count adds up
    steps = [float(s["step"]) for s in state["opt"]["state"].values()]
    assert steps[0] == 2 * float(next(iter(parent["opt"]["state"].values()))["step"])
    # and the new rate made a difference against continuing at the old one
    same = _continue(study, f, 0, 512, 1024, params)
    other = hpo.load_checkpoint(study, same)
    assert not torch.equal(state["model"]["actor.0.weight"], other["model"]["actor.0.weight"])


def test_ppo_pruned_trial_checkpoints_and_can_be_extended(tmp_path: Path) -> None:
    f = ppo.make_ppo_objective("CartPole-v1", space={"n_epochs": hpo.fixed(1)},
                               report_every=512)
    study = _study(tmp_path, "maximize", 2048, pruner=optuna.pruners.ThresholdPruner(lower=1e4))
    study.enqueue_trial(DEFAULTS_CARTPOLE | {"n_epochs": 1})
    study.optimize(f, n_trials=1)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.PRUNED
    assert list(t.intermediate_values) == [512]
    assert hpo.load_checkpoint(study, 0)["env_steps"] == 512
    child = hpo.extend(study, 0, stop=1024)
    assert hpo.budget(study.trials[child]) == (512, 1024)


def test_ppo_pendulum_runs_with_a_gaussian_policy(tmp_path: Path) -> None:
    f = ppo.make_ppo_objective("Pendulum-v1", space={"n_epochs": hpo.fixed(2)},
                               report_every=400)
    study = _study(tmp_path, "maximize", 1200)
    study.enqueue_trial({k: default_of(d) for k, d in f.space.items()})  # rollouts of 256 x 4
    study.optimize(f, n_trials=1)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.COMPLETE
    assert -2000 < t.value < 0  # Pendulum's returns are negative, 200-step episodes
    assert t.user_attrs["episodes"] == 4 and sorted(t.intermediate_values) == [400, 800, 1200]
    state = hpo.load_checkpoint(study, 0)
    assert "log_std" in state["model"]


def test_ppo_eval_metric_and_acrobot() -> None:
    f = ppo.make_ppo_objective("CartPole-v1", metric="eval", eval_episodes=2,
                               space={"n_epochs": hpo.fixed(1)})
    v = f(max_steps=512)
    assert 8 <= v <= 500 and 2 * v == int(2 * v)  # mean of two whole-step returns
    a = ppo.ppo_acrobot(max_steps=512, n_epochs=1)
    assert -500 <= a < 0


def test_ppo_bad_arguments_name_the_parameter() -> None:
    with pytest.raises(ValueError, match=r"env_id.*'Cartpole-v9'.*CartPole-v1"):
        ppo.make_ppo_objective("Cartpole-v9")
    with pytest.raises(ValueError, match=r"space: unknown parameter 'learning_rate'.*lr"):
        ppo.make_ppo_objective(space={"learning_rate": hpo.loguniform(1e-4, 1e-3)})
    with pytest.raises(ValueError, match=r"space: 'lr' must be a distribution"):
        ppo.make_ppo_objective(space={"lr": 1e-3})
    with pytest.raises(ValueError, match=r"metric: expected 'train' or 'eval'"):
        ppo.make_ppo_objective(metric="final")
    with pytest.raises(ValueError, match=r"device:"):
        ppo.make_ppo_objective(device="gpu0")
    with pytest.raises(ValueError, match=r"n_steps: expected a positive integer"):
        ppo.ppo_cartpole(n_steps=0)


def test_a_ppo_sweep_writes_progress_to_the_trial_logs(tmp_path: Path) -> None:
    """Issue 28: each trial's log under `hpo sweep` (a child process per trial) shows
    steps, return and steps per second at each report; a plain call prints nothing."""
    from cli_helpers import run_hpo, sweep_file

    sweep_file(tmp_path, """\
        name: ppo-logs
        objective: hpo.integrations.ppo:ppo_cartpole
        sampler: {name: random, seed: 0}
        max_resource: 1024
        budget: {trials: 2}
        """)
    out = run_hpo("sweep", "sweep.yaml", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    logs = sorted((tmp_path / "sweeps" / "ppo-logs" / "logs").glob("trial-*.log"))
    assert [p.name for p in logs] == ["trial-0.log", "trial-1.log"]
    for n, log in enumerate(logs):
        lines = re.findall(rf"^trial {n}  steps (\d+)/1024  return [-\d.e+]+  \d+ steps/s$",
                           log.read_text(), re.M)
        assert lines and lines[-1] == "1024", log.read_text()
    study = hpo.load_study(study_name="ppo-logs",
                           storage=f"sqlite:///{tmp_path}/sweeps/ppo-logs/study.db")
    attrs = study._storage.get_study_system_attrs(study._study_id)
    assert (attrs["hpo:metric"], attrs["hpo:resource"]) == ("mean training return",
                                                            "environment steps")


# --------------------------------------------------------------------------- DPO

dpo = pytest.importorskip("hpo.integrations.dpo")


def test_dpo_writes_progress_under_a_trial_only(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    f = dpo.make_dpo_objective(max_steps=8, eval_every=4)
    f(lr=1e-3)
    assert capsys.readouterr().out == ""  # a plain call stays silent
    study = _study(tmp_path, "minimize", 8)
    study.optimize(f, n_trials=1)
    out = capsys.readouterr().out
    assert [ln.split("  ")[:2] for ln in out.splitlines()] == [
        ["trial 0", "steps 4/8"], ["trial 0", "steps 8/8"]], out
    assert all(re.search(r"  held-out loss 0\.\d+  \d+ steps/s$", ln) for ln in out.splitlines())


def test_dpo_loss_goes_down_and_learning_rates_separate() -> None:
    f = dpo.make_dpo_objective(max_steps=30, eval_every=30)
    untrained = math.log(2)
    slow = f(lr=1e-6)
    good = f(lr=5e-3)
    assert abs(slow - untrained) < 0.01  # 1e-6 barely moves the policy
    assert good < untrained - 0.15, good


def test_dpo_resume_is_exact_and_takes_a_new_learning_rate(tmp_path: Path) -> None:
    f = dpo.make_dpo_objective(max_steps=12, eval_every=4)
    params = {k: default_of(d) for k, d in f.space.items()}
    one = _study(tmp_path / "one", "minimize", 12)
    one.enqueue_trial(params)
    one.optimize(f, n_trials=1)
    two = _study(tmp_path / "two", "minimize", 8)
    two.enqueue_trial(params)
    two.optimize(f, n_trials=1)
    child = hpo.extend(two, 0, stop=12)
    two.optimize(f, n_trials=1)
    assert one.trials[0].value == two.trials[child].value
    assert sorted(two.trials[child].intermediate_values) == [12]
    a, b = hpo.load_checkpoint(one, 0), hpo.load_checkpoint(two, child)
    assert a["step"] == b["step"] == 12
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])

    changed = _continue(two, f, 0, 8, 12, {**params, "lr": 2e-2})
    state = hpo.load_checkpoint(two, changed)
    assert [g["lr"] for g in state["opt"]["param_groups"]] == [2e-2]
    assert two.trials[changed].value != two.trials[child].value


def test_dpo_trains_a_model_and_dataset_from_local_paths(tmp_path: Path) -> None:
    tok = dpo.tiny_tokenizer()
    model = dpo.tiny_model(len(tok), seed=3)
    tok.save_pretrained(tmp_path / "model")
    model.save_pretrained(tmp_path / "model")
    data = tmp_path / "prefs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in dpo.sorting_preferences(80, seed=7)))
    f = dpo.make_dpo_objective(model_name_or_path=tmp_path / "model", dataset=data,
                               metric="accuracy", max_steps=10, eval_every=5)
    assert f.direction == "maximize"
    study = _study(tmp_path, "maximize", 10)
    study.enqueue_trial({k: default_of(d) for k, d in f.space.items()} | {"lr": 5e-3})
    study.optimize(f, n_trials=1)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.COMPLETE
    assert 0.0 <= t.value <= 1.0 and sorted(t.intermediate_values) == [5, 10]
    assert t.user_attrs["heldout_loss"] < math.log(2)

    with pytest.raises(ValueError, match=r"model_name_or_path: cannot load a tokenizer"):
        dpo.make_dpo_objective(model_name_or_path=tmp_path / "missing")(max_steps=1)


def test_dpo_bad_arguments_name_the_parameter(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"metric: expected one of \['accuracy', 'loss'"):
        dpo.make_dpo_objective(metric="reward")
    with pytest.raises(ValueError, match=r"backend: expected one of"):
        dpo.make_dpo_objective(backend="jax")
    with pytest.raises(ValueError, match=r"dataset: record 0 must have string fields"):
        dpo.make_dpo_objective(dataset=[{"prompt": "a", "chosen": "b"}])
    with pytest.raises(ValueError, match=r"dataset: no file"):
        dpo.make_dpo_objective(dataset=tmp_path / "none.jsonl")
    with pytest.raises(ValueError, match=r"space: unknown parameter 'learning_rate'"):
        dpo.make_dpo_objective(space={"learning_rate": hpo.loguniform(1e-4, 1e-3)})


def test_dpo_trl_backend_trains_offline() -> None:
    pytest.importorskip("trl")
    f = dpo.make_dpo_objective(backend="trl", max_steps=8, eval_every=8)
    assert f(lr=5e-3) < math.log(2) - 0.01


# The example sweep scripts' smoke lines of docs/integrations.md run as written in
# tests/test_doc_commands.py::test_integration_sweep_scripts_run_as_written.
