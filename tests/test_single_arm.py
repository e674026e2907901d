"""Single-arm phase II designs against published tables and hand computations with math.comb.

Published designs are Simon R. (1989), "Optimal two-stage designs for phase II clinical trials",
Controlled Clinical Trials 10:1-10, Table 1 (p1 - p0 = 0.20). Each row gives, for the optimal and the
minimax design, "reject the drug if response rate <= r1/n1 (stage 1), <= r/n (overall)", EN(p0) to one
decimal and PET(p0) to two. The computed EN0 and PET0 must round to the printed values.

Every other expected value is computed here with math.comb (exact binomial sums), never with the
scipy functions the module calls. Simulation checks are seeded; their tolerance is 4 standard errors
(a correct implementation fails a fresh seed with probability about 6e-5).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest

from sim.stats.single_arm import (
    SimonDesign,
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

# (p0, p1, alpha, beta), optimal (r1, n1, r, n, EN0, PET0), minimax (r1, n1, r, n, EN0, PET0): Simon 1989, Table 1
SIMON_TABLE_1 = [
    ((0.05, 0.25, 0.10, 0.10), (0, 9, 2, 24, 14.5, 0.63), (0, 13, 2, 20, 16.4, 0.51)),
    ((0.05, 0.25, 0.05, 0.20), (0, 9, 2, 17, 12.0, 0.63), (0, 12, 2, 16, 13.8, 0.54)),
    ((0.10, 0.30, 0.05, 0.20), (1, 10, 5, 29, 15.0, 0.74), (1, 15, 5, 25, 19.5, 0.55)),
    ((0.10, 0.30, 0.05, 0.10), (2, 18, 6, 35, 22.5, 0.73), (2, 22, 6, 33, 26.2, 0.62)),
    ((0.20, 0.40, 0.05, 0.20), (3, 13, 12, 43, 20.6, 0.75), (4, 18, 10, 33, 22.3, 0.72)),
    ((0.30, 0.50, 0.05, 0.20), (5, 15, 18, 46, 23.6, 0.72), (6, 19, 16, 39, 25.7, 0.67)),
    ((0.40, 0.60, 0.05, 0.20), (7, 16, 23, 46, 24.5, 0.72), (17, 34, 20, 39, 34.4, 0.91)),
]


@cache
def pmf(x: int, n: int, p: float) -> float:
    """P(X = x) for X ~ Binomial(n, p), by hand."""
    if x < 0 or x > n:
        return 0.0
    return math.comb(n, x) * p**x * (1.0 - p) ** (n - x)


@cache
def cdf(x: int, n: int, p: float) -> float:
    """P(X <= x), by hand."""
    return sum(pmf(k, n, p) for k in range(0, min(x, n) + 1))


def accept(r1: int, n1: int, r: int, n: int, p: float) -> float:
    """Simon's equation (1): P(not declared active) = B(r1; n1) + sum_{x=r1+1}^{min(n1,r)} b(x; n1) B(r - x; n - n1)."""
    return cdf(r1, n1, p) + sum(pmf(x, n1, p) * cdf(r - x, n - n1, p) for x in range(r1 + 1, min(n1, r) + 1))


def brute_force_best(p0: float, p1: float, alpha: float, beta: float, n_max: int) -> list[tuple[int, int, int, int]]:
    """For each n, the (n, n1, r1, r) with the smallest EN0, by plain loops over Simon's equation (1)."""
    rows = []
    for n in range(2, n_max + 1):
        best: tuple[float, int, int, int] | None = None
        for n1 in range(1, n):
            for r1 in range(0, n1):
                feasible = [r for r in range(r1, n)
                            if 1.0 - accept(r1, n1, r, n, p0) <= alpha and 1.0 - accept(r1, n1, r, n, p1) >= 1.0 - beta]
                if not feasible:
                    continue
                en0 = n1 + (1.0 - cdf(r1, n1, p0)) * (n - n1)
                if best is None or en0 < best[0]:
                    best = (en0, n1, r1, max(feasible))  # Simon takes the largest r meeting the power constraint
        if best is not None:
            rows.append((n, best[1], best[2], best[3]))
    return rows


