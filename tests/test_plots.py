"""`hpo plot` on studies of segments: one point per configuration at a common resource,
the metric's and the resource's names on the axes, tick labels that never overlap, a
lineage that stays readable at hundreds of segments. Real sweeps through the `hpo`
command where cheap; hand-built studies with the attributes the runner writes."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any

import optuna
import pytest
from cli_helpers import run_hpo, sweep_file
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

import hpo
from hpo import _attrs

pytest.importorskip("matplotlib")

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from hpo.cli import plots

METRIC, RESOURCE = "mean training return", "environment steps"


def _name(study: optuna.Study, metric: str = METRIC, resource: str = RESOURCE) -> None:
    """Record the names the objective and runner record (``hpo:metric``, ``hpo:resource``)."""
    study._storage.set_study_system_attr(study._study_id, _attrs.METRIC, metric)
    study._storage.set_study_system_attr(study._study_id, _attrs.RESOURCE, resource)


def _figures(study: optuna.Study, notes: list[str] | None = None) -> dict[str, Any]:
    """Every figure `hpo plot` draws for the study, by name (what write_plots saves)."""
    return {name: plots._figure(make())
            for name, make in plots._plots(study, (notes if notes is not None else []).append
                                           ).items()}


def _overlapping(fig: Any) -> list[tuple[str, str]]:
    """Pairs of drawn tick labels (major and minor, on every axis) whose boxes intersect."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            slack = 1e-9 * max(abs(lo), abs(hi), 1.0)
            boxes = [(tick.label1.get_text(), tick.label1.get_window_extent(renderer))
                     for tick in axis.get_major_ticks() + axis.get_minor_ticks()
                     if tick.label1.get_visible() and tick.label1.get_text()
                     and lo - slack <= tick.get_loc() <= hi + slack]
            bad += [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
                    if box_a.overlaps(box_b)]
    return bad


def _configs_by_stop(study: optuna.Study) -> dict[float, dict[int, int]]:
    """stop -> {configuration id: trial number} of the COMPLETE segments (the test's own
    reading of the study, from the attributes the scheduler wrote)."""
    out: dict[float, dict[int, int]] = defaultdict(dict)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        out[t.system_attrs[_attrs.STOP]][t.system_attrs[_attrs.CONFIG]] = t.number
    return out


