"""Trial planning: what the trial sees, the tests' error rates and power, CRN across sizes, bad files.

Statistical tests are seeded (deterministic) with tolerances of 4 binomial standard errors: a
correct implementation fails a fresh seed with probability about 6e-5 per check.
"""

from __future__ import annotations

import copy
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, scenario, therapy
from scipy import stats

from sim.cli import main
from sim.engine.simulate import simulate
from sim.spec.trial import Trial
from sim.stats.testing import compare_arms, logrank
from sim.studies.trial import load_trial
from sim.studies.trial.design import enrolment_weeks
from sim.studies.trial.evaluate import analyse_trial, endpoint_values, simulate_trial, visit_states

Z = 4.0


# --- builders ------------------------------------------------------------------------------------


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def base_scenario(therapies: dict[str, dict[str, Any]], arms: dict[str, list[str]], **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "base", "seed": 2024, "replications": 1, "follow_up_weeks": 60,
                            "cohort": {"size": 10}, "reference_arm": next(iter(arms)), "arms": arms,
                            "therapies": therapies}
    data.update(changes)
    return data


def trial_section(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"arms": ["a", "b"], "patients_per_arm": [20], "endpoint": {"metric": "complete_response",
                                                                                      "at_week": 12},
                            "test": "fisher", "alpha": 0.05, "simulations": 100, "accrual_per_week": 5,
                            "visit_weeks": [4, 8, 12, 26, 52], "target_power": 0.8}
    data.update(changes)
    return data


def make_plan(tmp_path: Path, base: dict[str, Any], trial: dict[str, Any], name: str = "plan"):  # type: ignore[no-untyped-def]
    write_yaml(tmp_path / "base.yaml", base)
    path = write_yaml(tmp_path / f"{name}.yaml", {"base": "base.yaml", "trial": trial})
    return load_trial(path)


def exact_trial(**changes: Any) -> Trial:
    data = trial_section(**changes)
    return Trial.model_validate(data)


# A patient who responds at week 2, is in remission from week 3, stops the drug at week 4 and
# relapses at week 6 (no line left: active from then on).
PULSE = therapy(response={"time_to_response": 2, "time_to_complete": 1}, maintenance_weeks=1,
                after_maintenance="stop", relapse={"after_stop": {"probability": 1.0, "time": 2}})


def pulse_states(visit_weeks: list[float]) -> np.ndarray:
    s = scenario({"pulse": PULSE}, cohort={"size": 1})
    block = simulate(s, "pulse", 0)
    return visit_states(block, 1, visit_weeks)


def values(trial: Trial, states: np.ndarray, enrol: float = 0.0, dropout: float = math.nan):  # type: ignore[no-untyped-def]
    v = endpoint_values(trial, np.array([enrol]), np.array([dropout]), states)
    return v.value[0], None if v.event is None else bool(v.event[0]), bool(v.used[0])


# --- what the trial sees: exact-time cases -------------------------------------------------------


def test_a_remission_between_two_visits_is_not_seen():
    """Remission weeks 3-6 falls between the visits of weeks 2 and 8: the trial never sees it."""
    visits = [2, 8]
    states = pulse_states(visits)
    assert states.tolist() == [[1, 0]]  # response at week 2, active again at week 8
    assert values(exact_trial(visit_weeks=visits, endpoint={"metric": "complete_response", "at_week": 8}),
                  states) == (0.0, None, True)
    assert values(exact_trial(visit_weeks=visits, endpoint={"metric": "response", "at_week": 2}),
                  states) == (1.0, None, True)
    assert values(exact_trial(visit_weeks=visits, test="welch_t",
                              endpoint={"metric": "disease_free_weeks", "at_week": 8}), states)[0] == 0.0
    # never seen in remission: censored at the last visit; the relapse is seen at week 8
    assert values(exact_trial(visit_weeks=visits, test="logrank",
                              endpoint={"metric": "time_to_complete_response"}), states) == (8.0, False, True)
    assert values(exact_trial(visit_weeks=visits, test="logrank",
                              endpoint={"metric": "time_to_relapse"}), states) == (8.0, True, True)


