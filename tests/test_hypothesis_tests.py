"""The two-sample tests on small hand-worked cases and their edges: log-rank by hand, Welch and
Mann-Whitney against scipy's own functions (which the code does not call for these branches),
constant arms, empty arms and one-sided directions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.stats.testing import compare_arms, logrank


def test_logrank_by_hand_with_a_tie_and_censoring():
    """Control 1, 3, 4+, 5; experimental 2, 3, 6+ (+ censored). Event times 1, 2, 3, 5:

    t  n0 n1  d  d1  E1 = d n1/n   V = d (n1/n)(n0/n)(n - d)/(n - 1)
    1   4  3  1  0   3/7           12/49
    2   3  3  1  1   1/2           1/4
    3   3  2  2  1   4/5           2 (2/5)(3/5)(3/4) = 0.36
    5   1  1  1  0   1/2           1/4 (n - 1 = 1)
    U = O1 - E1 = 2 - 2.228571 = -0.228571; V = 1.104898; z = U / sqrt(V) = -0.217453;
    hazard ratio exp(U / V) = 0.813; two-sided p = erfc(|z| / sqrt 2) = 0.8279.
    """
    u = 2 - (3 / 7 + 0.5 + 0.8 + 0.5)
    v = 12 / 49 + 0.25 + 0.36 + 0.25
    z = u / math.sqrt(v)
    control, control_event = np.array([1, 3, 4, 5]), [1, 1, 0, 1]  # events as 0/1 integers, not booleans
    experimental, experimental_event = np.array([2, 3, 6]), [1, 1, 0]
    hr, p = logrank(control, control_event, experimental, experimental_event)
    assert hr == pytest.approx(math.exp(u / v)) and p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
    assert logrank(control, control_event, experimental, experimental_event, "greater")[1] == pytest.approx(
        0.5 * math.erfc(z / math.sqrt(2)))
    assert logrank(control, control_event, experimental, experimental_event, "less")[1] == pytest.approx(
        0.5 * math.erfc(-z / math.sqrt(2)))
    effect, p_arms = compare_arms("logrank", "two-sided", control.astype(float), experimental.astype(float),
                                  np.array(control_event, dtype=bool), np.array(experimental_event, dtype=bool))
    assert (effect, p_arms) == pytest.approx((math.exp(u / v), p))
    assert compare_arms("logrank", "greater", control.astype(float), experimental.astype(float),
                        np.array(control_event, dtype=bool),
                        np.array(experimental_event, dtype=bool))[1] == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))


def test_logrank_with_one_event_time_and_degenerate_cases():
    """Control 2+, 3+; experimental 1, 4+: at week 1, 4 at risk (2 and 2), one death in group 1:
    E1 = 1/2, V = 1 (1/2)(1/2)(3/3) = 1/4, U = 1/2, z = 1, HR = exp(2), p = erfc(1 / sqrt 2) = 0.3173."""
    hr, p = logrank(np.array([2.0, 3.0]), np.array([False, False]), np.array([1.0, 4.0]), np.array([True, False]))
    assert hr == pytest.approx(math.exp(2.0)) and p == pytest.approx(math.erfc(1 / math.sqrt(2)))
    none = logrank(np.array([2.0]), np.array([False]), np.array([3.0]), np.array([False]))
    assert all(math.isnan(x) for x in none)  # no event at all
    # at the only event time nobody of the control arm is at risk: no information (V = 0)
    alone = logrank(np.array([0.5]), np.array([False]), np.array([1.0]), np.array([True]))
    assert all(math.isnan(x) for x in alone)
    with pytest.raises(AssertionError):
        compare_arms("logrank", "two-sided", np.array([1.0]), np.array([2.0]), np.array([True]), None)


def test_welch_against_scipy_including_equal_variances():
    """Equal non-zero variances (1, 2, 3 and 4, 5, 6) and unequal ones; every alternative."""
    for control, experimental in (([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]), ([1.0, 2.0, 4.0, 8.0], [3.0, 3.5, 9.0]),
                                  ([5.0, 6.0], [1.0, 2.0, 2.5])):
        for alternative in ("two-sided", "greater", "less"):
            effect, p = compare_arms("welch_t", alternative, np.array(control), np.array(experimental))
            expected = stats.ttest_ind(experimental, control, equal_var=False, alternative=alternative).pvalue
            assert p == pytest.approx(expected, rel=1e-9), (control, experimental, alternative)
            assert effect == pytest.approx(np.mean(experimental) - np.mean(control))


@pytest.mark.parametrize(("control", "experimental", "alternative", "expected"), [
    ([2.0, 2.0], [2.0, 2.0, 2.0], "two-sided", 1.0),  # no difference: no evidence
    ([2.0, 2.0], [2.0, 2.0, 2.0], "greater", 1.0),
    ([2.0, 2.0], [3.0, 3.0, 3.0], "two-sided", 0.0),  # constant arms that differ: certain
    ([2.0, 2.0], [3.0, 3.0, 3.0], "greater", 0.0),
    ([2.0, 2.0], [2.5, 2.5, 2.5], "greater", 0.0),
    ([2.0, 2.0], [3.0, 3.0, 3.0], "less", 1.0),
    ([3.0, 3.0], [2.0, 2.0, 2.0], "less", 0.0),
    ([3.0, 3.0], [2.0, 2.0, 2.0], "greater", 1.0),
])
def test_welch_with_constant_arms(control: list[float], experimental: list[float], alternative: str,
                                  expected: float) -> None:
    assert compare_arms("welch_t", alternative, np.array(control), np.array(experimental))[1] == expected


def test_too_few_patients_give_no_p_value():
    """No patient in an arm: neither effect nor p; one patient: the Welch p-value is undefined."""
    for control, experimental in (([], [1.0, 2.0]), ([1.0, 2.0], [])):
        for test in ("fisher", "chi2", "welch_t", "mann_whitney"):
            effect, p = compare_arms(test, "two-sided", np.array(control), np.array(experimental))
            assert math.isnan(effect) and math.isnan(p)
    effect, p = compare_arms("welch_t", "two-sided", np.array([1.0]), np.array([2.0, 4.0]))
    assert effect == 2.0 and math.isnan(p)
    effect, p = compare_arms("welch_t", "two-sided", np.array([1.0, 3.0]), np.array([2.0]))
    assert effect == 0.0 and math.isnan(p)
    two = compare_arms("welch_t", "two-sided", np.array([1.0, 3.0]), np.array([2.0, 5.0]))[1]
    assert two == pytest.approx(stats.ttest_ind([2.0, 5.0], [1.0, 3.0], equal_var=False).pvalue)


def test_mann_whitney_normal_approximation_beyond_eight_and_with_ties():
    """Nine per arm without ties, and five per arm with ties: the normal approximation with tie and
    continuity corrections (scipy's 'asymptotic' method), in every direction, including an
    experimental arm that is lower (U below its mean)."""
    rng = np.random.default_rng(4)
    untied = rng.permutation(np.arange(18.0)) + 0.25
    tied = np.array([1.0, 2.0, 2.0, 3.0, 5.0, 2.0, 3.0, 3.0, 4.0, 6.0])
    for control, experimental in ((untied[:9], untied[9:]), (untied[9:], untied[:9]), (tied[:5], tied[5:]),
                                  (tied[5:], tied[:5])):
        for alternative in ("two-sided", "greater", "less"):
            p = compare_arms("mann_whitney", alternative, control, experimental)[1]
            expected = stats.mannwhitneyu(experimental, control, alternative=alternative,
                                          method="asymptotic", use_continuity=True).pvalue
            assert p == pytest.approx(expected, rel=1e-9), (alternative, control, experimental)


def test_mann_whitney_is_1_for_identical_arms_and_never_above_1():
    same = np.full(10, 2.0)
    assert compare_arms("mann_whitney", "two-sided", same, same)[1] == 1.0  # every value tied: no spread
    # ten per arm (the normal approximation), rank sums 105 each: U = 50, its mean; twice the upper
    # tail (with the continuity correction, above 1/2) would exceed 1
    experimental = np.array([1.0, 4.0, 5.0, 8.0, 9.0, 12.0, 13.0, 16.0, 17.0, 20.0])
    control = np.array([2.0, 3.0, 6.0, 7.0, 10.0, 11.0, 14.0, 15.0, 18.0, 19.0])
    assert compare_arms("mann_whitney", "two-sided", control, experimental)[1] == 1.0


def test_chi2_one_sided_is_the_pooled_z_tail():
    """Experimental 15/20, control 8/20: pooled 23/40, SE sqrt(0.575 * 0.425 * 0.1) = 0.15632;
    z = 0.35 / 0.15632 = 2.2390; greater: 0.5 erfc(z / sqrt 2) = 0.01258; less: 1 - that."""
    control = np.array([1.0] * 8 + [0.0] * 12)
    experimental = np.array([1.0] * 15 + [0.0] * 5)
    z = 0.35 / math.sqrt(0.575 * 0.425 * 0.1)
    assert compare_arms("chi2", "greater", control, experimental)[1] == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))
    assert compare_arms("chi2", "less", control, experimental)[1] == pytest.approx(0.5 * math.erfc(-z / math.sqrt(2)))
    assert compare_arms("chi2", "two-sided", control, experimental)[1] == pytest.approx(math.erfc(z / math.sqrt(2)))
