"""Edge cases of the single-arm and group-sequential designs, each small enough to check by hand or in closed form.

The single-arm expectations are exact: tiny designs worked out in the docstrings and, for the searches,
plain loops over every rule in exact rational arithmetic (fractions.Fraction with math.comb), never
the scipy functions the module calls. Several cases are chosen so that a probability equals its bound
exactly (dyadic response rates such as 1/2, 1/4, 7/8), which pins the inclusive comparisons of the
contract: "at most alpha", "at least 1 - beta".

The group-sequential expectations are closed forms: one look is the fixed test; with two looks the
joint normal probability is Owen's (1956) closed form through Owen's T function, solved by bisection
(the module integrates numerically and never calls Owen's T). Jennison and Turnbull's grid (2000,
section 19.2.1) is checked against its formula written out for r = 4, and Simpson's rule by the
polynomials it integrates exactly.

Every error message is compared in full: users read it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from fractions import Fraction
from functools import partial
from statistics import NormalDist

import numpy as np
import pytest
from scipy import special

from sim.stats.group_sequential import (
    EfficacyBoundaries,
    _grid,
    crossing_probabilities,
    drift_for_power,
    efficacy_boundaries,
    inflation_factor,
    obrien_fleming_spending,
    pocock_spending,
)
from sim.stats.single_arm import (
    binomial_tail,
    binomial_test_p_value,
    critical_count,
    empirical_operating_characteristics,
    operating_characteristics,
    simon_design,
    simon_designs,
    single_stage_design,
    two_stage_design,
)

NORMAL = NormalDist()


# ---------------------------------------------------------------- exact references (single arm)

def pmf(x: int, n: int, p: Fraction) -> Fraction:
    """P(X = x) for X ~ Binomial(n, p), exactly."""
    return math.comb(n, x) * p**x * (1 - p) ** (n - x) if 0 <= x <= n else Fraction(0)


def tail(r: int, n: int, p: Fraction) -> Fraction:
    """P(X >= r), exactly."""
    return sum((pmf(x, n, p) for x in range(max(r, 0), n + 1)), Fraction(0))


def reject(r1: int, n1: int, r: int, n: int, p: Fraction) -> Fraction:
    """P(X1 > r1 and X1 + X2 > r) for X1 ~ Bin(n1, p), X2 ~ Bin(n - n1, p): Simon's equation (1), exactly."""
    return sum((pmf(x, n1, p) * tail(r - x + 1, n - n1, p) for x in range(r1 + 1, n1 + 1)), Fraction(0))


def exact(value: float) -> Fraction:
    """The decimal a user typed (0.2 is one fifth), as an exact fraction."""
    return Fraction(repr(value))


def smallest_single_stage(p0: float, p1: float, alpha: float, beta: float) -> tuple[int, int]:
    """(n, r) of the first n whose smallest r with P(X >= r | p0) <= alpha has P(X >= r | p1) >= 1 - beta."""
    q0, q1, a, b = exact(p0), exact(p1), exact(alpha), exact(beta)
    n = 1
    while True:
        r = next(r for r in range(n + 2) if tail(r, n, q0) <= a)
        if tail(r, n, q1) >= 1 - b:
            return n, r
        n += 1


