"""The look of every figure (colours, new axes) and the one way a figure is saved: whole or not at all."""

from __future__ import annotations

import contextlib
import io
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.legend import Legend

__all__ = ["ARM_COLOURS", "STATE_COLOURS", "arm_colours", "figure_png", "fit_layout", "legend_below", "money_axes",
           "new_axes", "plt", "save_figure", "title_above"]

ARM_COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]
STATE_COLOURS = {"active": "#d9534f", "response": "#f0ad4e", "remission": "#5cb85c", "lost": "#b0b0b0"}
DPI = 120
LAYOUT_PAD = 1.08
"""tight_layout's padding around the panels, in font sizes (its default)."""


def arm_colours(arms: list[str]) -> dict[str, str]:
    """A fixed colour per arm, in the order of the scenario."""
    return {arm: ARM_COLOURS[i % len(ARM_COLOURS)] for i, arm in enumerate(arms)}


def new_axes(ax: plt.Axes | None, size: tuple[float, float]) -> plt.Axes:
    """``ax``, or the axes of a new figure of ``size`` inches."""
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def _text_width(fig: plt.Figure, artist: Any) -> float:
    """An artist's width in pixels, as drawn."""
    return float(artist.get_window_extent(fig.canvas.get_renderer()).width)  # type: ignore[attr-defined]


def title_above(fig: plt.Figure, text: str, **kwargs: Any) -> Any:
    """The figure's title, wrapped onto as many lines as it needs to fit the figure's width, hung one layout pad
    below the top edge."""
    # tight_layout keeps one pad, the title's height and one pad above the panels; matplotlib's default height (98%
    # of the figure) is lower than one pad on a tall figure, which would leave the title touching the panels.
    pad_inches = LAYOUT_PAD * plt.rcParams["font.size"] / 72
    title = fig.suptitle(text, y=1 - pad_inches / fig.get_size_inches()[1], va="top", **kwargs)
    width = len(text)
    while _text_width(fig, title) > 0.96 * fig.bbox.width and width > 20:
        width = int(width * 0.9)
        title.set_text(textwrap.fill(text, width, break_on_hyphens=False))
    return title


def legend_below(fig: plt.Figure, handles: Sequence[Any], fontsize: str = "small", **kwargs: Any) -> Legend:
    """A legend centred under the panels, in as many columns as fit the figure's width (then :func:`fit_layout`)."""
    for columns in range(len(handles), 0, -1):
        legend = fig.legend(handles=list(handles), loc="lower center", ncol=columns, fontsize=fontsize,
                            bbox_to_anchor=(0.5, 0.005), **kwargs)
        if columns == 1 or _text_width(fig, legend) <= 0.98 * fig.bbox.width:
            return legend
        legend.remove()
    raise ValueError("a legend needs handles")


def fit_layout(fig: plt.Figure, below: Legend | None = None, right: Legend | None = None,
               title: Any = None) -> None:
    """Lay the panels out to fill the figure, leaving room for a legend below them or beside them on the right (and
    for the title, which ``tight_layout`` knows). With ``title`` (from :func:`title_above`), the panels and all that
    sticks out of them (a y label taller than its panel) stay wholly below it: ``tight_layout`` alone lets a tall
    grid's top row reach into the title."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    bottom = 0.0 if below is None else (below.get_window_extent(renderer).height + 8) / fig.bbox.height
    edge = 1.0 if right is None else 1 - (right.get_window_extent(renderer).width + 8) / fig.bbox.width
    top = 1.0 if title is None else title.get_window_extent(renderer).y0 / fig.bbox.height - 0.005
    fig.tight_layout(rect=(0, bottom, edge, top))


def money_axes(fig: plt.Figure) -> None:
    """Amounts of money (axes labelled "... per patient") with thousands separators and few enough
    ticks to stay readable."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if "per patient" in axis.get_label().get_text():
                axis.set_major_locator(MaxNLocator(5))
                axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


def figure_png(fig: plt.Figure) -> bytes:
    """A figure as PNG bytes, and close it.

    No software version is written into the file, so the same figure gives the same bytes, in any process.
    """
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        plt.close(fig)
    return buffer.getvalue()


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Save a figure as PNG (:func:`figure_png`) under a temporary name, then rename it, and close it."""
    temporary = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        temporary.write_bytes(figure_png(fig))
        os.replace(temporary, path)
    except BaseException:  # a full disk, or a signal (KeyboardInterrupt): the old file stays, and no temporary one
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise
    return path