def test_a_remission_spanning_a_visit_is_seen_and_dated_at_the_visit():
    """Visits at weeks 4 and 8 see remission (week 4) then active disease (week 8)."""
    visits = [4, 8]
    states = pulse_states(visits)
    assert states.tolist() == [[2, 0]]
    assert values(exact_trial(visit_weeks=visits, test="logrank",
                              endpoint={"metric": "time_to_complete_response"}), states) == (4.0, True, True)
    assert values(exact_trial(visit_weeks=visits, test="logrank",
                              endpoint={"metric": "time_to_relapse"}), states) == (8.0, True, True)
    # trapezoid: (0, 4] active -> remission counts 2 weeks, (4, 8] remission -> active 2 more (exactly: 3)
    assert values(exact_trial(visit_weeks=visits, test="welch_t",
                              endpoint={"metric": "disease_free_weeks", "at_week": 8}), states)[0] == 4.0


def test_state_at_a_visit_includes_events_of_that_week():
    """Remission begins at week 3 exactly and relapse comes at week 6 exactly: visits at 3 and 6 see both."""
    assert pulse_states([3, 6]).tolist() == [[2, 0]]
    assert pulse_states([2.999, 5.999]).tolist() == [[1, 2]]


def test_dropout_ends_the_visits_and_counts_as_failure():
    """Dropout at week 5: the visit of week 8 is not attended."""
    visits = [4, 8]
    states = pulse_states(visits)
    assert values(exact_trial(visit_weeks=visits, endpoint={"metric": "complete_response", "at_week": 8}),
                  states, dropout=5.0)[0] == 0.0
    assert values(exact_trial(visit_weeks=visits, endpoint={"metric": "complete_response", "at_week": 4}),
                  states, dropout=5.0)[0] == 1.0
    # relapse (week 6) happens after dropout: censored at the last attended visit
    assert values(exact_trial(visit_weeks=visits, test="logrank", endpoint={"metric": "time_to_relapse"}),
                  states, dropout=5.0) == (4.0, False, True)
    assert values(exact_trial(visit_weeks=visits, test="chi2", endpoint={"metric": "dropout", "at_week": 5}),
                  states, dropout=5.0)[0] == 1.0


def test_administrative_end_censors_and_makes_late_patients_unevaluable():
    """Enrolled at calendar week 50 in a trial ending at week 56: only the visit of week 4 is attended."""
    visits = [4, 8]
    states = pulse_states(visits)
    relapse = exact_trial(visit_weeks=visits, test="logrank", endpoint={"metric": "time_to_relapse"},
                          duration_weeks=56)
    assert values(relapse, states, enrol=50.0) == (4.0, False, True)
    assert values(relapse, states, enrol=40.0) == (8.0, True, True)
    assert values(relapse, states, enrol=56.0)[2] is False  # enrolled at the end: not in the trial
    late = exact_trial(visit_weeks=visits, endpoint={"metric": "complete_response", "at_week": 8}, duration_weeks=56)
    assert values(late, states, enrol=50.0)[2] is False
    assert values(late, states, enrol=48.0)[2] is True


def test_time_to_dropout_is_exact_and_administratively_censored(tmp_path):
    """Every patient drops out at week 20 (adverse event); the trial ends at calendar week 30.

    A patient enrolled at week e is followed for min(52, 30 - e) weeks: an event at week 20 if
    e <= 10, else censored at 30 - e; nobody enrolled at or after week 30 is in the trial.
    """
    t = therapy(adverse_events={"tox": {"probability": 1.0, "onset": 20, "discontinue_probability": 1.0}})
    plan = make_plan(tmp_path, base_scenario({"drug": t}, {"a": ["drug"], "b": ["drug"]}),
                     trial_section(patients_per_arm=[20], test="logrank", endpoint={"metric": "time_to_dropout"},
                                   accrual_per_week=1.0, duration_weeks=30, visit_weeks=[4, 52]))
    arms = simulate_trial(plan, 0)
    for arm in arms:
        v = endpoint_values(plan.trial, arm.enrol_week, arm.dropout_week, arm.states)
        e = arm.enrol_week
        assert np.array_equal(v.event, e <= 10)
        assert np.allclose(v.value, np.where(e <= 10, 20.0, 30.0 - e))
        assert np.array_equal(v.used, e < 30)
    [row] = analyse_trial(plan.trial, arms, 0)
    assert row[-1] <= 30.0  # duration capped by the administrative end


