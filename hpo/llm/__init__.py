"""LLM backends for :class:`hpo.samplers.LLMSampler`.

A backend answers a chat (a list of ``{"role", "content"}`` messages) with ``n``
completions, and says how many tokens and seconds it took:

- :class:`OpenAICompatible`: any chat-completions endpoint (vLLM, llama.cpp's
  ``llama-server``, Ollama, hosted APIs) over HTTP, with timeouts, retries with backoff
  (429 honours ``Retry-After``), a rate limit, and a JSON schema for structured output
  where the server takes one. The API key is read from an environment variable when it
  is needed and is never stored, logged or put in an exception message.
- :class:`Transformers`: a local causal language model loaded from a directory.

Any object with the same ``chat`` method works too.

Example:
    >>> import hpo.llm
    >>> backend = hpo.llm.OpenAICompatible(base_url="http://127.0.0.1:8000/v1",
    ...                                    model="Qwen/Qwen2.5-7B-Instruct")
    >>> backend
    OpenAICompatible(base_url='http://127.0.0.1:8000/v1', model='Qwen/Qwen2.5-7B-Instruct')
"""

from __future__ import annotations

import dataclasses
import email.utils
import os
import random
import threading
import time
from typing import Any, Protocol

from hpo.llm._prompts import Prompts

__all__ = ["Backend", "LLMError", "OpenAICompatible", "Prompts", "Reply", "Transformers"]


class LLMError(RuntimeError):
    """A backend could not answer (after its retries); the message says why."""


@dataclasses.dataclass
class Reply:
    """The completions of one request, its token counts and its wall time."""

    texts: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


class Backend(Protocol):
    """What :class:`hpo.samplers.LLMSampler` calls."""

    def chat(self, messages: list[dict[str, str]], *, n: int = 1,
             schema: dict[str, Any] | None = None, temperature: float = 0.7,
             max_tokens: int = 1024) -> Reply:
        """``n`` completions of ``messages``; ``schema`` is the JSON schema the answer
        should follow (a backend may ignore it). Raises :class:`LLMError`."""
        ...


