"""Plots of a study for ``hpo plot``: what a researcher reads after a sweep.

* ``history``: the metric (named on the axis) of every trial and the best so far;
* ``curves``: the learning curve of every trial (its intermediate values), completed
  ones in colour, pruned ones in grey ending in a cross, failed ones in red, with a
  three-entry legend;
* ``importances`` and ``slice``: only with enough completed trials to mean anything
  (otherwise a note says so); ``pareto`` for two or three objectives; ``lineage`` for
  studies with trial continuation.

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
from optuna.trial import TrialState

from hpo import _attrs

__all__ = ["MIN_TRIALS_FOR_IMPORTANCES", "curves_figure", "write_plots"]

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


def _plots(study: optuna.Study, backend: Any, note: Callable[[str], None]
           ) -> dict[str, Callable[[], Any]]:
    plots: dict[str, Callable[[], Any]] = {}
    complete = study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])
    names = metric_names(study)
    if len(study.directions) == 1:
        plots["history"] = lambda: backend.plot_optimization_history(
            study, target_name=names[0])
        if any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
            plots["curves"] = lambda: curves_figure(study)
    else:
        for i in range(len(study.directions)):
            plots[f"history-{i}"] = (lambda i=i: backend.plot_optimization_history(
                study, target=lambda t: t.values[i], target_name=names[i]))
        if len(study.directions) in (2, 3):
            plots["pareto"] = lambda: backend.plot_pareto_front(study, target_names=names)
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
    if not any(_attrs.PARENT in t.system_attrs for t in trials):
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