def test_enrolment_is_poisson_and_blocks_are_balanced():
    """Permuted blocks of 4 keep 1:1 arms equal at every block end; gaps average 1 / rate."""
    seed, rate = 7, 2.5
    gaps = []
    for k in range(200):
        control, experimental = enrolment_weeks(seed, k, [1, 1], [40, 40], rate)
        weeks = np.concatenate([control, experimental])
        order = np.argsort(weeks)
        gaps.append(np.diff(weeks[order]))
        assert weeks[order][0] == 0.0 and len(control) == len(experimental) == 40
        arm_in_slot_order = np.repeat([0, 1], 40)[order]
        assert np.all(arm_in_slot_order.reshape(-1, 4).sum(axis=1) == 2)  # two of each arm in every block
    gaps = np.concatenate(gaps)
    assert abs(gaps.mean() - 1 / rate) < Z * gaps.std() / math.sqrt(len(gaps))
    # unequal allocation 2:1 with blocks of 6: four control and two experimental places per block
    control, experimental = enrolment_weeks(seed, 0, [2, 1], [40, 20], rate)
    assert len(control) == 40 and len(experimental) == 20


# --- the tests themselves ------------------------------------------------------------------------


def test_logrank_matches_lifelines_with_ties():
    from lifelines.statistics import logrank_test

    rng = np.random.default_rng(3)
    for _ in range(5):
        t0, t1 = rng.integers(1, 8, 30).astype(float), rng.integers(1, 8, 25).astype(float)
        e0, e1 = rng.random(30) < 0.6, rng.random(25) < 0.5
        hr, p = logrank(t0, e0, t1, e1)
        assert p == pytest.approx(logrank_test(t0, t1, e0, e1).p_value, rel=1e-9)
        assert 0 < hr < math.inf
        _, greater = logrank(t0, e0, t1, e1, "greater")
        _, less = logrank(t0, e0, t1, e1, "less")
        assert greater + less == pytest.approx(1.0)
        assert min(greater, less) == pytest.approx(p / 2)


def test_binary_tests_match_scipy():
    from test_reference_statistics import fisher_by_hand

    for x1, n1, x0, n0 in [(10, 30, 20, 30), (5, 12, 9, 15), (0, 10, 4, 10)]:
        e = np.array([1.0] * x1 + [0.0] * (n1 - x1))
        c = np.array([1.0] * x0 + [0.0] * (n0 - x0))
        table = [[x1, n1 - x1], [x0, n0 - x0]]
        _, p = compare_arms("chi2", "two-sided", c, e)
        assert p == pytest.approx(stats.chi2_contingency(table, correction=False)[1], rel=1e-9)
        for alternative in ("two-sided", "greater", "less"):  # Fisher: the code calls scipy, so the
            effect, p = compare_arms("fisher", alternative, c, e)  # reference is the hypergeometric sum
            assert p == pytest.approx(fisher_by_hand(x1, n1, x0, n0, alternative), rel=1e-9)
            assert effect == pytest.approx(x1 / n1 - x0 / n0)
    # every patient alike: no evidence, p = 1
    assert compare_arms("chi2", "two-sided", np.ones(5), np.ones(5))[1] == 1.0


def test_continuous_tests_match_scipy():
    from test_reference_statistics import mann_whitney_exact

    rng = np.random.default_rng(5)
    for n0, n1 in [(30, 25), (5, 6), (12, 40)]:
        control, experimental = np.round(rng.exponential(5, n0), 1), np.round(rng.exponential(6, n1), 1)
        control[: n0 // 3] = 0.0  # ties, as weeks in remission have
        for alternative in ("two-sided", "greater", "less"):
            _, p = compare_arms("mann_whitney", alternative, control, experimental)
            assert p == pytest.approx(stats.mannwhitneyu(experimental, control, alternative=alternative).pvalue,
                                      rel=1e-9)
            _, p = compare_arms("welch_t", alternative, control, experimental)
            assert p == pytest.approx(stats.ttest_ind(experimental, control, equal_var=False,
                                                      alternative=alternative).pvalue, rel=1e-9)
        exact = rng.permutation(np.arange(11.0))  # no ties, at most 8 per arm: the exact distribution,
        assert compare_arms("mann_whitney", "two-sided", exact[:5], exact[5:])[1] == pytest.approx(  # enumerated
            mann_whitney_exact(list(exact[:5]), list(exact[5:]), "two-sided"))


def test_one_sided_direction_is_experimental_against_control():
    control, experimental = np.zeros(30), np.ones(30) * 5.0
    control[:3] = 1.0
    experimental[:3] = 4.0
    for test in ("welch_t", "mann_whitney"):
        assert compare_arms(test, "greater", control, experimental)[1] < 1e-6
        assert compare_arms(test, "less", control, experimental)[1] > 0.99


NULL_THERAPY = {
    "drug": "drug_n",
    "response": {"probability": 0.75, "complete_probability": 0.7,
                 "time_to_response": {"distribution": "lognormal", "median": 4, "sigma": 0.6},
                 "time_to_complete": {"distribution": "lognormal", "median": 4, "sigma": 0.6}},
    "maintenance_weeks": 10,
    "after_maintenance": "stop",
    "relapse": {"on_treatment_per_year": 0.3,
                "after_stop": {"probability": 0.6, "time": {"distribution": "lognormal", "median": 8, "sigma": 0.7}}},
    "on_relapse": "retreat",
    "max_courses": 2,
    "adverse_events": {"tox": {"rate_per_year": 0.3, "discontinue_probability": 0.8}},
}

NULL_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"metric": "complete_response", "at_week": 12}, "fisher", "two-sided"),
    ({"metric": "complete_response", "at_week": 12}, "chi2", "two-sided"),
    ({"metric": "response", "at_week": 8}, "chi2", "greater"),
    ({"metric": "dropout", "at_week": 52}, "chi2", "two-sided"),
    ({"metric": "disease_free_weeks", "at_week": 52}, "mann_whitney", "two-sided"),
    ({"metric": "disease_free_weeks", "at_week": 52}, "welch_t", "two-sided"),
    ({"metric": "disease_free_weeks", "at_week": 52}, "welch_t", "less"),
    ({"metric": "time_to_relapse"}, "logrank", "two-sided"),
    ({"metric": "time_to_complete_response"}, "logrank", "two-sided"),
    ({"metric": "time_to_dropout"}, "logrank", "two-sided"),
]


