"""Single-arm and group-sequential trial designs, events and durations, feasibility, and the headline.

Expected values are exact binomial sums computed here with math.comb (never the functions the code
calls), Simon's (1989) published designs, or exact enumeration of every outcome of a small trial.
Simulation checks are seeded; their tolerance is 4 binomial standard errors (a correct
implementation fails a fresh seed with probability about 6e-5 per check).
"""

from __future__ import annotations

import math
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, therapy
from scipy import stats
from test_one_arm import empty_sections
from test_trial import NULL_THERAPY, base_scenario, every_file, make_plan, trial_section, write_yaml

from sim.cli import main
from sim.spec.trial import Interim, Trial
from sim.stats.group_sequential import efficacy_boundaries
from sim.studies.trial import load_trial, trial
from sim.studies.trial.analyse import point_reaching, smallest_size, summarise_power
from sim.studies.trial.evaluate import analyse_trial, endpoint_values, simon_trial, simulate_trial
from sim.studies.trial.report import conclusion
from sim.studies.trial.sequential import ArmData, look_schedule, seen_at

Z = 4.0


@cache
def pmf(x: int, n: int, p: float) -> float:
    """P(X = x), X ~ Binomial(n, p), by hand."""
    return math.comb(n, x) * p**x * (1 - p) ** (n - x) if 0 <= x <= n else 0.0


def tail(r: int, n: int, p: float) -> float:
    """P(X >= r), by hand."""
    return sum(pmf(x, n, p) for x in range(max(r, 0), n + 1))


def critical(n: int, p0: float, alpha: float) -> int:
    """The smallest r with P(X >= r | p0) <= alpha, by hand."""
    return next(r for r in range(n + 2) if tail(r, n, p0) <= alpha)


# A patient in complete response from week 2 with probability p, for good: a Bernoulli(p) endpoint at week 4.
def bernoulli_therapy(p: float, drug: str = "drug_a") -> dict[str, Any]:
    return therapy(drug=drug, response={"probability": p, "complete_probability": 1.0, "time_to_response": 2,
                                        "time_to_complete": 0})


def single_arm_section(**changes: Any) -> dict[str, Any]:
    data = trial_section(design="single_arm", arms=["a"], test="binomial", p0=0.3, p1=0.5, simon="optimal",
                         patients_per_arm=[10, 20], endpoint={"metric": "complete_response", "at_week": 4},
                         visit_weeks=[4], accrual_per_week=2.0)
    data.update(changes)
    return data


# --- single-arm designs ------------------------------------------------------------------------------


def test_shipped_single_arm_file_finds_simon_1989_designs():
    """p0 = 0.30, p1 = 0.50, alpha 0.05, power 0.8: Simon (1989) Table 1 gives optimal 5/15, 18/46 (EN0 23.6) and
    minimax 6/19, 16/39 (EN0 25.7)."""
    plan = load_trial(ROOT / "scenarios" / "trials" / "lenalidomide_single_arm.yaml")
    assert plan.simon is not None
    optimal, minimax = plan.simon
    assert (optimal.r1, optimal.n1, optimal.r, optimal.n, round(optimal.en0, 1)) == (5, 15, 18, 46, 23.6)
    assert (minimax.r1, minimax.n1, minimax.r, minimax.n, round(minimax.en0, 1)) == (6, 19, 16, 39, 25.7)
    assert plan.chosen_simon == optimal and plan.max_arm_sizes == (50,)


