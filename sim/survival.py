"""Time-to-event and time-course analysis of a results folder's saved tables.

Everything here works on the columns of ``patients.csv`` and ``events.csv``, never on model objects.

Time-to-event endpoints (weeks; a patient without the event is censored at ``observed_weeks``):

- ``time_to_dropout``: from enrolment to the first discontinuation for an adverse event or loss to
  follow-up (``dropout_week``);
- ``time_to_complete_response``: from enrolment to the first remission
  (``time_to_complete_response_weeks``);
- ``time_to_relapse_after_remission``: from the first remission to the first relapse after it
  (``relapse_after_remission_week - time_to_complete_response_weeks``), patients who reached
  remission only.

Restricted mean survival time (RMST) of an endpoint: the area under its Kaplan-Meier curve from 0
to ``follow_up_weeks``, i.e. the mean number of event-free weeks within the horizon (beyond the last
observed time the curve keeps its last value). It is computed per replication and averaged, with a
Student-t interval over replications and differences paired by replication, exactly as
``sim.analysis`` treats the per-patient metrics; with one replication the interval comes from the
Greenwood-type variance of the RMST (Klein & Moeschberger, *Survival Analysis*, 2nd ed., 4.5) and the
difference's interval adds the two arms' variances (conservative: arms share random numbers).
Curves, bands, medians and numbers at risk come from lifelines fitted on the pooled patients of
each arm. ``disease_free`` reports the mean of ``disease_free_weeks`` (time in remission over the
observed time, itself restricted to the follow-up) in the same way.

Competing risks: each patient's first event among discontinuation for each adverse event
(``discontinuation.<adverse event>``), relapse (``first_relapse``) and loss to follow-up
(``lost_to_follow_up``), or censoring at ``observed_weeks``; Aalen-Johansen cumulative incidence of
each with lifelines' ``AalenJohansenFitter`` and the delta-method log(-log) interval of its
documentation (Collett, *Modelling Survival Data in Medical Research*, 3rd ed., p. 411).

Files written by :func:`write_tables` (floats with six decimals, missing values empty):

- ``survival.csv``: ``arm, endpoint, statistic, week, value, ci_low, ci_high`` with statistics
  ``patients``, ``events``, ``median_weeks``, ``rmst_weeks``, ``rmst_difference_weeks``,
  ``at_risk`` (at each ``week`` of the at-risk table), ``mean_weeks``, ``mean_difference_weeks`` and
  ``cumulative_incidence`` (at 52 weeks and at the horizon). ``week`` is empty when the statistic is
  not taken at a time; a median not reached is empty.
- ``survival_curves.csv``: ``arm, endpoint, week, estimate, ci_low, ci_high, at_risk`` on a grid of
  ``CURVE_POINTS`` weeks from 0 to the horizon: the Kaplan-Meier probability of being event-free for
  the three endpoints, the cumulative incidence for the competing events.
- ``state_occupancy.csv``: ``arm, week, state, patients, share``: patients in ``active``,
  ``response``, ``remission`` and ``lost`` (off study) at each grid week, among the patients whose
  events were logged.

With subgroups, ``survival.csv`` and ``survival_curves.csv`` have a ``subgroup`` column after
``arm``, as ``summary.csv`` does: the rows of the whole cohort (``all``) come first, then those of
each subgroup (sorted), each computed on that subgroup's patients alone (differences with the
reference arm within the subgroup). The figures and the report use the whole cohort's rows.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from sim.analysis import cohorts, compare, mean_interval, summarise

__all__ = [
    "CURVE_POINTS",
    "ENDPOINTS",
    "RunTables",
    "aalen_johansen",
    "at_risk_weeks",
    "cumulative_incidence",
    "distribution",
    "first_events",
    "kaplan_meier",
    "kaplan_meier_fits",
    "read_events",
    "read_patients",
    "rmst",
    "state_occupancy",
    "survival_curves",
    "survival_table",
    "swimmer_sample",
    "time_to_event",
    "whole_cohort",
    "write_tables",
]

ENDPOINTS = {
    "time_to_dropout": "Time to dropout",
    "time_to_complete_response": "Time to complete response",
    "time_to_relapse_after_remission": "Time to relapse after first remission",
}
"""Kaplan-Meier endpoints and their labels."""

STATES = ["active", "response", "remission", "lost"]
"""Disease states of the occupancy table; ``lost`` is off study after loss to follow-up."""

CURVE_POINTS = 521
"""Grid points of the saved curves (every quarter week over 130 weeks)."""

SURVIVAL_COLUMNS = ["arm", "endpoint", "statistic", "week", "value", "ci_low", "ci_high"]
CURVE_COLUMNS = ["arm", "endpoint", "week", "estimate", "ci_low", "ci_high", "at_risk"]
OCCUPANCY_COLUMNS = ["arm", "week", "state", "patients", "share"]

_Z = float(stats.norm.ppf(0.975))


# --- reading ----------------------------------------------------------------------------------

def read_patients(path: str | Path) -> pd.DataFrame:
    """``patients.csv`` with names as strings, booleans as booleans and missing times as NaN."""
    return pd.read_csv(path, dtype={"arm": str, "dropout_reason": str, "final_state": str, "subgroup": str})


def read_events(path: str | Path) -> pd.DataFrame:
    """``events.csv`` (possibly only its header) with names as strings."""
    return pd.read_csv(path, dtype={"arm": str, "event": str, "therapy": str, "detail": str,
                                    "week": float})


# --- estimators -------------------------------------------------------------------------------

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


def _step_values(times: np.ndarray, values: np.ndarray, at: np.ndarray, before: float) -> np.ndarray:
    """Right-continuous step function through (times, values), ``before`` ahead of the first time."""
    index = np.searchsorted(times, at, side="right") - 1
    padded = np.append(values, before)  # index -1 picks ``before``
    return padded[index]


# --- derived tables ---------------------------------------------------------------------------

def time_to_event(patients: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    """``arm, replication, patient, weeks, event`` of one endpoint of :data:`ENDPOINTS`."""
    observed_weeks = patients["observed_weeks"].to_numpy(dtype=float)
    if endpoint == "time_to_dropout":
        event = patients["dropout"].to_numpy(dtype=bool)
        weeks = np.where(event, patients["dropout_week"].to_numpy(dtype=float), observed_weeks)
        rows = np.ones(len(patients), dtype=bool)
    elif endpoint == "time_to_complete_response":
        event = patients["complete_response"].to_numpy(dtype=bool)
        weeks = np.where(event, patients["time_to_complete_response_weeks"].to_numpy(dtype=float), observed_weeks)
        rows = np.ones(len(patients), dtype=bool)
    elif endpoint == "time_to_relapse_after_remission":
        rows = patients["complete_response"].to_numpy(dtype=bool)
        start = patients["time_to_complete_response_weeks"].to_numpy(dtype=float)
        relapse = patients["relapse_after_remission_week"].to_numpy(dtype=float)
        event = ~np.isnan(relapse)
        weeks = np.where(event, relapse, observed_weeks) - start
    else:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {', '.join(ENDPOINTS)}")
    frame = patients.loc[rows, ["arm", "replication", "patient"]].reset_index(drop=True)
    frame["weeks"] = weeks[rows]
    frame["event"] = event[rows]
    return frame


def first_events(patients: pd.DataFrame) -> pd.DataFrame:
    """``arm, replication, patient, weeks, cause``: each patient's first competing event.

    Causes: ``discontinuation.<adverse event>``, ``first_relapse``, ``lost_to_follow_up``; empty
    (NaN) when censored at ``observed_weeks``. A discontinuation at the very week of a relapse comes
    first, as in the model.
    """
    dropout = patients["dropout"].to_numpy(dtype=bool)
    dropout_week = patients["dropout_week"].to_numpy(dtype=float)
    relapse_week = patients["first_relapse_week"].to_numpy(dtype=float)
    reason = patients["dropout_reason"].to_numpy(dtype=object)
    dropout_first = dropout & ~(relapse_week < dropout_week)
    relapse_first = ~dropout_first & ~np.isnan(relapse_week)
    cause = np.full(len(patients), None, dtype=object)
    cause[dropout_first] = [r if r == "lost_to_follow_up" else f"discontinuation.{r}" for r in reason[dropout_first]]
    cause[relapse_first] = "first_relapse"
    weeks = np.where(dropout_first, dropout_week,
                     np.where(relapse_first, relapse_week, patients["observed_weeks"].to_numpy(dtype=float)))
    frame = patients[["arm", "replication", "patient"]].reset_index(drop=True)
    frame["weeks"] = weeks
    frame["cause"] = cause
    return frame


def at_risk_weeks(horizon_weeks: float) -> np.ndarray:
    """Weeks of the at-risk table: multiples of a round step (1, 2, 4, 8, 13, 26, 52, ... weeks)."""
    steps = [1, 2, 4, 8, 13, 26, 52, 104, 208, 416, 832]
    step = next((s for s in steps if horizon_weeks / s <= 10), steps[-1])
    return np.arange(0.0, horizon_weeks + 1e-9, step)


def curve_weeks(horizon_weeks: float) -> np.ndarray:
    """The grid of the saved curves and of the occupancy table."""
    return np.linspace(0.0, horizon_weeks, CURVE_POINTS)


def _arms(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["arm"]))


def _km_fit(weeks: np.ndarray, event: np.ndarray) -> Any:
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter(alpha=0.05).fit(weeks, event)


def kaplan_meier_fits(patients: pd.DataFrame) -> dict[tuple[str, str], Any]:
    """lifelines Kaplan-Meier fits of each (endpoint, arm) on the pooled patients of the arm."""
    fits = {}
    for endpoint in ENDPOINTS:
        events = time_to_event(patients, endpoint)
        for arm, group in events.groupby("arm", sort=False):
            fits[(endpoint, arm)] = _km_fit(group["weeks"].to_numpy(), group["event"].to_numpy())
    return fits


def _km_curve(fitter: Any, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Survival, band and number at risk of a lifelines fit at the grid weeks."""
    times = fitter.survival_function_.index.to_numpy(dtype=float)
    survival = _step_values(times, fitter.survival_function_.iloc[:, 0].to_numpy(), grid, 1.0)
    band = fitter.confidence_interval_
    low = _step_values(times, band.iloc[:, 0].to_numpy(), grid, 1.0)
    high = _step_values(times, band.iloc[:, 1].to_numpy(), grid, 1.0)
    durations = np.sort(np.asarray(fitter.durations, dtype=float))
    at_risk = len(durations) - np.searchsorted(durations, grid, side="left")
    return survival, low, high, at_risk