def null_rejection_rates(tmp_path: Path, simulations: int, n: int) -> dict[tuple[str, str, str], float]:
    """Rejection rates of every case on the same simulated null trials (both arms one strategy)."""
    base = base_scenario({"drug": NULL_THERAPY}, {"a": ["drug"], "b": ["drug"]},
                         cohort={"size": 10, "loss_to_follow_up_per_year": 0.2})
    plan = make_plan(tmp_path, base, trial_section(patients_per_arm=[n], simulations=simulations,
                                                   visit_weeks=[4, 8, 12, 16, 20, 26, 32, 39, 52],
                                                   duration_weeks=70))
    simulated = [simulate_trial(plan, k) for k in range(simulations)]
    rates = {}
    for endpoint, test, alternative in NULL_CASES:
        trial = plan.trial.model_copy(update={"endpoint": plan.trial.endpoint.model_validate(endpoint), "test": test,
                                              "alternative": alternative})
        rejects = [analyse_trial(trial, arms, k)[0][6] for k, arms in enumerate(simulated)]
        rates[(endpoint["metric"], test, alternative)] = float(np.mean(rejects))
    return rates


def check_type_one_error(rates: dict[tuple[str, str, str], float], simulations: int, alpha: float = 0.05) -> None:
    se = math.sqrt(alpha * (1 - alpha) / simulations)
    for (metric, test, alternative), rate in rates.items():
        where = f"{metric} {test} {alternative}: rejection rate {rate:.4f}, alpha {alpha}, SE {se:.4f}"
        if test == "fisher":  # conservative by construction
            assert rate <= alpha + Z * se, where
        else:
            assert abs(rate - alpha) < Z * se, where


def test_type_one_error_of_every_test_stays_at_alpha(tmp_path):
    """With both arms the same strategy, each test rejects in alpha of trials, within Monte Carlo error.

    Fisher's exact test is conservative: only its upper bound is checked.
    """
    simulations = 3000
    check_type_one_error(null_rejection_rates(tmp_path, simulations, 30), simulations)


@pytest.mark.validation
def test_type_one_error_of_every_test_stays_at_alpha_many_trials(tmp_path):
    """As above with tighter Monte Carlo error, at a size where the binary tests' discreteness is small."""
    simulations = 4000
    check_type_one_error(null_rejection_rates(tmp_path, simulations, 50), simulations)


def pooled_z_p(x1: int, x0: int, n: int) -> float:
    """Two-sided p of the pooled two-proportion z-test (Pearson's chi-square without correction),
    from its formula: z = (x1/n - x0/n) / sqrt(pbar qbar 2/n), p = erfc(|z| / sqrt 2); 1 when pbar is 0 or 1."""
    pooled = (x0 + x1) / (2 * n)
    if pooled in (0.0, 1.0):
        return 1.0
    z = (x1 - x0) / n / math.sqrt(pooled * (1 - pooled) * 2 / n)
    return math.erfc(abs(z) / math.sqrt(2))


