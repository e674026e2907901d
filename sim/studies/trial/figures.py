"""The figure of a trial-planning folder, saved into ``figures/``: the power curve, or the single-arm designs."""

from __future__ import annotations

import textwrap
from pathlib import Path

from sim.plotting.style import plt, save_figure
from sim.plotting.trial import declare_active_curve, power_curve, simon_bars, simon_points
from sim.studies.trial.analyse import Summaries, smallest_size
from sim.studies.trial.design import TrialPlan

__all__ = ["FIGURE_NAMES", "build_figure", "draw_figure"]

FIGURE_NAMES = {"two_arm": "power_curve.png", "single_arm": "single_arm.png"}


def build_figure(plan: TrialPlan, summaries: Summaries, title: str = "") -> plt.Figure:
    """The folder's figure: the power curve of a two-arm design, or for a single-arm design the probability of
    declaring activity by size (with the Simon designs) beside the Simon designs' operating characteristics."""
    trial, power = plan.trial, summaries.power
    smallest = smallest_size(power, trial.target_power)
    if not trial.single_arm:
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        power_curve(power, trial.target_power, ax=ax, smallest=smallest)
        if title:
            ax.set_title(textwrap.fill(title, 80), fontsize="medium")
        fig.tight_layout()
        return fig
    simon = summaries.simon
    panels = 2 if simon is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(7.2 * panels, 5.4), squeeze=False)
    ax = axes[0][0]
    declare_active_curve(power, trial.target_power, trial.p0, trial.p1, smallest, ax=ax)
    if simon is not None:
        simon_points(simon, ax)
    ax.set_title("Single stage: declare active if at least r of n respond", fontsize="medium")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 0.08), fontsize="x-small")
    if simon is not None:
        assert trial.p0 is not None and trial.p1 is not None
        right = axes[0][1]
        simon_bars(simon, trial.p0, trial.p1, ax=right)
        right.set_title("Simon two-stage designs: stop early, declare active", fontsize="medium")
        right.legend(loc="upper left", fontsize="x-small", ncol=2)
    if title:
        fig.suptitle(textwrap.fill(title, int(12 * 7.2 * panels)), fontsize="medium")
    fig.tight_layout()
    return fig


def draw_figure(run_dir: Path, plan: TrialPlan, summaries: Summaries, title: str = "") -> str:
    """Draw the folder's figure into ``run_dir/figures``; returns its path relative to the folder."""
    figures = Path(run_dir) / "figures"
    figures.mkdir(exist_ok=True)
    name = FIGURE_NAMES[plan.trial.design]
    save_figure(build_figure(plan, summaries, title), figures / name)
    return f"figures/{name}"
