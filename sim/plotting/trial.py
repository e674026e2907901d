"""The trial-planning figure: the power curve with its Monte Carlo band and the target power."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

__all__ = ["power_curve"]

_LINE = "#1f77b4"


_TARGET = "#d62728"


def power_curve(power: pd.DataFrame, target_power: float | None = None, ax: plt.Axes | None = None,
                label: str | None = None, colour: str = _LINE) -> plt.Axes:
    """Power against patients per arm, with its 95% band and the target power as a dashed line.

    ``power``: the columns of ``power.csv`` (``patients_per_arm, power, ci_low, ci_high``). The
    smallest size whose power reaches the target is ringed.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    sizes = power["patients_per_arm"].to_numpy()
    ax.fill_between(sizes, power["ci_low"], power["ci_high"], color=colour, alpha=0.2, linewidth=0,
                    label="95% interval (Monte Carlo)")
    ax.plot(sizes, power["power"], marker="o", color=colour, label=label or "power")
    if target_power is not None:
        ax.axhline(target_power, color=_TARGET, linestyle="--", linewidth=1, label=f"target {target_power:g}")
        reached = power[power["power"] >= target_power]
        if len(reached):
            first = reached.iloc[0]
            ax.plot([first["patients_per_arm"]], [first["power"]], marker="o", markersize=14, markerfacecolor="none",
                    markeredgecolor=_TARGET, linestyle="none",
                    label=f"smallest reaching target: {int(first['patients_per_arm'])} per arm")
    ax.set_xlabel("patients per arm")
    ax.set_ylabel("power")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return ax