def exact_power(n: int, p0: float, p1: float, test: str, alpha: float) -> float:
    """Power of a two-sided test of two binomial(n, p) arms by enumerating every 2x2 table, with each
    table's p-value computed here from its definition (not by the code under test)."""
    from test_reference_statistics import fisher_by_hand

    w0, w1 = stats.binom.pmf(np.arange(n + 1), n, p0), stats.binom.pmf(np.arange(n + 1), n, p1)
    total = 0.0
    for a in range(n + 1):
        for b in range(n + 1):
            p = fisher_by_hand(b, n, a, n, "two-sided") if test == "fisher" else pooled_z_p(b, a, n)
            if p <= alpha:
                total += w0[a] * w1[b]
    return total


def normal_power(n: int, p0: float, p1: float, alpha: float) -> float:
    """Power of the two-sided pooled two-proportion z-test (Pearson chi-square), normal approximation.

    Fleiss, Levin & Paik, Statistical Methods for Rates and Proportions (3rd ed., 2003), eq. 4.14:
    power = Phi((|d| sqrt(n) - z sqrt(2 pbar qbar)) / sqrt(p0 q0 + p1 q1)) plus the far tail.
    """
    pbar, z = (p0 + p1) / 2, stats.norm.ppf(1 - alpha / 2)
    spread, null = math.sqrt(p0 * (1 - p0) + p1 * (1 - p1)), z * math.sqrt(2 * pbar * (1 - pbar))
    d = abs(p1 - p0) * math.sqrt(n)
    return float(stats.norm.cdf((d - null) / spread) + stats.norm.cdf((-d - null) / spread))


def test_power_of_a_binary_endpoint_matches_the_analytic_power(tmp_path):
    """Complete response at week 4 with fixed timing: each arm is binomial(n, p) and the power is analytic.

    Chi-square: the normal approximation (accurate to < 0.003 at these sizes) and exact
    enumeration; Fisher: exact enumeration with the hypergeometric p-value. Tolerance 4 binomial SE.
    """
    p0, p1, sizes, simulations, alpha = 0.5, 0.75, [30, 60], 1500, 0.05
    fixed = {"time_to_response": 2, "time_to_complete": 0, "complete_probability": 1.0}
    therapies = {"drug_a": therapy(response={**fixed, "probability": p0}),
                 "drug_b": therapy(drug="drug_b", response={**fixed, "probability": p1})}
    plan = make_plan(tmp_path, base_scenario(therapies, {"a": ["drug_a"], "b": ["drug_b"]}),
                     trial_section(patients_per_arm=sizes, simulations=simulations, visit_weeks=[4],
                                   endpoint={"metric": "complete_response", "at_week": 4}))
    simulated = [simulate_trial(plan, k) for k in range(simulations)]
    for test in ("chi2", "fisher"):
        trial = plan.trial.model_copy(update={"test": test})
        rows = [row for k, arms in enumerate(simulated) for row in analyse_trial(trial, arms, k)]
        for n in sizes:
            rejects = [row[6] for row in rows if row[0] == n]
            power = float(np.mean(rejects))
            expected = exact_power(n, p0, p1, test, alpha)
            se = math.sqrt(expected * (1 - expected) / simulations)
            assert abs(power - expected) < Z * se, (test, n, power, expected)
            if test == "chi2":
                assert abs(power - normal_power(n, p0, p1, alpha)) < Z * se + 0.003, (n, power)
            effects = [row[4] for row in rows if row[0] == n]
            assert abs(np.mean(effects) - (p1 - p0)) < Z * math.sqrt((p0 * (1 - p0) + p1 * (1 - p1)) / n / simulations)


# --- common random numbers across sizes ---------------------------------------------------------


def test_simulating_only_to_the_last_visit_sees_the_same_trial(tmp_path):
    """Patients are simulated to a week past the last visit: the visits see what the whole follow-up has."""
    base = base_scenario({"drug": NULL_THERAPY}, {"a": ["drug"], "b": ["drug"]}, follow_up_weeks=120,
                         cohort={"size": 10, "loss_to_follow_up_per_year": 0.3})
    plan = make_plan(tmp_path, base, trial_section(patients_per_arm=[30], visit_weeks=[4, 8, 12, 26],
                                                   test="welch_t",
                                                   endpoint={"metric": "disease_free_weeks", "at_week": 26}))
    for k in range(3):
        short, full = simulate_trial(plan, k), simulate_trial(plan, k, full_follow_up=True)
        for a, b in zip(short, full, strict=True):
            assert np.array_equal(a.enrol_week, b.enrol_week) and np.array_equal(a.states, b.states)
            seen = b.dropout_week <= 27.0
            assert np.array_equal(a.dropout_week[seen], b.dropout_week[seen])
            assert np.all(np.isnan(a.dropout_week[~seen]))
        assert analyse_trial(plan.trial, short, k) == analyse_trial(plan.trial, full, k)