def simon_by_enumeration(p0: float, p1: float, alpha: float, beta: float,
                         n_max: int) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Optimal and minimax (r1, n1, r, n) over every rule with n <= n_max, in exact arithmetic.

    For each (n, n1, r1) Simon takes the largest r meeting the power and keeps the rule when its size
    is at most alpha. Optimal: smallest EN0, ties to the smaller n; minimax: smallest n, then smallest EN0.
    """
    q0, q1, a, b = exact(p0), exact(p1), exact(alpha), exact(beta)
    rows = []
    for n in range(2, n_max + 1):
        for n1 in range(1, n):
            for r1 in range(n1):
                powered = [r for r in range(r1, n) if reject(r1, n1, r, n, q1) >= 1 - b]
                if powered and reject(r1, n1, max(powered), n, q0) <= a:
                    en0 = n1 + (1 - (1 - tail(r1 + 1, n1, q0))) * (n - n1)
                    rows.append((en0, n, (r1, n1, max(powered), n)))
    optimal = min(rows, key=lambda row: (row[0], row[1]))
    minimax = min(rows, key=lambda row: (row[1], row[0]))
    # the cases below have a unique answer under each rule (no tie left that these keys do not break)
    assert sum(1 for row in rows if row[:2] == optimal[:2]) == 1
    assert sum(1 for row in rows if row[:2] == minimax[:2]) == 1
    return optimal[2], minimax[2]


def message(text: str) -> str:
    """A pattern matching exactly this error message."""
    return "^" + re.escape(text) + "$"


# ---------------------------------------------------------------- binomial tail, exact test, critical count

def test_binomial_tail_at_the_edges_of_its_domain():
    """n = 0 is allowed (X = 0 surely); p = 0 and p = 1 are allowed (X = 0 or X = n surely)."""
    assert binomial_tail(0, 0, 0.3) == 1.0 and binomial_tail(1, 0, 0.3) == 0.0
    assert binomial_tail(0, 5, 0.0) == 1.0 and binomial_tail(1, 5, 0.0) == 0.0
    assert binomial_tail(5, 5, 1.0) == 1.0 and binomial_tail(6, 5, 1.0) == 0.0
    assert binomial_tail(np.int64(1), np.int64(1), 0.25) == 0.25  # numpy integers are integers
    # one patient: P(X >= 1) = p0
    assert binomial_test_p_value(1, 1, 0.3) == pytest.approx(0.3, abs=1e-15)
    assert binomial_test_p_value(0, 1, 0.3) == 1.0


def test_critical_count_is_inclusive_and_allows_one_patient():
    """n = 3, p0 = 1/2: P(X >= 3) = 1/8 = alpha exactly, so r = 3 (size at most alpha, not below it).

    n = 1, p0 = 0.04: P(X >= 1) = 0.04 <= 0.05, so one response declares activity.
    """
    assert critical_count(3, 0.5, 0.125) == 3
    assert critical_count(3, 0.5, 0.12) == 4
    assert critical_count(1, 0.04, 0.05) == 1


# ---------------------------------------------------------------- single-stage design

@pytest.mark.parametrize(("p0", "p1", "alpha", "beta", "n_max", "expected"), [
    # n = 1: P(X >= 1 | 0.04) = 0.04 <= 0.05 and power P(X >= 1 | 0.9) = 0.9 >= 0.8; n_max = 1 is allowed
    (0.04, 0.9, 0.05, 0.2, 1, (1, 1)),
    # n = 1, r = 1: size P(X >= 1 | 1/4) = 1/4 = alpha and power 1/2 = 1 - beta, both bounds reached exactly
    (0.25, 0.5, 0.25, 0.5, 1, (1, 1)),
    # p0 = 1/2, alpha = 1/8: n = 1, 2 need r = n + 1 (power 0); n = 3, r = 3 has size exactly 1/8 and
    # power 0.95^3 = 0.857 >= 0.8
    (0.5, 0.95, 0.125, 0.2, 3, (3, 3)),
    # the answer is the first n of the second block of 64 sample sizes
    (0.5, 0.7, 0.025, 0.1, 1000, (65, 41)),
])
def test_single_stage_design_exact_cases(p0, p1, alpha, beta, n_max, expected):
    assert smallest_single_stage(p0, p1, alpha, beta) == expected
    design = single_stage_design(p0, p1, alpha, beta, n_max=n_max)
    n, r = expected
    assert (design.n, design.r, design.p0, design.p1) == (n, r, p0, p1)
    assert design.alpha == pytest.approx(float(tail(r, n, exact(p0))), abs=1e-15)
    assert design.power == pytest.approx(float(tail(r, n, exact(p1))), abs=1e-15)
    # one patient fewer than the answer allows finds nothing
    if n > 1:
        with pytest.raises(ValueError, match=message(f"no single-stage design with n <= {n - 1}; increase n_max")):
            single_stage_design(p0, p1, alpha, beta, n_max=n - 1)


# ---------------------------------------------------------------- two-stage designs

def test_two_stage_design_of_two_patients_by_hand():
    """Rule 0/1, 1/2: stop if the first patient does not respond; active if both respond.

    alpha = p0^2 = 0.04, power = p1^2 = 0.9025, PET0 = 1 - p0 = 0.8, EN0 = 1 + 0.2 * 1 = 1.2.
    Rule 0/1, 0/2: active as soon as the first patient responds: alpha = p0, power = p1.
    """
    d = two_stage_design(0, 1, 1, 2, 0.2, 0.95)
    assert (d.r1, d.n1, d.r, d.n, d.p0, d.p1, d.criterion) == (0, 1, 1, 2, 0.2, 0.95, "given")
    assert (d.alpha, d.power, d.pet0, d.en0) == pytest.approx((0.04, 0.9025, 0.8, 1.2), abs=1e-15)
    e = two_stage_design(0, 1, 0, 2, 0.2, 0.95)
    assert (e.r, e.alpha, e.power) == (0, pytest.approx(0.2, abs=1e-15), pytest.approx(0.95, abs=1e-15))
    oc = operating_characteristics(d, [0.2, 0.5])
    assert oc.p.tolist() == [0.2, 0.5]
    assert oc.p_declare_active == pytest.approx([0.04, 0.25], abs=1e-15)


@pytest.mark.parametrize(("hypotheses", "n_max"), [
    # only n = 2 is searched: 0/1 with r = 0 has size 0.2 > 0.05; r = 1 has size 0.04 and power 0.9025
    ((0.2, 0.95, 0.05, 0.2), 2),
    # power 0.85^2 = 0.7225 < 0.8 leaves only r = 0 (r = r1): active when the first patient responds
    ((0.04, 0.85, 0.05, 0.2), 2),
    # 0/1, 1/2 at p0 = 1/4, p1 = 1/2: size 1/16 = alpha and power 1/4 = 1 - beta exactly
    ((0.25, 0.5, 0.0625, 0.75), 2),
    # 1/3, 4/6 and 0/1, 5/8 both have EN0 = 4.5 exactly: the tie goes to the smaller n
    ((0.5, 0.875, 0.125, 0.2), 8),
    # designs whose chosen r is below the largest count that can reach the power, so that stage 1 alone
    # can exceed r: those outcomes declare activity whatever stage 2 gives
    ((0.0625, 0.5625, 0.05, 0.2), 8),
    ((0.375, 0.8125, 0.25, 0.1), 6),
])
def test_simon_designs_match_exact_enumeration(hypotheses, n_max):
    p0, p1, alpha, beta = hypotheses
    optimal, minimax = simon_designs(p0, p1, alpha, beta, n_max=n_max)
    expected_optimal, expected_minimax = simon_by_enumeration(p0, p1, alpha, beta, n_max)
    for design, expected, criterion in ((optimal, expected_optimal, "optimal"), (minimax, expected_minimax, "minimax")):
        r1, n1, r, n = expected
        assert (design.r1, design.n1, design.r, design.n) == expected
        assert (design.p0, design.p1, design.criterion) == (p0, p1, criterion)
        assert design.alpha == pytest.approx(float(reject(r1, n1, r, n, exact(p0))), abs=1e-14)
        assert design.power == pytest.approx(float(reject(r1, n1, r, n, exact(p1))), abs=1e-14)
        pet0 = 1 - tail(r1 + 1, n1, exact(p0))
        assert design.pet0 == pytest.approx(float(pet0), abs=1e-14)
        assert design.en0 == pytest.approx(float(n1 + (1 - pet0) * (n - n1)), abs=1e-12)


def test_tie_of_expected_sizes_goes_to_the_smaller_n():
    """p0 = 1/2, p1 = 7/8: 1/3, 4/6 has PET0 = 1/2, EN0 = 3 + 3/2; 0/1, 5/8 has PET0 = 1/2, EN0 = 1 + 7/2."""
    optimal = simon_design(0.5, 0.875, 0.125, 0.2, n_max=8)
    assert (optimal.r1, optimal.n1, optimal.r, optimal.n, optimal.en0) == (1, 3, 4, 6, 4.5)
    other = two_stage_design(0, 1, 5, 8, 0.5, 0.875)
    assert other.en0 == 4.5 and other.alpha <= 0.125 and other.power >= 0.8


def test_empirical_counts_at_the_edges_of_their_range():
    """Rule 1/10, 5/29: stage 1 may hold all 10 patients' responses and stage 2 all 19; whole floats are counts."""
    d = two_stage_design(1, 10, 5, 29, 0.1, 0.3)
    for first, total in (([10, 0], [29, 0]), ([10.0, 0.0], [29.0, 0.0]),
                         (np.array([10, 0], dtype=np.float32), np.array([29, 0], dtype=np.float32))):
        emp = empirical_operating_characteristics(d, first, total)
        # trial 1 goes on (10 > 1) and is active (29 > 5); trial 2 stops
        assert (emp.trials, emp.pet, emp.p_declare_active, emp.expected_n) == (2, 0.5, 0.5, 19.5)


