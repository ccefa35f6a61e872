"""Figures of a CARBS study for ``hpo plot``: the (performance, cost) front, and each
optimal hyperparameter against cost on log axes with its fitted power law."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from optuna.trial import TrialState

from hpo.cli.plots import axis_labels
from hpo.samplers.carbs import cost_front, cost_mode, cost_of, scaling_laws

__all__ = ["cost_front_figure", "scaling_figure"]


def _cost_label(mode: str) -> str:
    """What the cost axis counts, for the study's cost mode."""
    return {"auto": "cost (user attr 'cost', else wall time in seconds)",
            "wall_time": "cost: wall time (seconds)"}.get(mode, f"cost: {mode}")


def cost_front_figure(study: Any) -> Any:
    """Every completed trial's value against its cost (log x), the front joined."""
    import matplotlib.pyplot as plt

    mode = cost_mode(study)
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value)]
    rows = cost_front(study)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([cost_of(t, mode) for t in done], [t.value for t in done], s=12,
               color="tab:gray", alpha=0.6, label="trials")
    ax.plot([r["cost"] for r in rows], [r["value"] for r in rows], "o-", color="tab:blue",
            ms=4, label=f"front ({len(rows)})")
    ax.set_xscale("log")
    ax.set_xlabel(_cost_label(mode))
    ax.set_ylabel(axis_labels(study)[0])
    ax.set_title(f"{study.study_name}: (performance, cost) front")
    ax.legend(fontsize="small")
    return fig


def scaling_figure(study: Any) -> Any:
    """One panel per numeric parameter: its value on the front against cost (log-log
    where positive), with the fitted power law and its exponent."""
    import matplotlib.pyplot as plt

    rows = cost_front(study)
    laws = scaling_laws(study)
    names = sorted({n for r in rows for n, v in r["params"].items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)})
    n = max(1, len(names))
    cols = min(3, n)
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.3 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        pts = np.array([(r["cost"], r["params"][name]) for r in rows if name in r["params"]],
                       dtype=float)
        ax.plot(pts[:, 0], pts[:, 1], "o", color="tab:blue", ms=4)
        ax.set_xscale("log")
        if (pts[:, 1] > 0).all():
            ax.set_yscale("log")
        law = laws.get(name)
        if law is not None:
            c = np.geomspace(pts[:, 0].min(), pts[:, 0].max(), 50)
            ax.plot(c, law.coefficient * c ** law.exponent, color="tab:orange",
                    label=f"exponent {law.exponent:.2f} ± {law.exponent_stderr:.2f}")
            ax.legend(fontsize="small")
        ax.set_xlabel(_cost_label(cost_mode(study)))
        ax.set_ylabel(name)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"{study.study_name}: optimal settings along the front")
    fig.tight_layout()
    return fig
