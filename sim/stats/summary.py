"""Summaries of a patients table: per-arm means and paired differences with 95% intervals, and what one cohort shows.

Beside each mean and its 95% confidence interval (the precision of the mean over all replications),
``summarise`` gives the 95% prediction interval ``pi_low, pi_high``: the central 95% of the
per-replication values, the range within which one cohort of the scenario's size falls in 95% of
cohorts. For true/false outcomes it adds rows ``<metric>_at_least_<r>_of_<n>``: the share of
replications (cohorts of n patients) in which at least r patients had the outcome, for r a quarter,
a half and three quarters of n, with its 95% Wilson interval over replications.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import ndtri, stdtrit

from sim.outcomes import summary_metrics as registry_metrics

__all__ = ["SUMMARY_COLUMNS", "Units", "arms_in_order", "at_least_counts", "at_least_metric", "at_least_thresholds",
           "binary_metrics", "cohorts", "compare", "mean_interval", "numeric_values", "prediction_interval",
           "replication_means", "summarise", "summary_metrics", "units_of", "wilson_interval"]

SUMMARY_COLUMNS = ["arm", "metric", "mean", "ci_low", "ci_high", "pi_low", "pi_high"]


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
    half = float(stdtrit(n - 1, 0.5 + level / 2) * values.std(ddof=1) / math.sqrt(n))  # the t quantile
    return centre, centre - half, centre + half


def prediction_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Central ``level`` of per-replication values (empirical quantiles, observed values); NaN for fewer than two.

    The quantiles are the inverse of the empirical distribution function (Hyndman and Fan's type 1),
    so each bound is a value some replication showed: for a proportion of n patients, a count over n.
    """
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return math.nan, math.nan
    tail = round((1.0 - level) / 2, 12)  # 0.025 exactly, not 0.025000000000000022: the quantile's rank is exact
    low, high = np.quantile(values, [tail, 1.0 - tail], method="inverted_cdf")
    return float(low), float(high)


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of k successes in n (Newcombe 1998), in the arithmetic of SciPy's
    ``binomtest(k, n).proportion_ci(method="wilson")``, without importing ``scipy.stats``."""
    p = k / n
    z = ndtri(0.5 + 0.5 * level)
    denom = 2 * (n + z**2)
    centre = (2 * n * p + z**2) / denom
    delta = z / denom * math.sqrt(4 * n * p * (1 - p) + z**2)
    return (0.0 if k == 0 else float(centre - delta)), (1.0 if k == n else float(centre + delta))


def at_least_thresholds(n: int) -> list[int]:
    """The counts r of ``P(at least r of n)`` a reader needs: a quarter, a half and three quarters of n (rounded up)."""
    return sorted({max(1, math.ceil(n * share)) for share in (0.25, 0.5, 0.75)})


def at_least_metric(metric: str, r: int, n: int) -> str:
    """The summary row name of P(at least r of n patients had ``metric``)."""
    return f"{metric}_at_least_{r}_of_{n}"


def binary_metrics(patients: pd.DataFrame, metrics: list[str]) -> list[str]:
    """The true/false metrics among ``metrics`` (those with ``at_least`` rows)."""
    return [m for m in metrics if m in patients.columns and patients[m].dtype == bool]


def at_least_counts(patients: pd.DataFrame, binary: list[str]) -> pd.DataFrame:
    """Per (arm, replication): how many patients had each true/false metric, and how many patients there were."""
    return patients.groupby(["arm", "replication"], sort=False)[binary].agg(["sum", "size"])


def _at_least_rows(counts: pd.DataFrame | None, binary: list[str]) -> list[dict[str, object]]:
    """P(at least r of n) rows of the true/false metrics from :func:`at_least_counts`, when every replication has
    n patients per arm and there are several replications (``counts`` None: fewer than two)."""
    if not binary or counts is None:
        return []
    rows: list[dict[str, object]] = []
    for arm, group in counts.groupby(level="arm", sort=False):
        for metric in binary:
            sizes = group[(metric, "size")].to_numpy()
            if len(set(sizes.tolist())) != 1:
                continue  # cohorts of different sizes: no single n
            n = int(sizes[0])
            hits = group[(metric, "sum")].to_numpy()
            for r in at_least_thresholds(n):
                k, total = int((hits >= r).sum()), len(hits)
                low, high = wilson_interval(k, total)
                rows.append({"arm": arm, "metric": at_least_metric(metric, r, n), "mean": k / total,
                             "ci_low": low, "ci_high": high, "pi_low": math.nan, "pi_high": math.nan})
    return rows


def numeric_values(patients: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """``replication, arm, patient`` and the metrics as floats: the values summaries average."""
    numeric = patients[["replication", "arm", "patient", *metrics]].copy()
    numeric[metrics] = numeric[metrics].astype(float)
    return numeric


def replication_means(numeric: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """``arm, replication`` and each metric's mean over the patients of :func:`numeric_values`, in order of first
    appearance. Each (arm, replication) depends only on its own patients, in their order, so a run can take the
    means one cohort at a time and get the same values."""
    return numeric.groupby(["arm", "replication"], sort=False)[metrics].mean().reset_index()


@dataclass
class Units:
    """What summaries take intervals over, per cohort (the whole cohort, then each subgroup): replication means,
    or the patients when the cohort has a single replication (``key``), and the whole cohort's at-least counts."""

    metrics: list[str]
    cohorts: list[tuple[str | None, pd.DataFrame, str]]  # label, units, key ("replication" or "patient")
    binary: list[str] = field(default_factory=list)
    counts: pd.DataFrame | None = None  # at_least_counts of the whole cohort, with several replications

    @property
    def subgroups(self) -> bool:
        return self.cohorts[0][0] is not None