SINGLE_ARM_ERRORS: list[tuple[Callable[[], object], str]] = [
    (lambda: binomial_tail(2, -1, 0.5), "n must be an integer >= 0, got -1"),
    (lambda: binomial_tail(2.5, 5, 0.5), "r must be an integer, got 2.5"),  # type: ignore[arg-type]
    (lambda: binomial_tail(True, 5, 0.5), "r must be an integer, got True"),
    (lambda: binomial_tail(2, 5, 1.5), "p must lie in [0, 1], got 1.5"),
    (lambda: binomial_test_p_value(0, 0, 0.3), "n must be an integer >= 1, got 0"),
    (lambda: binomial_test_p_value(-1, 5, 0.3), "x must be an integer >= 0, got -1"),
    (lambda: critical_count(0, 0.3, 0.05), "n must be an integer >= 1, got 0"),
    (lambda: critical_count(10.5, 0.3, 0.05), "n must be an integer >= 1, got 10.5"),  # type: ignore[arg-type]
    (lambda: critical_count(True, 0.3, 0.05), "n must be an integer >= 1, got True"),
    (lambda: critical_count(10, 1.0, 0.05), "p0 must lie strictly between 0 and 1, got 1.0"),
    (lambda: critical_count(10, 0.3, 0.0), "alpha must lie strictly between 0 and 1, got 0.0"),
    (lambda: single_stage_design(0.1, 0.3, n_max=0), "n_max must be an integer >= 1, got 0"),
    # with p1 = 0.002 no design is feasible: the messages show the default limits
    (lambda: single_stage_design(0.001, 0.002), "no single-stage design with n <= 1000; increase n_max"),
    (lambda: single_stage_design(0.001, 0.002, n_max=64), "no single-stage design with n <= 64; increase n_max"),
    (lambda: simon_designs(0.001, 0.002),
     "no two-stage design with n <= 100 meets alpha=0.05 and beta=0.2; increase n_max"),
    (lambda: simon_design(0.001, 0.002),
     "no two-stage design with n <= 100 meets alpha=0.05 and beta=0.2; increase n_max"),
    (lambda: two_stage_design(0, 0, 1, 2, 0.1, 0.3), "n1 must be an integer >= 1, got 0"),
    (lambda: two_stage_design(0, 1, 0, 1, 0.1, 0.3), "n must be an integer >= 2, got 1"),
    (lambda: two_stage_design(-1, 1, 0, 2, 0.1, 0.3), "r1 must be an integer >= 0, got -1"),
    (lambda: two_stage_design(0, 1, -1, 2, 0.1, 0.3), "r must be an integer >= 0, got -1"),
    (lambda: two_stage_design(0, 1, 2, 2, 0.1, 0.3), "r must satisfy r1 <= r < n, got r1=0, r=2, n=2"),
    (lambda: two_stage_design(0, 1, 1, 2, 0.0, 0.3), "p0 must lie strictly between 0 and 1, got 0.0"),
    (lambda: two_stage_design(0, 1, 1, 2, 0.1, 1.0), "p1 must lie strictly between 0 and 1, got 1.0"),
    (lambda: operating_characteristics(two_stage_design(0, 1, 1, 2, 0.1, 0.3), [0.2, 1.1]),
     "p must be a non-empty array of probabilities in [0, 1]"),
    (lambda: empirical_operating_characteristics(two_stage_design(1, 10, 5, 29, 0.1, 0.3), [1, 2], [1]),
     "stage1_responses and total_responses must be non-empty 1-d arrays of the same length"),
    (lambda: empirical_operating_characteristics(two_stage_design(1, 10, 5, 29, 0.1, 0.3), [1.5], [2.0]),
     "stage1_responses must hold whole numbers of responses"),
    (lambda: empirical_operating_characteristics(two_stage_design(1, 10, 5, 29, 0.1, 0.3), [1.0], [2.5]),
     "total_responses must hold whole numbers of responses"),
    (lambda: empirical_operating_characteristics(two_stage_design(1, 10, 5, 29, 0.1, 0.3), [True], [True]),
     "stage1_responses must hold whole numbers of responses"),
    (lambda: empirical_operating_characteristics(two_stage_design(1, 10, 5, 29, 0.1, 0.3), [-1], [0]),
     "counts out of range: need 0 <= stage1 <= 10 and 0 <= total - stage1 <= 19"),
    (lambda: empirical_operating_characteristics(two_stage_design(1, 10, 5, 29, 0.1, 0.3), [2], [22]),
     "counts out of range: need 0 <= stage1 <= 10 and 0 <= total - stage1 <= 19"),
]