def test_single_arm_operating_characteristics_match_exact_binomial_sums(tmp_path):
    """Every patient is in complete response at week 4 with probability 0.45, independently: the simulated
    probability of declaring activity at each size, and Simon's PET, expected n and P(active), equal the exact
    binomial values within 4 standard errors."""
    p, simulations = 0.45, 1500
    plan = make_plan(tmp_path, base_scenario({"drug": bernoulli_therapy(p)}, {"a": ["drug"]}),
                     single_arm_section(simulations=simulations))
    result = trial(plan)
    power = result.power.set_index("patients_per_arm")
    for n in (10, 20):
        r = critical(n, 0.3, 0.05)
        expected = tail(r, n, p)
        row = power.loc[n]
        assert row["critical_responses"] == r and row["exact_alpha"] == pytest.approx(tail(r, n, 0.3), abs=1e-12)
        assert row["exact_power_p1"] == pytest.approx(tail(r, n, 0.5), abs=1e-12)
        se = math.sqrt(expected * (1 - expected) / simulations)
        assert abs(row["power"] - expected) < Z * se, (n, row["power"], expected)
        assert abs(row["response_rate"] - p) < Z * math.sqrt(p * (1 - p) / (n * simulations))
    simon = result.simon.set_index("criterion")
    for criterion, (r1, n1, r, n) in {"optimal": (5, 15, 18, 46), "minimax": (6, 19, 16, 39)}.items():
        row = simon.loc[criterion]
        assert (row["r1"], row["n1"], row["r"], row["n"]) == (r1, n1, r, n)
        pet = sum(pmf(x, n1, p) for x in range(r1 + 1))
        active = sum(pmf(x, n1, p) * tail(r + 1 - x, n - n1, p) for x in range(r1 + 1, n1 + 1))
        assert abs(row["pet"] - pet) < Z * math.sqrt(pet * (1 - pet) / simulations), (criterion, row["pet"], pet)
        assert abs(row["expected_n"] - (n1 + (1 - pet) * (n - n1))) < Z * (n - n1) * math.sqrt(
            pet * (1 - pet) / simulations)
        assert abs(row["p_declare_active"] - active) < Z * math.sqrt(active * (1 - active) / simulations)
        assert row["exact_pet_at_rate"] == pytest.approx(
            sum(pmf(x, n1, row["response_rate"]) for x in range(r1 + 1)), abs=1e-9)
        assert bool(row["chosen"]) == (criterion == "optimal")


def test_simon_stage_two_waits_for_stage_one_and_single_stage_durations(tmp_path):
    """Endpoint at week 4, no dropout: a patient's endpoint is known 4 weeks after enrolment. A single-stage trial
    of n ends at enrol[n-1] + 4; a Simon trial stopped early at enrol[n1-1] + 4; one that goes on resumes enrolment
    at that week with the same gaps, so it ends 4 weeks later than the unpaused enrolment would: enrol[n-1] + 8."""
    plan = make_plan(tmp_path, base_scenario({"drug": bernoulli_therapy(0.4)}, {"a": ["drug"]}),
                     single_arm_section(simulations=30))
    assert plan.simon is not None
    stopped = going_on = 0
    for k in range(30):
        arms = simulate_trial(plan, k)
        enrol = arms[0].enrol_week
        for row in analyse_trial(plan.trial, arms, k):
            assert row[-1] == pytest.approx(enrol[row[0] - 1] + 4.0)
        values = endpoint_values(plan.trial, enrol, arms[0].dropout_week, arms[0].states).value
        for (criterion, _, first, total, early, active, patients, duration), design in zip(
                simon_trial(plan, arms, k), plan.simon, strict=True):
            assert criterion == design.criterion
            assert first == values[:design.n1].sum() and total == values[:design.n].sum()
            assert early == (first <= design.r1) and active == (not early and total > design.r)
            if early:
                stopped += 1
                assert (patients, duration) == (design.n1, pytest.approx(enrol[design.n1 - 1] + 4.0))
            else:
                going_on += 1
                assert (patients, duration) == (design.n, pytest.approx(enrol[design.n - 1] + 8.0))
    assert stopped and going_on


