"""One-arm scenarios everywhere, and what one cohort of a scenario's size would show.

Runs and sweeps of a one-arm scenario draw the arm's own outcome, never leave a report section empty,
and a tornado's noise is the paired replication noise of each bar. Every run's ``summary.csv`` gives
the 95% prediction interval of one cohort and, for true/false outcomes, P(at least r of n). Expected
values are computed by hand or from exact binomial sums (math.comb); simulation checks are seeded with
tolerances of 4 standard errors.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, scenario, therapy
from scipy import stats

from sim.cli import main
from sim.stats.summary import at_least_thresholds, prediction_interval, summarise
from sim.studies.run import run

Z = 4.0
Z95 = float(stats.norm.ppf(0.975))


def empty_sections(report: str) -> list[str]:
    """Headings (any level) followed by nothing but blank lines before the next heading or the end."""
    empty, heading, body = [], None, False
    for line in [*report.splitlines(), "# end"]:
        if line.startswith("#"):
            if heading is not None and not body:
                empty.append(heading)
            heading, body = line, False
        elif line.strip():
            body = True
    return empty


def one_arm_scenario(folder: Path, size: int = 20, replications: int = 30) -> Path:
    """The low-dose scenario's lenalidomide arm alone, as a scenario file."""
    data = yaml.safe_load((ROOT / "scenarios" / "low_dose.yaml").read_text(encoding="utf-8"))
    data.update(name="lenalidomide_alone", reference_arm="lenalidomide",
                arms={"lenalidomide": data["arms"]["lenalidomide"]}, replications=replications)
    data["therapies"] = {k: v for k, v in data["therapies"].items() if k in data["arms"]["lenalidomide"]}
    data["cohort"]["size"] = size
    path = folder / "alone.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --- what one cohort would show -----------------------------------------------------------------------


def test_prediction_interval_is_the_central_95_percent_of_observed_values():
    """Values 1..40: the 2.5% point is the 1st (40 x 0.025 = 1) and the 97.5% point the 39th (40 x 0.975 = 39)."""
    values = np.random.default_rng(1).permutation(np.arange(1.0, 41.0))
    assert prediction_interval(values) == (1.0, 39.0)
    assert all(math.isnan(v) for v in prediction_interval(np.array([3.0])))


