"""Time-to-event tables of a patients table: medians, restricted means, numbers at risk and curves.

Everything here works on the columns of ``patients.csv``, never on model objects: a patients table, or the
compact per-patient arrays of :class:`SurvivalData` that a large run keeps instead of the table.

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
Curves, bands, medians and numbers at risk come from Kaplan-Meier fits (``sim.stats.survival``, the
arithmetic of lifelines' fitter) on the pooled patients of each arm. ``disease_free`` reports the mean of
``disease_free_weeks`` (time in remission over the observed time, itself restricted to the follow-up) in the
same way.

Competing risks: each patient's first event among discontinuation for each adverse event
(``discontinuation.<adverse event>``), relapse (``first_relapse``) and loss to follow-up
(``lost_to_follow_up``), or censoring at ``observed_weeks``; Aalen-Johansen cumulative incidence of
each (the arithmetic of lifelines' ``AalenJohansenFitter``) with the delta-method log(-log) interval of its
documentation (Collett, *Modelling Survival Data in Medical Research*, 3rd ed., p. 411).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from sim.outcomes import ENDPOINTS
from sim.stats.summary import Units, arms_in_order, compare, mean_interval, summarise, units_of
from sim.stats.survival import (
    KaplanMeierFit,
    aalen_johansen_all,
    km_curve,
    km_fit,
    median_of_fit,
    normal_interval,
    rmst_by_unit,
    step_values,
)

__all__ = ["CURVE_COLUMNS", "CURVE_POINTS", "ENDPOINTS", "SURVIVAL_COLUMNS", "SURVIVAL_INPUTS", "SurvivalData",
           "at_risk_weeks", "cumulative_incidence", "curve_weeks", "first_events", "incidence_weeks",
           "kaplan_meier_fits", "survival_curves", "survival_table", "time_to_event", "whole_cohort"]


CURVE_POINTS = 521
"""Grid points of the saved curves (every quarter week over 130 weeks)."""


SURVIVAL_COLUMNS = ["arm", "endpoint", "statistic", "week", "value", "ci_low", "ci_high"]


CURVE_COLUMNS = ["arm", "endpoint", "week", "estimate", "ci_low", "ci_high", "at_risk"]


SURVIVAL_INPUTS = ("observed_weeks", "dropout", "dropout_week", "dropout_reason", "complete_response",
                   "time_to_complete_response_weeks", "first_relapse_week", "relapse_after_remission_week")
"""The columns of ``patients.csv`` the time-to-event endpoints are made from."""


@dataclass
class SurvivalData:
    """Per patient, in the order of the patients table, only what the survival tables need (about 40 bytes).

    ``arm`` and ``subgroup`` are codes into ``arms`` and ``subgroups`` (-1: none); ``first_cause``
    a code into ``causes`` (0: censored). ``relapse_weeks`` is NaN for patients without a remission.
    """

    arms: list[str]
    subgroups: list[str] | None
    causes: list[str]
    arm: np.ndarray
    replication: np.ndarray
    subgroup: np.ndarray
    dropout_weeks: np.ndarray
    dropout: np.ndarray
    remission_weeks: np.ndarray
    remission: np.ndarray
    relapse_weeks: np.ndarray
    relapse: np.ndarray
    first_weeks: np.ndarray
    first_cause: np.ndarray

    ARRAYS: ClassVar[tuple[str, ...]] = ("arm", "replication", "subgroup", "dropout_weeks", "dropout",
                                         "remission_weeks", "remission", "relapse_weeks", "relapse", "first_weeks",
                                         "first_cause")

    def __len__(self) -> int:
        return len(self.arm)

    def take(self, index: np.ndarray) -> SurvivalData:
        """The patients at ``index`` (positions or a mask), in order."""
        return SurvivalData(self.arms, self.subgroups, self.causes,
                            **{name: getattr(self, name)[index] for name in self.ARRAYS})

    def arm_codes(self) -> list[int]:
        """Codes of the arms present, in order of first appearance."""
        codes, first = np.unique(self.arm, return_index=True)
        return [int(c) for c in codes[np.argsort(first)]]

    def cohorts(self) -> list[tuple[str | None, SurvivalData]]:
        """The whole cohort, then each subgroup present (sorted), as :func:`sim.stats.summary.cohorts`."""
        if self.subgroups is None:
            return [(None, self)]
        present = sorted(self.subgroups[c] for c in np.unique(self.subgroup) if c >= 0)
        return [("all", self)] + [(g, self.take(self.subgroup == self.subgroups.index(g))) for g in present]

    @classmethod
    def from_patients(cls, patients: pd.DataFrame) -> SurvivalData:
        """The arrays of a patients table."""
        arms = arms_in_order(patients)
        subgroups = None
        subgroup = np.full(len(patients), -1, dtype=np.int8)
        if "subgroup" in patients.columns:
            values = patients["subgroup"].to_numpy(dtype=object)
            subgroups = sorted({v for v in values if isinstance(v, str)})
            subgroup = encode(values, subgroups)
        arrays = endpoint_arrays({c: patients[c].to_numpy() for c in SURVIVAL_INPUTS})
        causes = [""] + sorted(set(arrays.pop("first_cause_names")) - {""})
        arrays["first_cause"] = encode(arrays.pop("first_cause_values"), causes)
        return cls(arms, subgroups, causes, arm=encode(patients["arm"].to_numpy(dtype=object), arms),
                   replication=patients["replication"].to_numpy(), subgroup=subgroup, **arrays)


def encode(values: np.ndarray, names: list[str]) -> np.ndarray:
    """Codes of ``values`` in ``names`` (-1: not there; the empty name is code 0 when it is first)."""
    lookup = {name: code for code, name in enumerate(names)}
    return np.fromiter((lookup.get(v if isinstance(v, str) else "", -1) for v in values), dtype=np.int16,
                       count=len(values))


def endpoint_arrays(columns: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Each patient's time and event of every endpoint, and first competing event, from the ``SURVIVAL_INPUTS``.

    The same arithmetic as :func:`time_to_event` and :func:`first_events`; the first event's cause
    comes back as names (``first_cause_values``, "" when censored, and its distinct names).
    """
    observed_weeks = np.asarray(columns["observed_weeks"], dtype=float)
    dropout = np.asarray(columns["dropout"], dtype=bool)
    dropout_week = np.asarray(columns["dropout_week"], dtype=float)
    remission = np.asarray(columns["complete_response"], dtype=bool)
    start = np.asarray(columns["time_to_complete_response_weeks"], dtype=float)
    relapse_after = np.asarray(columns["relapse_after_remission_week"], dtype=float)
    relapse = ~np.isnan(relapse_after)
    relapse_week = np.asarray(columns["first_relapse_week"], dtype=float)
    reason = np.asarray(columns["dropout_reason"], dtype=object)
    dropout_first = dropout & ~(relapse_week < dropout_week)
    relapse_first = ~dropout_first & ~np.isnan(relapse_week)
    cause = np.full(len(observed_weeks), "", dtype=object)
    names = {r: (r if r == "lost_to_follow_up" else f"discontinuation.{r}") for r in set(reason[dropout_first])}
    cause[dropout_first] = [names[r] for r in reason[dropout_first]]
    cause[relapse_first] = "first_relapse"
    return {
        "dropout_weeks": np.where(dropout, dropout_week, observed_weeks), "dropout": dropout,
        "remission_weeks": np.where(remission, start, observed_weeks), "remission": remission,
        "relapse_weeks": np.where(relapse, relapse_after, observed_weeks) - start, "relapse": relapse,
        "first_weeks": np.where(dropout_first, dropout_week,
                                np.where(relapse_first, relapse_week, observed_weeks)),
        "first_cause_values": cause,
        "first_cause_names": set(names.values()) | ({"first_relapse"} if relapse_first.any() else set()),
    }


