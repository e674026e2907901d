"""Trial-planning figures: power curves with their Monte Carlo bands, and the single-arm designs.

Each function takes its table, draws on ``ax`` (a new one when None) and returns the axes; the
statistics come from :mod:`sim.studies.trial`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sim.plotting.style import new_axes

__all__ = ["declare_active_curve", "power_curve", "simon_bars", "simon_points"]

_LINE = "#1f77b4"
_TARGET = "#d62728"
_GREY = "#7f7f7f"
_FIXED = "#2ca02c"
_SIMON = {"optimal": "#9467bd", "minimax": "#8c564b"}


def _target_and_smallest(ax: plt.Axes, power: pd.DataFrame, target: float | None, smallest: int | None,
                         unit: str) -> None:
    if target is not None:
        ax.axhline(target, color=_TARGET, linestyle="--", linewidth=1, label=f"target {target:g}")
    if smallest is not None:
        row = power[power["patients_per_arm"] == smallest].iloc[0]
        ax.plot([smallest], [row["power"]], marker="o", markersize=14, markerfacecolor="none",
                markeredgecolor=_TARGET, linestyle="none",
                label=f"smallest with its 95% interval above target: {smallest} {unit}")


def _infeasible(ax: plt.Axes, power: pd.DataFrame, column: str = "power") -> None:
    if "feasible" not in power.columns:
        return
    bad = power[~power["feasible"].astype(bool)]
    if len(bad):
        ax.plot(bad["patients_per_arm"], bad[column], marker="X", markersize=9, color=_GREY, linestyle="none",
                label="infeasible: trials too long")


def power_curve(power: pd.DataFrame, target_power: float | None = None, ax: plt.Axes | None = None,
                label: str | None = None, colour: str = _LINE, smallest: int | None = None) -> plt.Axes:
    """Power against patients per arm, with its 95% band and the target power as a dashed line.

    ``power``: the columns of ``power.csv`` (``patients_per_arm, power, ci_low, ci_high``, and
    optionally ``feasible`` and ``power_without_interim``). ``smallest`` (the smallest size whose
    interval lies above the target) is ringed; infeasible sizes are crossed; a group-sequential
    design's power without its interim looks is drawn dotted.
    """
    ax = new_axes(ax, (7, 4.5))
    sizes = power["patients_per_arm"].to_numpy()
    ax.fill_between(sizes, power["ci_low"], power["ci_high"], color=colour, alpha=0.2, linewidth=0,
                    label="95% interval (Monte Carlo)")
    ax.plot(sizes, power["power"], marker="o", color=colour, label=label or "power")
    if "power_without_interim" in power.columns:
        ax.plot(sizes, power["power_without_interim"], marker=".", linestyle=":", color=_FIXED,
                label="same trials, one analysis at the end")
    _infeasible(ax, power)
    _target_and_smallest(ax, power, target_power, smallest, "per arm")
    ax.set_xlabel("patients per arm")
    ax.set_ylabel("power")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return ax


def declare_active_curve(power: pd.DataFrame, target: float | None = None, p0: float | None = None,
                         p1: float | None = None, smallest: int | None = None,
                         ax: plt.Axes | None = None) -> plt.Axes:
    """A single-arm exact binomial test: probability of declaring the drug active against the number of patients.

    ``power``: the single-arm columns of ``power.csv``. The simulated probability under the pathway
    model is drawn with its 95% band; the exact binomial probabilities at p0 (the type I error) and
    at p1 (the design power) as dashed lines.
    """
    ax = new_axes(ax, (7, 4.5))
    sizes = power["patients_per_arm"].to_numpy()
    ax.fill_between(sizes, power["ci_low"], power["ci_high"], color=_LINE, alpha=0.2, linewidth=0,
                    label="95% interval (Monte Carlo)")
    ax.plot(sizes, power["power"], marker="o", color=_LINE, label="pathway model (simulated trials)")
    if p1 is not None and np.isfinite(power["exact_power_p1"]).all():
        ax.plot(sizes, power["exact_power_p1"], linestyle="--", marker=".", color=_FIXED,
                label=f"exact at p1 = {p1:g} (power)")
    ax.plot(sizes, power["exact_alpha"], linestyle="--", marker=".", color=_GREY,
            label=f"exact at p0 = {p0:g} (type I error)" if p0 is not None else "exact at p0")
    _infeasible(ax, power)
    _target_and_smallest(ax, power, target, smallest, "patients")
    ax.set_xlabel("patients treated")
    ax.set_ylabel("probability of declaring the drug active")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    return ax


def simon_points(simon: pd.DataFrame, ax: plt.Axes) -> plt.Axes:
    """Simon designs as points at their total size: the simulated probability of declaring activity with its
    95% interval, labelled with the expected number of patients treated under the pathway model."""
    for row in simon.itertuples(index=False):
        colour = _SIMON.get(str(row.criterion), _GREY)
        y = float(row.p_declare_active)
        ax.errorbar([row.n], [y], yerr=[[y - row.p_declare_active_ci_low], [row.p_declare_active_ci_high - y]],
                    marker="D", markersize=7, color=colour, capsize=3, linestyle="none",
                    label=f"Simon {row.criterion}: stop if ≤ {row.r1}/{row.n1}, active if > {row.r}/{row.n} "
                          f"(expected n {row.expected_n:.1f})")
    return ax


def simon_bars(simon: pd.DataFrame, p0: float, p1: float, ax: plt.Axes | None = None) -> plt.Axes:
    """For each Simon design, the probability of stopping after the first stage and of declaring activity:
    exact at p0 and p1, and simulated under the pathway model (with 95% intervals).

    ``simon``: the columns of ``simon.csv``.
    """
    ax = new_axes(ax, (7, 4.5))
    groups = [f"p0 = {p0:g}\n(exact)", f"p1 = {p1:g}\n(exact)", "pathway model\n(simulated)"]
    width = 0.2
    for d, row in enumerate(simon.itertuples(index=False)):
        stop = [row.pet0, row.pet1, row.pet]
        active = [row.alpha, row.power, row.p_declare_active]
        colour = _SIMON.get(str(row.criterion), _GREY)
        x = np.arange(3) + (d - 0.5) * 2 * width
        ax.bar(x - width / 2, stop, width=width, color=colour, alpha=0.45, edgecolor=colour, hatch="//",
               label=f"{row.criterion}: P(stop after stage 1)")
        ax.bar(x + width / 2, active, width=width, color=colour, edgecolor=colour,
               label=f"{row.criterion}: P(declare active)")
        ax.errorbar([x[2] - width / 2, x[2] + width / 2], [row.pet, row.p_declare_active],
                    yerr=[[row.pet - row.pet_ci_low, row.p_declare_active - row.p_declare_active_ci_low],
                          [row.pet_ci_high - row.pet, row.p_declare_active_ci_high - row.p_declare_active]],
                    color="black", capsize=2, linestyle="none", linewidth=0.8)
    ax.set_xticks(range(3), groups)
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", alpha=0.3)
    return ax
