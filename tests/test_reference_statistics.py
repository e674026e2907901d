"""Statistics against references the code does not use: hand-worked tables, closed forms, enumeration.

The code computes Fisher's exact test and the exact Mann-Whitney distribution with scipy, the
Aalen-Johansen estimate with its own cumulative sums and the power interval with scipy's Wilson
method; here each is computed again from its definition (math.comb, enumeration of rank sums, a
product of transition matrices, the Wilson formula with the standard library's normal quantile), so
a wrong call, a swapped argument or another method fails.
"""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from sim.spec.trial import Trial
from sim.stats.survival import aalen_johansen
from sim.stats.testing import _fisher, _mann_whitney, compare_arms
from sim.studies.trial.analyse import point_reaching, smallest_size, summarise_power

Z95 = NormalDist().inv_cdf(0.975)


# --- Fisher's exact test from the hypergeometric distribution -------------------------------------

def hypergeometric(x1: int, n1: int, x0: int, n0: int) -> dict[int, float]:
    """P(X = k) for the experimental arm's count X given both margins (Fisher's conditional law)."""
    total, successes = n0 + n1, x0 + x1
    low, high = max(0, successes - n0), min(successes, n1)
    denominator = math.comb(total, successes)
    return {k: math.comb(n1, k) * math.comb(n0, successes - k) / denominator for k in range(low, high + 1)}


def fisher_by_hand(x1: int, n1: int, x0: int, n0: int, alternative: str) -> float:
    """Fisher's p-value: one-sided tails of the hypergeometric law, or (two-sided) the sum of every
    table no more likely than the observed one (relative tolerance 1e-7 for ties in probability, the
    convention of R's fisher.test)."""
    law = hypergeometric(x1, n1, x0, n0)
    if alternative == "greater":
        return sum(p for k, p in law.items() if k >= x1)
    if alternative == "less":
        return sum(p for k, p in law.items() if k <= x1)
    observed = law[x1]
    return min(1.0, sum(p for p in law.values() if p <= observed * (1 + 1e-7)))


@pytest.mark.parametrize(("x1", "n1", "x0", "n0"), [(10, 30, 20, 30), (5, 12, 9, 15), (0, 10, 4, 10),
                                                    (7, 7, 2, 9), (3, 20, 3, 20), (12, 14, 6, 15)])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_fisher_equals_the_hypergeometric_sum(x1: int, n1: int, x0: int, n0: int, alternative: str) -> None:
    expected = fisher_by_hand(x1, n1, x0, n0, alternative)
    assert _fisher(x1, n1, x0, n0, alternative) == pytest.approx(expected, rel=1e-9)
    control = np.array([1.0] * x0 + [0.0] * (n0 - x0))
    experimental = np.array([1.0] * x1 + [0.0] * (n1 - x1))
    effect, p = compare_arms("fisher", alternative, control, experimental)
    assert p == pytest.approx(expected, rel=1e-9)
    assert effect == pytest.approx(x1 / n1 - x0 / n0)


def test_fisher_by_hand_on_a_small_table() -> None:
    """Experimental 3/4, control 0/4: margins 3 of 8; P(X = 3) = C(4,3) C(4,0) / C(8,3) = 4/56.

    One-sided 'greater': only X = 3 is as extreme, p = 4/56 = 0.0714. Two-sided: X = 0 has the same
    probability, so p = 8/56 = 0.1429.
    """
    assert _fisher(3, 4, 0, 4, "greater") == pytest.approx(4 / 56)
    assert _fisher(3, 4, 0, 4, "two-sided") == pytest.approx(8 / 56)
    assert _fisher(3, 4, 0, 4, "less") == pytest.approx(1.0)


# --- the exact Mann-Whitney distribution by enumeration -------------------------------------------

def mann_whitney_exact(control: list[float], experimental: list[float], alternative: str) -> float:
    """The exact p-value of U (experimental over control) by enumerating every assignment of ranks.

    Without ties the ranks of the pooled sample are 1..N; under the null every set of n1 ranks is
    equally likely for the experimental arm. U = rank sum - n1 (n1 + 1) / 2. Two-sided: twice the
    smaller tail, at most 1.
    """
    pooled = sorted(control + experimental)
    rank = {v: i + 1 for i, v in enumerate(pooled)}
    n1, n = len(experimental), len(pooled)
    observed = sum(rank[v] for v in experimental) - n1 * (n1 + 1) / 2
    sums = [sum(c) - n1 * (n1 + 1) / 2 for c in itertools.combinations(range(1, n + 1), n1)]
    upper = sum(u >= observed for u in sums) / len(sums)
    lower = sum(u <= observed for u in sums) / len(sums)
    if alternative == "greater":
        return upper
    if alternative == "less":
        return lower
    return min(1.0, 2 * min(upper, lower))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_exact_mann_whitney_equals_the_enumerated_distribution(seed: int, alternative: str) -> None:
    rng = np.random.default_rng(seed)
    n0, n1 = int(rng.integers(3, 9)), int(rng.integers(3, 9))
    values = rng.permutation(np.arange(n0 + n1, dtype=float)) + rng.uniform(0, 0.5, n0 + n1)  # no ties
    control, experimental = values[:n0], values[n0:]
    expected = mann_whitney_exact(list(control), list(experimental), alternative)
    assert _mann_whitney(control, experimental, alternative) == pytest.approx(expected, rel=1e-9)