@pytest.mark.parametrize(("call", "text"), SINGLE_ARM_ERRORS)
def test_single_arm_error_messages_in_full(call, text):
    with pytest.raises(ValueError, match=message(text)):
        call()


# ---------------------------------------------------------------- group-sequential: exact references

def bivariate_below(h: float, k: float, rho: float) -> float:
    """P(Z1 < h, Z2 < k) for standard normals with correlation rho, by Owen's T (Owen 1956); h, k nonzero."""
    root = math.sqrt(1.0 - rho * rho)
    correction = 0.0 if h * k > 0 or (h * k == 0 and h + k >= 0) else 0.5
    return float(0.5 * NORMAL.cdf(h) + 0.5 * NORMAL.cdf(k) - special.owens_t(h, (k - rho * h) / (h * root))
                 - special.owens_t(k, (h - rho * k) / (k * root)) - correction)


def bisect(function: Callable[[float], float], target: float, low: float, high: float) -> float:
    """x in [low, high] with function(x) = target for an increasing function, by 100 halvings."""
    for _ in range(100):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if function(middle) < target else (low, middle)
    return low


def linear(t: np.ndarray, alpha: float) -> np.ndarray:
    """alpha t."""
    return alpha * np.asarray(t, dtype=float)


class Spending:
    """A spending function given as an object (it has no __name__)."""

    def __call__(self, t: np.ndarray, alpha: float) -> np.ndarray:
        return alpha * np.asarray(t, dtype=float)