def test_single_arm_folder_is_written_and_redrawn_identically(tmp_path, capsys):
    """The shipped single-arm file runs; its folder holds the Simon tables and figure, and plot redraws the report
    byte for byte from the folder alone."""
    out = tmp_path / "out"
    assert main([str(ROOT / "scenarios" / "trials" / "lenalidomide_single_arm.yaml"), "--out", str(out),
                 "--workers", "1", "--set", "trial.simulations=60"]) == 0
    printed = capsys.readouterr().out
    assert all(len(line) <= 100 for line in printed.splitlines()), printed
    assert "Simon's optimal two-stage design" in " ".join(printed.split())
    names = sorted(p.name for p in out.iterdir())
    assert names == ["figures", "power.csv", "report.md", "run.json", "scenario.yaml", "simon.csv",
                     "simon_trials.csv", "trial.yaml", "trials.csv"]
    assert (out / "figures" / "single_arm.png").stat().st_size > 0
    report = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## Single-stage design: exact binomial test by size", "## Simon two-stage designs"):
        assert heading in report
    assert "| optimal (chosen) | 5 of 15 | 18 of 46 |" in report and empty_sections(report) == []
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "report.md").unlink()
    shutil.rmtree(copy / "figures")
    assert main(["plot", str(copy)]) == 0
    assert (copy / "report.md").read_bytes() == (out / "report.md").read_bytes()
    # a Simon table that disagrees with its trials is refused
    text = (copy / "simon.csv").read_text(encoding="utf-8").splitlines()
    cells = text[1].split(",")
    cells[12] = "0.999000"  # pet of the optimal design
    (copy / "simon.csv").write_text("\n".join([text[0], ",".join(cells), *text[2:]]) + "\n", encoding="utf-8")
    before = every_file(copy)
    assert main(["plot", str(copy)]) == 2
    assert "simon.csv: pet for optimal is 0.999000, but simon_trials.csv gives" in capsys.readouterr().err
    assert every_file(copy) == before


# --- group-sequential designs ----------------------------------------------------------------------


def arm(enrol: list[float], value: list[float], known: list[float], event: list[bool] | None = None) -> ArmData:
    n = len(enrol)
    return ArmData(np.array(enrol), np.array(value, dtype=float), None if event is None else np.array(event),
                   np.ones(n, dtype=bool), np.array(known))


def test_looks_happen_when_the_fraction_of_known_endpoints_is_reached():
    """Four patients' endpoints are known at weeks 5, 7, 9, 11 (two per arm): the look at 0.5 is at week 7 (the
    second known endpoint) and sees exactly those two patients."""
    t = trial_section(test="chi2", interim={"looks": [0.5, 1.0], "spending": "pocock"})
    plan_trial = Trial.model_validate(t)
    control = arm([0, 4], [1, 0], [5, 9])
    experimental = arm([2, 6], [1, 1], [7, 11])
    looks = look_schedule(plan_trial, (control, experimental), 11.0)
    assert [(look.planned, look.week, look.fraction) for look in looks] == [(1, 7.0, 0.5), (2, 11.0, 1.0)]
    assert seen_at(plan_trial, control, 7.0)[0].tolist() == [1.0]
    assert seen_at(plan_trial, experimental, 7.0)[0].tolist() == [1.0]
    # three patients: ceil(0.5 * 3) = 2 endpoints, reached at week 7, a fraction 2/3
    looks = look_schedule(plan_trial, (control, arm([2], [1], [7])), 9.0)
    assert [(look.week, look.fraction) for look in looks] == [(7.0, pytest.approx(2 / 3)), (9.0, 1.0)]


def test_log_rank_looks_count_events_and_censor_at_the_last_visit_before_the_look():
    """Time to relapse seen at visits 4, 8, 12: patients enrolled at weeks 0 and 3 relapse (seen) at week 8;
    one enrolled at week 1 is censored at 12. At calendar week 10 the first relapse (calendar 8) is seen, the
    second (calendar 11) is not: that patient, followed 7 weeks, is censored at the visit of week 4."""
    t = Trial.model_validate(trial_section(test="logrank", endpoint={"metric": "time_to_relapse"},
                                           visit_weeks=[4, 8, 12],
                                           interim={"looks": [0.5, 1.0], "spending": "obrien_fleming"}))
    a = arm([0, 1, 3], [8, 12, 8], [12, 13, 15], [True, False, True])
    value, event = seen_at(t, a, 10.0)
    assert value.tolist() == [8.0, 8.0, 4.0] and event is not None and event.tolist() == [True, False, False]
    looks = look_schedule(t, (a, arm([0], [12], [12], [False])), 15.0)
    # two events (calendar 8 and 11): the half-way look is at the first
    assert [(look.week, look.fraction) for look in looks] == [(8.0, 0.5), (15.0, 1.0)]


