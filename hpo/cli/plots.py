"""Plots of a study for ``hpo plot``: what a researcher reads after a sweep.

* ``history``: the metric of each configuration and the best so far;
* ``curves``: the learning curve of every trial (its intermediate values), completed
  ones in colour, pruned ones in grey ending in a cross, failed ones in red, with a
  three-entry legend; for a scheduler's or PBT's study, one curve per configuration
  or member across its segments (:func:`segments_figure`), and for PBT the members'
  hyperparameter schedules (``schedule``) and, for MO-PBT, the front over time
  (``fronts``);
* ``importances`` and ``slice``: only with enough configurations to mean anything
  (otherwise a note says so); ``pareto`` for two or three objectives; ``lineage`` for
  studies with trial continuation (one row per configuration); for a CARBS study,
  ``cost-front`` (value against cost) and ``scaling`` (each optimal hyperparameter
  against cost, log axes, power law).

A plot that compares configurations (history, importances, slice, pareto) counts each
configuration once, by its value at one common resource
(:func:`hpo._segments.configurations_at`), and its title says which: a configuration
continued from 5k to 15k to 45k steps is one point, not three. Plots over learning
curves (curves, lineage, schedule, fronts) keep every segment. Axes carry the names the
study records (:func:`axis_labels`): the metric (``hpo:metric``, else the sweep file's
metric name) and the resource (``hpo:resource``).

PNG files need matplotlib (the ``plot`` extra); ``--format html`` writes one
self-contained ``report.html`` with the same figures, so it needs nothing more.
"""

from __future__ import annotations

import base64
import html
import io
import math
import warnings
from collections.abc import Callable
from itertools import accumulate
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo import _attrs
from hpo._typing import Number
from hpo.study import recorded_names

__all__ = ["MIN_TRIALS_FOR_IMPORTANCES", "axis_labels", "curves_figure", "fronts_figure",
           "history_figure", "importances_figure", "lineage_figure", "pareto_figure",
           "schedule_figure", "segments_figure", "slice_figure", "write_plots"]

MIN_TRIALS_FOR_IMPORTANCES = 10  # configurations; fewer give noise, not importances


def metric_names(study: optuna.Study) -> list[str]:
    """The metric name(s): what the study records (``hpo:metric``), else the sweep file's
    metric name(s), else ``objective value``."""
    recorded, _ = recorded_names(study)
    recorded = recorded if isinstance(recorded, list) else [recorded] if recorded else []
    if len(recorded) == len(study.directions) and all(
            isinstance(n, str) and n for n in recorded):
        return list(recorded)
    sweep = study._storage.get_study_system_attrs(study._study_id).get(_attrs.SWEEP) or {}
    metric = sweep.get("metric")
    metrics = metric if isinstance(metric, list) else [metric] if metric else []
    names = [m.get("name") for m in metrics if isinstance(m, dict)]
    if len(names) == len(study.directions) and all(names):
        return names
    if len(study.directions) == 1:
        return ["objective value"]
    return [f"objective {i}" for i in range(len(study.directions))]


def axis_labels(study: optuna.Study) -> tuple[str, str]:
    """The names on a plot's axes: the metric (the first objective's) and the resource,
    as the study records them (``hpo:metric``, ``hpo:resource``), else ``"objective
    value"`` and ``"resource"``.

    Example:
        >>> import optuna
        >>> study = optuna.create_study()
        >>> axis_labels(study)
        ('objective value', 'resource')
        >>> study._storage.set_study_system_attr(study._study_id, "hpo:metric",
        ...                                      "mean training return")
        >>> study._storage.set_study_system_attr(study._study_id, "hpo:resource",
        ...                                      "environment steps")
        >>> axis_labels(study)
        ('mean training return', 'environment steps')
    """
    resource = recorded_names(study)[1]
    return metric_names(study)[0], resource if isinstance(resource, str) and resource \
        else "resource"


def _amount(value: Number) -> str:
    """A resource amount as a person writes it: 45000 -> ``45 000``, 2.5 -> ``2.5``."""
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", " ")
    return f"{value:g}"


