"""Lan-DeMets efficacy boundaries against published values, exact formulas and a seeded simulation.

Published boundaries (one-sided; a two-sided symmetric test at level 2 alpha uses the same z):

- gsDesign, O'Brien-Fleming type (sfLDOF), alpha = 0.025: three equally spaced looks 3.710303,
  2.511427, 1.993048 (gsDesign2 article "usage_gs_power_npe", upar = gsDesign(k = 3, sfu = sfLDOF));
  looks at 0.5, 0.75, 1: 2.962588, 2.359018, 2.014084 (gsDesign2 reference page of gs_b). They are
  printed to 6 decimals from gsDesign's default grid (r = 18), which moves the third one by about
  5e-8, so they are compared to 1e-6.
- rpact unit tests (tests/testthat/test-f_design_group_sequential.R of the CRAN package, revision
  6492, 2022), non-binding futility so that the efficacy boundaries are the spending boundaries alone:
  Pocock type (asP) at 0.35, 0.7, 1 with alpha = 0.13: 1.5446617, 1.4828682, 1.4620058, nominal levels
  0.061214062, 0.069054712, 0.071869812; Pocock type at 0.4, 0.7 (last look below 1) with alpha =
  0.025: spent 0.013078429, 0.0197432, boundaries 2.223875, 2.3050796, nominal 0.013078429,
  0.010581057; O'Brien-Fleming type (asOF) at 0.4, 0.75, 1 and 0.4, 0.75, 0.85, 1 with alpha = 0.13:
  2.1280732, 1.4368565, 1.2468994 and 2.1280732, 1.4368565, 1.422873, 1.2970881; asOF, three equal
  looks, alpha = 0.03: 3.5815302, 2.417863, 1.9175839; user spending 0.01, 0.02, 0.03, 0.05 at four
  equal looks: 2.3263479, 2.2192994, 2.1201347, 1.8189562; linear spending alpha t (asHSD with
  gamma = 0) at 0.2, 0.4, 1 with alpha = 0.03: 2.5121443, 2.4228747, 2.0280392, and for power 0.86
  (getDesignCharacteristics) shift theta^2 = 9.4594101, inflation factor 1.0788327, rejection
  probabilities 0.12783451, 0.21271713, 0.51944835 and average sample numbers (relative to the fixed
  design) 0.83081135 under H1, 1.0697705 under H0. rpact solves to 1e-8 on the probability scale
  (its default tolerance) and prints 8 significant digits, about 1e-7 in z, so boundaries are compared
  to 2e-7, spent alpha and nominal levels to 1e-8, and the characteristics to a relative 1e-7 (as
  rpact's own tests do).

Exact checks: with two looks the joint normal probability is Owen's (1956) closed form through
Owen's T function, so the second boundary is solved here by bisection on it; with three looks
scipy's Genz quasi-Monte Carlo integration of the multivariate normal gives the crossing
probabilities to about 1e-9 (compared to 1e-8). The simulation draws Brownian increments with a fixed
seed; every simulated proportion must lie within 4 standard errors of the exact value (a correct
implementation fails a fresh seed with probability about 6e-5 per comparison).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy import special, stats

from sim.stats.group_sequential import (
    EfficacyBoundaries,
    crossing_probabilities,
    drift_for_power,
    efficacy_boundaries,
    inflation_factor,
    nominal_p_values,
    obrien_fleming_spending,
    pocock_spending,
)

NORMAL = NormalDist()
Z = 4.0


def upper_tail(z: float) -> float:
    """1 - Phi(z) by math.erfc."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def bivariate_cdf(h: float, k: float, rho: float) -> float:
    """P(Z1 < h, Z2 < k) for standard normals with correlation rho, by Owen's T (Owen 1956, eq. 3.1)."""
    root = math.sqrt(1.0 - rho * rho)
    a_h = (k - rho * h) / (h * root)
    a_k = (h - rho * k) / (k * root)
    correction = 0.0 if h * k > 0 or (h * k == 0 and h + k >= 0) else 0.5
    return float(0.5 * (1 - upper_tail(h)) + 0.5 * (1 - upper_tail(k))
                 - special.owens_t(h, a_h) - special.owens_t(k, a_k) - correction)