# ---------------------------------------------------------------- spending functions and boundaries

def test_spending_functions_take_integer_fractions():
    """At t = 1 both spend alpha: O'Brien-Fleming type 2 Phi(-z_{1 - alpha/2}) = alpha, Pocock type alpha ln(e)."""
    assert obrien_fleming_spending(1, 0.025) == pytest.approx(0.025, rel=1e-12)
    assert obrien_fleming_spending([0, 1], 0.025) == pytest.approx([0.0, 0.025], rel=1e-12)
    assert pocock_spending([0, 1], 0.025) == pytest.approx([0.0, 0.025], rel=1e-14)


def test_spending_name_and_fractions_given_to_the_function():
    seen: list[np.dtype] = []

    def recorded(t: np.ndarray, alpha: float) -> np.ndarray:
        seen.append(t.dtype)
        return alpha * t

    single = efficacy_boundaries([1], 0.025, recorded)  # one look at t = 1 is the fixed test
    assert seen == [np.dtype(np.float64)] and single.spending == "recorded"
    assert single.z[0] == pytest.approx(NORMAL.inv_cdf(0.975), abs=1e-12)
    assert single.fractions == (1.0,)
    assert efficacy_boundaries([1.0], 0.025, linear).spending == "linear"
    assert efficacy_boundaries([1.0], 0.025, Spending()).spending == "custom"
    assert efficacy_boundaries([1.0], 0.025, partial(linear)).spending == "custom"
    assert efficacy_boundaries([1.0], 0.025, "pocock").spending == "pocock"
    assert efficacy_boundaries([1.0], 0.025).spending == "obrien_fleming"
    # a final value above alpha by rounding only (relative 1e-12) is accepted
    rounded = efficacy_boundaries([1.0], 0.025, lambda t, a: np.full(1, a * (1.0 + 1e-12)))
    assert rounded.cumulative_alpha == (0.025 * (1.0 + 1e-12),)