def _at(study: optuna.Study, resource: Number | None) -> str:
    """``at 45 000 environment steps`` (empty for a study without segments)."""
    if resource is None:
        return ""
    name = axis_labels(study)[1]
    return f" at resource {_amount(resource)}" if name == "resource" \
        else f" at {_amount(resource)} {name}"


def _compared(study: optuna.Study, resource: Number | None, n: int) -> str:
    """What a comparing plot's title says about its points."""
    if resource is None:
        return f", {n} trials"
    return f"{_at(study, resource)}, one point per configuration ({n})"


def _view(study: optuna.Study, trials: list[FrozenTrial]) -> optuna.Study:
    """An in-memory study holding only ``trials``, for Optuna's own plots and importance
    evaluator (so they see one trial per configuration)."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "A new study created in memory"
    try:
        view = optuna.create_study(directions=study.directions, study_name=study.study_name)
    finally:
        optuna.logging.set_verbosity(level)
    view.add_trials(trials)
    return view


def curves_figure(study: optuna.Study) -> Any:
    """Learning curves of all trials with intermediate values (a matplotlib Figure)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    style = {TrialState.COMPLETE: dict(color="tab:blue", lw=1.2, alpha=0.8),
             TrialState.PRUNED: dict(color="tab:gray", lw=0.8, ls="--", alpha=0.7),
             TrialState.FAIL: dict(color="tab:red", lw=0.8, alpha=0.7),
             TrialState.RUNNING: dict(color="tab:green", lw=0.8, alpha=0.7)}
    labels = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned",
              TrialState.FAIL: "failed", TrialState.RUNNING: "running"}
    seen: set[TrialState] = set()
    for t in study.get_trials(deepcopy=False):
        if not t.intermediate_values or t.state not in style:
            continue
        steps = sorted(t.intermediate_values)
        values = [t.intermediate_values[k] for k in steps]
        label = labels[t.state] if t.state not in seen else None
        seen.add(t.state)
        ax.plot(steps, values, label=label, **style[t.state])
        if t.state == TrialState.PRUNED:
            ax.plot(steps[-1:], values[-1:], "x", color="tab:gray")
    metric, resource = axis_labels(study)
    ax.set_xlabel("step" if resource == "resource" else resource)
    ax.set_ylabel(metric)
    ax.set_title(f"{study.study_name}: learning curves")
    ax.legend(loc="best")
    return fig


def _is_segmented(study: optuna.Study) -> bool:
    return any(a.get(_attrs.CONFIG) is not None or a.get(_attrs.MEMBER) is not None
               for t in study.get_trials(deepcopy=False) if (a := t.system_attrs))


def segments_figure(study: optuna.Study) -> Any:
    """Learning curves of every configuration across its segments (a matplotlib Figure).

    A scheduler's configuration is one line over all its segments: those that reached
    the top resource in colour, the others (paused or stopped at a lower rung) in grey,
    running ones dashed; the rungs are dotted vertical lines. A PBT member is one line
    per member; a dot marks each exploit (the member copied another one there).
    """
    import matplotlib.pyplot as plt

    from hpo import _segments

    trials = study.get_trials(deepcopy=False)
    groups = _segments.chains(trials)
    rungs = sorted({s[1] for t in trials if (s := _segments.segment(t)) is not None})
    top = max(rungs, default=None)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    members = any(key.startswith("member") for key in groups)
    colours = plt.get_cmap("tab10")
    labelled: set[str] = set()
    for i, (key, chain) in enumerate(sorted(groups.items(), key=lambda kv: kv[1][0].number)):
        points = sorted((step, v) for t in chain for step, v in t.intermediate_values.items())
        if not points:  # no reports: one point per segment, at its stop
            points = [(s[1], t.values[0]) for t in chain
                      if t.values is not None and (s := _segments.segment(t)) is not None]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        running = any(t.state == TrialState.RUNNING for t in chain)
        reached = max((s[1] for t in chain if t.state == TrialState.COMPLETE
                       and (s := _segments.segment(t)) is not None), default=None)
        if members:
            style = dict(color=colours(i % 10), lw=1.2, label=key)
        elif reached == top:
            label = None if "top" in labelled else f"reached {_amount(top)}"
            labelled.add("top")
            style = dict(color="tab:blue", lw=1.4, label=label)
        else:
            label = None if "paused" in labelled else "paused or stopped lower"
            labelled.add("paused")
            style = dict(color="tab:gray", lw=0.8, alpha=0.6, label=label)
        if running:
            style["ls"] = "--"
        ax.plot(xs, ys, **style)
        if members:
            for t in chain:
                if t.system_attrs.get(_attrs.EXPLOIT) is not None and (s := _segments.segment(t)):
                    near = min(points, key=lambda p: abs(p[0] - s[0]))
                    ax.plot([near[0]], [near[1]], "o", color=style["color"], ms=4)
    if not members:
        for r in rungs:
            ax.axvline(r, color="black", lw=0.5, ls=":", alpha=0.5)
    metric, resource = axis_labels(study)
    ax.set_xlabel(resource)
    ax.set_ylabel(metric)
    what = "members (dots: exploits)" if members else "configurations across their segments"
    ax.set_title(f"{study.study_name}: {what}")
    ax.legend(loc="best", fontsize="small", ncol=2 if members and len(groups) > 6 else 1)
    return fig


