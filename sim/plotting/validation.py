"""The validation figure: published outcomes against the simulated range, one row per outcome."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sim.plotting.style import new_axes

__all__ = ["plot_validation"]


def plot_validation(table: pd.DataFrame, unit: str = "proportion", ax: Any = None) -> Any:
    """Draw one unit's outcomes of a validation table on ``ax`` and return it.

    Per row: the simulated central 95% (bar) and median (dot), the evidence band (grey) and the
    published value (cross; red when outside).
    """
    rows = table[table["unit"] == unit].reset_index(drop=True)
    ax = new_axes(ax, (8, 0.4 * len(rows) + 1))
    scale = 100.0 if unit == "proportion" else 1.0
    seen: set[str] = set()

    def once(label: str) -> str | None:
        """Each legend entry once per axes."""
        if label in seen:
            return None
        seen.add(label)
        return label

    for y, r in enumerate(rows.itertuples()):
        if pd.notna(r.band_low):
            ax.plot([r.band_low * scale, r.band_high * scale], [y, y], color="0.8", linewidth=9,
                    solid_capstyle="butt", zorder=1, label=once("evidence band"))
        ax.plot([r.simulated_low * scale, r.simulated_high * scale], [y, y], color="tab:blue", linewidth=2.5,
                zorder=2, label=once("simulated central 95%"))
        ax.plot(r.simulated_median * scale, y, "o", color="tab:blue", zorder=3,
                label=once("simulated median"))
        if r.criterion == "pooled_in_band":
            ax.plot(r.simulated_overall * scale, y, "D", color="tab:green", markersize=5, zorder=4,
                    label=once("model, all patients (§9c)"))
        if pd.notna(r.observed):
            ax.plot(r.observed * scale, y, "x", color="black" if r.inside else "tab:red", markersize=9,
                    markeredgewidth=2, zorder=5, label=once("published"))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r.study.split(' ')[0]} {r.outcome}" + ("" if r.inside else "  (outside)")
                        for r in rows.itertuples()], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel({"proportion": "percent of patients (or of relapses)", "weeks": "weeks",
                   "g": "grams per patient (mean of a cohort)"}.get(unit, unit))
    ax.grid(axis="x", alpha=0.3)
    return ax
