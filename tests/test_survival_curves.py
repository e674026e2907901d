"""survival.csv and survival_curves.csv for two arms on hand-made patients: restricted means and their
difference with one replication, rows of an arm without patients for an endpoint, the incidence curves."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_analysis import dropouts, patients_table

from sim.stats.survival_tables import CURVE_COLUMNS, SURVIVAL_COLUMNS, survival_curves, survival_table, whole_cohort

Z = 1.959963984540054


def two_arms() -> pd.DataFrame:
    """Arm a: dropouts at 2, 3, 5 and censorings at 3, 8 (no complete response). Arm b: dropout at 4
    ('itch'), censored at 6, and one complete response at week 1 that relapses at week 3."""
    a = dropouts([2, 3, 3, 5, 8], [True, True, False, True, False], "a")
    b = dropouts([4, 6], [True, False], "b")
    b[0]["dropout_reason"] = "itch"
    b[1].update({"complete_response": True, "time_to_complete_response_weeks": 1.0, "first_relapse_week": 3.0,
                 "relapse_after_remission_week": 3.0, "relapses": 1})
    return patients_table(a + b)


def test_restricted_means_and_their_difference_with_one_replication_by_hand():
    """Horizon 10. Arm a: RMST 5.5, variance 2.345 (tests/test_analysis.py). Arm b: S = 1 to week 4,
    then 1/2: RMST 4 + 6/2 = 7; variance A(4)^2 d / (n (n - d)) = 3^2 / 2 = 4.5. b - a = 1.5 with
    variance 2.345 + 4.5 = 6.845 (the arms' variances added: conservative). Medians: a 5, b 4."""
    table = survival_table(two_arms(), 10.0, reference_arm="a")
    assert list(table.columns) == SURVIVAL_COLUMNS
    rows = table[(table["endpoint"] == "time_to_dropout") & (table["statistic"] != "at_risk")].set_index(
        ["arm", "statistic"])
    assert rows.loc[("b", "rmst_weeks"), ["value", "ci_low", "ci_high"]].tolist() == pytest.approx(
        [7.0, 7.0 - Z * math.sqrt(4.5), 7.0 + Z * math.sqrt(4.5)])
    half = Z * math.sqrt(6.845)
    assert rows.loc[("b", "rmst_difference_weeks"), ["value", "ci_low", "ci_high", "week"]].tolist() == pytest.approx(
        [1.5, 1.5 - half, 1.5 + half, 10.0])
    assert ("a", "rmst_difference_weeks") not in rows.index
    assert (rows.loc[("a", "median_weeks"), "value"], rows.loc[("b", "median_weeks"), "value"]) == (5.0, 4.0)
    low, high = rows.loc[("a", "median_weeks"), ["ci_low", "ci_high"]]
    assert math.isfinite(low) and low <= 5.0 and (math.isnan(high) or high >= 5.0) and low != high
    # no complete response in arm a: its median time to one is not reached (NaN, not infinity)
    complete = table[(table["endpoint"] == "time_to_complete_response") & (table["statistic"] == "median_weeks")]
    assert math.isnan(complete[complete["arm"] == "a"]["value"].item())
    assert (rows.loc[("a", "patients"), "value"], rows.loc[("b", "patients"), "value"]) == (5.0, 2.0)
    assert (rows.loc[("a", "events"), "value"], rows.loc[("b", "events"), "value"]) == (3.0, 1.0)
    # no patient of arm a reached remission: its rows stop at the counts; arm b's follow
    relapse = table[(table["endpoint"] == "time_to_relapse_after_remission") & (table["statistic"] != "at_risk")]
    relapse = relapse.set_index(["arm", "statistic"])
    assert relapse.loc[("a", "patients"), "value"] == 0.0 and ("a", "median_weeks") not in relapse.index
    assert relapse.loc[("b", "patients"), "value"] == 1.0 and relapse.loc[("b", "events"), "value"] == 1.0
    assert relapse.loc[("b", "median_weeks"), "value"] == 2.0  # remission 1 -> relapse 3
    # rmst of b's single patient: 2 weeks, then 0; its difference from a has no pair (a has no unit)
    assert relapse.loc[("b", "rmst_weeks"), "value"] == pytest.approx(2.0)
    assert ("b", "rmst_difference_weeks") not in relapse.index


def test_the_curves_of_two_arms_with_their_competing_risks():
    """Dropout KM of arm b: 1 to week 4, 1/2 after; at risk 2 to week 4, 1 to week 6, 0 after.
    Competing risks of b (adverse events 'itch' and 'rash' declared): relapse first at week 3
    (1/2), then 'itch' at 4 for the other patient (1/2); 'rash' never (0)."""
    patients = two_arms()
    curves = survival_curves(patients, 10.0, adverse_events={"a": ["rash"], "b": ["itch", "rash"]})
    assert list(curves.columns) == CURVE_COLUMNS
    assert curves.index.tolist() == list(range(len(curves)))
    grid = np.linspace(0.0, 10.0, 521)
    keys = list(dict.fromkeys(zip(curves["endpoint"], curves["arm"], strict=True)))
    assert keys == [("time_to_dropout", "a"), ("time_to_dropout", "b"), ("time_to_complete_response", "a"),
                    ("time_to_complete_response", "b"), ("time_to_relapse_after_remission", "b"),
                    ("discontinuation.rash", "a"), ("first_relapse", "a"), ("lost_to_follow_up", "a"),
                    ("discontinuation.itch", "b"), ("discontinuation.rash", "b"), ("first_relapse", "b"),
                    ("lost_to_follow_up", "b")]
    for key in keys:
        part = curves[(curves["endpoint"] == key[0]) & (curves["arm"] == key[1])]
        assert part["week"].to_numpy() == pytest.approx(grid)
    b = curves[(curves["arm"] == "b")]
    dropout = b[b["endpoint"] == "time_to_dropout"].set_index("week")
    assert dropout.loc[3.0, "estimate"] == 1.0 and dropout.loc[4.0, "estimate"] == pytest.approx(0.5)
    # at risk at t: followed to t or beyond (the dropout at 4 is at risk at 4)
    assert (dropout.loc[4.0, "at_risk"], dropout.loc[5.0, "at_risk"], dropout.loc[7.0, "at_risk"]) == (2.0, 1.0, 0.0)
    assert dropout["at_risk"].dtype == float
    assert dropout.loc[5.0, "ci_low"] < 0.5 < dropout.loc[5.0, "ci_high"]
    itch = b[b["endpoint"] == "discontinuation.itch"].set_index("week")
    relapse = b[b["endpoint"] == "first_relapse"].set_index("week")
    assert (itch.loc[2.0, "estimate"], itch.loc[4.0, "estimate"]) == pytest.approx((0.0, 0.5))
    assert (relapse.loc[2.0, "estimate"], relapse.loc[3.0, "estimate"], relapse.loc[9.0, "estimate"]) == pytest.approx(
        (0.0, 0.5, 0.5))
    assert (relapse.loc[0.0, "at_risk"], relapse.loc[3.0, "at_risk"], relapse.loc[4.0, "at_risk"]) == (2.0, 2.0, 1.0)
    assert relapse.loc[3.0, "ci_low"] < 0.5 < relapse.loc[3.0, "ci_high"]
    assert (b[b["endpoint"] == "discontinuation.rash"]["estimate"] == 0.0).all()
    # given the same fits and incidences, the curves are the same
    again = survival_curves(patients, 10.0, adverse_events={"a": ["rash"], "b": ["itch", "rash"]})
    pd.testing.assert_frame_equal(curves, again)


def test_whole_cohort_rows_and_an_empty_table():
    table = pd.DataFrame({"arm": ["a", "a", "b"], "subgroup": ["all", "x", "all"], "value": [1.0, 2.0, 3.0]})
    whole = whole_cohort(table)
    assert list(whole.columns) == ["arm", "value"] and whole["value"].tolist() == [1.0, 3.0]
    plain = table.drop(columns="subgroup")
    assert whole_cohort(plain) is plain
    empty = survival_curves(patients_table([{"arm": "a"}]).iloc[0:0], 10.0)
    assert list(empty.columns) == CURVE_COLUMNS and empty.empty


def test_survival_table_rows_name_their_arm_and_follow_the_reference():
    """The disease-free rows, the at-risk rows and the cumulative incidences at 52 weeks and the
    horizon (60) carry their arm; without a reference arm, or with one not in the table, no
    difference rows. Arm b's relapse incidence at 60 weeks is 1/2 with an interval around it."""
    patients = two_arms()
    table = survival_table(patients, 60.0, reference_arm="a")
    free = table[table["endpoint"] == "disease_free"]
    assert list(zip(free["arm"], free["statistic"], strict=True)) == [
        ("a", "mean_weeks"), ("b", "mean_weeks"), ("b", "mean_difference_weeks")]
    at_risk = table[(table["statistic"] == "at_risk") & (table["endpoint"] == "time_to_dropout")]
    assert at_risk["arm"].tolist() == ["a"] * 8 + ["b"] * 8  # weeks 0, 8, ..., 56 (steps of 8 up to 60)
    incidence = table[table["statistic"] == "cumulative_incidence"]
    assert sorted(set(incidence["week"])) == [52.0, 60.0]
    assert set(incidence["arm"]) == {"a", "b"}
    relapse = incidence[(incidence["arm"] == "b") & (incidence["endpoint"] == "first_relapse")
                        & (incidence["week"] == 60.0)].iloc[0]
    assert relapse["value"] == pytest.approx(0.5) and relapse["ci_low"] < 0.5 < relapse["ci_high"]
    lost = patients.assign(dropout_reason=patients["dropout_reason"].replace({"rash": "lost_to_follow_up"}))
    lost_table = survival_table(lost, 10.0, "a")
    causes = lost_table[lost_table["statistic"] == "cumulative_incidence"]
    # each arm's causes are its own dropout reasons; a loss is its own cause, not an adverse event's
    assert set(causes.loc[causes["arm"] == "a", "endpoint"]) == {"first_relapse", "lost_to_follow_up"}
    assert set(causes.loc[causes["arm"] == "b", "endpoint"]) == {"discontinuation.itch", "first_relapse",
                                                                 "lost_to_follow_up"}
    for reference in (None, "zzz"):
        other = survival_table(patients, 10.0, reference_arm=reference)
        assert not other["statistic"].str.contains("difference").any()


@pytest.mark.parametrize(("horizon", "step"), [(10, 1), (15, 2), (21, 4), (30, 4), (60, 8), (130, 13), (200, 26),
                                               (400, 52), (1000, 104), (2000, 208), (4000, 416), (8000, 832),
                                               (20000, 832)])
def test_at_risk_weeks_take_the_first_round_step_giving_at_most_ten_intervals(horizon: float, step: int):
    from sim.stats.survival_tables import at_risk_weeks

    weeks = at_risk_weeks(horizon)
    assert weeks[0] == 0.0 and weeks[1] == step and weeks[-1] <= horizon < weeks[-1] + step


def test_first_events_and_time_to_event_tables():
    """A loss to follow-up is its own cause; the tables have exactly their columns."""
    from sim.stats.survival_tables import first_events, time_to_event

    patients = patients_table([{"dropout": True, "dropout_reason": "lost_to_follow_up", "dropout_week": 3.0},
                               {"dropout": True, "dropout_reason": "rash", "dropout_week": 2.0}])
    first = first_events(patients)
    assert list(first.columns) == ["arm", "replication", "patient", "weeks", "cause"]
    assert first["cause"].tolist() == ["lost_to_follow_up", "discontinuation.rash"]
    events = time_to_event(patients.iloc[::-1], "time_to_dropout")
    assert list(events.columns) == ["arm", "replication", "patient", "weeks", "event"]
    assert events.index.tolist() == [0, 1] and events["weeks"].tolist() == [2.0, 3.0]
    with pytest.raises(ValueError, match="expected one of time_to_dropout, time_to_complete_response, "):
        time_to_event(patients, "nothing")


def test_restricted_mean_when_the_last_patients_all_have_the_event():
    """Events at 2, 2, 4, 6 (four patients), horizon 10: S = 1/2 on [2, 4), 1/4 on [4, 6), 0 after.
    RMST = 2 + 1 + 0.5 = 3.5. Variance: at 2 (n 4, d 2) A = 1.5: 1.5^2 * 2 / (4 * 2) = 0.5625; at 4
    (n 2, d 1) A = 0.5: 0.25 / 2 = 0.125; at 6 everyone left has the event (n = d): nothing. 0.6875."""
    from sim.stats.survival import kaplan_meier, rmst

    table = kaplan_meier(np.array([2.0, 2.0, 4.0, 6.0]), np.array([1, 1, 1, 1]))  # 0/1 integers as events
    assert table["survival"].tolist() == pytest.approx([0.5, 0.25, 0.0])
    assert rmst(table, 10.0) == pytest.approx((3.5, 0.6875))
    censored = kaplan_meier(np.array([2.0, 3.0]), np.array([1, 0]))
    assert censored["week"].tolist() == [2.0] and censored["at_risk"].tolist() == [2]


def test_aalen_johansen_breaks_ties_the_same_way_every_time_and_leaves_numpy_alone():
    """Tied times of different causes are jittered by lifelines with a fixed seed: two calls agree,
    and numpy's global random state is what it was."""
    from sim.stats.survival import aalen_johansen

    weeks = np.repeat(np.arange(1.0, 21.0), 5)
    causes = np.tile(np.array([1, 2, 0, 1, 2]), 20)
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    first = aalen_johansen(weeks, causes, 1)
    assert np.array_equal(np.random.get_state()[1], before)
    np.random.seed(8)  # whatever numpy's global generator holds
    second = aalen_johansen(weeks, causes, 1)
    pd.testing.assert_frame_equal(first, second)
    assert first["estimate"].iloc[-1] == pytest.approx(0.5, abs=0.05)  # causes 1 and 2 equally often


def test_aalen_johansen_counts_an_event_at_week_0():
    """Cause 1 at week 0, censored at 1, cause 1 at 2 (three patients), by hand: at week 0, F = 1/3 (one of
    three, the survival before week 0 being 1) and the variance S(before 0)^2 d1 (n - d1) / n^3 = 2/27; the
    overall survival is then 2/3, and at week 2 the last patient at risk has the event: F = 1/3 + 2/3 = 1.

    (lifelines' fitter does not count an event at exactly week 0: it reports 0 at week 0 and 2/3 at week 2.)"""
    from sim.stats.survival import aalen_johansen

    table = aalen_johansen(np.array([0.0, 1.0, 2.0]), np.array([1, 0, 1]), 1).set_index("week")
    assert table.loc[0.0, "estimate"] == pytest.approx(1 / 3, rel=1e-15)
    assert table.loc[1.0, "estimate"] == pytest.approx(1 / 3, rel=1e-15)
    assert table.loc[2.0, "estimate"] == pytest.approx(1.0, rel=1e-15)
    assert table.loc[0.0, "variance"] == pytest.approx(2 / 27)