def schedule_figure(study: optuna.Study) -> Any:
    """Each PBT member's hyperparameters over the resource (one panel per numeric
    parameter, log scale where the distribution is log), exploits marked."""
    import matplotlib.pyplot as plt

    from hpo import _segments

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    groups = {k: v for k, v in _segments.chains(trials).items() if k.startswith("member")}
    names = [n for n, d in (trials[0].distributions.items() if trials else [])
             if isinstance(d, (FloatDistribution, IntDistribution))]
    fig, axes = plt.subplots(len(names) or 1, 1, figsize=(8, 2.2 * max(1, len(names))),
                             sharex=True, squeeze=False)
    colours = plt.get_cmap("tab10")
    for row, name in enumerate(names):
        ax = axes[row][0]
        for i, (key, chain) in enumerate(sorted(groups.items())):
            xs, ys = [], []
            for t in chain:
                s = _segments.segment(t)
                if s is None or name not in t.params:
                    continue
                xs += [s[0], s[1]]
                ys += [t.params[name]] * 2
                if t.system_attrs.get(_attrs.EXPLOIT) is not None:
                    ax.plot([s[0]], [t.params[name]], "o", color=colours(i % 10), ms=3)
            ax.plot(xs, ys, color=colours(i % 10), lw=1.0, label=key if row == 0 else None)
        if trials[0].distributions[name].log:
            ax.set_yscale("log")
        ax.set_ylabel(name)
    axes[-1][0].set_xlabel(axis_labels(study)[1])
    axes[0][0].set_title(f"{study.study_name}: hyperparameter schedules (dots: exploits)")
    if names:
        axes[0][0].legend(loc="best", fontsize="x-small", ncol=4)
    return fig


def fronts_figure(study: optuna.Study) -> Any:
    """MO-PBT: the members' values on the first two objectives at each resource their
    segments ended at, lighter to darker as training goes on, each resource's
    non-dominated points joined (the front over time)."""
    import matplotlib.pyplot as plt
    import numpy as np
    from optuna.study._multi_objective import _get_pareto_front_trials_by_trials

    from hpo import _segments

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if _attrs.MEMBER in t.system_attrs and _segments.segment(t) is not None]
    stops = sorted({_segments.segment(t)[1] for t in done})  # type: ignore[index]
    fig, ax = plt.subplots(figsize=(7, 5))
    cmap = plt.get_cmap("viridis")
    for i, stop in enumerate(stops):
        at = [t for t in done if _segments.segment(t)[1] == stop]  # type: ignore[index]
        colour = cmap(0.15 + 0.85 * i / max(1, len(stops) - 1))
        values = np.array([t.values[:2] for t in at])
        ax.scatter(values[:, 0], values[:, 1], color=colour, s=14, alpha=0.8,
                   label=_amount(stop) if i in (0, len(stops) - 1) or len(stops) <= 6 else None)
        front = np.array(sorted(t.values[:2] for t in
                                _get_pareto_front_trials_by_trials(at, study.directions)))
        ax.plot(front[:, 0], front[:, 1], color=colour, lw=1.0)
    names = metric_names(study)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title(f"{study.study_name}: members' front by resource")
    ax.legend(title=axis_labels(study)[1], fontsize="small")
    return fig