def _median(fitter: Any) -> tuple[float, float, float]:
    from lifelines.utils import median_survival_times

    def finite(value: float) -> float:
        return float(value) if np.isfinite(value) else math.nan

    band = median_survival_times(fitter.confidence_interval_)
    return finite(fitter.median_survival_time_), finite(band.iloc[0, 0]), finite(band.iloc[0, 1])


def _rmst_by_unit(events: pd.DataFrame, horizon_weeks: float) -> pd.DataFrame:
    """RMST and its variance per (arm, replication)."""
    rows = []
    weeks, event = events["weeks"].to_numpy(dtype=float), events["event"].to_numpy(dtype=bool)
    for (arm, replication), index in events.groupby(["arm", "replication"], sort=False).indices.items():
        value, variance = _rmst_arrays(*_km_arrays(weeks[index], event[index]), horizon_weeks)
        rows.append({"arm": arm, "replication": replication, "rmst": value, "variance": variance})
    return pd.DataFrame(rows, columns=["arm", "replication", "rmst", "variance"])


def _normal_interval(value: float, variance: float) -> tuple[float, float, float]:
    if not np.isfinite(variance):
        return value, math.nan, math.nan
    half = _Z * math.sqrt(variance)
    return value, value - half, value + half


def whole_cohort(table: pd.DataFrame) -> pd.DataFrame:
    """The whole-cohort rows of a summary or comparison table (those of subgroup ``all`` when it has subgroups)."""
    if "subgroup" not in table.columns:
        return table
    return table[table["subgroup"] == "all"].drop(columns="subgroup")