def test_a_look_that_spends_nothing_has_no_boundary():
    """Spending 0.01, 0.01, 0.025 at 0.5, 0.75, 1: z1 = z_{0.99}; look 2 has none; look 3 by Owen's closed form.

    With no stop at look 2, P(Z1 < z1, Z3 < b3) = 1 - 0.025 with corr(Z1, Z3) = sqrt(0.5).
    """
    b = efficacy_boundaries([0.5, 0.75, 1.0], 0.025, lambda t, a: np.interp(t, [0.5, 0.75, 1.0], [0.01, 0.01, a]))
    z1 = NORMAL.inv_cdf(0.99)
    b3 = bisect(lambda k: bivariate_below(z1, k, math.sqrt(0.5)), 0.975, 0.1, 6.0)
    assert b.z[0] == pytest.approx(z1, abs=1e-12)
    assert b.z[1] == math.inf
    assert b.z[2] == pytest.approx(b3, abs=3e-7)
    assert b.nominal_p[1] == 0.0
    h0 = crossing_probabilities(b, 0.0)
    assert h0.by_look == pytest.approx([0.01, 0.0, 0.015], abs=1e-12)


@pytest.mark.parametrize(("first", "second_spend"), [(0.99, 0.05), (0.5, 0.01)])
def test_a_second_look_after_a_large_first_spend_by_owens_closed_form(first, second_spend):
    """Spend 0.4 at the first look, then a little more at t = 1: b1 = z_{0.6}, and b2 solves
    P(Z1 < b1) - P(Z1 < b1, Z2 < b2) = spend with corr(Z1, Z2) = sqrt(t1).

    b2 lies far below z_{1 - spend} (1.645 and 2.326), so the solver must search downwards for its bracket.
    """
    alpha = 0.4 + second_spend
    b = efficacy_boundaries([first, 1.0], alpha, lambda t, a: np.where(np.asarray(t) < 1.0, 0.4, a))
    b1 = NORMAL.inv_cdf(0.6)
    b2 = bisect(lambda k: bivariate_below(b1, k, math.sqrt(first)), 0.6 - second_spend, -3.1, 5.0)
    assert b2 < NORMAL.inv_cdf(1.0 - second_spend) - 1.0
    assert b.z[0] == pytest.approx(b1, abs=1e-12)
    assert b.z[1] == pytest.approx(b2, abs=2e-7)