def history_figure(study: optuna.Study, objective: int = 0) -> Any:
    """The metric of each configuration once, at a common resource
    (:func:`hpo._segments.configurations_at`), against the number of the trial that got
    it there, with the best so far (a matplotlib Figure)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from hpo import _segments

    resource, trials = _segments.configurations_at(study)
    metric = metric_names(study)[objective]
    maximize = study.directions[objective] == StudyDirection.MAXIMIZE
    xs = [t.number for t in trials]
    ys = [t.values[objective] for t in trials]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(xs, ys, "o", ms=4, color="tab:blue", alpha=0.8, label=metric)
    ax.step(xs, list(accumulate(ys, max if maximize else min)), where="post", color="tab:red",
            lw=1.2, label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"{study.study_name}: {metric}{_compared(study, resource, len(trials))}")
    ax.legend(loc="best", fontsize="small")
    return fig


def _numeric_ticks(ax: Any, dist: FloatDistribution | IntDistribution) -> None:
    """Few, plainly written x ticks over the distribution's range, so that labels never
    run into each other (log axes: 1-2-5 steps, or powers of two for integers, evenly
    spaced values within one decade)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    integer = isinstance(dist, IntDistribution)
    if dist.log:
        ax.set_xscale("log")
        pad = (dist.high / dist.low) ** 0.04  # 4% of the range on either side, in log space
        ax.set_xlim(dist.low / pad, dist.high * pad)
        decades = math.log10(dist.high / dist.low)
        if decades < 1:  # within one decade a log locator finds one tick, or none
            locator = MaxNLocator(nbins=4, integer=integer)
        elif integer and dist.high / dist.low <= 2 ** 12:
            locator = LogLocator(base=2, numticks=6)
        else:
            locator = LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 2 else (1.0,),
                                 numticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        pad = 0.05 * (dist.high - dist.low) or 0.5
        ax.set_xlim(dist.low - pad, dist.high + pad)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=integer))


def slice_figure(study: optuna.Study, objective: int = 0,
                 at_least: int = MIN_TRIALS_FOR_IMPORTANCES) -> Any:
    """The metric against each hyperparameter, one point per configuration at a common
    resource (the largest that ``at_least`` configurations reached), one panel per
    parameter with its distribution's scale (a matplotlib Figure)."""
    import matplotlib.pyplot as plt

    from hpo import _segments

    resource, trials = _segments.configurations_at(study, at_least)
    metric = metric_names(study)[objective]
    names = sorted({p for t in trials for p in t.params})
    cols = min(3, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows + 0.6),
                             sharey=True, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        have = [t for t in trials if name in t.params]
        dist = have[-1].distributions[name]
        ys = [t.values[objective] for t in have]
        if isinstance(dist, CategoricalDistribution):
            choices = [str(c) for c in dist.choices]
            choices += sorted({str(t.params[name]) for t in have} - set(choices))
            xs = [choices.index(str(t.params[name])) for t in have]
            ax.set_xticks(range(len(choices)), choices)
            ax.set_xlim(-0.5, len(choices) - 0.5)
            if len(choices) > 3 or max(len(c) for c in choices) > 6:
                ax.tick_params(axis="x", labelrotation=45)
                for label in ax.get_xticklabels():
                    label.set_horizontalalignment("right")
        else:
            xs = [t.params[name] for t in have]
            _numeric_ticks(ax, dist)
        ax.scatter(xs, ys, s=14, color="tab:blue", alpha=0.7)
        ax.tick_params(labelsize="small")
        ax.set_xlabel(name)
    for row in axes:
        row[0].set_ylabel(metric)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"{study.study_name}: {metric}{_compared(study, resource, len(trials))}")
    fig.tight_layout()
    return fig


