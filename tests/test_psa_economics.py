"""The economic tables of a PSA sweep, composed from point records whose answers are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.spec.economics import Economics
from sim.studies.sweep.design import Design, Parameter, Point
from sim.studies.sweep.economics import psa_economics, threshold_grid

SAMPLES = 2000
ECONOMICS = Economics.model_validate({"currency": "GBP", "price_year": 2024, "willingness_to_pay": [20000],
                                      "utilities": {"active": 0.6, "response": 0.7, "remission": 0.8},
                                      "population": 100, "decision_years": 3,
                                      "discount_per_year": {"costs": 0.035, "effects": 0.035}})


def records_and_design(seed: int = 1) -> tuple[Design, list[dict[str, object]]]:
    """Arm B gains theta QALYs for 1,000 more than A; theta ~ Normal(0.05, 0.02); phi is noise-free and
    irrelevant. Two replications per sample, identical, so there is no Monte Carlo noise."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.05, 0.02, SAMPLES)
    phi = rng.uniform(0, 1, SAMPLES)
    parameters = (Parameter("theta", "theta", None, 0.05, False), Parameter("phi", "phi", None, 0.5, False))
    design = Design("psa", parameters, tuple(Point(i, ()) for i in range(SAMPLES)), np.column_stack([theta, phi]),
                    seed=3)
    records = [{"point": i, "means": {"A": {"cost": [500.0, 500.0], "qalys": [1.0, 1.0]},
                                      "B": {"cost": [1500.0, 1500.0], "qalys": [1.0 + t, 1.0 + t]}}}
               for i, t in enumerate(theta)]
    return design, records


def test_samples_acceptability_and_value_of_information() -> None:
    """Incremental NMB of B at 20,000 is 20,000 theta - 1,000 ~ Normal(0, 400): B is best half the time, the
    expected INB is 0, and EVPI = E[max(0, INB)] = 400 x phi(0) = 159.6 (normal partial expectation), all of
    it due to theta. The sample estimate's SE is about sd(max(0, INB)) / sqrt(2000) ~ 5.4; 4 SE allowed."""
    design, records = records_and_design()
    out = psa_economics(design, records, ["A", "B"], "A", ECONOMICS, patients_per_arm=1000)
    b = out.samples[out.samples["arm"] == "B"]
    assert np.allclose(b["incremental_cost"], 1000.0) and len(b) == SAMPLES
    at = out.acceptability[out.acceptability["threshold"] == 20000].set_index("arm")
    assert at["probability_highest_nmb"].sum() == pytest.approx(1.0)
    assert at.loc["B", "probability_highest_nmb"] == pytest.approx(0.5, abs=4 * math.sqrt(0.25 / SAMPLES))
    assert out.acceptability.groupby("threshold")["on_frontier"].sum().eq(1).all()
    at_zero = out.acceptability[out.acceptability["threshold"] == 0].set_index("arm")
    assert at_zero.loc["A", "on_frontier"] and at_zero.loc["A", "probability_highest_nmb"] == 1.0
    expected = 400 * stats.norm.pdf(0)
    row = out.evpi[out.evpi["threshold"] == 20000].iloc[0]
    assert row["evpi_per_patient"] == pytest.approx(expected, abs=4 * 5.4)
    factor = 100 * (1 + 1 / 1.035 + 1 / 1.035**2)
    assert row["evpi_population"] == pytest.approx(row["evpi_per_patient"] * factor)
    assert row["evpi_noise"] == pytest.approx(0.0, abs=1e-9)  # identical replications: no noise
    evppi = out.evppi.set_index("parameter")["evppi_per_patient"]
    assert evppi["theta"] == pytest.approx(row["evpi_per_patient"], rel=0.05)
    assert evppi["phi"] < 0.05 * row["evpi_per_patient"]


def test_noise_in_the_replications_is_reported_with_the_cohort_that_removes_it() -> None:
    design, records = records_and_design()
    rng = np.random.default_rng(5)
    for record in records:
        means = record["means"]["B"]  # type: ignore[index]
        means["cost"] = list(np.array(means["cost"]) + rng.normal(0, 300, 2))  # noisy cohorts
    out = psa_economics(design, records, ["A", "B"], "A", ECONOMICS, patients_per_arm=200)
    row = out.evpi[out.evpi["threshold"] == 20000].iloc[0]
    assert row["evpi_noise"] > 0
    assert row["evpi_corrected"] == pytest.approx(row["evpi_per_patient"] - row["evpi_noise"])
    assert row["patients_needed_per_arm"] > 200


def test_threshold_grid_spans_twice_the_largest_threshold() -> None:
    grid = threshold_grid([20000, 30000])
    assert grid[0] == 0 and grid[-1] == 60000 and 20000 in grid and 30000 in grid


def test_terminal_summary_gives_units_and_the_decision_at_each_threshold() -> None:
    """A PSA's terminal summary, from tables written by hand: a dropout difference in percentage points, a cost
    difference with thousands separators, and per threshold the frontier arm, its chance and the EVPI."""
    import pandas as pd

    from sim.studies.sweep.analyse import SweepTables
    from sim.studies.sweep.economics import PsaEconomics
    from sim.studies.sweep.report import terminal_summary

    nan = math.nan
    psa = pd.DataFrame({
        "outcome": ["dropout", "dropout", "cost", "cost"], "arm": ["A", "B", "A", "B"],
        "probability_best": [0.75, 0.25, 1.0, 0.0],
        "mean_difference": [nan, 0.155, nan, 42675.4], "difference_p2_5": [nan, 0.1, nan, 5811.2],
        "difference_p97_5": [nan, 0.213, nan, 85984.0], "probability_better": [nan, 0.0, nan, 0.0]})
    acceptability = pd.DataFrame({"threshold": [20000.0, 20000.0], "arm": ["A", "B"],
                                  "probability_highest_nmb": [0.655, 0.345], "on_frontier": [True, False]})
    evpi = pd.DataFrame({"threshold": [20000.0], "evpi_per_patient": [357.2], "evpi_population": [2307727.4],
                         "evpi_noise": [12.0], "evpi_corrected": [345.2], "patients_needed_per_arm": [800.0]})
    economic = PsaEconomics(pd.DataFrame(), acceptability, evpi, pd.DataFrame())
    design, _ = records_and_design()
    tables = SweepTables(sweep=pd.DataFrame(), tornado=None, sensitivity=None, psa=psa, noise=pd.DataFrame(),
                         economics=economic)
    text = terminal_summary(design, tables, ["A", "B"], "A", ["dropout", "cost"], 100, ECONOMICS)
    assert "+15.5 pp (10.0 to 21.3)" in text
    assert "+42,675 (5,811 to 85,984)" in text
    row = next(line for line in text.splitlines() if line.startswith("20,000 GBP/QALY"))
    assert row.split() == ["20,000", "GBP/QALY", "A", "66%", "357", "2,307,727"]  # 65.5% rounds half up
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "Cost-effectiveness" not in terminal_summary(design, tables, ["A", "B"], "A", ["dropout"], 100)
