"""The GP layer: model fit, warm starts, large-n cap, acquisitions, acquisition optimiser."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest
import scipy.optimize
import torch
from botorch.acquisition.analytic import LogExpectedImprovement
from botorch.utils.multi_objective.pareto import is_non_dominated

import hpo.space as sp
from hpo.surrogates import (
    GP,
    LogEHVI,
    build_acquisition,
    fit_gp,
    log_ei,
    log_prob_feasible,
    optimize_acqf,
    resolve_device,
    select_subset,
    value_and_grad,
)
from hpo.surrogates.device import cpu_threads
from hpo.surrogates.model import _Objective
from hpo.surrogates.optimize import batched_lbfgsb

D = torch.float64


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with cpu_threads(1):
        yield


def _data(n: int, d: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=D)


def _f(X: torch.Tensor) -> torch.Tensor:
    return torch.sin(6 * X[:, 0]) + (X[:, 1] - 0.3).square() * 2


def test_fit_recovers_known_function() -> None:
    X = _data(60, 2)
    gp = fit_gp(X, _f(X))
    Xt = _data(500, 2, seed=1)
    mean, var = gp.mean_var(Xt)
    rmse = (mean[:, 0] - _f(Xt)).square().mean().sqrt().item()
    assert rmse < 0.05 * (_f(Xt).max() - _f(Xt).min()).item()
    # well calibrated enough: most errors within 3 posterior standard deviations
    z = (mean[:, 0] - _f(Xt)).abs() / var[:, 0].sqrt()
    assert (z < 3).float().mean() > 0.9
    # noise-free data: tiny inferred noise, near-interpolation at training points
    assert gp.hyper.noise.item() < 1e-2
    assert (gp.mean_var(X)[0][:, 0] - _f(X)).abs().max() < 0.05


def test_posterior_is_a_botorch_model_consistent_with_fast_path() -> None:
    X = _data(25, 3)
    gp = fit_gp(X, X.sum(-1) ** 2)
    Xq = _data(7, 3, seed=2)
    mean, var = gp.mean_var(Xq)
    post = gp.posterior(Xq)
    torch.testing.assert_close(post.mean, mean)
    torch.testing.assert_close(post.variance, var, rtol=1e-6, atol=1e-9)
    # BoTorch's analytic LogEI on our model equals ours
    ours = build_acquisition(gp, X)
    with torch.no_grad():
        best = gp.mean_var(X)[0].max().item()
        # near the incumbent, where the posterior variance is ~1e-6 (noise at its floor)
        # and a cached K^-1 would lose digits, and far away (log-EI ~ -3e4)
        near = X[gp.mean_var(X)[0][:, 0].argmax()] + 0.02 * _data(7, 3, seed=3) - 0.01
        for Xc in (near, Xq):
            ref = LogExpectedImprovement(gp, best_f=best)(Xc.unsqueeze(-2))
            torch.testing.assert_close(ours(Xc), ref, rtol=1e-6, atol=1e-8)


def test_log_ei_accurate_and_finite_far_in_the_tail() -> None:
    u = torch.tensor([-30.0, -5.0, -1.5, -0.5, 0.0, 2.0], dtype=D)
    exact = torch.log(torch.exp(-0.5 * u**2) / math.sqrt(2 * math.pi) + u * torch.special.ndtr(u))
    torch.testing.assert_close(log_ei(u[1:]), exact[1:], rtol=1e-9, atol=1e-12)
    # at u = -30 the naive formula cancels to -inf; ours follows the asymptote
    tail = log_ei(torch.tensor([-30.0, -1e3, -1e8], dtype=D, requires_grad=True))
    assert torch.isfinite(tail).all() and (tail.diff() < 0).all()
    asym = -0.5 * 900 - 0.5 * math.log(2 * math.pi) - 2 * math.log(30)
    assert abs(tail[0].item() - asym) < 1e-2
    x = torch.tensor([-50.0, -3.0, 0.5], dtype=D, requires_grad=True)
    (g,) = torch.autograd.grad(log_ei(x).sum(), x)
    assert torch.isfinite(g).all() and (g > 0).all()


def test_marginal_likelihood_gradient_is_exact() -> None:
    X = _data(30, 3)
    y = torch.stack([_f(X), X.sum(-1)])
    y = (y - y.mean(1, keepdim=True)) / y.std(1, keepdim=True)
    rng = np.random.default_rng(0)
    for fixed in (None, 1e-4):
        obj = _Objective(X, y, 1e-6, fixed)
        x0 = obj.pack(obj.initial()) + rng.normal(0, 0.3, 10)
        err = scipy.optimize.check_grad(lambda x, o=obj: o(x)[0], lambda x, o=obj: o(x)[1],
                                        x0, epsilon=1e-6)
        assert err < 1e-4 * max(1.0, np.abs(obj(x0)[1]).max())


def _autograd(f, X: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    Xg = X.clone().requires_grad_()
    (g,) = torch.autograd.grad(f(Xg).sum(), Xg)
    return g


def test_closed_form_acquisition_gradients_match_autograd() -> None:
    X = _data(40, 3)
    gp = fit_gp(X, torch.stack([_f(X), -X.sum(-1)], -1))  # two outputs, own lengthscales
    Xq = torch.cat([_data(6, 3, seed=1), X[:2] + 1e-3])  # include points next to the data
    mean, var, dmean, dvar = gp.mean_var_grad(Xq)
    torch.testing.assert_close((mean, var), gp.mean_var(Xq))
    for j in range(2):
        for k, derivative in enumerate((dmean, dvar)):
            torch.testing.assert_close(
                derivative[:, j], _autograd(lambda Z, j=j, k=k: gp.mean_var(Z)[k][:, j], Xq))
    objective = fit_gp(X, _f(X))
    constraint = fit_gp(X, X[:, :2].sum(-1, keepdim=True) - 0.8)
    feasible = X[:, :2].sum(-1) <= 0.8
    for acq in (build_acquisition(objective, X),
                build_acquisition(objective, X, X_pending=Xq[:2] + 0.05, n_fantasies=8),
                build_acquisition(objective, X, constraint_model=constraint, feasible=feasible)):
        values, grad = acq.value_and_grad(Xq)  # type: ignore[attr-defined]
        torch.testing.assert_close(values, acq(Xq))
        torch.testing.assert_close(grad, _autograd(acq, Xq))


def test_batched_lbfgsb_gives_each_start_its_own_scipy_run() -> None:
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    H = A @ A.T + np.eye(4)

    def one(x: np.ndarray) -> tuple[float, np.ndarray]:  # a bounded non-convex function
        return float(0.5 * x @ H @ x + np.sin(5 * x).sum()), H @ x + 5 * np.cos(5 * x)

    def batch(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = [one(x) for x in X]
        return np.array([r[0] for r in rows]), np.stack([r[1] for r in rows])

    x0 = rng.uniform(-1, 1, size=(5, 4))
    lo, hi = -np.ones(4), np.ones(4)
    calls = []
    x, f = batched_lbfgsb(lambda X: (calls.append(len(X)), batch(X))[1], x0, lo, hi, max_iter=50)
    for i in range(5):
        ref = scipy.optimize.minimize(one, x0[i], jac=True, method="L-BFGS-B",
                                      bounds=scipy.optimize.Bounds(lo, hi),
                                      options={"maxiter": 50})
        np.testing.assert_array_equal(x[i], ref.x)  # bit for bit: the same scipy run
        assert f[i] == ref.fun
    assert calls[0] == 5 and calls[-1] < 5  # starts leave the batch as they converge


def test_warm_start_reuses_hyperparameters() -> None:
    X = _data(80, 4)
    y = _f(X) + X[:, 2]
    cold = fit_gp(X[:79], y[:79])
    again_cold = fit_gp(X, y)
    warm = fit_gp(X, y, warm_start=cold)
    assert warm.fit_iterations < again_cold.fit_iterations
    # one more point barely moves the MAP: the warm fit lands where a cold one does
    torch.testing.assert_close(warm.hyper.lengthscale, again_cold.hyper.lengthscale, rtol=0.15,
                               atol=0.0)
    # a warm start of the wrong shape is ignored rather than failing
    other = fit_gp(X[:, :2], y)
    assert fit_gp(X, y, warm_start=other).hyper.shape == (1, 4)


def test_large_n_keeps_fit_bounded() -> None:
    n = 4000  # an exact fit on all of it takes minutes; capped it takes about a second
    X = _data(n, 3)
    y = _f(X) + 0.05 * torch.randn(n, generator=torch.Generator().manual_seed(3), dtype=D)
    t = time.perf_counter()
    gp = fit_gp(X, y, max_points=300, max_fit_points=150, device="cpu")
    assert time.perf_counter() - t < 20
    assert len(gp.train_X) == 300
    kept = set(gp.kept.tolist())
    assert int(torch.argmax(y)) in kept and set(range(n - 75, n)) <= kept
    rmse = (gp.mean_var(X[:500])[0][:, 0] - _f(X[:500])).square().mean().sqrt()
    assert rmse < 0.15


def test_select_subset_keeps_the_best_of_each_output() -> None:
    Y = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0), dtype=D)
    idx = select_subset(Y, 200).tolist()
    assert len(idx) == 200 and idx == sorted(idx)
    for j in range(2):
        assert set(torch.argsort(Y[:, j], descending=True)[:50].tolist()) <= set(idx)


def test_optimize_acqf_returns_valid_snapped_points_in_a_mixed_space() -> None:
    space = {
        "lr": sp.loguniform(1e-5, 1e-1),
        "gamma": sp.uniform(0.9, 0.999),
        "layers": sp.integer(1, 6),
        "batch": sp.integer(16, 1024, log=True),
        "clip": sp.uniform(0.1, 0.3, step=0.05),
        "act": sp.choice(["relu", "tanh", "gelu"]),
        "algo": sp.fixed("ppo"),
    }
    enc = sp.UnitCubeEncoder(space)
    target = {"lr": 3e-4, "gamma": 0.95, "layers": 4, "batch": 100, "clip": 0.25, "act": "gelu",
              "algo": "ppo"}
    t = torch.as_tensor(enc.encode(target), dtype=D)
    # a smooth acquisition whose best *valid* point is ``target``
    x, _ = optimize_acqf(lambda X: -(X - t).square().sum(-1), enc, n_candidates=256, seed=1)
    torch.testing.assert_close(enc.snap(x), x)
    got = enc.decode(x.numpy())
    assert {k: got[k] for k in ("layers", "batch", "act", "algo")} == \
        {k: target[k] for k in ("layers", "batch", "act", "algo")}
    assert got["clip"] == pytest.approx(0.25)
    assert got["lr"] == pytest.approx(3e-4, rel=1e-3) and got["gamma"] == pytest.approx(0.95, 1e-4)
    # the same seed gives the same point
    x2, _ = optimize_acqf(lambda X: -(X - t).square().sum(-1), enc, n_candidates=256, seed=1)
    torch.testing.assert_close(x, x2)


def test_optimize_acqf_on_a_purely_discrete_space_finds_the_best_cell() -> None:
    enc = sp.UnitCubeEncoder({"a": sp.integer(0, 30), "b": sp.choice(list("pqrstuvw"))})
    t = torch.as_tensor(enc.encode({"a": 17, "b": "t"}), dtype=D)
    for max_grid in (0, 1000):  # local search and coordinate ascent; exhaustive
        x, _ = optimize_acqf(lambda X: -(X - t).abs().sum(-1), enc, n_candidates=16, seed=0,
                             max_grid=max_grid)
        assert enc.decode(x.numpy()) == {"a": 17, "b": "t"}


def test_optimize_acqf_enumerates_a_small_discrete_space() -> None:
    """Six categoricals of five choices (15625 configurations) under a deceptive
    acquisition: every move away from the target gains, the target itself is the maximum.
    The scan and coordinate ascent climb away from it; the exhaustive evaluation finds it."""
    space = {f"c{i}": sp.choice(list("abcde")) for i in range(6)}
    enc = sp.UnitCubeEncoder(space)
    assert enc.n_configurations() == 15625
    target = {f"c{i}": "abcde"[i % 5] for i in range(6)}
    t = torch.as_tensor(enc.encode(target), dtype=D)

    def acq(X: torch.Tensor) -> torch.Tensor:
        differ = 0.5 * (X - t).abs().sum(-1)  # parameters whose choice differs from target
        return differ + 10.0 * (differ < 0.5)

    x, v = optimize_acqf(acq, enc, seed=0)
    assert enc.decode(x.numpy()) == target and v == 10.0
    x, v = optimize_acqf(acq, enc, seed=0, max_grid=0)
    assert enc.decode(x.numpy()) != target and v == 6.0


def test_optimize_acqf_breaks_ties_on_the_grid_at_random() -> None:
    """An acquisition that depends on c0 only: the other parameter's choices tie, and the
    seed decides among them (argmax alone would always take the first choice)."""
    enc = sp.UnitCubeEncoder({"c0": sp.choice(list("abc")), "c1": sp.choice(list("vwxyz"))})
    a = torch.as_tensor(enc.encode({"c0": "b", "c1": "v"}), dtype=D)[:3]

    def acq(X: torch.Tensor) -> torch.Tensor:
        return -(X[:, :3] - a).abs().sum(-1)

    picks = set()
    for seed in range(20):
        x, v = optimize_acqf(acq, enc, seed=seed)
        params = enc.decode(x.numpy())
        assert params["c0"] == "b" and v == 0.0
        picks.add(params["c1"])
    assert len(picks) >= 4
    again = [optimize_acqf(acq, enc, seed=3)[0].tolist() for _ in range(2)]
    assert again[0] == again[1]


def test_taken_rows_match_a_brute_force_comparison() -> None:
    """The hashed lookup of excluded rows agrees with comparing every pair, with repeated
    and near-equal (1e-12 apart: the same) excluded rows and values on few levels."""
    from hpo.surrogates.optimize import _taken

    g = torch.Generator().manual_seed(1)
    for _ in range(50):
        d, levels = int(torch.randint(1, 30, (1,), generator=g)), 3
        X = torch.randint(0, levels, (500, d), generator=g).to(D) / (levels - 1)
        E = torch.randint(0, levels, (40, d), generator=g).to(D) / (levels - 1)
        E = torch.cat([E, X[:5], X[:3] + 1e-12, X[5:6] + 1e-6])
        brute = ((X[:, None, :] - E[None]).abs() <= 1e-9).all(-1).any(-1)
        assert torch.equal(_taken(X, E), brute)
        assert bool(_taken(X, E)[:5].all())
    assert not bool(_taken(X, None).any()) and not bool(_taken(X, E[:0]).any())


@pytest.mark.parametrize("max_grid", [2**15, 0])  # exhaustive grid; relaxed search
def test_optimize_acqf_passes_over_excluded_configurations(max_grid: int) -> None:
    """The maximiser is excluded: the best other configuration is returned; with every
    configuration excluded, the maximiser after all."""
    enc = sp.UnitCubeEncoder({"c": sp.choice(list("abcd")), "n": sp.integer(0, 4)})
    target = torch.as_tensor(enc.encode({"c": "b", "n": 2}), dtype=D)

    def acq(X: torch.Tensor) -> torch.Tensor:
        return -(X - target).abs().sum(-1)

    x, _ = optimize_acqf(acq, enc, seed=0, max_grid=max_grid)
    assert enc.decode(x.numpy()) == {"c": "b", "n": 2}
    x, v = optimize_acqf(acq, enc, seed=0, max_grid=max_grid, exclude=target[None])
    assert enc.decode(x.numpy()) in ({"c": "b", "n": 1}, {"c": "b", "n": 3})
    assert v == pytest.approx(-0.2)  # one integer step: 1/5 of the unit interval
    every = torch.as_tensor(enc.grid(), dtype=D)
    x, v = optimize_acqf(acq, enc, seed=0, max_grid=max_grid, exclude=every)
    assert enc.decode(x.numpy()) == {"c": "b", "n": 2} and v == 0.0


def test_pending_points_lower_the_acquisition_nearby() -> None:
    X = _data(20, 2)
    gp = fit_gp(X, -(X - 0.5).square().sum(-1))
    acq = build_acquisition(gp, X)
    Xq = _data(512, 2, seed=5)
    x_best = Xq[acq(Xq).argmax()].unsqueeze(0)
    with_pending = build_acquisition(gp, X, X_pending=x_best, seed=0)
    near = x_best + 0.001
    far_value = with_pending(Xq).max()
    assert with_pending(near) < acq(near) - 1.0  # little to gain where a worker already is
    assert with_pending(near) < far_value


def test_fantasies_share_the_kernel_and_reproduce_the_conditioned_gp() -> None:
    X = _data(20, 2)
    gp = fit_gp(X, _f(X))
    Xp = _data(3, 2, seed=4)
    Yp = torch.stack([_f(Xp), _f(Xp) + 1.0], -1)  # two fantasies of the pending outcomes
    both = gp.condition_on(Xp, Yp)
    Xq = _data(9, 2, seed=6)
    mean, var = both.mean_var(Xq)
    for k in range(2):  # each column equals a GP conditioned on that column alone
        one = gp.condition_on(Xp, Yp[:, k:k + 1])
        m1, v1 = one.mean_var(Xq)
        torch.testing.assert_close(mean[:, k:k + 1], m1)
        torch.testing.assert_close(var[:, k:k + 1], v1)
    torch.testing.assert_close(var[:, 0], var[:, 1])  # the variance ignores the values
    assert (var[:, 0] <= gp.mean_var(Xq)[1][:, 0] + 1e-12).all()  # more data, less variance
    with pytest.raises(ValueError, match="condition_on"):
        gp.condition_on(Xp, Yp[:2])


def test_log_ehvi_is_the_exact_expected_hypervolume_improvement() -> None:
    from botorch.acquisition.multi_objective.analytic import ExpectedHypervolumeImprovement
    from botorch.utils.multi_objective.box_decompositions import FastNondominatedPartitioning
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    X = _data(25, 2)
    Y = torch.stack([-(X[:, 0] - 0.2).square() - 0.3 * X[:, 1],
                     -(X[:, 0] - 0.8).square() - 0.3 * (1 - X[:, 1])], -1)
    gp = fit_gp(X, Y)
    front = Y[is_non_dominated(Y)]
    ref = Y.min(0).values - 0.1
    acq = LogEHVI(gp, ref, front)
    Xq = torch.cat([_data(3, 2, seed=8), X[is_non_dominated(Y)][:3] + 0.01])
    ours = acq(Xq).exp()
    # BoTorch's (non-log) analytic EHVI, where it has not underflowed
    botorch_ehvi = ExpectedHypervolumeImprovement(
        gp, ref_point=ref.tolist(),
        partitioning=FastNondominatedPartitioning(ref_point=ref, Y=front))
    with torch.no_grad():
        ref_values = botorch_ehvi(Xq.unsqueeze(-2))
    informative = ref_values > 1e-8
    assert int(informative.sum()) >= 3
    torch.testing.assert_close(ours[informative], ref_values[informative], rtol=1e-6, atol=0)
    # and Monte-Carlo with exact hypervolumes per draw, at the most promising point
    i = int(ref_values.argmax())
    mean, var = gp.mean_var(Xq[i:i + 1])
    z = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0), dtype=D)
    hv = Hypervolume(ref)
    base = hv.compute(front)
    hvi = torch.tensor([hv.compute(torch.cat([front, y[None]])) - base
                        for y in mean[0] + var[0].sqrt() * z])
    assert abs(ours[i] - hvi.mean()) < 4 * hvi.std() / math.sqrt(len(z))
    # far below the front the improvement underflows, its log does not
    values, grad = value_and_grad(acq, torch.tensor([[0.5, 0.5]], dtype=D))
    assert bool(values > -1e4) and torch.isfinite(grad).all() and bool(grad.abs().sum() > 0)


def test_pending_points_steer_several_objectives_away() -> None:
    X = _data(30, 2)
    Y = torch.stack([-(X[:, 0] - 0.2).square(), -(X[:, 0] - 0.8).square() - X[:, 1]], -1)
    gp = fit_gp(X, Y)
    acq = build_acquisition(gp, X)
    Xq = _data(512, 2, seed=5)
    x_best = Xq[acq(Xq).argmax()].unsqueeze(0)
    with_pending = build_acquisition(gp, X, X_pending=x_best)
    assert with_pending(x_best + 1e-3) < acq(x_best + 1e-3) - 1.0


def test_multi_objective_and_constraints() -> None:
    X = _data(30, 2)
    Y = torch.stack([-(X[:, 0] - 0.2).square(), -(X[:, 0] - 0.8).square() - X[:, 1]], -1)
    gp = fit_gp(X, Y)
    assert gp.num_outputs == 2
    assert gp.posterior(X[:4].unsqueeze(0)).mean.shape == (1, 4, 2)
    acq = build_acquisition(gp, X)
    values = acq(X[:5])
    assert values.shape == (5,) and torch.isfinite(values).all()
    # constraint c = x1 - 0.5 <= 0: infeasible region has a much lower acquisition
    cons = fit_gp(X, X[:, 1] - 0.5)
    lpf = log_prob_feasible(cons, torch.tensor([[0.5, 0.1], [0.5, 0.95]], dtype=D))
    assert lpf[0] > math.log(0.9) and lpf[1] < math.log(0.05)
    feasible = X[:, 1] <= 0.5
    c_acq = build_acquisition(gp, X, constraint_model=cons, feasible=feasible)
    assert c_acq(X[:5]).shape == (5,)
    # nothing feasible yet: the probability of feasibility alone
    only = build_acquisition(gp, X, constraint_model=cons, feasible=torch.zeros(30, dtype=bool))
    torch.testing.assert_close(only(X[:5]), log_prob_feasible(cons, X[:5]))


def test_bad_arguments_are_named() -> None:
    X = _data(5, 2)
    with pytest.raises(ValueError, match=r"'auto', 'cuda', 'cpu'; got 'gpu'"):
        fit_gp(X, X.sum(-1), device="gpu")
    with pytest.raises(ValueError, match="max_points"):
        fit_gp(X, X.sum(-1), max_points=0)
    with pytest.raises(ValueError, match="noise"):
        fit_gp(X, X.sum(-1), noise=-1.0)
    with pytest.raises(ValueError, match="finite"):
        fit_gp(X, torch.tensor([1.0, 2.0, math.nan, 0.0, 1.0], dtype=D))
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        fit_gp(X, X.sum(-1)[:3])
    assert resolve_device("auto", n=10) == torch.device("cpu")


def test_single_observation_and_constant_outputs_do_not_break() -> None:
    X = _data(1, 3)
    gp = fit_gp(X, torch.tensor([2.0], dtype=D))
    assert torch.isfinite(gp.mean_var(_data(4, 3))[1]).all()
    X = _data(10, 3)
    gp = fit_gp(X, torch.ones(10, dtype=D))
    mean, var = gp.mean_var(_data(4, 3, seed=9))
    assert torch.isfinite(mean).all() and torch.isfinite(var).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_and_cpu_agree() -> None:
    X = _data(200, 4)
    y = _f(X) + X[:, 3]
    cpu, cuda = fit_gp(X, y, device="cpu"), fit_gp(X, y, device="cuda")
    assert cuda.train_X.is_cuda and isinstance(cuda, GP)
    torch.testing.assert_close(cuda.hyper.lengthscale.cpu(), cpu.hyper.lengthscale, rtol=1e-4,
                               atol=1e-6)
    Xq = _data(64, 4, seed=3)
    torch.testing.assert_close(cuda.mean_var(Xq.cuda())[0].cpu(), cpu.mean_var(Xq)[0],
                               rtol=1e-5, atol=1e-7)
    enc = sp.UnitCubeEncoder({f"x{i}": sp.uniform(0, 1) for i in range(4)})
    xa, _ = optimize_acqf(build_acquisition(cpu, X), enc, seed=0, device="cpu")
    xb, _ = optimize_acqf(build_acquisition(cuda, X), enc, seed=0, device="cuda")
    torch.testing.assert_close(xb.cpu(), xa, rtol=0, atol=1e-3)


def test_output_warping_is_monotone_and_spreads_a_heavy_tail() -> None:
    from hpo.surrogates import warp_outputs

    rng = np.random.default_rng(0)
    good = rng.normal(0.0, 0.01, 40)
    diverged = -np.exp(rng.normal(3.0, 1.0, 10))  # maximised: a long tail of bad runs
    Y = np.stack([np.concatenate([good, diverged]), rng.normal(size=50)], 1)
    W = warp_outputs(Y)
    assert W.shape == (50, 2) and W.dtype == D
    for j in range(2):
        assert (np.argsort(W[:, j].numpy(), kind="stable")
                == np.argsort(Y[:, j], kind="stable")).all()
    z = (Y[:, 0] - Y[:, 0].mean()) / Y[:, 0].std()
    # the good runs get a much larger share of the standardised scale
    assert W[:40, 0].std() > 5 * z[:40].std()
    # near-normal data are left nearly as they were
    z1 = (Y[:, 1] - Y[:, 1].mean()) / Y[:, 1].std()
    assert np.abs(W[:, 1].numpy() - z1).max() < 0.2
    # constant and two-valued columns are only standardised
    torch.testing.assert_close(warp_outputs(np.ones((5, 1))), torch.zeros(5, 1, dtype=D))
    two = warp_outputs(np.array([0.0, 0.0, 1.0, 1.0]))
    torch.testing.assert_close(two, torch.tensor([-1.0, -1.0, 1.0, 1.0], dtype=D))


def test_yeo_johnson_matches_scipy() -> None:
    import scipy.stats

    from hpo.surrogates.warping import _normmax, _yeo_johnson

    rng = np.random.default_rng(1)
    for z in (rng.normal(size=200), rng.lognormal(size=200), -rng.lognormal(size=200),
              np.concatenate([rng.normal(0, 0.01, 40), -np.exp(rng.normal(3, 1, 10))])):
        z = (z - z.mean()) / z.std()
        for lam in (-1.5, 0.0, 0.7, 2.0, 3.5):
            np.testing.assert_allclose(_yeo_johnson(z, np.array([lam]))[0],
                                       scipy.stats.yeojohnson(z, lmbda=lam), rtol=1e-10)
        ours = _normmax(z)
        theirs = float(np.clip(scipy.stats.yeojohnson_normmax(z), -2.0, 4.0))
        llf = scipy.stats.yeojohnson_llf
        assert llf(ours, z) >= llf(theirs, z) - 1e-3 * abs(llf(theirs, z))


def test_one_hot_groups_share_one_lengthscale() -> None:
    """A categorical parameter's one-hot columns get one lengthscale (issue 15): tied in
    the fit, and the dimension-scaled prior counts the group once."""
    enc = sp.UnitCubeEncoder({"x": sp.uniform(0, 1), "op": sp.choice(["a", "b", "c", "d"]),
                              "act": sp.choice(["relu", "tanh"])})
    rng = np.random.default_rng(0)
    configs = [{"x": float(rng.uniform()), "op": "abcd"[rng.integers(4)],
                "act": ["relu", "tanh"][rng.integers(2)]} for _ in range(30)]
    X = torch.as_tensor(enc.encode_many(configs), dtype=torch.float64)
    y = torch.as_tensor([c["x"] + {"a": 0.0, "b": 1.0, "c": 0.3, "d": 0.5}[c["op"]]
                         for c in configs], dtype=torch.float64)
    gp = fit_gp(X, y, categorical_groups=enc.categorical_groups)
    ls = gp.hyper.lengthscale[0]
    for a, b in enc.categorical_groups:
        assert torch.allclose(ls[a:b], ls[a].expand(b - a))
    free = fit_gp(X, y)
    assert not torch.allclose(free.hyper.lengthscale[0, 1:5], free.hyper.lengthscale[0, 1])
    warm = fit_gp(X, y, categorical_groups=enc.categorical_groups, warm_start=gp)
    assert warm.fit_iterations <= gp.fit_iterations


def test_one_hot_lengthscale_prior_is_scaled_by_the_distance_between_choices() -> None:
    """Two choices of a categorical are sqrt(2) apart in the one-hot encoding, a numeric
    column's full range is 1: the group's lengthscale prior (and so the fit's start) is
    sqrt(2) times a numeric one's, so that a priori one changed choice is as far as the
    full range of a numeric parameter."""
    from hpo.surrogates.model import _Objective

    enc = sp.UnitCubeEncoder({"x": sp.uniform(0, 1), "op": sp.choice(["a", "b", "c"]),
                              "flag": sp.choice([True, False])})
    X = torch.as_tensor(enc.encode_many([{"x": 0.5, "op": "a", "flag": True}]),
                        dtype=torch.float64)
    obj = _Objective(X, torch.zeros(1, 1, dtype=torch.float64), 1e-6, None,
                     enc.categorical_groups)
    ls = obj.initial().lengthscale[0]
    assert torch.allclose(ls[1:], ls[0] * math.sqrt(2.0))
    # with the modes as they are, a changed choice correlates as a numeric full-range step
    assert obj.ls_loc[1:].sub(obj.ls_loc[0]).tolist() == pytest.approx([0.5 * math.log(2.0)] * 2)
    plain = _Objective(X, torch.zeros(1, 1, dtype=torch.float64), 1e-6, None)
    assert plain.ls_loc.unique().numel() == 1
