"""What every sampler of :mod:`hpo.samplers` promises, checked over one table of them.

- :data:`CASES` holds a small constructor for every name in ``hpo.samplers.__all__``
  (a new sampler fails :func:`test_the_table_covers_every_sampler` until it is added);
- each is pickled fresh and after trials (its lock and caches made afresh, by
  :class:`hpo.samplers._local.ProcessLocal`), and the copy goes on with the study;
- the same seed gives the same first suggestions, and ``reseed_rng`` leaves a sampler
  that still works;
- Optuna's own sampler test cases (``optuna.testing.pytest_samplers``) run once per
  sampler: the basic cases for those of one objective, the multi-objective cases for
  those of several, and the single-only case for those of one only.

The LLM sampler asks a real chat-completions server on 127.0.0.1 (as in test_llm.py).
"""

from __future__ import annotations

import http.server
import json
import pickle
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
from http_helpers import serve
from optuna.samplers import BaseSampler
from optuna.storages import InMemoryStorage
from optuna.testing.pytest_samplers import (
    BasicSamplerTestCase,
    MultiObjectiveSamplerTestCase,
    SingleOnlySamplerTestCase,
)
from optuna.trial import TrialState

import hpo
import hpo.samplers
from hpo import _attrs
from hpo.llm import OpenAICompatible
from hpo.samplers import (
    ASHA,
    CARBS,
    IDHB,
    MOPBT,
    PB2,
    PBT,
    FreezeThaw,
    GPSampler,
    Hyperband,
    LLMSampler,
    MultiFidelityGPSampler,
    OneEpoch,
    SuccessiveHalving,
    default_sampler,
)
from hpo.samplers._local import ProcessLocal

optuna.logging.set_verbosity(optuna.logging.WARNING)

# -- the table -----------------------------------------------------------------------------

_chat_url = ""  # set by the chat fixture: the LLM sampler's endpoint


def _llm(seed: int | None) -> LLMSampler:
    backend = OpenAICompatible(base_url=_chat_url, model="test-model", api_key_env=None,
                               timeout=5.0, backoff=0.05)
    return LLMSampler(backend, task="the contract tests", seed=seed, n_startup_trials=2,
                      n_warm_start=1, n_proposals=1)


@dataclass(frozen=True)
class Case:
    make: Callable[[int | None], BaseSampler]  # seed -> a small, quick sampler
    objectives: str  # "one" (and refuses several), "several" (only), "any"
    chat: bool = False  # asks the LLM server
    n_trials: int = 4  # trials until its process-local caches hold something


CASES: dict[str, Case] = {
    "GPSampler": Case(lambda s: GPSampler(seed=s, n_startup_trials=2, n_candidates=256), "any"),
    "default_sampler": Case(lambda s: default_sampler(seed=s), "any", n_trials=11),
    "LLMSampler": Case(_llm, "any", chat=True),
    "CARBS": Case(lambda s: CARBS(seed=s, num_candidates_per_dim=20), "one"),
    "MultiFidelityGPSampler": Case(lambda s: MultiFidelityGPSampler(seed=s, n_startup_trials=2),
                                   "one"),
    "FreezeThaw": Case(lambda s: FreezeThaw(1, 9, searcher=MultiFidelityGPSampler(
        seed=s, n_startup_trials=2)), "one"),
    "ASHA": Case(lambda s: ASHA(1, 9, seed=s), "one"),
    "SuccessiveHalving": Case(lambda s: SuccessiveHalving(1, 9, seed=s), "one"),
    "Hyperband": Case(lambda s: Hyperband(1, 9, seed=s), "one"),
    "IDHB": Case(lambda s: IDHB(1, 9, variant="preserving", seed=s), "one"),
    "OneEpoch": Case(lambda s: OneEpoch(9, n_configs=4, k=1, seed=s), "one"),
    "PBT": Case(lambda s: PBT(2, 1, 1000, seed=s), "one"),
    "PB2": Case(lambda s: PB2(2, 1, 1000, seed=s), "one", n_trials=6),
    "MOPBT": Case(lambda s: MOPBT(2, 1, 1000, seed=s), "several"),
}


def test_the_table_covers_every_sampler(chat: str) -> None:
    assert set(CASES) == set(hpo.samplers.__all__)
    for name, case in CASES.items():
        made = case.make(0)
        if name != "default_sampler":
            assert type(made) is getattr(hpo.samplers, name)
        assert isinstance(made, BaseSampler)


def _propose(body: dict[str, Any]) -> str:
    """As many configurations as asked for, inside the request's JSON schema: the same
    prompt gets the same answer (the same seed, the same suggestions)."""
    rng = random.Random(zlib.crc32(json.dumps(body["messages"], sort_keys=True).encode()))
    schema = body["response_format"]["json_schema"]["schema"]["properties"]["configs"]
    configs = []
    for _ in range(schema["minItems"]):
        config: dict[str, Any] = {}
        for name, prop in schema["items"]["properties"].items():
            if "enum" in prop:
                config[name] = rng.choice(prop["enum"])
            elif prop["type"] == "integer":
                config[name] = rng.randint(prop["minimum"], prop["maximum"])
            else:
                config[name] = rng.uniform(prop["minimum"], prop["maximum"])
        configs.append(config)
    return json.dumps({"configs": configs})