def _endpoint(data: SurvivalData, endpoint: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, weeks, event) of one endpoint: the patients it concerns, their times and whether the event happened."""
    if endpoint == "time_to_dropout":
        return np.ones(len(data), dtype=bool), data.dropout_weeks, data.dropout
    if endpoint == "time_to_complete_response":
        return np.ones(len(data), dtype=bool), data.remission_weeks, data.remission
    if endpoint == "time_to_relapse_after_remission":
        return data.remission, data.relapse_weeks, data.relapse
    raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {', '.join(ENDPOINTS)}")


def time_to_event(patients: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    """``arm, replication, patient, weeks, event`` of one endpoint of :data:`ENDPOINTS`."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {', '.join(ENDPOINTS)}")
    arrays = endpoint_arrays({c: patients[c].to_numpy() for c in SURVIVAL_INPUTS})
    weeks, event = {"time_to_dropout": ("dropout_weeks", "dropout"),
                    "time_to_complete_response": ("remission_weeks", "remission"),
                    "time_to_relapse_after_remission": ("relapse_weeks", "relapse")}[endpoint]
    rows = arrays["remission"] if endpoint == "time_to_relapse_after_remission" else np.ones(len(patients), bool)
    frame = patients.loc[rows, ["arm", "replication", "patient"]].reset_index(drop=True)
    frame["weeks"] = arrays[weeks][rows]
    frame["event"] = arrays[event][rows]
    return frame