def pooled_z_p(x0: np.ndarray, x1: np.ndarray, n: int) -> np.ndarray:
    """Two-sided p-value of the pooled two-proportion z-test of x1/n against x0/n (Pearson chi-square)."""
    pooled = (x0 + x1) / (2 * n)
    se = np.sqrt(pooled * (1 - pooled) * 2 / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (x1 - x0) / n / np.where(se > 0, se, 1), 0.0)
    return 2 * stats.norm.sf(np.abs(z))


def exact_sequential_power(p0: float, p1: float, half: int, levels: tuple[float, float]) -> tuple[float, float]:
    """(P(reject at look 1), P(reject)) of a two-look chi-square design with ``half`` patients per arm at each
    stage, by enumerating every outcome of both stages."""
    x = np.arange(half + 1)
    w0, w1 = stats.binom.pmf(x, half, p0), stats.binom.pmf(x, half, p1)
    first = pooled_z_p(x[:, None], x[None, :], half) <= levels[0]
    s = np.arange(2 * half + 1)
    final = pooled_z_p(s[:, None], s[None, :], 2 * half) <= levels[1]
    shift0 = np.array([[w0[t - k] if 0 <= t - k <= half else 0.0 for t in s] for k in x])  # [x0, s0]
    shift1 = np.array([[w1[t - k] if 0 <= t - k <= half else 0.0 for t in s] for k in x])
    later = shift0 @ final @ shift1.T  # P(reject at the end | first-stage counts)
    weights = w0[:, None] * w1[None, :]
    at_first = float((weights * first).sum())
    return at_first, at_first + float((weights * ~first * later).sum())


@pytest.mark.parametrize(("p0", "p1"), [(0.5, 0.75), (0.6, 0.6)])
def test_sequential_chi2_matches_exact_enumeration(tmp_path, p0, p1):
    """60 patients per arm, endpoint at week 4, looks at 0.5 and 1 (O'Brien-Fleming): permuted blocks of 4 put
    exactly 30 per arm among the first 60 endpoints, so the design is two stages of 30 + 30 per arm whose exact
    rejection probabilities come from enumerating every outcome; the simulation agrees within 4 SE at each look,
    under an alternative and under the null."""
    simulations = 1200
    therapies = {"drug_a": bernoulli_therapy(p0), "drug_b": bernoulli_therapy(p1, drug="drug_b")}
    plan = make_plan(tmp_path, base_scenario(therapies, {"a": ["drug_a"], "b": ["drug_b"]}),
                     trial_section(test="chi2", patients_per_arm=[60], simulations=simulations, visit_weeks=[4],
                                   endpoint={"metric": "complete_response", "at_week": 4},
                                   interim={"looks": [0.5, 1.0], "spending": "obrien_fleming"}))
    result = trial(plan)
    trials = result.trials
    first_look = trials[trials["look"] == 1]
    assert (first_look["n_control"] == 30).all() and (first_look["n_experimental"] == 30).all()
    nominal = 2 * stats.norm.sf(efficacy_boundaries([0.5, 1.0], 0.025, "obrien_fleming").z)
    at_first, power = exact_sequential_power(p0, p1, 30, (float(nominal[0]), float(nominal[1])))
    for simulated, expected in ((float((trials["look"] == 1).mean()), at_first),
                                (float(trials["reject"].mean()), power)):
        se = math.sqrt(max(expected * (1 - expected), 1e-4) / simulations)
        assert abs(simulated - expected) < Z * se, (simulated, expected)
    looks = result.looks
    assert looks["stop_probability"].sum() == pytest.approx(1.0)
    assert looks["boundary_z"].tolist() == pytest.approx([2.962588, 1.968596], abs=1e-5)  # rpact, 2 looks OBF


