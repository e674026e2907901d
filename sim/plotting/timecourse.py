"""Time-course figures: the share of patients in each state over time, and a swimmer plot of sampled patients."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.outcomes import STATE_LABELS, STATES
from sim.plotting.style import ARM_COLOURS, STATE_COLOURS, new_axes

__all__ = ["state_occupancy_areas", "swimmer", "swimmer_legend"]

_MARKERS = {  # event: (marker, colour, size, label)
    "response": ("^", "white", 32, "response"),
    "remission": ("*", "gold", 80, "complete remission"),
    "relapse": ("X", "#e41a1c", 45, "relapse"),
    "adverse_event": ("o", "#f781bf", 30, "adverse event"),
    "dropout": ("s", "black", 32, "dropout (discontinuation or lost)"),
}


def state_occupancy_areas(occupancy: pd.DataFrame, arm: str, ax: plt.Axes | None = None,
                          horizon: float | None = None) -> plt.Axes:
    """Stacked shares of patients in each disease state (and off study) over time for one arm, from 0 to
    ``horizon`` (default: the end of the table's grid, the follow-up)."""
    ax = new_axes(ax, (7, 4.5))
    rows = occupancy[occupancy["arm"] == arm]
    weeks = rows.loc[rows["state"] == STATES[0], "week"].to_numpy(dtype=float)
    shares = [100 * rows.loc[rows["state"] == state, "share"].to_numpy(dtype=float) for state in STATES]
    ax.stackplot(weeks, *shares, colors=[STATE_COLOURS[s] for s in STATES],
                 labels=[STATE_LABELS[s] for s in STATES], step="post", alpha=0.9)
    if horizon is not None or len(weeks):
        ax.set_xlim(0, horizon if horizon is not None else weeks[-1])
    ax.set_ylim(0, 100)
    ax.set_title(arm)
    ax.set_xlabel("weeks since enrolment")
    ax.set_ylabel("patients (%)")
    return ax


def swimmer(sample: Any, arm: str, ax: plt.Axes | None = None, therapy_colours: dict[str, str] | None = None,
            horizon: float | None = None) -> plt.Axes:
    """One bar per course of treatment for each sampled patient of one arm (lighter: tapered dose), with markers;
    the time axis from 0 to ``horizon`` (the follow-up) when given."""
    ax = new_axes(ax, (7, 8))
    patients = sample.patients[sample.patients["arm"] == arm]
    spells = sample.spells[sample.spells["arm"] == arm]
    markers = sample.markers[sample.markers["arm"] == arm]
    therapies = list(dict.fromkeys(sample.spells["therapy"])) if len(sample.spells) else []
    therapy_colours = therapy_colours or {t: ARM_COLOURS[i % len(ARM_COLOURS)] for i, t in enumerate(therapies)}
    ax.hlines(patients["row"], 0, patients["observed_weeks"], color="#555555", linewidth=1.0, zorder=1)
    for (therapy, level), group in spells.groupby(["therapy", "level"], sort=False):
        full = level == "full"
        ax.barh(group["row"], group["end"] - group["start"], left=group["start"], height=0.6 if full else 0.35,
                color=therapy_colours[therapy], alpha=0.9 if full else 0.5, zorder=2)
    for event, (marker, colour, size, _) in _MARKERS.items():
        points = markers[markers["marker"] == event]
        ax.scatter(points["week"], points["row"], marker=marker, color=colour, s=size, zorder=3,
                   edgecolors="black", linewidths=0.6)
    ax.set_yticks(patients["row"], patients["label"], fontsize="x-small")
    ax.set_ylim(len(patients) - 0.5, -0.5)
    if horizon is not None:
        ax.set_xlim(0, horizon)
    ax.set_title(arm)
    ax.set_xlabel("weeks since enrolment")
    ax.set_ylabel("patient")
    ax.grid(axis="x", alpha=0.3)
    return ax


def swimmer_legend(therapy_colours: dict[str, str], tapered: set[str]) -> list[object]:
    """Legend handles of the swimmer plot: therapies (full and, if any, tapered dose), markers, observation."""
    handles: list[object] = []
    for therapy, colour in therapy_colours.items():
        handles.append(Patch(facecolor=colour, alpha=0.9, label=f"{therapy} (full dose)"))
        if therapy in tapered:
            handles.append(Patch(facecolor=colour, alpha=0.5, label=f"{therapy} (tapered: thin bar)"))
    handles.extend(Line2D([], [], marker=m, linestyle="", markerfacecolor=c, markeredgecolor="black",
                          markersize=8 if m == "*" else 6, label=label)
                   for m, c, _, label in _MARKERS.values())
    handles.append(Line2D([], [], color="#555555", linewidth=1.0, label="observed, off drug"))
    return handles