def test_a_size_gives_the_same_trials_whatever_the_other_sizes(tmp_path):
    """The first n patients of each arm are the same patients in a plan of [n] and one of [n, 4n]."""
    base = base_scenario({"drug": NULL_THERAPY}, {"a": ["drug"], "b": ["drug"]})
    small = make_plan(tmp_path, base, trial_section(patients_per_arm=[15], test="welch_t",
                                                    endpoint={"metric": "disease_free_weeks", "at_week": 52}), "small")
    large = make_plan(tmp_path, base, trial_section(patients_per_arm=[15, 60], test="welch_t",
                                                    endpoint={"metric": "disease_free_weeks", "at_week": 52}), "large")
    for k in range(5):
        [alone] = analyse_trial(small.trial, simulate_trial(small, k), k)
        first, _ = analyse_trial(large.trial, simulate_trial(large, k), k)
        assert alone == first


def test_power_rises_smoothly_with_size(tmp_path):
    """With a real difference and the same patients at every size, power is monotone in size."""
    trial = {**copy.deepcopy(trial_section()), "patients_per_arm": [10, 20, 40, 80], "simulations": 300,
             "endpoint": {"metric": "complete_response", "at_week": 12}, "test": "chi2"}
    base_path = ROOT / "scenarios" / "low_dose.yaml"
    path = write_yaml(tmp_path / "crn.yaml", {"base": str(base_path), "trial": {**trial, "arms": ["standard",
                                                                                                  "lenalidomide"]}})
    plan = load_trial(path)
    rows = [row for k in range(plan.trial.simulations) for row in analyse_trial(plan.trial, simulate_trial(plan, k), k)]
    power = [np.mean([r[6] for r in rows if r[0] == n]) for n in plan.trial.patients_per_arm]
    assert all(b >= a - 0.02 for a, b in zip(power, power[1:], strict=False)), power
    assert power[-1] > 0.9 and power[0] < power[-1]


# --- the command: outputs, workers, bad input ---------------------------------------------------


def example_trial(tmp_path: Path, **changes: Any) -> Path:
    defaults = {"arms": ["thalidomide", "lenalidomide"], "patients_per_arm": [10, 30], "simulations": 120,
                "accrual_per_week": 2.0, "duration_weeks": 80}
    section = trial_section(**{**defaults, **changes})
    return write_yaml(tmp_path / "example.yaml", {"base": str(ROOT / "scenarios" / "low_dose.yaml"),
                                                  "trial": section})


def test_results_are_identical_with_one_or_two_workers(tmp_path):
    path = example_trial(tmp_path, test="logrank", endpoint={"metric": "time_to_relapse"})
    for workers in (1, 2):
        assert main([str(path), "--out", str(tmp_path / f"w{workers}"), "--workers", str(workers), "--quiet",
                     "--set", "trial.simulations=150", "--set", "seed=99"]) == 0
    for name in ("power.csv", "trials.csv", "trial.yaml", "scenario.yaml", "report.md",
                 "figures/power_curve.png"):
        assert (tmp_path / "w1" / name).is_file(), name
        if name.endswith(".png"):
            continue
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes(), name
    power = (tmp_path / "w1" / "power.csv").read_text().splitlines()
    assert power[0] == ("patients_per_arm,power,ci_low,ci_high,hazard_ratio,expected_events,mean_duration_weeks,"
                        "p90_duration_weeks,feasible")
    assert len(power) == 3
    # power.csv's interval is Wilson's 95% score interval of the rejections counted in trials.csv
    # (written to six decimals)
    from test_reference_statistics import wilson

    table = pd.read_csv(tmp_path / "w1" / "power.csv").set_index("patients_per_arm")
    counted = pd.read_csv(tmp_path / "w1" / "trials.csv").groupby("patients_per_arm")["reject"].agg(["sum", "count"])
    for n, row in counted.iterrows():
        low, high = wilson(int(row["sum"]), int(row["count"]))
        assert table.loc[n, ["power", "ci_low", "ci_high"]].tolist() == pytest.approx(
            [row["sum"] / row["count"], low, high], abs=5e-7)
    trials = (tmp_path / "w1" / "trials.csv").read_text().splitlines()
    assert len(trials) == 1 + 2 * 150
    resolved = yaml.safe_load((tmp_path / "w1" / "trial.yaml").read_text())
    assert resolved["base"] == "scenario.yaml" and resolved["trial"]["simulations"] == 150
    assert yaml.safe_load((tmp_path / "w1" / "scenario.yaml").read_text())["seed"] == 99
    # the resolved design in the results folder runs again as it is, to the same tables
    assert main([str(tmp_path / "w1" / "trial.yaml"), "--out", str(tmp_path / "again"), "--workers", "1",
                 "--quiet", "--no-plots"]) == 0
    assert (tmp_path / "again" / "trials.csv").read_bytes() == (tmp_path / "w1" / "trials.csv").read_bytes()