def wilson(k: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval, by its formula."""
    centre = (k + Z95**2 / 2) / (n + Z95**2)
    half = Z95 / (n + Z95**2) * math.sqrt(k * (n - k) / n + Z95**2 / 4)
    return centre - half, centre + half


def test_summary_gives_the_prediction_interval_and_at_least_r_of_n_by_hand():
    """Four cohorts of four patients with 0, 1, 2 and 4 complete responses: cohort means 0, 1/4, 1/2, 1, so the
    prediction interval runs from 0 to 1; r = 1, 2, 3 (a quarter, half and three quarters of 4) are reached by
    3, 2 and 1 of the 4 cohorts."""
    counts = [0, 1, 2, 4]
    rows = [{"replication": rep, "arm": "a", "patient": i, "complete_response": i < c,
             "disease_free_weeks": float(10 * rep + i)} for rep, c in enumerate(counts) for i in range(4)]
    summary = summarise(pd.DataFrame(rows), ["disease_free_weeks", "complete_response"]).set_index("metric")
    assert list(summary.columns) == ["arm", "mean", "ci_low", "ci_high", "pi_low", "pi_high"]
    cr = summary.loc["complete_response"]
    assert (cr["mean"], cr["pi_low"], cr["pi_high"]) == (pytest.approx(7 / 16), 0.0, 1.0)
    dfw = summary.loc["disease_free_weeks"]  # cohort means 1.5, 11.5, 21.5, 31.5
    assert (dfw["pi_low"], dfw["pi_high"]) == (1.5, 31.5)
    assert at_least_thresholds(4) == [1, 2, 3] and at_least_thresholds(20) == [5, 10, 15]
    for r, k in ((1, 3), (2, 2), (3, 1)):
        row = summary.loc[f"complete_response_at_least_{r}_of_4"]
        assert row["mean"] == k / 4
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(k, 4), abs=1e-12)
        assert math.isnan(row["pi_low"])
    assert not any(m.startswith("disease_free_weeks_at_least") for m in summary.index)
    # one replication: no prediction interval and no at-least rows
    single = summarise(pd.DataFrame([r for r in rows if r["replication"] == 3]), ["complete_response"])
    assert list(single["metric"]) == ["complete_response"] and single["pi_low"].isna().all()


def test_at_least_r_of_n_matches_the_binomial_distribution():
    """Each patient reaches complete response with probability 0.6, independently: over 400 cohorts of 20, P(at
    least r of 20) is the binomial tail within 4 standard errors, and the prediction interval's ends are within
    one patient of the binomial 2.5% and 97.5% quantiles."""
    p, n, cohorts = 0.6, 20, 400
    s = scenario({"a": therapy(response={"probability": p, "time_to_complete": 1})}, cohort={"size": n},
                 replications=cohorts)
    summary = run(s).summary.set_index("metric")
    for r in (5, 10, 15):
        expected = sum(math.comb(n, x) * p**x * (1 - p) ** (n - x) for x in range(r, n + 1))
        got = summary.loc[f"complete_response_at_least_{r}_of_{n}", "mean"]
        assert abs(got - expected) < Z * math.sqrt(max(expected * (1 - expected), 1e-4) / cohorts), (r, got, expected)
    low, high = (round(n * summary.loc["complete_response", c]) for c in ("pi_low", "pi_high"))
    assert abs(low - stats.binom.ppf(0.025, n, p)) <= 1 and abs(high - stats.binom.ppf(0.975, n, p)) <= 1


@pytest.fixture(scope="module")
def one_arm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("one_arm")
    out = folder / "run"
    assert main([str(one_arm_scenario(folder)), "--out", str(out), "--workers", "1", "--quiet", "--no-plots"]) == 0
    return out


def test_one_arm_run_report_has_no_empty_or_comparison_section(one_arm_run):
    report = (one_arm_run / "report.md").read_text(encoding="utf-8")
    assert empty_sections(report) == []
    assert "## Differences from" not in report and "differences are paired" not in report
    assert "## What one cohort of 20 patients would show" in report
    assert ("The confidence interval above is the precision of the mean over all 30 cohorts and narrows as "
            "replications are added; the prediction interval is the range within which one cohort of 20 patients")\
        in report
    assert re.search(r"\| P\(Complete response ≥ 10 of 20\) \| \d\.\d\d \(\d\.\d\d to \d\.\d\d\) \|", report)
    summary = pd.read_csv(one_arm_run / "summary.csv")
    assert list(summary.columns) == ["arm", "metric", "mean", "ci_low", "ci_high", "pi_low", "pi_high"]
    main_rows = summary[~summary["metric"].str.contains("_at_least_")]
    assert (main_rows["pi_low"] <= main_rows["mean"]).all() and (main_rows["mean"] <= main_rows["pi_high"]).all()
    # one cohort varies more than the mean of 30 is uncertain
    dfw = main_rows.set_index("metric").loc["disease_free_weeks"]
    assert dfw["pi_high"] - dfw["pi_low"] > dfw["ci_high"] - dfw["ci_low"]


def test_one_replication_and_older_folders_say_what_they_can(tmp_path):
    """One replication: the section says a cohort's spread needs several; a folder whose summary.csv predates the
    prediction interval is redrawn without the section."""
    from sim.studies.run.report import render_report

    out = tmp_path / "run"
    assert main([str(one_arm_scenario(tmp_path, replications=1)), "--out", str(out), "--workers", "1", "--quiet",
                 "--no-plots"]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "One replication is one cohort" in report and empty_sections(report) == []
    summary = pd.read_csv(out / "summary.csv")
    summary[["arm", "metric", "mean", "ci_low", "ci_high"]].to_csv(out / "summary.csv", index=False)
    older = render_report(out)
    assert "## What one cohort" not in older and empty_sections(older) == []


def test_several_arm_reports_have_no_empty_section(tmp_path):
    out = tmp_path / "run"
    assert main([str(ROOT / "scenarios" / "low_dose.yaml"), "--out", str(out), "--workers", "1", "--quiet",
                 "--replications", "3", "--patients", "30", "--no-plots"]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert empty_sections(report) == [] and "## Differences from standard" in report


# --- one-arm sweeps -------------------------------------------------------------------------------------

RELAPSE = "therapies.lenalidomide_5.relapse.after_stop.probability"
RESPONSE = "therapies.lenalidomide_5.response.probability"


def one_arm_sweep(folder: Path, section: str) -> Path:
    base = one_arm_scenario(folder)
    path = folder / "sweep.yaml"
    path.write_text(f"base: {base.name}\nsweep:\n" + "".join(f"  {line}\n" for line in section.splitlines()),
                    encoding="utf-8")
    return path


def test_one_arm_one_way_sweep_draws_the_tornado_of_the_arm_mean(tmp_path):
    path = one_arm_sweep(tmp_path, f"method: one_way\nparameters:\n  {RELAPSE}: {{low: 0.25, high: 0.75}}\n"
                                   f"  {RESPONSE}: {{low: 0.8, high: 0.95}}\nlevels: 3\nreplications: 6\n"
                                   "outcomes: [disease_free_weeks, dropout]")
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "one_way_disease_free_weeks.png", "one_way_dropout.png", "tornado_disease_free_weeks.png",
        "tornado_dropout.png"]
    tornado = pd.read_csv(out / "tornado.csv")
    assert len(tornado) == 4 and (tornado["measure"] == "mean").all() and (tornado["arm"] == "lenalidomide").all()
    report = (out / "report.md").read_text(encoding="utf-8")
    assert empty_sections(report) == []
    assert "| Disease-free weeks | lenalidomide (mean) |" in report and "**Disease-free weeks: lenalidomide (mean)**" \
        in report
    assert "The tornado draws each bar's own paired noise as a grey band" in report
    # the bars and their paired noise, from the saved replication means of each point
    records = [json.loads(p.read_text()) for p in sorted((out / "points").iterdir(),
                                                        key=lambda p: int(re.sub(r"\D", "", p.name)))]
    base = np.array(records[0]["means"]["lenalidomide"]["disease_free_weeks"])
    design = pd.read_csv(out / "design.csv")
    for row in tornado[tornado["outcome"] == "disease_free_weeks"].itertuples(index=False):
        points = design[design["varied"] == row.parameter]["point"].tolist()
        low = np.array(records[points[0]]["means"]["lenalidomide"]["disease_free_weeks"])
        change = low - base
        half = stats.t.ppf(0.975, len(change) - 1) * change.std(ddof=1) / math.sqrt(len(change))
        # tornado.csv holds six decimals
        assert row.at_low == pytest.approx(low.mean(), abs=1e-6) and row.at_base == pytest.approx(base.mean(), abs=1e-6)
        assert row.noise_at_low == pytest.approx(half, abs=1e-6)
        level = stats.t.ppf(0.975, len(base) - 1) * base.std(ddof=1) / math.sqrt(len(base))
        assert row.base_half_width == pytest.approx(level, abs=1e-6)
    noise = pd.read_csv(out / "noise.csv")
    assert list(noise.columns) == ["outcome", "arm", "measure", "half_width", "paired_half_width",
                                   "noise_variance_share"]


def test_one_arm_grid_draws_the_heat_map_of_the_arm_mean(tmp_path):
    path = one_arm_sweep(tmp_path, f"method: grid\nparameters:\n  {RELAPSE}: {{values: [0.25, 0.75]}}\n"
                                   f"  {RESPONSE}: {{values: [0.8, 0.9, 0.95]}}\nreplications: 3\n"
                                   "outcomes: [dropout]")
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["heatmap_dropout.png"]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert empty_sections(report) == [] and "## Means at each point" in report


@pytest.mark.parametrize("method", ["lhs", "psa"])
def test_other_one_arm_sweeps_draw_and_report_the_arm_mean(tmp_path, method):
    if method == "psa":
        parameters = f"  {RELAPSE}: {{distribution: beta, alpha: 5, beta: 5}}"
    else:
        parameters = f"  {RELAPSE}: {{low: 0.25, high: 0.75}}"
    path = one_arm_sweep(tmp_path, f"method: {method}\nparameters:\n{parameters}\nsamples: 4\nreplications: 3\n"
                                   "outcomes: [dropout]")
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert len(list((out / "figures").iterdir())) >= 1
    assert empty_sections((out / "report.md").read_text(encoding="utf-8")) == []


def test_a_parameter_of_another_arm_moves_nothing_and_has_no_noise(tmp_path):
    """Common random numbers: a thalidomide parameter leaves lenalidomide − standard exactly unchanged, so its
    tornado bars have zero length and zero paired noise, while the level noise at base is positive."""
    section = ("method: one_way\nparameters:\n  therapies.thalidomide_100.adverse_events.neuropathy.rate_per_year: "
               "{low: 0.1, high: 0.3}\nlevels: 2\nreplications: 4\noutcomes: [dropout]")
    path = tmp_path / "sweep.yaml"
    path.write_text(f"base: {ROOT / 'scenarios' / 'low_dose.yaml'}\nsweep:\n"
                    + "".join(f"  {line}\n" for line in section.splitlines()), encoding="utf-8")
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), "--workers", "1", "--quiet", "--patients", "30", "--no-plots"]) == 0
    tornado = pd.read_csv(out / "tornado.csv").set_index("arm")
    unmoved = tornado.loc["lenalidomide"]
    assert unmoved["at_low"] == unmoved["at_base"] == unmoved["at_high"]
    assert unmoved["noise_at_low"] == unmoved["noise_at_high"] == 0.0 and unmoved["base_half_width"] > 0


def test_tornado_bands_are_each_bars_paired_noise():
    """Each bar has a grey band centred on the base value, as wide as twice its own paired noise (display scale)."""
    from matplotlib.collections import PolyCollection

    from sim.plotting.sweep import plt, tornado

    rows = pd.DataFrame({"label": ["x", "y"], "low_value": [0.1, 1.0], "high_value": [0.2, 2.0],
                         "at_base": [0.5, 0.5], "at_low": [0.4, 0.45], "at_high": [0.7, 0.52],
                         "noise_at_low": [0.02, 0.03], "noise_at_high": [0.05, 0.01]})
    ax = tornado(rows, scale=100.0)
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    widths = sorted(round(float(np.ptp(c.get_paths()[0].vertices[:, 0])), 9) for c in bands)
    assert widths == [2.0, 4.0, 6.0, 10.0]
    centres = {round(float(np.mean(np.unique(c.get_paths()[0].vertices[:, 0]))), 9) for c in bands}
    assert centres == {50.0}
    plt.close(ax.figure)