def test_exact_mann_whitney_by_hand() -> None:
    """Control 1, 2; experimental 3, 4, 5: the experimental ranks are the largest of C(5, 3) = 10 sets.

    U = 12 - 6 = 6, the maximum: P(U >= 6) = 1/10; two-sided 2/10.
    """
    control, experimental = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    assert _mann_whitney(control, experimental, "greater") == pytest.approx(0.1)
    assert _mann_whitney(control, experimental, "two-sided") == pytest.approx(0.2)
    assert _mann_whitney(control, experimental, "less") == pytest.approx(1.0)


# --- the power interval of a trial size -----------------------------------------------------------

def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval (Wilson 1927; Newcombe 1998, method 3):
    (p + z^2/2n -+ z sqrt(p q / n + z^2 / 4n^2)) / (1 + z^2 / n)."""
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def two_arm_trial(metric: str) -> Trial:
    """A two-arm design of the given endpoint; only its kind and the feasibility limit matter here."""
    return Trial.model_validate({"arms": ["a", "b"], "patients_per_arm": [10], "endpoint": {"metric": metric},
                                 "test": "fisher", "alpha": 0.05, "simulations": 10, "accrual_per_week": 1.0,
                                 "visit_weeks": [12], "target_power": 0.8})


def trials_table(rejections: dict[int, tuple[int, int]], effect: str = "risk_difference") -> pd.DataFrame:
    rows = []
    for n, (k, total) in rejections.items():
        for s in range(total):
            rows.append({"patients_per_arm": n, "simulation": s, "reject": s < k, effect: 0.1 * (s % 3),
                         "duration_weeks": 10.0 + s % 2})
    return pd.DataFrame(rows)


def test_power_is_the_rejection_share_with_its_95_percent_wilson_interval() -> None:
    """Wilson's interval by hand for 0, 7, 37 and 200 rejections; a 90% interval or a Wald or exact
    (Clopper-Pearson) interval differs from these in the third decimal at least."""
    counts = {10: (0, 40), 20: (7, 40), 40: (37, 40), 80: (200, 200)}
    shuffled = trials_table(counts).sample(frac=1.0, random_state=1)  # rows in any order: sizes come sorted
    power = summarise_power(two_arm_trial("complete_response"), shuffled)
    assert power["patients_per_arm"].tolist() == [10, 20, 40, 80]
    power = power.set_index("patients_per_arm")
    for n, (k, total) in counts.items():
        low, high = wilson(k, total)
        assert power.loc[n, "power"] == pytest.approx(k / total)
        assert power.loc[n, "ci_low"] == pytest.approx(low, abs=1e-9)
        assert power.loc[n, "ci_high"] == pytest.approx(high, abs=1e-9)
    # by hand for 7 of 40: p = 0.175, z^2 = 3.8415; centre 0.175 + 0.04802 = 0.22302;
    # half 1.96 sqrt(0.0036094 + 0.00060024) = 0.12712; divided by 1.09604: [0.0875, 0.3194]
    assert power.loc[20, ["ci_low", "ci_high"]].tolist() == pytest.approx([0.0875, 0.3194], abs=5e-4)
    assert power.loc[20, "risk_difference"] == pytest.approx(np.mean([0.1 * (s % 3) for s in range(40)]))
    assert power.loc[20, "mean_duration_weeks"] == pytest.approx(10.5)
    # The smallest sufficient size needs its whole interval at or above the target: 37 of 40 has the
    # Wilson lower limit (0.925 + 0.04802 - 1.96 sqrt(0.0017344 + 0.00060024)) / 1.09604 = 0.8014.
    table = power.reset_index()
    assert smallest_size(table, 0.80) == 40 and smallest_size(table, 0.802) == 80
    assert smallest_size(table, 0.9) == 80 and smallest_size(table.iloc[:2], 0.9) is None
    # The point estimate alone reaches a target at the first size whose share of rejections does.
    assert point_reaching(table, 0.175) == 20 and point_reaching(table, 0.1751) == 40


def test_time_to_event_power_reports_the_geometric_mean_hazard_ratio() -> None:
    """Hazard ratios 0.5, 2 and 1: geometric mean 1; a ratio that is NaN or 0 is left out."""
    trials = pd.DataFrame({"patients_per_arm": [10] * 5, "simulation": range(5),
                           "reject": [True, False, False, False, False],
                           "hazard_ratio": [0.5, 2.0, 1.0, math.nan, 0.0], "events": [3, 4, 5, 6, 7],
                           "duration_weeks": [1.0] * 5})
    row = summarise_power(two_arm_trial("time_to_relapse"), trials).iloc[0]
    assert row["hazard_ratio"] == pytest.approx(1.0)
    assert row["power"] == pytest.approx(0.2) and row["expected_events"] == pytest.approx(5.0)
    differences = trials.iloc[:3].rename(columns={"hazard_ratio": "risk_difference"})
    arithmetic = summarise_power(two_arm_trial("complete_response"), differences).iloc[0]
    assert arithmetic["risk_difference"] == pytest.approx(3.5 / 3)


# --- Aalen-Johansen: a hand-worked competing-risks table and a product of transition matrices -----

def test_aalen_johansen_estimate_variance_and_interval_by_hand() -> None:
    """Cause 1 at week 1, cause 2 at 2, censored at 3, cause 1 at 4 (4 patients, no tied times).

    Estimate of cause 1: F(1) = 1/4 (S = 3/4); at 2 cause 2, S = 1/2; F(4) = 1/4 + S(3) * 1/1 = 3/4.
    Variance (Collett, Modelling Survival Data, 3rd ed., p. 411):
      sum_i (F - F_i)^2 d_i / (n_i (n_i - d_i)) + sum_i S_{i-1}^2 d1_i (n_i - d1_i) / n_i^3
      - 2 sum_i (F - F_i) S_{i-1} d1_i / n_i^2.
    At week 2: F - F_i = 0 for both times, so only 1 * 1 * 3 / 64 = 3/64 (the binomial 1/4 * 3/4 / 4).
    At week 4: (1/2)^2 / 12 + (1/2)^2 / 6 + 3/64 - 2 * (1/2) * 1/16 = 1/48 + 1/24 + 3/64 - 1/16 = 3/64
    (the term of week 4 vanishes: n = d there, and F - F_4 = 0).
    Interval: log(-log) transform, se = sqrt(V) / (F |log F|), from F^exp(z se) to F^exp(-z se).
    """
    table = aalen_johansen(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 2, 0, 1]), 1).set_index("week")
    table = table.loc[[1.0, 2.0, 3.0, 4.0]]  # lifelines' table also has a row at week 0
    assert table["at_risk"].tolist() == [4, 3, 2, 1]
    assert table["estimate"].tolist() == pytest.approx([0.25, 0.25, 0.25, 0.75])
    assert table.loc[2.0, "variance"] == pytest.approx(3 / 64)
    assert table.loc[4.0, "variance"] == pytest.approx(3 / 64)
    for week, f in ((2.0, 0.25), (4.0, 0.75)):
        se = math.sqrt(3 / 64) / (f * abs(math.log(f)))
        low, high = f ** math.exp(Z95 * se), f ** math.exp(-Z95 * se)
        assert table.loc[week, ["ci_low", "ci_high"]].tolist() == pytest.approx([low, high])
    other = aalen_johansen(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 2, 0, 1]), 2).set_index("week")
    assert other.loc[[1.0, 2.0, 3.0, 4.0], "estimate"].tolist() == pytest.approx([0.0, 0.25, 0.25, 0.25])  # 3/4 * 1/3


def product_integral(weeks: np.ndarray, causes: np.ndarray, n_causes: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative incidence of each cause by the Aalen-Johansen product integral of the multi-state
    model {event-free, cause 1, ..., cause K}: P(0, t) = prod over event times of (I + dA), where dA
    moves d_k / n of the event-free state to cause k. Returns the event times and P[0, k] at each."""
    order = np.argsort(weeks, kind="stable")
    weeks, causes = weeks[order], causes[order]
    matrix = np.eye(n_causes + 1)
    times, incidence = [], []
    for t in np.unique(weeks[causes > 0]):
        at_risk = int((weeks >= t).sum())
        step = np.eye(n_causes + 1)
        for k in range(1, n_causes + 1):
            d = int(((weeks == t) & (causes == k)).sum())
            step[0, k] = d / at_risk
            step[0, 0] -= d / at_risk
        matrix = matrix @ step
        times.append(t)
        incidence.append(matrix[0, 1:].copy())
    return np.array(times), np.array(incidence)


@pytest.mark.parametrize("seed", [1, 2])
def test_aalen_johansen_equals_the_product_of_transition_matrices(seed: int) -> None:
    """300 patients, three causes and censoring, continuous times (no ties)."""
    rng = np.random.default_rng(seed)
    weeks = rng.exponential(30, 300)
    causes = rng.integers(0, 4, 300)
    times, incidence = product_integral(weeks, causes, 3)
    for cause in (1, 2, 3):
        table = aalen_johansen(weeks, causes, cause)
        estimate = np.interp(times, table["week"].to_numpy(), table["estimate"].to_numpy())
        assert estimate == pytest.approx(incidence[:, cause - 1], abs=1e-12)
    total = sum(aalen_johansen(weeks, causes, c)["estimate"].to_numpy()[-1] for c in (1, 2, 3))
    assert total == pytest.approx(incidence[-1].sum())
