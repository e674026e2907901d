"""The figure of a trial-planning folder: the power curve, saved into ``figures/``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.plotting.style import plt, save_figure
from sim.plotting.trial import power_curve

__all__ = ["draw_power_curve", "power_figure"]


def power_figure(power: pd.DataFrame, target_power: float, title: str = "") -> plt.Figure:
    """The power curve as a figure."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    power_curve(power, target_power, ax=ax)
    if title:
        ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    return fig


def draw_power_curve(run_dir: Path, power: pd.DataFrame, target_power: float, title: str = "") -> list[Path]:
    """Draw the power curve into ``run_dir/figures/power_curve.png``; returns the files written."""
    figures = Path(run_dir) / "figures"
    figures.mkdir(exist_ok=True)
    return [save_figure(power_figure(power, target_power, title), figures / "power_curve.png")]
