"""Plots of a study for ``hpo plot``: what a researcher reads after a sweep.

* ``history``: the metric (named on the axis) of every trial and the best so far;
* ``curves``: the learning curve of every trial (its intermediate values), completed
  ones in colour, pruned ones in grey ending in a cross, failed ones in red, with a
  three-entry legend; for a scheduler's or PBT's study, one curve per configuration
  or member across its segments (:func:`segments_figure`), and for PBT the members'
  hyperparameter schedules (``schedule``) and, for MO-PBT, the front over time
  (``fronts``);
* ``importances`` and ``slice``: only with enough completed trials to mean anything
  (otherwise a note says so); ``pareto`` for two or three objectives; ``lineage`` for
  studies with trial continuation; for a CARBS study, ``cost-front`` (value against
  cost) and ``scaling`` (each optimal hyperparameter against cost, log axes, power law).

PNG files need matplotlib (the ``plot`` extra); ``--format html`` writes one
self-contained ``report.html`` with the same figures, so it needs nothing more.
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hpo import _attrs

__all__ = ["MIN_TRIALS_FOR_IMPORTANCES", "curves_figure", "fronts_figure", "schedule_figure",
           "segments_figure", "write_plots"]

MIN_TRIALS_FOR_IMPORTANCES = 10  # completed trials; fewer give noise, not importances


def metric_names(study: optuna.Study) -> list[str]:
    """The metric name(s) of the sweep file that made the study, else ``objective``."""
    sweep = study._storage.get_study_system_attrs(study._study_id).get(_attrs.SWEEP) or {}
    metric = sweep.get("metric")
    metrics = metric if isinstance(metric, list) else [metric] if metric else []
    names = [m.get("name") for m in metrics if isinstance(m, dict)]
    if len(names) == len(study.directions) and all(names):
        return names
    if len(study.directions) == 1:
        return ["objective value"]
    return [f"objective {i}" for i in range(len(study.directions))]


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
    ax.set_xlabel("step")
    ax.set_ylabel(metric_names(study)[0])
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
            label = None if "top" in labelled else f"reached {top}"
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
    ax.set_xlabel("resource")
    ax.set_ylabel(metric_names(study)[0])
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
    axes[-1][0].set_xlabel("resource")
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
                   label=f"{stop:g}" if i in (0, len(stops) - 1) or len(stops) <= 6 else None)
        front = np.array(sorted(t.values[:2] for t in
                                _get_pareto_front_trials_by_trials(at, study.directions)))
        ax.plot(front[:, 0], front[:, 1], color=colour, lw=1.0)
    names = metric_names(study)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title(f"{study.study_name}: members' front by resource")
    ax.legend(title="resource", fontsize="small")
    return fig

def _plots(study: optuna.Study, backend: Any, note: Callable[[str], None]
           ) -> dict[str, Callable[[], Any]]:
    plots: dict[str, Callable[[], Any]] = {}
    complete = study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])
    names = metric_names(study)
    if len(study.directions) == 1:
        plots["history"] = lambda: backend.plot_optimization_history(
            study, target_name=names[0])
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
            plots[f"history-{i}"] = (lambda i=i: backend.plot_optimization_history(
                study, target=lambda t: t.values[i], target_name=names[i]))
        if len(study.directions) in (2, 3):
            plots["pareto"] = lambda: backend.plot_pareto_front(study, target_names=names)
        if any(_attrs.MEMBER in t.system_attrs for t in study.get_trials(deepcopy=False)):
            plots["fronts"] = lambda: fronts_figure(study)  # MO-PBT: the front over time
            plots["schedule"] = lambda: schedule_figure(study)
    n_params = len({p for t in complete for p in t.params})
    if n_params >= 2 and len(complete) >= MIN_TRIALS_FOR_IMPORTANCES:
        if len(study.directions) == 1:
            plots["importances"] = lambda: backend.plot_param_importances(
                study, target_name=names[0])
        plots["slice"] = (lambda: backend.plot_slice(study, target_name=names[0])
                          if len(study.directions) == 1
                          else backend.plot_slice(study, target=lambda t: t.values[0],
                                                  target_name=names[0]))
    elif n_params >= 2:
        note(f"importances and slice: not drawn, {len(complete)} completed trial(s); they "
             f"need {MIN_TRIALS_FOR_IMPORTANCES} to be more than noise")
    return plots


def _lineage_png(study: optuna.Study, path: Path) -> bool:
    """Each continued trial as a segment over its resource range, joined to its parent."""
    import matplotlib.pyplot as plt

    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    if not any(t.system_attrs.get(_attrs.PARENT) is not None for t in trials):
        return False
    by_number = {t.number: t for t in trials}
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for t in trials:
        a = t.system_attrs
        if _attrs.STOP not in a or t.values is None:
            continue
        start, stop = a.get(_attrs.START, 0), a[_attrs.STOP]
        ax.plot([start, stop], [t.values[0]] * 2, lw=1.5, color="tab:blue")
        parent = by_number.get(a.get(_attrs.PARENT, -1))
        if parent is not None and parent.values is not None:
            ax.plot([start, start], [parent.values[0], t.values[0]], lw=0.8, ls=":",
                    color="tab:gray")
    ax.set_xlabel("resource")
    ax.set_ylabel("objective value")
    ax.set_title(f"{study.study_name}: trial continuation (dotted: parent -> child)")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return True


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
        from optuna.visualization import matplotlib as backend
    except ImportError:
        raise ImportError("hpo plot needs matplotlib: pip install 'hpo[plot]'") from None
    figures = []
    for name, make in _plots(study, backend, note or (lambda line: None)).items():
        figures.append((name, _figure(make())))
    if _lineage_png(study, out / "lineage.png"):
        if fmt == "png":
            written.append(out / "lineage.png")
        else:
            figures.append(("lineage", None))
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
        if fig is None:
            buf.write((out / "lineage.png").read_bytes())
        else:
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
