"""PPO on gymnasium environments as ready ``@hpo.objective`` training functions.

A compact plain-torch PPO (clipped objective, GAE, value bootstrap on time-limit
truncation, advantage normalisation, gradient clipping) over ``n_envs`` environments
stepped in lock-step. The resource is environment steps: :func:`hpo.budget` gives the
range a trial trains over, and :func:`hpo.checkpoint` saves everything a continuation
needs to go on exactly (policy, optimizer, step counter, episode statistics, the
environments themselves and the random generators), so a trial trained 0 -> N in one go
and one trained 0 -> N/2 then continued to N give the same numbers whenever N/2 falls
on a rollout boundary. A continuation may come with changed hyperparameters (PBT): they
apply from its first update, the learning rate included.

The value of a trial is the mean return of all training episodes finished since step 0
(``metric="train"``): at the default settings CartPole's final evaluation saturates at
500 for most seeds, while the mean over the run still tells a fast learner from a slow
one. ``metric="eval"`` uses a deterministic evaluation instead. The same value is
reported with ``trial.report`` on a fixed grid of environment steps (every
``report_every``), so pruners compare trials at equal steps whatever their rollout length.

Example:
    >>> from hpo.integrations.ppo import ppo_cartpole
    >>> sorted(ppo_cartpole.space)[:3]
    ['batch_size', 'clip_range', 'ent_coef']
    >>> score = ppo_cartpole(lr=1e-3, max_steps=2048)  # a plain call: about 1 s
    >>> 9 < score < 500
    True

In a study (the study's ``max_resource`` overrides ``max_steps``)::

    study = hpo.create_study(direction="maximize", max_resource=20_000,
                             pruner=optuna.pruners.MedianPruner())
    study.optimize(ppo_cartpole, n_trials=30)
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import optuna
import torch
from optuna.distributions import BaseDistribution
from torch import nn

import hpo
from hpo.integrations._progress import Progress
from hpo.integrations._torch import torch_device

try:
    import gymnasium as gym
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("hpo.integrations.ppo needs gymnasium: pip install 'hpo[rl]'") from _exc

__all__ = ["DEFAULTS", "make_ppo_objective", "ppo_acrobot", "ppo_cartpole", "ppo_pendulum",
           "ppo_space", "train_ppo"]

PARAMS = ("lr", "gamma", "gae_lambda", "clip_range", "ent_coef", "n_steps", "batch_size",
          "n_epochs")


def ppo_space(**defaults: Any) -> dict[str, BaseDistribution]:
    """The PPO search space; keyword arguments replace the defaults used by plain calls.

    ``n_steps`` is the rollout length per environment (a rollout has ``n_steps * n_envs``
    transitions), ``batch_size`` the minibatch size, ``n_epochs`` the passes over each
    rollout.
    """
    d = {"lr": 3e-4, "gamma": 0.99, "gae_lambda": 0.95, "clip_range": 0.2, "ent_coef": 0.0,
         "n_steps": 128, "batch_size": 64, "n_epochs": 10, **defaults}
    return {
        "lr": hpo.loguniform(1e-5, 1e-2, default=d["lr"]),
        "gamma": hpo.uniform(0.9, 0.999, default=d["gamma"]),
        "gae_lambda": hpo.uniform(0.8, 1.0, default=d["gae_lambda"]),
        "clip_range": hpo.uniform(0.05, 0.4, default=d["clip_range"]),
        "ent_coef": hpo.uniform(0.0, 0.05, default=d["ent_coef"]),
        "n_steps": hpo.integer(16, 1024, log=True, default=d["n_steps"]),
        "batch_size": hpo.integer(16, 512, log=True, default=d["batch_size"]),
        "n_epochs": hpo.integer(1, 20, default=d["n_epochs"]),
    }


#: Per-environment settings: the defaults of the search space, and the environment steps
#: of one full trial (``max_steps``).
DEFAULTS: dict[str, dict[str, Any]] = {
    "CartPole-v1": {"max_steps": 20_000, "space": {}},
    "Acrobot-v1": {"max_steps": 50_000, "space": {"gae_lambda": 0.94, "n_epochs": 4}},
    "Pendulum-v1": {"max_steps": 100_000, "space": {
        "lr": 1e-3, "gamma": 0.9, "gae_lambda": 0.95, "n_steps": 256, "n_epochs": 10}},
}

#: What the value of each ``metric`` is: the objectives' ``metric=`` (``hpo best``, plots).
METRIC_NAMES = {"train": "mean training return", "eval": "mean evaluation return"}

_STATE_VERSION = 1
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _adam(model: nn.Module, lr: float) -> torch.optim.Adam:
    try:  # fused Adam is about 2x faster on tiny networks
        return torch.optim.Adam(model.parameters(), lr=lr, eps=1e-5, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch or odd devices
        return torch.optim.Adam(model.parameters(), lr=lr, eps=1e-5)


def _layer(i: int, o: int, gain: float) -> nn.Linear:
    lin = nn.Linear(i, o)
    nn.init.orthogonal_(lin.weight, gain)
    nn.init.zeros_(lin.bias)
    return lin


class ActorCritic(nn.Module):
    """Separate tanh MLPs for the policy and the value; categorical or diagonal Gaussian."""

    def __init__(self, obs_dim: int, act_dim: int, discrete: bool, hidden: int = 64) -> None:
        super().__init__()
        self.discrete = discrete
        g = math.sqrt(2)
        self.actor = nn.Sequential(_layer(obs_dim, hidden, g), nn.Tanh(),
                                   _layer(hidden, hidden, g), nn.Tanh(),
                                   _layer(hidden, act_dim, 0.01))
        self.critic = nn.Sequential(_layer(obs_dim, hidden, g), nn.Tanh(),
                                    _layer(hidden, hidden, g), nn.Tanh(), _layer(hidden, 1, 1.0))
        if not discrete:
            self.log_std = nn.Parameter(torch.zeros(act_dim))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def _log_prob(self, out: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        if self.discrete:
            return torch.log_softmax(out, -1).gather(-1, act.long().unsqueeze(-1)).squeeze(-1)
        z = (act - out) / self.log_std.exp()
        return (-0.5 * z.pow(2) - self.log_std - _HALF_LOG_2PI).sum(-1)

    def log_prob_entropy(self, obs: torch.Tensor, act: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of ``act`` and entropy of the policy at ``obs``."""
        out = self.actor(obs)
        if self.discrete:
            logp = torch.log_softmax(out, -1)
            entropy = -(logp.exp() * logp).sum(-1)
            return logp.gather(-1, act.long().unsqueeze(-1)).squeeze(-1), entropy
        entropy = (0.5 + _HALF_LOG_2PI + self.log_std).sum().expand(out.shape[0])
        return self._log_prob(out, act), entropy

    def sample(self, obs: torch.Tensor, gen: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """An action per row and its log-probability, drawn with ``gen`` (so that a
        checkpoint can restore the stream)."""
        out = self.actor(obs)
        if self.discrete:
            act = torch.multinomial(torch.softmax(out, -1), 1, generator=gen).squeeze(-1)
        else:
            noise = torch.randn(out.shape, generator=gen, device=out.device, dtype=out.dtype)
            act = out + self.log_std.exp() * noise
        return act, self._log_prob(out, act)

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic action (mode of the distribution)."""
        out = self.actor(obs)
        return out.argmax(-1) if self.discrete else out


def _check_env_id(env_id: str) -> None:
    if not isinstance(env_id, str) or env_id not in gym.registry:
        known = ", ".join(DEFAULTS)
        raise ValueError(f"env_id: unknown gymnasium environment {env_id!r}; ready ones: {known} "
                         "(any id registered with gymnasium works, e.g. 'HalfCheetah-v5' with "
                         "mujoco installed)")


def _spaces(env: gym.Env) -> tuple[int, int, bool]:
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise ValueError(f"env_id: PPO here needs a flat Box observation space, got {obs_space}")
    if isinstance(act_space, gym.spaces.Discrete):
        return obs_space.shape[0], int(act_space.n), True
    if isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1:
        return obs_space.shape[0], act_space.shape[0], False
    raise ValueError(f"env_id: PPO here needs a Discrete or flat Box action space, got {act_space}")


def _evaluate(model: ActorCritic, env_id: str, episodes: int, device: torch.device,
              seed: int) -> float:
    env = gym.make(env_id)
    total = 0.0
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        done = False
        while not done:
            with torch.no_grad():
                a = model.act(torch.as_tensor(obs, dtype=torch.float32, device=device)[None])
            a = a[0].cpu().numpy()
            if not model.discrete:
                a = np.clip(a, env.action_space.low, env.action_space.high)
            obs, r, term, trunc, _ = env.step(a.item() if model.discrete else a)
            total += float(r)
            done = term or trunc
    env.close()
    return total / episodes


def train_ppo(
    env_id: str,
    *,
    lr: float,
    gamma: float,
    gae_lambda: float,
    clip_range: float,
    ent_coef: float,
    n_steps: int,
    batch_size: int,
    n_epochs: int,
    max_steps: int,
    seed: int = 0,
    n_envs: int = 4,
    metric: str = "train",
    report_every: int | None = None,
    eval_episodes: int = 5,
    vf_coef: float = 0.5,
    max_grad_norm: float = 0.5,
    hidden: int = 64,
    device: str | torch.device | None = "auto",
    trial: optuna.Trial | None = None,
) -> float:
    """Train PPO over the environment steps ``hpo.budget`` gives; return the trial's value.

    The decorated objectives call this; call it directly to train with fixed values.
    Returns the mean return of the training episodes finished since step 0
    (``metric="train"``) or the mean return of ``eval_episodes`` deterministic episodes
    (``metric="eval"``).

    The loop reads top to bottom: collect a rollout (:func:`_rollout`), compute the
    advantages (:func:`_gae`), update the policy (:func:`_update`), report. The hpo part
    is three steps: :func:`hpo.resume` (and :func:`_restore`) before the loop,
    ``trial.report`` and ``trial.should_prune`` after each update (:func:`_report`), and
    :func:`hpo.checkpoint` of :func:`_snapshot` after the loop.
    """
    _check_env_id(env_id)
    if metric not in ("train", "eval"):
        raise ValueError(f"metric: expected 'train' or 'eval', got {metric!r}")
    for name, v in (("n_steps", n_steps), ("batch_size", batch_size), ("n_epochs", n_epochs),
                    ("n_envs", n_envs), ("max_steps", max_steps)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    torch.set_num_threads(1)
    dev = torch_device(device)
    report_every = report_every or max(1, max_steps // 10)

    envs = [gym.make(env_id) for _ in range(n_envs)]
    obs_dim, act_dim, discrete = _spaces(envs[0])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ActorCritic(obs_dim, act_dim, discrete, hidden).to(dev)
    opt = _adam(model, lr)
    gen = torch.Generator(device=dev).manual_seed(seed)  # action sampling
    perm_gen = torch.Generator().manual_seed(seed + 1)  # minibatch order

    # hpo: a continuation (promotion, PBT, hpo.extend) goes on from its parent's state
    state = hpo.resume(trial)
    if state is None:
        env_steps, returns, last_eval = 0, [], None
        obs = np.stack([e.reset(seed=seed * 1000 + i)[0] for i, e in enumerate(envs)])
        ep_ret = np.zeros(n_envs)
    else:
        envs, obs, ep_ret, env_steps, returns, last_eval = _restore(
            state, trial=trial, env_id=env_id, model=model, opt=opt, lr=lr, envs=envs, gen=gen,
            perm_gen=perm_gen, seed=seed, dev=dev)
    _start, stop = hpo.budget(trial, max_resource=max_steps)
    progress = Progress(trial, start=env_steps, stop=stop)  # a line per report, to the log

    next_report = (env_steps // report_every + 1) * report_every
    pruned = False
    while env_steps < stop and not pruned:
        # 1. rollout: T steps of each environment with actions sampled from the policy
        T = min(n_steps, math.ceil((stop - env_steps) / n_envs))
        batch, obs = _rollout(model, envs, obs, ep_ret, returns, T, gen, gamma, dev)
        env_steps += T * n_envs

        # 2. advantages (GAE) and value targets, bootstrapped from the last observation
        with torch.no_grad():
            next_val = model.value(torch.as_tensor(obs, dtype=torch.float32, device=dev))
        adv, ret = _gae(batch.rew, batch.val, batch.done, next_val, gamma, gae_lambda)

        # 3. PPO update: n_epochs passes over shuffled minibatches of the rollout
        _update(model, opt, batch, adv, ret, n_epochs=n_epochs, batch_size=batch_size,
                clip_range=clip_range, ent_coef=ent_coef, vf_coef=vf_coef,
                max_grad_norm=max_grad_norm, perm_gen=perm_gen)

        # 4. hpo: report on the grid of report_every steps; the pruner may stop the trial
        if env_steps >= next_report or env_steps >= stop:
            if metric == "eval":
                last_eval = _evaluate(model, env_id, eval_episodes, dev, seed=10_000 + seed)
            value = _value(metric, returns, last_eval)
            next_report, pruned = _report(trial, value, env_steps, next_report, report_every)
            progress(env_steps, "eval return" if metric == "eval" else "return", value)

    # hpo: save everything a continuation needs to go on exactly (a pruned trial too)
    hpo.checkpoint(trial, _snapshot(
        env_id=env_id, model=model, opt=opt, envs=envs, obs=obs, ep_ret=ep_ret,
        env_steps=env_steps, returns=returns, gen=gen, perm_gen=perm_gen, dev=dev,
        last_eval=last_eval), step=env_steps)
    for e in envs:
        e.close()
    if pruned:
        raise optuna.TrialPruned()
    if metric == "eval" and last_eval is None:
        last_eval = _evaluate(model, env_id, eval_episodes, dev, seed=10_000 + seed)
    value = _value(metric, returns, last_eval)
    if value is None:  # no episode finished yet: the mean return of the ones under way
        value = float(np.mean(ep_ret))
    if trial is not None:
        trial.set_user_attr("episodes", len(returns))
        trial.set_user_attr("env_steps", env_steps)
    return value


class _Batch(NamedTuple):
    """One rollout, each tensor ``(T, n_envs, ...)``. ``done`` marks the steps that ended
    an episode; at a time-limit truncation ``rew`` includes ``gamma * value(last obs)``."""

    obs: torch.Tensor
    act: torch.Tensor
    logp: torch.Tensor
    val: torch.Tensor
    rew: torch.Tensor
    done: torch.Tensor


def _rollout(model: ActorCritic, envs: list[gym.Env], obs: np.ndarray, ep_ret: np.ndarray,
             returns: list[float], T: int, gen: torch.Generator, gamma: float,
             dev: torch.device) -> tuple[_Batch, np.ndarray]:
    """Step each environment ``T`` times with actions drawn from the policy with ``gen``.

    An episode that ends appends its return to ``returns`` and restarts; ``ep_ret`` (the
    returns of the episodes under way) is updated in place. Returns the rollout and the
    observations after its last step.
    """
    n_envs, obs_dim = len(envs), obs.shape[1]
    space = envs[0].action_space
    obs_buf = torch.zeros(T, n_envs, obs_dim, device=dev)
    act_buf = torch.zeros((T, n_envs) if model.discrete else (T, n_envs, space.shape[0]),
                          device=dev)
    logp_buf = torch.zeros(T, n_envs, device=dev)
    val_buf = torch.zeros(T, n_envs, device=dev)
    rew_buf = torch.zeros(T, n_envs, device=dev)
    done_buf = torch.zeros(T, n_envs, device=dev)  # episode ended at this step
    for t in range(T):
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=dev)
        with torch.no_grad():
            action, logp = model.sample(obs_t, gen)
            val_buf[t] = model.value(obs_t)
        obs_buf[t], act_buf[t], logp_buf[t] = obs_t, action, logp
        a_np = action.cpu().numpy()
        rewards = np.zeros(n_envs)
        next_obs = np.empty_like(obs)
        truncated: list[tuple[int, np.ndarray]] = []
        for i, env in enumerate(envs):
            a_i = a_np[i].item() if model.discrete else np.clip(a_np[i], space.low, space.high)
            o, r, term, trunc, _ = env.step(a_i)
            rewards[i] = r
            ep_ret[i] += r
            if term or trunc:
                returns.append(float(ep_ret[i]))
                ep_ret[i] = 0.0
                done_buf[t, i] = 1.0
                if trunc and not term:
                    truncated.append((i, o))
                o, _ = env.reset()
            next_obs[i] = o
        if truncated:  # time limit, not failure: bootstrap from the last observation
            final = torch.as_tensor(np.stack([o for _, o in truncated]), dtype=torch.float32,
                                    device=dev)
            with torch.no_grad():
                v = model.value(final).cpu().numpy()
            for (i, _), vi in zip(truncated, v, strict=True):
                rewards[i] += gamma * vi
        rew_buf[t] = torch.as_tensor(rewards, dtype=torch.float32, device=dev)
        obs = next_obs
    return _Batch(obs_buf, act_buf, logp_buf, val_buf, rew_buf, done_buf), obs


def _gae(rew: torch.Tensor, val: torch.Tensor, done: torch.Tensor, next_val: torch.Tensor,
         gamma: float, gae_lambda: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and value targets (``adv + val``) of a rollout.

    ``rew``, ``val`` and ``done`` are ``(T, n_envs)``; ``next_val`` is the value of the
    observation after the last step. An episode that ended (``done``) does not bootstrap.

    Example:
        >>> adv, ret = _gae(torch.tensor([[1.0], [1.0]]), torch.zeros(2, 1),
        ...                 torch.tensor([[0.0], [1.0]]), torch.tensor([5.0]), 0.5, 1.0)
        >>> adv[:, 0].tolist(), ret[:, 0].tolist()
        ([1.5, 1.0], [1.5, 1.0])
    """
    T, n_envs = rew.shape
    adv = torch.zeros(T, n_envs, device=rew.device)
    last = torch.zeros(n_envs, device=rew.device)
    for t in reversed(range(T)):
        nv = next_val if t == T - 1 else val[t + 1]
        nonterminal = 1.0 - done[t]
        delta = rew[t] + gamma * nv * nonterminal - val[t]
        last = delta + gamma * gae_lambda * nonterminal * last
        adv[t] = last
    return adv, adv + val


def _update(model: ActorCritic, opt: torch.optim.Optimizer, batch: _Batch, adv: torch.Tensor,
            ret: torch.Tensor, *, n_epochs: int, batch_size: int, clip_range: float,
            ent_coef: float, vf_coef: float, max_grad_norm: float,
            perm_gen: torch.Generator) -> None:
    """``n_epochs`` passes of the clipped PPO objective over minibatches of the rollout
    (drawn in the order of ``perm_gen``), with per-minibatch advantage normalisation and
    gradient-norm clipping."""
    n = adv.numel()
    b_obs, b_logp = batch.obs.reshape(n, batch.obs.shape[-1]), batch.logp.reshape(n)
    b_act = batch.act.reshape(n, *batch.act.shape[2:])
    b_adv, b_ret = adv.reshape(n), ret.reshape(n)
    mb = min(batch_size, n)
    for _epoch in range(n_epochs):
        perm = torch.randperm(n, generator=perm_gen).to(b_obs.device)
        for k in range(0, n, mb):
            idx = perm[k:k + mb]
            new_logp, entropy = model.log_prob_entropy(b_obs[idx], b_act[idx])
            a = b_adv[idx]
            if len(idx) > 1:
                a = (a - a.mean()) / (a.std() + 1e-8)
            ratio = (new_logp - b_logp[idx]).exp()
            pg = -torch.min(ratio * a, ratio.clamp(1 - clip_range, 1 + clip_range) * a).mean()
            v_loss = 0.5 * (model.value(b_obs[idx]) - b_ret[idx]).pow(2).mean()
            loss = pg + vf_coef * v_loss - ent_coef * entropy.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            opt.step()


def _value(metric: str, returns: list[float], last_eval: float | None) -> float | None:
    """The trial's value so far: the last evaluation, or the mean return of the training
    episodes finished since step 0 (``None`` before the first)."""
    if metric == "eval":
        return last_eval
    return float(np.mean(returns)) if returns else None


# ------------------------------------------------------------ hpo: report, save, restore


def _report(trial: optuna.Trial | None, value: float | None, env_steps: int, next_report: int,
            report_every: int) -> tuple[int, bool]:
    """``trial.report(value)`` at each point of the report grid that ``env_steps`` passed;
    returns the next grid point and whether the pruner stops the trial."""
    if trial is None or value is None:  # nothing to report: skip the points passed
        while next_report <= env_steps:
            next_report += report_every
        return next_report, False
    while next_report <= env_steps:
        trial.report(value, next_report)
        next_report += report_every
    return next_report, trial.should_prune()


def _snapshot(*, env_id: str, model: ActorCritic, opt: torch.optim.Optimizer,
              envs: list[gym.Env], obs: np.ndarray, ep_ret: np.ndarray, env_steps: int,
              returns: list[float], gen: torch.Generator, perm_gen: torch.Generator,
              dev: torch.device, last_eval: float | None) -> dict[str, Any]:
    """The checkpoint: everything a continuation needs to go on exactly."""
    try:
        env_bytes: bytes | None = pickle.dumps(envs)
    except Exception:  # e.g. simulators holding native handles
        env_bytes = None
    return {"version": _STATE_VERSION, "env_id": env_id, "model": model.state_dict(),
            "opt": opt.state_dict(), "env_steps": env_steps, "returns": returns,
            "envs": env_bytes, "obs": obs, "ep_ret": ep_ret, "gen": gen.get_state(),
            "gen_device": dev.type, "perm_gen": perm_gen.get_state(), "last_eval": last_eval}


def _restore(state: dict[str, Any], *, trial: optuna.Trial, env_id: str, model: ActorCritic,
             opt: torch.optim.Optimizer, lr: float, envs: list[gym.Env], gen: torch.Generator,
             perm_gen: torch.Generator, seed: int, dev: torch.device
             ) -> tuple[list[gym.Env], np.ndarray, np.ndarray, int, list[float], float | None]:
    """Load a :func:`_snapshot` into ``model``, ``opt`` and the generators; returns the
    environments, observations, returns of the episodes under way, environment steps,
    finished episodes' returns and last evaluation to go on from."""
    if state.get("version") != _STATE_VERSION or state.get("env_id") != env_id:
        raise ValueError(f"trial {trial.number}: its parent's checkpoint is not a PPO state "
                         f"for {env_id!r} (got env_id={state.get('env_id')!r})")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    for group in opt.param_groups:  # a continuation may bring a new learning rate (PBT)
        group["lr"] = lr
    env_steps, returns = state["env_steps"], list(state["returns"])
    saved_envs = pickle.loads(state["envs"]) if state["envs"] is not None else None
    if saved_envs is not None and len(saved_envs) == len(envs):
        for e in envs:
            e.close()
        envs = saved_envs
        obs, ep_ret = state["obs"], state["ep_ret"]
    else:  # environments that do not pickle restart their episodes
        obs = np.stack([e.reset(seed=seed * 1000 + env_steps + i)[0]
                        for i, e in enumerate(envs)])
        ep_ret = np.zeros(len(envs))
    if state["gen_device"] == dev.type:
        gen.set_state(state["gen"])
    perm_gen.set_state(state["perm_gen"])
    return envs, obs, ep_ret, env_steps, returns, state.get("last_eval")


def make_ppo_objective(
    env_id: str = "CartPole-v1",
    *,
    max_steps: int | None = None,
    space: Mapping[str, BaseDistribution] | None = None,
    n_envs: int = 4,
    seed: int = 0,
    metric: str = "train",
    report_every: int | None = None,
    eval_episodes: int = 5,
    device: str | None = "auto",
) -> hpo.Objective:
    """A PPO objective for a gymnasium environment (direction ``"maximize"``).

    Args:
        env_id: a registered gymnasium id; ``CartPole-v1``, ``Acrobot-v1`` and
            ``Pendulum-v1`` come with tuned defaults (:data:`DEFAULTS`).
        max_steps: environment steps of a full trial (the study's ``max_resource``
            overrides it); the environment's default otherwise.
        space: replacements for entries of the search space, e.g.
            ``{"n_epochs": hpo.fixed(10), "lr": hpo.loguniform(1e-4, 1e-3)}``.
        n_envs: environments stepped together.
        seed: seeds the network, the environments and the action sampling; every trial
            uses the same seed (common random numbers), so differences between trials
            are due to their hyperparameters; a plain call may pass ``seed=``.
        metric: ``"train"`` (mean return of the training episodes over the run) or
            ``"eval"`` (mean return of ``eval_episodes`` deterministic episodes).
        report_every: environment steps between intermediate reports
            (default ``max_steps // 10``).
        device: ``"auto"`` (the trial's GPU when there is one), ``"cpu"``, ``"cuda"``.

    Example:
        >>> import hpo
        >>> from hpo.integrations.ppo import make_ppo_objective
        >>> f = make_ppo_objective("Acrobot-v1", space={"n_epochs": hpo.fixed(4)})
        >>> f.direction, f.space["n_epochs"].choices, f.__name__
        ('maximize', (4,), 'ppo_acrobot')
    """
    _check_env_id(env_id)
    preset = DEFAULTS.get(env_id, {"max_steps": 100_000, "space": {}})
    sp = ppo_space(**preset["space"])
    for name, dist in (space or {}).items():
        if name not in sp:
            raise ValueError(f"space: unknown parameter {name!r}; PPO's parameters are "
                             f"{', '.join(PARAMS)}")
        if not isinstance(dist, BaseDistribution):
            raise ValueError(f"space: {name!r} must be a distribution such as hpo.uniform(...) "
                             f"or hpo.fixed(value), got {dist!r}")
        sp[name] = dist
    if metric not in ("train", "eval"):
        raise ValueError(f"metric: expected 'train' or 'eval', got {metric!r}")
    torch_device(device)  # check it now
    steps_default = max_steps if max_steps is not None else preset["max_steps"]

    def train(
        lr: float = sp["lr"],
        gamma: float = sp["gamma"],
        gae_lambda: float = sp["gae_lambda"],
        clip_range: float = sp["clip_range"],
        ent_coef: float = sp["ent_coef"],
        n_steps: int = sp["n_steps"],
        batch_size: int = sp["batch_size"],
        n_epochs: int = sp["n_epochs"],
        *,
        max_steps: int = steps_default,
        seed: int = seed,
        trial: optuna.Trial | None = None,
    ) -> float:
        return train_ppo(env_id, lr=lr, gamma=gamma, gae_lambda=gae_lambda,
                         clip_range=clip_range, ent_coef=ent_coef, n_steps=n_steps,
                         batch_size=batch_size, n_epochs=n_epochs, max_steps=max_steps,
                         seed=seed, n_envs=n_envs, metric=metric, report_every=report_every,
                         eval_episodes=eval_episodes, device=device, trial=trial)

    name = "ppo_" + env_id.split("-")[0].lower()
    train.__name__ = train.__qualname__ = name
    train.__doc__ = f"PPO on {env_id}: {METRIC_NAMES[metric]}; see hpo.integrations.ppo."
    return hpo.objective(direction="maximize", metric=METRIC_NAMES[metric],
                         resource="environment steps")(train)


#: PPO on CartPole-v1, 20k environment steps per full trial.
ppo_cartpole = make_ppo_objective("CartPole-v1")
#: PPO on Acrobot-v1, 50k environment steps per full trial.
ppo_acrobot = make_ppo_objective("Acrobot-v1")
#: PPO on Pendulum-v1 (continuous actions, Gaussian policy), 100k steps per full trial.
ppo_pendulum = make_ppo_objective("Pendulum-v1")