@pytest.mark.parametrize(("hypotheses", "optimal", "minimax"), SIMON_TABLE_1)
def test_simon_designs_match_simon_1989_table_1(hypotheses, optimal, minimax):
    found = simon_designs(*hypotheses)
    for design, published, criterion in zip(found, (optimal, minimax), ("optimal", "minimax"), strict=True):
        r1, n1, r, n, en0, pet0 = published
        assert design.criterion == criterion
        assert (design.r1, design.n1, design.r, design.n) == (r1, n1, r, n)
        assert round(design.en0, 1) == en0
        assert round(design.pet0, 2) == pet0
        assert design.alpha <= hypotheses[2] and design.power >= 1.0 - hypotheses[3]


def test_simon_design_picks_the_criterion():
    """p0 = 0.10, p1 = 0.30, alpha = 0.05, beta = 0.20 (Simon 1989, Table 1): optimal 1/10, 5/29; minimax 1/15, 5/25."""
    optimal = simon_design(0.10, 0.30, 0.05, 0.20, criterion="optimal")
    minimax = simon_design(0.10, 0.30, 0.05, 0.20, criterion="minimax")
    assert (optimal.r1, optimal.n1, optimal.r, optimal.n) == (1, 10, 5, 29)
    assert (minimax.r1, minimax.n1, minimax.r, minimax.n) == (1, 15, 5, 25)
    assert minimax.n <= optimal.n and optimal.en0 <= minimax.en0


def test_design_characteristics_equal_the_hand_computation():
    """alpha, power, PET0 and EN0 of 1/10, 5/29 from Simon's equation (1) summed with math.comb."""
    d = simon_design(0.10, 0.30)
    assert d.alpha == pytest.approx(1.0 - accept(1, 10, 5, 29, 0.10), abs=1e-12)
    assert d.power == pytest.approx(1.0 - accept(1, 10, 5, 29, 0.30), abs=1e-12)
    assert d.pet0 == pytest.approx(cdf(1, 10, 0.10), abs=1e-12)
    assert d.en0 == pytest.approx(10 + (1 - cdf(1, 10, 0.10)) * 19, abs=1e-10)
    given = two_stage_design(1, 10, 5, 29, 0.10, 0.30)
    assert (given.alpha, given.power, given.pet0, given.en0) == (d.alpha, d.power, d.pet0, d.en0)
    assert given.criterion == "given"


@pytest.mark.parametrize(("p0", "p1", "alpha", "beta", "n_max"),
                         [(0.05, 0.25, 0.05, 0.20, 24), (0.20, 0.50, 0.10, 0.10, 22)])
def test_search_agrees_with_brute_force_enumeration(p0, p1, alpha, beta, n_max):
    """The vectorised search against plain loops over every (n, n1, r1, r) up to a small n_max."""
    rows = brute_force_best(p0, p1, alpha, beta, n_max)
    optimal, minimax = simon_designs(p0, p1, alpha, beta, n_max=n_max)
    assert (minimax.n, minimax.n1, minimax.r1, minimax.r) == rows[0]
    en0 = {row: row[1] + (1 - cdf(row[2], row[1], p0)) * (row[0] - row[1]) for row in rows}
    best = min(rows, key=lambda row: (en0[row], row[0]))
    assert (optimal.n, optimal.n1, optimal.r1, optimal.r) == best


def test_binomial_tail_and_exact_test_by_hand():
    assert binomial_tail(8, 10, 0.5) == pytest.approx((45 + 10 + 1) / 1024, abs=1e-15)
    assert binomial_tail(0, 7, 0.3) == 1.0
    assert binomial_tail(8, 7, 0.3) == 0.0
    for x, n, p0 in [(5, 20, 0.1), (12, 40, 0.2), (0, 5, 0.5), (9, 9, 0.35)]:
        assert binomial_test_p_value(x, n, p0) == pytest.approx(1.0 - cdf(x - 1, n, p0), abs=1e-13)


