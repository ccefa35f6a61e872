"""The learning-curve ground of benchmarks/ (tables, synthetic problems, simulated backend)."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

import hpo
from benchmarks import lcground as lc

optuna.logging.set_verbosity(optuna.logging.WARNING)

TABLE = "mlp-breast"  # the smallest stored MLP table (252 rows x 3 seeds x 32 epochs)


@pytest.fixture(scope="module")
def table() -> lc.Table:
    return lc.load_table(TABLE)


@pytest.fixture(scope="module")
def problem(table: lc.Table) -> lc.TableProblem:
    return lc.TableProblem(table, max_resource=27)


def _random(problem: lc.Problem, seed: int = 0, pruner=None, **kw) -> lc.OptunaPolicy:
    return lc.OptunaPolicy(problem, optuna.samplers.RandomSampler(seed=seed), pruner, **kw)


def test_table_shapes_and_space(table: lc.Table) -> None:
    assert table.values.shape == table.cost.shape == (252, 3, 32)
    assert np.all((table.values >= 0) & (table.values <= 1))  # validation error
    assert np.all(table.cost > 0)  # measured seconds per epoch
    assert set(table.distributions) == {"learning_rate_init", "alpha", "hidden", "batch_size",
                                        "solver"}
    rows = {table.lookup(table.params(r)) for r in range(table.n_rows)}
    assert rows == set(range(table.n_rows))  # every stored configuration maps to itself


def test_lookup_snaps_to_the_nearest_grid_value(table: lc.Table) -> None:
    row = 100
    p = table.params(row)
    near = {**p, "learning_rate_init": p["learning_rate_init"] * 1.3,
            "hidden": p["hidden"] + 1}
    assert table.lookup(near) == row
    other = {**p, "solver": "adam" if p["solver"] == "sgd" else "sgd"}
    assert table.params(table.lookup(other))["solver"] == other["solver"]
    # any Optuna sampler's suggestion lands on a row with the nearest (log-scale) values
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    grid = np.array(table.meta["grid"]["learning_rate_init"])
    for _ in range(20):
        t = study.ask(table.distributions)
        got = table.params(table.lookup(t.params))
        assert got["learning_rate_init"] == grid[np.argmin(abs(np.log(grid) - np.log(
            t.params["learning_rate_init"])))]
        assert got["solver"] == t.params["solver"]
        study.tell(t, 0.0)


def test_problem_optimum_and_curves(table: lc.Table, problem: lc.TableProblem) -> None:
    best = int(np.argmin(table.values[:, :, 26].mean(1)))
    assert problem.optimum == pytest.approx(table.values[best, :, 26].mean())
    c = problem.curve(table.params(best))
    assert c.value(27) == pytest.approx(problem.optimum)
    assert c.cost(9, 27) == pytest.approx(table.cost[best, :, 9:27].mean(0).sum())
    one = lc.TableProblem(table, max_resource=27, seed=1)
    assert one.curve(table.params(best)).value(27) == pytest.approx(table.values[best, 1, 26])
    assert one.final_value(table.params(best)) == pytest.approx(problem.optimum)


def test_synthetic_full_fidelity_is_the_plain_function() -> None:
    h = lc.get_problem("mf-hartmann6")
    x = dict(zip(h.space, (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573),
                 strict=True))
    c = h.curve(x)
    assert c.value(h.max_resource) == pytest.approx(-3.32237, abs=1e-4)
    assert c.value(1) != pytest.approx(c.value(h.max_resource))  # fidelity matters
    b = lc.get_problem("mf-branin")
    cb = b.curve({"x0": np.pi, "x1": 2.275})
    assert cb.value(27) == pytest.approx(0.397887, abs=1e-5)
    assert cb.costs.shape == (27,) and np.all(cb.costs > 0)


def test_two_workers_run_concurrently(problem: lc.TableProblem) -> None:
    one = lc.simulate(problem, _random(problem), n_workers=1, max_jobs=2)
    sim = lc.Simulator(problem, _random(problem), n_workers=2)
    two = sim.run(max_jobs=2)
    a, b = two.jobs
    assert a["t_start"] == b["t_start"] == 0.0  # both started at once
    assert min(a["t_end"], b["t_end"]) > max(a["t_start"], b["t_start"])  # and overlapped
    assert two.sim_time == pytest.approx(max(a["t_end"], b["t_end"]))
    assert one.sim_time == pytest.approx(sum(j["t_end"] - j["t_start"] for j in one.jobs))
    assert two.sim_time < one.sim_time
    assert one.consumed == 2 * 27
    # a third job started when the first ended; its units so far count as consumed
    (_, _, third), = sim.heap
    assert third.t_start == min(a["t_end"], b["t_end"])
    assert two.consumed == 2 * 27 + third.epoch > 2 * 27
    # events come in simulated-time order: the history's clock never goes back
    r = lc.simulate(problem, _random(problem), n_workers=4, max_jobs=30)
    times = [h["time"] for h in r.history]
    assert times == sorted(times) and {j["worker"] for j in r.jobs} == {0, 1, 2, 3}


def test_plain_sampler_trains_full_budget_and_incumbent(problem: lc.TableProblem) -> None:
    pol = _random(problem, report=False)
    r = lc.simulate(problem, pol, n_workers=4, max_consumed=10 * 27)
    done = [j for j in r.jobs if j["reached"] == 27]
    assert len(done) >= 7 and all(j["begin"] == 0 and not j["pruned"] for j in r.jobs)
    trials = pol.study.get_trials(states=[TrialState.COMPLETE])
    assert all(t.system_attrs["hpo:checkpoint_step"] == 27 for t in trials)
    best = min(problem.final_value(t.params) for t in trials)
    assert r.history[-1]["incumbent"] == pytest.approx(best)
    assert r.regret_at(r.consumed) == pytest.approx(best - problem.optimum)
    assert r.regret_at(0) == float("inf")


def test_continuation_costs_only_the_new_segment(table: lc.Table,
                                                 problem: lc.TableProblem) -> None:
    params = table.params(7)
    curve = problem.curve(params)

    def fresh_segment(pol: lc.OptunaPolicy, start: int, stop: int) -> None:
        pol.study.enqueue_trial(params)
        t = pol.study.get_trials(states=[TrialState.WAITING])[-1]
        hpo.set_budget(pol.study, t, start=start, stop=stop)

    pol = _random(problem)
    sim = lc.Simulator(problem, pol, n_workers=1)
    fresh_segment(pol, 0, 9)
    sim.run(max_jobs=1)
    assert sim.result.consumed == 9
    child = hpo.extend(pol.study, 0, stop=27)  # continue trial 0 from its sim checkpoint
    r = sim.run(max_jobs=2)
    assert r.consumed == 27  # 9 + 18, not 9 + 27
    assert r.jobs[1]["begin"] == 9 and r.jobs[1]["start"] == 9
    assert r.sim_time == pytest.approx(curve.cost(0, 27))
    frozen = pol.study.trials[child]
    assert frozen.value == pytest.approx(curve.value(27))
    assert frozen.system_attrs["hpo:checkpoint_step"] == 27
    assert r.history[-1]["incumbent"] == pytest.approx(problem.final_value(params))

    # a parent whose checkpoint stops short of the segment's start: the gap is trained too
    pol3 = _random(problem)
    sim3 = lc.Simulator(problem, pol3, n_workers=1)
    fresh_segment(pol3, 0, 3)
    sim3.run(max_jobs=1)
    fresh_segment(pol3, 9, 27)
    t = pol3.study.get_trials(states=[TrialState.WAITING])[-1]
    hpo.set_budget(pol3.study, t, start=9, stop=27, parent=0)
    r3 = sim3.run(max_jobs=2)
    assert r3.jobs[1]["begin"] == 3 and r3.consumed == 3 + 24

    # the same segment without a parent to continue retrains from zero
    pol2 = _random(problem)
    sim2 = lc.Simulator(problem, pol2, n_workers=1)
    fresh_segment(pol2, 0, 9)
    sim2.run(max_jobs=1)
    fresh_segment(pol2, 9, 27)
    r2 = sim2.run(max_jobs=2)
    assert r2.consumed == 9 + 27 and r2.jobs[1]["begin"] == 0
    assert r2.sim_time == pytest.approx(curve.cost(0, 9) + curve.cost(0, 27))


def test_pruner_interplay_and_accounting(problem: lc.TableProblem) -> None:
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    pol = _random(problem, pruner=pruner)
    sim = lc.Simulator(problem, pol, n_workers=4)
    r = sim.run(max_jobs=80)
    pruned = [j for j in r.jobs if j["pruned"]]
    assert len(pruned) > 40  # most configurations stop early
    assert {j["reached"] for j in pruned} <= {1, 3, 9}  # at the rungs
    running = sum(job.epoch - job.begin for _, _, job in sim.heap)
    assert r.consumed == sum(j["reached"] - j["begin"] for j in r.jobs) + running
    states = [t.state for t in pol.study.trials]
    assert states.count(TrialState.PRUNED) == len(pruned)
    for t in pol.study.get_trials(states=[TrialState.PRUNED]):
        assert t.system_attrs["hpo:checkpoint_step"] == max(t.intermediate_values)


def test_budget_stop_and_determinism(problem: lc.TableProblem) -> None:
    def run() -> lc.SimResult:
        pol = lc.OptunaPolicy(problem, optuna.samplers.TPESampler(seed=3),
                              optuna.pruners.HyperbandPruner(1, 27, 3))
        return lc.simulate(problem, pol, n_workers=4, max_consumed=300, keep_jobs=False)

    a, b = run(), run()
    assert a.consumed == 300 and a.stop_reason == "budget"
    assert a.history == b.history


def test_segment_beyond_the_table_is_an_error(table: lc.Table) -> None:
    p = lc.TableProblem(table, max_resource=27)
    pol = _random(p)
    pol.study.enqueue_trial(table.params(0))
    hpo.set_budget(pol.study, pol.study.get_trials(states=[TrialState.WAITING])[0],
                   start=0, stop=40)
    with pytest.raises(ValueError, match="beyond the 32 units"):
        lc.simulate(p, pol, max_jobs=1)
    with pytest.raises(ValueError, match="max_resource"):
        lc.TableProblem(table, max_resource=33)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # dehb on ConfigSpace 1.x
@pytest.mark.parametrize("peer", ["syne-tune", "syne-bohb", "dehb", "smac"])
def test_peers_run_on_the_simulator(peer: str, problem: lc.TableProblem) -> None:
    from benchmarks.lcground import peers

    why = peers.available()["syne-tune" if peer.startswith("syne") else peer]
    if why:
        pytest.skip(f"{peer} not installed: {why}")
    pol = {"syne-tune": lambda: peers.SyneTuneASHA(problem, seed=0),
           "syne-bohb": lambda: peers.SyneTuneASHA(problem, seed=0, baseline="BOHB"),
           "dehb": lambda: peers.DEHBPolicy(problem, seed=0),
           "smac": lambda: peers.SMACPolicy(problem, seed=0)}[peer]()
    r = lc.simulate(problem, pol, n_workers=4, max_consumed=5 * 27)
    assert r.consumed == 5 * 27 and len(r.jobs) > 5
    assert any(j["reached"] < 27 for j in r.jobs)  # early stops / low fidelities


def test_hpo_scheduler_promotions_continue_in_the_simulator(problem: lc.TableProblem) -> None:
    samplers = pytest.importorskip("hpo.samplers")
    if not hasattr(samplers, "ASHA"):
        pytest.skip("hpo.samplers.ASHA does not exist yet")
    pol = lc.OptunaPolicy(problem, samplers.ASHA(min_resource=1, max_resource=27,
                                                 reduction_factor=3, seed=0))
    sim = lc.Simulator(problem, pol, n_workers=4)
    r = sim.run(max_jobs=150)
    promoted = [j for j in r.jobs if j["start"] > 0]
    assert promoted and all(j["begin"] == j["start"] for j in promoted)  # continued
    running = sum(job.epoch - job.begin for _, _, job in sim.heap)
    assert r.consumed == sum(j["reached"] - j["begin"] for j in r.jobs) + running
    # every promotion trains the same configuration as its parent: the same table row
    trials = pol.study.trials
    for t in trials:
        parent = t.system_attrs.get("hpo:parent")
        if parent is not None and t.params:
            assert problem.row(t.params) == problem.row(trials[parent].params)
