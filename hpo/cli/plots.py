"""Plots of a study for ``hpo plot``: Optuna's own plots plus the continuation lineage."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hpo import _attrs

__all__ = ["write_plots"]


def _plots(study: optuna.Study, backend: Any) -> dict[str, Callable[[], Any]]:
    plots: dict[str, Callable[[], Any]] = {}
    complete = study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])
    if len(study.directions) == 1:
        plots["history"] = lambda: backend.plot_optimization_history(study)
        if any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
            plots["intermediate"] = lambda: backend.plot_intermediate_values(study)
    else:
        for i in range(len(study.directions)):
            plots[f"history-{i}"] = (lambda i=i: backend.plot_optimization_history(
                study, target=lambda t: t.values[i], target_name=f"objective {i}"))
        if len(study.directions) in (2, 3):
            plots["pareto"] = lambda: backend.plot_pareto_front(study)
    n_params = len({p for t in complete for p in t.params})
    if len(complete) >= 3 and n_params >= 2:
        if len(study.directions) == 1:
            plots["importances"] = lambda: backend.plot_param_importances(study)
        plots["slice"] = (lambda: backend.plot_slice(study) if len(study.directions) == 1
                          else backend.plot_slice(study, target=lambda t: t.values[0]))
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


def write_plots(study: optuna.Study, out: Path, fmt: str = "png") -> list[Path]:
    """Write every plot that applies to ``study`` into ``out``; return the paths."""
    if fmt not in ("png", "html"):
        raise ValueError(f"format: {fmt!r} is not one of ('png', 'html')")
    if not study.get_trials(deepcopy=False, states=[TrialState.COMPLETE]):
        raise ValueError(f"study {study.study_name!r} has no completed trial to plot")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if fmt == "png":
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            from optuna.visualization import matplotlib as backend
        except ImportError:
            raise ImportError("hpo plot needs matplotlib: pip install 'hpo[plot]'") from None
        for name, make in _plots(study, backend).items():
            result = make()
            fig = (result.flat[0] if hasattr(result, "flat") else result).figure
            path = out / f"{name}.png"
            fig.savefig(path, dpi=120, bbox_inches="tight")
            plt.close(fig)
            written.append(path)
        if _lineage_png(study, out / "lineage.png"):
            written.append(out / "lineage.png")
        return written
    try:
        import plotly  # noqa: F401
        from optuna import visualization as backend
    except ImportError:
        raise ImportError("--format html needs plotly: pip install plotly") from None
    for name, make in _plots(study, backend).items():
        path = out / f"{name}.html"
        make().write_html(str(path))
        written.append(path)
    return written
