"""Health-economic arithmetic against hand-worked examples and closed forms.

Seeded statistical tests allow 4 standard errors (as in test_statistics.py), where each standard error is
derived in the test's docstring from the estimator's sampling error, never tuned to the result.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats

from sim.stats.economics import (
    acceptability_curve,
    acceptability_frontier,
    discount_weight,
    discount_weights,
    discounted_flow,
    discounted_flows,
    incremental_analysis,
    incremental_net_benefit,
    net_monetary_benefit,
)
from sim.stats.value_of_information import (
    discounted_population,
    evpi,
    evpi_noise_inflation,
    evpi_of_nmb,
    evppi,
    population_evpi,
)

Z = 4.0


def positive_part_moments(mean: float, sd: float) -> tuple[float, float]:
    """E[X+] and E[(X+)**2] for X ~ N(mean, sd**2), the normal partial expectations.

    E[X+] = m Phi(m/s) + s phi(m/s) and E[(X+)^2] = (m^2 + s^2) Phi(m/s) + m s phi(m/s), from integrating
    x and x^2 against the normal density over x > 0 (e.g. Johnson, Kotz and Balakrishnan, Continuous
    Univariate Distributions vol. 1, truncated normal moments).
    """
    r = mean / sd
    first = mean * stats.norm.cdf(r) + sd * stats.norm.pdf(r)
    second = (mean**2 + sd**2) * stats.norm.cdf(r) + mean * sd * stats.norm.pdf(r)
    return float(first), float(second)


def normal_evpi(mean: float, sd: float) -> float:
    """EVPI of two arms whose incremental NMB is N(mean, sd**2): E[max(0, INB)] - max(0, E[INB])."""
    return positive_part_moments(mean, sd)[0] - max(0.0, mean)


# --- discounting ----------------------------------------------------------------------------------

def test_discount_weight_by_hand():
    """At 3.5% a year: week 52 weighs 1 / 1.035, week 104 1 / 1.035^2, week 26 1 / sqrt(1.035)."""
    cases = {0.0: 1.0, 52.0: 1 / 1.035, 104.0: 1 / 1.071225, 26.0: 1 / math.sqrt(1.035)}
    for week, expected in cases.items():
        assert discount_weight(week, 0.035) == pytest.approx(expected, rel=1e-14)
    assert discount_weights(list(cases), 0.035) == pytest.approx(list(cases.values()), rel=1e-14)
    assert discount_weight(300.0, 0.0) == 1.0
    assert isinstance(discount_weight(10.0, 0.035), float)


def test_discounted_flow_against_quadrature():
    """The closed form equals a numerical integral of (1 + d)^(-t / 52) over [a, b], and b - a at d = 0."""
    for rate in (0.015, 0.035, 0.06):
        for start, end in ((0.0, 52.0), (10.0, 11.0), (26.0, 260.0), (5.0, 5.0)):
            reference, _ = integrate.quad(lambda t, d=rate: (1 + d) ** (-t / 52), start, end, epsabs=1e-13)
            assert discounted_flow(start, end, rate) == pytest.approx(reference, rel=1e-10, abs=1e-12)
    assert discounted_flow(3.0, 55.0, 0.0) == 52.0
    # Continuous in d at 0: the d -> 0 limit of the closed form is b - a.
    assert discounted_flow(3.0, 55.0, 1e-12) == pytest.approx(52.0, rel=1e-9)
    starts, ends = np.array([0.0, 10.0, 26.0]), np.array([52.0, 11.0, 260.0])
    vectorised = discounted_flows(starts, ends, 0.035)
    assert vectorised == pytest.approx([discounted_flow(a, b, 0.035) for a, b in zip(starts, ends, strict=True)],
                                       rel=1e-14)
    assert discounted_flows(starts, ends, 0.0) == pytest.approx(ends - starts)
    # Adjacent intervals add up.
    assert discounted_flow(0, 30, 0.035) + discounted_flow(30, 80, 0.035) == pytest.approx(
        discounted_flow(0, 80, 0.035), rel=1e-14)


@pytest.mark.parametrize("rate", [-0.01, math.nan, math.inf])
def test_discounting_rejects_bad_rates(rate: float):
    with pytest.raises(ValueError, match="discount rate"):
        discount_weight(1.0, rate)
    with pytest.raises(ValueError, match="discount rate"):
        discounted_flow(0.0, 1.0, rate)
    with pytest.raises(ValueError, match="discount rate"):
        discount_weights([1.0], rate)


def test_discounted_flow_rejects_reversed_interval():
    with pytest.raises(ValueError, match="start"):
        discounted_flow(10.0, 5.0, 0.035)
    with pytest.raises(ValueError, match="start"):
        discounted_flows([0.0, 10.0], [1.0, 5.0], 0.035)


# --- incremental analysis -------------------------------------------------------------------------

def test_incremental_analysis_hand_worked():
    """Six arms, one strictly dominated and two extendedly dominated (the second only after the first goes).

    Cost order A 10000 (5.00 QALYs), B 20000 (6.00), C 22000 (6.05), E 25000 (5.90), D 29000 (7.00),
    F 35000 (7.50).
    Strict dominance: E is dominated by B (20000 <= 25000 and 6.00 >= 5.90; also by C).
    ICERs of the rest: B vs A 10000 / 1.00 = 10000; C vs B 2000 / 0.05 = 40000; D vs C 7000 / 0.95 = 7368.42;
    F vs D 6000 / 0.50 = 12000.
    Pass 1: C's 40000 exceeds D's 7368.42, so C is extendedly dominated. Now B 10000, D vs B 9000 / 1.00 = 9000.
    Pass 2: B's 10000 exceeds D's 9000, so B goes too. Now D vs A 19000 / 2.00 = 9500, F vs D 12000: increasing.
    B and C lie between A and D on the final frontier (below the line A-D: at cost 20000 it gives
    5 + 10000 * 2 / 19000 = 6.053 > 6.00, at 22000 6.263 > 6.05).
    """
    arms = ["D", "A", "F", "B", "E", "C"]
    costs = [29000, 10000, 35000, 20000, 25000, 22000]
    effects = [7.00, 5.00, 7.50, 6.00, 5.90, 6.05]
    table = incremental_analysis(arms, costs, effects)
    assert list(table.columns) == ["arm", "cost", "effect", "incremental_cost", "incremental_effect", "icer",
                                   "status", "dominated_by"]
    assert list(table["arm"]) == ["A", "B", "C", "E", "D", "F"]
    assert list(table["status"]) == ["reference", "extendedly dominated", "extendedly dominated", "dominated",
                                     "non-dominated", "non-dominated"]
    assert list(table["dominated_by"]) == [None, "A and D", "A and D", "B", None, None]
    rows = table.set_index("arm")
    assert rows.loc["D", ["incremental_cost", "incremental_effect", "icer"]].tolist() == pytest.approx(
        [19000.0, 2.0, 9500.0])
    assert rows.loc["F", ["incremental_cost", "incremental_effect", "icer"]].tolist() == pytest.approx(
        [6000.0, 0.5, 12000.0])
    for arm in ["A", "B", "C", "E"]:
        assert rows.loc[arm, ["incremental_cost", "incremental_effect", "icer"]].isna().all()


def test_incremental_analysis_ties_in_cost():
    """X and Y cost 100; Y gives more (2.0 > 1.0) so dominates X; Z vs Y: 200 / 1.0 = 200."""
    table = incremental_analysis(["Z", "Y", "X"], [300, 100, 100], [3.0, 2.0, 1.0]).set_index("arm")
    assert list(table.index) == ["X", "Y", "Z"]
    assert table.loc["X", "status"] == "dominated" and table.loc["X", "dominated_by"] == "Y"
    assert table.loc["Y", "status"] == "reference"
    assert table.loc["Z", "icer"] == pytest.approx(200.0)


def test_incremental_analysis_equal_effects():
    """P and Q both give 1.0 QALY; Q costs more so P dominates it; R vs P: 300 / 1.0 = 300."""
    table = incremental_analysis(["P", "Q", "R"], [100, 200, 400], [1.0, 1.0, 2.0]).set_index("arm")
    assert table.loc["Q", "status"] == "dominated" and table.loc["Q", "dominated_by"] == "P"
    assert table.loc["P", "status"] == "reference"
    assert table.loc["R", ["incremental_cost", "incremental_effect", "icer"]].tolist() == pytest.approx(
        [300.0, 1.0, 300.0])


def test_incremental_analysis_single_arm():
    table = incremental_analysis(["only"], [1234.0], [2.5])
    assert len(table) == 1
    assert table.loc[0, "status"] == "reference"
    assert math.isnan(table.loc[0, "icer"])


def test_incremental_analysis_all_dominated_but_one():
    """X is cheapest and most effective, so it dominates Y and Z."""
    table = incremental_analysis(["X", "Y", "Z"], [100, 200, 300], [3.0, 2.0, 1.0]).set_index("arm")
    assert table["status"].tolist() == ["reference", "dominated", "dominated"]
    assert table["dominated_by"].tolist() == [None, "X", "X"]
    assert table["icer"].isna().all()


def test_incremental_analysis_keeps_an_arm_on_the_line():
    """A (0, 0), B (10, 1), C (20, 2): both ICERs are 10, B's does not exceed C's, so B stays."""
    table = incremental_analysis(["A", "B", "C"], [0, 10, 20], [0.0, 1.0, 2.0])
    assert table["status"].tolist() == ["reference", "non-dominated", "non-dominated"]
    assert table["icer"].tolist()[1:] == pytest.approx([10.0, 10.0])


@pytest.mark.parametrize("arms, costs, effects, message", [
    ([], [], [], "at least one arm"),
    (["a", "b"], [1.0], [1.0, 2.0], "one value per arm"),
    (["a", "a"], [1.0, 2.0], [1.0, 2.0], "unique"),
    (["a", "b"], [1.0, math.nan], [1.0, 2.0], "finite"),
    (["a", "b"], [1.0, 1.0], [2.0, 2.0], "same cost and effect"),
])
def test_incremental_analysis_rejects_bad_input(arms: list[str], costs: list[float], effects: list[float],
                                                message: str):
    with pytest.raises(ValueError, match=message):
        incremental_analysis(arms, costs, effects)


# --- net monetary benefit, acceptability, EVPI ----------------------------------------------------

def test_net_monetary_benefit_by_hand():
    """Costs (100, 300), effects (1, 2): NMB at 0 is (-100, -300), at 150 (50, 0), at 250 (150, 200)."""
    nmb = net_monetary_benefit([[100.0, 300.0]], [[1.0, 2.0]], [0.0, 150.0, 250.0])
    assert nmb.shape == (3, 1, 2)
    assert nmb[:, 0, :].tolist() == [[-100.0, -300.0], [50.0, 0.0], [150.0, 200.0]]
    inb = incremental_net_benefit([[100.0, 300.0]], [[1.0, 2.0]], [0.0, 150.0, 250.0], reference=0)
    assert inb[:, 0, :].tolist() == [[0.0, -200.0], [0.0, -50.0], [0.0, 50.0]]
    assert net_monetary_benefit([100.0, 300.0], [1.0, 2.0], 150.0).tolist() == [50.0, 0.0]
    with pytest.raises(ValueError, match="out of range"):
        incremental_net_benefit([100.0, 300.0], [1.0, 2.0], 150.0, reference=2)
    with pytest.raises(ValueError, match="thresholds"):
        net_monetary_benefit([100.0], [1.0], -5.0)
    with pytest.raises(ValueError, match="same shape"):
        net_monetary_benefit([100.0, 1.0], [1.0], 5.0)


# Four PSA samples of two arms: A costs 0 and gives 0 (NMB 0); B costs 100 and gives 0.25, 0.25, 0.25, -0.5.
PSA_COSTS = np.array([[0.0, 100.0]] * 4)
PSA_EFFECTS = np.array([[0.0, 0.25], [0.0, 0.25], [0.0, 0.25], [0.0, -0.5]])


def test_acceptability_curve_and_frontier_by_hand():
    """NMB of B = 0.25 lambda - 100 in three samples and -0.5 lambda - 100 in the fourth (A's NMB is 0).

    lambda = 0: B is -100 everywhere; A best in all: P(A) = 1, E[NMB B] = -100, frontier A.
    lambda = 400: B is (0, 0, 0, -300); three ties split half each: P(A) = (1.5 + 1) / 4 = 0.625, P(B) = 0.375;
        E[B] = -75 < 0, frontier A with probability 0.625.
    lambda = 800: B is (100, 100, 100, -500): P(B) = 0.75 but E[B] = -50 < 0, so the frontier is A, whose
        probability of being cost-effective is only 0.25.
    lambda = 3200: B is (700, 700, 700, -1700): E[B] = 100 > 0, frontier B with probability 0.75.
    """
    thresholds = [0.0, 400.0, 800.0, 3200.0]
    curve = acceptability_curve(PSA_COSTS, PSA_EFFECTS, thresholds, arms=["A", "B"])
    assert curve.index.tolist() == thresholds
    assert curve["A"].tolist() == [1.0, 0.625, 0.25, 0.25]
    assert curve["B"].tolist() == [0.0, 0.375, 0.75, 0.75]
    frontier = acceptability_frontier(PSA_COSTS, PSA_EFFECTS, thresholds, arms=["A", "B"])
    assert frontier["arm"].tolist() == ["A", "A", "A", "B"]
    assert frontier["expected_nmb"].tolist() == [0.0, 0.0, 0.0, 100.0]
    assert frontier["probability_cost_effective"].tolist() == [1.0, 0.625, 0.25, 0.75]


def test_evpi_by_hand():
    """EVPI = mean max(0, NMB B) - max(0, mean NMB B) on the same four samples.

    lambda = 0: 0 - 0 = 0. lambda = 400: mean(0, 0, 0, 0) - max(0, -75) = 0.
    lambda = 800: mean(100, 100, 100, 0) - max(0, -50) = 75. lambda = 3200: mean(700, 700, 700, 0) - 100 = 425.
    Population: 425 x 1000 patients a year over 3 years at 3.5%: 1000 (1 + 1/1.035 + 1/1.035^2)
    = 1000 (1 + 0.9661835749 + 0.9335107004) = 2899.6942752 patients, so 1232370.07 in all.
    """
    values = evpi(PSA_COSTS, PSA_EFFECTS, [0.0, 400.0, 800.0, 3200.0])
    assert values.tolist() == [0.0, 0.0, 75.0, 425.0]
    assert discounted_population(1000, 3, 0.035) == pytest.approx(2899.6942752, rel=1e-10)
    assert discounted_population(1000, 3, 0.0) == 3000.0
    assert discounted_population(250, 1, 0.035) == 250.0
    assert population_evpi(425.0, 1000, 3, 0.035) == pytest.approx(1232370.067, rel=1e-9)
    series = population_evpi(values, 1000, 3, 0.035)
    assert series.tolist() == pytest.approx([0.0, 0.0, 75 * 2899.6942752, 425 * 2899.6942752], rel=1e-10)
    with pytest.raises(ValueError, match="decision_years"):
        discounted_population(1000, 0, 0.035)
    with pytest.raises(ValueError, match="patients_per_year"):
        discounted_population(-1, 3, 0.035)


def test_evpi_against_normal_closed_form():
    """Two arms, INB ~ N(mu, s^2): EVPI = E[max(0, INB)] - max(0, mu) = mu Phi(mu/s) + s phi(mu/s) - mu.

    With mu > 0 (and the sample mean positive, as it is by ~130 standard errors here) the estimator is
    mean_s (-INB_s)+, whose standard error is sd((-INB)+) / sqrt(n), with the moments in closed form.
    """
    mu, s, n = 400.0, 1000.0, 100_000
    rng = np.random.default_rng(20260101)
    # Arm 1 costs 1000 more and gives N(mu + 1000, s^2) / lambda more QALYs at lambda = 20000.
    lam = 20000.0
    effects = np.column_stack([np.zeros(n), rng.normal(mu + 1000.0, s, n) / lam])
    costs = np.column_stack([np.zeros(n), np.full(n, 1000.0)])
    first, second = positive_part_moments(-mu, s)
    se = math.sqrt(second - first**2) / math.sqrt(n)
    assert abs(float(evpi(costs, effects, [lam]).iloc[0]) - normal_evpi(mu, s)) < Z * se


# --- Monte Carlo noise in EVPI --------------------------------------------------------------------

def test_noise_inflation_against_closed_form():
    """INB D ~ N(mu, tau^2) observed with noise e ~ N(0, sigma^2): EVPI(v) = normal_evpi(mu, sqrt(tau^2 + v sigma^2)).

    So the noise-free EVPI f(0) and the inflation f(1) - f(0) are known in closed form. Tolerance, with
    mu > 0 so that every EVPI here is mean_s (-Y_s)+ of the (noisy) INB Y:
    - observed EVPI: standard error sd((-X)+) / sqrt(n), X ~ N(mu, tau^2 + sigma^2), in closed form;
    - the fitted inflation is a fixed linear combination sum_i u_i Delta_i of the EVPI increases (u from the
      least-squares design). Given the data each Delta_i is a mean of n independent terms bounded by the added
      noise |e_i| (x -> x+ is 1-Lipschitz), so its conditional variance is <= k_i sigma^2 / n, independently
      across draws; its conditional mean is a mean of h_k(Y) in [0, sqrt(k sigma^2 / (2 pi))] (Jensen and
      (a + b)+ <= a+ + b+), so of variance <= k sigma^2 / (8 pi n). Together (Minkowski):
      sqrt(sum u_i^2 k_i sigma^2 / n) + sum_k |U_k| sqrt(k sigma^2 / (8 pi n)), U_k the sum of u_i at k;
    - the method's own approximation (EVPI quadratic in the variance) is evaluated exactly from f.
    The same bounds, propagated to first order through n0 c1 / (0.05 f(0)), give the tolerance on the patients
    needed, whose exact value solves f(n0 / n) - f(0) = 0.05 f(0).
    """
    mu, tau, sigma2, n, n0 = 0.5, 1.0, 0.2, 200_000, 100
    multiples, repeats = [0.5, 1.0, 1.5, 2.0], 20

    def f(v: float) -> float:
        return normal_evpi(mu, math.sqrt(tau**2 + v * sigma2))

    rng = np.random.default_rng(7)
    y = rng.normal(mu, tau, n) + rng.normal(0.0, math.sqrt(sigma2), n)
    nmb = np.column_stack([np.zeros(n), y])
    se = np.column_stack([np.zeros(n), np.full(n, math.sqrt(sigma2))])
    result = evpi_noise_inflation(nmb, se, n0, seed=11, extra_variance=multiples, repeats=repeats)

    ks = np.repeat(multiples, repeats)
    design = np.column_stack([ks, ks**2])
    weights = np.linalg.solve(design.T @ design, design.T)
    u = np.array([1.0, -1.0]) @ weights  # inflation = b1 - b2
    c = np.array([1.0, -2.0]) @ weights  # slope at no noise = b1 - 2 b2

    def combination_se(w: np.ndarray) -> float:
        within = math.sqrt(float(np.sum(w**2 * ks * sigma2)) / n)
        between = sum(abs(float(w[ks == k].sum())) * math.sqrt(k * sigma2 / (8 * math.pi * n)) for k in multiples)
        return within + between

    first, second = positive_part_moments(-mu, math.sqrt(tau**2 + sigma2))
    se_observed = math.sqrt(second - first**2) / math.sqrt(n)
    increases = np.array([f(1 + k) - f(1) for k in ks])
    method_inflation, method_slope = float(u @ increases), float(c @ increases)
    truth = f(0)
    se_corrected = se_observed + combination_se(u)
    tolerance = Z * se_corrected + abs(f(1) - method_inflation - truth)
    assert abs(result.evpi_corrected - truth) < tolerance
    assert abs(result.inflation - (f(1) - f(0))) < tolerance
    # The test can tell: the uncorrected EVPI is off by more than the tolerance.
    assert abs(result.evpi_observed - truth) > tolerance

    v_star = optimize.brentq(lambda v: f(v) - f(0) - 0.05 * f(0), 1e-9, 1.0)
    exact_needed = n0 / v_star
    method_needed = n0 * method_slope / (0.05 * (f(1) - method_inflation))
    relative = Z * (combination_se(c) / method_slope + se_corrected / truth)
    assert abs(result.patients_needed - exact_needed) < relative * exact_needed + abs(method_needed - exact_needed) + 1


def test_noise_inflation_without_noise():
    """Zero standard errors add nothing: no inflation, EVPI unchanged, one patient per sample suffices."""
    rng = np.random.default_rng(3)
    nmb = rng.normal(size=(500, 3))
    result = evpi_noise_inflation(nmb, np.zeros_like(nmb), 50, seed=1)
    assert result.inflation == 0.0
    assert result.evpi_corrected == result.evpi_observed == pytest.approx(
        float(nmb.max(axis=1).mean() - nmb.mean(axis=0).max()))
    assert result.patients_needed == 1


def test_noise_inflation_rejects_bad_input():
    nmb = np.zeros((10, 2))
    with pytest.raises(ValueError, match="shape"):
        evpi_noise_inflation(nmb, np.zeros((10, 3)), 10)
    with pytest.raises(ValueError, match=">= 0"):
        evpi_noise_inflation(nmb, -np.ones((10, 2)), 10)
    with pytest.raises(ValueError, match="patients_per_sample"):
        evpi_noise_inflation(nmb, np.zeros((10, 2)), 0)
    with pytest.raises(ValueError, match="two distinct"):
        evpi_noise_inflation(nmb, np.zeros((10, 2)), 10, extra_variance=[1.0, 1.0])


# --- EVPPI ----------------------------------------------------------------------------------------

A, B, C = 1.0, 2.0, 1.5
N = 10_000


def linear_psa(seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Two arms, INB = A + B theta + C phi with theta, phi, psi independent N(0, 1) and psi without effect."""
    rng = np.random.default_rng(seed)
    parameters = pd.DataFrame({"theta": rng.normal(size=N), "phi": rng.normal(size=N), "psi": rng.normal(size=N)})
    inb = A + B * parameters["theta"].to_numpy() + C * parameters["phi"].to_numpy()
    return np.column_stack([np.full(N, 50.0), 50.0 + inb]), parameters


def test_evppi_single_parameter_against_closed_form():
    """EVPPI(theta) = E[max(0, A + B theta)] - max(0, A) = mu Phi(mu/s) + s phi(mu/s) - mu, mu = A, s = |B|.

    That is the normal partial expectation (see positive_part_moments). Error of the estimator, with
    g = A + B theta, r = C phi and fitted g^ = H y = g + H r (the penalised spline fit is linear in y, keeps
    constants and linear trends unshrunk, and H is symmetric with eigenvalues in [0, 1]); as A > 0 and the
    sample mean of the fit (= of y) is positive, the estimate is mean_s (-g^_s)+, so:
    - sampling of theta: mean_s (-g_s)+ has standard error sd((-g)+) / sqrt(n), in closed form;
    - fitting noise: to first order -mean_s 1[g_s < 0] (H r)_s, of variance sigma_r^2 w'H^2 w / n^2
      <= C^2 p / n with w the indicator and p = P(g < 0) = Phi(-A / |B|).
    These two are uncorrelated (r is independent of theta); the second-order (Jensen) bias is of order
    (edf / n) sigma_r^2 times the density of g at 0, about 1e-4 here (edf 2 to 5), under 0.01 standard errors.
    """
    nmb, parameters = linear_psa(seed=101)
    first, second = positive_part_moments(-A, B)
    se_theta = math.sqrt(second - first**2) / math.sqrt(N)
    se_fit = C * math.sqrt(stats.norm.cdf(-A / B) / N)
    estimate = float(evppi(nmb, parameters, {"theta": ["theta"]}).iloc[0])
    assert abs(estimate - normal_evpi(A, B)) < Z * math.hypot(se_theta, se_fit)


def test_evppi_of_a_parameter_without_effect_is_near_zero():
    """psi does not enter the NMB, so its EVPPI is 0; the estimate is bounded by the fitting noise alone.

    The fit is g^ = A + H r, r = B theta + C phi ~ N(0, s2 = B^2 + C^2) independent of psi, and the sample mean
    of g^ is positive, so the estimate is mean_s (-A - u_s)+ with u = H r, and (-A - u)+ <= u^2 / (4 A) (as
    (u + 2A)^2 >= 0). H^2 <= P, the projection on the model's columns (at most basis_size + 1 of them, fixed
    given psi), so sum u^2 <= r'P r = s2 chi2(basis_size + 1): the estimate is below
    s2 * chi2 quantile(1 - 1e-6) / (4 A n) except with probability 1e-6.
    """
    nmb, parameters = linear_psa(seed=202)
    estimate = float(evppi(nmb, parameters, {"psi": ["psi"]}, basis_size=10).iloc[0])
    bound = (B**2 + C**2) * stats.chi2.ppf(1 - 1e-6, 11) / (4 * A * N)
    assert 0.0 <= estimate <= bound
    assert bound < 0.05 * normal_evpi(A, B)


def test_evppi_group_and_evpi():
    """EVPPI(theta) and EVPPI(phi) stay below EVPI; the group (theta, phi) determines the NMB, so its EVPPI is EVPI.

    EVPI = normal_evpi(A, sqrt(B^2 + C^2)); the group's fit reproduces y exactly (y is linear in the group),
    so the estimate is the sample EVPI, mean_s (-y_s)+, of standard error sd((-y)+) / sqrt(n).
    """
    nmb, parameters = linear_psa(seed=303)
    values = evppi(nmb, parameters, {"theta": ["theta"], "phi": ["phi"], "both": ["theta", "phi"]})
    total = evpi_of_nmb(nmb)
    assert values["theta"] < total and values["phi"] < total
    s = math.hypot(B, C)
    first, second = positive_part_moments(-A, s)
    assert abs(values["both"] - normal_evpi(A, s)) < Z * math.sqrt(second - first**2) / math.sqrt(N)


def test_evppi_group_with_interaction_against_quadrature():
    """INB = A + B theta + C phi + E theta phi: the group (theta, phi) determines the NMB, so EVPPI = EVPI.

    Given theta, -INB ~ N(-(A + B theta), (C + E theta)^2), so E[(-INB)+] and E[(-INB)+^2] are normal partial
    expectations integrated over theta ~ N(0, 1) by quadrature; E[INB] = A > 0 so EVPI = E[(-INB)+]. The
    model includes the product term, so the fit reproduces y and the standard error is sd((-INB)+) / sqrt(n).
    """
    e = 0.8
    rng = np.random.default_rng(404)
    theta, phi = rng.normal(size=N), rng.normal(size=N)
    nmb = np.column_stack([np.zeros(N), A + B * theta + C * phi + e * theta * phi])
    parameters = pd.DataFrame({"theta": theta, "phi": phi})

    def moment(t: float, which: int) -> float:
        return positive_part_moments(-(A + B * t), abs(C + e * t))[which] * float(stats.norm.pdf(t))

    first, _ = integrate.quad(moment, -12, 12, args=(0,), points=[-C / e], limit=200)
    second, _ = integrate.quad(moment, -12, 12, args=(1,), points=[-C / e], limit=200)
    estimate = float(evppi(nmb, parameters, {"both": ["theta", "phi"]}).iloc[0])
    assert abs(estimate - first) < Z * math.sqrt(second - first**2) / math.sqrt(N)


def test_evppi_rejects_bad_input():
    nmb, parameters = linear_psa(seed=505)
    with pytest.raises(ValueError, match="two arms"):
        evppi(nmb[:, :1], parameters)
    with pytest.raises(ValueError, match="one row per PSA sample"):
        evppi(nmb, parameters.iloc[:10])
    with pytest.raises(ValueError, match="unknown"):
        evppi(nmb, parameters, {"g": ["nope"]})
    with pytest.raises(ValueError, match="distinct values"):
        evppi(nmb, parameters.assign(theta=np.repeat([0.0, 1.0], N // 2)), {"t": ["theta"]})
    with pytest.raises(ValueError, match="out of range"):
        evppi(nmb, parameters, reference=5)