@pytest.fixture(scope="module")
def asha(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A real ASHA sweep (40 segments, isolation none) run by `hpo sweep`:
    (directory, sweep file, storage URL)."""
    tmp = tmp_path_factory.mktemp("asha")
    path = sweep_file(tmp, """\
        name: asha-plots
        objective: plot_objectives:ppo_like
        sampler: {name: asha, min_resource: 1, max_resource: 9, seed: 0}
        budget: {trials: 40}
        isolation: none
        """)
    out = run_hpo("sweep", str(path), "--no-progress", cwd=tmp, HPO_HOME=str(tmp / "home"))
    assert out.returncode == 0, out.stderr
    url = f"sqlite:///{tmp}/sweeps/asha-plots/study.db"
    _name(hpo.load_study(study_name="asha-plots", storage=url))
    return tmp, path, url


def test_comparing_plots_count_each_configuration_once_at_a_common_resource(
        asha: tuple[Path, Path, str]) -> None:
    tmp, path, url = asha
    study = hpo.load_study(study_name="asha-plots", storage=url)
    by_stop = _configs_by_stop(study)
    segments = len(study.get_trials(states=(TrialState.COMPLETE,)))
    top2 = max(s for s, c in by_stop.items() if len(c) >= 2)  # as `hpo best` compares
    top10 = max(s for s, c in by_stop.items() if len(c) >= plots.MIN_TRIALS_FOR_IMPORTANCES)
    assert top2 > top10 and segments > len(by_stop[top10])  # continued configurations exist
    notes: list[str] = []
    figs = _figures(study, notes)
    assert {"history", "curves", "importances", "slice", "lineage"} <= set(figs)
    assert notes == []

    # history: each configuration once, its value at the largest resource two reached
    ax = figs["history"].axes[0]
    assert sorted(ax.lines[0].get_xdata()) == sorted(by_stop[top2].values())
    assert f"at {top2:g} {RESOURCE}, one point per configuration ({len(by_stop[top2])})" \
        in ax.get_title()

    # slice: every panel has one point per configuration at the resource ten reached
    n = len(by_stop[top10])
    panels = [a for a in figs["slice"].axes if a.get_visible()]
    assert len(panels) == 5
    assert all(sum(len(c.get_offsets()) for c in a.collections) == n for a in panels)
    assert f"at {top10:g} {RESOURCE}, one point per configuration ({n})" \
        in figs["slice"]._suptitle.get_text()

    # importances: the same evaluator over those configurations, not over every segment
    view = optuna.create_study(direction="maximize")
    view.add_trials([study.trials[number] for number in by_stop[top10].values()])
    expected = optuna.importance.get_param_importances(view)
    ax = figs["importances"].axes[0]
    drawn = sorted(p.get_width() for p in ax.patches)
    assert drawn == pytest.approx(sorted(expected.values()), abs=1e-9)
    assert f"at {top10:g} {RESOURCE}" in ax.get_title()
    for fig in figs.values():
        plt.close(fig)

    # the command writes them all
    out = run_hpo("plot", str(path), "--out", str(tmp / "plots"), cwd=tmp,
                  HPO_HOME=str(tmp / "home"))
    assert out.returncode == 0, out.stderr
    assert {p.name for p in (tmp / "plots").iterdir()} == {
        "history.png", "curves.png", "importances.png", "slice.png", "lineage.png"}


def test_every_axis_names_the_metric_and_the_resource(asha: tuple[Path, Path, str]) -> None:
    study = hpo.load_study(study_name="asha-plots", storage=asha[2])
    figs = _figures(study)
    for name, fig in figs.items():
        for ax in fig.axes:
            for label in (ax.get_xlabel(), ax.get_ylabel()):
                assert label.lower() not in ("objective value", "resource", "step"), (name, label)
    assert figs["history"].axes[0].get_ylabel() == METRIC
    assert (figs["curves"].axes[0].get_xlabel(), figs["curves"].axes[0].get_ylabel()) == \
        (RESOURCE, METRIC)
    assert {a.get_ylabel() for a in figs["slice"].axes if a.get_visible()} >= {METRIC}
    assert METRIC in figs["importances"].axes[0].get_xlabel()
    lineage, colourbar = figs["lineage"].axes
    assert lineage.get_xlabel() == RESOURCE and colourbar.get_ylabel() == METRIC
    for fig in figs.values():
        plt.close(fig)


def test_tick_labels_never_overlap(asha: tuple[Path, Path, str]) -> None:
    study = hpo.load_study(study_name="asha-plots", storage=asha[2])
    figs = _figures(study)
    # log-scaled integers (batch_size 16..512, n_steps 16..1024), lr over four decades,
    # six named choices: each panel's labels side by side without touching
    for name, fig in figs.items():
        assert _overlapping(fig) == [], name
        plt.close(fig)


def _lineage_study(n_configs: int) -> tuple[optuna.Study, int]:
    """An ASHA-like study by hand: ``n_configs`` configurations at 5 000 steps, three in
    eight continued to 15 000 and one in eight to 45 000 (each segment its own trial with
    the attributes a scheduler writes); (study, number of segments)."""
    study = optuna.create_study(direction="maximize")
    _name(study)
    dists = {"lr": FloatDistribution(1e-5, 1e-1, log=True),
             "batch_size": IntDistribution(16, 512, log=True)}
    latest: dict[int, int] = {}  # configuration id -> number of its latest segment
    for start, stop, chosen in ((0, 5000, range(n_configs)),
                                (5000, 15000, [c for c in range(n_configs) if c % 8 < 3]),
                                (15000, 45000, [c for c in range(n_configs) if c % 8 == 0])):
        for c in chosen:
            attrs: dict[str, Any] = {_attrs.START: start, _attrs.STOP: stop}
            if start:
                attrs |= {_attrs.PARENT: latest[c], _attrs.CONFIG: c}
            else:
                attrs[_attrs.CONFIG] = c
            latest[c] = len(study.trials)
            params = {"lr": 10 ** (-5 + 4 * c / n_configs), "batch_size": 2 ** (4 + c % 6)}
            study.add_trial(create_trial(params=params, distributions=dists,
                                         value=c % 7 + stop / 10000, system_attrs=attrs))
    return study, len(study.trials)


@pytest.mark.parametrize("n_configs", [40, 200])
def test_lineage_has_one_labelled_row_per_configuration(n_configs: int) -> None:
    study, n_segments = _lineage_study(n_configs)
    assert n_segments == {40: 60, 200: 300}[n_configs]
    assert len(study.trials) == n_segments
    fig = _figures(study)["lineage"]
    ax, colourbar = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    if n_configs == 40:  # every configuration its own labelled row
        firsts = sorted({t.system_attrs[_attrs.CONFIG] for t in study.trials})
        assert labels == [f"config {n}" for n in firsts]
    else:  # as many as fit, evenly
        assert 30 <= len(labels) < n_configs and labels[0] == "config 0"
    assert ax.get_ylabel() == "configuration" and colourbar.get_ylabel() == METRIC
    assert f"{n_segments} segments of {n_configs} configurations" in ax.get_title()
    assert fig.get_size_inches()[1] <= 16
    assert _overlapping(fig) == []
    plt.close(fig)


def test_pbt_plots_compare_members_once(tmp_path: Path) -> None:
    from pbt_objectives import toy

    from hpo.samplers import PBT

    study = hpo.create_study(direction="maximize", storage="sqlite:///:memory:",
                             sampler=PBT(4, 8, 40, seed=0), artifact_dir=str(tmp_path))
    study.optimize(toy, n_trials=1000)
    notes: list[str] = []
    figs = _figures(study, notes)
    at_top = sorted(t.number for t in study.trials if t.system_attrs.get(_attrs.STOP) == 40)
    assert len(at_top) == 4 and len(study.trials) == 20
    ax = figs["history"].axes[0]
    assert sorted(ax.lines[0].get_xdata()) == at_top
    assert "at resource 40, one point per configuration (4)" in ax.get_title()
    assert notes == ["importances and slice: not drawn, 4 configuration(s) at resource 40, "
                     "the most at one resource; they need 10 to be more than noise"]
    assert (figs["curves"].axes[0].get_xlabel(), figs["lineage"].axes[0].get_xlabel()) \
        == ("resource", "resource")  # the fallback names: the study records none
    assert figs["lineage"].axes[0].get_ylabel() == "member"
    for fig in figs.values():
        plt.close(fig)


def test_a_study_without_segments_is_drawn_trial_by_trial() -> None:
    study = optuna.create_study()
    study.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2
                   + t.suggest_int("n", 1, 4), n_trials=12)
    figs = _figures(study)
    assert set(figs) == {"history", "importances", "slice"}
    ax = figs["history"].axes[0]
    assert list(ax.lines[0].get_xdata()) == list(range(12))
    assert ax.get_ylabel() == "objective value" and ax.get_title().endswith(", 12 trials")
    for fig in figs.values():
        plt.close(fig)


@pytest.mark.parametrize("dist", [
    FloatDistribution(1e-6, 1.0, log=True), FloatDistribution(1e-3, 2e-2, log=True),
    FloatDistribution(0.9, 0.9999, log=True), FloatDistribution(0.0, 1e6),
    FloatDistribution(0.9, 0.9999), IntDistribution(1, 4, log=True),
    IntDistribution(2, 8192, log=True), IntDistribution(1, 100_000, log=True),
    IntDistribution(1, 3), IntDistribution(0, 1_000_000), IntDistribution(32, 48, log=True)],
    ids=repr)
def test_slice_tick_labels_never_overlap_over_common_ranges(dist: Any) -> None:
    import random

    rng = random.Random(0)
    study = optuna.create_study()
    dists = {"x": dist, "other": FloatDistribution(0, 1)}
    for _ in range(12):
        x = (dist.low * (dist.high / dist.low) ** rng.random() if dist.log
             else dist.low + (dist.high - dist.low) * rng.random())
        params = {"x": round(x) if isinstance(dist, IntDistribution) else x,
                  "other": rng.random()}
        study.add_trial(create_trial(params=params, distributions=dists, value=rng.random()))
    fig = plots.slice_figure(study)
    assert _overlapping(fig) == []
    shown = [t for t in fig.axes[1].get_xticklabels() if t.get_text()]  # "x" after "other"
    assert len(shown) >= 1
    plt.close(fig)


def test_configurations_at_picks_the_largest_resource_enough_configurations_reached() -> None:
    from hpo import _segments

    study, _ = _lineage_study(40)  # 40 at 5 000, 15 at 15 000, 5 at 45 000
    for at_least, resource, n in ((1, 45000, 5), (2, 45000, 5), (6, 15000, 15),
                                  (16, 5000, 40), (41, 5000, 40)):  # 41: the most reached
        got, trials = _segments.configurations_at(study, at_least)
        assert (got, len(trials)) == (resource, n)
        assert len({t.system_attrs[_attrs.CONFIG] for t in trials}) == n  # each once
        assert all(t.system_attrs[_attrs.STOP] == resource for t in trials)
    with pytest.raises(ValueError, match="at_least: must be an int >= 1, got 0"):
        _segments.configurations_at(study, 0)
