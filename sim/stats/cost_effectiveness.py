"""Cost-effectiveness of a run's arms: mean costs and QALYs, the incremental analysis, net monetary benefit.

Works on a patients table with the columns ``cost``, ``qalys``, ``cost_undiscounted`` and
``qalys_undiscounted``. Means and their 95% intervals come from the spread of replication means
(Student t; from the patients with one replication), as in ``sim.stats.summary``; the net monetary
benefit of an arm at a threshold lambda is ``lambda * qalys - cost`` and its difference from the
reference arm is paired by replication (arms share their random numbers). The incremental analysis
(strict and extended dominance, ICERs along the frontier) is on the arms' mean cost and QALYs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from sim.stats.economics import incremental_analysis
from sim.stats.summary import mean_interval

__all__ = ["ECONOMIC_COLUMNS", "economics_table", "threshold_label"]

ECONOMIC_COLUMNS = ("cost", "qalys", "cost_undiscounted", "qalys_undiscounted")
"""The per-patient columns of a scenario with economics (discounted first)."""


def threshold_label(threshold: float) -> str:
    """A threshold as it appears in column names: ``nmb_20000``."""
    return f"{threshold:.10g}"


def _units(patients: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Per-replication means of the economic columns (or the patients themselves with one replication)."""
    columns = [c for c in ECONOMIC_COLUMNS if c in patients.columns]
    table = patients[["replication", "arm", "patient", *columns]].copy()
    table[columns] = table[columns].astype(float)
    if table["replication"].nunique() > 1:
        return table.groupby(["arm", "replication"], sort=False)[columns].mean().reset_index(), "replication"
    return table, "patient"


def economics_table(patients: pd.DataFrame, reference_arm: str, thresholds: Sequence[float]) -> pd.DataFrame:
    """``economics.csv``: one row per arm in cost order.

    Columns: arm; ``cost``, ``qalys``, ``cost_undiscounted`` and ``qalys_undiscounted``, each with
    ``_ci_low`` and ``_ci_high``; ``cost_difference`` and ``qalys_difference``, the arm's minus the reference
    arm's, paired, with their intervals; the incremental analysis (``status``, ``dominated_by``,
    ``incremental_cost``, ``incremental_qalys``, ``icer`` against the previous non-dominated arm);
    for each threshold T, ``nmb_T`` (with its interval) and ``nmb_difference_T``, the arm's net
    monetary benefit minus the reference arm's, paired, with its interval.
    """
    if not thresholds:
        raise ValueError("economics_table needs at least one threshold")
    units, key = _units(patients)
    arms = list(dict.fromkeys(patients["arm"]))
    if reference_arm not in arms:
        raise ValueError(f"reference arm {reference_arm!r} is not in the table ({', '.join(arms)})")
    rows: dict[str, dict[str, object]] = {}
    means: dict[str, tuple[float, float]] = {}
    for arm in arms:
        group = units[units["arm"] == arm]
        row: dict[str, object] = {"arm": arm}
        for column in ECONOMIC_COLUMNS:
            mean, low, high = mean_interval(group[column].to_numpy())
            row.update({column: mean, f"{column}_ci_low": low, f"{column}_ci_high": high})
        rows[arm] = row
        means[arm] = (float(group["cost"].mean()), float(group["qalys"].mean()))
    incremental = incremental_analysis(arms, [means[a][0] for a in arms], [means[a][1] for a in arms])
    reference = units[units["arm"] == reference_arm].set_index(key)
    for record in incremental.itertuples(index=False):
        row = rows[str(record.arm)]
        row.update({"status": record.status, "dominated_by": record.dominated_by or "",
                    "incremental_cost": record.incremental_cost, "incremental_qalys": record.incremental_effect,
                    "icer": record.icer})
        group = units[units["arm"] == record.arm].set_index(key)
        paired = group.join(reference, rsuffix="_ref", how="inner")
        for column in ("cost", "qalys"):
            if record.arm == reference_arm:
                difference = d_low = d_high = math.nan
            else:
                difference, d_low, d_high = mean_interval((paired[column] - paired[f"{column}_ref"]).to_numpy())
            row.update({f"{column}_difference": difference, f"{column}_difference_ci_low": d_low,
                        f"{column}_difference_ci_high": d_high})
        for threshold in thresholds:
            label = threshold_label(threshold)
            nmb = threshold * group["qalys"] - group["cost"]
            mean, low, high = mean_interval(nmb.to_numpy())
            row.update({f"nmb_{label}": mean, f"nmb_{label}_ci_low": low, f"nmb_{label}_ci_high": high})
            if record.arm == reference_arm:
                difference = d_low = d_high = math.nan
            else:
                gain = threshold * (paired["qalys"] - paired["qalys_ref"]) - (paired["cost"] - paired["cost_ref"])
                difference, d_low, d_high = mean_interval(gain.to_numpy())
            row.update({f"nmb_difference_{label}": difference, f"nmb_difference_{label}_ci_low": d_low,
                        f"nmb_difference_{label}_ci_high": d_high})
    order = list(incremental["arm"])
    table = pd.DataFrame([rows[a] for a in order])
    return table.reset_index(drop=True)

