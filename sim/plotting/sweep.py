"""Sweep figures: tornado, one-way curves, heat map, sensitivity bars and PSA plots.

Each function takes its table, draws on ``ax`` (a new one when None) and returns the axes. Nothing is
computed here but display scaling and layout (the statistics come from :mod:`sim.studies.sweep`), and
nothing is saved here.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from sim.plotting.style import arm_colours
from sim.plotting.style import new_axes as _axes

__all__ = [
    "arm_colours",
    "best_probability_bars",
    "difference_histogram",
    "difference_scatter",
    "constant_panel",
    "heat_map",
    "morris_bars",
    "one_way_curve",
    "parameter_scatter",
    "sobol_bars",
    "tornado",
    "tornado_handles",
]

_LOW, _HIGH, _NOISE = "#6baed6", "#fd8d3c", "#bdbdbd"


def _short(value: float) -> str:
    return f"{value:.3g}"


def tornado_handles() -> list[Patch]:
    """Legend entries of a tornado diagram."""
    return [Patch(color=_LOW, label="parameter at low value"), Patch(color=_HIGH, label="parameter at high value"),
            Patch(color=_NOISE, alpha=0.6, label="paired noise of the bar: 95% CI half-width of the change from base")]


def tornado(rows: pd.DataFrame, scale: float = 1.0, ax: plt.Axes | None = None, legend: bool = True) -> plt.Axes:
    """Tornado diagram of one quantity: a pair of bars per parameter, in the order of ``rows`` (top first).

    ``rows``: ``label, low_value, high_value, at_base, at_low, at_high, noise_at_low, noise_at_high``
    (one ``sim.sweep`` tornado panel). Bars start at the value at the base point; behind each bar a
    grey band spans the base value plus or minus that bar's paired replication noise (the 95%
    interval half-width of the change from the base point), so a bar ending inside its band is not
    distinguishable from noise. ``legend=False`` leaves the legend to the figure (``tornado_handles``).
    """
    ax = _axes(ax, (7, 0.6 * len(rows) + 1.5))
    if rows.empty:
        return ax
    base = scale * float(rows["at_base"].iloc[0])
    for i, row in enumerate(rows.itertuples(index=False)):
        for offset, value, noise, colour in ((-0.19, row.at_low, row.noise_at_low, _LOW),
                                             (0.19, row.at_high, row.noise_at_high, _HIGH)):
            half = scale * float(noise)
            if math.isfinite(half) and half > 0:
                ax.fill_betweenx([i + offset - 0.18, i + offset + 0.18], base - half, base + half, color=_NOISE,
                                 alpha=0.6, linewidth=0, zorder=1)
            ax.barh(i + offset, scale * value - base, left=base, height=0.36, color=colour, edgecolor="white",
                    zorder=2)
    ax.axvline(base, color="black", linewidth=1, zorder=3)
    ax.set_yticks(range(len(rows)), [f"{row.label}\n{_short(row.low_value)} → {_short(row.high_value)}"
                                     for row in rows.itertuples(index=False)], fontsize="x-small")
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    if legend:
        ax.legend(handles=tornado_handles(), fontsize="x-small", loc="best")
    return ax


def one_way_curve(rows: pd.DataFrame, parameter: str, outcome: str, arms: list[str], scale: float = 1.0,
                  base_value: float | None = None, colours: dict[str, str] | None = None,
                  ax: plt.Axes | None = None, measure: str = "difference") -> plt.Axes:
    """Each arm's difference from the reference (or, with ``measure="mean"``, its own mean) against one
    parameter: mean line and 95% band.

    ``rows``: ``sweep.csv`` rows of the points that vary ``parameter``.
    """
    ax = _axes(ax, (6, 4))
    colours = colours or arm_colours(arms)
    centre = f"{outcome}_{measure}"
    prefix = f"{outcome}_difference" if measure == "difference" else outcome
    for arm in arms:
        part = rows[rows["arm"] == arm].sort_values(parameter)
        x = part[parameter].to_numpy(dtype=float)
        ax.fill_between(x, scale * part[f"{prefix}_ci_low"], scale * part[f"{prefix}_ci_high"],
                        color=colours[arm], alpha=0.2, linewidth=0)
        ax.plot(x, scale * part[centre], "o-", color=colours[arm], markersize=3.5, label=arm)
    if base_value is not None and math.isfinite(base_value):
        ax.axvline(base_value, color="grey", linestyle=":", linewidth=1, label="base value")
    if measure == "difference":
        ax.axhline(0, color="black", linewidth=0.6)
    whole = bool(np.all(np.mod(rows[parameter].to_numpy(dtype=float), 1) == 0))  # courses, weeks: whole ticks
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=whole))  # few enough that they never run together
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small")
    return ax


def parameter_scatter(rows: pd.DataFrame, parameter: str, column: str, arms: list[str], scale: float = 1.0,
                      colours: dict[str, str] | None = None, ax: plt.Axes | None = None) -> plt.Axes:
    """One dot per point and arm: a column of ``sweep.csv`` against one parameter's value."""
    ax = _axes(ax, (6, 4))
    colours = colours or arm_colours(arms)
    for arm in arms:
        part = rows[rows["arm"] == arm]
        ax.scatter(part[parameter], scale * part[column], s=14, alpha=0.7, color=colours[arm], label=arm,
                   edgecolors="none")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small")
    return ax