def test_coarsest_grid_is_allowed_and_used_throughout():
    """grid = 4 is the smallest allowed; drift_for_power and inflation_factor use the grid they are given.

    Two looks at 0.5, 1 (O'Brien-Fleming type, alpha = 0.025): b2 from Owen's closed form. The coarse grid
    moves results by about 1e-5, so a computation at another grid shows.
    """
    b4 = efficacy_boundaries([0.5, 1.0], 0.025, grid=4)
    b1 = NORMAL.inv_cdf(1.0 - float(obrien_fleming_spending(0.5, 0.025)))
    b2 = bisect(lambda k: bivariate_below(b1, k, math.sqrt(0.5)), 0.975, 0.1, 6.0)
    assert b4.z == pytest.approx([b1, b2], abs=1e-5)
    assert crossing_probabilities(b4, 0.0, grid=4).power == pytest.approx(0.025, abs=1e-12)
    b = efficacy_boundaries([0.5, 1.0], 0.025)
    theta = drift_for_power(b, 0.8, grid=4)
    assert crossing_probabilities(b, theta, grid=4).power == pytest.approx(0.8, abs=1e-10)
    fixed = NORMAL.inv_cdf(0.975) + NORMAL.inv_cdf(0.8)
    assert inflation_factor(b, 0.8, grid=4) == pytest.approx((theta / fixed) ** 2, rel=1e-12)
    # at grid 4 these boundaries spend exactly 0.025, so a power just below it is no valid target
    with pytest.raises(ValueError, match=message("power must lie between the size of the boundaries (0.025) "
                                                 "and 1, got 0.02499998")):
        drift_for_power(b4, 0.02499998, grid=4)


# ---------------------------------------------------------------- crossing probabilities and drift

def test_crossing_probabilities_with_a_last_look_below_one():
    """Boundaries 2.0, 1.9 at 0.4, 0.7, drift 1: P1 = 1 - Phi(2 - sqrt(0.4)); look 2 by Owen's closed form.

    The trial stops at 0.4 or at its last look 0.7, so the expected fraction is 0.4 P1 + 0.7 (1 - P1).
    """
    cp = crossing_probabilities([2.0, 1.9], 1.0, fractions=[0.4, 0.7])
    h, k = 2.0 - math.sqrt(0.4), 1.9 - math.sqrt(0.7)
    first = 1.0 - NORMAL.cdf(h)
    second = NORMAL.cdf(h) - bivariate_below(h, k, math.sqrt(0.4 / 0.7))
    assert cp.drift == 1.0 and cp.fractions == (0.4, 0.7)
    assert cp.by_look == pytest.approx([first, second], abs=1e-9)
    assert cp.expected_fraction == pytest.approx(0.4 * first + 0.7 * (1.0 - first), abs=1e-9)


def test_boundaries_at_the_extremes():
    """+inf means no stop at that look; a boundary 20 below the mean stops every trial there."""
    none_first = crossing_probabilities([math.inf, 1.96], 0.0, fractions=[0.5, 1.0])
    assert none_first.by_look[0] == 0.0
    assert none_first.by_look[1] == pytest.approx(1.0 - NORMAL.cdf(1.96), abs=1e-8)
    assert none_first.expected_fraction == 1.0
    all_first = crossing_probabilities([-20.0, 2.0], 0.0, fractions=[0.5, 1.0])
    assert all_first.by_look == (1.0, 0.0) and all_first.expected_fraction == 0.5


def test_drift_for_a_low_power_and_from_plain_boundaries():
    """One look at z_{0.975}: power 0.1 needs drift z_{0.975} + z_{0.1} = 0.678 (below 1)."""
    expected = NORMAL.inv_cdf(0.975) + NORMAL.inv_cdf(0.1)
    assert drift_for_power(efficacy_boundaries([1.0], 0.025), 0.1) == pytest.approx(expected, abs=1e-9)
    assert drift_for_power([NORMAL.inv_cdf(0.975)], 0.1, fractions=[1.0]) == pytest.approx(expected, abs=1e-9)
    b = efficacy_boundaries([1.0], 0.025)
    size = crossing_probabilities(b, 0.0).power
    with pytest.raises(ValueError, match="power must lie between"):
        drift_for_power(b, size)  # a power equal to the size is reached at drift 0: not a design