def test_critical_count_by_hand():
    """r is the smallest count whose tail at p0 is at most alpha: the exact test rejects exactly from r on.

    By hand: n = 20, p0 = 0.3: P(X >= 10) = 0.0480 <= 0.05 < P(X >= 9) = 0.1133, so r = 10; n = 3, p0 = 0.5: even
    P(X >= 3) = 0.125 > 0.05, so no outcome rejects (r = n + 1 = 4).
    """
    assert critical_count(20, 0.3, 0.05) == 10 and critical_count(3, 0.5, 0.05) == 4
    for n, p0, alpha in [(10, 0.3, 0.05), (15, 0.3, 0.05), (46, 0.3, 0.05), (25, 0.1, 0.1), (7, 0.6, 0.2)]:
        r = critical_count(n, p0, alpha)
        assert 1.0 - cdf(r - 1, n, p0) <= alpha < 1.0 - cdf(r - 2, n, p0)
        assert all((binomial_test_p_value(x, n, p0) <= alpha) == (x >= r) for x in range(n + 1))


def test_single_stage_design_is_the_smallest_by_hand():
    """The first n, scanning upwards, whose smallest critical count with size <= alpha reaches the power."""
    for p0, p1, alpha, beta in [(0.10, 0.30, 0.05, 0.20), (0.20, 0.40, 0.05, 0.10), (0.05, 0.25, 0.10, 0.10)]:
        expected = None
        for n in range(1, 200):
            r = next(r for r in range(n + 2) if 1.0 - cdf(r - 1, n, p0) <= alpha)
            if 1.0 - cdf(r - 1, n, p1) >= 1.0 - beta:
                expected = (n, r)
                break
        design = single_stage_design(p0, p1, alpha, beta)
        assert (design.n, design.r) == expected
        assert design.alpha == pytest.approx(1.0 - cdf(design.r - 1, design.n, p0), abs=1e-12)
        assert design.power == pytest.approx(1.0 - cdf(design.r - 1, design.n, p1), abs=1e-12)


def test_operating_characteristics_by_hand_and_vectorised():
    d = simon_design(0.20, 0.40)  # 3/13, 12/43
    p = np.array([[0.0, 0.1, 0.2], [0.3, 0.4, 1.0]])
    oc = operating_characteristics(d, p)
    assert oc.pet.shape == oc.expected_n.shape == oc.p_declare_active.shape == (2, 3)
    for value, pet, en, active in zip(p.ravel(), oc.pet.ravel(), oc.expected_n.ravel(), oc.p_declare_active.ravel(),
                                      strict=True):
        assert pet == pytest.approx(cdf(3, 13, value), abs=1e-12)
        assert en == pytest.approx(13 + (1 - cdf(3, 13, value)) * 30, abs=1e-10)
        assert active == pytest.approx(1.0 - accept(3, 13, 12, 43, value), abs=1e-12)
    assert oc.p_declare_active[0, 2] == pytest.approx(d.alpha, abs=1e-14)
    assert oc.p_declare_active[1, 1] == pytest.approx(d.power, abs=1e-14)
    assert (oc.pet[0, 0], oc.expected_n[0, 0], oc.p_declare_active[0, 0]) == (1.0, 13.0, 0.0)
    assert (oc.pet[1, 2], oc.expected_n[1, 2], oc.p_declare_active[1, 2]) == (0.0, 43.0, 1.0)


def test_operating_characteristics_are_monotone_in_p():
    d = simon_design(0.30, 0.50)
    oc = operating_characteristics(d, np.linspace(0.0, 1.0, 201))
    assert np.all(np.diff(oc.p_declare_active) >= -1e-15)
    assert np.all(np.diff(oc.pet) <= 1e-15)
    assert np.all(np.diff(oc.expected_n) >= -1e-12)