def _cell_edges(values: np.ndarray) -> np.ndarray:
    """Edges of cells centred on sorted ``values``: half-way between neighbours, as far out at the ends."""
    if len(values) == 1:
        half = 0.5 * max(abs(float(values[0])), 1.0)
        return np.array([values[0] - half, values[0] + half])
    middles = (values[1:] + values[:-1]) / 2
    return np.concatenate([[2 * values[0] - middles[0]], middles, [2 * values[-1] - middles[-1]]])


def constant_panel(matrix: pd.DataFrame) -> float | None:
    """The one value of a grid that does not vary (to three significant digits, as its cells are labelled)."""
    data = matrix.to_numpy(dtype=float)
    finite = data[np.isfinite(data)]
    if finite.size < 2 or len({f"{v:.3g}" for v in finite}) > 1:
        return None
    return float(finite[0])


def heat_map(matrix: pd.DataFrame, colour_label: str, limits: tuple[float, float] | None = None,
             ax: plt.Axes | None = None, base: tuple[float | None, float | None] | None = None,
             colour_bar: bool = True) -> plt.Axes:
    """A grid of values (rows: the y parameter's values, columns: the x parameter's), each cell labelled.

    Cells sit at the parameters' values on linear axes, so unequal steps (a taper of 4, 8, 12, 16, 24
    weeks) are drawn as unequal cells. ``limits``: the colour scale (default the values' range), e.g.
    shared by several panels; limits of both signs are coloured around 0 (red below, blue above),
    otherwise a sequential scale. ``base``: the base scenario's (x, y), circled. A grid that does not
    vary is drawn grey with its one value written across it, not coloured as if it varied.
    """
    ax = _axes(ax, (6, 4.5))
    data = matrix.to_numpy(dtype=float)
    xs, ys = (np.asarray(v, dtype=float) for v in (matrix.columns, matrix.index))
    x_edges, y_edges = _cell_edges(xs), _cell_edges(ys)
    constant = constant_panel(matrix)
    if limits is None:
        finite = data[np.isfinite(data)]
        limits = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    low, high = limits
    if high - low <= 1e-9 * max(1.0, abs(high)):  # one value everywhere: a visible, centred scale
        low, high = low - 0.5, high + 0.5
    diverging = low < 0 < high
    reach = max(-low, high)
    if constant is not None:
        ax.pcolormesh(x_edges, y_edges, np.where(np.isfinite(data), 1.0, np.nan), cmap="Greys", vmin=0, vmax=6,
                      edgecolors="white", linewidth=0.5)
        ax.text(0.5, 0.95, f"{constant:.3g} everywhere:\ndoes not vary over the grid", transform=ax.transAxes,
                ha="center", va="top", zorder=5, fontsize="medium", bbox={"facecolor": "white", "alpha": 0.85,
                                                                   "edgecolor": "#7f7f7f"})
    else:
        norm: Any = TwoSlopeNorm(vcenter=0.0, vmin=-reach, vmax=reach) if diverging else None
        image = ax.pcolormesh(x_edges, y_edges, data, cmap="RdBu" if diverging else "viridis", norm=norm,
                              vmin=None if diverging else low, vmax=None if diverging else high,
                              edgecolors="white", linewidth=0.5)
        for (i, j), value in np.ndenumerate(data):
            if math.isfinite(value):
                dark = abs(value) > 0.6 * reach if diverging else value < (low + high) / 2
                ax.text(float(xs[j]), float(ys[i]), f"{value:.3g}", ha="center", va="center", fontsize="small",
                        color="white" if dark else "black")
        if colour_bar:
            ax.figure.colorbar(image, ax=ax, label=colour_label)
    ax.set_xticks(xs, [_short(v) for v in xs])
    ax.set_yticks(ys, [_short(v) for v in ys])
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.set_ylim(y_edges[0], y_edges[-1])
    if base is not None and base[0] is not None and base[1] is not None:
        ax.plot([base[0]], [base[1]], marker="o", markersize=22, markerfacecolor="none", markeredgecolor="black",
                markeredgewidth=2.0, linestyle="", label="base scenario")
    return ax


