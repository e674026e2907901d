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
    assert not low > 5.0 and (math.isnan(high) or high >= 5.0) and not low == high
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