def test_empirical_operating_characteristics_small_example_by_hand():
    """Design 1/10, 5/29: stop when stage 1 has <= 1 response; active when > 5 responses in all 29."""
    d = simon_design(0.10, 0.30)
    first = np.array([0, 1, 2, 2, 3, 6])
    total = np.array([4, 9, 5, 6, 6, 20])  # the totals of stopped trials are ignored
    emp = empirical_operating_characteristics(d, first, total)
    assert emp.trials == 6
    assert emp.pet == pytest.approx(2 / 6)
    assert emp.p_declare_active == pytest.approx(3 / 6)
    assert emp.expected_n == pytest.approx((10 + 10 + 29 * 4) / 6)
    assert emp.pet_se == pytest.approx(math.sqrt((2 / 6) * (4 / 6) / 6))
    assert emp.expected_n_se == pytest.approx(19 * math.sqrt((2 / 6) * (4 / 6) / 6))
    assert emp.p_declare_active_se == pytest.approx(math.sqrt(0.25 / 6))


@pytest.mark.parametrize("p", [0.10, 0.22, 0.30])
def test_simulated_trials_agree_with_exact_characteristics(p):
    """Seeded binomial trials: each estimate within 4 SE (of the exact probability) of the exact value."""
    d = simon_design(0.10, 0.30)
    rng = np.random.default_rng(20260101)
    m = 40_000
    first = rng.binomial(d.n1, p, size=m)
    total = first + rng.binomial(d.n - d.n1, p, size=m)
    emp = empirical_operating_characteristics(d, first, total)
    exact = operating_characteristics(d, p)
    pet, active = float(exact.pet), float(exact.p_declare_active)
    assert abs(emp.pet - pet) < 4 * math.sqrt(pet * (1 - pet) / m)
    assert abs(emp.p_declare_active - active) < 4 * math.sqrt(active * (1 - active) / m)
    assert abs(emp.expected_n - float(exact.expected_n)) < 4 * (d.n - d.n1) * math.sqrt(pet * (1 - pet) / m)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: simon_design(0.3, 0.3), "p1 must exceed p0"),
    (lambda: simon_design(0.4, 0.2), "p1 must exceed p0"),
    (lambda: simon_design(0.0, 0.2), "p0 must lie strictly between 0 and 1"),
    (lambda: simon_design(0.1, 1.0), "p1 must lie strictly between 0 and 1"),
    (lambda: simon_design(0.1, 0.3, alpha=0.0), "alpha must lie"),
    (lambda: simon_design(0.1, 0.3, beta=1.2), "beta must lie"),
    (lambda: simon_design(0.1, 0.3, criterion="best"), "criterion"),  # type: ignore[arg-type]
    (lambda: simon_design(0.1, 0.3, n_max=20), "increase n_max"),
    (lambda: simon_design(0.1, 0.3, n_max=1), "n_max must be an integer >= 2"),
    (lambda: single_stage_design(0.1, 0.3, n_max=10), "increase n_max"),
    (lambda: binomial_test_p_value(6, 5, 0.2), "x must not exceed n"),
    (lambda: binomial_test_p_value(2, 5, 1.5), "p0 must lie"),
    (lambda: binomial_tail(2, 5, -0.1), "p must lie in"),
    (lambda: two_stage_design(3, 3, 5, 10, 0.1, 0.3), "r1 must be smaller than n1"),
    (lambda: two_stage_design(1, 10, 5, 10, 0.1, 0.3), "n1 must be smaller than n"),
    (lambda: two_stage_design(2, 10, 1, 20, 0.1, 0.3), "r must satisfy"),
    (lambda: operating_characteristics(simon_design(0.1, 0.3), [0.2, 1.1]), "probabilities in"),
    (lambda: empirical_operating_characteristics(simon_design(0.1, 0.3), [1, 2], [1]), "same length"),
    (lambda: empirical_operating_characteristics(simon_design(0.1, 0.3), [11], [11]), "out of range"),
    (lambda: empirical_operating_characteristics(simon_design(0.1, 0.3), [3], [2]), "out of range"),
    (lambda: empirical_operating_characteristics(simon_design(0.1, 0.3), [1.5], [2.0]), "whole numbers"),
])
def test_invalid_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_designs_are_frozen():
    d = simon_design(0.1, 0.3)
    assert isinstance(d, SimonDesign)
    with pytest.raises(AttributeError):
        d.n = 30  # type: ignore[misc]
