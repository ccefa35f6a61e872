"""LLM-proposed configurations (issue 14).

The HTTP backend talks to a real HTTP server on 127.0.0.1 that speaks the
chat-completions protocol and answers as each test scripts it (valid proposals,
malformed JSON, prose, out-of-range and wrongly typed values, slow answers, 429 with
Retry-After, 5xx, 400 to a schema, a closed connection). The local backend is a tiny
randomly initialised GPT-2 built from a config: its output is garbage, so every
fallback path runs. Nothing is downloaded.
"""

from __future__ import annotations

import http.server
import itertools
import json
import logging
import math
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pytest
from http_helpers import serve
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

import hpo
from hpo import _attrs
from hpo.llm import LLMError, OpenAICompatible, Transformers
from hpo.llm._parse import extract, fit
from hpo.llm._prompts import Prompts, history, schema_for
from hpo.samplers import GPSampler, LLMSampler

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk-hpo-test-secret-0123456789"
SPACE = {"x": FloatDistribution(-5.0, 5.0), "n": IntDistribution(1, 8),
         "opt": CategoricalDistribution(["adam", "sgd"])}


def quadratic(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    n = trial.suggest_int("n", 1, 8)
    opt = trial.suggest_categorical("opt", ["adam", "sgd"])
    return (x - 1.3) ** 2 + abs(n - 3) + (0.0 if opt == "sgd" else 0.5)


# -- a chat-completions server on 127.0.0.1 ------------------------------------------------

Answer = Callable[[dict[str, Any]], "tuple[int, dict[str, str], Any]"]


@dataclass
class Server:
    url: str = ""
    answers: list[Answer] = field(default_factory=list)  # used in turn; the last repeats
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)

    def script(self, *answers: Answer) -> None:
        self.answers[:] = list(answers)
        self.requests.clear()