def test_a_dask_cluster_gives_the_same_results(tmp_path):
    from distributed import LocalCluster

    path = example_trial(tmp_path, test="welch_t", endpoint={"metric": "disease_free_weeks", "at_week": 26})
    common = ["--quiet", "--no-plots", "--set", "trial.simulations=110"]
    assert main([str(path), "--out", str(tmp_path / "local"), "--workers", "1", *common]) == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        assert main([str(path), "--out", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address,
                     *common]) == 0
    for name in ("power.csv", "trials.csv", "report.md"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes(), name


def test_the_command_prints_the_smallest_size(tmp_path, capsys):
    path = example_trial(tmp_path, test="chi2", target_power=0.02)
    assert main([str(path), "--out", str(tmp_path / "out"), "--workers", "1", "--no-plots"]) == 0
    raw = capsys.readouterr().out
    assert all(len(line) <= 100 for line in raw.splitlines()), raw
    printed = " ".join(raw.split())  # the terminal wraps at 100 columns
    headline = ("Smallest size reaching the target power 0.02 (its whole 95% interval at or above it): 10 patients "
                "per arm")
    assert headline in printed
    assert headline in (tmp_path / "out" / "report.md").read_text()


# --- run.py plot: a trial-planning folder redrawn from its own files ----------------------------


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small trial-planning folder (time to relapse, log-rank: the geometric mean of hazard ratios).

    The trial file is deleted once the folder is written: a redraw reads only the folder's files.
    """
    folder = tmp_path_factory.mktemp("planned")
    path = example_trial(folder, test="logrank", endpoint={"metric": "time_to_relapse"}, simulations=40)
    write_yaml(path, {**yaml.safe_load(path.read_text(encoding="utf-8")), "description": "A small plan to redraw."})
    out = folder / "out"
    assert main([str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    path.unlink()
    return out


def every_file(folder: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) below ``folder``, run.json included."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def without_figures(folder: Path) -> dict[str, bytes | None]:
    return {name: data for name, data in every_file(folder).items() if not name.startswith("figures")}


def test_plot_redraws_a_trial_folder_to_the_same_report(planned, tmp_path, capsys):
    """From the folder's files alone (the trial file is gone): power.csv, trials.csv, run.json untouched."""
    copy = tmp_path / "copy"
    shutil.copytree(planned, copy)
    shutil.rmtree(copy / "figures")
    (copy / "report.md").unlink()
    capsys.readouterr()
    assert main(["plot", str(copy)]) == 0
    assert capsys.readouterr().out == f"redrawn: {copy}\n"
    assert without_figures(copy) == without_figures(planned)
    report = (copy / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# Trial planning: example\n\nA small plan to redraw.\n") and "power_curve.png" in report
    assert (copy / "figures" / "power_curve.png").stat().st_size > 0
    assert sorted(p.name for p in (copy / "figures").iterdir()) == ["power_curve.png"]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def change_power(folder: Path) -> None:
    lines = (folder / "power.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[1].split(",")
    cells[1] = "0.999000"
    lines[1] = ",".join(cells)
    (folder / "power.csv").write_text("".join(lines), encoding="utf-8")


def drop_trial(folder: Path) -> None:
    lines = (folder / "trials.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "trials.csv").write_text("".join(lines[:5] + lines[6:]), encoding="utf-8")


def garble_trials(folder: Path) -> None:
    edit(folder / "trials.csv", "\n10,0,", "\n10,zero,")


def change_alpha(folder: Path) -> None:
    edit(folder / "trial.yaml", "alpha: 0.05", "alpha: 0.1")


def move_base(folder: Path) -> None:
    edit(folder / "trial.yaml", "base: scenario.yaml", "base: ../scenario.yaml")


def change_scenario(folder: Path) -> None:
    edit(folder / "scenario.yaml", "seed: ", "seed: 1")


def remove_run_json(folder: Path) -> None:
    (folder / "run.json").unlink()


def break_run_json(folder: Path) -> None:
    (folder / "run.json").write_text("{", encoding="utf-8")


BROKEN_TRIALS = {
    "power_disagrees": (change_power, "power.csv: power at 10 patients per arm is 0.999000, but trials.csv gives"),
    "trial_missing": (drop_trial, "trials.csv: not one row per simulated trial (40) and size (10, 30)"),
    "trials_garbled": (garble_trials, "trials.csv: cannot be read (ValueError"),
    "design_changed": (change_alpha, "trial.yaml: not the design that ran"),
    "base_elsewhere": (move_base, "trial.yaml: base: must be scenario.yaml"),
    "scenario_changed": (change_scenario, "scenario.yaml: not the scenario that ran"),
    "run_json_missing": (remove_run_json, "not a complete trial-planning folder (missing run.json)"),
    "run_json_corrupt": (break_run_json, "run.json: cannot be read (JSONDecodeError)"),
}


@pytest.mark.parametrize("damage", list(BROKEN_TRIALS))
def test_plot_refuses_an_incomplete_or_inconsistent_trial_folder(planned, tmp_path, capsys, damage):
    folder = tmp_path / "copy"
    shutil.copytree(planned, folder)
    shutil.rmtree(folder / "figures")
    (folder / "report.md").unlink()  # anything the redraw wrote would show
    change, message = BROKEN_TRIALS[damage]
    change(folder)
    before = every_file(folder)
    capsys.readouterr()
    assert main(["plot", str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {folder}: ") and message in lines[0], captured.err
    assert every_file(folder) == before


BAD_TRIALS = [
    ({"test": "fisher", "endpoint": {"metric": "time_to_relapse"}}, [], "trial.test: fisher does not fit"),
    ({"arms": ["thalidomide", "lenalidomid"]}, [], "trial.arms.1: 'lenalidomid' is not an arm"),
    ({"endpoint": {"metric": "complete_response", "at_week": 10}}, [], "trial.endpoint.at_week: complete_response "
                                                                       "is seen at visits"),
    ({"endpoint": {"metric": "dropout"}, "test": "chi2"}, [], "trial.endpoint.at_week: missing"),
    ({"alpha": 1.5}, [], "trial.alpha: must be less than 1"),
    ({"patients_per_arm": [30, 10]}, [], "trial.patients_per_arm.1: sizes must increase"),
    ({"visit_weeks": [4, 12, 200]}, [], "trial.visit_weeks.2: week 200 is after"),
    ({"test": "ttest"}, [], "trial.test: must be one of"),
    ({"endpont": {"metric": "dropout"}}, [], "trial.endpont: unknown key"),
    ({"allocation": [2, 3], "patients_per_arm": [10, 15]}, [], "trial.patients_per_arm.1: 15 patients"),
    ({"duration_weeks": 8}, [], "trial.duration_weeks: 8 ends the trial before week 12"),
    ({}, ["--set", "trial.test=logrank"], "trial.test (from --set): logrank does not fit"),
    ({}, ["--set", "therapies.thalidomide_100.response.probability=1.3"],
     "low_dose.yaml: therapies.thalidomide_100.response.probability (from --set): must be between 0 and 1"),
    ({}, ["--replications", "5"], "--replications: set trial.simulations instead"),
    ({}, ["--set", "trial.simulations"], "expected PATH=VALUE"),
]


@pytest.mark.parametrize(("changes", "options", "message"), BAD_TRIALS)
def test_bad_trial_files_exit_2_naming_file_and_path(tmp_path, capsys, changes, options, message):
    path = example_trial(tmp_path, **changes)
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), *options]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), err
    assert message in err, err
    assert not out.exists()


def test_bad_base_and_syntax_exit_2(tmp_path, capsys):
    missing = write_yaml(tmp_path / "missing.yaml", {"base": "nowhere.yaml", "trial": trial_section()})
    assert main([str(missing), "--out", str(tmp_path / "out")]) == 2
    assert f"error: {missing}: base: no such file 'nowhere.yaml'" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("base: x.yaml\ntrial: [unclosed\n", encoding="utf-8")
    assert main([str(broken)]) == 2
    assert "YAML syntax error" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios" / "trials").glob("*.yaml")), ids=lambda p: p.stem)
def test_example_trial_files_are_valid(path):
    plan = load_trial(path)
    if plan.trial.single_arm:
        assert plan.trial.arms == ["lenalidomide"] and plan.simon is not None
    else:
        assert plan.trial.arms == ["thalidomide", "lenalidomide"]
