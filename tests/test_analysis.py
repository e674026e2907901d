"""Analysis functions against small tables computed by hand (sim.analysis and sim.survival)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.stats.summary import compare, mean_interval, summarise
from sim.stats.survival import aalen_johansen, kaplan_meier, rmst
from sim.stats.survival_tables import (
    at_risk_weeks,
    cumulative_incidence,
    first_events,
    survival_curves,
    survival_table,
    time_to_event,
)
from sim.stats.timecourse import distribution, state_occupancy, swimmer_sample

Z = stats.norm.ppf(0.975)
T1 = stats.t.ppf(0.975, 1)


def patients_table(rows: list[dict]) -> pd.DataFrame:
    """A patients table with the columns the analysis reads; unspecified values are "did not happen"."""
    defaults = {
        "replication": 0, "arm": "a", "patient": 0, "responded": False, "complete_response": False,
        "time_to_complete_response_weeks": math.nan, "disease_free_weeks": 0.0, "relapses": 0,
        "first_relapse_week": math.nan, "relapse_after_remission_week": math.nan, "dropout": False,
        "dropout_reason": None, "dropout_week": math.nan, "observed_weeks": 10.0,
    }
    table = pd.DataFrame([{**defaults, **row} for row in rows])
    table["patient"] = range(len(table)) if "patient" not in rows[0] else table["patient"]
    return table


def dropouts(weeks: list[float], observed: list[bool], arm: str = "a", replication: int = 0,
             horizon: float = 10.0) -> list[dict]:
    """Patients whose time to dropout is ``weeks`` (a dropout when observed, else censored there)."""
    return [
        {"arm": arm, "replication": replication, "dropout": bool(o), "dropout_week": w if o else math.nan,
         "dropout_reason": "rash" if o else None, "observed_weeks": horizon if o else w}
        for w, o in zip(weeks, observed, strict=True)
    ]


# --- Kaplan-Meier and restricted mean ---------------------------------------------------------

def test_kaplan_meier_and_rmst_by_hand():
    """Times 2, 3, 3+, 5, 8+ (+ censored), horizon 10.

    KM: S(2) = 4/5 = 0.8; at 3, 4 at risk (the censoring at 3 counts), 1 event: S = 0.8 * 3/4 = 0.6;
    at 5, 2 at risk, 1 event: S = 0.3. RMST = 2*1 + 1*0.8 + 2*0.6 + 5*0.3 = 5.5.
    Variance (Klein & Moeschberger 4.5), A_i = area from t_i to 10: A(2) = 3.5, A(3) = 2.7, A(5) = 1.5;
    3.5^2/(5*4) + 2.7^2/(4*3) + 1.5^2/(2*1) = 0.6125 + 0.6075 + 1.125 = 2.345.
    """
    table = kaplan_meier(np.array([2, 3, 3, 5, 8.0]), np.array([1, 1, 0, 1, 0], dtype=bool))
    assert table["week"].tolist() == [2, 3, 5]
    assert table["at_risk"].tolist() == [5, 4, 2]
    assert table["survival"].to_numpy() == pytest.approx([0.8, 0.6, 0.3])
    value, variance = rmst(table, 10.0)
    assert value == pytest.approx(5.5)
    assert variance == pytest.approx(2.345)
    # A horizon inside the curve integrates up to it only: 2*1 + 1*0.8 + 1*0.6 = 3.4.
    assert rmst(table, 4.0)[0] == pytest.approx(3.4)


def test_kaplan_meier_matches_lifelines():
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    rng = np.random.default_rng(3)
    weeks = np.round(rng.exponential(20, 300), 1)  # rounded: ties of events and censorings
    observed = rng.uniform(size=300) < 0.7
    ours = kaplan_meier(weeks, observed)
    fitter = KaplanMeierFitter().fit(weeks, observed)
    theirs = fitter.survival_function_.iloc[:, 0]
    assert ours["survival"].to_numpy() == pytest.approx(theirs.loc[ours["week"]].to_numpy())
    assert rmst(ours, 30.0)[0] == pytest.approx(restricted_mean_survival_time(fitter, t=30.0))


def test_survival_table_one_replication_by_hand():
    """The same five patients as time to dropout: median 5 weeks, RMST 5.5 +- 1.96 sqrt(2.345)."""
    patients = patients_table(dropouts([2, 3, 3, 5, 8], [True, True, False, True, False]))
    table = survival_table(patients, 10.0, reference_arm="a").set_index(["endpoint", "statistic", "week"],
                                                                         drop=False)
    rows = table[table["endpoint"] == "time_to_dropout"]
    assert rows[rows["statistic"] == "patients"]["value"].item() == 5
    assert rows[rows["statistic"] == "events"]["value"].item() == 3
    assert rows[rows["statistic"] == "median_weeks"]["value"].item() == pytest.approx(5.0)
    rmst_row = rows[rows["statistic"] == "rmst_weeks"].iloc[0]
    half = Z * math.sqrt(2.345)
    assert (rmst_row["value"], rmst_row["ci_low"], rmst_row["ci_high"], rmst_row["week"]) == pytest.approx(
        (5.5, 5.5 - half, 5.5 + half, 10.0))
    at_risk = rows[rows["statistic"] == "at_risk"]
    assert at_risk["week"].tolist() == list(np.arange(0, 11, 1.0))
    assert at_risk["value"].tolist() == [5, 5, 5, 4, 2, 2, 1, 1, 1, 0, 0]  # durations >= week
    assert "rmst_difference_weeks" not in set(table["statistic"])  # only a reference arm


def test_rmst_over_replications_is_paired_by_replication():
    """Arm a drops out at 4 (replication 0) and 5 (replication 1); arm b at 6 and 9; horizon 10.

    RMST per replication is the dropout week. Arm a: mean 4.5, sd 0.7071, half-width t(0.975, 1) * 0.7071
    / sqrt(2) = 12.706 * 0.5. b - a by replication: 2 and 4, mean 3, sd 1.414, half-width 12.706 * 1.
    """
    patients = patients_table(dropouts([4], [True], "a", 0) + dropouts([5], [True], "a", 1)
                              + dropouts([6], [True], "b", 0) + dropouts([9], [True], "b", 1))
    table = survival_table(patients, 10.0, reference_arm="a")
    rows = table[(table["endpoint"] == "time_to_dropout") & table["statistic"].str.startswith("rmst")]
    rows = rows.set_index(["arm", "statistic"])[["value", "ci_low", "ci_high"]]
    half = T1 * 0.5
    assert rows.loc[("a", "rmst_weeks")].tolist() == pytest.approx([4.5, 4.5 - half, 4.5 + half])
    assert rows.loc[("b", "rmst_difference_weeks")].tolist() == pytest.approx([3.0, 3.0 - T1, 3.0 + T1])
    # The mean disease-free weeks rows repeat summary.csv's numbers (here all zero).
    assert table[table["statistic"] == "mean_weeks"]["value"].tolist() == [0.0, 0.0]


def test_time_to_relapse_counts_from_first_remission():
    patients = patients_table([
        {"complete_response": True, "time_to_complete_response_weeks": 4.0, "relapse_after_remission_week": 10.0,
         "observed_weeks": 20.0},  # relapse 6 weeks after remission
        {"complete_response": True, "time_to_complete_response_weeks": 5.0, "observed_weeks": 20.0},  # 15, censored
        {"observed_weeks": 20.0},  # never in remission: not at risk
    ])
    events = time_to_event(patients, "time_to_relapse_after_remission")
    assert events["weeks"].tolist() == [6.0, 15.0]
    assert events["event"].tolist() == [True, False]
    complete = time_to_event(patients, "time_to_complete_response")
    assert complete["weeks"].tolist() == [4.0, 5.0, 20.0]
    assert complete["event"].tolist() == [True, True, False]
    with pytest.raises(ValueError, match="unknown endpoint"):
        time_to_event(patients, "time_to_nothing")


def test_curves_are_the_km_step_function_on_the_grid():
    patients = patients_table(dropouts([2, 3, 3, 5, 8], [True, True, False, True, False]))
    curves = survival_curves(patients, 10.0)
    dropout = curves[(curves["endpoint"] == "time_to_dropout")].set_index("week")
    assert len(dropout) == 521
    assert dropout.loc[0.0, "estimate"] == 1.0
    assert dropout.loc[2.5, "estimate"] == pytest.approx(0.8)
    assert dropout.loc[3.0, "estimate"] == pytest.approx(0.6)  # right-continuous: the drop happens at 3
    assert dropout.loc[9.0, "estimate"] == pytest.approx(0.3)
    assert dropout.loc[3.0, "at_risk"] == 4
    assert (dropout["ci_low"] <= dropout["estimate"] + 1e-12).all()
    assert (dropout["ci_high"] >= dropout["estimate"] - 1e-12).all()


def test_at_risk_weeks_are_round():
    assert at_risk_weeks(130).tolist() == list(range(0, 131, 13))
    assert at_risk_weeks(52).tolist() == list(range(0, 53, 8))
    assert at_risk_weeks(10).tolist() == list(range(0, 11, 1))


# --- competing risks --------------------------------------------------------------------------

def test_first_events_and_cumulative_incidence_by_hand():
    """Stopped for rash at 1, relapse at 2, censored at 3, stopped for rash at 4 (and a relapse later).

    Aalen-Johansen: at 1, 4 at risk: F_rash = 1/4; S = 3/4. At 2, 3 at risk: F_relapse = 3/4 * 1/3 = 1/4;
    S = 1/2. At 4, 1 at risk: F_rash = 1/4 + 1/2 * 1/1 = 3/4. So at 5 weeks: rash 0.75, relapse 0.25.
    """
    patients = patients_table([
        {"dropout": True, "dropout_reason": "rash", "dropout_week": 1.0},
        {"first_relapse_week": 2.0},
        {"observed_weeks": 3.0},
        {"dropout": True, "dropout_reason": "rash", "dropout_week": 4.0, "first_relapse_week": 4.0},
    ])
    first = first_events(patients)
    assert first["cause"].tolist() == ["discontinuation.rash", "first_relapse", None, "discontinuation.rash"]
    assert first["weeks"].tolist() == [1.0, 2.0, 3.0, 4.0]  # the tie at 4 goes to the discontinuation
    incidence = cumulative_incidence(patients, 5.0, {"a": ["rash", "itch"]})
    assert set(incidence) == {("a", "discontinuation.rash"), ("a", "discontinuation.itch"),
                              ("a", "first_relapse"), ("a", "lost_to_follow_up")}
    rash = incidence[("a", "discontinuation.rash")].set_index("week")["estimate"]
    assert rash.loc[1.0] == pytest.approx(0.25)
    assert rash.loc[3.0] == pytest.approx(0.25)  # the censoring at 3 is no event
    assert rash.loc[4.0] == pytest.approx(0.75)
    assert incidence[("a", "first_relapse")]["estimate"].iloc[-1] == pytest.approx(0.25)
    assert incidence[("a", "discontinuation.itch")]["estimate"].iloc[-1] == 0.0
    table = survival_table(patients, 5.0, "a", {"a": ["rash", "itch"]})
    at_end = table[(table["statistic"] == "cumulative_incidence") & (table["week"] == 5.0)].set_index("endpoint")
    assert at_end.loc["discontinuation.rash", "value"] == pytest.approx(0.75)
    assert at_end.loc["discontinuation.itch", "value"] == 0.0  # declared, never happened
    assert at_end.loc["first_relapse", "value"] == pytest.approx(0.25)


def test_aalen_johansen_interval_matches_lifelines():
    """The cumulative-sum variance equals lifelines' row-by-row formula (no ties, so no jitter).

    The code computes estimate and interval itself (sim/stats/survival.py imports no lifelines), so
    lifelines is an independent reference here; the estimate is also checked by hand and against a
    product of transition matrices in tests/test_reference_statistics.py.
    """
    from lifelines import AalenJohansenFitter

    rng = np.random.default_rng(11)
    weeks = rng.exponential(30, 200)
    causes = rng.integers(0, 3, 200)
    ours = aalen_johansen(weeks, causes, 1)
    fitter = AalenJohansenFitter(calculate_variance=True).fit(weeks, causes, event_of_interest=1)
    bands = np.sort(fitter.confidence_interval_.to_numpy(), axis=1)  # lifelines' column names are swapped
    keep = (ours["estimate"].to_numpy() > 0) & np.isfinite(bands).all(axis=1)
    assert keep.sum() > 50
    assert ours["ci_low"].to_numpy()[keep] == pytest.approx(bands[keep, 0])
    assert ours["ci_high"].to_numpy()[keep] == pytest.approx(bands[keep, 1])


# --- time course from the event log -----------------------------------------------------------

def events_table(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([(0, "a", *r) for r in rows],
                        columns=["replication", "arm", "patient", "week", "event", "therapy", "detail"])


def test_state_occupancy_by_hand():
    """Patient 0: response 2, remission 4, relapse 6; patient 1 lost at 5. Horizon 10 (grid of 521 weeks)."""
    events = events_table([
        (0, 0.0, "course_start", "t", ""), (0, 2.0, "response", "t", ""), (0, 4.0, "remission", "t", ""),
        (0, 6.0, "relapse", "t", "off"), (0, 10.0, "end_of_follow_up", "t", ""),
        (1, 0.0, "course_start", "t", ""), (1, 5.0, "lost_to_follow_up", "t", ""),
    ])
    occupancy = state_occupancy(events, 10.0).set_index(["week", "state"])["share"]
    assert occupancy.loc[(1.0, "active")] == 1.0
    assert occupancy.loc[(3.0, "response")] == 0.5 and occupancy.loc[(3.0, "active")] == 0.5
    assert occupancy.loc[(4.0, "remission")] == 0.5  # entered at 4: counted from 4 on
    assert occupancy.loc[(5.0, "lost")] == 0.5 and occupancy.loc[(5.0, "remission")] == 0.5
    assert occupancy.loc[(7.0, "active")] == 0.5 and occupancy.loc[(10.0, "lost")] == 0.5
    assert occupancy.groupby("week").sum().to_numpy() == pytest.approx(1.0)
    assert state_occupancy(events.iloc[0:0], 10.0).empty


def test_swimmer_sample_spells_and_markers():
    """Full dose 0-30, taper 30-42, off, relapse at 50 and a second course 50-100; same patient in both arms."""
    course = [
        (0, 0.0, "course_start", "t", "line 1, course 1"), (0, 3.0, "response", "t", ""),
        (0, 30.0, "taper_start", "t", ""), (0, 42.0, "drug_stop", "t", "end_of_taper"),
        (0, 50.0, "relapse", "t", "off"), (0, 50.0, "course_start", "t", "line 1, course 2"),
        (0, 100.0, "end_of_follow_up", "t", ""),
    ]
    events = pd.concat([events_table(course), events_table(course).assign(arm="b"),
                        events_table([(1, 0.0, "course_start", "t", ""), (1, 100.0, "end_of_follow_up", "t", "")])])
    patients = patients_table([{"arm": "a", "patient": 0}, {"arm": "b", "patient": 0}, {"arm": "a", "patient": 1}])
    sample = swimmer_sample(events, patients, per_arm=30)
    assert sample.patients["patient"].tolist() == [0, 0]  # patient 1 is logged in arm a only
    spells = sample.spells[sample.spells["arm"] == "a"]
    assert list(zip(spells["level"], spells["start"], spells["end"], strict=True)) == [
        ("full", 0.0, 30.0), ("taper", 30.0, 42.0), ("full", 50.0, 100.0)]
    markers = sample.markers[sample.markers["arm"] == "a"]
    assert list(zip(markers["week"], markers["marker"], strict=True)) == [(3.0, "response"), (50.0, "relapse")]


def test_distribution_by_hand():
    """Values 0, 0, 1, 3 with bins of 2: half at zero; positive density 1/(2*2) in [0, 2) and [2, 4)."""
    patients = patients_table([{"disease_free_weeks": v} for v in (0.0, 0.0, 1.0, 3.0)])
    table = distribution(patients, "disease_free_weeks", 2.0)
    value = dict(zip(table["statistic"], table["value"], strict=False))
    assert value["zero_share"] == 0.5
    assert value["mean"] == 1.0 and value["median"] == 0.5 and value["q1"] == 0.0 and value["q3"] == 1.5
    density = table[table["statistic"] == "density"]
    assert density["x"].tolist() == [1.0, 3.0] and density["value"].tolist() == [0.25, 0.25]


# --- per-arm means (sim.analysis) -------------------------------------------------------------

def test_mean_interval_by_hand():
    """Values 1, 2, 3: mean 2, sd 1, half-width t(0.975, 2) / sqrt(3) = 4.303 / 1.732 = 2.484."""
    mean, low, high = mean_interval(np.array([1.0, 2.0, 3.0]))
    half = stats.t.ppf(0.975, 2) / math.sqrt(3)
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert math.isnan(mean_interval(np.array([4.0]))[1])


def test_summarise_and_compare_pair_by_replication():
    """Replication means: a = 1 and 3, b = 2 and 5; b - a = 1 and 2 (mean 1.5, half-width t1 * 0.5)."""
    values = {("a", 0): (0.0, 2.0), ("a", 1): (3.0, 3.0), ("b", 0): (2.0, 2.0), ("b", 1): (4.0, 6.0)}
    patients = patients_table([{"arm": arm, "replication": replication, "disease_free_weeks": v}
                               for (arm, replication), pair in values.items() for v in pair])
    summary = summarise(patients, ["disease_free_weeks"]).set_index("arm")
    assert summary.loc["a", ["mean", "ci_low", "ci_high"]].tolist() == pytest.approx([2.0, 2.0 - T1, 2.0 + T1])
    comparison = compare(patients, "a", ["disease_free_weeks"]).set_index("arm")
    half = T1 * 0.5
    assert comparison.loc["b", ["difference", "ci_low", "ci_high"]].tolist() == pytest.approx(
        [1.5, 1.5 - half, 1.5 + half])


def test_summaries_keep_the_arms_order_and_use_patients_with_one_replication():
    """Arms z then a (not alphabetical). One replication: the interval is over patients (z: 1, 2, 3:
    mean 2, half-width t(0.975, 2) / sqrt(3)). compare pairs z's patients with a's."""
    patients = patients_table([{"arm": arm, "patient": i, "disease_free_weeks": v}
                               for arm, vs in (("z", (1.0, 2.0, 3.0)), ("a", (2.0, 2.0, 5.0)))
                               for i, v in enumerate(vs)])
    summary = summarise(patients, ["disease_free_weeks"])
    assert summary["arm"].tolist() == ["z", "a"]
    half = stats.t.ppf(0.975, 2) / math.sqrt(3)
    assert summary.iloc[0][["mean", "ci_low", "ci_high"]].tolist() == pytest.approx([2.0, 2.0 - half, 2.0 + half])
    differences = compare(patients, "z", ["disease_free_weeks"])  # a - z by patient: 1, 0, 2
    assert differences["arm"].tolist() == ["a"]
    assert differences.iloc[0]["difference"] == pytest.approx(1.0)
    three = patients_table([{"arm": arm, "replication": r, "disease_free_weeks": float(r + (arm == "b"))}
                            for arm in ("c", "b", "a") for r in range(3)])
    assert compare(three, "c", ["disease_free_weeks"])["arm"].tolist() == ["b", "a"]
    three = three[three["arm"] != "a"]
    assert summarise(three, ["disease_free_weeks"])["arm"].tolist() == ["c", "b"]
    # a replication the reference lacks is left out of the paired difference
    partial = three[~((three["arm"] == "c") & (three["replication"] == 2))].copy()
    partial.loc[(partial["arm"] == "b") & (partial["replication"] == 2), "disease_free_weeks"] = 50.0
    row = compare(partial, "c", ["disease_free_weeks"]).iloc[0]
    assert row["difference"] == pytest.approx(1.0) and row["ci_low"] == pytest.approx(1.0)
