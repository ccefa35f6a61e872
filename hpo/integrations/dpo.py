"""DPO (direct preference optimisation) as a ready ``@hpo.objective`` training function.

Out of the box it trains a tiny GPT-2 (about 100k parameters, built from a config:
nothing is downloaded) on a synthetic preference task the package generates: a prompt
lists a few words, the *chosen* response lists them in alphabetical order and the
*rejected* one is the same list with one adjacent pair swapped. The task is learnable
but not trivial (the policy must learn an order over bigrams and generalise it to unseen
prompts), so the held-out DPO loss after a fixed number of steps separates learning
rates and has its optimum inside the searched range.

The same objective trains a model and a preference dataset of yours:
``make_dpo_objective(model_name_or_path="path/or/hub-id", dataset=...)``, where the
dataset is a list of ``{"prompt", "chosen", "rejected"}`` records, a ``.json``/``.jsonl``
file of them, or a Hugging Face ``datasets.Dataset`` with those columns.

The loop is plain torch (the reference model is a frozen copy of the initial policy;
dropout is off as in trl), seeded, checkpointed through :func:`hpo.checkpoint` and
resumed exactly through :func:`hpo.resume`; the resource is optimisation steps. A
continuation may bring a new learning rate or beta (PBT); they apply from its first step.
``backend="trl"`` trains with trl's ``DPOTrainer`` instead, when trl is installed.

Objective (``metric``): ``"loss"`` (default, minimise) the held-out DPO loss evaluated at
a fixed ``eval_beta`` (so that trials with different ``beta`` are comparable),
``"margin"`` (maximise) the held-out mean log-ratio margin
``(log pi/ref)(chosen) - (log pi/ref)(rejected)``, ``"accuracy"`` (maximise) the
held-out fraction of pairs with a positive margin (it saturates near 1.0 on easy tasks).
The metric is reported every ``eval_every`` steps.

Example:
    >>> from hpo.integrations.dpo import dpo_tiny
    >>> sorted(dpo_tiny.space)
    ['batch_size', 'beta', 'lr', 'warmup_steps', 'weight_decay']
    >>> loss = dpo_tiny(lr=3e-3, max_steps=20)  # a plain call: a few seconds
    >>> loss < 0.6931  # below log(2), the loss of the untrained policy
    True
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.distributions import BaseDistribution
from torch import nn

import hpo
from hpo.integrations._dpo_common import Pairs, evaluate, pair_margins
from hpo.integrations._dpo_trl import train_dpo_trl
from hpo.integrations._progress import Progress
from hpo.integrations._torch import torch_device

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the tiny model needs nothing from the hub
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

try:
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("hpo.integrations.dpo needs transformers: pip install 'hpo[dpo]'"
                      ) from _exc

__all__ = ["dpo_space", "dpo_tiny", "make_dpo_objective", "sorting_preferences",
           "tiny_model", "train_dpo"]

PARAMS = ("lr", "beta", "batch_size", "warmup_steps", "weight_decay")
METRICS = {"loss": "minimize", "margin": "maximize", "accuracy": "maximize"}
#: What the value of each ``metric`` is: the objectives' ``metric=`` (``hpo best``, plots).
METRIC_NAMES = {"loss": "held-out DPO loss", "margin": "held-out DPO margin",
                "accuracy": "held-out preference accuracy"}
BACKENDS = ("torch", "trl", "auto")
WORDS = ("apple", "bread", "cloud", "drum", "eagle", "fern", "grape", "harbor", "iris",
         "jungle", "kite", "lemon", "maple", "night", "olive", "pearl", "quartz", "river",
         "stone", "tiger", "umber", "violet", "willow", "yarrow")
_STATE_VERSION = 1


def dpo_space(**defaults: Any) -> dict[str, BaseDistribution]:
    """The DPO search space; keyword arguments replace the defaults of plain calls.

    ``beta`` is fixed at 0.1 by default; open it with
    ``space={"beta": hpo.loguniform(0.01, 1.0)}`` (the held-out loss is measured at
    ``eval_beta`` whatever the trial's beta, so trials stay comparable).
    """
    d = {"lr": 1e-3, "beta": 0.1, "batch_size": 16, "warmup_steps": 5, "weight_decay": 0.0,
         **defaults}
    return {
        "lr": hpo.loguniform(1e-5, 1e-1, default=d["lr"]),
        "beta": hpo.fixed(d["beta"]),
        "batch_size": hpo.integer(4, 64, log=True, default=d["batch_size"]),
        "warmup_steps": hpo.integer(0, 30, default=d["warmup_steps"]),
        "weight_decay": hpo.uniform(0.0, 0.1, default=d["weight_decay"]),
    }


# --------------------------------------------------------------------------- data


def sorting_preferences(n: int, seed: int = 0, min_words: int = 3, max_words: int = 6
                        ) -> list[dict[str, str]]:
    """``n`` synthetic preference pairs: prefer the alphabetically sorted list of words.

    Example:
        >>> sorting_preferences(1, seed=0)[0]  # doctest: +NORMALIZE_WHITESPACE
        {'prompt': 'sort : night bread iris quartz pearl maple ->',
         'chosen': 'bread iris maple night pearl quartz',
         'rejected': 'bread iris night maple pearl quartz'}
    """
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = rng.sample(WORDS, rng.randint(min_words, max_words))
        chosen = sorted(words)
        rejected = list(chosen)
        i = rng.randrange(len(chosen) - 1)
        rejected[i], rejected[i + 1] = rejected[i + 1], rejected[i]
        out.append({"prompt": "sort : " + " ".join(words) + " ->", "chosen": " ".join(chosen),
                    "rejected": " ".join(rejected)})
    return out


def tiny_tokenizer() -> transformers.PreTrainedTokenizerFast:
    """A word-level tokenizer for the synthetic task, built locally."""
    vocab = {w: i for i, w in enumerate(["<|pad|>", "<|unk|>", "<|endoftext|>", "sort", ":",
                                         "->", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|unk|>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<|pad|>", unk_token="<|unk|>",
        eos_token="<|endoftext|>", bos_token="<|endoftext|>")


def tiny_model(vocab_size: int, seed: int = 0, n_embd: int = 64, n_layer: int = 2,
               n_head: int = 2, n_positions: int = 64) -> transformers.GPT2LMHeadModel:
    """A GPT-2 built from a config (no download), without dropout; about 100k parameters."""
    cfg = transformers.GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd,
                                  n_layer=n_layer, n_head=n_head, n_inner=2 * n_embd,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                  bos_token_id=2, eos_token_id=2, pad_token_id=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return transformers.GPT2LMHeadModel(cfg)


def _load_records(data: Any, name: str) -> list[dict[str, str]]:
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise ValueError(f"{name}: no file {str(path)!r} (expected a .json or .jsonl file "
                             "of {prompt, chosen, rejected} records)")
        text = path.read_text()
        if path.suffix == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            records = json.loads(text)
    elif isinstance(data, Iterable) and not isinstance(data, Mapping):
        records = list(data)
    else:
        raise ValueError(f"{name}: expected a list of {{prompt, chosen, rejected}} records, a "
                         f".json/.jsonl path or a datasets.Dataset, got {type(data).__name__}")
    if not records:
        raise ValueError(f"{name}: it is empty")
    for i, r in enumerate(records):
        if not isinstance(r, Mapping) or not all(isinstance(r.get(k), str)
                                                 for k in ("prompt", "chosen", "rejected")):
            raise ValueError(f"{name}: record {i} must have string fields 'prompt', 'chosen' "
                             f"and 'rejected', got {r!r}")
    return [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in records]




# --------------------------------------------------------------------------- training


class _Setup:
    """Tokenizer, reference and initial policy, and the tokenised data, built once."""

    def __init__(self, model_name_or_path: str | None, dataset: Any, eval_dataset: Any,
                 n_pairs: int, eval_fraction: float, max_length: int, seed: int) -> None:
        if model_name_or_path is None:
            self.tokenizer = tiny_tokenizer()
            self.init = lambda: tiny_model(len(self.tokenizer), seed=seed)
        else:
            path = str(model_name_or_path)
            try:
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(path)
            except (OSError, ValueError) as exc:
                raise ValueError(f"model_name_or_path: cannot load a tokenizer from {path!r} "
                                 f"({exc})") from exc
            if self.tokenizer.pad_token is None:
                self.tokenizer.pad_token = self.tokenizer.eos_token
            if self.tokenizer.eos_token_id is None:
                raise ValueError(f"model_name_or_path: the tokenizer of {path!r} has no EOS token")

            def init() -> nn.Module:
                try:
                    return transformers.AutoModelForCausalLM.from_pretrained(
                        path, torch_dtype=torch.float32)
                except (OSError, ValueError) as exc:
                    raise ValueError(f"model_name_or_path: cannot load a causal LM from {path!r} "
                                     f"({exc})") from exc
            self.init = init
        if dataset is None:
            records = sorting_preferences(n_pairs, seed=1234)
        else:
            records = _load_records(dataset, "dataset")
        if eval_dataset is not None:
            train, held = records, _load_records(eval_dataset, "eval_dataset")
        else:
            if not 0 < eval_fraction < 1:
                raise ValueError(f"eval_fraction: expected a number in (0, 1), got "
                                 f"{eval_fraction!r}")
            if len(records) < 2:
                raise ValueError("dataset: needs at least 2 records to hold one out for "
                                 "evaluation (or pass eval_dataset=)")
            order = list(range(len(records)))
            random.Random(0).shuffle(order)  # one split for every trial
            n_eval = max(1, round(eval_fraction * len(records)))
            held = [records[i] for i in order[:n_eval]]
            train = [records[i] for i in order[n_eval:]]
        self.train_records, self.held_records, self.max_length = train, held, max_length
        self.train = Pairs(train, self.tokenizer, max_length)
        self.held = Pairs(held, self.tokenizer, max_length)


def train_dpo(
    *,
    lr: float,
    beta: float,
    batch_size: int,
    warmup_steps: int,
    weight_decay: float,
    max_steps: int,
    setup: _Setup,
    metric: str = "loss",
    eval_every: int = 10,
    eval_beta: float = 0.1,
    max_grad_norm: float = 1.0,
    seed: int = 0,
    backend: str = "torch",
    device: str | torch.device | None = "auto",
    trial: optuna.Trial | None = None,
) -> float:
    """Train DPO over the optimisation steps ``hpo.budget`` gives; return the held-out metric.

    The decorated objectives of :func:`make_dpo_objective` call this.
    """
    if backend == "auto":
        backend = "trl" if _trl_available() else "torch"
    if backend == "trl":
        return train_dpo_trl(lr=lr, beta=beta, batch_size=batch_size, warmup_steps=warmup_steps,
                             weight_decay=weight_decay, max_steps=max_steps, setup=setup,
                             metric=metric, eval_every=eval_every, eval_beta=eval_beta,
                             max_grad_norm=max_grad_norm, seed=seed, device=device, trial=trial)
    torch.set_num_threads(1)
    dev = torch_device(device)
    policy = setup.init().to(dev)
    ref = copy.deepcopy(policy).eval().requires_grad_(False)
    policy.eval()  # dropout off, as in trl's DPO
    opt = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)

    state = hpo.resume(trial)
    if state is not None:
        if state.get("version") != _STATE_VERSION or state.get("kind") != "dpo":
            raise ValueError(f"trial {trial.number}: its parent's checkpoint is not a DPO state")
        policy.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, order, pos = state["step"], state["order"], state["pos"]
        gen.set_state(state["gen"])
        last = state.get("last")
    else:
        step, pos, last = 0, 0, None
        order = torch.randperm(len(setup.train), generator=gen).tolist()
    for group in opt.param_groups:  # a continuation may bring new values (PBT)
        group["weight_decay"] = weight_decay
    _start, stop = hpo.budget(trial, max_resource=max_steps)
    progress = Progress(trial, start=step, stop=stop)  # a line per evaluation, to the log
    train_cache: dict[int, tuple[float, float]] = {}
    held_cache: dict[int, tuple[float, float]] = {}

    def snapshot() -> dict[str, Any]:
        return {"version": _STATE_VERSION, "kind": "dpo", "model": policy.state_dict(),
                "opt": opt.state_dict(), "step": step, "order": order, "pos": pos,
                "gen": gen.get_state(), "last": last}

    while step < stop:
        idx = []
        while len(idx) < min(batch_size, len(setup.train)):
            if pos >= len(order):
                order, pos = torch.randperm(len(setup.train), generator=gen).tolist(), 0
            idx.append(order[pos])
            pos += 1
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / (warmup_steps + 1))
        m = pair_margins(policy, train_cache, setup.train, idx, ref, dev)
        loss = -nn.functional.logsigmoid(beta * m).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
        opt.step()
        step += 1
        if step % eval_every == 0 or step == stop:
            last = evaluate(policy, ref, setup.held, held_cache, eval_beta, dev)
            if not math.isfinite(last["loss"]):
                last["loss"] = math.log(2) * 100  # diverged: far worse than the untrained model
            progress(step, f"held-out {metric}", last[metric])
            if trial is not None:
                trial.report(last[metric], step)
                if trial.should_prune():
                    hpo.checkpoint(trial, snapshot(), step=step)
                    raise optuna.TrialPruned()
    if last is None:  # nothing to train (the parent already reached stop)
        last = evaluate(policy, ref, setup.held, held_cache, eval_beta, dev)
    hpo.checkpoint(trial, snapshot(), step=step)
    if trial is not None:
        for k, v in last.items():
            trial.set_user_attr(f"heldout_{k}", v)
    return last[metric]


def _trl_available() -> bool:
    try:
        import trl  # noqa: F401
    except ImportError:
        return False
    return True


def make_dpo_objective(
    *,
    model_name_or_path: str | os.PathLike | None = None,
    dataset: Any = None,
    eval_dataset: Any = None,
    metric: str = "loss",
    max_steps: int = 100,
    space: Mapping[str, BaseDistribution] | None = None,
    eval_every: int = 10,
    eval_beta: float = 0.1,
    n_pairs: int = 640,
    eval_fraction: float = 0.2,
    max_length: int = 128,
    seed: int = 0,
    backend: str = "torch",
    device: str | None = "auto",
) -> hpo.Objective:
    """A DPO objective; its direction follows ``metric`` (``"loss"``: minimize).

    Args:
        model_name_or_path: a model directory or hub id for ``AutoModelForCausalLM`` and
            ``AutoTokenizer``; ``None`` builds the tiny GPT-2 and its word-level tokenizer.
        dataset: preference records ``{prompt, chosen, rejected}`` (a list, a ``.json`` /
            ``.jsonl`` path, or a ``datasets.Dataset``); ``None``: ``n_pairs`` synthetic
            sorting preferences (:func:`sorting_preferences`).
        eval_dataset: held-out records; ``None`` holds out ``eval_fraction`` of ``dataset``
            (the same split for every trial).
        metric: ``"loss"`` (held-out DPO loss at ``eval_beta``), ``"margin"`` or
            ``"accuracy"``.
        max_steps: optimisation steps of a full trial (the study's ``max_resource``
            overrides it).
        space: replacements for entries of :func:`dpo_space`.
        eval_every: steps between held-out evaluations (each is reported).
        backend: ``"torch"`` (the plain loop), ``"trl"`` (trl's ``DPOTrainer``, needs
            trl) or ``"auto"`` (trl when it is installed).
        device: ``"auto"`` (the trial's GPU when there is one), ``"cpu"``, ``"cuda"``.

    The model and data load on the first call and are shared by later trials.

    Example:
        >>> from hpo.integrations.dpo import make_dpo_objective
        >>> f = make_dpo_objective(metric="accuracy", max_steps=50)
        >>> f.direction
        'maximize'
    """
    if metric not in METRICS:
        raise ValueError(f"metric: expected one of {sorted(METRICS)}, got {metric!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "trl" and not _trl_available():
        raise ValueError("backend: 'trl' needs trl installed (pip install 'hpo[trl]'); use 'torch'")
    for name, v in (("max_steps", max_steps), ("eval_every", eval_every), ("n_pairs", n_pairs),
                    ("max_length", max_length)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    sp = dpo_space()
    for name, dist in (space or {}).items():
        if name not in sp:
            raise ValueError(f"space: unknown parameter {name!r}; DPO's parameters are "
                             f"{', '.join(PARAMS)}")
        if not isinstance(dist, BaseDistribution):
            raise ValueError(f"space: {name!r} must be a distribution such as hpo.uniform(...) "
                             f"or hpo.fixed(value), got {dist!r}")
        sp[name] = dist
    torch_device(device)
    if model_name_or_path is not None and not isinstance(model_name_or_path, (str, os.PathLike)):
        raise ValueError(f"model_name_or_path: expected a path or hub id, got "
                         f"{model_name_or_path!r}")
    cached: list[_Setup] = []

    def setup() -> _Setup:
        if not cached:
            cached.append(_Setup(model_name_or_path, dataset, eval_dataset, n_pairs,
                                 eval_fraction, max_length, seed))
        return cached[0]

    if dataset is not None:  # check it now rather than in the first trial
        _load_records(dataset, "dataset")

    def train(
        lr: float = sp["lr"],
        beta: float = sp["beta"],
        batch_size: int = sp["batch_size"],
        warmup_steps: int = sp["warmup_steps"],
        weight_decay: float = sp["weight_decay"],
        *,
        max_steps: int = max_steps,
        seed: int = seed,
        trial: optuna.Trial | None = None,
    ) -> float:
        return train_dpo(lr=lr, beta=beta, batch_size=batch_size, warmup_steps=warmup_steps,
                         weight_decay=weight_decay, max_steps=max_steps, setup=setup(),
                         metric=metric, eval_every=eval_every, eval_beta=eval_beta, seed=seed,
                         backend=backend, device=device, trial=trial)

    train.__name__ = train.__qualname__ = "dpo_tiny" if model_name_or_path is None else "dpo"
    train.__doc__ = f"DPO: {METRIC_NAMES[metric]} (see hpo.integrations.dpo)."
    return hpo.objective(direction=METRICS[metric], metric=METRIC_NAMES[metric],
                         resource="optimisation steps")(train)


#: DPO of the tiny GPT-2 on synthetic sorting preferences; held-out DPO loss, 100 steps.
dpo_tiny = make_dpo_objective()
