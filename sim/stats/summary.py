"""Summaries of a patients table: per-arm means and paired differences with 95% intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from sim.outcomes import summary_metrics as registry_metrics

__all__ = ["arms_in_order", "cohorts", "compare", "mean_interval", "summarise", "summary_metrics"]


def summary_metrics(patients: pd.DataFrame) -> list[str]:
    """The metrics summarised for a patients table: the registry's and each cumulative dose."""
    return registry_metrics(list(patients.columns))


def arms_in_order(frame: pd.DataFrame) -> list[str]:
    """The arms of a table, in the order they first appear."""
    return list(dict.fromkeys(frame["arm"]))


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval of independent values (the interval is NaN for fewer than two)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    centre = float(values.mean()) if n else math.nan
    if n < 2:
        return centre, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return centre, centre - half, centre + half


def _units(patients: pd.DataFrame, metrics: list[str]) -> tuple[pd.DataFrame, str]:
    """Values to take intervals over: replication means, or patients when there is one replication."""
    numeric = patients[["replication", "arm", "patient", *metrics]].copy()
    numeric[metrics] = numeric[metrics].astype(float)
    if numeric["replication"].nunique() > 1:
        return numeric.groupby(["arm", "replication"], sort=False)[metrics].mean().reset_index(), "replication"
    return numeric, "patient"


def cohorts(patients: pd.DataFrame) -> list[tuple[str | None, pd.DataFrame]]:
    """The whole cohort, then each subgroup (sorted), when the table has a subgroup column."""
    if "subgroup" not in patients.columns:
        return [(None, patients)]
    groups = sorted(patients["subgroup"].dropna().unique())
    return [("all", patients)] + [(g, patients[patients["subgroup"] == g]) for g in groups]


def _with_subgroup(rows: list[dict[str, object]], columns: list[str], subgroups: bool) -> pd.DataFrame:
    if subgroups:
        columns = [columns[0], "subgroup", *columns[1:]]
    return pd.DataFrame(rows, columns=columns)


def summarise(patients: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Per arm and metric: the mean and its 95% interval from the spread of replication means.

    With a single replication the interval comes from the patients instead. With subgroups, rows
    for the whole cohort (subgroup ``all``) are followed by rows for each subgroup.
    """
    metrics = summary_metrics(patients) if metrics is None else metrics
    rows = []
    for label, cohort in cohorts(patients):
        units, _ = _units(cohort, metrics)
        for arm, group in units.groupby("arm", sort=False):
            for metric in metrics:
                mean, low, high = mean_interval(group[metric].to_numpy())
                row = {"arm": arm, "metric": metric, "mean": mean, "ci_low": low, "ci_high": high}
                if label is not None:
                    row["subgroup"] = label
                rows.append(row)
    return _with_subgroup(rows, ["arm", "metric", "mean", "ci_low", "ci_high"], "subgroup" in patients.columns)


def compare(patients: pd.DataFrame, reference_arm: str, metrics: list[str] | None = None) -> pd.DataFrame:
    """Each arm minus the reference arm, paired by replication (or by patient with one replication).

    Arms share their random numbers, so the pairing removes the variation that both arms see. With
    subgroups, rows for the whole cohort (``all``) are followed by rows for each subgroup.
    """
    metrics = summary_metrics(patients) if metrics is None else metrics
    rows = []
    for label, cohort in cohorts(patients):
        units, key = _units(cohort, metrics)
        reference = units[units["arm"] == reference_arm].set_index(key)[metrics]
        for arm, group in units.groupby("arm", sort=False):
            if arm == reference_arm:
                continue
            other = group.set_index(key)[metrics]
            paired = other.join(reference, lsuffix="", rsuffix="_ref", how="inner")
            for metric in metrics:
                difference, low, high = mean_interval((paired[metric] - paired[f"{metric}_ref"]).to_numpy())
                row = {"arm": arm, "metric": metric, "difference": difference, "ci_low": low, "ci_high": high}
                if label is not None:
                    row["subgroup"] = label
                rows.append(row)
    return _with_subgroup(rows, ["arm", "metric", "difference", "ci_low", "ci_high"], "subgroup" in patients.columns)
