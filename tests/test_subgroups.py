"""Heterogeneous cohorts: subgroups with shares and dotted-path overrides."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest
from conftest import ROOT, run, scenario, therapy, timeline

from sim.cli import main
from sim.engine.records import patient_columns
from sim.engine.simulate import simulate
from sim.outputs.tables import patients_frame
from sim.spec.base import ScenarioError
from sim.spec.load import load_scenario
from sim.stats.summary import compare, summarise


def two_groups(share_fast: float = 0.5, size: int = 200, **changes):
    """Subgroup 'slow' reaches remission 10 weeks after response instead of 4."""
    return scenario(
        {"a": therapy()},
        cohort={"size": size, "subgroups": {
            "fast": {"share": share_fast},
            "slow": {"share": 1 - share_fast, "overrides": {"a": {"response.time_to_complete": 10}}},
        }},
        **changes,
    )


def test_two_subgroups_follow_their_own_fixed_pathways():
    p, ev = run(two_groups())
    fast = p[p["subgroup"] == "fast"]
    slow = p[p["subgroup"] == "slow"]
    assert len(fast) > 0 and len(slow) > 0
    assert (fast["time_to_complete_response_weeks"] == 6).all()
    assert (slow["time_to_complete_response_weeks"] == 12).all()
    assert (fast["disease_free_weeks"] == 94).all() and (slow["disease_free_weeks"] == 88).all()
    patient = int(slow.iloc[0]["patient"])
    assert [(w, e) for w, e, _, _ in timeline(ev, patient) if e == "remission"] == [(12.0, "remission")]


def test_subgroup_frequencies_match_shares():
    """Each patient is 'fast' with probability 0.3: the count is Binomial(n, 0.3); 4 SE tolerance."""
    n, share = 4000, 0.3
    p, _ = run(two_groups(share, size=n))
    observed = (p["subgroup"] == "fast").mean()
    assert abs(observed - share) < 4 * math.sqrt(share * (1 - share) / n)


def test_subgroups_are_the_same_in_every_arm_and_unmoved_by_overrides():
    s = scenario({"a": therapy(), "b": therapy(drug="drug_b")}, cohort={"size": 300, "subgroups": {
        "x": {"share": 0.4}, "y": {"share": 0.6, "overrides": {"b": {"response.probability": 0.2}}}}})
    a = pd.DataFrame(simulate(s, "a", 0).patients)["subgroup"]
    b = pd.DataFrame(simulate(s, "b", 0).patients)["subgroup"]
    pdt.assert_series_equal(a, b)
    plain = scenario({"a": therapy(), "b": therapy(drug="drug_b")}, cohort={"size": 300, "subgroups": {
        "x": {"share": 0.4}, "y": {"share": 0.6}}})
    pdt.assert_series_equal(a, pd.DataFrame(simulate(plain, "a", 0).patients)["subgroup"])


def test_single_subgroup_with_override_reproduces_whole_cohort_run():
    s_whole = scenario({"a": therapy(response={"time_to_complete": {"distribution": "exponential", "mean": 5}})},
                       cohort={"size": 300, "loss_to_follow_up_per_year": 0.3})
    s_group = scenario({"a": therapy()}, cohort={"size": 300, "loss_to_follow_up_per_year": 0.3, "subgroups": {
        "only": {"share": 1.0, "overrides": {"a": {"response.time_to_complete": {
            "distribution": "exponential", "mean": 5}}}}}})
    whole = patients_frame(simulate(s_whole, "a", 0).patients, patient_columns(s_whole))
    grouped = patients_frame(simulate(s_group, "a", 0).patients, patient_columns(s_group))
    assert (grouped.pop("subgroup") == "only").all()
    pdt.assert_frame_equal(whole, grouped)
    assert simulate(s_whole, "a", 0).events == simulate(s_group, "a", 0).events


def test_summary_and_comparison_have_subgroup_rows():
    s = scenario({"a": therapy(), "b": therapy(drug="drug_b", response={"probability": 0.5})},
                 cohort={"size": 400, "subgroups": {"x": {"share": 0.5}, "y": {"share": 0.5}}}, replications=3)
    frames = [patients_frame(simulate(s, arm, r).patients, patient_columns(s)) for r in range(3) for arm in s.arms]
    patients = pd.concat(frames, ignore_index=True)
    summary = summarise(patients)
    assert list(summary.columns) == ["arm", "subgroup", "metric", "mean", "ci_low", "ci_high", "pi_low", "pi_high"]
    assert set(summary["subgroup"]) == {"all", "x", "y"}
    # P(at least r of n) needs cohorts of one size: the whole cohort has them, a subgroup's size varies
    at_least = summary[summary["metric"].str.contains("_at_least_")]
    assert len(at_least) and set(at_least["subgroup"]) == {"all"}
    assert "responded_at_least_200_of_400" in set(at_least["metric"])
    whole = summary[(summary["subgroup"] == "all") & (summary["metric"] == "responded")].set_index("arm")["mean"]
    assert whole["a"] == 1.0 and 0.3 < whole["b"] < 0.7
    comparison = compare(patients, "a")
    assert list(comparison.columns) == ["arm", "subgroup", "metric", "difference", "ci_low", "ci_high"]
    assert set(comparison["subgroup"]) == {"all", "x", "y"}


def test_scenario_without_subgroups_has_no_subgroup_column():
    p, _ = run(scenario({"a": therapy()}, cohort={"size": 10}))
    assert "subgroup" not in p.columns
    summary = summarise(p)
    assert "subgroup" not in summary.columns


def test_set_share_rescales_the_other_subgroups():
    path = ROOT / "scenarios" / "case_mix.yaml"
    base = load_scenario(path)
    changed = load_scenario(path, [("cohort.subgroups.profundus.share", 0.3)])
    shares = {g: v.share for g, v in changed.cohort.subgroups.items()}
    assert shares["profundus"] == 0.3
    assert math.isclose(sum(shares.values()), 1.0)
    before = base.cohort.subgroups
    assert math.isclose(shares["DLE"] / shares["SCLE"], before["DLE"].share / before["SCLE"].share)


@pytest.mark.parametrize("overrides, path", [
    ([("cohort.subgroups.profundus.share", 1.4)], "cohort.subgroups.profundus.share"),
    ([("cohort.subgroups.SCLE.overrides.thalidomide_100", {"relapse.after_stop.probabilty": 0.1})],
     "cohort.subgroups.SCLE.overrides.thalidomide_100.relapse.after_stop.probabilty"),
    ([("cohort.subgroups.SCLE.overrides.thalidomide_100", {"relapse.after_stop.probability": 2})],
     "cohort.subgroups.SCLE.overrides.thalidomide_100.relapse.after_stop.probability"),
    ([("cohort.subgroups.SCLE.overrides.thalidomid_100", {"maintenance_weeks": 2})],
     "cohort.subgroups.SCLE.overrides.thalidomid_100"),
    ([("cohort.subgroups.DLE.share", 0.5), ("cohort.subgroups.SCLE.share", 0.1),
      ("cohort.subgroups.profundus.share", 0.1)], "cohort.subgroups"),
])
def test_bad_subgroups_are_errors_naming_the_path(overrides, path):
    with pytest.raises(ScenarioError) as err:
        load_scenario(ROOT / "scenarios" / "case_mix.yaml", overrides)
    assert any(f": {path}" in line for line in err.value.problems), err.value.problems


def test_case_mix_scenario_runs_and_writes_subgroup_rows(tmp_path: Path, capsys):
    out = tmp_path / "run"
    assert main(["scenarios/case_mix.yaml", "--replications", "2", "--patients", "60", "--no-plots", "--quiet",
                 "--out", str(out), "--workers", "1"]) == 0
    patients = pd.read_csv(out / "patients.csv")
    assert set(patients["subgroup"]) <= {"DLE", "SCLE", "profundus"}
    summary = pd.read_csv(out / "summary.csv")
    assert "all" in set(summary["subgroup"]) and "DLE" in set(summary["subgroup"])


def test_case_mix_report_and_figure_show_subgroups(tmp_path: Path):
    out = tmp_path / "run"
    assert main(["scenarios/case_mix.yaml", "--replications", "2", "--patients", "80", "--quiet",
                 "--out", str(out), "--workers", "1"]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## By subgroup" in report
    for group in ("DLE", "SCLE", "profundus"):
        assert group in report
    figure = out / "figures" / "disease_free_weeks.png"
    assert figure.stat().st_size > 10_000


def test_survival_tables_have_whole_cohort_then_subgroup_rows(tmp_path: Path):
    """Fixed pathways: response at week 2, remission 4 weeks later ('fast') or 10 ('slow'), then
    on drug to the end of follow-up (100 weeks). So each subgroup's median time to complete response
    is 6 or 12 weeks exactly, and its mean disease-free time 94 or 88 weeks."""
    from sim.outputs.tables import read_patients
    from sim.stats.survival_tables import survival_table, whole_cohort
    from sim.studies.run import run_to_folder

    s = two_groups(size=200, replications=2)
    out = tmp_path / "run"
    run_to_folder(s, out=out, plots=False)
    survival = pd.read_csv(out / "survival.csv", dtype={"arm": str, "subgroup": str})
    assert list(survival.columns[:3]) == ["arm", "subgroup", "endpoint"]
    assert list(dict.fromkeys(survival["subgroup"])) == ["all", "fast", "slow"]

    def value(group: str, endpoint: str, statistic: str) -> float:
        row = survival[(survival["subgroup"] == group) & (survival["endpoint"] == endpoint)
                       & (survival["statistic"] == statistic)]
        return float(row["value"].iloc[0])

    for group, remission in (("fast", 6.0), ("slow", 12.0)):
        assert value(group, "time_to_complete_response", "median_weeks") == remission
        assert value(group, "disease_free", "mean_weeks") == pytest.approx(100.0 - remission, abs=1e-6)
    counts = [value(g, "time_to_dropout", "patients") for g in ("all", "fast", "slow")]
    assert counts[0] == 400 and counts[1] + counts[2] == 400 and min(counts[1:]) > 100
    # the whole cohort's rows are the table of all patients, as without subgroups
    expected = survival_table(read_patients(out / "patients.csv"), 100.0, s.reference_arm)
    pdt.assert_frame_equal(whole_cohort(survival).reset_index(drop=True), expected, check_dtype=False)
    curves = pd.read_csv(out / "survival_curves.csv", dtype={"arm": str, "subgroup": str})
    assert list(curves.columns[:2]) == ["arm", "subgroup"]
    assert set(curves["subgroup"]) == {"all", "fast", "slow"}
