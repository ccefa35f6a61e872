"""Search-space helpers and the unit-cube encoder (property-based round trips)."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

import hpo
from hpo.space import UnitCubeEncoder, default_of


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: hpo.uniform(1.0, 0.5), r"hpo.uniform: low must be <= high.*reversed"),
        (lambda: hpo.loguniform(0.0, 1.0), r"hpo.loguniform: a log scale needs low > 0"),
        (lambda: hpo.loguniform(-1.0, 1.0), r"low=-1.0"),
        (lambda: hpo.integer(5, 1), r"hpo.integer: low must be <= high"),
        (lambda: hpo.integer(0, 10, log=True), r"hpo.integer: a log scale needs low > 0"),
        (lambda: hpo.integer(1, 10, step=0), r"hpo.integer: step must be >= 1"),
        (lambda: hpo.integer(1.5, 10), r"hpo.integer: low must be an int"),
        (lambda: hpo.choice([]), r"hpo.choice: values must hold at least one choice"),
        (lambda: hpo.choice("abc"), r"hpo.choice: values must be a list or tuple"),
        (lambda: hpo.choice([[1], [2]]), r"each value must be None, bool, int, float or str"),
        (lambda: hpo.choice(["a", "a"]), r"values must be distinct"),
        (lambda: hpo.uniform(0, float("inf")), r"hpo.uniform: high must be a finite number"),
        (lambda: hpo.uniform(0, 1, default=2.0), r"default=2.0 lies outside"),
    ],
)
def test_helpers_reject_bad_input_naming_the_parameter(make, match) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_helpers_build_optuna_distributions_with_defaults() -> None:
    assert hpo.uniform(0.9, 0.999) == FloatDistribution(0.9, 0.999)
    assert hpo.loguniform(1e-5, 1e-1) == FloatDistribution(1e-5, 1e-1, log=True)
    assert hpo.integer(16, 256, log=True) == IntDistribution(16, 256, log=True)
    assert hpo.integer(0, 10, step=2) == IntDistribution(0, 10, step=2)
    assert hpo.choice(["relu", "tanh"]) == CategoricalDistribution(["relu", "tanh"])
    assert hpo.fixed(3).choices == (3,)
    assert default_of(hpo.loguniform(1e-5, 1e-1, default=1e-3)) == 1e-3
    assert default_of(hpo.fixed("adam")) == "adam"
    assert default_of(hpo.uniform(0, 1)) is None


MIXED = {
    "lr": hpo.loguniform(1e-5, 1e-1),
    "gamma": hpo.uniform(0.9, 0.999),
    "clip": hpo.uniform(0.1, 0.3, step=0.05),
    "layers": hpo.integer(1, 4),
    "width": hpo.integer(16, 512, log=True),
    "batch": hpo.integer(32, 256, step=32),
    "act": hpo.choice(["relu", "tanh", "gelu"]),
    "norm": hpo.choice([True, False]),
    "opt": hpo.fixed("adam"),
    "same": hpo.uniform(2.0, 2.0),
}


def test_encoder_layout() -> None:
    enc = UnitCubeEncoder(MIXED)
    # 1 + 1 + 1 + 1 + 1 + 1 + 3 (one-hot) + 2 (one-hot) + 0 (fixed) + 0 (low == high)
    assert enc.dim == 11
    assert enc.categorical_groups == [(6, 9), (9, 11)]
    assert enc.discrete_columns == [2, 3, 4, 5]
    assert enc.continuous_columns == [0, 1]
    assert enc.decode(np.zeros(enc.dim))["opt"] == "adam"
    assert enc.decode(np.zeros(enc.dim))["same"] == 2.0


def test_encoder_log_scale_and_equal_integer_cells() -> None:
    enc = UnitCubeEncoder({"lr": hpo.loguniform(1e-4, 1e-1), "k": hpo.integer(1, 4)})
    assert enc.encode({"lr": 1e-2, "k": 1})[0] == pytest.approx(2 / 3)
    # each of the 4 integers owns a quarter of [0, 1]
    us = np.linspace(0.001, 0.999, 400)
    counts = np.bincount([enc.decode(np.array([0.5, u]))["k"] for u in us])[1:]
    assert counts.tolist() == [100, 100, 100, 100]
    assert enc.encode({"lr": 1e-4, "k": 3})[1] == pytest.approx(0.625)  # centre of cell 3


@st.composite
def _config(draw: st.DrawFn) -> dict:
    out = {}
    for name, dist in MIXED.items():
        if isinstance(dist, CategoricalDistribution):
            out[name] = draw(st.sampled_from(dist.choices))
        elif isinstance(dist, IntDistribution):
            k = draw(st.integers(0, (dist.high - dist.low) // dist.step))
            out[name] = dist.low + k * dist.step
        elif dist.step is not None:
            k = draw(st.integers(0, round((dist.high - dist.low) / dist.step)))
            out[name] = float(dist.low + k * dist.step)
        elif dist.log:
            out[name] = math.exp(draw(st.floats(math.log(dist.low), math.log(dist.high))))
            out[name] = min(max(out[name], dist.low), dist.high)
        else:
            out[name] = draw(st.floats(dist.low, dist.high))
    return out


@settings(max_examples=300, deadline=None)
@given(_config())
def test_encode_decode_round_trip(config: dict) -> None:
    enc = UnitCubeEncoder(MIXED)
    x = enc.encode(config)
    assert x.shape == (enc.dim,)
    assert np.all((x >= 0.0) & (x <= 1.0))
    back = enc.decode(x)
    for name, dist in MIXED.items():
        if isinstance(dist, FloatDistribution) and dist.step is None:
            assert back[name] == pytest.approx(config[name], rel=1e-9, abs=1e-12)
        elif isinstance(dist, FloatDistribution):
            assert back[name] == pytest.approx(config[name], abs=1e-9)
        else:
            assert back[name] == config[name]
            assert type(back[name]) is type(config[name])
    # snapping a valid encoding changes nothing
    snapped = enc.snap(torch.tensor(x)).numpy()
    np.testing.assert_allclose(snapped, x, atol=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-0.5, 1.5), min_size=11, max_size=11))
def test_any_point_decodes_to_a_valid_configuration(u: list[float]) -> None:
    enc = UnitCubeEncoder(MIXED)
    x = np.array(u)
    config = enc.decode(x)
    for name, dist in MIXED.items():
        assert dist._contains(dist.to_internal_repr(config[name])), (name, config[name])
    # snap is idempotent and agrees with decode
    s = enc.snap(torch.tensor(x))
    np.testing.assert_allclose(enc.snap(s).numpy(), s.numpy(), atol=1e-12)
    assert enc.decode(s.numpy()) == pytest.approx(config)
    np.testing.assert_allclose(enc.encode(config), s.numpy(), atol=1e-9)


def test_snap_is_batched() -> None:
    enc = UnitCubeEncoder(MIXED)
    x = torch.rand(7, 5, enc.dim, dtype=torch.float64)
    s = enc.snap(x)
    assert s.shape == x.shape
    for i in range(7):
        for j in range(5):
            assert enc.decode(s[i, j].numpy()) == pytest.approx(enc.decode(x[i, j].numpy()))


def test_encoder_matches_what_optuna_samples() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    enc = UnitCubeEncoder(MIXED)
    for _ in range(50):
        t = study.ask(MIXED)
        assert enc.decode(enc.encode(t.params)) == pytest.approx(t.params)
        study.tell(t, 0.0)


def test_encoder_errors() -> None:
    enc = UnitCubeEncoder({"x": hpo.uniform(0, 1)})
    with pytest.raises(KeyError, match="parameter 'x' missing"):
        enc.encode({})
    with pytest.raises(ValueError, match=r"expected shape \(1,\)"):
        enc.decode(np.zeros(2))


def test_grid_enumerates_every_configuration_of_a_finite_space() -> None:
    space = {"op": hpo.choice(["a", "b", "c"]), "n": hpo.integer(2, 64, log=True),
             "w": hpo.uniform(0.0, 1.0, step=0.25), "k": hpo.integer(0, 10, step=5),
             "opt": hpo.fixed("adam")}
    enc = UnitCubeEncoder(space)
    grid = enc.grid()
    assert enc.n_configurations() == 3 * 63 * 5 * 3 == len(grid)
    decoded = [enc.decode(row) for row in grid]
    assert len({tuple(sorted(c.items())) for c in decoded}) == len(grid)  # all distinct
    for row, config in zip(grid, decoded, strict=True):  # each row is encode() of its config
        np.testing.assert_array_equal(row, enc.encode(config))
    assert decoded[0] == {"op": "a", "n": 2, "w": 0.0, "k": 0, "opt": "adam"}
    assert decoded[1]["k"] == 5 and decoded[-1] == {"op": "c", "n": 64, "w": 1.0, "k": 10,
                                                    "opt": "adam"}
    with_float = UnitCubeEncoder({**space, "lr": hpo.loguniform(1e-4, 1e-1)})
    assert with_float.n_configurations() == math.inf
    with pytest.raises(ValueError, match="parameter 'lr' is continuous"):
        with_float.grid()