def reply(*texts: str, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    """An answer with these completions (or, with another status, that body)."""
    def answer(body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        if status != 200:
            return status, headers or {}, texts[0] if texts else "error"
        return 200, headers or {}, {
            "id": "cmpl-1", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": i, "message": {"role": "assistant", "content": t},
                         "finish_reason": "stop"} for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}
    return answer


def raw(text: str) -> Answer:
    """A 200 answer whose body is ``text`` as it is (not a chat completion)."""
    return lambda body: (200, {}, text)


def configs(*cfgs: dict[str, Any]) -> Answer:
    return reply(json.dumps({"configs": list(cfgs)}))


_asked = itertools.count()


def near_optimum(body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """A good proposer: as many configurations as asked for, near the optimum (x = 1.3,
    n = 3, opt = sgd), new ones each time."""
    n = body["response_format"]["json_schema"]["schema"]["properties"]["configs"]["minItems"]
    k = next(_asked)
    cfgs = [{"x": 1.3 + 0.001 * ((k * n + i) % 50), "n": 3, "opt": "sgd"} for i in range(n)]
    return reply(json.dumps({"configs": cfgs}))(body)


def slow(seconds: float, then: Answer) -> Answer:
    def answer(body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        time.sleep(seconds)
        return then(body)
    return answer


def close_connection(body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    return -1, {}, None


@pytest.fixture(scope="module")
def _server() -> Iterator[Server]:
    state = Server()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append((dict(self.headers), body))
            if self.path != "/v1/chat/completions":
                status, headers, payload = 404, {}, "no such route"
            else:
                answer = state.answers[min(len(state.requests) - 1, len(state.answers) - 1)] \
                    if len(state.answers) > 1 else state.answers[0]
                status, headers, payload = answer(body)
            if status == -1:  # drop the connection without an answer
                self.close_connection = True
                self.connection.shutdown(2)
                return
            data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with serve(Handler) as url:
        state.url = f"{url}/v1"
        yield state


@pytest.fixture
def server(_server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    _server.script(reply("{}"))
    return _server


def backend(server: Server, **kw: Any) -> OpenAICompatible:
    return OpenAICompatible(base_url=server.url, model="test-model", **{"backoff": 0.05, **kw})


# -- the HTTP backend ----------------------------------------------------------------------


def test_a_request_carries_the_schema_and_the_key_from_the_environment(server: Server) -> None:
    server.script(reply("a", "b"))
    schema = schema_for(SPACE, 2)
    out = backend(server).chat([{"role": "user", "content": "hi"}], n=2, schema=schema)
    assert out.texts == ["a", "b"] and (out.prompt_tokens, out.completion_tokens) == (100, 20)
    headers, body = server.requests[0]
    assert headers["Authorization"] == f"Bearer {SECRET}"
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert body["n"] == 2 and body["model"] == "test-model"
    assert schema["properties"]["configs"]["items"]["properties"]["opt"] == {"enum": ["adam",
                                                                                      "sgd"]}


def test_429_waits_for_retry_after_and_5xx_is_retried(server: Server) -> None:
    server.script(reply("slow down", status=429, headers={"Retry-After": "1"}),
                  reply("down", status=503), reply("ok"))
    start = time.monotonic()
    out = backend(server).chat([{"role": "user", "content": "hi"}])
    assert out.texts == ["ok"] and len(server.requests) == 3
    assert time.monotonic() - start >= 0.95  # the Retry-After second


def test_errors_after_the_retries_name_the_endpoint_and_why(server: Server) -> None:
    server.script(reply("overloaded", status=500))
    with pytest.raises(LLMError, match=r"HTTP 500: overloaded \(after 3 attempts\)"):
        backend(server, max_retries=2).chat([{"role": "user", "content": "hi"}])
    server.script(reply("no such model", status=404))
    with pytest.raises(LLMError, match="HTTP 404"):  # not retried
        backend(server).chat([{"role": "user", "content": "hi"}])
    assert len(server.requests) == 1
    server.script(close_connection)
    with pytest.raises(LLMError, match=r"RemoteProtocolError.*after 2 attempts"):
        backend(server, max_retries=1).chat([{"role": "user", "content": "hi"}])
    server.script(slow(2.0, reply("late")))
    start = time.monotonic()
    with pytest.raises(LLMError, match=r"no answer within 0.3 s \(after 1 attempts\)"):
        backend(server, timeout=0.3, max_retries=0).chat([{"role": "user", "content": "hi"}])
    assert time.monotonic() - start < 1.5
    server.script(raw("<html>gateway</html>"))
    with pytest.raises(LLMError, match="not a chat-completions answer"):
        backend(server).chat([{"role": "user", "content": "hi"}])


def test_a_server_without_schemas_is_asked_in_json_mode_then_plainly(server: Server) -> None:
    server.script(reply("response_format json_schema unsupported", status=400),
                  reply("json mode unsupported", status=400), reply("fine"))
    b = backend(server)
    assert b.chat([{"role": "user", "content": "hi"}], schema={"type": "object"}).texts == \
        ["fine"]
    formats = [body.get("response_format", {}).get("type") for _, body in server.requests]
    assert formats == ["json_schema", "json_object", None] and b.structured is None


def test_the_rate_limit_spaces_requests(server: Server) -> None:
    server.script(reply("ok"))
    b = backend(server, requests_per_minute=120)  # one every 0.5 s
    start = time.monotonic()
    for _ in range(3):
        b.chat([{"role": "user", "content": "hi"}])
    assert time.monotonic() - start >= 0.95


def test_bad_backend_settings_are_refused() -> None:
    for kwargs, message in [({"base_url": "127.0.0.1:8000", "model": "m"}, "base_url"),
                            ({"base_url": "http://x", "model": ""}, "model"),
                            ({"base_url": "http://x", "model": "m", "structured": "xml"},
                             "structured"),
                            ({"base_url": "http://x", "model": "m", "timeout": 0}, "timeout"),
                            ({"base_url": "http://x", "model": "m", "max_retries": -1},
                             "max_retries")]:
        with pytest.raises(ValueError, match=message):
            OpenAICompatible(**kwargs)
    with pytest.raises(ValueError, match="path: no model directory"):
        Transformers("/no/such/model")
    with pytest.raises(ValueError, match=r"backend\.api_key: not in a sweep file"):
        LLMSampler({"name": "openai", "base_url": "http://x", "model": "m", "api_key": "k"},
                   task="t")
    with pytest.raises(ValueError, match=r"backend.name: must be one of \['openai', "
                                         r"'transformers'\]"):
        LLMSampler({"name": "gpt"}, task="t")
    with pytest.raises(ValueError, match="task"):
        LLMSampler({"name": "openai", "base_url": "http://x", "model": "m"}, task=" ")
    with pytest.raises(ValueError, match=r"prompts.candidates: unknown field\(s\) \['budget'\]"):
        Prompts(candidates="{task} {budget}")
    with pytest.raises(ValueError, match=r"prompts: unknown template\(s\) \['user'\]"):
        LLMSampler({"name": "openai", "base_url": "http://x", "model": "m"}, task="t",
                   prompts={"user": "{task}"})


# -- reading answers -----------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ('{"x": 1, "n": 2}', [{"x": 1, "n": 2}]),
    ('[{"x": 1}, {"x": 2}]', [{"x": 1}, {"x": 2}]),
    ('{"configs": [{"x": 1}, {"x": 2}]}', [{"x": 1}, {"x": 2}]),
    ('{"suggestions": [{"x": 3}]}', [{"x": 3}]),
    ('Sure! Here you go:\n```json\n{"x": 4}\n```\nGood luck.', [{"x": 4}]),
    ('I would try {"x": 5} first, then {"x": 6}.', [{"x": 5}, {"x": 6}]),
    ("<think>maybe {\"x\": 0}?</think>{'x': 7, 'opt': 'sgd'}", [{"x": 7, "opt": "sgd"}]),
    ('{"x": 1,, broken', []),
    ("I cannot help with that.", []),
    ("", []),
])
def test_answers_are_read_leniently(text: str, expected: list[dict[str, Any]]) -> None:
    assert extract(text) == expected


@pytest.mark.parametrize("config, fitted, problem", [
    ({"x": 9.0, "n": 3, "opt": "sgd"}, {"x": 5.0, "n": 3, "opt": "sgd"}, None),  # clipped
    ({"x": "-1.5", "n": 2.6, "opt": "SGD"}, {"x": -1.5, "n": 3, "opt": "sgd"}, None),
    ({"x": "fast", "n": 3, "opt": "sgd"}, None, "x: not a number"),
    ({"x": True, "n": 3, "opt": "sgd"}, None, "x: not a number"),
    ({"x": float("nan"), "n": 3, "opt": "sgd"}, None, "x: not a number"),
    ({"x": 1.0, "n": 3, "opt": "rmsprop"}, None, "opt: not one of ['adam', 'sgd']"),
    ({"x": 1.0, "opt": "sgd"}, None, "n: missing"),
    ({"x": 1.0, "n": 3, "opt": "adam", "extra": 1}, {"x": 1.0, "n": 3, "opt": "adam"}, None),
])
def test_configurations_are_fitted_into_the_space(config: dict[str, Any],
                                                  fitted: dict[str, Any] | None,
                                                  problem: str | None) -> None:
    assert fit(config, SPACE) == (fitted, problem)


def test_steps_and_mixed_choices_are_respected() -> None:
    space = {"b": IntDistribution(16, 256, step=16), "w": FloatDistribution(0.0, 1.0, step=0.25),
             "c": CategoricalDistribution([1, True, "1.5", None])}
    assert fit({"b": 100, "w": 0.6, "c": True}, space) == ({"b": 96, "w": 0.5, "c": True}, None)
    assert fit({"b": 1000, "w": -1, "c": 1}, space)[0] == {"b": 256, "w": 0.0, "c": 1}
    assert fit({"b": 16, "w": 0, "c": 1.5}, space)[0]["c"] == "1.5"
    assert fit({"b": 16, "w": 0, "c": "none"}, space)[0]["c"] is None


def test_the_history_fits_its_budget_keeping_the_best_and_the_latest() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(quadratic, n_trials=60)
    trials = study.get_trials()
    full, summary = history(trials, SPACE, study.directions, 100_000)
    assert summary == "60 trials" and len(full.splitlines()) == 60
    cut, summary = history(trials, SPACE, study.directions, 1500)
    assert len(cut) <= 1500 and "shown: the" in summary
    shown = [json.loads(line) for line in cut.splitlines()]
    assert shown[-1]["params"] == trials[-1].params  # the latest is there
    assert {"params": study.best_trial.params, "value": study.best_value} in shown


def _warm(study: optuna.Study) -> dict[str, Any]:
    """What the study recorded of the zero-shot request."""
    return study._storage.get_study_system_attrs(study._study_id)[_attrs.LLM_WARM_START]


# -- the sampler ---------------------------------------------------------------------------


def test_warm_start_runs_the_llm_configurations_then_the_gp_gates_its_candidates(
        server: Server) -> None:
    warm = [{"x": v, "n": 3, "opt": "sgd"} for v in (0.0, 1.0, 2.0)]
    server.script(configs(*warm, {"x": 99, "n": "three", "opt": "sgd"}), near_optimum)
    sampler = LLMSampler(backend(server), task="a quadratic", search_space=SPACE, seed=0,
                         n_warm_start=3, n_startup_trials=5, n_proposals=3)
    study = optuna.create_study(sampler=sampler)
    study.optimize(quadratic, n_trials=12)
    records = [t.system_attrs[_attrs.LLM] for t in study.trials]
    assert [t.params for t in study.trials[:3]] == warm
    assert [r["source"] for r in records] == ["warm_start"] * 3 + ["startup"] * 2 + \
        [r["source"] for r in records[5:]]
    first = _warm(study)
    assert first["proposed"] == 4 and first["valid"] == 3
    assert first["rejected"] == ["n: not a number"]
    bo = records[5:]
    assert all(r["valid"] == 3 and r["prompt_tokens"] == 100 for r in bo)
    for r in bo:  # the gate: the LLM's best candidate runs when its acquisition is higher
        assert r["source"] == ("llm" if r["acq_llm"] > r["acq_gp"] else "gp"), r
    assert study.best_value < 0.01
    # the candidates prompt shows the history; the warm start went out once
    prompts = [body["messages"][-1]["content"] for _, body in server.requests]
    assert sum("Propose 3 diverse" in p for p in prompts) == 1
    assert '"value":' in prompts[-1] and "Trials so far (11 trials)" in prompts[-1]


def test_a_looser_gate_runs_candidates_within_its_margin(server: Server) -> None:
    server.script(near_optimum)
    sampler = LLMSampler(backend(server), task="a quadratic", search_space=SPACE, seed=1,
                         n_warm_start=0, n_startup_trials=4, n_proposals=2, gate=1e-3)
    study = optuna.create_study(sampler=sampler)
    study.optimize(quadratic, n_trials=10)
    bo = [t.system_attrs[_attrs.LLM] for t in study.trials[4:]]
    for r in bo:
        assert r["source"] == ("llm" if r["acq_llm"] > r["acq_gp"] + math.log(1e-3) else "gp")
    ran = [t for t in study.trials[4:] if t.system_attrs[_attrs.LLM]["source"] == "llm"]
    assert ran and all(abs(t.params["x"] - 1.3) < 0.06 and t.params["n"] == 3 for t in ran)
    with pytest.raises(ValueError, match=r"gate: must be a number in \(0, 1\]"):
        LLMSampler(backend(server), task="t", gate=0)


def test_garbage_answers_fall_back_to_exactly_the_gp_sampler(server: Server) -> None:
    server.script(reply("I think a learning rate of about 0.01 is good!"),
                  reply('{"x": "big", "n": 3, "opt": "sgd"}'),  # retried once per trial
                  reply('{"x": 1.0, "n": 3}'), reply("```json\n{broken\n```"))
    llm = LLMSampler(backend(server), task="a quadratic", search_space=SPACE, seed=3,
                     n_startup_trials=4)
    study = optuna.create_study(sampler=llm)
    study.optimize(quadratic, n_trials=10)
    plain = optuna.create_study(sampler=GPSampler(seed=3, n_startup_trials=4))
    plain.optimize(quadratic, n_trials=10)
    assert [t.params for t in study.trials] == [t.params for t in plain.trials]
    records = [t.system_attrs[_attrs.LLM] for t in study.trials]
    assert _warm(study)["fallback"].startswith("no usable configuration")
    assert {r["source"] for r in records} == {"startup", "gp"}
    assert all(r["fallback"].startswith("no usable configuration") for r in records[4:])
    assert all(r["valid"] == 0 for r in records[4:])


def test_an_unreachable_or_slow_llm_never_stops_the_sweep(server: Server) -> None:
    dead = OpenAICompatible(base_url="http://127.0.0.1:9/v1", model="m", max_retries=1,
                            backoff=0.01)
    study = optuna.create_study(sampler=LLMSampler(dead, task="t", search_space=SPACE, seed=0,
                                                   n_startup_trials=3))
    study.optimize(quadratic, n_trials=6)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert all("error: http://127.0.0.1:9/v1" in t.system_attrs[_attrs.LLM]["fallback"]
               for t in study.trials[3:])
    server.script(slow(3.0, near_optimum))
    sampler = LLMSampler(backend(server), task="t", search_space=SPACE, seed=0, n_warm_start=0,
                         n_startup_trials=3, timeout=0.5)
    study = optuna.create_study(sampler=sampler)
    study.optimize(quadratic, n_trials=5)
    late = study.trials[3].system_attrs[_attrs.LLM]
    assert late["fallback"] == "timeout" and late["source"] == "gp"
    start = time.monotonic()
    study.optimize(quadratic, n_trials=1)
    assert time.monotonic() - start < 5.0  # a timed-out answer holds back one trial at most


def test_proposals_of_past_trials_are_dropped(server: Server) -> None:
    server.script(configs({"x": 0.5, "n": 2, "opt": "adam"}, {"x": 0.5, "n": 2, "opt": "adam"},
                          {"x": 0.7, "n": 2, "opt": "adam"}))
    study = optuna.create_study(sampler=LLMSampler(backend(server), task="t", seed=0,
                                                   search_space=SPACE, n_warm_start=3,
                                                   n_startup_trials=3))
    study.enqueue_trial({"x": 0.7, "n": 2, "opt": "adam"})
    study.optimize(quadratic, n_trials=3)
    params = [t.params for t in study.trials]
    assert params[0] == {"x": 0.7, "n": 2, "opt": "adam"}  # enqueued
    assert params[1] == {"x": 0.5, "n": 2, "opt": "adam"}  # the only new warm configuration
    assert study.trials[2].system_attrs[_attrs.LLM]["source"] == "startup"
    assert _warm(study)["rejected"] == ["a configuration already tried"]
    server.script(configs(*params))  # after start-up: only configurations already run
    study.optimize(quadratic, n_trials=1)
    record = study.trials[3].system_attrs[_attrs.LLM]
    assert record["rejected"] == ["a configuration already tried"] * 3 + \
        ["a configuration already tried"] * 3  # asked twice
    assert record["source"] == "gp" and record["fallback"].startswith("no usable")


def test_the_api_key_is_in_no_study_log_or_error(server: Server, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    def echo(body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        auth = server.requests[-1][0]["Authorization"]
        return 401, {}, json.dumps({"error": f"bad key {auth}"})

    server.script(echo)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(LLMError) as err:
        backend(server).chat([{"role": "user", "content": "hi"}])
    assert SECRET not in str(err.value) and "HTTP 401" in str(err.value)
    assert SECRET not in repr(backend(server))
    storage = f"sqlite:///{tmp_path}/s.db"
    study = hpo.create_study(storage=storage, sampler=LLMSampler(
        backend(server), task="t", search_space=SPACE, seed=0, n_startup_trials=2))
    study.optimize(quadratic, n_trials=4)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    dump = json.dumps([study._storage.get_study_system_attrs(study._study_id), study.user_attrs,
                       *[[t.system_attrs, t.user_attrs] for t in study.trials]], default=str)
    assert "HTTP 401" in dump and SECRET not in dump
    assert SECRET not in caplog.text


def test_a_local_random_transformer_runs_every_fallback_path(tmp_path: Path) -> None:
    from hpo.integrations.dpo import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    tiny_model(len(tok), n_positions=128).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    sampler = LLMSampler(Transformers(tmp_path / "model", device="cpu", max_new_tokens=24),
                         task="a quadratic", search_space=SPACE, seed=0, n_startup_trials=3,
                         n_warm_start=2, n_proposals=2)
    study = optuna.create_study(sampler=sampler)
    study.optimize(quadratic, n_trials=5)
    records = [t.system_attrs[_attrs.LLM] for t in study.trials]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert [r["source"] for r in records] == ["startup"] * 3 + ["gp"] * 2
    assert all(r["fallback"] for r in records[3:])
    assert all(r["completion_tokens"] > 0 for r in records[3:])
    assert _warm(study)["completion_tokens"] > 0


def test_a_sweep_file_runs_the_llm_sampler(server: Server, tmp_path: Path) -> None:
    server.script(near_optimum)
    (tmp_path / "llmobj.py").write_text(textwrap.dedent("""\
        import hpo

        @hpo.objective(direction="minimize")
        def train(x: float = hpo.uniform(-5.0, 5.0), n: int = hpo.integer(1, 8),
                  opt: str = hpo.choice(["adam", "sgd"]), *, trial=None) -> float:
            return (x - 1.3) ** 2 + abs(n - 3) + (0.0 if opt == "sgd" else 0.5)
        """))
    (tmp_path / "sweep.yaml").write_text(textwrap.dedent(f"""\
        name: llm-sweep
        objective: llmobj:train
        sampler:
          name: llm
          task: a quadratic in x, n and opt; lower is better
          n_warm_start: 2
          n_startup_trials: 3
          seed: 0
          backend: {{name: openai, base_url: "{server.url}", model: test-model, backoff: 0.05}}
        budget: {{trials: 5}}
        isolation: none
        """))
    out = subprocess.run([sys.executable, "-m", "hpo.cli", "sweep", "sweep.yaml",
                          "--no-progress"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    study = hpo.load_study(study_name="llm-sweep",
                           storage=f"sqlite:///{tmp_path}/sweeps/llm-sweep/study.db")
    sources = [t.system_attrs[_attrs.LLM]["source"] for t in study.trials]
    assert sources[:2] == ["warm_start", "warm_start"]  # from trial 0: the declared space
    assert study.best_value < 0.01
    stored = json.dumps(study._storage.get_study_system_attrs(study._study_id), default=str)
    assert SECRET not in stored and SECRET not in out.stderr + out.stdout
    status = subprocess.run([sys.executable, "-m", "hpo.cli", "status", "sweep.yaml"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = next(ln for ln in status.stdout.splitlines() if ln.startswith("llm"))
    n_llm = sum(s in ("warm_start", "llm") for s in sources)
    assert f"{n_llm} of 5 trials ran its configurations (2 warm start" in line


def test_optuna_cases_exercise_the_server(server: Server) -> None:
    """Optuna's cases run LLMSampler (tests/test_sampler_contract.py) on a server like
    this one, which really answers: a study of such a sampler asks the server."""
    server.script(reply('{"configs": [{"x": 0.1}]}'))
    study = optuna.create_study(sampler=LLMSampler(backend(server), task="t", seed=0,
                                                   n_startup_trials=2, n_proposals=1))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=4)
    assert len(server.requests) >= 2 and study.trials[1].params == {"x": 0.1}
    assert study.trials[2].system_attrs[_attrs.LLM]["source"] == "gp"
