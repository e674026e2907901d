"""Health-economic figures: the cost-effectiveness plane, acceptability curves with their frontier, and EVPI."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from sim.plotting.style import arm_colours, new_axes

__all__ = ["acceptability_curves", "ce_plane", "evpi_curve", "psa_plane"]


def _money(currency: str) -> FuncFormatter:
    return FuncFormatter(lambda value, _: f"{value:,.0f}")


def _threshold_lines(ax: plt.Axes, thresholds: list[float], currency: str) -> None:
    """Dashed lines through the origin of slope lambda: below a line an arm is cost-effective at lambda."""
    x_low, x_high = ax.get_xlim()
    xs = np.array([min(x_low, 0.0), max(x_high, 0.0)])
    for k, threshold in enumerate(thresholds):
        ax.plot(xs, threshold * xs, linestyle=(0, (4, 3)), color="grey", linewidth=0.9, alpha=0.8 - 0.2 * min(k, 2),
                label=f"{threshold:,.0f} {currency} per QALY")
    ax.set_xlim(x_low, x_high)


def ce_plane(table: pd.DataFrame, reference_arm: str, thresholds: list[float], currency: str,
             ax: plt.Axes | None = None, colours: dict[str, str] | None = None) -> plt.Axes:
    """Each arm's mean QALYs gained and extra cost against the reference arm, with the 95% intervals of these
    paired differences, and the frontier of non-dominated arms.

    ``table``: ``economics.csv`` (one row per arm, in cost order).
    """
    ax = new_axes(ax, (7.5, 5.5))
    arms = list(table["arm"])
    colours = colours or arm_colours(arms)
    ref = table[table["arm"] == reference_arm].iloc[0]
    for _, row in table.iterrows():
        if row["arm"] == reference_arm:
            ax.plot(0, 0, "o", color=colours[row["arm"]], markersize=7, label=f"{row['arm']} (reference)")
            continue
        dq, dc = row["qalys_difference"], row["cost_difference"]
        x_err = [[dq - row["qalys_difference_ci_low"]], [row["qalys_difference_ci_high"] - dq]]
        y_err = [[dc - row["cost_difference_ci_low"]], [row["cost_difference_ci_high"] - dc]]
        finite = np.isfinite(np.concatenate([np.ravel(x_err), np.ravel(y_err)])).all()
        ax.errorbar(dq, dc, xerr=x_err if finite else None, yerr=y_err if finite else None, fmt="o",
                    color=colours[row["arm"]], markersize=7, capsize=3, label=row["arm"])
    frontier = table[table["status"].isin(["reference", "non-dominated"])]
    ax.plot(frontier["qalys"] - ref["qalys"], frontier["cost"] - ref["cost"], color="black", linewidth=1,
            label="frontier (non-dominated arms)")
    return _plane_frame(ax, reference_arm, thresholds, currency,
                        "Cost-effectiveness plane: each arm against the reference (mean, paired 95% interval)")


def _plane_frame(ax: plt.Axes, reference_arm: str, thresholds: list[float], currency: str, title: str) -> plt.Axes:
    """The frame of a cost-effectiveness plane: origin lines, threshold lines, labels, title and legend."""
    ax.axhline(0, color="black", linewidth=0.6)
    ax.axvline(0, color="black", linewidth=0.6)
    _threshold_lines(ax, thresholds, currency)
    ax.yaxis.set_major_formatter(_money(currency))
    ax.set_xlabel(f"QALYs gained vs {reference_arm} (discounted, per patient)")
    ax.set_ylabel(f"extra cost vs {reference_arm} ({currency}, discounted, per patient)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", borderaxespad=0)
    return ax


def psa_plane(samples: pd.DataFrame, reference_arm: str, thresholds: list[float], currency: str,
              ax: plt.Axes | None = None, colours: dict[str, str] | None = None) -> plt.Axes:
    """One dot per PSA sample and arm: incremental QALYs and cost against the reference arm.

    ``samples``: columns ``arm``, ``incremental_qalys``, ``incremental_cost`` (reference arm left out).
    """
    ax = new_axes(ax, (7.5, 5.5))
    arms = list(dict.fromkeys(samples["arm"]))
    colours = colours or arm_colours([reference_arm, *arms])
    for arm in arms:
        rows = samples[samples["arm"] == arm]
        ax.scatter(rows["incremental_qalys"], rows["incremental_cost"], s=9, alpha=0.45, color=colours[arm],
                   linewidths=0, label=f"{arm} ({len(rows)} samples)")
        ax.scatter([rows["incremental_qalys"].mean()], [rows["incremental_cost"].mean()], marker="X", s=90,
                   color=colours[arm], edgecolors="black", linewidths=0.8, zorder=3)
    ax.scatter([], [], marker="X", s=90, color="white", edgecolors="black", label="mean over samples")
    return _plane_frame(ax, reference_arm, thresholds, currency,
                        "PSA: cost-effectiveness plane, one dot per parameter sample")


def acceptability_curves(curve: pd.DataFrame, frontier: pd.DataFrame, currency: str,
                         ax: plt.Axes | None = None, colours: dict[str, str] | None = None) -> plt.Axes:
    """The probability that each arm has the highest net benefit at each threshold, and the acceptability
    frontier (the arm with the highest expected net benefit, drawn over its curve).

    ``curve``: indexed by threshold, one column per arm; ``frontier``: columns threshold, arm,
    probability_cost_effective.
    """
    ax = new_axes(ax, (8, 5))
    arms = list(curve.columns)
    colours = colours or arm_colours(arms)
    thresholds = curve.index.to_numpy(dtype=float)
    for arm in arms:
        ax.plot(thresholds, 100 * curve[arm].to_numpy(dtype=float), color=colours[arm], linewidth=1.4, label=arm)
    ax.plot(frontier["threshold"], 100 * frontier["probability_cost_effective"], color="black", linewidth=3,
            alpha=0.35, label="frontier: arm with the highest\nexpected net benefit")
    ax.xaxis.set_major_formatter(_money(currency))
    ax.set_xlabel(f"willingness to pay ({currency} per QALY)")
    ax.set_ylabel("probability the arm has the highest net benefit (%)")
    ax.set_ylim(-2, 102)
    ax.set_xlim(thresholds.min(), thresholds.max())
    ax.set_title("Cost-effectiveness acceptability curves and frontier")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", borderaxespad=0)
    return ax


def evpi_curve(evpi: pd.DataFrame, currency: str, ax: plt.Axes | None = None) -> plt.Axes:
    """Expected value of perfect information per patient at each threshold, with the part that is
    Monte Carlo noise of the finite cohorts when known.

    ``evpi``: columns threshold, evpi_per_patient and optionally evpi_noise.
    """
    ax = new_axes(ax, (8, 4.5))
    thresholds = evpi["threshold"].to_numpy(dtype=float)
    ax.plot(thresholds, evpi["evpi_per_patient"], color="#4c72b0", linewidth=1.6, label="EVPI per patient")
    if "evpi_noise" in evpi.columns:
        ax.fill_between(thresholds, np.maximum(evpi["evpi_per_patient"] - evpi["evpi_noise"], 0),
                        evpi["evpi_per_patient"], color="#dd8452", alpha=0.35,
                        label="of which Monte Carlo noise (estimated)")
    ax.xaxis.set_major_formatter(_money(currency))
    ax.yaxis.set_major_formatter(_money(currency))
    ax.set_xlabel(f"willingness to pay ({currency} per QALY)")
    ax.set_ylabel(f"EVPI ({currency} per patient)")
    ax.set_ylim(bottom=0)
    ax.set_title("Expected value of perfect information")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return ax
