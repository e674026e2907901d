"""The distribution of an outcome per patient, by arm: violins, boxes and every patient."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.plotting.style import arm_colours, new_axes

__all__ = ["disease_free_distribution"]


def disease_free_distribution(patients: pd.DataFrame, stats: pd.DataFrame, ax: plt.Axes | None = None,
                              colours: dict[str, str] | None = None, title: str | None = None,
                              legend: bool = True) -> plt.Axes:
    """Violin, box and every patient (jittered points) of disease-free weeks per arm.

    ``stats``: ``sim.survival.distribution`` of ``disease_free_weeks``. The violin is the histogram
    density of the patients with any disease-free time, scaled by their share of the arm, so that
    violins of different arms compare as densities over all patients (an arm where few have any is a
    thin violin); the share with none is written at 0.
    """
    ax = new_axes(ax, (9, 5))
    arms = list(dict.fromkeys(patients["arm"]))
    colours = colours or arm_colours(arms)
    positions = np.arange(1, len(arms) + 1)
    violins, boxes = [], []
    for x, arm in zip(positions, arms, strict=True):
        rows = stats[stats["arm"] == arm]
        density = rows[rows["statistic"] == "density"]
        value = dict(zip(rows["statistic"], rows["value"], strict=False))
        if len(density):
            violins.append((x, arm, {"coords": density["x"].to_numpy(dtype=float),
                                     "vals": density["value"].to_numpy(dtype=float), "mean": value["mean"],
                                     "median": value["median"], "min": value["min"], "max": value["max"]},
                            1.0 - float(value["zero_share"])))
        boxes.append({"med": value["median"], "q1": value["q1"], "q3": value["q3"], "whislo": value["whisker_low"],
                      "whishi": value["whisker_high"], "mean": value["mean"], "fliers": [], "label": arm})
        ax.annotate(f"{100 * value['zero_share']:.0f}% with none", xy=(x, 0), xytext=(0, -4),
                    textcoords="offset points", ha="center", va="top", fontsize="small", color=colours[arm],
                    fontweight="bold")
    if violins:
        # Each arm's density over all its patients: the histogram of those with any, times their share.
        peaks = [float(np.max(v[2]["vals"])) * v[3] for v in violins]
        top = max(peaks) or 1.0
        parts = ax.violin([v[2] for v in violins], positions=[v[0] for v in violins],
                          widths=[max(0.85 * peak / top, 0.02) for peak in peaks], showextrema=False)
        for body, (_, arm, _, _) in zip(parts["bodies"], violins, strict=True):  # type: ignore[call-overload]
            body.set_facecolor(colours[arm])
            body.set_alpha(0.3)
    jitter = np.random.default_rng(0)  # display only: spreads the points sideways, the same every time
    for x, arm in zip(positions, arms, strict=True):
        values = patients.loc[patients["arm"] == arm, "disease_free_weeks"].to_numpy(dtype=float)
        alpha = float(np.clip(8 / max(len(values), 1) ** 0.5, 0.05, 0.6))
        ax.scatter(x + jitter.uniform(-0.32, 0.32, len(values)), values, s=3, color=colours[arm], alpha=alpha,
                   linewidths=0, rasterized=True)
    ax.bxp(boxes, positions=positions, widths=0.16, showmeans=True, showfliers=False, patch_artist=True,
           boxprops={"facecolor": "white", "alpha": 0.9}, medianprops={"color": "black", "linewidth": 1.5},
           meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black"})
    ax.set_xticks(positions, arms)
    ax.set_title(title or "Disease-free time per patient, by arm")
    ax.set_xlabel("arm")
    ax.set_ylabel("disease-free time (weeks in complete remission)")
    ax.set_ylim(bottom=-0.09 * ax.get_ylim()[1])
    if not legend:
        return ax
    handles = [Line2D([], [], marker="o", linestyle="", color="grey", label="patients (jittered)"),
               Patch(facecolor="grey", alpha=0.3, label="histogram of those with any,\nits width their share"),
               Patch(facecolor="white", edgecolor="black", label="quartiles; whiskers 1.5 IQR"),
               Line2D([], [], color="black", label="median"),
               Line2D([], [], marker="D", linestyle="", markerfacecolor="white", markeredgecolor="black",
                      label="mean")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", borderaxespad=0)
    return ax
