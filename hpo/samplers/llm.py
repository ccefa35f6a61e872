"""LLM-proposed configurations, gated by hpo's GP (an Optuna sampler).

The LLM proposes and the GP decides, so a weak or absent LLM costs almost nothing:

- **Warm start**: the first ``n_warm_start`` trials run configurations the LLM proposes
  zero-shot from the task description (one request for the study, shared by its
  workers through the storage).
- **Candidates inside BO**: after start-up, each trial asks the LLM for
  ``n_proposals`` configurations conditioned on a summary of the history, while the GP
  is fitted and its acquisition maximised; the acquisition then scores the LLM's
  candidates too, and the best of all is run.

Every answer is parsed leniently and validated into the space (:mod:`hpo.llm._parse`);
duplicates of past or running trials are dropped; an answer with nothing usable is asked
again once with the reasons; an error, a timeout or no usable candidate falls back to
the GP's own choice. What happened is recorded on each trial (``hpo:llm``: source,
proposals, rejections and why, fallback, tokens, seconds).

Example:
    >>> import hpo, optuna
    >>> class Default:  # a backend that always proposes the same configuration
    ...     def chat(self, messages, **kw):
    ...         return hpo.llm.Reply(['{"configs": [{"x": 0.5}]}'])
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> space = {"x": optuna.distributions.FloatDistribution(0, 1)}
    >>> sampler = LLMSampler(Default(), task="a 1-D toy", search_space=space, seed=0,
    ...                      n_startup_trials=3)
    >>> study = optuna.create_study(sampler=sampler)
    >>> study.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2, n_trials=6)
    >>> study.trials[0].params, study.trials[0].system_attrs["hpo:llm"]["source"]
    ({'x': 0.5}, 'warm_start')
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import math
import threading
import time
from typing import Any

import numpy as np
import torch
from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial

from hpo import _attrs
from hpo.llm import Backend, LLMError, OpenAICompatible, Reply, Transformers, _parse, _prompts
from hpo.samplers._pending import store_params, stored_params
from hpo.samplers.gp import GPSampler
from hpo.space import UnitCubeEncoder
from hpo.surrogates.device import DTYPE, cpu_threads

__all__ = ["LLMSampler"]

_log = logging.getLogger(__name__)
_BACKENDS = {"openai": OpenAICompatible, "transformers": Transformers}


def _backend(spec: Any) -> Backend:
    """A backend object, or one built from ``{"name": "openai" | "transformers", ...}``
    (the form of a sweep file, whose settings are stored in the study: no keys)."""
    if not isinstance(spec, dict):
        if not callable(getattr(spec, "chat", None)):
            raise ValueError(f"backend: {type(spec).__name__} has no chat method; give "
                             "hpo.llm.OpenAICompatible(...), hpo.llm.Transformers(...) or "
                             "{name: openai | transformers, ...}")
        return spec
    options = dict(spec)
    name = options.pop("name", None)
    if name not in _BACKENDS:
        raise ValueError(f"backend.name: must be one of {sorted(_BACKENDS)}, got {name!r}")
    if "api_key" in options:
        raise ValueError("backend.api_key: not in a sweep file (its settings are stored in the "
                         "study); put the key in an environment variable and name it with "
                         "api_key_env (default OPENAI_API_KEY)")
    try:
        return _BACKENDS[name](**options)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise ValueError(f"backend: {exc}") from None


class LLMSampler(GPSampler):
    """An LLM as a proposal source for GP Bayesian optimisation (see the module).

    Args:
        backend: :class:`hpo.llm.OpenAICompatible`, :class:`hpo.llm.Transformers`, any
            object with their ``chat`` method, or ``{"name": "openai", "base_url": ...,
            "model": ...}`` / ``{"name": "transformers", "path": ...}``.
        task: what is tuned, for the prompts (e.g. "PPO on MuJoCo Hopper, 1M steps,
            8 envs; the value is the mean episode return").
        search_space: the parameters (name -> Optuna distribution), or an
            ``@hpo.objective`` function carrying them; lets the warm start begin at the
            first trial. Without it, it begins once a trial has shown the space.
        n_warm_start: trials run as the LLM proposes them zero-shot (0: none). They
            count toward ``n_startup_trials``; the rest of start-up is GPSampler's.
        n_proposals: LLM candidates per trial after start-up (0: none).
        gate: the smallest fraction of the GP's best acquisition value (what its own
            optimiser found) that the LLM's best candidate needs to run instead: 1.0
            runs it only when it scores higher; 0.1 when its expected improvement is at
            least a tenth of the GP's. The acquisitions are log-scale, so this is a
            margin of ``-log(gate)`` on them.
        timeout: seconds the LLM may take per trial (its own retries included); past it
            the GP's choice is run.
        max_attempts: requests per trial when an answer holds nothing usable.
        context_chars: the history in a prompt is cut to this many characters (best and
            most recent trials kept).
        prompts: :class:`hpo.llm.Prompts` templates to use instead.
        temperature, max_tokens: for every request.
        seed, n_startup_trials, **gp_options: as :class:`hpo.samplers.GPSampler`.
    """

    def __init__(self, backend: Any, task: str, *, search_space: Any = None,
                 n_warm_start: int = 5, n_proposals: int = 4, gate: float = 1.0,
                 timeout: float = 120.0,
                 max_attempts: int = 2, context_chars: int = 12_000,
                 prompts: _prompts.Prompts | dict[str, str] | None = None,
                 temperature: float = 0.7, max_tokens: int = 2048, seed: int | None = None,
                 n_startup_trials: int = 10, **gp_options: Any) -> None:
        super().__init__(seed=seed, n_startup_trials=n_startup_trials, **gp_options)
        self.backend = _backend(backend)
        if not isinstance(task, str) or not task.strip():
            raise ValueError("task: describe what is tuned, e.g. 'PPO on CartPole-v1, 100k "
                             "steps; the value is the mean return'")
        for name, value in (("n_warm_start", n_warm_start), ("n_proposals", n_proposals),
                            ("max_attempts", max_attempts), ("context_chars", context_chars),
                            ("max_tokens", max_tokens)):
            low = 1 if name in ("max_attempts", "context_chars", "max_tokens") else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}: must be an int >= {low}, got {value!r}")
        if isinstance(gate, bool) or not isinstance(gate, (int, float)) or not 0 < gate <= 1:
            raise ValueError(f"gate: must be a number in (0, 1], got {gate!r}")
        if not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout: must be a positive number of seconds, got {timeout!r}")
        self.task = task.strip()
        self.search_space = self._declared(search_space)
        self._n_warm, self._n_proposals = n_warm_start, n_proposals
        self._margin = -math.log(gate)
        self._timeout, self._attempts = float(timeout), max_attempts
        self._context = context_chars
        if isinstance(prompts, dict) and set(prompts) - {"system", "warm_start", "candidates"}:
            raise ValueError(f"prompts: unknown template(s) "
                             f"{sorted(set(prompts) - {'system', 'warm_start', 'candidates'})}; "
                             "allowed: ['candidates', 'system', 'warm_start']")
        self.prompts = prompts if isinstance(prompts, _prompts.Prompts) else \
            _prompts.Prompts(**(prompts or {}))
        self._temperature, self._max_tokens = temperature, max_tokens

    wants_search_space = True  # the runner hands over its objective's declared space

    @staticmethod
    def _declared(space: Any) -> dict[str, BaseDistribution] | None:
        if space is None:
            return None
        space = getattr(space, "space", space)
        if not isinstance(space, dict) or not all(isinstance(d, BaseDistribution)
                                                  for d in space.values()):
            raise ValueError("search_space: a dict of name -> optuna distribution, or an "
                             "@hpo.objective function")
        return dict(space)

    def set_search_space(self, space: Any) -> None:
        """Declare the parameters (as ``search_space=``), unless they were declared."""
        if self.search_space is None:
            self.search_space = self._declared(space)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        inferred = super().infer_relative_search_space(study, trial)
        if inferred or self.search_space is None:
            return inferred
        return {k: d for k, d in self.search_space.items() if not d.single()}

    # -- sampling --------------------------------------------------------------------------

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        trials, Y = self._observations(study, search_space)
        record: dict[str, Any] = {}
        if len(trials) < self._n_startup:
            params = self._warm_start(study, trial, search_space, record)
            if params is None:
                with self._lock:
                    params = self._startup_params(trial, UnitCubeEncoder(search_space))
                record["source"] = "startup"
        else:
            params = self._with_proposals(study, trial, search_space, trials, Y, record)
        study._storage.set_trial_system_attr(trial._trial_id, _attrs.LLM, record)
        if params:
            store_params(study, trial, params)
        return params

    def _ask(self, messages: list[dict[str, str]], space: dict[str, BaseDistribution], n: int,
             taken: set[str], deadline: float, record: dict[str, Any]) -> list[dict[str, Any]]:
        """Up to ``n`` usable, new configurations from the LLM; ``record`` gets the
        counts, tokens, seconds and, when there is none, the reason."""
        usable: list[dict[str, Any]] = []
        rejected: list[str] = []
        record.update(proposed=0, prompt_tokens=0, completion_tokens=0, seconds=0.0)
        for _ in range(self._attempts):
            if time.monotonic() >= deadline:
                record["fallback"] = "timeout"
                break
            try:
                reply: Reply = self.backend.chat(messages, n=1,
                                                 schema=_prompts.schema_for(space, n),
                                                 temperature=self._temperature,
                                                 max_tokens=self._max_tokens)
            except LLMError as exc:
                record["fallback"] = f"error: {exc}"[:300]
                break
            except Exception as exc:  # a user's backend: whatever it raises, the sweep goes on
                record["fallback"] = f"error: {type(exc).__name__}: {exc}"[:300]
                break
            record["prompt_tokens"] += reply.prompt_tokens
            record["completion_tokens"] += reply.completion_tokens
            record["seconds"] += reply.seconds
            found = [c for text in reply.texts for c in _parse.extract(text)]
            record["proposed"] += len(found)
            for raw in found:
                config, problem = _parse.fit(raw, space)
                if config is not None and _key(config) in taken:
                    config, problem = None, "a configuration already tried"
                if config is None:
                    rejected.append(problem or "?")
                    continue
                taken.add(_key(config))
                usable.append(config)
            if usable:
                record.pop("fallback", None)
                break
            why = "; ".join(sorted(set(rejected))[:5]) or "no JSON object found"
            record["fallback"] = f"no usable configuration ({why})"
            answer = reply.texts[0] if reply.texts else ""
            messages = [*messages, {"role": "assistant", "content": answer[:2000]},
                        {"role": "user", "content": f"That answer had no usable configuration "
                         f"({why}). Answer again, in the format asked for."}]
        record["valid"] = len(usable)
        record["rejected"] = rejected[:10]
        return usable[:n]

    def _messages(self, template: str, **fields: Any) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.prompts.system},
                {"role": "user", "content": template.format(**fields)}]

    def _fields(self, study: Study, space: dict[str, BaseDistribution], n: int
                ) -> dict[str, Any]:
        return {"task": self.task, "space": _prompts.describe_space(space), "n": n,
                "objective": _prompts.objective_text(study.directions)}

    def _warm_start(self, study: Study, trial: FrozenTrial, space: dict[str, BaseDistribution],
                    record: dict[str, Any]) -> dict[str, Any] | None:
        """A zero-shot configuration not yet run, while the warm start lasts."""
        if not self._n_warm:
            return None
        others = [t for t in study.get_trials(deepcopy=False) if t.number != trial.number]
        if sum(1 for t in others if (t.system_attrs.get(_attrs.LLM) or {}).get("source")
               == "warm_start") >= self._n_warm:
            return None
        with self._lock:  # one request for this process's workers (another may race it)
            warm = self._warm_configs(study, space, record)
        taken = _taken(others, space)
        for config in warm["configs"]:
            fitted, _ = _parse.fit(config, space)
            if fitted is not None and _key(fitted) not in taken:
                record["source"] = "warm_start"
                return fitted
        if warm.get("fallback"):
            record["fallback"] = warm["fallback"]
        return None

    def _warm_configs(self, study: Study, space: dict[str, BaseDistribution],
                      record: dict[str, Any]) -> dict[str, Any]:
        """The study's zero-shot answer, asked for (and recorded) the first time."""
        warm = study._storage.get_study_system_attrs(study._study_id).get(_attrs.LLM_WARM_START)
        if warm is None or warm.get("space") != sorted(space):
            asked: dict[str, Any] = {}
            configs = self._ask(self._messages(self.prompts.warm_start,
                                               **self._fields(study, space, self._n_warm)),
                                space, self._n_warm, set(), time.monotonic() + self._timeout,
                                asked)
            warm = {"space": sorted(space), "configs": configs, **asked}
            study._storage.set_study_system_attr(study._study_id, _attrs.LLM_WARM_START, warm)
            record.update(asked)
        return warm

    def _with_proposals(self, study: Study, trial: FrozenTrial,
                        space: dict[str, BaseDistribution], trials: list[FrozenTrial],
                        Y: np.ndarray, record: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + self._timeout
        future = None
        if self._n_proposals:
            others = [t for t in study.get_trials(deepcopy=False) if t.number != trial.number]
            lines, summary = _prompts.history(others, space, study.directions, self._context)
            messages = self._messages(self.prompts.candidates, history=lines, summary=summary,
                                      **self._fields(study, space, self._n_proposals))
            asked: dict[str, Any] = {}  # filled by the LLM's thread
            future = _in_thread(self._ask, messages, space, self._n_proposals,
                                _taken(others, space), deadline, asked)
        with self._lock, cpu_threads(1):  # the GP works while the LLM answers
            proposal = self._acquisition(study, trial, space, trials, Y)
            x_gp, value_gp = proposal.best()
            configs: list[dict[str, Any]] = []
            if future is not None:
                try:
                    configs = future.result(timeout=max(0.0, deadline - time.monotonic()))
                    record.update(asked)
                except concurrent.futures.TimeoutError:
                    record["fallback"] = "timeout"
            record["source"] = "gp"
            if configs:
                X = torch.as_tensor(proposal.encoder.encode_many(configs), dtype=DTYPE)
                X = proposal.encoder.snap(X).to(proposal.device)
                with torch.no_grad():
                    values = proposal.acq(X).cpu().numpy()
                best = int(np.argmax(values))
                record["acq_gp"], record["acq_llm"] = _finite(value_gp), _finite(values[best])
                if values[best] > value_gp - self._margin:
                    record["source"] = "llm"
                    return configs[best]
        return proposal.encoder.decode(x_gp.cpu().numpy())


def _in_thread(fn: Any, *args: Any) -> concurrent.futures.Future[Any]:
    """``fn(*args)`` in a daemon thread: a request still out when the sweep ends does not
    hold the process back."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def work() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to the caller with the result
            future.set_exception(exc)

    threading.Thread(target=work, name="hpo-llm", daemon=True).start()
    return future


def _finite(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def _taken(trials: list[FrozenTrial], space: dict[str, BaseDistribution]) -> set[str]:
    """The configurations of past and running trials, as keys (for de-duplication)."""
    out = set()
    for t in trials:
        params = {**stored_params(t), **t.params}
        if all(k in params for k in space):
            out.add(_key({k: params[k] for k in space}))
    return out
