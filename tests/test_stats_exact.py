"""Exact small cases of the statistics code (survival, summaries, time course, folding, cost-effectiveness).

Each expectation is worked out by hand in the docstring or comments, or is a closed form written here
independently of the code (the log(-log) band as S ** exp(+-z sigma / |log S|), Kalbfleisch and
Prentice's form, where the code goes through log and exp of -log S). They pin the corners the other
tests leave open: the rows a compact fit keeps, the curve before the first time, the cohorts of
survival arrays, the weeks the incidences are read at. Error messages are compared in full.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from test_analysis import patients_table

from sim.stats.accumulate import (
    OccupancyAccumulator,
    SurvivalAccumulator,
    SwimmerAccumulator,
    UnitsAccumulator,
    survival_block,
)
from sim.stats.cost_effectiveness import economics_table
from sim.stats.summary import at_least_thresholds, prediction_interval, summarise, wilson_interval
from sim.stats.survival import (
    aalen_johansen,
    aalen_johansen_all,
    km_curve,
    km_fit,
    median_of_fit,
    rmst_by_unit,
    step_rows,
)
from sim.stats.survival_tables import (
    SurvivalData,
    _endpoint,
    cumulative_incidence,
    curve_weeks,
    encode,
    incidence_weeks,
    kaplan_meier_fits,
    survival_table,
)
from sim.stats.timecourse import occupancy_counts, occupancy_table, state_changes, swimmer_sample

Z = 1.959963984540054  # the 97.5% normal quantile


def _band(survival: float, greenwood: float) -> tuple[float, float]:
    """The exponential Greenwood (log(-log)) 95% band: S ** exp(+-z sigma / |log S|), sigma^2 the Greenwood sum."""
    power = math.exp(Z * math.sqrt(greenwood) / abs(math.log(survival)))
    return survival**power, survival ** (1 / power)


# --- Kaplan-Meier fits, compact fits and step functions ----------------------------------------------------------

def _four() -> tuple[np.ndarray, np.ndarray]:
    """Times 1, 2+, 3, 5 (+ censored). Event table with lifelines' entry row at 0: times 0, 1, 2, 3, 5; at risk
    4, 4, 3, 2, 1; events 0, 1, 0, 1, 1. S = 1, 3/4, 3/4, 3/8, 0. Greenwood sums 0, 1/12, 1/12, 1/12 + 1/2 = 7/12
    (the last patient's term, 1/(1 * 0), is dropped as lifelines does)."""
    return np.array([1.0, 2.0, 3.0, 5.0]), np.array([True, False, True, True])


def test_kaplan_meier_fit_and_its_band_by_hand() -> None:
    """Survival and band at each time of the table; where S is 1 the band is [1, 1], where S is 0, [0, 0]."""
    fit = km_fit(*_four())
    assert fit.times.tolist() == [0.0, 1.0, 2.0, 3.0, 5.0]
    as_integers = km_fit(np.array([1, 2, 3, 5]), np.array([1, 0, 1, 1]))  # 0/1 events read as false/true
    assert as_integers.survival.tolist() == fit.survival.tolist() and as_integers.times.tolist() == fit.times.tolist()
    assert fit.survival.tolist() == pytest.approx([1.0, 0.75, 0.75, 0.375, 0.0], rel=1e-15, abs=1e-300)
    low1, high1 = _band(0.75, 1 / 12)
    low3, high3 = _band(0.375, 7 / 12)
    assert fit.ci_low.tolist() == pytest.approx([1.0, low1, low1, low3, 0.0], rel=1e-12)
    assert fit.ci_high.tolist() == pytest.approx([1.0, high1, high1, high3, 0.0], rel=1e-12)
    assert fit.durations.tolist() == [1.0, 2.0, 3.0, 5.0]
    # median: S first at or below 1/2 at week 3; the band's lower curve at week 1 (0.75 ** 7.147 = 0.128), its
    # upper curve at week 5 (0.961 at week 1, 0.375 ** (1 / 4.601) = 0.808 at week 3, then 0)
    assert low1 < 0.5 < high3
    assert median_of_fit(fit) == (3.0, 1.0, 5.0)


def test_the_curve_before_the_first_time_is_one() -> None:
    """A step function reads ``before`` ahead of its first time: nobody has had the event, S = 1, band [1, 1]."""
    fit = km_fit(*_four())
    survival, low, high, at_risk = km_curve(fit, np.array([-1.0, 0.0, 2.5, 6.0]))
    low1, high1 = _band(0.75, 1 / 12)
    assert survival.tolist() == pytest.approx([1.0, 1.0, 0.75, 0.0], rel=1e-15)
    assert low.tolist() == pytest.approx([1.0, 1.0, low1, 0.0], rel=1e-12)
    assert high.tolist() == pytest.approx([1.0, 1.0, high1, 0.0], rel=1e-12)
    # at risk at t: durations >= t (a time at t is at risk at t)
    assert at_risk.tolist() == [4, 4, 2, 0]
    assert km_curve(fit, np.array([3.0]))[3].tolist() == [2]


def test_step_rows_are_the_rows_a_step_function_reads() -> None:
    """Times 0, 1, 2, 3, 5 read at -1 (before: no row), 0.5 (row 0), 2 and 2.5 (row 2), 7 (row 4)."""
    times = np.array([0.0, 1.0, 2.0, 3.0, 5.0])
    assert step_rows(times, np.array([-1.0, 0.5, 2.0, 2.5, 7.0])).tolist() == [0, 2, 4]
    assert step_rows(times, np.array([1.0, 3.0])).tolist() == [1, 3]
    assert step_rows(times, np.array([-2.0])).tolist() == []


def test_a_compact_fit_keeps_the_rows_the_median_and_the_numbers_at_risk_of_its_grid() -> None:
    """Grid 0, 2.5, 6 reads rows 0 (week 0), 2 (week 2) and 4 (week 5); at risk there 4, 2 and 0; the median and
    its interval (3, 1, 5) are those of the whole fit, kept although the rows at 3 are dropped."""
    fit = km_fit(*_four())
    grid = np.array([0.0, 2.5, 6.0])
    compact = fit.compact(grid)
    assert compact.times.tolist() == [0.0, 2.0, 5.0]
    assert compact.survival.tolist() == pytest.approx([1.0, 0.75, 0.0], rel=1e-15)
    low1, high1 = _band(0.75, 1 / 12)
    assert compact.ci_low.tolist() == pytest.approx([1.0, low1, 0.0], rel=1e-12)
    assert compact.ci_high.tolist() == pytest.approx([1.0, high1, 0.0], rel=1e-12)
    assert compact.durations.size == 0
    assert compact.median == (3.0, 1.0, 5.0) and median_of_fit(compact) == (3.0, 1.0, 5.0)
    assert compact.grid_at_risk is not None
    assert compact.grid_at_risk[0].dtype == float and compact.grid_at_risk[0].tolist() == [0.0, 2.5, 6.0]
    assert compact.grid_at_risk[1].tolist() == [4, 2, 0]
    survival, low, high, at_risk = km_curve(compact, grid)
    assert survival.tolist() == pytest.approx([1.0, 0.75, 0.0], rel=1e-15)
    assert low.tolist() == pytest.approx([1.0, low1, 0.0], rel=1e-12)
    assert high.tolist() == pytest.approx([1.0, high1, 0.0], rel=1e-12)
    assert at_risk.tolist() == [4, 2, 0]
    # the grid given as integers reads the same
    assert km_curve(fit.compact(np.array([0, 3, 6])), np.array([0.0, 3.0, 6.0]))[3].tolist() == [4, 2, 0]
    message = "^a compact Kaplan-Meier fit is read only at the grid it was made for$"
    with pytest.raises(ValueError, match=message):
        km_curve(compact, np.array([0.0, 2.5]))
    with pytest.raises(ValueError, match=message):
        km_curve(compact, np.array([0.0, 2.5, 7.0]))


# --- survival arrays and the weeks incidences are read at ------------------------------------------------------

def test_incidence_weeks_are_the_curve_grid_one_year_and_the_horizon() -> None:
    """Horizon 100: the 521 grid weeks (steps of 100/520, 52 not among them) and week 52, sorted: 522 weeks.
    Horizon 10: one year is past the horizon, which is on the grid: the 521 grid weeks alone."""
    weeks = incidence_weeks(100.0)
    assert len(weeks) == 522 and weeks[0] == 0.0 and weeks[-1] == 100.0
    assert 52.0 in weeks and np.all(np.diff(weeks) > 0)
    assert set(curve_weeks(100.0)) <= set(weeks)
    short = incidence_weeks(10.0)
    assert len(short) == 521 and short[-1] == 10.0 and np.array_equal(short, curve_weeks(10.0))


def test_survival_arrays_cohorts_are_the_whole_cohort_then_each_subgroup_present() -> None:
    """Patients of subgroups y, x, none, y, x (in that order): cohorts all (5 patients), x (patients 1 and 4), y
    (0 and 3), by name; a part without subgroup x has cohorts all and y only; without a subgroup column, one."""
    rows = [{"observed_weeks": w} for w in (1.0, 2.0, 3.0, 4.0, 5.0)]
    patients = patients_table(rows)
    plain = SurvivalData.from_patients(patients)
    assert [(label, len(part)) for label, part in plain.cohorts()] == [(None, 5)]
    assert plain.cohorts()[0][1] is plain
    patients["subgroup"] = ["y", "x", None, "y", "x"]
    data = SurvivalData.from_patients(patients)
    assert data.subgroups == ["x", "y"]
    cohorts = data.cohorts()
    assert [label for label, _ in cohorts] == ["all", "x", "y"]
    assert cohorts[0][1] is data
    assert cohorts[1][1].dropout_weeks.tolist() == [2.0, 5.0]
    assert cohorts[2][1].dropout_weeks.tolist() == [1.0, 4.0]
    assert cohorts[1][1].subgroups == ["x", "y"] and cohorts[1][1].subgroup.tolist() == [0, 0]
    part = data.take(np.array([0, 2, 3]))
    assert [(label, len(sub)) for label, sub in part.cohorts()] == [("all", 3), ("y", 2)]
    assert (part.arms, part.subgroups, part.causes) == (data.arms, data.subgroups, data.causes)
    assert plain.subgroup.tolist() == [-1] * 5 and plain.causes == [""]


def test_survival_arrays_name_causes_and_code_missing_names() -> None:
    """Causes: "" (censored, code 0) first, then the first events' names sorted; ``encode`` gives a name's position,
    -1 for a name not listed, and the code of "" for a missing value."""
    patients = patients_table([{"dropout": True, "dropout_reason": "rash", "dropout_week": 2.0},
                               {"first_relapse_week": 1.0}, {}])
    data = SurvivalData.from_patients(patients)
    assert data.causes == ["", "discontinuation.rash", "first_relapse"]
    assert data.first_cause.tolist() == [1, 2, 0]
    values = np.array([None, "a", "b", math.nan, ""], dtype=object)
    assert encode(values, ["", "a"]).tolist() == [0, 1, -1, 0, 0]
    assert encode(values, ["a"]).tolist() == [-1, 0, -1, -1, -1]


def test_errors_name_the_endpoint_or_the_missing_units() -> None:
    data = SurvivalData.from_patients(patients_table([{}]))
    endpoints = "time_to_dropout, time_to_complete_response, time_to_relapse_after_remission"
    with pytest.raises(ValueError, match=f"^unknown endpoint 'nothing'; expected one of {endpoints}$"):
        _endpoint(data, "nothing")
    with pytest.raises(ValueError, match="^survival_table of SurvivalData needs the disease_free units$"):
        survival_table(data, 10.0)


def test_kaplan_meier_fits_made_compact_for_a_grid() -> None:
    """With a grid every fit is compact for it: its numbers at risk are those of the grid (time to dropout of
    patients followed to 2, 3 and 10 weeks: 3, 2 and 1 at weeks 0, 2.5 and 5)."""
    patients = patients_table([{"observed_weeks": w} for w in (2.0, 3.0, 10.0)])
    fits = kaplan_meier_fits(SurvivalData.from_patients(patients), np.array([0.0, 2.5, 5.0]))
    assert list(fits) == [("time_to_dropout", "a"), ("time_to_complete_response", "a")]
    fit = fits[("time_to_dropout", "a")]
    assert fit.grid_at_risk is not None and fit.grid_at_risk[1].tolist() == [3, 2, 1] and fit.durations.size == 0


# --- summaries: Wilson intervals, prediction intervals, P(at least r of n) rows -----------------------------------

def _wilson(k: int, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson's score interval in its textbook form: (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)."""
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def test_wilson_interval_against_its_textbook_form() -> None:
    """3 of 10 at 95%: (0.1078, 0.6032); at 90% (z = 1.6449) narrower. 0 of 5: the lower bound is 0 exactly,
    5 of 5: the upper bound is 1 exactly (the formula gives them only to rounding)."""
    assert wilson_interval(3, 10) == pytest.approx(_wilson(3, 10), rel=1e-12)
    assert wilson_interval(3, 10) == pytest.approx((0.1078, 0.6032), abs=5e-5)
    assert wilson_interval(3, 10, level=0.9) == pytest.approx(_wilson(3, 10, 1.6448536269514722), rel=1e-12)
    assert wilson_interval(7, 20) == pytest.approx(_wilson(7, 20), rel=1e-12)
    low, high = wilson_interval(0, 5)
    assert low == 0.0 and high == pytest.approx(_wilson(0, 5)[1], rel=1e-12)
    low, high = wilson_interval(5, 5)
    assert high == 1.0 and low == pytest.approx(_wilson(5, 5)[0], rel=1e-12)
    # sizes where the formula's rounding misses the bound (5.6e-17 for 0 of 3; 1 + 2.2e-16 for 16 of 16)
    assert wilson_interval(0, 3)[0] == 0.0 and wilson_interval(16, 16)[1] == 1.0


def test_prediction_interval_is_the_inverse_of_the_empirical_distribution() -> None:
    """Values 1..40 in any order: the 2.5% point is the smallest value with F >= 0.025, F(1) = 1/40: 1; the 97.5%
    point, F(39) = 39/40: 39 (no interpolation). At 90%: F >= 0.05 at 2, F >= 0.95 at 38. Two values 5, 3: 3 and 5;
    one value: NaN."""
    values = np.random.default_rng(1).permutation(np.arange(1, 41))
    assert prediction_interval(values) == (1.0, 39.0)
    assert prediction_interval(values, level=0.9) == (2.0, 38.0)
    assert prediction_interval(np.array([5.0, 3.0])) == (3.0, 5.0)
    assert all(math.isnan(v) for v in prediction_interval(np.array([2.0])))


@pytest.mark.parametrize(("n", "expected"), [(1, [1]), (2, [1, 2]), (3, [1, 2, 3]), (4, [1, 2, 3]), (10, [3, 5, 8])])
def test_at_least_thresholds_are_a_quarter_a_half_and_three_quarters_rounded_up(n: int, expected: list[int]) -> None:
    assert at_least_thresholds(n) == expected


def _cohorts_table() -> pd.DataFrame:
    """Arm a: 4 replications of 4 patients, 0, 1, 2 and 4 of them with the flag; x = 1, 2, 3, 4 in every one.
    Arm b: replications of 4, 4, 4 and 3 patients (no single cohort size), flag in all."""
    rows = []
    for replication, hits in enumerate([0, 1, 2, 4]):
        for patient in range(4):
            rows.append({"replication": replication, "arm": "a", "patient": patient, "x": float(patient + 1),
                         "flag": patient < hits})
    for replication, size in enumerate([4, 4, 4, 3]):
        for patient in range(size):
            rows.append({"replication": replication, "arm": "b", "patient": patient, "x": 2.0, "flag": True})
    return pd.DataFrame(rows)


def test_summary_rows_of_a_true_false_metric_by_hand() -> None:
    """Arm a's flag: replication shares 0, 1/4, 1/2, 1: mean 7/16, prediction interval 0 to 1. At least 1, 2, 3 of
    4: 3, 2 and 1 of the 4 replications, each with its Wilson interval over 4. Arm b has no at-least rows."""
    table = summarise(_cohorts_table(), ["x", "flag"])
    assert list(table.columns) == ["arm", "metric", "mean", "ci_low", "ci_high", "pi_low", "pi_high"]
    assert list(zip(table["arm"], table["metric"], strict=True)) == [
        ("a", "x"), ("a", "flag"), ("a", "flag_at_least_1_of_4"), ("a", "flag_at_least_2_of_4"),
        ("a", "flag_at_least_3_of_4"), ("b", "x"), ("b", "flag")]
    rows = table.set_index(["arm", "metric"])
    flag = rows.loc[("a", "flag")]
    assert flag["mean"] == 7 / 16 and (flag["pi_low"], flag["pi_high"]) == (0.0, 1.0)
    for r, k in ((1, 3), (2, 2), (3, 1)):
        row = rows.loc[("a", f"flag_at_least_{r}_of_4")]
        assert row["mean"] == k / 4
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(_wilson(k, 4), rel=1e-12)
        assert math.isnan(row["pi_low"]) and math.isnan(row["pi_high"])
    assert rows.loc[("a", "x"), "mean"] == 2.5 and rows.loc[("a", "x"), "ci_low"] == 2.5  # the same in each cohort


def test_two_replications_have_at_least_rows() -> None:
    """Two replications of arm a (0 and 1 of 4 with the flag): at least 1 of 4 in 1 of 2, 2 and 3 of 4 in none."""
    two = _cohorts_table().query("replication < 2 and arm == 'a'")
    rows = summarise(two, ["flag"]).set_index("metric")
    assert rows["mean"].tolist() == [1 / 8, 0.5, 0.0, 0.0]
    assert list(rows.index[1:]) == ["flag_at_least_1_of_4", "flag_at_least_2_of_4", "flag_at_least_3_of_4"]


def test_a_single_replication_has_no_at_least_rows() -> None:
    """One replication: intervals over patients, no prediction interval, no P(at least r of n) rows."""
    one = _cohorts_table().query("replication == 0")
    table = summarise(one, ["x", "flag"])
    assert table["metric"].tolist() == ["x", "flag", "x", "flag"]
    row = table.iloc[0]
    assert row["mean"] == 2.5 and math.isnan(row["pi_low"])


# --- Aalen-Johansen: lifelines' jitter, compact rows, the causes of each arm -------------------------------------

def _lifelines_incidence(weeks: np.ndarray, causes: np.ndarray, cause: int) -> pd.Series:
    """lifelines' AalenJohansenFitter (seed 0), numpy's global generator left as it was (sim.stats never imports
    lifelines: an independent reference for the estimate and its jitter)."""
    from lifelines import AalenJohansenFitter

    state = np.random.get_state()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitter = AalenJohansenFitter(seed=0).fit(weeks, causes, event_of_interest=cause)
    finally:
        np.random.set_state(state)
    return fitter.cumulative_density_.iloc[:, 0]


@pytest.mark.parametrize(("weeks", "causes"), [
    ([1, 1, 2, 2, 2, 3, 4, 4, 5, 6], [1, 2, 1, 1, 0, 2, 1, 0, 2, 0]),  # ties of causes 1 and 2 at 1; of 1 with 1 at 2
    ([2, 2, 5], [1, 2, 0]),  # two events in all, tied, of different causes
    ([1, 1, 2, 3, 3], [1, 1, 2, 0, 2]),  # ties of the same cause only: nothing to move
    ([1, 2, 3], [1, 0, 0]),  # a single event
    ([1, 3, 3, 5], [1, 1, 2, 0]),  # causes 1 and 2 tie at 3, not at the first event time
    ([1, 3, 3, 5], [1, 2, 2, 0]),  # cause 2 twice at 3, after a cause 1: nothing to move
])
def test_aalen_johansen_is_lifelines_with_its_jitter(weeks: list[int], causes: list[int]) -> None:
    """Times (moved apart where events of different causes tie) and estimates equal lifelines' to the last bit;
    where no event of another cause shares a time, the times are the data's own."""
    weeks_array, causes_array = np.array(weeks, dtype=float), np.array(causes)
    for cause in sorted(set(causes) - {0}):
        ours = aalen_johansen(weeks_array, causes_array, cause)
        theirs = _lifelines_incidence(weeks_array, causes_array, cause)
        assert np.array_equal(ours["week"].to_numpy(), theirs.index.to_numpy(dtype=float))
        assert np.array_equal(ours["estimate"].to_numpy(), theirs.to_numpy())
        tied = any(w == v and c != d and c and d for w, c in zip(weeks, causes, strict=True)
                   for v, d in zip(weeks, causes, strict=True))
        assert set(ours["week"]) == {0.0, *weeks} if not tied else set(ours["week"]) != {0.0, *weeks}


def test_aalen_johansen_rows_read_at_given_weeks() -> None:
    """Cause 1 at 1 and 4, cause 2 at 2, censored at 3 (no ties). F1 = 0 at 0, 1/4 from 1; the survival before 4 is
    3/4 * 2/3 = 1/2 and the last patient has cause 1 there: F1(4) = 1/4 + 1/2 = 3/4. Read at 0, 2.5 and 10, only the
    rows of weeks 0, 2 and 4 are kept (at risk 4, 3 and 1)."""
    weeks, causes = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 2, 0, 1])
    full = aalen_johansen_all(weeks, causes, [1, 2])
    assert full[1]["week"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert full[1]["estimate"].tolist() == pytest.approx([0.0, 0.25, 0.25, 0.25, 0.75], rel=1e-15)
    assert full[2]["estimate"].tolist() == pytest.approx([0.0, 0.0, 0.25, 0.25, 0.25], rel=1e-15)
    part = aalen_johansen_all(weeks, causes, [1, 2], at=np.array([0.0, 2.5, 10.0]))
    assert list(part) == [1, 2]
    assert list(part[1].columns) == ["week", "at_risk", "estimate", "variance", "ci_low", "ci_high"]
    assert part[1]["week"].tolist() == [0.0, 2.0, 4.0] and part[1]["at_risk"].tolist() == [4.0, 3.0, 1.0]
    assert part[1]["estimate"].tolist() == pytest.approx([0.0, 0.25, 0.75], rel=1e-15)
    assert part[2]["estimate"].tolist() == pytest.approx([0.0, 0.25, 0.25], rel=1e-15)
    assert part[1]["variance"].tolist() == full[1]["variance"].iloc[[0, 2, 4]].tolist()


def test_cumulative_incidence_causes_are_each_arms_dropout_reasons() -> None:
    """Arm a: 'rash' at 2.005 and 2.01, lost to follow-up at 3, a relapse at 1 before a 'neuro' discontinuation at 4,
    censored at 5. Arm b: 'itch' at 1, censored at 5. Each arm's adverse events are its own dropout reasons, whether
    or not they came first ('neuro' never does: its incidence stays 0), and a loss is not one. By default every
    event time has a row; compact, only the rows the grid of horizon 10 (steps of 1/52) reads: at week 2 the row of
    week 1, at 2.019 that of 2.01, none of 2.005."""
    patients = patients_table([
        {"arm": "a", "dropout": True, "dropout_reason": "rash", "dropout_week": 2.005},
        {"arm": "a", "dropout": True, "dropout_reason": "rash", "dropout_week": 2.01},
        {"arm": "a", "dropout": True, "dropout_reason": "lost_to_follow_up", "dropout_week": 3.0},
        {"arm": "a", "dropout": True, "dropout_reason": "neuro", "dropout_week": 4.0, "first_relapse_week": 1.0},
        {"arm": "a", "observed_weeks": 5.0},
        {"arm": "b", "dropout": True, "dropout_reason": "itch", "dropout_week": 1.0},
        {"arm": "b", "observed_weeks": 5.0},
    ])
    tables = cumulative_incidence(patients, 10.0)
    assert list(tables) == [("a", "discontinuation.neuro"), ("a", "discontinuation.rash"), ("a", "first_relapse"),
                            ("a", "lost_to_follow_up"), ("b", "discontinuation.itch"), ("b", "first_relapse"),
                            ("b", "lost_to_follow_up")]
    rash = tables[("a", "discontinuation.rash")]
    assert rash["week"].tolist() == [0.0, 1.0, 2.005, 2.01, 3.0, 5.0]  # a patient's first event only
    # five patients: relapse at 1 (S = 4/5), rash at 2.005 (+ 4/5 * 1/4 = 1/5) and 2.01 (+ 3/5 * 1/3 = 1/5)
    assert rash["estimate"].tolist() == pytest.approx([0, 0, 0.2, 0.4, 0.4, 0.4], rel=1e-15)
    assert (tables[("a", "discontinuation.neuro")]["estimate"] == 0.0).all()
    assert tables[("a", "lost_to_follow_up")]["estimate"].iloc[-1] == pytest.approx(0.2, rel=1e-15)
    assert tables[("b", "discontinuation.itch")]["estimate"].tolist() == pytest.approx([0.0, 0.5, 0.5], rel=1e-15)
    compact = cumulative_incidence(patients, 10.0, compact=True)
    assert compact[("a", "discontinuation.rash")]["week"].tolist() == [0.0, 1.0, 2.01, 3.0, 5.0]


def test_restricted_means_per_replication_in_order_of_appearance() -> None:
    """Replications 0, 2, 1, 2, 0 (not sorted): rmst_by_unit returns them as they first appear, 0, 2, 1. Horizon 10.
    Replication 0: events at 2 and 1: S = 1/2 on [1, 2), then 0: RMST 1.5; variance at 1 (n 2, d 1, A 0.5):
    0.25 / 2 = 0.125, at 2 everyone left has the event: 0. Replication 2: event at 4, censored at 6: RMST
    4 + 6/2 = 7, variance 3^2 / 2 = 4.5. Replication 1: one event at 3: RMST 3, variance 0."""
    weeks = np.array([2.0, 4.0, 3.0, 6.0, 1.0])
    event = np.array([True, True, True, False, True])
    for replication in (np.array([0, 2, 1, 2, 0]), np.array([0, 2, 1, 2, 0]).astype(float)):
        reps, values, variances = rmst_by_unit(weeks, event, replication, 10.0)
        assert reps.tolist() == [0, 2, 1]
        assert values.tolist() == pytest.approx([1.5, 7.0, 3.0], rel=1e-15)
        assert variances.tolist() == pytest.approx([0.125, 4.5, 0.0], rel=1e-15, abs=1e-300)
    reps, values, _ = rmst_by_unit(weeks[[4, 0, 2, 1, 3]], event[[4, 0, 2, 1, 3]], np.array([0, 0, 1, 2, 2]), 10.0)
    assert reps.tolist() == [0, 1, 2] and values.tolist() == pytest.approx([1.5, 3.0, 7.0], rel=1e-15)


# --- cost-effectiveness table ---------------------------------------------------------------------------------------

def test_economics_table_with_two_replications_by_hand() -> None:
    """Two patients per replication at the mean -+ (10, 0.01). Replication means A: (100, 1.0), (300, 1.2); B:
    (1100, 1.1), (1500, 1.25). Two replications: intervals over the replication means, with t(0.975, 1) = 12.7062.
    A's cost: 200 +- 12.7062 * 141.42 / sqrt(2) = 200 +- 1270.62. B - A by replication: costs 1000 and 1200 (mean
    1100, half-width 12.7062 * 100), QALYs 0.1 and 0.05 (mean 0.075, half-width 12.7062 * 0.025). The incremental
    analysis on the means: B costs 1100 more for 0.075 more QALYs."""
    t1 = 12.706204736174705
    rows = []
    for arm, means in (("A", [(100.0, 1.0), (300.0, 1.2)]), ("B", [(1100.0, 1.1), (1500.0, 1.25)])):
        for replication, (cost, qalys) in enumerate(means):
            for patient, shift in enumerate((-1.0, 1.0)):
                rows.append({"replication": replication, "arm": arm, "patient": patient, "cost": cost + 10 * shift,
                             "qalys": qalys + 0.01 * shift, "cost_undiscounted": cost, "qalys_undiscounted": qalys})
    out = economics_table(pd.DataFrame(rows), "A", [1000.0])
    triple = ["", "_ci_low", "_ci_high"]
    assert list(out.columns) == (
        ["arm"] + [f"{c}{s}" for c in ("cost", "qalys", "cost_undiscounted", "qalys_undiscounted") for s in triple]
        + ["status", "dominated_by", "incremental_cost", "incremental_qalys", "icer"]
        + [f"{c}_difference{s}" for c in ("cost", "qalys") for s in triple]
        + [f"nmb_1000{s}" for s in triple] + [f"nmb_difference_1000{s}" for s in triple])
    assert out.index.tolist() == [0, 1]
    a, b = out.set_index("arm").loc["A"], out.set_index("arm").loc["B"]
    assert [a["cost"], a["cost_ci_low"], a["cost_ci_high"]] == pytest.approx([200.0, 200 - t1 * 100, 200 + t1 * 100])
    assert [b["cost_difference"], b["cost_difference_ci_low"], b["cost_difference_ci_high"]] == pytest.approx(
        [1100.0, 1100 - t1 * 100, 1100 + t1 * 100])
    assert [b["qalys_difference"], b["qalys_difference_ci_low"], b["qalys_difference_ci_high"]] == pytest.approx(
        [0.075, 0.075 - t1 * 0.025, 0.075 + t1 * 0.025])
    assert all(math.isnan(a[f"cost_difference{s}"]) and math.isnan(a[f"qalys_difference{s}"]) for s in triple)
    assert (b["incremental_cost"], b["incremental_qalys"]) == pytest.approx((1100.0, 0.075))
    assert math.isnan(a["incremental_cost"]) and math.isnan(a["incremental_qalys"])
    # net benefit at 1,000 per QALY: B - A by replication 1000 * 0.1 - 1000 = -900 and 50 - 1200 = -1150
    assert b["nmb_difference_1000"] == pytest.approx(-1025.0)


def test_economics_table_errors_in_full() -> None:
    patients = pd.DataFrame({"replication": 0, "arm": ["A", "B"], "patient": 0, "cost": 1.0, "qalys": 1.0,
                             "cost_undiscounted": 1.0, "qalys_undiscounted": 1.0})
    with pytest.raises(ValueError, match=r"^reference arm 'Z' is not in the table \(A, B\)$"):
        economics_table(patients, "Z", [1.0])
    with pytest.raises(ValueError, match="^economics_table needs at least one threshold$"):
        economics_table(patients, "A", [])


# --- time course and its folding ---------------------------------------------------------------------------------

EVENT_COLUMNS = ["replication", "arm", "patient", "week", "event", "therapy", "detail"]


def test_occupancy_counts_by_hand() -> None:
    """Grid 0, 1, 2, 3. Patient 0: response at 1, remission at 2. Patient 1: lost at 2. Patient 2: response at 1,
    relapse (back to active) at 3. Patient 3: a response at week 0, its only event (it counts from week 0)."""
    grid = np.array([0.0, 1.0, 2.0, 3.0])
    patient = np.array([0, 0, 1, 2, 2, 3])
    week = np.array([1.0, 2.0, 2.0, 1.0, 3.0, 0.0])
    event = ["response", "remission", "lost_to_follow_up", "response", "relapse", "response"]
    counts, present = occupancy_counts(patient, week, event, grid)
    assert present == 4
    assert counts.tolist() == [[3, 1, 0, 1], [1, 3, 2, 1], [0, 0, 1, 1], [0, 0, 1, 1]]  # active, response, ...
    # The patients interleaved, as rows of several replications read back can be (each keeps its events' order;
    # the second order starts with the lowest patient number, so only a full check finds it unsorted).
    # The third starts with patient 3's change at week 0, which still comes after the patient's start. The last
    # has patient 2's events out of time order, as a table sorted by patient alone can hold them: sorted by
    # week, not taken as a block's log (its later event is not earlier than the table's first).
    for order in ([3, 0, 5, 2, 1, 4], [0, 3, 5, 1, 2, 4], [5, 0, 1, 2, 3, 4], [0, 1, 2, 4, 3, 5]):
        interleaved, also_four = occupancy_counts(patient[order], week[order], [event[i] for i in order], grid)
        assert also_four == 4 and interleaved.tolist() == counts.tolist()
    assert state_changes(["response", "adverse_event", "relapse"]).tolist() == [1, -1, 0]
    single, one = occupancy_counts(np.array([7]), np.array([0.0]), ["response"], grid)
    assert one == 1 and single.tolist() == [[0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    empty, none = occupancy_counts(np.array([], dtype=int), np.array([]), [], grid)
    assert none == 0 and empty.tolist() == [[0] * 4] * 4
    assert list(occupancy_table({}, grid).columns) == ["arm", "week", "state", "patients", "share"]


def test_occupancy_folded_block_by_block() -> None:
    """The same patients in two blocks (0-1, then 2-3) give the same counts; a block without patients adds no arm."""
    grid = np.array([0.0, 1.0, 2.0, 3.0])
    folded = OccupancyAccumulator(grid)
    folded.add("a", np.array([0, 0, 1]), np.array([1.0, 2.0, 2.0]), ["response", "remission", "lost_to_follow_up"])
    folded.add("a", np.array([2, 2, 3]), np.array([1.0, 3.0, 0.0]), ["response", "relapse", "response"])
    folded.add("b", np.array([], dtype=int), np.array([]), [])
    folded.add("c", np.array([5]), np.array([9.0]), ["course_start"])
    table = folded.finish()
    assert list(dict.fromkeys(table["arm"])) == ["a", "c"]
    assert table["week"].tolist() == grid.tolist() * 8 and table["state"].tolist()[:5] == ["active"] * 4 + ["response"]
    a = table[table["arm"] == "a"]
    assert a["patients"].tolist() == [3, 1, 0, 1, 1, 3, 2, 1, 0, 0, 1, 1, 0, 0, 1, 1]
    assert a["share"].tolist() == pytest.approx([v / 4 for v in a["patients"]], rel=1e-15)
    assert table.loc[table["arm"] == "c", "patients"].tolist() == [1, 1, 1, 1] + [0] * 12


def test_swimmer_spells_at_a_dose_reduction() -> None:
    """A course from week 0, its dose reduced at 4, stopped at 10, follow-up to 12: spells full 0-4 and reduced
    ('taper') 4-10, nothing after the stop."""
    events = pd.DataFrame([(0, "a", 0, 0.0, "course_start", "thal", ""), (0, "a", 0, 4.0, "dose_reduction", "thal", ""),
                           (0, "a", 0, 10.0, "drug_stop", "thal", ""), (0, "a", 0, 12.0, "end_of_follow_up", "", "")],
                          columns=EVENT_COLUMNS)
    patients = pd.DataFrame({"replication": [0], "arm": ["a"], "patient": [0], "observed_weeks": [12.0],
                             "dropout": [False], "dropout_week": [math.nan]})
    sample = swimmer_sample(events, patients)
    spells = sample.spells[["therapy", "level", "start", "end"]].to_numpy().tolist()
    assert spells == [["thal", "full", 0.0, 4.0], ["thal", "taper", 4.0, 10.0]]


def _units_rows() -> pd.DataFrame:
    """Two replications of arms a and b, two patients each (subgroups y then x), metrics x and flag."""
    return pd.DataFrame({"replication": [0, 0, 0, 0, 1, 1, 1, 1], "arm": ["a", "a", "b", "b"] * 2,
                         "patient": [0, 1] * 4, "subgroup": ["y", "x"] * 4,
                         "x": [1.0, 3.0, 2.0, 4.0, 5.0, 7.0, 0.0, 6.0],
                         "flag": [True, False, True, True, False, False, True, False]})


def test_units_folded_one_patient_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fed in blocks of 3, 1 and 4 patients and reduced at every (arm, replication) (a batch of one patient), the
    units are each cohort's replication means: all (a, 0): x 2, flag 1/2; (b, 0): 3, 1; (a, 1): 6, 0; (b, 1): 3, 1/2;
    subgroup x the second patients' values, y the first's. Two replications: intervals over replications, and the
    at-least counts (flag sum and size per arm and replication)."""
    import sim.stats.accumulate as accumulate

    monkeypatch.setattr(accumulate, "BATCH_PATIENTS", 1)
    rows = _units_rows()
    folded = UnitsAccumulator(["x", "flag"], subgroups=True)
    for part in (rows.iloc[0:3], rows.iloc[3:4], rows.iloc[4:4], rows.iloc[4:8]):
        folded.add({c: part[c].to_numpy() for c in part.columns})
    units = folded.finish()
    assert units.binary == ["flag"] and units.metrics == ["x", "flag"]
    assert [(label, key) for label, _, key in units.cohorts] == [("all", "replication"), ("x", "replication"),
                                                                ("y", "replication")]
    whole = units.cohorts[0][1]
    assert whole.index.tolist() == [0, 1, 2, 3]
    assert whole[["arm", "replication", "x", "flag"]].to_numpy().tolist() == [
        ["a", 0, 2.0, 0.5], ["b", 0, 3.0, 1.0], ["a", 1, 6.0, 0.0], ["b", 1, 3.0, 0.5]]
    assert units.cohorts[1][1]["x"].tolist() == [3.0, 4.0, 7.0, 6.0]
    assert units.cohorts[2][1]["x"].tolist() == [1.0, 2.0, 5.0, 0.0]
    assert units.counts is not None
    assert units.counts[("flag", "sum")].tolist() == [1, 2, 0, 1]
    assert units.counts[("flag", "size")].tolist() == [2, 2, 2, 2]


def test_units_of_one_replication_are_the_patients(monkeypatch: pytest.MonkeyPatch) -> None:
    """One replication: the units are the patients themselves (intervals over patients), no at-least counts."""
    import sim.stats.accumulate as accumulate

    monkeypatch.setattr(accumulate, "BATCH_PATIENTS", 1)
    rows = _units_rows().iloc[0:4]
    folded = UnitsAccumulator(["x", "flag"], subgroups=False)
    for part in (rows.iloc[0:1], rows.iloc[1:4]):
        folded.add({c: part[c].to_numpy() for c in part.columns})
    units = folded.finish()
    assert [(label, key) for label, _, key in units.cohorts] == [(None, "patient")]
    assert units.cohorts[0][1]["x"].tolist() == [1.0, 3.0, 2.0, 4.0] and units.counts is None
    one_arm = _units_rows().query("arm == 'a'")  # replications follow each other in the same arm
    folded = UnitsAccumulator(["x"], subgroups=False)
    folded.add({c: one_arm[c].to_numpy() for c in one_arm.columns})
    assert folded.finish().cohorts[0][1][["replication", "x"]].to_numpy().tolist() == [[0, 2.0], [1, 6.0]]
    nothing = UnitsAccumulator(["x"], subgroups=False).finish()
    assert nothing.cohorts == [] and nothing.counts is None and nothing.binary == []


def test_survival_arrays_folded_with_subgroups_and_causes_met_on_the_way() -> None:
    """Block 1: arm b, subgroup y, a 'rash' dropout at 2. Block 2: arm a, subgroups x and none, a loss at 3 and a
    censoring. Arms in order of appearance (b, a); causes "" then in order of appearance; subgroups sorted (x, y)
    with their codes renumbered (y: 1, x: 0, none: -1). Nothing fed: empty arrays, no subgroups."""
    first = patients_table([{"arm": "b", "dropout": True, "dropout_reason": "rash", "dropout_week": 2.0}])
    first["subgroup"] = ["y"]
    second = patients_table([{"arm": "a", "dropout": True, "dropout_reason": "lost_to_follow_up", "dropout_week": 3.0},
                             {"arm": "a", "observed_weeks": 4.0}])
    second["subgroup"] = ["x", None]
    folded = SurvivalAccumulator()
    for block in (first, second):
        folded.add(survival_block({c: block[c].to_numpy() for c in block.columns}))
    data, disease_free = folded.finish()
    assert (data.arms, data.subgroups, data.causes) == (["b", "a"], ["x", "y"],
                                                         ["", "discontinuation.rash", "lost_to_follow_up"])
    assert data.arm.tolist() == [0, 1, 1] and data.subgroup.tolist() == [1, 0, -1]
    assert data.first_cause.tolist() == [1, 2, 0] and data.first_weeks.tolist() == [2.0, 3.0, 4.0]
    assert data.replication.tolist() == [0, 0, 0] and disease_free.tolist() == [0.0, 0.0, 0.0]
    large = patients_table([{"observed_weeks": 1.0 + k % 7} for k in range(3000)])  # more than the first capacity
    folded = SurvivalAccumulator()
    folded.add(survival_block({c: large[c].to_numpy() for c in large.columns}))
    assert folded.finish()[0].dropout_weeks.tolist() == [1.0 + k % 7 for k in range(3000)]
    empty, weeks = SurvivalAccumulator().finish()
    assert len(empty) == 0 and empty.subgroups is None and weeks.size == 0


def test_swimmer_patients_are_the_first_logged_in_each_arm() -> None:
    """Two per arm. Block 1 logs b's patient 3, then a's 3 and 1 (kept in the log's order of arms); block 2 a's 2
    and 1:0 (too late: a is full), b's 2 and 0 (only 2 is still wanted). The events kept are those of the chosen
    patients, block by block; the patient rows kept those of the chosen patients, arm by arm."""
    def block(rows: list[tuple[str, int, int]]) -> pd.DataFrame:
        return pd.DataFrame([(r, arm, p, 0.0, "course_start", "thal", "") for arm, r, p in rows]
                            + [(r, arm, p, 5.0, "end_of_follow_up", "", "") for arm, r, p in rows],
                            columns=EVENT_COLUMNS)

    folded = SwimmerAccumulator(per_arm=2)
    assert folded.wanted("a") == 2
    folded.add_events(block([("b", 0, 3), ("a", 0, 3), ("a", 0, 1)]))
    assert (folded.wanted("a"), folded.wanted("b")) == (0, 1)
    folded.add_events(block([("a", 0, 2), ("a", 1, 0), ("b", 0, 2), ("b", 0, 0)]))
    assert (folded.wanted("a"), folded.wanted("b")) == (0, 0)
    patients = pd.DataFrame({"replication": [0, 0, 0, 0, 0, 1], "arm": ["a", "b", "a", "b", "b", "a"],
                             "patient": [1, 0, 3, 2, 3, 0], "dropout": False, "dropout_week": math.nan,
                             "observed_weeks": 5.0})
    folded.add_patients(patients.iloc[:3])
    folded.add_patients(patients.iloc[3:])
    events, kept = folded.finish()
    assert list(zip(events["arm"], events["patient"], events["event"], strict=True)) == [
        ("b", 3, "course_start"), ("b", 3, "end_of_follow_up"),
        ("a", 3, "course_start"), ("a", 1, "course_start"), ("a", 3, "end_of_follow_up"), ("a", 1, "end_of_follow_up"),
        ("b", 2, "course_start"), ("b", 2, "end_of_follow_up")]
    assert events.index.tolist() == list(range(8))
    assert list(zip(kept["arm"], kept["patient"], strict=True)) == [("a", 1), ("a", 3), ("b", 2), ("b", 3)]
    assert kept.index.tolist() == [0, 1, 2, 3]
    nothing = SwimmerAccumulator().finish()
    assert nothing[0].empty and nothing[1].empty and SwimmerAccumulator().wanted("a") == 30