def test_jennison_turnbull_grid_for_r_4():
    """Their points for r = 4 (section 19.2.1) around the mean, with midpoints, and Simpson's weights.

    x_i = -3 - 4 ln(r / i) for i < r, -3 + 3 (i - r) / (2 r) for r <= i <= 5 r, 3 + 4 ln(r / (6 r - i)) above:
    12 r - 3 = 45 nodes. Simpson's rule integrates cubics exactly, so the weights integrate 1 and x^3.
    """
    mean = 0.5
    points = ([-3 - 4 * math.log(4 / i) for i in (1, 2, 3)] + [-3 + 0.375 * j for j in range(17)]
              + [3 + 4 * math.log(4 / (24 - i)) for i in (21, 22, 23)])
    nodes, weights = _grid(mean, math.inf, 4)
    assert nodes.size == 45 and nodes[0::2] == pytest.approx([mean + x for x in points], abs=1e-14)
    assert nodes[1::2] == pytest.approx(0.5 * (nodes[0:-1:2] + nodes[2::2]), abs=1e-14)
    a, b = nodes[0], nodes[-1]
    assert weights.sum() == pytest.approx(b - a, rel=1e-13)
    assert weights @ nodes**3 == pytest.approx((b**4 - a**4) / 4, rel=1e-12)
    # an upper limit between the last two points: the grid stops at it
    upper = mean + 6.0  # between 3 + 4 ln 2 = 5.77 and 3 + 4 ln 4 = 8.55
    nodes, weights = _grid(mean, upper, 4)
    assert nodes.size == 45 and nodes[-1] == upper and nodes[-3] == pytest.approx(mean + 3 + 4 * math.log(2))
    assert weights.sum() == pytest.approx(upper - nodes[0], rel=1e-13)
    # an upper limit just above the first point: one Simpson panel
    low = mean - 3 - 4 * math.log(4)
    nodes, weights = _grid(mean, low + 0.6, 4)
    assert nodes == pytest.approx([low, low + 0.3, low + 0.6], abs=1e-14)
    assert weights == pytest.approx([0.1, 0.4, 0.1], abs=1e-14)


GROUP_SEQUENTIAL_ERRORS: list[tuple[Callable[[], object], str]] = [
    (lambda: obrien_fleming_spending([0.5, 1.5], 0.025), "information fractions must lie in [0, 1]"),
    (lambda: efficacy_boundaries([1.0], alpha=0.5), "one-sided alpha must lie strictly between 0 and 0.5, got 0.5"),
    (lambda: efficacy_boundaries([]), "fractions must be a non-empty sequence of information fractions"),
    (lambda: efficacy_boundaries([1.0], grid=8.0), "grid must be an integer >= 4, got 8.0"),  # type: ignore[arg-type]
    (lambda: efficacy_boundaries([1.0], grid=True), "grid must be an integer >= 4, got True"),
    (lambda: efficacy_boundaries([0.5, 1.0], spending=lambda t, a: 2 * a * np.asarray(t)),
     "the spending function must give finite values, non-decreasing from 0, never above alpha"),
    (lambda: crossing_probabilities(efficacy_boundaries([0.5, 1.0]), 1.0, fractions=[0.5, 1.0]),
     "give fractions only with a plain sequence of boundaries"),
    (lambda: crossing_probabilities([2.0, 1.9], 1.0), "fractions are needed with a plain sequence of boundaries"),
    (lambda: crossing_probabilities([-math.inf, 1.9], 1.0, fractions=[0.5, 1.0]),
     "boundaries must be real numbers or +inf"),
    # None is not "no boundary at this look" (that is +inf): it is refused, from a sequence or a dataclass
    (lambda: crossing_probabilities([2.0, None], 1.0, fractions=[0.5, 1.0]),  # type: ignore[list-item]
     "boundaries must be real numbers or +inf"),
    (lambda: crossing_probabilities(EfficacyBoundaries((0.5, 1.0), (2.0, None), 0.025, "given",  # type: ignore[arg-type]
                                                       (0.01, 0.025)), 1.0),
     "boundaries must be real numbers or +inf"),
    (lambda: drift_for_power([math.inf, math.inf], 0.5, fractions=[0.5, 1.0]), "at least one boundary must be finite"),
]


@pytest.mark.parametrize(("call", "text"), GROUP_SEQUENTIAL_ERRORS)
def test_group_sequential_error_messages_in_full(call, text):
    with pytest.raises(ValueError, match=message(text)):
        call()
