"""The verification verdicts on hand-made checks: exact ranges, binomial and mean intervals, Bonferroni z, the table."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from sim.studies.verify.checks import Check, Outcome, evaluate, evaluate_all, format_table, simultaneous_z


def check(kind: str, expected: float, values: list[float], case: str = "1 case (rule 1)",
          quantity: str = "q") -> Check:
    return Check(case, quantity, expected, "formula", kind, np.array(values, dtype=float))


def test_an_exact_check_allows_1e_9_relative_and_reports_the_range():
    values = [3.0, 3.0 + 0.5e-9, 3.0 - 0.5e-9]
    outcome = evaluate(check("exact", 3.0, values), 3.0)
    assert outcome.passed and (outcome.low, outcome.high) == (min(values), max(values))
    assert outcome.simulated == pytest.approx(3.0)
    assert not evaluate(check("exact", 3.0, [3.0, 3.0 + 4e-9]), 3.0).passed  # 1e-9 * 3 allowed
    assert evaluate(check("exact", 3.0, [3.0, 3.0 + 2.5e-9]), 3.0).passed
    # relative to the expected value when it is large: 1e-9 * 2000 = 2e-6
    assert evaluate(check("exact", 2000.0, [2000.0 + 1.5e-6]), 3.0).passed
    assert not evaluate(check("exact", 2000.0, [2000.0 + 2.5e-6]), 3.0).passed
    assert not evaluate(check("exact", 0.0, [2e-9]), 3.0).passed  # at least 1e-9 absolute
    assert evaluate(check("exact", 0.0, [0.0, 1e-9]), 3.0).passed  # the tolerance itself is allowed


def test_a_proportion_check_uses_the_binomial_standard_error_of_the_simulated_share():
    """30 of 100: SE sqrt(0.3 * 0.7 / 100) = 0.045826; with z = 2 the interval is [0.20835, 0.39165]."""
    values = [1.0] * 30 + [0.0] * 70
    outcome = evaluate(check("proportion", 0.39, values), 2.0)
    se = math.sqrt(0.21 / 100)
    assert (outcome.simulated, outcome.low, outcome.high) == pytest.approx((0.3, 0.3 - 2 * se, 0.3 + 2 * se))
    assert outcome.passed and outcome.n == 100
    assert not evaluate(check("proportion", 0.40, values), 2.0).passed
    assert not evaluate(check("proportion", 0.20, values), 2.0).passed
    assert evaluate(check("proportion", 0.21, values), 2.0).passed


def test_a_mean_check_uses_the_sample_standard_deviation():
    """Values 1, 2, 3, 4: mean 2.5, sd 1.291 (n - 1), SE 0.6455; z = 3: [0.5635, 4.4365]."""
    values = [1.0, 2.0, 3.0, 4.0]
    outcome = evaluate(check("mean", 4.4, values), 3.0)
    se = float(np.std(values, ddof=1)) / 2
    assert (outcome.low, outcome.high) == pytest.approx((2.5 - 3 * se, 2.5 + 3 * se))
    assert outcome.passed
    assert not evaluate(check("mean", 4.45, values), 3.0).passed
    assert not evaluate(check("mean", 0.55, values), 3.0).passed
    single = evaluate(check("mean", 1.0, [1.0]), 3.0)  # one value: no standard error, no verdict of pass
    assert math.isnan(single.low) and not single.passed
    pair = evaluate(check("mean", 2.0, [1.0, 3.0]), 1.0)  # two values: sd sqrt 2, SE 1
    assert (pair.low, pair.high) == pytest.approx((1.0, 3.0)) and pair.passed


@pytest.mark.parametrize("kind", ["proportion", "mean"])
def test_the_interval_ends_belong_to_it(kind: str):
    values = [1.0] * 3 + [0.0] * 7 if kind == "proportion" else [1.0, 2.0, 4.0, 7.0]
    outcome = evaluate(check(kind, 0.0, values), 2.5)
    assert evaluate(check(kind, outcome.low, values), 2.5).passed
    assert evaluate(check(kind, outcome.high, values), 2.5).passed
    assert not evaluate(check(kind, outcome.high + 1e-9, values), 2.5).passed


def test_an_empty_check_fails_and_an_unknown_kind_is_an_error():
    empty_check = check("proportion", 0.5, [])
    empty = evaluate(empty_check, 3.0)
    assert empty.passed is False and empty.check is empty_check and empty.n == 0
    assert math.isnan(empty.simulated) and math.isnan(empty.low) and math.isnan(empty.high)
    with pytest.raises(ValueError, match="unknown kind"):
        evaluate(check("median", 0.5, [0.5]), 3.0)


@pytest.mark.parametrize("k", [1, 2, 13, 40])
def test_simultaneous_z_is_the_bonferroni_normal_quantile(k: int):
    """Two-sided 95% over k checks: z = Phi^-1(1 - 0.05 / (2k)) (1.96 for one check)."""
    assert simultaneous_z(k) == pytest.approx(NormalDist().inv_cdf(1 - 0.05 / (2 * k)), rel=1e-12)
    assert simultaneous_z(k, level=0.99) == pytest.approx(NormalDist().inv_cdf(1 - 0.01 / (2 * k)), rel=1e-12)
    assert simultaneous_z(0) == simultaneous_z(1)


def test_evaluate_all_takes_z_over_the_stochastic_checks_only():
    """Two proportion checks and one exact: z over 2 checks = 2.2414. 0.3 of 100 against 0.4: 2.18 SE off,
    so it passes with 2.2414 (and would fail with 1.96, the z of one check)."""
    values = [1.0] * 30 + [0.0] * 70
    outcomes = evaluate_all([check("proportion", 0.4, values), check("exact", 1.0, [1.0]),
                             check("proportion", 0.3, values)])
    assert [o.passed for o in outcomes] == [True, True, True]
    z = simultaneous_z(2)
    assert outcomes[0].high == pytest.approx(0.3 + z * math.sqrt(0.21 / 100))
    assert not evaluate(check("proportion", 0.4, values), simultaneous_z(1)).passed


def test_the_table_groups_by_case_and_counts_the_failures():
    outcomes = evaluate_all([
        check("exact", 2.0, [2.0, 2.0], case="1 first (rule 1)", quantity="week of response"),
        check("proportion", 0.5, [1.0] * 30 + [0.0] * 70, case="1 first (rule 1)", quantity="P(response)"),
        check("mean", 2.5, [1.0, 2.0, 3.0, 4.0], case="2 second (rule 4)", quantity="mean weeks"),
        check("exact", 1234567.0, [1234567.0], case="2 second (rule 4)", quantity="cumulative dose"),
        check("exact", 1e6, [1e6], case="2 second (rule 4)", quantity="a million"),
    ])
    text = format_table(outcomes)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert lines[0].split() == ["quantity", "(source", "below)", "expected", "simulated", "MC",
                                "95%", "interval", "/", "range", "n", "result"]
    assert set(lines[1]) == {"-"} and len(lines[1]) == 100
    # per case its name, then per check a row and the indented source under it
    assert lines[2] == "1 first (rule 1)" and lines[7] == "2 second (rule 4)"
    assert lines[4] == lines[6] == lines[9] == "      formula"
    assert lines[3].split()[:3] == ["week", "of", "response"]
    assert lines[3].split()[-2:] == ["2", "pass"] and "range [2, 2]" in lines[3]
    assert lines[5].split()[-2:] == ["100", "FAIL"] and " 0.3000 " in lines[5]
    assert " 0.5000 " in lines[5] or " 0.5 " in lines[5]
    assert lines[8].split()[-1] == "pass" and " 2.5000 " in lines[8]
    assert "1234567.0" in lines[10] and "range [1234567.0, 1234567.0]" in lines[10]  # large: one decimal
    assert "1000000.0" in lines[12]  # whole numbers are shown as such below a million only
    rule = len(lines) - 1 - lines[::-1].index(lines[1])
    z = simultaneous_z(2)
    assert " ".join(lines[rule + 1:]) == (
        f"5 checks in 2 cases: 4 passed, 1 failed. Exact checks: every patient within 1e-09. "
        f"Stochastic checks: simultaneous 95% intervals over 2 checks (z = {z:.2f}; binomial SE "
        f"for proportions, SD/sqrt(n) for means).")
    nan = format_table([Outcome(check("mean", 1.0, []), math.nan, math.nan, math.nan, False)])
    assert "[nan, nan]" in nan