def null_sequential_rates(tmp_path: Path, simulations: int) -> dict[tuple[str, str], float]:
    base = base_scenario({"drug": NULL_THERAPY}, {"a": ["drug"], "b": ["drug"]},
                         cohort={"size": 10, "loss_to_follow_up_per_year": 0.2})
    plan = make_plan(tmp_path, base, trial_section(patients_per_arm=[50], simulations=simulations,
                                                   visit_weeks=[4, 8, 12, 16, 20, 26, 32, 39, 52],
                                                   accrual_per_week=3.0))
    simulated = [simulate_trial(plan, k) for k in range(simulations)]
    cases: list[tuple[dict[str, Any], str, str, list[float]]] = [
             ({"metric": "time_to_dropout"}, "logrank", "pocock", [1 / 3, 2 / 3, 1.0]),
             ({"metric": "time_to_relapse"}, "logrank", "obrien_fleming", [0.5, 1.0]),
             ({"metric": "disease_free_weeks", "at_week": 52}, "welch_t", "pocock", [0.5, 1.0]),
             ({"metric": "response", "at_week": 12}, "chi2", "obrien_fleming", [1 / 3, 2 / 3, 1.0])]
    rates = {}
    for endpoint, test, spending, looks in cases:
        design = plan.trial.model_copy(update={"endpoint": plan.trial.endpoint.model_validate(endpoint), "test": test,
                                               "interim": Interim.model_validate({"looks": looks,
                                                                                  "spending": spending})})
        rejects = [analyse_trial(design, arms, k)[0][6] for k, arms in enumerate(simulated)]
        rates[(endpoint["metric"], spending)] = float(np.mean(rejects))
    return rates


def test_sequential_type_one_error_stays_at_alpha_under_a_null_scenario(tmp_path):
    """Both arms one strategy: with interim looks (O'Brien-Fleming- or Pocock-type), every design rejects in
    alpha = 0.05 of the trials, within 4 binomial standard errors."""
    simulations = 2500
    se = math.sqrt(0.05 * 0.95 / simulations)
    for case, rate in null_sequential_rates(tmp_path, simulations).items():
        assert abs(rate - 0.05) < Z * se, (case, rate, se)


def test_interim_outputs_and_the_same_trials_without_interim(tmp_path):
    """A group-sequential run's power.csv, trials.csv and looks.csv; "without interim" is exactly the fixed design
    of the same trials (run separately without the interim section), and stopping early shortens trials."""
    path = write_yaml(tmp_path / "gs.yaml", {"base": str(ROOT / "scenarios" / "low_dose.yaml"), "trial": trial_section(
        arms=["standard", "lenalidomide"], patients_per_arm=[20, 40], simulations=200, test="chi2",
        accrual_per_week=2.0, interim={"looks": [0.5, 1.0], "spending": "pocock"})})
    sequential = trial(path)
    fixed = trial(path, overrides=[("trial.interim", None)])
    trials = sequential.trials
    assert list(trials.columns) == ["patients_per_arm", "simulation", "n_control", "n_experimental",
                                    "risk_difference", "p_value", "reject", "duration_weeks", "look",
                                    "patients_enrolled", "reject_without_interim"]
    assert trials["reject_without_interim"].tolist() == fixed.trials["reject"].tolist()
    assert sequential.power["power_without_interim"].tolist() == fixed.power["power"].tolist()
    early = trials[trials["look"] == 1]
    assert len(early) and early["reject"].all()
    same = fixed.trials.loc[early.index]
    assert (early["duration_weeks"] < same["duration_weeks"]).all()
    assert (early["patients_enrolled"] <= 2 * early["patients_per_arm"]).all()
    looks = sequential.looks
    assert list(looks["look"]) == [1, 2, 1, 2]
    folder = sequential.save(tmp_path / "saved", plots=False)
    assert sorted(p.name for p in folder.iterdir()) == ["looks.csv", "power.csv", "report.md", "run.json",
                                                        "scenario.yaml", "trial.yaml", "trials.csv"]
    report = (folder / "report.md").read_text(encoding="utf-8")
    assert "## Interim analyses" in report and empty_sections(report) == []
    assert main(["plot", str(folder)]) == 0
    assert (folder / "report.md").read_text(encoding="utf-8") != report  # now with its figure
    assert "figures/power_curve.png" in (folder / "report.md").read_text(encoding="utf-8")
    for n, group in looks.groupby("patients_per_arm"):
        assert group["stop_probability"].sum() == pytest.approx(1.0)
        assert group["efficacy_probability"].sum() == pytest.approx(
            sequential.power.set_index("patients_per_arm").loc[n, "power"])