def units_of(patients: pd.DataFrame, metrics: list[str] | None = None) -> Units:
    """The :class:`Units` of a patients table."""
    metrics = summary_metrics(patients) if metrics is None else metrics
    cohorts_units = []
    for label, cohort in cohorts(patients):
        numeric = numeric_values(cohort, metrics)
        if numeric["replication"].nunique() > 1:
            cohorts_units.append((label, replication_means(numeric, metrics), "replication"))
        else:
            cohorts_units.append((label, numeric, "patient"))
    binary = binary_metrics(patients, metrics)
    counts = at_least_counts(patients, binary) if binary and patients["replication"].nunique() >= 2 else None
    return Units(metrics, cohorts_units, binary, counts)


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


def summarise(patients: pd.DataFrame | Units, metrics: list[str] | None = None) -> pd.DataFrame:
    """Per arm and metric: the mean, its 95% interval, and the 95% prediction interval of one cohort.

    The confidence interval comes from the spread of replication means (with a single replication,
    from the patients). The prediction interval is the central 95% of the replication means (empty
    with a single replication). True/false metrics add their ``_at_least_r_of_n`` rows after each
    arm's metrics, for the whole cohort only (a subgroup's size varies between replications). With
    subgroups, rows for the whole cohort (subgroup ``all``) are followed by rows for each subgroup.
    """
    given = patients if isinstance(patients, Units) else units_of(patients, metrics)
    metrics = given.metrics
    rows: list[dict[str, object]] = []
    for label, units, key in given.cohorts:
        extra = _at_least_rows(given.counts, given.binary) if label in (None, "all") else []
        for arm, group in units.groupby("arm", sort=False):
            for metric in metrics:
                values = group[metric].to_numpy()
                mean, low, high = mean_interval(values)
                pi_low, pi_high = prediction_interval(values) if key == "replication" else (math.nan, math.nan)
                row = {"arm": arm, "metric": metric, "mean": mean, "ci_low": low, "ci_high": high, "pi_low": pi_low,
                       "pi_high": pi_high}
                rows.append(row)
            rows.extend(r for r in extra if r["arm"] == arm)
        if label is not None:
            for row in rows:
                row.setdefault("subgroup", label)
    return _with_subgroup(rows, SUMMARY_COLUMNS, given.subgroups)


def compare(patients: pd.DataFrame | Units, reference_arm: str, metrics: list[str] | None = None) -> pd.DataFrame:
    """Each arm minus the reference arm, paired by replication (or by patient with one replication).

    Arms share their random numbers, so the pairing removes the variation that both arms see. With
    subgroups, rows for the whole cohort (``all``) are followed by rows for each subgroup.
    """
    given = patients if isinstance(patients, Units) else units_of(patients, metrics)
    metrics = given.metrics
    rows = []
    for label, units, key in given.cohorts:
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
    return _with_subgroup(rows, ["arm", "metric", "difference", "ci_low", "ci_high"], given.subgroups)
