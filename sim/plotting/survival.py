"""Survival figures: Kaplan-Meier curves with numbers at risk, and cumulative incidence of competing events."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from sim.outcomes import ENDPOINTS
from sim.plotting.style import arm_colours, new_axes

__all__ = ["cause_label", "cumulative_incidence_curves", "kaplan_meier_curve"]

_ENDPOINT_AXES = {
    "time_to_dropout": ("weeks since enrolment", "without dropout (%)"),
    "time_to_complete_response": ("weeks since enrolment", "without complete response (%)"),
    "time_to_relapse_after_remission": ("weeks since first remission", "relapse-free (%)"),
}


def kaplan_meier_curve(curves: pd.DataFrame, at_risk: pd.DataFrame, endpoint: str, ax: plt.Axes | None = None,
                       colours: dict[str, str] | None = None, horizon: float | None = None) -> plt.Axes:
    """Kaplan-Meier curves of one endpoint per arm with 95% bands and the numbers at risk underneath.

    ``curves``: rows of ``survival_curves.csv``; ``at_risk``: the ``at_risk`` rows of ``survival.csv``. The time
    axis runs from 0 to ``horizon`` (default: the end of the curves, the follow-up).
    """
    ax = new_axes(ax, (9, 5))
    rows = curves[curves["endpoint"] == endpoint]
    arms = list(dict.fromkeys(rows["arm"]))
    colours = colours or arm_colours(arms)
    for arm in arms:
        curve = rows[rows["arm"] == arm]
        weeks = curve["week"].to_numpy(dtype=float)
        ax.step(weeks, 100 * curve["estimate"].to_numpy(dtype=float), where="post", color=colours[arm], label=arm)
        low, high = (100 * curve[c].to_numpy(dtype=float) for c in ("ci_low", "ci_high"))
        ax.fill_between(weeks, low, high, step="post", color=colours[arm], alpha=0.2, linewidth=0)
    counts = at_risk[(at_risk["endpoint"] == endpoint) & (at_risk["statistic"] == "at_risk")]
    ticks = sorted(set(counts["week"].astype(float)))
    if ticks:
        ax.set_xticks(ticks)
    ends = [w for w in (horizon, rows["week"].max() if len(rows) else None, ticks[-1] if ticks else None)
            if w is not None and w == w]
    if ends:
        ax.set_xlim(0, horizon if horizon is not None else max(ends))
    xlabel, ylabel = _ENDPOINT_AXES.get(endpoint, ("weeks", "event-free (%)"))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 102)
    ax.set_title(ENDPOINTS.get(endpoint, endpoint))
    ax.grid(alpha=0.3)
    ax.plot([], [], color="grey", alpha=0.4, linewidth=6, label="95% band")
    ax.legend(loc="best", fontsize="small")
    # The at-risk table, in points below the axis so it does not depend on the axes' height.
    # The caller leaves room below the axes (the annotations stay out of tight_layout, which is slow with them).
    texts = [ax.annotate("Number at risk", xy=(0, 0), xycoords="axes fraction", xytext=(-22, -36),
                         textcoords="offset points", ha="right", va="top", fontsize="small", fontweight="bold")]
    for i, arm in enumerate(arms):
        offset = -36 - 11 * (i + 1)
        texts.append(ax.annotate(arm, xy=(0, 0), xycoords="axes fraction", xytext=(-22, offset),
                                 textcoords="offset points", ha="right", va="top", fontsize="small",
                                 color=colours[arm]))
        rows_of_arm = counts[counts["arm"] == arm]
        texts.extend(ax.annotate(f"{int(n):d}", xy=(week, 0), xycoords=("data", "axes fraction"), xytext=(0, offset),
                                 textcoords="offset points", ha="center", va="top", fontsize="x-small")
                     for week, n in zip(rows_of_arm["week"], rows_of_arm["value"], strict=True))
    for text in texts:
        text.set_in_layout(False)
    return ax


def cause_label(cause: str) -> str:
    """A competing event's name for people."""
    if cause.startswith("discontinuation."):
        return "stopped for " + cause.removeprefix("discontinuation.").replace("_", " ")
    return cause.replace("_", " ")


def cumulative_incidence_curves(curves: pd.DataFrame, arm: str, causes: list[str], ax: plt.Axes | None = None,
                                cause_colours: dict[str, object] | None = None,
                                horizon: float | None = None) -> plt.Axes:
    """Cumulative incidence of each competing first event of one arm, with 95% bands, from 0 to ``horizon``
    (default: the end of the curves, the follow-up)."""
    ax = new_axes(ax, (7, 5))
    palette = plt.get_cmap("tab10")
    cause_colours = cause_colours or {c: palette(i % 10) for i, c in enumerate(causes)}
    for cause in causes:
        curve = curves[(curves["arm"] == arm) & (curves["endpoint"] == cause)]
        if curve.empty:
            continue
        weeks = curve["week"].to_numpy(dtype=float)
        colour = cause_colours[cause]
        style = "-" if cause.startswith("discontinuation.") else "--"
        ax.step(weeks, 100 * curve["estimate"].to_numpy(dtype=float), where="post", color=colour, linestyle=style,
                label=cause_label(cause))
        low, high = (100 * curve[c].to_numpy(dtype=float) for c in ("ci_low", "ci_high"))
        ax.fill_between(weeks, low, high, step="post", color=colour, alpha=0.2, linewidth=0)
    mine = curves[curves["arm"] == arm]
    end = horizon if horizon is not None else (float(mine["week"].max()) if len(mine) else None)
    if end is not None and end == end:
        ax.set_xlim(0, end)
    ax.set_title(arm)
    ax.set_xlabel("weeks since enrolment")
    ax.set_ylabel("cumulative incidence (% of patients)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="x-small")
    return ax