def importances_figure(study: optuna.Study, at_least: int = MIN_TRIALS_FOR_IMPORTANCES
                       ) -> Any:
    """Optuna's hyperparameter importances (its default evaluator) over one trial per
    configuration at a common resource, not over every segment (a matplotlib Figure)."""
    from optuna.visualization.matplotlib import plot_param_importances

    from hpo import _segments

    resource, trials = _segments.configurations_at(study, at_least)
    metric = metric_names(study)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = plot_param_importances(_view(study, trials), target_name=metric)
    ax.set_title("", loc="left")
    ax.set_title(f"{study.study_name}: importance for {metric}"
                 f"{_compared(study, resource, len(trials))}", fontsize="medium")
    ax.set_xlabel(f"importance for {metric} (Optuna's default evaluator)")
    return ax.figure


def pareto_figure(study: optuna.Study) -> Any:
    """Optuna's Pareto-front plot over one trial per configuration at a common resource."""
    from optuna.visualization.matplotlib import plot_pareto_front

    from hpo import _segments

    resource, trials = _segments.configurations_at(study)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = plot_pareto_front(_view(study, trials), target_names=metric_names(study))
    ax.set_title("", loc="left")
    ax.set_title(f"{study.study_name}: Pareto front{_compared(study, resource, len(trials))}",
                 fontsize="medium")
    return ax.figure


def lineage_figure(study: optuna.Study) -> Any | None:
    """Trial continuation, one row per configuration (or PBT member): each segment a bar
    over its resource range, coloured by its value (the colour bar names the metric); a
    grey line where a segment continued another row's checkpoint (a PBT exploit).
    ``None`` when no trial continues another. Readable at hundreds of segments: rows are
    labelled as densely as their height allows."""
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from hpo import _segments

    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    if not any(t.system_attrs.get(_attrs.PARENT) is not None for t in trials):
        return None
    groups = sorted(_segments.chains(trials).items(), key=lambda kv: kv[1][0].number)
    row_of = {t.number: i for i, (_, chain) in enumerate(groups) for t in chain}
    drawn = [(t, seg) for t in trials
             if t.values is not None and (seg := _segments.segment(t)) is not None]
    metric, resource = axis_labels(study)
    values = [t.values[0] for t, _ in drawn]
    norm = Normalize(min(values, default=0.0), max(values, default=1.0))
    better_bright = study.directions[0] == StudyDirection.MAXIMIZE
    cmap = plt.get_cmap("viridis" if better_bright else "viridis_r")
    n = len(groups)
    height = min(16.0, 1.8 + 0.2 * n)
    fig, ax = plt.subplots(figsize=(9, height))
    by_number = {t.number: t for t in trials}
    copied = False
    for t, (start, stop) in drawn:
        row = row_of[t.number]
        ax.broken_barh([(start, stop - start)], (row - 0.35, 0.7),
                       facecolors=cmap(norm(t.values[0])), edgecolor="white", linewidth=0.5)
        parent = by_number.get(t.system_attrs.get(_attrs.PARENT, -1))
        if parent is not None and row_of[parent.number] != row:
            ax.plot([start, start], [row_of[parent.number], row], color="tab:gray", lw=0.6)
            copied = True
    # a label needs about 10 points of height at fontsize 7: label every k-th row
    room = max(1, int((height - 1.8) * 72 / 10))
    step = max(1, math.ceil(n / room))
    ax.set_yticks(range(0, n, step), [groups[i][0] for i in range(0, n, step)])
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel(resource)
    members = any(key.startswith("member") for key, _ in groups)
    ax.set_ylabel("member" if members else "configuration")
    fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label=metric, pad=0.02)
    ax.set_title(f"{study.study_name}: {len(drawn)} segments of {n} "
                 f"{'members' if members else 'configurations'} (colour: {metric}"
                 f"{'; grey: continued from another row' if copied else ''})",
                 fontsize="medium")
    return fig