# --- events, durations, feasibility and the headline ----------------------------------------------------


def test_effect_columns_are_named_with_their_unit_and_log_rank_counts_events(tmp_path):
    base = str(ROOT / "scenarios" / "low_dose.yaml")
    common = {"arms": ["thalidomide", "lenalidomide"], "patients_per_arm": [20], "simulations": 20}
    for endpoint, test, column in (({"metric": "complete_response", "at_week": 12}, "fisher", "risk_difference"),
                                   ({"metric": "disease_free_weeks", "at_week": 26}, "welch_t",
                                    "mean_difference_weeks"),
                                   ({"metric": "time_to_relapse"}, "logrank", "hazard_ratio")):
        path = write_yaml(tmp_path / f"{test}.yaml", {"base": base, "trial": trial_section(
            **common, endpoint=endpoint, test=test)})
        result = trial(path)
        assert column in result.power.columns and column in result.trials.columns
        assert "mean_effect" not in result.power.columns
    plan = load_trial(path)
    rows = result.trials
    for k in range(5):
        arms = simulate_trial(plan, k)
        events = sum(int(endpoint_values(plan.trial, a.enrol_week, a.dropout_week, a.states).event[:20].sum())
                     for a in arms)
        assert rows.loc[rows["simulation"] == k, "events"].item() == events
    assert result.power["expected_events"].item() == pytest.approx(rows["events"].mean())


def test_durations_and_feasibility_by_hand():
    """Ten trials lasting 10, 20, ..., 100 weeks: mean 55, 90th percentile 91 (linear interpolation); feasible
    under 100 weeks, infeasible under 90."""
    trials = pd.DataFrame({"patients_per_arm": 10, "simulation": range(10), "n_control": 10, "n_experimental": 10,
                           "risk_difference": 0.1, "p_value": 0.5, "reject": [True] * 3 + [False] * 7,
                           "duration_weeks": np.arange(10, 101, 10.0)})
    for limit, feasible in ((100.0, True), (90.0, False)):
        t = Trial.model_validate(trial_section(test="chi2", max_duration_weeks=limit))
        row = summarise_power(t, trials).iloc[0]
        assert (row["mean_duration_weeks"], row["p90_duration_weeks"], row["feasible"]) == (55.0, 91.0, feasible)
        assert row["power"] == 0.3 and row["risk_difference"] == pytest.approx(0.1)


def power_table(rows: list[tuple[int, float, float, float, bool]]) -> pd.DataFrame:
    return pd.DataFrame([{"patients_per_arm": n, "power": p, "ci_low": lo, "ci_high": hi, "feasible": f,
                          "mean_duration_weeks": 100.0 if f else 400.0, "p90_duration_weeks": 110.0 if f else 420.0}
                         for n, p, lo, hi, f in rows])


