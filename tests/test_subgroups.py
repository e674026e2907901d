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
    """Arm a always responds; arm b responds with probability 0.5 in subgroup x and 0.2 in y (shares
    0.5 each), 3 replications of 400 patients.

    Expected means (the parameters): b in x 0.5, in y 0.2, whole cohort 0.5 * 0.5 + 0.5 * 0.2 = 0.35;
    b - a: -0.5, -0.8, -0.65. Tolerance 4 binomial SE of each row's own patients (the whole cohort's
    response is Bernoulli(0.35) per patient, subgroup drawn at random). Each interval is the t
    interval (2 df, t = 4.303) of that subgroup's three replication means, computed here by hand.
    """
    s = scenario({"a": therapy(), "b": therapy(drug="drug_b", response={"probability": 0.5})},
                 cohort={"size": 400, "subgroups": {
                     "x": {"share": 0.5}, "y": {"share": 0.5, "overrides": {"b": {"response.probability": 0.2}}}}},
                 replications=3)
    frames = [patients_frame(simulate(s, arm, r).patients, patient_columns(s)) for r in range(3) for arm in s.arms]
    patients = pd.concat(frames, ignore_index=True)
    summary = summarise(patients)
    assert list(summary.columns) == ["arm", "subgroup", "metric", "mean", "ci_low", "ci_high", "pi_low", "pi_high"]
    assert list(dict.fromkeys(summary["subgroup"])) == ["all", "x", "y"]
    # P(at least r of n) needs cohorts of one size: the whole cohort has them, a subgroup's size varies
    at_least = summary[summary["metric"].str.contains("_at_least_")]
    assert len(at_least) and set(at_least["subgroup"]) == {"all"}
    assert "responded_at_least_200_of_400" in set(at_least["metric"])
    responded = summary[summary["metric"] == "responded"].set_index(["subgroup", "arm"])
    comparison = compare(patients, "a")
    assert list(comparison.columns) == ["arm", "subgroup", "metric", "difference", "ci_low", "ci_high"]
    difference = comparison[comparison["metric"] == "responded"].set_index(["subgroup", "arm"])
    b = patients[patients["arm"] == "b"]
    share_x = float((b["subgroup"] == "x").mean())
    assert abs(share_x - 0.5) < 4 * math.sqrt(0.25 / len(b))
    t2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)  # t(0.975, 2) in closed form
    for group, p, n in (("all", 0.35, len(b)), ("x", 0.5, (b["subgroup"] == "x").sum()),
                        ("y", 0.2, (b["subgroup"] == "y").sum())):
        se = math.sqrt(p * (1 - p) / n)
        assert abs(responded.loc[(group, "b"), "mean"] - p) < 4 * se, group
        assert abs(difference.loc[(group, "b"), "difference"] - (p - 1.0)) < 4 * se, group
        assert responded.loc[(group, "a"), ["mean", "ci_low", "ci_high"]].tolist() == [1.0, 1.0, 1.0]
        rows = b if group == "all" else b[b["subgroup"] == group]
        means = rows.groupby("replication")["responded"].mean().to_numpy(dtype=float)
        half = t2 * means.std(ddof=1) / math.sqrt(3)
        assert responded.loc[(group, "b"), ["mean", "ci_low", "ci_high"]].tolist() == pytest.approx(
            [means.mean(), means.mean() - half, means.mean() + half])
        # a responds always, so b - a is b's replication means minus 1, with the same interval width
        assert difference.loc[(group, "b"), ["ci_low", "ci_high"]].tolist() == pytest.approx(
            [means.mean() - 1 - half, means.mean() - 1 + half])


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
    # The whole cohort's rows by hand from the fast patients f_r of replication r (of 200): complete
    # response at 6 or 12 weeks, so its restricted mean is (6 f_r + 12 (200 - f_r)) / 200 and the
    # disease-free mean (94 f_r + 88 (200 - f_r)) / 200; over two replications, the t interval with
    # 1 df (12.706). No dropout or relapse: restricted means of 100 weeks, no events, incidences 0.
    patients = pd.read_csv(out / "patients.csv")
    fast = patients.groupby("replication")["subgroup"].apply(lambda g: float((g == "fast").sum())).to_numpy()
    t1 = math.tan(math.pi * 0.475)  # t(0.975, 1): the Cauchy quantile
    for endpoint, statistic, at_fast, at_slow in (("time_to_complete_response", "rmst_weeks", 6.0, 12.0),
                                                  ("disease_free", "mean_weeks", 94.0, 88.0)):
        per_replication = (at_fast * fast + at_slow * (200 - fast)) / 200
        centre, half = per_replication.mean(), t1 * per_replication.std(ddof=1) / math.sqrt(2)
        row = survival[(survival["subgroup"] == "all") & (survival["endpoint"] == endpoint)
                       & (survival["statistic"] == statistic)].iloc[0]
        assert [row["value"], row["ci_low"], row["ci_high"]] == pytest.approx([centre, centre - half, centre + half])
    assert value("all", "time_to_complete_response", "median_weeks") == (6.0 if fast.sum() >= 200 else 12.0)
    assert value("all", "time_to_complete_response", "events") == 400
    for endpoint in ("time_to_dropout", "time_to_relapse_after_remission"):
        assert value("all", endpoint, "events") == 0
        assert value("all", endpoint, "rmst_weeks") == pytest.approx(100.0)
    whole = survival[(survival["subgroup"] == "all")]
    at_risk = whole[(whole["endpoint"] == "time_to_complete_response") & (whole["statistic"] == "at_risk")]
    assert at_risk["week"].tolist() == [13.0 * k for k in range(8)]
    assert at_risk["value"].tolist() == [400.0] + [0.0] * 7  # every remission by week 12
    incidence = whole[whole["statistic"] == "cumulative_incidence"]
    assert set(incidence["endpoint"]) == {"first_relapse", "lost_to_follow_up"}
    assert (incidence["value"] == 0).all() and sorted(set(incidence["week"])) == [52.0, 100.0]
    # the subgroups' rows have the same shape as the whole cohort's
    shape = whole.groupby(["endpoint", "statistic"]).size()
    for group in ("fast", "slow"):
        rows = survival[survival["subgroup"] == group]
        pdt.assert_series_equal(rows.groupby(["endpoint", "statistic"]).size(), shape)
    curves = pd.read_csv(out / "survival_curves.csv", dtype={"arm": str, "subgroup": str})
    assert list(curves.columns[:2]) == ["arm", "subgroup"]
    assert set(curves["subgroup"]) == {"all", "fast", "slow"}
