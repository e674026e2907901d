"""Sweeps of a scenario with economics: what a PSA adds (plane, acceptability, value of information) and the
one-way tornado on net monetary benefit; a scenario's run writes economics.csv, a run without economics none."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.cli import main

ROOT = Path(__file__).resolve().parent.parent
ECONOMICS = {"currency": "GBP", "price_year": 2014, "willingness_to_pay": [20000, 30000],
             "utilities": {"active": 0.46, "response": 0.63, "remission": 0.74},
             "state_costs_per_week": {"active": 20, "response": 12, "remission": 6},
             "population": 500, "decision_years": 10}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = yaml.safe_load((ROOT / "scenarios" / "low_dose.yaml").read_text(encoding="utf-8"))
    data["name"] = "economic_base"
    data["cohort"]["loss_to_follow_up_per_year"] = 0.0
    data["economics"] = ECONOMICS
    data["therapies"]["thalidomide_100"]["costs"] = {"per_mg": 0.2132, "per_week_on_drug": 15}
    data["therapies"]["lenalidomide_5"]["costs"] = {"per_week_on_drug": 1190}
    path = tmp_path_factory.mktemp("economic") / "base.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def sweep(base: Path, folder: Path, section: dict[str, object]) -> Path:
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "base": str(base), "sweep": section}, sort_keys=False),
                    encoding="utf-8")
    out = folder / "out"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main([str(path), "--patients", "60", "--workers", "1", "--quiet", "--out", str(out)]) == 0
    return out


def test_a_psa_of_a_scenario_with_economics_adds_its_tables_figures_and_report(base: Path, tmp_path: Path) -> None:
    out = sweep(base, tmp_path, {"method": "psa", "samples": 12, "replications": 2, "outcomes": ["dropout"],
                                 "parameters": {
                                     "therapies.lenalidomide_5.costs.per_week_on_drug":
                                         {"distribution": "gamma", "mean": 800, "sd": 300, "label": "len cost"},
                                     "economics.utilities.remission":
                                         {"distribution": "beta", "alpha": 74, "beta": 26, "label": "u remission"}}})
    samples = pd.read_csv(out / "ce_samples.csv")
    assert len(samples) == 12 * 3 and set(samples["arm"]) == {"standard", "thalidomide", "lenalidomide"}
    reference = samples[samples["arm"] == "standard"]
    assert np.allclose(reference["incremental_cost"], 0) and np.allclose(reference["incremental_qalys"], 0)
    acceptability = pd.read_csv(out / "acceptability.csv")
    sums = acceptability.groupby("threshold")["probability_highest_nmb"].sum()
    assert np.allclose(sums, 1.0) and (acceptability.groupby("threshold")["on_frontier"].sum() == 1).all()
    evpi = pd.read_csv(out / "evpi.csv").set_index("threshold")
    assert (evpi["evpi_per_patient"] >= 0).all()
    assert evpi.loc[20000, "evpi_population"] == pytest.approx(
        evpi.loc[20000, "evpi_per_patient"] * 500 * sum(1.035 ** -y for y in range(10)))
    assert not np.isnan(evpi.loc[20000, "patients_needed_per_arm"])  # the noise is estimated at the thresholds
    evppi = pd.read_csv(out / "evppi.csv")
    assert set(evppi["parameter"]) == {"len cost", "u remission"} and set(evppi["threshold"]) == {20000, 30000}
    for name in ("psa_cost_effectiveness_plane.png", "acceptability.png", "evpi.png"):
        assert (out / "figures" / name).stat().st_size > 10_000, name
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Cost-effectiveness under uncertainty" in report and "patients per sample for noise" in report
    sweep_table = pd.read_csv(out / "sweep.csv")
    assert {"cost_mean", "qalys_mean", "net_monetary_benefit_difference"} <= set(sweep_table.columns)



def test_a_psa_of_few_samples_gives_its_tables_and_says_why_it_has_no_evppi(base: Path, tmp_path: Path) -> None:
    """Issue: a PSA of 4 samples stopped with a traceback (the EVPPI spline has 10 basis functions and
    needs more distinct values of a parameter). The sweep completes; the report says why EVPPI is missing."""
    out = sweep(base, tmp_path, {"method": "psa", "samples": 6, "replications": 2, "outcomes": ["dropout"],
                                 "parameters": {
                                     "therapies.lenalidomide_5.costs.per_week_on_drug":
                                         {"distribution": "gamma", "mean": 800, "sd": 300, "label": "len cost"}}})
    assert len(pd.read_csv(out / "ce_samples.csv")) == 6 * 3
    evppi = pd.read_csv(out / "evppi.csv")
    assert evppi.empty and list(evppi.columns) == ["threshold", "parameter", "evppi_per_patient", "evppi_population"]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "partial perfect information is not estimated" in report and "more than 10 PSA samples" in report

def test_a_one_way_sweep_of_a_scenario_with_economics_draws_the_tornado_on_net_benefit(base: Path,
                                                                                      tmp_path: Path) -> None:
    """Net monetary benefit at the primary threshold is 20,000 x QALYs - cost; its tornado rows are
    that combination of the cost and QALY rows (differences are linear in them), up to the CSV's six
    decimals (20,000 x 5e-7 + 5e-7 at most)."""
    out = sweep(base, tmp_path, {"method": "one_way", "levels": 2, "replications": 2, "outcomes": ["dropout"],
                                 "parameters": {"therapies.lenalidomide_5.costs.per_week_on_drug":
                                                {"low": 100, "high": 1190}}})
    tornado = pd.read_csv(out / "tornado.csv")
    assert set(tornado["outcome"]) >= {"cost", "qalys", "net_monetary_benefit"}
    rows = tornado[tornado["arm"] == "lenalidomide"].set_index("outcome")
    for column in ("at_low", "at_high"):
        assert rows.loc["net_monetary_benefit", column] == pytest.approx(
            20000 * rows.loc["qalys", column] - rows.loc["cost", column], abs=20000 * 5e-7 + 5e-7)
    assert rows.loc["net_monetary_benefit", "at_low"] > rows.loc["net_monetary_benefit", "at_high"]  # cheaper: better
    assert (out / "figures" / "tornado_net_monetary_benefit.png").is_file()


def test_a_run_with_economics_writes_economics_csv_and_one_without_does_not(base: Path, tmp_path: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([str(base), "--patients", "40", "--replications", "2", "--workers", "1", "--no-plots",
                     "--quiet", "--out", str(tmp_path / "with")]) == 0
        assert main([str(ROOT / "scenarios" / "low_dose.yaml"), "--patients", "40", "--replications", "2",
                     "--workers", "1", "--no-plots", "--quiet", "--out", str(tmp_path / "without")]) == 0
    table = pd.read_csv(tmp_path / "with" / "economics.csv")
    assert list(table["arm"]) == ["standard", "thalidomide", "lenalidomide"]  # in cost order
    assert "## Cost-effectiveness" in (tmp_path / "with" / "report.md").read_text(encoding="utf-8")
    patients = pd.read_csv(tmp_path / "with" / "patients.csv")
    assert (patients["cost"] >= patients["cost"] * 0).all() and (patients["qalys"] <= 130 / 52).all()
    assert not (tmp_path / "without" / "economics.csv").exists()
    assert "cost" not in pd.read_csv(tmp_path / "without" / "patients.csv").columns