def test_the_smallest_size_is_the_first_whose_whole_interval_is_above_the_target(tmp_path):
    power = power_table([(100, 0.70, 0.67, 0.73, True), (200, 0.801, 0.775, 0.825, True),
                         (300, 0.86, 0.838, 0.880, False), (400, 0.90, 0.88, 0.92, False)])
    assert point_reaching(power, 0.8) == 200 and smallest_size(power, 0.8) == 300
    plan = make_plan(tmp_path, base_scenario({"drug": therapy()}, {"a": ["drug"], "b": ["drug"]}), trial_section())
    text = conclusion(plan, power)
    assert text.startswith("Smallest size reaching the target power 0.8 (its whole 95% interval at or above it): "
                           "300 patients per arm (power 0.860, 95% CI 0.838 to 0.880).")
    assert "But at that size 10% of the trials last more than 420 weeks (mean 400), beyond max_duration_weeks (260)" \
           in text
    assert "The largest feasible size, 200 patients per arm, has power 0.801" in text
    assert ("At 200 patients per arm the estimated power 0.801 reaches the target, but its 95% interval (0.775 to "
            "0.825) does not lie above it") in text
    none = conclusion(plan, power_table([(100, 0.70, 0.67, 0.73, True), (200, 0.81, 0.78, 0.84, True)]))
    assert none.startswith("No size reaches the target power 0.8 with its whole 95% interval")
    assert "At 200 patients per arm the estimated power 0.810 reaches the target" in none


# --- bad files ---------------------------------------------------------------------------------------------

BAD_DESIGNS = [
    ({"arms": ["a", "a"]}, "trial.arms: a single-arm design has one arm, got 2"),
    ({"test": "fisher"}, "trial.test: a single-arm design uses the exact binomial test"),
    ({"p0": None}, "trial.p0: missing"),
    ({"p1": 0.2}, "trial.p1: must exceed p0 (0.3), got 0.2"),
    ({"p1": None}, "trial.p1: missing: a Simon design needs"),
    ({"endpoint": {"metric": "dropout", "at_week": 4}}, "trial.endpoint.metric: a single-arm design needs a response"),
    ({"interim": {"looks": [0.5, 1.0], "spending": "pocock"}}, "trial.interim: interim analyses apply to two-arm"),
    ({"alternative": "two-sided"}, "trial.alternative: the single-arm test is one-sided"),
    ({"duration_weeks": 100}, "trial.duration_weeks: a single-arm design follows every patient"),
    ({"simon": "best"}, "trial.simon: must be one of"),
    ({"p0": 0.8, "p1": 0.81}, "trial.p1: no two-stage design of at most 200 patients"),
    ({"design": "two_arm", "test": "fisher", "arms": ["a", "b"], "p1": None, "simon": None},
     "trial.p0: belongs to a single-arm design"),
    ({"design": "two_arm", "arms": ["a", "b"], "p0": None, "p1": None, "simon": None},
     "trial.test: binomial is the single-arm test"),
    ({"design": "two_arm", "test": "chi2", "arms": ["a"], "p0": None, "p1": None, "simon": None},
     "trial.arms: a two-arm design has two arms"),
    ({"design": "two_arm", "test": "chi2", "arms": ["a", "b"], "p0": None, "p1": None, "simon": None,
      "interim": {"looks": [0.6, 0.5, 1.0], "spending": "pocock"}},
     "trial.interim.looks.1: information fractions must increase"),
    ({"design": "two_arm", "test": "chi2", "arms": ["a", "b"], "p0": None, "p1": None, "simon": None,
      "interim": {"looks": [0.5, 0.9], "spending": "pocock"}}, "trial.interim.looks.1: the last look is the final"),
    ({"design": "two_arm", "test": "chi2", "arms": ["a", "b"], "p0": None, "p1": None, "simon": None,
      "interim": {"looks": [0.5, 1.0], "spending": "haybittle"}}, "trial.interim.spending: must be one of"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_DESIGNS)
def test_bad_designs_exit_2_naming_the_key(tmp_path, capsys, changes, message):
    section = single_arm_section()
    for key, value in changes.items():
        if value is None:
            section.pop(key, None)
        else:
            section[key] = value
    write_yaml(tmp_path / "base.yaml", base_scenario({"drug": therapy()}, {"a": ["drug"], "b": ["drug"]}))
    path = write_yaml(tmp_path / "bad.yaml", {"base": "base.yaml", "trial": section})
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert all(line.startswith(f"error: {path}: ") for line in err.strip().splitlines()), err
    assert message in err, err
    assert "Traceback" not in err and not out.exists()
