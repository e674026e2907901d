"""The time course of a cohort from hand-made event logs: outcome distributions, state occupancy, swimmer rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.stats.timecourse import OCCUPANCY_COLUMNS, distribution, state_occupancy, swimmer_sample

EVENT_COLUMNS = ["replication", "arm", "patient", "week", "event", "therapy", "detail"]


def log(rows: list[tuple]) -> pd.DataFrame:
    """Events as (replication, arm, patient, week, event, therapy)."""
    return pd.DataFrame([(*r, "") for r in rows], columns=EVENT_COLUMNS)


def test_distribution_with_an_outlier_a_point_mass_at_zero_and_missing_values():
    """Arm a: 0, 0, 1, 2, 3, 4, 100 and a missing value; bins of 2 weeks.

    Zero share 2/7. Positive values 1, 2, 3, 4, 100 in bins [0, 2), [2, 4), [4, 6), ..., [98, 100]:
    densities 1/(5 * 2) = 0.1, 0.2, 0.1, 0, ..., 0, 0.1 at centres 1, 3, 5, ..., 99. Quartiles of the
    seven values (linear): 0.5, 2, 3.5; fences 0.5 - 4.5 = -4 and 3.5 + 4.5 = 8, so the whiskers end
    at 0 and 4 and 100 is an outlier; mean 110/7. Arm b has no value (no rows); arm c only zeros
    (zero share 1, no density).
    """
    values = {"a": [0, 0, 1, 2, 3, 4, 100, math.nan], "b": [math.nan], "c": [0.0, 0.0]}
    patients = pd.DataFrame([(arm, v) for arm, vs in values.items() for v in vs], columns=["arm", "weeks"])
    table = distribution(patients, "weeks", 2.0)
    assert list(table.columns) == ["arm", "statistic", "x", "value"]
    assert list(dict.fromkeys(table["arm"])) == ["a", "c"]
    a = table[table["arm"] == "a"]
    stat = {r.statistic: r.value for r in a.itertuples() if r.statistic != "density"}
    assert stat == pytest.approx({"zero_share": 2 / 7, "mean": 110 / 7, "q1": 0.5, "median": 2.0, "q3": 3.5,
                                  "min": 0.0, "max": 100.0, "whisker_low": 0.0, "whisker_high": 4.0})
    assert a[a["statistic"] != "density"]["x"].isna().all()
    density = a[a["statistic"] == "density"]
    assert density["x"].tolist() == pytest.approx(list(np.arange(1.0, 100.0, 2.0)))
    expected = np.zeros(50)
    expected[[0, 1, 2, 49]] = [0.1, 0.2, 0.1, 0.1]
    assert density["value"].to_numpy() == pytest.approx(expected)
    c = table[table["arm"] == "c"].set_index("statistic")["value"]
    assert c["zero_share"] == 1.0 and "density" not in c.index
    assert (c.drop("zero_share") == 0.0).all()


def test_distribution_whiskers_stop_at_the_last_value_within_the_fences():
    """Values 1..8 and 20: quartiles 3 and 7, IQR 4, upper fence 13: whisker at 8, not 20; lower fence
    -3: whisker at the minimum 1. Bins of 5: positive values up to 20 in [0,5), [5,10), [10,15), [15,20]."""
    patients = pd.DataFrame({"arm": "x", "v": [1, 2, 3, 4, 5, 6, 7, 8, 20]})
    table = distribution(patients, "v", 5.0)
    stat = table[table["statistic"] != "density"].set_index("statistic")["value"]
    assert (stat["q1"], stat["q3"], stat["whisker_low"], stat["whisker_high"]) == (3.0, 7.0, 1.0, 8.0)
    assert stat["zero_share"] == 0.0
    density = table[table["statistic"] == "density"]
    assert density["x"].tolist() == [2.5, 7.5, 12.5, 17.5]
    assert density["value"].tolist() == pytest.approx([4 / 45, 4 / 45, 0.0, 1 / 45])


def test_distribution_fences_are_one_and_a_half_interquartile_ranges():
    """-5, 1..8: quartiles 2 and 6 (IQR 4), lower fence -4: -5 is an outlier, the whisker ends at 1
    (a fence of 2.5 IQR, or of 1.5 (q3 + q1), would take in -5). 1..8, 15: quartiles 3 and 7, upper
    fence 13: the whisker ends at 8 (2.5 IQR would reach 15)."""
    low = distribution(pd.DataFrame({"arm": "x", "v": [-5, 1, 2, 3, 4, 5, 6, 7, 8]}), "v", 1.0)
    low_stats = low[low["statistic"] != "density"].set_index("statistic")["value"]
    assert (low_stats["q1"], low_stats["q3"], low_stats["whisker_low"], low_stats["min"]) == (2.0, 6.0, 1.0, -5.0)
    high = distribution(pd.DataFrame({"arm": "x", "v": [1, 2, 3, 4, 5, 6, 7, 8, 15]}), "v", 1.0)
    high_stats = high[high["statistic"] != "density"].set_index("statistic")["value"]
    assert (high_stats["q3"], high_stats["whisker_high"], high_stats["max"]) == (7.0, 8.0, 15.0)
    nothing = distribution(pd.DataFrame({"arm": ["x"], "v": [math.nan]}), "v", 1.0)
    assert nothing.empty and list(nothing.columns) == ["arm", "statistic", "x", "value"]


def test_state_occupancy_counts_patients_per_state_per_arm_and_replication():
    """Arm a: (rep 0, patient 0) response 2, remission 2 (the same week: remission from 2), relapse 5;
    (rep 0, patient 1) lost at 3; (rep 1, patient 0) no change. Arm b: one patient, response 1.
    Horizon 8: the grid is 521 points, 8/520 weeks apart, so 2.0 and 5.0 are grid points."""
    events = log([(0, "a", 0, 0.0, "course_start", "t"), (0, "a", 0, 2.0, "response", "t"),
                  (0, "a", 0, 2.0, "remission", "t"), (0, "a", 0, 5.0, "relapse", "t"),
                  (0, "a", 0, 8.0, "end_of_follow_up", "t"),
                  (0, "a", 1, 0.0, "course_start", "t"), (0, "a", 1, 3.0, "lost_to_follow_up", "t"),
                  (1, "a", 0, 0.0, "course_start", "t"), (1, "a", 0, 8.0, "end_of_follow_up", "t"),
                  (0, "b", 0, 0.0, "course_start", "t"), (0, "b", 0, 1.0, "response", "t")])
    table = state_occupancy(events, 8.0)
    assert list(table.columns) == OCCUPANCY_COLUMNS
    assert table.index.tolist() == list(range(len(table)))
    assert list(dict.fromkeys(table["arm"])) == ["a", "b"]
    assert len(table) == 2 * 4 * 521
    a = table[table["arm"] == "a"].set_index(["week", "state"])
    patients = a["patients"]
    assert [patients[(1.0, s)] for s in ("active", "response", "remission", "lost")] == [3, 0, 0, 0]
    assert [patients[(2.0, s)] for s in ("active", "response", "remission", "lost")] == [2, 0, 1, 0]
    assert [patients[(3.0, s)] for s in ("active", "response", "remission", "lost")] == [1, 0, 1, 1]
    assert [patients[(5.0, s)] for s in ("active", "response", "remission", "lost")] == [2, 0, 0, 1]
    assert a["share"][(3.0, "lost")] == pytest.approx(1 / 3)
    assert a.groupby("week")["patients"].sum().eq(3).all()
    b = table[table["arm"] == "b"].set_index(["week", "state"])["share"]
    assert (b[(0.0, "active")], b[(1.0, "response")], b[(8.0, "response")]) == (1.0, 1.0, 1.0)
    assert (table[table["arm"] == "b"].groupby("week")["share"].sum() == 1.0).all()


def test_a_change_at_week_0_follows_the_initial_active_state():
    """A response at week 0 (time to response 0): in response from week 0, never active."""
    events = log([(0, "a", 0, 0.0, "course_start", "t"), (0, "a", 0, 0.0, "response", "t")])
    table = state_occupancy(events, 8.0).set_index(["week", "state"])["patients"]
    assert (table[(0.0, "response")], table[(0.0, "active")], table[(8.0, "response")]) == (1, 0, 1)
    empty = state_occupancy(events.iloc[0:0], 8.0)
    assert empty.empty and list(empty.columns) == OCCUPANCY_COLUMNS


def test_state_occupancy_keeps_same_week_changes_in_log_order():
    """Response and relapse logged at the same week 4 (in that order): active from 4 on."""
    events = log([(0, "a", 0, 0.0, "course_start", "t"), (0, "a", 0, 4.0, "response", "t"),
                  (0, "a", 0, 4.0, "relapse", "t"), (0, "a", 0, 6.0, "remission", "t")])
    table = state_occupancy(events, 8.0).set_index(["week", "state"])["patients"]
    assert (table[(4.0, "active")], table[(4.0, "response")]) == (1, 0)
    assert (table[(3.0, "active")], table[(6.0, "remission")], table[(8.0, "remission")]) == (1, 1, 1)


def test_swimmer_rows_spells_and_markers_over_two_replications():
    """Replications 0 and 1; patient 1 of replication 0 is logged in arm a only, so it is left out.

    Row 0 (0:0), arm a: line 1 'first' full 0-4, then a second line 'second' from 4 (the new course
    closes the first's spell), taper 10-14, stop 14; an AE at 3; lost at 20 with a dropout at 20.
    Row 1 (1:0), arm a: full 0-6, no line left at 6 (spell closed), nothing more to 9 (the log's last
    week). A course start at 0 followed by another at 0 gives no zero-length spell. per_arm 2.
    """
    a_rows = [(0, "a", 0, 0.0, "course_start", "first"), (0, "a", 0, 3.0, "adverse_event", "first"),
              (0, "a", 0, 4.0, "course_start", "second"), (0, "a", 0, 5.0, "response", "second"),
              (0, "a", 0, 10.0, "taper_start", "second"), (0, "a", 0, 14.0, "drug_stop", "second"),
              (0, "a", 0, 16.0, "relapse", "second"), (0, "a", 0, 20.0, "lost_to_follow_up", "second"),
              (0, "a", 1, 0.0, "course_start", "first"),
              (1, "a", 0, 0.0, "course_start", "zero"), (1, "a", 0, 0.0, "course_start", "first"),
              (1, "a", 0, 6.0, "no_line_left", ""), (1, "a", 0, 9.0, "end_of_follow_up", "")]
    b_rows = [(0, "b", 0, 0.0, "course_start", "first"), (0, "b", 0, 7.0, "remission", "first"),
              (0, "b", 2, 0.0, "course_start", "first"),  # logged in arm b only: left out too
              (1, "b", 0, 0.0, "course_start", "first"), (2, "b", 0, 0.0, "course_start", "first")]
    patients = pd.DataFrame([
        {"arm": arm, "replication": r, "patient": p, "dropout": (arm, r, p) == ("a", 0, 0),
         "dropout_week": 20.0 if (arm, r, p) == ("a", 0, 0) else math.nan, "observed_weeks": 20.0 + r}
        for arm in ("a", "b") for r, p in ((0, 0), (0, 1), (1, 0), (2, 0))])
    sample = swimmer_sample(log(a_rows + b_rows), patients, per_arm=2)
    reordered = swimmer_sample(log(b_rows + a_rows), patients, per_arm=2)  # the log's arm order does not matter
    pd.testing.assert_frame_equal(sample.spells, reordered.spells)
    chosen = sample.patients
    assert list(chosen.columns) == ["arm", "replication", "patient", "row", "label", "observed_weeks"]
    assert list(zip(chosen["arm"], chosen["row"], chosen["label"], strict=True)) == [
        ("a", 0, "0:0"), ("a", 1, "1:0"), ("b", 0, "0:0"), ("b", 1, "1:0")]
    assert chosen["observed_weeks"].tolist() == [20.0, 21.0, 20.0, 21.0]
    spells = sample.spells[sample.spells["arm"] == "a"]
    assert list(spells.columns) == ["arm", "row", "therapy", "level", "start", "end"]
    assert list(spells.itertuples(index=False, name=None)) == [
        ("a", 0, "first", "full", 0.0, 4.0), ("a", 0, "second", "full", 4.0, 10.0),
        ("a", 0, "second", "taper", 10.0, 14.0), ("a", 1, "first", "full", 0.0, 6.0)]
    b_spells = sample.spells[sample.spells["arm"] == "b"]
    assert list(b_spells.itertuples(index=False, name=None)) == [("b", 0, "first", "full", 0.0, 7.0)]
    markers = sample.markers
    assert list(markers.columns) == ["arm", "row", "week", "marker"]
    assert list(markers.itertuples(index=False, name=None)) == [
        ("a", 0, 3.0, "adverse_event"), ("a", 0, 5.0, "response"), ("a", 0, 16.0, "relapse"),
        ("b", 0, 7.0, "remission"), ("a", 0, 20.0, "dropout")]


def test_swimmer_labels_are_patient_numbers_within_one_replication_and_empty_logs_give_empty_tables():
    events = log([(0, "a", 3, 0.0, "course_start", "t"), (0, "a", 5, 0.0, "course_start", "t")])
    patients = pd.DataFrame({"arm": "a", "replication": 0, "patient": [3, 5], "dropout": False,
                             "dropout_week": math.nan, "observed_weeks": 10.0})
    sample = swimmer_sample(events, patients)
    assert sample.patients["label"].tolist() == ["3", "5"]
    assert swimmer_sample(events, patients, per_arm=1).patients["patient"].tolist() == [3]
    assert sample.spells.empty or (sample.spells["end"] > sample.spells["start"]).all()
    empty = swimmer_sample(events.iloc[0:0], patients)
    assert empty.patients.empty and empty.spells.empty and empty.markers.empty