def _row(arm: str, endpoint: str, statistic: str, value: float, low: float = math.nan,
         high: float = math.nan, week: float = math.nan) -> dict[str, Any]:
    return {"arm": arm, "endpoint": endpoint, "statistic": statistic, "week": week, "value": value,
            "ci_low": low, "ci_high": high}


def _competing_causes(patients: pd.DataFrame, adverse_events: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """Causes per arm: the arm's adverse events (or those seen), relapse and loss to follow-up."""
    causes = {}
    for arm in _arms(patients):
        if adverse_events is not None and arm in adverse_events:
            names = list(adverse_events[arm])
        else:
            reasons = patients.loc[patients["arm"] == arm, "dropout_reason"].dropna()
            names = sorted(set(reasons) - {"lost_to_follow_up"})
        causes[arm] = [f"discontinuation.{n}" for n in names] + ["first_relapse", "lost_to_follow_up"]
    return causes


def cumulative_incidence(patients: pd.DataFrame, horizon_weeks: float,
                         adverse_events: dict[str, list[str]] | None = None) -> dict[tuple[str, str], pd.DataFrame]:
    """Aalen-Johansen table of each (arm, cause) over the pooled patients of the arm.

    ``adverse_events`` names each arm's adverse events (default: those that caused a dropout).
    """
    first = first_events(patients)
    out = {}
    for arm, causes in _competing_causes(patients, adverse_events).items():
        group = first[first["arm"] == arm]
        codes_by_cause = {cause: k for k, cause in enumerate(causes, start=1)}
        codes = group["cause"].map(codes_by_cause).fillna(0).to_numpy(dtype=int)
        weeks = group["weeks"].to_numpy(dtype=float)
        for cause, code in codes_by_cause.items():
            out[(arm, cause)] = aalen_johansen(weeks, codes, code)
    return out


def survival_table(patients: pd.DataFrame, horizon_weeks: float, reference_arm: str | None = None,
                   adverse_events: dict[str, list[str]] | None = None,
                   incidence: dict[tuple[str, str], pd.DataFrame] | None = None,
                   fits: dict[tuple[str, str], Any] | None = None) -> pd.DataFrame:
    """The tidy ``survival.csv`` table (see the module docstring).

    ``incidence`` and ``fits`` (from :func:`cumulative_incidence` and :func:`kaplan_meier_fits`)
    are computed when not given.
    """
    arms = _arms(patients)
    fits = fits if fits is not None else kaplan_meier_fits(patients)
    several = patients["replication"].nunique() > 1
    rows: list[dict[str, Any]] = []
    ticks = at_risk_weeks(horizon_weeks)
    for endpoint in ENDPOINTS:
        events = time_to_event(patients, endpoint)
        by_unit = _rmst_by_unit(events, horizon_weeks)
        reference = by_unit[by_unit["arm"] == reference_arm].set_index("replication")
        for arm in arms:
            group = events[events["arm"] == arm]
            rows.append(_row(arm, endpoint, "patients", float(len(group))))
            rows.append(_row(arm, endpoint, "events", float(group["event"].sum())))
            if len(group) == 0:
                continue
            rows.append(_row(arm, endpoint, "median_weeks", *_median(fits[(endpoint, arm)])))
            units = by_unit[by_unit["arm"] == arm].set_index("replication")
            if several:
                value, low, high = mean_interval(units["rmst"].dropna().to_numpy())
            else:
                value, low, high = _normal_interval(float(units["rmst"].iloc[0]), float(units["variance"].iloc[0]))
            rows.append(_row(arm, endpoint, "rmst_weeks", value, low, high, week=horizon_weeks))
            if reference_arm is not None and arm != reference_arm and len(reference):
                paired = units.join(reference, rsuffix="_ref", how="inner").dropna(subset=["rmst", "rmst_ref"])
                if several:
                    diff = mean_interval((paired["rmst"] - paired["rmst_ref"]).to_numpy())
                elif len(paired):
                    diff = _normal_interval(float(paired["rmst"].iloc[0] - paired["rmst_ref"].iloc[0]),
                                            float(paired["variance"].iloc[0] + paired["variance_ref"].iloc[0]))
                else:
                    diff = (math.nan, math.nan, math.nan)
                rows.append(_row(arm, endpoint, "rmst_difference_weeks", *diff, week=horizon_weeks))
            durations = np.sort(group["weeks"].to_numpy(dtype=float))
            at_risk = len(durations) - np.searchsorted(durations, ticks, side="left")
            rows.extend(_row(arm, endpoint, "at_risk", float(n), week=float(t))
                        for t, n in zip(ticks, at_risk, strict=True))
    summary = whole_cohort(summarise(patients, ["disease_free_weeks"])).set_index("arm")
    comparison = (whole_cohort(compare(patients, reference_arm, ["disease_free_weeks"])).set_index("arm")
                  if reference_arm is not None and reference_arm in arms else pd.DataFrame())
    for arm in arms:
        rows.append(_row(arm, "disease_free", "mean_weeks", *summary.loc[arm, ["mean", "ci_low", "ci_high"]]))
        if arm in comparison.index:
            rows.append(_row(arm, "disease_free", "mean_difference_weeks",
                             *comparison.loc[arm, ["difference", "ci_low", "ci_high"]]))
    incidence = incidence if incidence is not None else cumulative_incidence(patients, horizon_weeks, adverse_events)
    for (arm, cause), table in incidence.items():
        times = table["week"].to_numpy()
        for week in sorted({min(52.0, horizon_weeks), horizon_weeks}):
            value, low, high = (_step_values(times, table[c].to_numpy(), np.array([week]), b)[0]
                                for c, b in (("estimate", 0.0), ("ci_low", math.nan), ("ci_high", math.nan)))
            rows.append(_row(arm, cause, "cumulative_incidence", value, low, high, week=week))
    return pd.DataFrame(rows, columns=SURVIVAL_COLUMNS)


def survival_curves(patients: pd.DataFrame, horizon_weeks: float,
                    incidence: dict[tuple[str, str], pd.DataFrame] | None = None,
                    adverse_events: dict[str, list[str]] | None = None,
                    fits: dict[tuple[str, str], Any] | None = None) -> pd.DataFrame:
    """The ``survival_curves.csv`` table: KM curves and cumulative incidences on the week grid."""
    grid = curve_weeks(horizon_weeks)
    fits = fits if fits is not None else kaplan_meier_fits(patients)
    frames = []
    for endpoint in ENDPOINTS:
        for arm in _arms(patients):
            if (endpoint, arm) not in fits:
                continue
            survival, low, high, at_risk = _km_curve(fits[(endpoint, arm)], grid)
            frames.append(pd.DataFrame({"arm": arm, "endpoint": endpoint, "week": grid, "estimate": survival,
                                        "ci_low": low, "ci_high": high, "at_risk": at_risk.astype(float)}))
    incidence = incidence if incidence is not None else cumulative_incidence(patients, horizon_weeks, adverse_events)
    for (arm, cause), table in incidence.items():
        times = table["week"].to_numpy()
        frames.append(pd.DataFrame({
            "arm": arm, "endpoint": cause, "week": grid,
            "estimate": _step_values(times, table["estimate"].to_numpy(), grid, 0.0),
            "ci_low": _step_values(times, table["ci_low"].to_numpy(), grid, math.nan),
            "ci_high": _step_values(times, table["ci_high"].to_numpy(), grid, math.nan),
            "at_risk": _step_values(times, table["at_risk"].to_numpy(), grid, math.nan),
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CURVE_COLUMNS)


def distribution(patients: pd.DataFrame, metric: str, bin_width: float) -> pd.DataFrame:
    """Per arm, the histogram density of a metric and its box-plot statistics, for a violin and box plot.

    Rows ``arm, statistic, x, value``: ``zero_share``, the share of patients at exactly 0 (for
    disease-free weeks, often most of an arm: a point mass that a smoothed density would hide or
    smear below 0); ``density`` of the positive values at each bin centre ``x`` (bins of
    ``bin_width`` from 0); ``mean``, ``q1``, ``median``, ``q3``, ``min``, ``max``, ``whisker_low``,
    ``whisker_high`` (the most extreme values within 1.5 interquartile ranges of the box) of all values.
    """
    rows = []
    for arm in _arms(patients):
        values = patients.loc[patients["arm"] == arm, metric].dropna().to_numpy(dtype=float)
        if len(values) == 0:
            continue
        rows.append({"arm": arm, "statistic": "zero_share", "x": math.nan, "value": float(np.mean(values == 0))})
        positive = values[values > 0]
        if len(positive):
            edges = np.arange(0.0, float(positive.max()) + bin_width, bin_width)
            density, edges = np.histogram(positive, bins=edges, density=True)
            centres = (edges[:-1] + edges[1:]) / 2
            rows.extend({"arm": arm, "statistic": "density", "x": x, "value": d}
                        for x, d in zip(centres, density, strict=True))
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        inside = values[(values >= q1 - 1.5 * (q3 - q1)) & (values <= q3 + 1.5 * (q3 - q1))]
        for statistic, value in (("mean", values.mean()), ("q1", q1), ("median", median), ("q3", q3),
                                 ("min", values.min()), ("max", values.max()),
                                 ("whisker_low", inside.min()), ("whisker_high", inside.max())):
            rows.append({"arm": arm, "statistic": statistic, "x": math.nan, "value": float(value)})
    return pd.DataFrame(rows, columns=["arm", "statistic", "x", "value"])


# --- time course from the event log -----------------------------------------------------------

_STATE_OF_EVENT = {"response": "response", "remission": "remission", "relapse": "active",
                   "lost_to_follow_up": "lost"}


def state_occupancy(events: pd.DataFrame, horizon_weeks: float) -> pd.DataFrame:
    """Patients in each state at each grid week, per arm, among the patients present in the log.

    Everyone starts ``active`` at week 0; ``response``, ``remission``, ``relapse`` (back to
    ``active``) and ``lost_to_follow_up`` (``lost`` to the end) change the state. A state entered
    at week t counts from t on.
    """
    if events.empty:
        return pd.DataFrame(columns=OCCUPANCY_COLUMNS)
    grid = curve_weeks(horizon_weeks)
    keys = ["arm", "replication", "patient"]
    changes = events[events["event"].isin(list(_STATE_OF_EVENT))][[*keys, "week", "event"]]
    starts = events.drop_duplicates(keys)[keys].assign(week=0.0, state="active", order=-1)
    changes = changes.assign(state=changes["event"].map(_STATE_OF_EVENT), order=np.arange(len(changes)))
    # The log is in time order within a patient; ``order`` keeps same-week changes in log order.
    spells = (pd.concat([starts, changes.drop(columns="event")], ignore_index=True)
              .sort_values([*keys, "week", "order"]).reset_index(drop=True))
    same_patient = (spells[keys].shift(-1) == spells[keys]).all(axis=1).to_numpy()
    spells["end"] = np.where(same_patient, spells["week"].shift(-1), np.inf)
    rows = []
    for arm in _arms(starts):
        arm_spells = spells[spells["arm"] == arm]
        present = int((starts["arm"] == arm).sum())
        for state in STATES:
            s = arm_spells[arm_spells["state"] == state]
            begin = np.sort(s["week"].to_numpy(dtype=float))
            end = np.sort(s["end"].to_numpy(dtype=float))
            count = np.searchsorted(begin, grid, side="right") - np.searchsorted(end, grid, side="right")
            rows.append(pd.DataFrame({"arm": arm, "week": grid, "state": state, "patients": count.astype(float),
                                      "share": count / present}))
    return pd.concat(rows, ignore_index=True)[OCCUPANCY_COLUMNS]


@dataclass
class SwimmerSample:
    """Rows of a swimmer plot: the sampled patients, their dose spells and their markers."""

    patients: pd.DataFrame  # arm, replication, patient, row, label, observed_weeks
    spells: pd.DataFrame  # arm, row, therapy, level (full/taper), start, end
    markers: pd.DataFrame  # arm, row, week, marker (response/remission/relapse/adverse_event/dropout)


def swimmer_sample(events: pd.DataFrame, patients: pd.DataFrame, per_arm: int = 30) -> SwimmerSample:
    """The first ``per_arm`` patients (by replication, then patient number) logged in every arm.

    Patients are exchangeable draws, so the first ones are a simple random sample, and because arms
    share random numbers, row i of every arm is the same virtual patient.
    """
    keys = ["replication", "patient"]
    arms = _arms(events)
    common = None
    for arm in arms:
        present = events.loc[events["arm"] == arm, keys].drop_duplicates()
        common = present if common is None else common.merge(present, on=keys)
    if common is None or common.empty:
        empty = pd.DataFrame()
        return SwimmerSample(empty, empty, empty)
    chosen = common.sort_values(keys).head(per_arm).reset_index(drop=True)
    chosen["row"] = np.arange(len(chosen))
    several = chosen["replication"].nunique() > 1
    chosen["label"] = [f"{r}:{p}" if several else f"{p}"
                       for r, p in zip(chosen["replication"], chosen["patient"], strict=True)]
    logged = events.merge(chosen, on=keys)
    sampled = patients.merge(chosen, on=keys)
    spells, markers = [], []
    for (arm, row), group in logged.groupby(["arm", "row"], sort=True):
        start, level, therapy = None, None, None
        end_week = float(group["week"].iloc[-1])
        for week, event, name in zip(group["week"], group["event"], group["therapy"], strict=True):
            if event in ("course_start", "taper_start", "drug_stop", "no_line_left",
                         "end_of_follow_up", "lost_to_follow_up") and start is not None and week > start:
                spells.append((arm, row, therapy, level, start, week))
            if event in ("drug_stop", "no_line_left", "end_of_follow_up", "lost_to_follow_up"):
                start = None
            elif event == "course_start":
                start, level, therapy = week, "full", name
            elif event == "taper_start":
                start, level = week, "taper"
            if event in ("response", "remission", "relapse", "adverse_event"):
                markers.append((arm, row, week, event))
        if start is not None and end_week > start:
            spells.append((arm, row, therapy, level, start, end_week))
    dropouts = sampled[sampled["dropout"].astype(bool)]
    markers.extend(zip(dropouts["arm"], dropouts["row"], dropouts["dropout_week"].astype(float),
                       ["dropout"] * len(dropouts), strict=True))
    return SwimmerSample(
        sampled[["arm", "replication", "patient", "row", "label", "observed_weeks"]].sort_values(["arm", "row"]),
        pd.DataFrame(spells, columns=["arm", "row", "therapy", "level", "start", "end"]),
        pd.DataFrame(markers, columns=["arm", "row", "week", "marker"]),
    )


# --- a results folder -------------------------------------------------------------------------

@dataclass
class RunTables:
    """The saved tables of a results folder that the figures and the report need."""

    scenario: dict[str, Any]
    patients: pd.DataFrame
    events: pd.DataFrame
    survival: pd.DataFrame
    curves: pd.DataFrame
    occupancy: pd.DataFrame


def _arm_adverse_events(scenario: dict[str, Any]) -> dict[str, list[str]]:
    """Each arm's adverse events that can stop a drug, in the order of its lines and the file."""
    out = {}
    for arm, lines in scenario["arms"].items():
        names: list[str] = []
        for therapy in lines:
            for name, spec in (scenario["therapies"][therapy].get("adverse_events") or {}).items():
                if spec.get("discontinue_probability", 1.0) > 0 and name not in names:
                    names.append(name)
        out[arm] = names
    return out


def write_tables(run_dir: str | Path) -> RunTables:
    """Compute ``survival.csv``, ``survival_curves.csv`` and ``state_occupancy.csv`` from a folder's saved tables.

    Reads ``scenario.yaml``, ``patients.csv`` and ``events.csv`` (missing: no events), so the tables
    are the same whether written by the run or recomputed later.
    """
    from sim.results import to_csv_text, write_text_atomic

    run_dir = Path(run_dir)
    scenario = yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8"))
    horizon = float(scenario["follow_up_weeks"])
    patients = read_patients(run_dir / "patients.csv")
    events_path = run_dir / "events.csv"
    events = read_events(events_path) if events_path.exists() else pd.DataFrame(columns=["arm", "event"])
    adverse_events = _arm_adverse_events(scenario)
    reference = scenario.get("reference_arm")
    survivals, curve_sets = [], []
    for label, part in cohorts(patients):  # the whole cohort, then each subgroup (if any)
        incidence = cumulative_incidence(part, horizon, adverse_events)
        fits = kaplan_meier_fits(part)
        tables = (survival_table(part, horizon, reference, adverse_events, incidence, fits),
                  survival_curves(part, horizon, incidence, fits=fits))
        if label is not None:
            for table in tables:
                table.insert(1, "subgroup", label)
        survivals.append(tables[0])
        curve_sets.append(tables[1])
    survival = pd.concat(survivals, ignore_index=True)
    curves = pd.concat(curve_sets, ignore_index=True)
    occupancy = state_occupancy(events, horizon)
    write_text_atomic(run_dir / "survival.csv", to_csv_text(survival))
    write_text_atomic(run_dir / "survival_curves.csv", to_csv_text(curves))
    write_text_atomic(run_dir / "state_occupancy.csv", to_csv_text(occupancy))
    return RunTables(scenario, patients, events, whole_cohort(survival), whole_cohort(curves), occupancy)