def first_events(patients: pd.DataFrame) -> pd.DataFrame:
    """``arm, replication, patient, weeks, cause``: each patient's first competing event.

    Causes: ``discontinuation.<adverse event>``, ``first_relapse``, ``lost_to_follow_up``; empty
    (None) when censored at ``observed_weeks``. A discontinuation at the very week of a relapse comes
    first, as in the model.
    """
    arrays = endpoint_arrays({c: patients[c].to_numpy() for c in SURVIVAL_INPUTS})
    frame = patients[["arm", "replication", "patient"]].reset_index(drop=True)
    frame["weeks"] = arrays["first_weeks"]
    frame["cause"] = [c if c else None for c in arrays["first_cause_values"]]
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


def _data(patients: pd.DataFrame | SurvivalData) -> SurvivalData:
    return patients if isinstance(patients, SurvivalData) else SurvivalData.from_patients(patients)


def _competing_causes(data: SurvivalData, adverse_events: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """Causes per arm: the arm's adverse events (or those seen), relapse and loss to follow-up."""
    causes = {}
    for code in data.arm_codes():
        arm = data.arms[code]
        if adverse_events is not None and arm in adverse_events:
            names = list(adverse_events[arm])
        else:
            seen = {data.causes[c] for c in np.unique(data.first_cause[data.arm == code])}
            names = sorted(c.removeprefix("discontinuation.") for c in seen if c.startswith("discontinuation."))
        causes[arm] = [f"discontinuation.{n}" for n in names] + ["first_relapse", "lost_to_follow_up"]
    return causes


def cumulative_incidence(patients: pd.DataFrame | SurvivalData, horizon_weeks: float,
                         adverse_events: dict[str, list[str]] | None = None,
                         compact: bool = False) -> dict[tuple[str, str], pd.DataFrame]:
    """Aalen-Johansen table of each (arm, cause) over the pooled patients of the arm.

    ``adverse_events`` names each arm's adverse events (default: those that caused a dropout).
    ``compact``: only the rows that :func:`survival_table` and :func:`survival_curves` read (a large run's
    tables would otherwise have a row per patient); their values are the same.
    """
    if adverse_events is None and isinstance(patients, pd.DataFrame):
        adverse_events = {}
        for arm in arms_in_order(patients):
            reasons = patients.loc[patients["arm"] == arm, "dropout_reason"].dropna()
            adverse_events[arm] = sorted(set(reasons) - {"lost_to_follow_up"})
    data = _data(patients)
    out = {}
    for arm, causes in _competing_causes(data, adverse_events).items():
        rows = data.arm == data.arms.index(arm)
        to_code = np.zeros(len(data.causes) + 1, dtype=np.int64)
        for k, cause in enumerate(causes, start=1):
            if cause in data.causes:
                to_code[data.causes.index(cause)] = k
        codes = to_code[data.first_cause[rows]]
        tables = aalen_johansen_all(data.first_weeks[rows], codes, list(range(1, len(causes) + 1)),
                                    incidence_weeks(horizon_weeks) if compact else None)
        out.update({(arm, cause): tables[k] for k, cause in enumerate(causes, start=1)})
    return out


def kaplan_meier_fits(patients: pd.DataFrame | SurvivalData,
                      grid: np.ndarray | None = None) -> dict[tuple[str, str], KaplanMeierFit]:
    """Kaplan-Meier fits of each (endpoint, arm) on the pooled patients of the arm; with ``grid``, each made
    compact for that grid (:meth:`KaplanMeierFit.compact`) as soon as it is fitted."""
    data = _data(patients)
    fits = {}
    for endpoint in ENDPOINTS:
        rows, weeks, event = _endpoint(data, endpoint)
        for code in data.take(rows).arm_codes():
            index = rows & (data.arm == code)
            fit = km_fit(weeks[index], event[index])
            fits[(endpoint, data.arms[code])] = fit if grid is None else fit.compact(grid)
    return fits


def incidence_weeks(horizon_weeks: float) -> np.ndarray:
    """The weeks at which the survival tables read the cumulative incidences: the curves' grid, one year and the
    horizon."""
    return np.union1d(curve_weeks(horizon_weeks), [min(52.0, horizon_weeks), horizon_weeks])


def _rmst_units(data: SurvivalData, rows: np.ndarray, weeks: np.ndarray, event: np.ndarray, code: int,
                horizon_weeks: float) -> pd.DataFrame:
    """``rmst, variance`` per replication of one arm, indexed by replication."""
    index = rows & (data.arm == code)
    reps, values, variances = rmst_by_unit(weeks[index], event[index], data.replication[index], horizon_weeks)
    frame = pd.DataFrame({"replication": reps, "rmst": values, "variance": variances})
    return frame.set_index("replication")


def survival_table(patients: pd.DataFrame | SurvivalData, horizon_weeks: float, reference_arm: str | None = None,
                   adverse_events: dict[str, list[str]] | None = None,
                   incidence: dict[tuple[str, str], pd.DataFrame] | None = None,
                   fits: dict[tuple[str, str], Any] | None = None, disease_free: Units | None = None) -> pd.DataFrame:
    """The tidy ``survival.csv`` table (see the module docstring).

    ``incidence`` and ``fits`` (from :func:`cumulative_incidence` and :func:`kaplan_meier_fits`)
    are computed when not given; ``disease_free`` is the :class:`Units` of ``disease_free_weeks``
    (required with :class:`SurvivalData`, which does not hold it).
    """
    data = _data(patients)
    if disease_free is None:
        if not isinstance(patients, pd.DataFrame):
            raise ValueError("survival_table of SurvivalData needs the disease_free units")
        disease_free = units_of(patients, ["disease_free_weeks"])
    arm_codes = data.arm_codes()
    arms = [data.arms[c] for c in arm_codes]
    fits = fits if fits is not None else kaplan_meier_fits(data)
    several = len(np.unique(data.replication)) > 1
    rows: list[dict[str, Any]] = []
    ticks = at_risk_weeks(horizon_weeks)
    for endpoint in ENDPOINTS:
        concerned, weeks, event = _endpoint(data, endpoint)
        reference = (_rmst_units(data, concerned, weeks, event, data.arms.index(reference_arm), horizon_weeks)
                     if reference_arm in arms else pd.DataFrame(columns=["rmst", "variance"]))
        for arm, code in zip(arms, arm_codes, strict=True):
            index = concerned & (data.arm == code)
            count = int(index.sum())
            rows.append(_row(arm, endpoint, "patients", float(count)))
            rows.append(_row(arm, endpoint, "events", float(event[index].sum())))
            if count == 0:
                continue
            rows.append(_row(arm, endpoint, "median_weeks", *median_of_fit(fits[(endpoint, arm)])))
            units = _rmst_units(data, concerned, weeks, event, code, horizon_weeks)
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
            durations = np.sort(weeks[index])
            at_risk = len(durations) - np.searchsorted(durations, ticks, side="left")
            rows.extend(_row(arm, endpoint, "at_risk", float(n), week=float(t))
                        for t, n in zip(ticks, at_risk, strict=True))
    summary = whole_cohort(summarise(disease_free)).set_index("arm")
    comparison = (whole_cohort(compare(disease_free, reference_arm)).set_index("arm")
                  if reference_arm is not None and reference_arm in arms else pd.DataFrame())
    for arm in arms:
        rows.append(_row(arm, "disease_free", "mean_weeks", *summary.loc[arm, ["mean", "ci_low", "ci_high"]]))
        if arm in comparison.index:
            rows.append(_row(arm, "disease_free", "mean_difference_weeks",
                             *comparison.loc[arm, ["difference", "ci_low", "ci_high"]]))
    incidence = incidence if incidence is not None else cumulative_incidence(data, horizon_weeks, adverse_events)
    for (arm, cause), table in incidence.items():
        times = table["week"].to_numpy()
        for week in sorted({min(52.0, horizon_weeks), horizon_weeks}):
            value, low, high = (step_values(times, table[c].to_numpy(), np.array([week]), b)[0]
                                for c, b in (("estimate", 0.0), ("ci_low", math.nan), ("ci_high", math.nan)))
            rows.append(_row(arm, cause, "cumulative_incidence", value, low, high, week=week))
    return pd.DataFrame(rows, columns=SURVIVAL_COLUMNS)


def survival_curves(patients: pd.DataFrame | SurvivalData, horizon_weeks: float,
                    incidence: dict[tuple[str, str], pd.DataFrame] | None = None,
                    adverse_events: dict[str, list[str]] | None = None,
                    fits: dict[tuple[str, str], Any] | None = None) -> pd.DataFrame:
    """The ``survival_curves.csv`` table: Kaplan-Meier curves and cumulative incidences on the week grid."""
    data = _data(patients)
    grid = curve_weeks(horizon_weeks)
    fits = fits if fits is not None else kaplan_meier_fits(data)
    frames = []
    for endpoint in ENDPOINTS:
        for arm in (data.arms[c] for c in data.arm_codes()):
            if (endpoint, arm) not in fits:
                continue
            survival, low, high, at_risk = km_curve(fits[(endpoint, arm)], grid)
            frames.append(pd.DataFrame({"arm": arm, "endpoint": endpoint, "week": grid, "estimate": survival,
                                        "ci_low": low, "ci_high": high, "at_risk": at_risk.astype(float)}))
    incidence = incidence if incidence is not None else cumulative_incidence(data, horizon_weeks, adverse_events)
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