def linear_spending(t: np.ndarray, alpha: float) -> np.ndarray:
    """alpha t: Hwang-Shih-DeCani spending with gamma = 0."""
    return alpha * np.asarray(t, dtype=float)


def simulate(fractions: list[float], drift: float, paths: int, seed: int) -> np.ndarray:
    """Z_1..Z_K of simulated trials: a Brownian motion with drift observed at the fractions, standardised."""
    t = np.asarray(fractions)
    steps = np.diff(np.concatenate(([0.0], t)))
    rng = np.random.default_rng(seed)
    increments = rng.standard_normal((paths, t.size)) * np.sqrt(steps) + drift * steps
    return np.cumsum(increments, axis=1) / np.sqrt(t)


def first_crossing(z: np.ndarray, bounds: tuple[float, ...]) -> np.ndarray:
    """Index of the first look whose boundary is crossed, or K when none is."""
    crossed = z >= np.asarray(bounds)
    return np.where(crossed.any(axis=1), crossed.argmax(axis=1), z.shape[1])


def test_spending_functions_by_hand():
    for alpha in (0.025, 0.05):
        z = NORMAL.inv_cdf(1 - alpha / 2)
        for t in (0.1, 0.25, 0.5, 0.9, 1.0):
            assert obrien_fleming_spending(t, alpha) == pytest.approx(math.erfc(z / math.sqrt(t) / math.sqrt(2)),
                                                                      rel=1e-12)
            assert pocock_spending(t, alpha) == pytest.approx(alpha * math.log(1 + (math.e - 1) * t), rel=1e-14)
        assert obrien_fleming_spending(0.0, alpha) == 0.0 and pocock_spending(0.0, alpha) == 0.0


def test_obrien_fleming_matches_gsdesign():
    equal = efficacy_boundaries([1 / 3, 2 / 3, 1.0], 0.025, "obrien_fleming")
    assert equal.z == pytest.approx([3.710303, 2.511427, 1.993048], abs=1e-6)
    unequal = efficacy_boundaries([0.5, 0.75, 1.0], 0.025, "obrien_fleming")
    assert unequal.z == pytest.approx([2.962588, 2.359018, 2.014084], abs=1e-6)


@pytest.mark.parametrize(("fractions", "alpha", "spending", "published"), [
    ([0.35, 0.7, 1.0], 0.13, "pocock", [1.5446617, 1.4828682, 1.4620058]),
    ([0.4, 0.7], 0.025, "pocock", [2.223875, 2.3050796]),
    ([0.4, 0.75, 1.0], 0.13, "obrien_fleming", [2.1280732, 1.4368565, 1.2468994]),
    ([0.4, 0.75, 0.85, 1.0], 0.13, "obrien_fleming", [2.1280732, 1.4368565, 1.422873, 1.2970881]),
    ([1 / 3, 2 / 3, 1.0], 0.03, "obrien_fleming", [3.5815302, 2.417863, 1.9175839]),
    ([0.2, 0.4, 1.0], 0.03, linear_spending, [2.5121443, 2.4228747, 2.0280392]),
])
def test_boundaries_match_rpact(fractions, alpha, spending, published):
    assert efficacy_boundaries(fractions, alpha, spending).z == pytest.approx(published, abs=2e-7)


def test_user_spending_matches_rpact():
    looks = np.array([0.25, 0.5, 0.75, 1.0])
    spent = np.array([0.01, 0.02, 0.03, 0.05])
    b = efficacy_boundaries(looks.tolist(), 0.05, lambda t, alpha: np.interp(t, looks, spent))
    assert b.z == pytest.approx([2.3263479, 2.2192994, 2.1201347, 1.8189562], abs=2e-7)


