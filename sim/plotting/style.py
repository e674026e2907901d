"""The look of every figure (colours, new axes) and the one way a figure is saved: whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt

__all__ = ["ARM_COLOURS", "STATE_COLOURS", "arm_colours", "money_axes", "new_axes", "plt", "save_figure"]

ARM_COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]
STATE_COLOURS = {"active": "#d9534f", "response": "#f0ad4e", "remission": "#5cb85c", "lost": "#b0b0b0"}
DPI = 120


def arm_colours(arms: list[str]) -> dict[str, str]:
    """A fixed colour per arm, in the order of the scenario."""
    return {arm: ARM_COLOURS[i % len(ARM_COLOURS)] for i, arm in enumerate(arms)}


def new_axes(ax: plt.Axes | None, size: tuple[float, float]) -> plt.Axes:
    """``ax``, or the axes of a new figure of ``size`` inches."""
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def money_axes(fig: plt.Figure) -> None:
    """Amounts of money (axes labelled "... per patient") with thousands separators and few enough
    ticks to stay readable."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if "per patient" in axis.get_label().get_text():
                axis.set_major_locator(MaxNLocator(5))
                axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Save a figure as PNG under a temporary name, then rename it, and close it.

    No software version is written into the file, so the same figure gives the same bytes.
    """
    temporary = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        fig.savefig(temporary, dpi=DPI, metadata={"Software": None})
    finally:
        plt.close(fig)
    os.replace(temporary, path)
    return path