_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAICompatible:
    """A chat-completions endpoint over HTTP (``POST {base_url}/chat/completions``).

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1`` (vLLM), ``http://127.0.0.1:8080/v1``
            (llama.cpp), ``http://127.0.0.1:11434/v1`` (Ollama),
            ``https://api.openai.com/v1``.
        model: the model name the server knows.
        api_key: the key itself; prefer ``api_key_env``. Never stored or shown.
        api_key_env: environment variable holding the key, read at each request
            (unset: no ``Authorization`` header, as local servers expect).
        timeout: seconds for one request (connect, read, write).
        max_retries: retries after a timeout, a dropped connection, 429 or 5xx, with
            exponential backoff (``Retry-After`` when the server sends one).
        backoff: seconds before the first retry; doubled each time, capped at 30 s.
        requests_per_minute: the most requests started per minute (``None``: no limit).
        structured: ``"json_schema"`` (constrained decoding to the space's schema),
            ``"json_object"`` (JSON mode) or ``None`` (the prompt alone). A server that
            refuses ``"json_schema"`` with 400 is asked again without it, and not asked
            with it again.
        extra_body: more fields for every request (e.g. ``{"top_p": 0.95}``).
    """

    def __init__(self, *, base_url: str, model: str, api_key: str | None = None,
                 api_key_env: str | None = "OPENAI_API_KEY", timeout: float = 60.0,
                 max_retries: int = 3, backoff: float = 1.0,
                 requests_per_minute: float | None = None,
                 structured: str | None = "json_schema",
                 extra_body: dict[str, Any] | None = None) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: must be an http:// or https:// URL, got {base_url!r}")
        if not isinstance(model, str) or not model:
            raise ValueError(f"model: must be a non-empty string, got {model!r}")
        if structured not in ("json_schema", "json_object", None):
            raise ValueError(f"structured: must be 'json_schema', 'json_object' or None, got "
                             f"{structured!r}")
        for name, value, low in (("timeout", timeout, 0.0), ("backoff", backoff, 0.0)):
            if not isinstance(value, (int, float)) or value < low or (name == "timeout"
                                                                       and value == 0):
                raise ValueError(f"{name}: must be a positive number, got {value!r}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries: must be an int >= 0, got {max_retries!r}")
        if requests_per_minute is not None and not requests_per_minute > 0:
            raise ValueError(f"requests_per_minute: must be > 0 or None, got "
                             f"{requests_per_minute!r}")
        self.base_url, self.model = base_url.rstrip("/"), model
        self._key, self._key_env = api_key, api_key_env
        self.timeout, self.max_retries, self.backoff = float(timeout), max_retries, backoff
        self._interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.structured = structured
        self.extra_body = dict(extra_body or {})
        self._next_start = 0.0
        self._lock = threading.Lock()
        self._client: Any = None

    def __repr__(self) -> str:  # never the key
        return f"OpenAICompatible(base_url={self.base_url!r}, model={self.model!r})"

    def __getstate__(self) -> dict[str, Any]:  # to worker processes: no lock, no client
        state = self.__dict__.copy()
        state["_lock"], state["_client"] = None, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _headers(self) -> dict[str, str]:
        key = self._key or (os.environ.get(self._key_env) if self._key_env else None)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _wait_turn(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self._interval
        if start > now:
            time.sleep(start - now)

    def _body(self, messages: list[dict[str, str]], n: int, schema: dict[str, Any] | None,
              temperature: float, max_tokens: int) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "n": n,
                                "temperature": temperature, "max_tokens": max_tokens,
                                **self.extra_body}
        if self.structured == "json_schema" and schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "hpo_configurations", "strict": True, "schema": schema}}
        elif self.structured in ("json_schema", "json_object"):
            body["response_format"] = {"type": "json_object"}
        return body

    def chat(self, messages: list[dict[str, str]], *, n: int = 1,
             schema: dict[str, Any] | None = None, temperature: float = 0.7,
             max_tokens: int = 1024) -> Reply:
        import httpx

        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout)
        url = f"{self.base_url}/chat/completions"
        started = time.monotonic()
        attempt = 0
        while True:
            self._wait_turn()
            body = self._body(messages, n, schema, temperature, max_tokens)
            delay = None
            try:
                resp = self._client.post(url, json=body, headers=self._headers())
            except httpx.TimeoutException:
                problem = f"no answer within {self.timeout:g} s"
            except httpx.TransportError as exc:  # refused, reset, closed mid-answer
                problem = f"{type(exc).__name__}: {_safe(str(exc))}"
            else:
                if resp.status_code == 200:
                    return self._reply(resp, started)
                problem = f"HTTP {resp.status_code}: {_safe(resp.text[:300])}"
                if resp.status_code == 400 and "response_format" in body and \
                        self.structured == "json_schema":
                    self.structured = "json_object"  # the server takes no schema: JSON mode
                    continue
                if resp.status_code == 400 and "response_format" in body:
                    self.structured = None  # nor JSON mode: the prompt alone
                    continue
                if resp.status_code not in _RETRY_STATUS:
                    raise LLMError(f"{self.base_url}: {problem}")
                delay = _retry_after(resp.headers.get("Retry-After"))
            if attempt >= self.max_retries:
                raise LLMError(f"{self.base_url}: {problem} (after {attempt + 1} attempts)")
            if delay is None:
                delay = min(30.0, self.backoff * 2**attempt) * (0.5 + random.random() / 2)
            time.sleep(min(delay, 60.0))
            attempt += 1

    def _reply(self, resp: Any, started: float) -> Reply:
        try:
            data = resp.json()
            texts = [c["message"]["content"] or "" for c in data["choices"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise LLMError(f"{self.base_url}: not a chat-completions answer "
                           f"({type(exc).__name__}: {_safe(resp.text[:200])})") from None
        usage = data.get("usage") or {}
        return Reply(texts, int(usage.get("prompt_tokens") or 0),
                     int(usage.get("completion_tokens") or 0), time.monotonic() - started)


def _safe(text: str) -> str:
    """Text from a server or an exception, without a bearer token if one is echoed."""
    for word in text.split():
        if word.lower().startswith(("sk-", "bearer")) and len(word) > 12:
            text = text.replace(word, "***")
    return text


def _retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


class Transformers:
    """A local causal language model (``transformers``), loaded from ``path`` on first use.

    The chat is rendered with the tokenizer's chat template when it has one, else as
    ``role: content`` lines. ``schema`` is not enforced (the answer is parsed and
    validated like any other).

    Args:
        path: a directory written by ``save_pretrained`` (model and tokenizer).
        device: ``"cpu"``, ``"cuda"``, ...; default: CUDA when there is a GPU.
        max_new_tokens: cap on generated tokens (also bounded by ``max_tokens``).
    """

    def __init__(self, path: str | os.PathLike[str], *, device: str | None = None,
                 max_new_tokens: int = 512) -> None:
        if not os.path.isdir(path):
            raise ValueError(f"path: no model directory {str(path)!r} (a save_pretrained "
                             "directory with the model and its tokenizer)")
        self.path, self.device, self.max_new_tokens = str(path), device, max_new_tokens
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Transformers({self.path!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "device": self.device, "max_new_tokens": self.max_new_tokens}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], device=state["device"],  # type: ignore[misc]
                      max_new_tokens=state["max_new_tokens"])

    def _load(self) -> None:
        import torch
        import transformers

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(self.path)
        self._model = transformers.AutoModelForCausalLM.from_pretrained(self.path).to(device)
        self._model.eval()

    def chat(self, messages: list[dict[str, str]], *, n: int = 1,
             schema: dict[str, Any] | None = None, temperature: float = 0.7,
             max_tokens: int = 1024) -> Reply:
        import torch

        started = time.monotonic()
        with self._lock:
            try:
                if self._model is None:
                    self._load()
                tok, model = self._tokenizer, self._model
                if getattr(tok, "chat_template", None):
                    prompt = tok.apply_chat_template(messages, tokenize=False,
                                                     add_generation_prompt=True)
                else:
                    prompt = "\n".join(f"{m['role']}: {m['content']}" for m in messages)
                    prompt += "\nassistant:"
                inputs = tok(prompt, return_tensors="pt").to(model.device)
                limit = getattr(model.config, "max_position_embeddings", None) or \
                    getattr(model.config, "n_positions", None)
                if limit is not None and inputs["input_ids"].shape[1] >= limit:
                    keep = max(1, limit // 2)  # the end of the prompt: the question
                    inputs = {k: v[:, -keep:] for k, v in inputs.items()}
                new = min(self.max_new_tokens, max_tokens)
                if limit is not None:
                    new = max(1, min(new, limit - inputs["input_ids"].shape[1]))
                with torch.no_grad():
                    out = model.generate(**inputs, do_sample=temperature > 0,
                                         temperature=max(temperature, 1e-5),
                                         max_new_tokens=new, num_return_sequences=n,
                                         pad_token_id=tok.pad_token_id or tok.eos_token_id)
            except Exception as exc:  # the model's own errors have no common base
                raise LLMError(f"{self!r}: {type(exc).__name__}: {exc}") from exc
            n_prompt = int(inputs["input_ids"].shape[1])
            texts = [tok.decode(seq[n_prompt:], skip_special_tokens=True) for seq in out]
        return Reply(texts, n_prompt * n, sum(len(seq) - n_prompt for seq in out),
                     time.monotonic() - started)