def sobol_bars(rows: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """First-order (S1) and total (ST) Sobol indices per parameter, with their confidence half-widths."""
    ax = _axes(ax, (6, 0.45 * len(rows) + 1.5))
    y = np.arange(len(rows))
    ax.barh(y - 0.2, rows["S1"], xerr=rows["S1_conf"], height=0.38, color="#4c72b0", capsize=2,
            label="S1 (first order)")
    ax.barh(y + 0.2, rows["ST"], xerr=rows["ST_conf"], height=0.38, color="#dd8452", capsize=2, label="ST (total)")
    ax.set_yticks(y, list(rows["label"]), fontsize="x-small")
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="x-small")
    return ax


def morris_bars(rows: pd.DataFrame, scale: float = 1.0, ax: plt.Axes | None = None) -> plt.Axes:
    """Morris mu* (mean absolute elementary effect, with its interval) and sigma per parameter."""
    ax = _axes(ax, (6, 0.45 * len(rows) + 1.5))
    y = np.arange(len(rows))
    ax.barh(y - 0.2, scale * rows["mu_star"], xerr=scale * rows["mu_star_conf"], height=0.38, color="#4c72b0",
            capsize=2, label="μ* (mean |effect|)")
    ax.barh(y + 0.2, scale * rows["sigma"], height=0.38, color="#c7c7c7", hatch="//", edgecolor="#7f7f7f",
            label="σ (interaction / non-linearity)")
    ax.set_yticks(y, list(rows["label"]), fontsize="x-small")
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="x-small")
    return ax


def difference_histogram(differences: dict[str, np.ndarray], colours: dict[str, str] | None = None,
                         ax: plt.Axes | None = None, zero_line: bool = True) -> plt.Axes:
    """Histograms of values over parameter draws (between-arm differences, or an arm's means), one outline per arm
    on shared bins, with the zero line of no difference unless ``zero_line`` is False."""
    ax = _axes(ax, (7, 4.4))
    colours = colours or arm_colours(list(differences))
    every = np.concatenate([np.asarray(v, dtype=float) for v in differences.values()]) if differences else np.array([])
    every = every[np.isfinite(every)]
    bins: Any = np.histogram_bin_edges(every, bins=30) if every.size else 10
    for arm, values in differences.items():  # outlines, so that no overlap reads as another arm's colour
        ax.hist(values, bins=bins, histtype="step", color=colours[arm], linewidth=2.0, label=arm)
    if zero_line:
        ax.axvline(0, color="black", linewidth=1, label="no difference")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def best_probability_bars(psa: pd.DataFrame, outcome_labels: dict[str, str], colours: dict[str, str] | None = None,
                          ax: plt.Axes | None = None) -> plt.Axes:
    """Probability (%) that each arm is best on each outcome, with exact 95% intervals."""
    ax = _axes(ax, (7, 4.4))
    arms = list(dict.fromkeys(psa["arm"]))
    colours = colours or arm_colours(arms)
    outcomes = [o for o in outcome_labels if (psa["outcome"] == o).any()]
    width = 0.8 / max(1, len(arms))
    for k, arm in enumerate(arms):
        part = psa[psa["arm"] == arm].set_index("outcome").loc[outcomes]
        x = np.arange(len(outcomes)) - 0.4 + width * (k + 0.5)
        centre = 100 * part["probability_best"].to_numpy(dtype=float)
        low = 100 * part["probability_best_ci_low"].to_numpy(dtype=float)
        high = 100 * part["probability_best_ci_high"].to_numpy(dtype=float)
        ax.bar(x, centre, width=width, color=colours[arm], label=arm,
               yerr=[centre - low, high - centre], capsize=3)
    ax.set_xticks(range(len(outcomes)), [outcome_labels[o] for o in outcomes])
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def difference_scatter(frame: pd.DataFrame, x: str, y: str, x_scale: float = 1.0, y_scale: float = 1.0,
                       colours: dict[str, str] | None = None, ax: plt.Axes | None = None) -> plt.Axes:
    """One dot per parameter draw and arm: two differences from the reference against each other."""
    ax = _axes(ax, (6.5, 5))
    arms = list(dict.fromkeys(frame["arm"]))
    colours = colours or arm_colours(arms)
    for arm in arms:
        part = frame[frame["arm"] == arm]
        ax.scatter(x_scale * part[x], y_scale * part[y], s=12, alpha=0.6, color=colours[arm], label=arm,
                   edgecolors="none")
    ax.axvline(0, color="black", linewidth=0.6)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", title="arm vs reference", title_fontsize="small")
    return ax
