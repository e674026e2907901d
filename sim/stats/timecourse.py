"""The time course of a cohort from its event log: state occupancy, outcome distributions, a swimmer sample."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import pandas as pd

from sim.outcomes import STATES
from sim.stats.summary import arms_in_order
from sim.stats.survival_tables import curve_weeks

__all__ = ["OCCUPANCY_COLUMNS", "SWIMMER_PATIENTS", "SwimmerSample", "distribution", "occupancy_counts",
           "occupancy_from_states", "occupancy_table", "state_changes", "state_occupancy", "swimmer_sample"]


OCCUPANCY_COLUMNS = ["arm", "week", "state", "patients", "share"]

SWIMMER_PATIENTS = 30
"""Patients shown per arm in the swimmer plot."""


def distribution(patients: pd.DataFrame, metric: str, bin_width: float) -> pd.DataFrame:
    """Per arm, the histogram density of a metric and its box-plot statistics, for a violin and box plot.

    Rows ``arm, statistic, x, value``: ``zero_share``, the share of patients at exactly 0 (for
    disease-free weeks, often most of an arm: a point mass that a smoothed density would hide or
    smear below 0); ``density`` of the positive values at each bin centre ``x`` (bins of
    ``bin_width`` from 0); ``mean``, ``q1``, ``median``, ``q3``, ``min``, ``max``, ``whisker_low``,
    ``whisker_high`` (the most extreme values within 1.5 interquartile ranges of the box) of all values.
    """
    rows = []
    for arm in arms_in_order(patients):
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


_STATE_OF_EVENT = {"response": "response", "remission": "remission", "relapse": "active",
                   "lost_to_follow_up": "lost"}


_STATE_INDEX = {event: STATES.index(state) for event, state in _STATE_OF_EVENT.items()}


def state_changes(events: Sequence[str]) -> np.ndarray:
    """The state (index in ``STATES``) each event puts a patient in, -1 for an event that changes none."""
    return np.fromiter(map(_STATE_INDEX.get, events, repeat(-1)), dtype=np.int64, count=len(events))


def occupancy_counts(patient: np.ndarray, week: np.ndarray, event: Sequence[str],
                     grid: np.ndarray) -> tuple[np.ndarray, int]:
    """Patients of one arm in each state (rows: ``STATES``) at each grid week, from their events, and how many
    patients the events are of.

    ``patient`` identifies each event's patient (every event of a patient among these). Everyone
    starts ``active`` at week 0; ``response``, ``remission``, ``relapse`` (back to ``active``) and
    ``lost_to_follow_up`` (``lost`` to the end) change the state; a state entered at week t counts
    from t on. The counts of separate groups of patients add up, so a run sums them block by block.
    """
    return occupancy_from_states(patient, week, state_changes(event), grid)


def occupancy_from_states(patient: np.ndarray, week: np.ndarray, state: np.ndarray,
                          grid: np.ndarray) -> tuple[np.ndarray, int]:
    """:func:`occupancy_counts` from each event's :func:`state_changes` code instead of its name."""
    counts = np.zeros((len(STATES), len(grid)), dtype=np.int64)
    patient = np.asarray(patient)
    if len(patient) == 0:
        return counts, 0
    week = np.asarray(week, dtype=float)
    changes = np.flatnonzero(state >= 0)
    next_patient = patient[1:] != patient[:-1]
    # A block's log: patient by patient, each patient's events in time order.
    in_order = np.all(patient[1:] >= patient[:-1]) and np.all(next_patient | (week[1:] >= week[:-1]))
    if in_order:
        present = patient[np.flatnonzero(np.append(True, next_patient))]
    else:
        present = np.unique(patient)
    who = np.concatenate((present, patient[changes]))
    when = np.concatenate((np.zeros(len(present)), week[changes]))
    entered = np.concatenate((np.full(len(present), STATES.index("active")), state[changes]))
    if in_order:  # each patient's start, then its changes in log order: what a stable sort by patient keeps
        order = np.argsort(who, kind="stable")
    else:  # by patient and week; ``rank`` keeps same-week changes in log order
        rank = np.concatenate((np.full(len(present), -1), changes))
        order = np.lexsort((rank, when, who))
    who, when, entered = who[order], when[order], entered[order]
    same_patient = np.append(who[1:] == who[:-1], False)
    end = np.where(same_patient, np.append(when[1:], np.inf), np.inf)
    for index in range(len(STATES)):
        mine = entered == index
        begin, finish = np.sort(when[mine]), np.sort(end[mine])
        counts[index] = np.searchsorted(begin, grid, side="right") - np.searchsorted(finish, grid, side="right")
    return counts, len(present)


def occupancy_table(counts: dict[str, tuple[np.ndarray, int]], grid: np.ndarray) -> pd.DataFrame:
    """The ``state_occupancy.csv`` table from each arm's summed :func:`occupancy_counts` (arms in order)."""
    if not counts:
        return pd.DataFrame(columns=OCCUPANCY_COLUMNS)
    rows = []
    for arm, (count, present) in counts.items():
        for index, state in enumerate(STATES):
            rows.append(pd.DataFrame({"arm": arm, "week": grid, "state": state,
                                      "patients": count[index].astype(float), "share": count[index] / present}))
    return pd.concat(rows, ignore_index=True)[OCCUPANCY_COLUMNS]


def state_occupancy(events: pd.DataFrame, horizon_weeks: float) -> pd.DataFrame:
    """Patients in each state at each grid week, per arm, among the patients present in the log (see
    :func:`occupancy_counts`)."""
    if events.empty:
        return pd.DataFrame(columns=OCCUPANCY_COLUMNS)
    grid = curve_weeks(horizon_weeks)
    patient = pd.MultiIndex.from_frame(events[["replication", "patient"]]).factorize()[0]
    arm = events["arm"].to_numpy(dtype=object)
    counts = {}
    for name in arms_in_order(events):
        rows = arm == name
        counts[name] = occupancy_counts(patient[rows], events["week"].to_numpy(dtype=float)[rows],
                                        events["event"].to_numpy(dtype=object)[rows], grid)
    return occupancy_table(counts, grid)


@dataclass
class SwimmerSample:
    """Rows of a swimmer plot: the sampled patients, their dose spells and their markers."""

    patients: pd.DataFrame  # arm, replication, patient, row, label, observed_weeks
    spells: pd.DataFrame  # arm, row, therapy, level (full/taper), start, end
    markers: pd.DataFrame  # arm, row, week, marker (response/remission/relapse/adverse_event/dropout)


def swimmer_sample(events: pd.DataFrame, patients: pd.DataFrame, per_arm: int = SWIMMER_PATIENTS) -> SwimmerSample:
    """The first ``per_arm`` patients (by replication, then patient number) logged in every arm.

    Patients are exchangeable draws, so the first ones are a simple random sample, and because arms
    share random numbers, row i of every arm is the same virtual patient.
    """
    keys = ["replication", "patient"]
    arms = arms_in_order(events)
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
            if event in ("course_start", "taper_start", "dose_reduction", "drug_stop", "no_line_left",
                         "end_of_follow_up", "lost_to_follow_up") and start is not None and week > start:
                spells.append((arm, row, therapy, level, start, week))
            if event in ("drug_stop", "no_line_left", "end_of_follow_up", "lost_to_follow_up"):
                start = None
            elif event == "course_start":
                start, level, therapy = week, "full", name
            elif event in ("taper_start", "dose_reduction"):  # a reduced dose, for a while or for good
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
