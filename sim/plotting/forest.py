"""The forest plot: each arm's difference from the reference with its 95% interval."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from sim.plotting.style import arm_colours, new_axes

__all__ = ["arm_markers", "forest"]


def forest(comparison: pd.DataFrame, metrics: dict[str, str], scale: float = 1.0, ax: plt.Axes | None = None,
           colours: dict[str, str] | None = None, xlabel: str = "difference from the reference arm", better: int = 0,
           reference: str | None = None) -> plt.Axes:
    """Forest plot: each arm's difference from the reference with its 95% interval, one row per (metric, arm).

    ``scale`` only changes the display unit (100 shows proportions in percentage points). With ``better`` +1
    (higher is better for every metric of the panel) or -1 (lower is better), the axis is centred on no
    difference and each side says which arm it favours: the arm, or ``reference``.
    """
    ax = new_axes(ax, (8, 5))
    arms = list(dict.fromkeys(comparison["arm"]))
    colours = colours or arm_colours(arms)
    labels: list[str] = []
    y = 0.0
    for metric, label in metrics.items():
        for arm in arms:
            row = comparison[(comparison["metric"] == metric) & (comparison["arm"] == arm)]
            if row.empty:
                continue
            centre = scale * float(row["difference"].iloc[0])
            low, high = scale * float(row["ci_low"].iloc[0]), scale * float(row["ci_high"].iloc[0])
            if np.isfinite(low) and np.isfinite(high):
                ax.errorbar(centre, y, xerr=[[centre - low], [high - centre]], fmt="o", color=colours[arm],
                            capsize=3, markersize=5)
            else:
                ax.plot(centre, y, "o", color=colours[arm], markersize=5)
            labels.append(f"{label}: {arm}")
            y += 1
        y += 0.5
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.set_yticks(_label_positions(metrics, comparison, arms), labels, fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    if not better:
        ax.set_ylim(y - 0.5 + 0.1, -0.6)
        return ax
    low, high = ax.get_xlim()
    reach = 1.05 * max(abs(low), abs(high), 1e-9)
    ax.set_xlim(-reach, reach)  # no difference in the middle, so each half is one arm's side
    ax.set_ylim(y + 0.5, -0.6)  # a row below the estimates for the labels
    them = "the arm" if reference is None else f"{reference}"
    left, right = (f"← favours {them}", "favours the arm →") if better > 0 else (
        "← favours the arm", f"favours {them} →")
    for text, x, align in ((left, -0.02 * reach, "right"), (right, 0.02 * reach, "left")):
        ax.text(x, y + 0.05, text, ha=align, va="center", fontsize="small", style="italic", color="#404040")
    return ax


def _label_positions(metrics: dict[str, str], comparison: pd.DataFrame, arms: list[str]) -> list[float]:
    positions, y = [], 0.0
    for metric in metrics:
        for arm in arms:
            if ((comparison["metric"] == metric) & (comparison["arm"] == arm)).any():
                positions.append(y)
                y += 1
        y += 0.5
    return positions


def arm_markers(colours: dict[str, str]) -> list[Line2D]:
    """Legend handles: one marker per arm in its colour."""
    return [Line2D([], [], marker="o", color=colour, label=arm) for arm, colour in colours.items()]