def _plots(study: optuna.Study, note: Callable[[str], None]) -> dict[str, Callable[[], Any]]:
    from hpo import _segments

    plots: dict[str, Callable[[], Any]] = {}
    if len(study.directions) == 1:
        plots["history"] = lambda: history_figure(study)
        if _is_segmented(study):  # schedulers, PBT: one curve per configuration / member
            plots["curves"] = lambda: segments_figure(study)
            if any(_attrs.MEMBER in t.system_attrs for t in study.get_trials(deepcopy=False)):
                plots["schedule"] = lambda: schedule_figure(study)
        elif any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
            plots["curves"] = lambda: curves_figure(study)
        if _attrs.CARBS in study._storage.get_study_system_attrs(study._study_id):
            from hpo.cli._carbs_plots import cost_front_figure, scaling_figure

            plots["cost-front"] = lambda: cost_front_figure(study)  # CARBS (docs/carbs.md)
            plots["scaling"] = lambda: scaling_figure(study)
    else:
        for i in range(len(study.directions)):
            plots[f"history-{i}"] = lambda i=i: history_figure(study, i)
        if len(study.directions) in (2, 3):
            plots["pareto"] = lambda: pareto_figure(study)
        if any(_attrs.MEMBER in t.system_attrs for t in study.get_trials(deepcopy=False)):
            plots["fronts"] = lambda: fronts_figure(study)  # MO-PBT: the front over time
            plots["schedule"] = lambda: schedule_figure(study)
    resource, compared = _segments.configurations_at(study, MIN_TRIALS_FOR_IMPORTANCES)
    n_params = len({p for t in compared for p in t.params})
    if n_params >= 2 and len(compared) >= MIN_TRIALS_FOR_IMPORTANCES:
        if len(study.directions) == 1:
            plots["importances"] = lambda: importances_figure(study)
        plots["slice"] = lambda: slice_figure(study)
    elif n_params >= 2:
        counted = (f"{len(compared)} completed trial(s)" if resource is None else
                   f"{len(compared)} configuration(s){_at(study, resource)}, the most at one "
                   "resource")
        note(f"importances and slice: not drawn, {counted}; they need "
             f"{MIN_TRIALS_FOR_IMPORTANCES} to be more than noise")
    if any(t.system_attrs.get(_attrs.PARENT) is not None
           for t in study.get_trials(deepcopy=False) if t.state.is_finished()):
        plots["lineage"] = lambda: lineage_figure(study)
    return plots


def _figure(result: Any) -> Any:
    """The matplotlib Figure of what a plot function returned (Axes, array, Figure)."""
    if hasattr(result, "savefig"):
        return result
    return (result.flat[0] if hasattr(result, "flat") else result).figure


def write_plots(study: optuna.Study, out: Path, fmt: str = "png",
                note: Callable[[str], None] | None = None) -> list[Path]:
    """Write every plot that applies to ``study`` into ``out``; return the paths.

    ``fmt="png"``: one file per plot; ``"html"``: one ``report.html`` with every plot
    embedded. ``note`` receives a line for each plot left out and why.
    """
    if fmt not in ("png", "html"):
        raise ValueError(f"format: {fmt!r} is not one of ('png', 'html')")
    if not study.get_trials(deepcopy=False, states=[TrialState.COMPLETE]):
        raise ValueError(f"study {study.study_name!r} has no completed trial to plot")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("hpo plot needs matplotlib: pip install 'hpo[plot]'") from None
    figures = []
    for name, make in _plots(study, note or (lambda line: None)).items():
        figures.append((name, _figure(make())))
    if fmt == "png":
        for name, fig in figures:
            path = out / f"{name}.png"
            fig.savefig(path, dpi=120, bbox_inches="tight")
            plt.close(fig)
            written.append(path)
        return written
    parts = []
    for name, fig in figures:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        data = base64.b64encode(buf.getvalue()).decode()
        parts.append(f"<h2>{html.escape(name)}</h2>\n"
                     f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">')
    path = out / "report.html"
    title = html.escape(f"study {study.study_name}")
    path.write_text(f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{title}"
                    f"</title></head>\n<body><h1>{title}</h1>\n" + "\n".join(parts)
                    + "\n</body></html>\n")
    return [path]
