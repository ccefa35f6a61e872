"""The ``backend="trl"`` path of :mod:`hpo.integrations.dpo`: trl's ``DPOTrainer``.

CPU-friendly settings (no bf16, no gradient checkpointing, no reporting, no saving);
the optimizer and its warm-up schedule are hpo's, so that a checkpoint holds the
optimizer state and a continuation (Hyperband, PBT) resumes it with a new learning rate.
The held-out metric is hpo's own evaluation, identical to the plain-torch backend's.
Unlike the plain loop, a continuation does not replay the data order exactly.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tempfile
from typing import Any

import optuna
import torch

import hpo
from hpo.integrations._dpo_common import evaluate
from hpo.integrations._progress import Progress
from hpo.integrations._torch import torch_device

_STATE_VERSION = 1


def train_dpo_trl(*, lr: float, beta: float, batch_size: int, warmup_steps: int,
                  weight_decay: float, max_steps: int, setup: Any, metric: str,
                  eval_every: int, eval_beta: float, max_grad_norm: float, seed: int,
                  device: Any, trial: optuna.Trial | None) -> float:
    """Train with trl's DPOTrainer over the steps ``hpo.budget`` gives; see ``train_dpo``."""
    import datasets
    import transformers
    from trl import DPOConfig, DPOTrainer

    torch.set_num_threads(1)
    dev = torch_device(device)
    policy = setup.init().to(dev)
    ref = copy.deepcopy(policy).eval().requires_grad_(False)
    opt = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=weight_decay)
    state = hpo.resume(trial)
    step, last = 0, None
    if state is not None:
        if state.get("version") != _STATE_VERSION or state.get("kind") != "dpo-trl":
            raise ValueError(f"trial {trial.number}: its parent's checkpoint is not a trl DPO "
                             "state")
        policy.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, last = state["step"], state.get("last")
    for group in opt.param_groups:  # a continuation may bring new values (PBT)
        group["lr"], group["initial_lr"], group["weight_decay"] = lr, lr, weight_decay
    _start, stop = hpo.budget(trial, max_resource=max_steps)
    progress = Progress(trial, start=step, stop=stop)  # a line per evaluation, to the log
    held_cache: dict[int, tuple[float, float]] = {}
    first = step
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: min(1.0, (first + k + 1) / (warmup_steps + 1)))

    def snapshot(at: int) -> dict[str, Any]:
        return {"version": _STATE_VERSION, "kind": "dpo-trl", "model": policy.state_dict(),
                "opt": opt.state_dict(), "step": at, "last": last}

    class Report(transformers.TrainerCallback):
        pruned = False

        def on_step_end(self, args: Any, st: Any, control: Any, **kw: Any) -> Any:
            nonlocal last
            at = first + st.global_step
            if at % eval_every == 0 or at >= stop:
                policy.eval()
                last = evaluate(policy, ref, setup.held, held_cache, eval_beta, dev)
                if not math.isfinite(last["loss"]):
                    last["loss"] = math.log(2) * 100
                progress(at, f"held-out {metric}", last[metric])
                if trial is not None:
                    trial.report(last[metric], at)
                    if trial.should_prune():
                        self.pruned = True
                        control.should_training_stop = True
            return control

    report = Report()
    fields = {f.name for f in dataclasses.fields(DPOConfig)}
    # trl turns gradient checkpointing on by default: 7x slower on small models on a CPU
    ckpt = ({"activation_checkpointing": False} if "activation_checkpointing" in fields
            else {"gradient_checkpointing": False})
    if step < stop:
        with tempfile.TemporaryDirectory(prefix="hpo-trl-") as out:
            cfg = DPOConfig(
                output_dir=out, per_device_train_batch_size=min(batch_size,
                                                                len(setup.train_records)),
                max_steps=stop - step, learning_rate=lr, beta=beta, weight_decay=weight_decay,
                max_grad_norm=max_grad_norm, report_to="none", bf16=False, fp16=False,
                **ckpt, use_cpu=dev.type == "cpu", save_strategy="no",
                eval_strategy="no", logging_strategy="no", seed=seed + step,
                max_length=setup.max_length, disable_dropout=True, dataloader_num_workers=0,
                disable_tqdm=True)
            trainer = DPOTrainer(
                model=policy, ref_model=ref, args=cfg,
                train_dataset=datasets.Dataset.from_list(setup.train_records),
                processing_class=setup.tokenizer, callbacks=[report], optimizers=(opt, sched))
            result = trainer.train()
            step = first + result.global_step
    if last is None:
        last = evaluate(policy, ref, setup.held, held_cache, eval_beta, dev)
    hpo.checkpoint(trial, snapshot(step), step=step)
    if report.pruned:
        raise optuna.TrialPruned()
    if trial is not None:
        for k, v in last.items():
            trial.set_user_attr(f"heldout_{k}", v)
    return last[metric]