def test_nominal_levels_and_last_look_below_one_match_rpact():
    """rpact's spent alpha and nominal levels come from its integration at tolerance 1e-8, so compared to 1e-8.

    (Its 0.0197432 is alpha ln(1 + 0.7 (e - 1)) = 0.0197432011 less 1.1e-9 of integration error.)
    """
    short = efficacy_boundaries([0.4, 0.7], 0.025, "pocock")
    assert short.cumulative_alpha == pytest.approx([0.013078429, 0.0197432], abs=1e-8)
    assert short.cumulative_alpha[1] == pytest.approx(0.025 * math.log(1 + 0.7 * (math.e - 1)), rel=1e-14)
    assert short.nominal_p == pytest.approx([0.013078429, 0.010581057], abs=1e-8)
    b = efficacy_boundaries([0.35, 0.7, 1.0], 0.13, "pocock")
    assert b.nominal_p == pytest.approx([0.061214062, 0.069054712, 0.071869812], abs=1e-8)
    assert nominal_p_values(b.z) == pytest.approx([upper_tail(z) for z in b.z], rel=1e-12)
    assert nominal_p_values([np.inf])[0] == 0.0


def test_power_drift_and_expected_information_match_rpact():
    """Linear spending at 0.2, 0.4, 1, alpha = 0.03, power 0.86 (rpact getDesignCharacteristics)."""
    b = efficacy_boundaries([0.2, 0.4, 1.0], 0.03, linear_spending)
    theta = drift_for_power(b, 0.86)
    assert theta**2 == pytest.approx(9.4594101, rel=1e-7)
    factor = inflation_factor(b, 0.86)
    assert factor == pytest.approx(1.0788327, rel=1e-7)
    fixed = (NORMAL.inv_cdf(0.97) + NORMAL.inv_cdf(0.86)) ** 2  # rpact's nFixed 8.7681899
    assert factor == pytest.approx(theta**2 / fixed, rel=1e-12)
    h1 = crossing_probabilities(b, theta)
    assert h1.by_look == pytest.approx([0.12783451, 0.21271713, 0.51944835], rel=1e-7)
    assert h1.power == pytest.approx(0.86, abs=1e-10)
    assert h1.expected_fraction * factor == pytest.approx(0.83081135, rel=1e-7)
    h0 = crossing_probabilities(b, 0.0)
    assert h0.expected_fraction * factor == pytest.approx(1.0697705, rel=1e-7)
    assert h0.by_look == pytest.approx([0.006, 0.006, 0.018], abs=1e-12)


@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
@pytest.mark.parametrize("first", [0.3, 0.5, 0.8])
def test_two_looks_against_owens_closed_form(spending, first):
    """b1 = Phi^-1(1 - alpha(t1)); b2 solves P(Z1 < b1, Z2 < b2) = 1 - alpha with corr sqrt(t1), by bisection."""
    alpha = 0.025
    spent = (obrien_fleming_spending if spending == "obrien_fleming" else pocock_spending)(first, alpha)
    b1 = NORMAL.inv_cdf(1 - float(spent))
    low, high = 0.0, 10.0
    for _ in range(80):
        middle = 0.5 * (low + high)
        if bivariate_cdf(b1, middle, math.sqrt(first)) < 1 - alpha:
            low = middle
        else:
            high = middle
    b = efficacy_boundaries([first, 1.0], alpha, spending)
    assert b.z[0] == pytest.approx(b1, abs=1e-9)
    assert b.z[1] == pytest.approx(low, abs=1e-7)


@pytest.mark.parametrize(("fractions", "spending"), [
    ([1 / 3, 2 / 3, 1.0], "obrien_fleming"),
    ([1 / 3, 2 / 3, 1.0], "pocock"),
    ([0.25, 0.6, 1.0], "pocock"),
])
def test_three_looks_against_multivariate_normal_integration(fractions, spending):
    """P(Z_j < b_j for j <= k) = 1 - alpha(t_k) for corr(Z_i, Z_j) = sqrt(t_i / t_j), by Genz's algorithm."""
    b = efficacy_boundaries(fractions, 0.025, spending)
    t = np.asarray(fractions)
    corr = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    for k in (2, 3):
        inside = stats.multivariate_normal.cdf(np.asarray(b.z[:k]), np.zeros(k), corr[:k, :k], abseps=1e-9, releps=0,
                                               rng=np.random.default_rng(7))
        assert 1 - inside == pytest.approx(b.cumulative_alpha[k - 1], abs=1e-8)