@pytest.fixture(scope="module")
def chat() -> Iterator[str]:
    """A chat-completions endpoint on 127.0.0.1 that proposes configurations of the
    space it is asked about (:func:`_propose`)."""
    global _chat_url

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            data = json.dumps({
                "id": "cmpl-1", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": _propose(body)}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with serve(Handler) as url:
        _chat_url = f"{url}/v1"
        yield _chat_url
    _chat_url = ""


def _names(objectives: str) -> list[str]:
    return [n for n, c in CASES.items() if c.objectives in objectives.split()]


def _make(request: pytest.FixtureRequest) -> Callable[[], BaseSampler]:
    case = CASES[request.param]
    if case.chat:
        request.getfixturevalue("chat")
    return lambda: case.make(0)


# -- one study of any sampler: hpo's budget and checkpoints, a curve, a cost ---------------


def _train(trial: optuna.Trial, n_objectives: int = 1) -> float | tuple[float, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    n = trial.suggest_int("n", 1, 4)
    state = hpo.resume(trial) or {"steps": 0}
    start, stop = hpo.budget(trial, max_resource=9)
    for step in range(int(start), int(stop)):
        state["steps"] = step + 1
        if n_objectives == 1:  # Optuna takes no intermediate values of several
            trial.report((x - 0.3) ** 2 + 0.1 * n + 1.0 / (step + 1), step)
    hpo.checkpoint(trial, state, step=stop)
    trial.set_user_attr("cost", float(n * stop))
    loss = (x - 0.3) ** 2 + 0.1 * n + 1.0 / stop
    return (loss, float(n)) if n_objectives == 2 else loss


def _study(name: str, sampler: BaseSampler, artifacts: Path) -> optuna.Study:
    directions = ["minimize", "minimize"] if CASES[name].objectives == "several" else ["minimize"]
    return hpo.create_study(storage=InMemoryStorage(), sampler=sampler, directions=directions,
                            artifact_dir=artifacts)


def _run(study: optuna.Study, n_trials: int) -> None:
    n_objectives = len(study.directions)
    before = len(study.trials)
    study.optimize(lambda t: _train(t, n_objectives), n_trials=n_trials)
    new = study.trials[before:]
    assert len(new) == n_trials
    assert all(t.state == TrialState.COMPLETE for t in new), [
        (t.state, t.system_attrs.get(_attrs.FAIL_REASON)) for t in new]


@pytest.fixture(params=list(CASES))
def name(request: pytest.FixtureRequest) -> str:
    if CASES[request.param].chat:
        request.getfixturevalue("chat")
    return request.param


# -- pickling ------------------------------------------------------------------------------


def _same_but_local(sampler: BaseSampler, copy: BaseSampler) -> None:
    """The copy has every attribute (the process-local ones made afresh, empty)."""
    assert type(sampler).__getstate__ is ProcessLocal.__getstate__  # no pickling of its own
    assert type(sampler).__setstate__ is ProcessLocal.__setstate__
    assert set(vars(copy)) == set(vars(sampler))
    assert copy._lock is not sampler._lock  # type: ignore[attr-defined]
    fresh = type(sampler).__new__(type(sampler))
    fresh._reset_local()  # type: ignore[attr-defined]
    for attr in sampler._local:  # type: ignore[attr-defined]
        assert repr(getattr(copy, attr)) == repr(getattr(fresh, attr)), attr


def test_a_fresh_sampler_pickles_and_its_copy_runs(name: str, tmp_path: Path) -> None:
    sampler = CASES[name].make(0)
    copy = pickle.loads(pickle.dumps(sampler))
    _same_but_local(sampler, copy)
    study = _study(name, copy, tmp_path)
    _run(study, 4)
    if CASES[name].chat:  # the copy asked the server, and ran what it proposed
        assert any(t.system_attrs.get(_attrs.LLM, {}).get("source") in ("warm_start", "llm")
                   for t in study.trials)


def test_a_sampler_that_ran_trials_pickles_and_its_copy_goes_on(name: str,
                                                                tmp_path: Path) -> None:
    case = CASES[name]
    sampler = case.make(0)
    study = _study(name, sampler, tmp_path)
    _run(study, case.n_trials)  # past start-up: warm starts, fitted models, views cached
    copy = pickle.loads(pickle.dumps(sampler))
    _same_but_local(sampler, copy)
    local = sampler._local  # type: ignore[attr-defined]
    assert not local or any(repr(getattr(sampler, a)) != repr(getattr(copy, a)) for a in local)
    study.sampler = copy  # as a worker process does: the same study, the copy
    _run(study, 2)


# -- seeds ---------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_suggestions_and_reseeding_works(name: str,
                                                                      tmp_path: Path) -> None:
    first = []
    for i in range(2):
        study = _study(name, CASES[name].make(0), tmp_path / str(i))
        _run(study, 3)
        first.append([t.params for t in study.trials])
    assert first[0] == first[1]
    sampler = CASES[name].make(0)
    sampler.reseed_rng()  # may, by chance, suggest what the seed would: not compared
    _run(_study(name, sampler, tmp_path / "reseeded"), 3)


# -- Optuna's cases, once per sampler ------------------------------------------------------


class TestOptunaBasicCases(BasicSamplerTestCase):
    """For every sampler of one objective (MOPBT needs several: not here)."""

    @pytest.fixture(params=_names("one any"))
    def sampler(self, request: pytest.FixtureRequest) -> Callable[[], BaseSampler]:
        return _make(request)


class TestOptunaMultiObjectiveCases(MultiObjectiveSamplerTestCase):
    """For every sampler of several objectives."""

    @pytest.fixture(params=_names("several any"))
    def sampler(self, request: pytest.FixtureRequest) -> Callable[[], BaseSampler]:
        return _make(request)


class TestOptunaSingleOnlyCases(SingleOnlySamplerTestCase):
    """For every sampler of one objective only: several raise ValueError."""

    @pytest.fixture(params=_names("one"))
    def sampler(self, request: pytest.FixtureRequest) -> Callable[[], BaseSampler]:
        return _make(request)
