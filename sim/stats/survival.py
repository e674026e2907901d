"""Survival estimators: Kaplan-Meier, restricted mean survival time and Aalen-Johansen cumulative incidence.

Restricted mean survival time (RMST) of an endpoint is the area under its Kaplan-Meier curve from 0
to the horizon; with one replication its variance is Greenwood-type (Klein & Moeschberger, *Survival
Analysis*, 2nd ed., 4.5). Curves, bands and medians come from lifelines; the Aalen-Johansen
interval is the delta-method log(-log) interval of lifelines' documentation (Collett, *Modelling
Survival Data in Medical Research*, 3rd ed., p. 411).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["aalen_johansen", "kaplan_meier", "km_curve", "km_fit", "median_of_fit", "normal_interval", "rmst",
           "rmst_by_unit", "step_values"]

_Z = float(stats.norm.ppf(0.975))


def kaplan_meier(weeks: np.ndarray, observed: np.ndarray) -> pd.DataFrame:
    """Kaplan-Meier table at each distinct event time: ``week, at_risk, events, survival``.

    Censorings at an event time count as at risk at that time (the usual convention).
    """
    times, at_risk, events, survival = _km_arrays(weeks, observed)
    return pd.DataFrame({"week": times, "at_risk": at_risk, "events": events, "survival": survival})


def _km_arrays(weeks: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    weeks = np.asarray(weeks, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    order = np.sort(weeks)
    times, events = np.unique(weeks[observed], return_counts=True)
    at_risk = len(weeks) - np.searchsorted(order, times, side="left")
    return times, at_risk, events, np.cumprod(1.0 - events / at_risk)


def rmst(table: pd.DataFrame, horizon_weeks: float) -> tuple[float, float]:
    """Restricted mean survival time of a :func:`kaplan_meier` table up to the horizon, and its variance.

    RMST = integral of S from 0 to the horizon (S held at its last value beyond the last time);
    variance = sum over event times t_i <= horizon of A_i^2 d_i / (n_i (n_i - d_i)), with A_i the
    area under S from t_i to the horizon (Klein & Moeschberger 4.5).
    """
    return _rmst_arrays(table["week"].to_numpy(dtype=float), table["at_risk"].to_numpy(dtype=float),
                        table["events"].to_numpy(dtype=float), table["survival"].to_numpy(dtype=float),
                        horizon_weeks)


def _rmst_arrays(times: np.ndarray, n: np.ndarray, d: np.ndarray, survival: np.ndarray,
                 horizon_weeks: float) -> tuple[float, float]:
    keep = times <= horizon_weeks
    times, n, d, survival = times[keep], n[keep].astype(float), d[keep].astype(float), survival[keep]
    edges = np.append(times, horizon_weeks)
    levels = np.append(1.0, survival)  # S on [0, t_1), [t_1, t_2), ..., [t_k, horizon]
    widths = np.diff(np.append(0.0, edges))
    areas = levels * widths
    total = float(areas.sum())
    after = np.cumsum(areas[::-1])[::-1][1:]  # area from each t_i to the horizon
    # Where everyone left has the event, S drops to 0 and nothing is left to integrate (A_i = 0).
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > d, after**2 * d / (n * (n - d)), 0.0)
    return total, float(terms.sum())


def aalen_johansen(weeks: np.ndarray, causes: np.ndarray, cause: int) -> pd.DataFrame:
    """Cumulative incidence of one cause (codes > 0; 0 is censored) by lifelines' Aalen-Johansen fitter.

    Returns ``week, at_risk, estimate, variance, ci_low, ci_high`` at each time of lifelines' table.
    The variance is lifelines' own formula (Collett p. 411) written with cumulative sums, because
    lifelines evaluates it row by row, which takes seconds for tens of thousands of patients.
    Tied times of different causes are broken by lifelines' jitter with a fixed seed.
    """
    from lifelines import AalenJohansenFitter

    state = np.random.get_state()  # lifelines seeds numpy's global generator to jitter ties
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitter = AalenJohansenFitter(calculate_variance=False, seed=0)
            fitter.fit(np.asarray(weeks, dtype=float), np.asarray(causes, dtype=int), event_of_interest=cause)
    finally:
        np.random.set_state(state)
    table = fitter.event_table
    estimate = fitter.cumulative_density_.iloc[:, 0].to_numpy()
    n = table["at_risk"].to_numpy(dtype=float)
    d = table["observed"].to_numpy(dtype=float)
    d_cause = table[f"observed_{cause}"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        overall = np.cumprod(1.0 - np.where(n > 0, d / n, 0.0))
        lag = np.append(1.0, overall[:-1])
        # Once everyone left has had an event F no longer changes, so (F - F_i) = 0 multiplies a_i.
        a = np.where(n > d, d / n / (n - d), 0.0)
        b = lag**2 * d_cause * (n - d_cause) / n**3
        c = lag * d_cause / n**2
        a, b, c = (np.nan_to_num(x, nan=0.0) for x in (a, b, c))
        # sum_i a_i (F - F_i)^2 + sum_i b_i - 2 sum_i c_i (F - F_i), each sum over times up to now
        variance = (np.cumsum(a) * estimate**2 - 2 * estimate * np.cumsum(a * estimate)
                    + np.cumsum(a * estimate**2) + np.cumsum(b)
                    - 2 * (estimate * np.cumsum(c) - np.cumsum(c * estimate)))
        variance = np.maximum(variance, 0.0)
        log_f = np.log(estimate)
        se = np.sqrt(variance) / (estimate * np.abs(log_f))
        low = np.exp(-np.exp(np.log(-log_f) + _Z * se))
        high = np.exp(-np.exp(np.log(-log_f) - _Z * se))
    return pd.DataFrame({"week": table.index.to_numpy(dtype=float), "at_risk": n, "estimate": estimate,
                         "variance": variance, "ci_low": low, "ci_high": high})


def step_values(times: np.ndarray, values: np.ndarray, at: np.ndarray, before: float) -> np.ndarray:
    """Right-continuous step function through (times, values), ``before`` ahead of the first time."""
    index = np.searchsorted(times, at, side="right") - 1
    padded = np.append(values, before)  # index -1 picks ``before``
    return padded[index]


def km_fit(weeks: np.ndarray, event: np.ndarray) -> Any:
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter(alpha=0.05).fit(weeks, event)


def km_curve(fitter: Any, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Survival, band and number at risk of a lifelines fit at the grid weeks."""
    times = fitter.survival_function_.index.to_numpy(dtype=float)
    survival = step_values(times, fitter.survival_function_.iloc[:, 0].to_numpy(), grid, 1.0)
    band = fitter.confidence_interval_
    low = step_values(times, band.iloc[:, 0].to_numpy(), grid, 1.0)
    high = step_values(times, band.iloc[:, 1].to_numpy(), grid, 1.0)
    durations = np.sort(np.asarray(fitter.durations, dtype=float))
    at_risk = len(durations) - np.searchsorted(durations, grid, side="left")
    return survival, low, high, at_risk


def median_of_fit(fitter: Any) -> tuple[float, float, float]:
    from lifelines.utils import median_survival_times

    def finite(value: float) -> float:
        return float(value) if np.isfinite(value) else math.nan

    band = median_survival_times(fitter.confidence_interval_)
    return finite(fitter.median_survival_time_), finite(band.iloc[0, 0]), finite(band.iloc[0, 1])


def rmst_by_unit(events: pd.DataFrame, horizon_weeks: float) -> pd.DataFrame:
    """RMST and its variance per (arm, replication)."""
    rows = []
    weeks, event = events["weeks"].to_numpy(dtype=float), events["event"].to_numpy(dtype=bool)
    for (arm, replication), index in events.groupby(["arm", "replication"], sort=False).indices.items():
        value, variance = _rmst_arrays(*_km_arrays(weeks[index], event[index]), horizon_weeks)
        rows.append({"arm": arm, "replication": replication, "rmst": value, "variance": variance})
    return pd.DataFrame(rows, columns=["arm", "replication", "rmst", "variance"])


def normal_interval(value: float, variance: float) -> tuple[float, float, float]:
    if not np.isfinite(variance):
        return value, math.nan, math.nan
    half = _Z * math.sqrt(variance)
    return value, value - half, value + half