@pytest.mark.parametrize(("fractions", "alpha", "spending"), [
    ([1 / 3, 2 / 3, 1.0], 0.025, "obrien_fleming"),
    ([0.2, 0.4, 0.6, 0.8, 1.0], 0.025, "pocock"),
    ([0.35, 0.7, 1.0], 0.13, "pocock"),
])
def test_type_one_error_by_simulation(fractions, alpha, spending):
    """Under theta = 0 the simulated first crossings spend alpha(t_k) - alpha(t_{k-1}) at each look (4 SE)."""
    b = efficacy_boundaries(fractions, alpha, spending)
    paths = 400_000
    look = first_crossing(simulate(fractions, 0.0, paths, seed=11), b.z)
    spent = np.diff(np.concatenate(([0.0], b.cumulative_alpha)))
    for k, p in enumerate(spent):
        assert abs(np.mean(look == k) - p) < Z * math.sqrt(p * (1 - p) / paths)
    assert abs(np.mean(look < len(fractions)) - alpha) < Z * math.sqrt(alpha * (1 - alpha) / paths)


def test_power_and_expected_fraction_by_simulation():
    """Under a drift the simulated crossing probabilities and mean information at stopping agree (4 SE)."""
    fractions = [0.25, 0.5, 0.75, 1.0]
    b = efficacy_boundaries(fractions, 0.025, "pocock")
    theta = drift_for_power(b, 0.8)
    exact = crossing_probabilities(b, theta)
    paths = 200_000
    look = first_crossing(simulate(fractions, theta, paths, seed=12), b.z)
    for k, p in enumerate(exact.by_look):
        assert abs(np.mean(look == k) - p) < Z * math.sqrt(p * (1 - p) / paths)
    stopped_at = np.asarray(fractions)[np.minimum(look, len(fractions) - 1)]
    assert abs(stopped_at.mean() - exact.expected_fraction) < Z * stopped_at.std() / math.sqrt(paths)


def test_two_sided_symmetric_use_keeps_the_level_by_simulation():
    """+-z from one-sided alpha / 2 = 0.025: the simulated two-sided level is 0.05 within 4 SE."""
    fractions = [0.2, 0.4, 0.6, 0.8, 1.0]
    b = efficacy_boundaries(fractions, 0.025, "pocock")
    z = simulate(fractions, 0.0, 400_000, seed=13)
    rejected = (np.abs(z) >= np.asarray(b.z)).any(axis=1)
    assert abs(rejected.mean() - 0.05) < Z * math.sqrt(0.05 * 0.95 / z.shape[0])


@pytest.mark.parametrize("alpha", [0.01, 0.025, 0.05])
def test_single_look_is_the_fixed_design(alpha):
    for spending in ("obrien_fleming", "pocock"):
        b = efficacy_boundaries([1.0], alpha, spending)
        assert b.z[0] == pytest.approx(NORMAL.inv_cdf(1 - alpha), abs=1e-12)
        assert crossing_probabilities(b, 0.0).power == pytest.approx(alpha, abs=1e-14)
    fixed = efficacy_boundaries([1.0], alpha)
    assert drift_for_power(fixed, 0.9) == pytest.approx(NORMAL.inv_cdf(1 - alpha) + NORMAL.inv_cdf(0.9), abs=1e-9)
    assert inflation_factor(fixed, 0.9) == pytest.approx(1.0, abs=1e-9)


