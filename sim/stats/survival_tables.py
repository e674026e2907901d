"""Time-to-event tables of a patients table: medians, restricted means, numbers at risk and curves.

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
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sim.outcomes import ENDPOINTS
from sim.stats.summary import arms_in_order, compare, mean_interval, summarise
from sim.stats.survival import (
    aalen_johansen,
    km_curve,
    km_fit,
    median_of_fit,
    normal_interval,
    rmst_by_unit,
    step_values,
)

__all__ = ["CURVE_COLUMNS", "CURVE_POINTS", "ENDPOINTS", "SURVIVAL_COLUMNS", "at_risk_weeks", "cumulative_incidence",
           "curve_weeks", "first_events", "kaplan_meier_fits", "survival_curves", "survival_table", "time_to_event",
           "whole_cohort"]


CURVE_POINTS = 521
"""Grid points of the saved curves (every quarter week over 130 weeks)."""


SURVIVAL_COLUMNS = ["arm", "endpoint", "statistic", "week", "value", "ci_low", "ci_high"]


CURVE_COLUMNS = ["arm", "endpoint", "week", "estimate", "ci_low", "ci_high", "at_risk"]

def kaplan_meier_fits(patients: pd.DataFrame) -> dict[tuple[str, str], Any]:
    """lifelines Kaplan-Meier fits of each (endpoint, arm) on the pooled patients of the arm."""
    fits = {}
    for endpoint in ENDPOINTS:
        events = time_to_event(patients, endpoint)
        for arm, group in events.groupby("arm", sort=False):
            fits[(endpoint, arm)] = km_fit(group["weeks"].to_numpy(), group["event"].to_numpy())
    return fits


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
    for arm in arms_in_order(patients):
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
    arms = arms_in_order(patients)
    fits = fits if fits is not None else kaplan_meier_fits(patients)
    several = patients["replication"].nunique() > 1
    rows: list[dict[str, Any]] = []
    ticks = at_risk_weeks(horizon_weeks)
    for endpoint in ENDPOINTS:
        events = time_to_event(patients, endpoint)
        by_unit = rmst_by_unit(events, horizon_weeks)
        reference = by_unit[by_unit["arm"] == reference_arm].set_index("replication")
        for arm in arms:
            group = events[events["arm"] == arm]
            rows.append(_row(arm, endpoint, "patients", float(len(group))))
            rows.append(_row(arm, endpoint, "events", float(group["event"].sum())))
            if len(group) == 0:
                continue
            rows.append(_row(arm, endpoint, "median_weeks", *median_of_fit(fits[(endpoint, arm)])))
            units = by_unit[by_unit["arm"] == arm].set_index("replication")
            if several:
                value, low, high = mean_interval(units["rmst"].dropna().to_numpy())
            else:
                value, low, high = normal_interval(float(units["rmst"].iloc[0]), float(units["variance"].iloc[0]))
            rows.append(_row(arm, endpoint, "rmst_weeks", value, low, high, week=horizon_weeks))
            if reference_arm is not None and arm != reference_arm and len(reference):
                paired = units.join(reference, rsuffix="_ref", how="inner").dropna(subset=["rmst", "rmst_ref"])
                if several:
                    diff = mean_interval((paired["rmst"] - paired["rmst_ref"]).to_numpy())
                elif len(paired):
                    diff = normal_interval(float(paired["rmst"].iloc[0] - paired["rmst_ref"].iloc[0]),
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
            value, low, high = (step_values(times, table[c].to_numpy(), np.array([week]), b)[0]
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
        for arm in arms_in_order(patients):
            if (endpoint, arm) not in fits:
                continue
            survival, low, high, at_risk = km_curve(fits[(endpoint, arm)], grid)
            frames.append(pd.DataFrame({"arm": arm, "endpoint": endpoint, "week": grid, "estimate": survival,
                                        "ci_low": low, "ci_high": high, "at_risk": at_risk.astype(float)}))
    incidence = incidence if incidence is not None else cumulative_incidence(patients, horizon_weeks, adverse_events)
    for (arm, cause), table in incidence.items():
        times = table["week"].to_numpy()
        frames.append(pd.DataFrame({
            "arm": arm, "endpoint": cause, "week": grid,
            "estimate": step_values(times, table["estimate"].to_numpy(), grid, 0.0),
            "ci_low": step_values(times, table["ci_low"].to_numpy(), grid, math.nan),
            "ci_high": step_values(times, table["ci_high"].to_numpy(), grid, math.nan),
            "at_risk": step_values(times, table["at_risk"].to_numpy(), grid, math.nan),
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CURVE_COLUMNS)