def test_monotonicity():
    obf = efficacy_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.025, "obrien_fleming")
    pocock = efficacy_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.025, "pocock")
    assert np.all(np.diff(obf.z) < 0)
    assert max(pocock.z) - min(pocock.z) < 0.06  # Pocock type: nearly flat
    assert obf.z[-1] < pocock.z[-1] and obf.z[0] > pocock.z[0]
    # more looks at the same alpha need a higher final boundary
    finals = [efficacy_boundaries(np.linspace(0, 1, k + 1)[1:].tolist(), 0.025, "pocock").z[-1] for k in (1, 2, 3, 5)]
    assert np.all(np.diff(finals) > 0)
    # a larger alpha lowers every boundary
    assert np.all(np.asarray(efficacy_boundaries([0.5, 1.0], 0.05).z) < efficacy_boundaries([0.5, 1.0], 0.025).z)
    powers = [crossing_probabilities(obf, theta) for theta in (0.0, 1.0, 2.0, 3.0, 4.0)]
    assert np.all(np.diff([p.power for p in powers]) > 0)
    assert np.all(np.diff([p.expected_fraction for p in powers]) < 0)
    assert drift_for_power(obf, 0.8) < drift_for_power(obf, 0.9)
    assert 1.0 < inflation_factor(obf, 0.9) < inflation_factor(pocock, 0.9)
    assert np.all(np.diff(obf.cumulative_alpha) > 0) and obf.cumulative_alpha[-1] == pytest.approx(0.025, abs=1e-15)


def test_plain_boundaries_and_the_dataclass_agree():
    b = efficacy_boundaries([0.5, 1.0], 0.025, "obrien_fleming")
    assert isinstance(b, EfficacyBoundaries)
    from_tuple = crossing_probabilities(list(b.z), 2.5, fractions=list(b.fractions))
    assert from_tuple == crossing_probabilities(b, 2.5)
    with pytest.raises(AttributeError):
        b.alpha = 0.05  # type: ignore[misc]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: efficacy_boundaries([0.5, 0.5, 1.0]), "strictly increasing"),
    (lambda: efficacy_boundaries([0.6, 0.4, 1.0]), "strictly increasing"),
    (lambda: efficacy_boundaries([0.0, 1.0]), r"\(0, 1\]"),
    (lambda: efficacy_boundaries([0.5, 1.2]), r"\(0, 1\]"),
    (lambda: efficacy_boundaries([]), "non-empty"),
    (lambda: efficacy_boundaries([0.5, 1.0], alpha=0.0), "alpha"),
    (lambda: efficacy_boundaries([0.5, 1.0], alpha=0.6), "alpha"),
    (lambda: efficacy_boundaries([0.5, 1.0], spending="haybittle"), "spending"),
    (lambda: efficacy_boundaries([0.5, 1.0], spending=lambda t, a: 2 * a * np.asarray(t)), "never above alpha"),
    (lambda: efficacy_boundaries([0.5, 1.0], spending=lambda t, a: a * np.asarray(t)[::-1]), "non-decreasing"),
    (lambda: efficacy_boundaries([0.5, 1.0], spending=lambda t, a: np.full(2, np.nan)), "finite"),
    (lambda: efficacy_boundaries([0.5, 1.0], grid=2), "grid"),
    (lambda: crossing_probabilities(efficacy_boundaries([0.5, 1.0]), 1.0, grid=3), "grid"),
    (lambda: crossing_probabilities([2.0, 1.9], 1.0), "fractions are needed"),
    (lambda: crossing_probabilities([2.0], 1.0, fractions=[0.5, 1.0]), "1 boundaries for 2"),
    (lambda: crossing_probabilities([2.0, np.nan], 1.0, fractions=[0.5, 1.0]), "real numbers"),
    (lambda: crossing_probabilities([2.0, 2.0], np.inf, fractions=[0.5, 1.0]), "drift"),
    (lambda: drift_for_power(efficacy_boundaries([0.5, 1.0]), 0.01), "power must lie"),
    (lambda: drift_for_power(efficacy_boundaries([0.5, 1.0]), 1.0), "power must lie"),
    (lambda: obrien_fleming_spending([0.5, 1.5], 0.025), r"\[0, 1\]"),
    (lambda: pocock_spending(0.5, -0.1), "alpha"),
])
def test_invalid_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
