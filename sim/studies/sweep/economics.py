"""The health economics of a probabilistic sweep: cost-effectiveness plane, acceptability, value of information.

A PSA sweep of a scenario with economics gives the cost-effectiveness plane of its samples, the
acceptability curves and frontier, and the value of information (EVPI with its Monte Carlo noise,
EVPPI per parameter).

Each PSA sample (point) gives each arm's mean discounted cost and QALYs per patient, averaged over the
sample's replications; net monetary benefit at a threshold lambda is ``lambda * qalys - cost``. The
finite cohort behind each sample makes these means noisy, which inflates EVPI: the inflation is
estimated from each sample's replication spread (``sim.stats.value_of_information``) and reported
beside the EVPI with the cohort size that would make it negligible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.outputs.text import markdown_table, money, percent
from sim.spec.economics import Economics
from sim.stats.economics import acceptability_curve, acceptability_frontier, net_monetary_benefit
from sim.stats.value_of_information import (
    discounted_population,
    evpi,
    evpi_noise_inflation,
    evppi,
)
from sim.studies.sweep.design import Design

__all__ = ["ECONOMIC_OUTCOMES", "NET_BENEFIT", "PsaEconomics", "decisions", "job_outcomes", "psa_economics",
           "threshold_grid", "with_net_benefit"]

ECONOMIC_OUTCOMES = ("cost", "qalys")
"""The outcomes a sweep of a scenario with economics records for each arm (discounted, per patient)."""

GRID_POINTS = 41

NET_BENEFIT = "net_monetary_benefit"
"""The quantity a sweep of a scenario with economics adds: QALYs times the primary threshold, minus cost."""

EVPPI_BASIS = 10
"""Basis functions of the EVPPI regression's spline on each parameter."""


def job_outcomes(outcomes: Sequence[str], economics: Economics | None) -> tuple[str, ...]:
    """The outcomes each point records: the sweep's, and cost and QALYs when the base has economics."""
    extra = [o for o in ECONOMIC_OUTCOMES if economics is not None and o not in outcomes]
    return (*outcomes, *extra)


def with_net_benefit(values: np.ndarray, outcomes: list[str],
                     economics: Economics | None) -> tuple[np.ndarray, list[str]]:
    """Replication means [point, arm, outcome, replication] with net monetary benefit at the primary threshold
    added as the last outcome, when the sweep records cost and QALYs of a scenario with economics."""
    if economics is None or not set(ECONOMIC_OUTCOMES) <= set(outcomes) or NET_BENEFIT in outcomes:
        return values, outcomes
    threshold = economics.willingness_to_pay[0]
    benefit = threshold * values[:, :, outcomes.index("qalys")] - values[:, :, outcomes.index("cost")]
    return np.concatenate([values, benefit[:, :, None, :]], axis=2), [*outcomes, NET_BENEFIT]


@dataclass
class PsaEconomics:
    """The economic tables of a PSA sweep."""

    samples: pd.DataFrame
    acceptability: pd.DataFrame
    evpi: pd.DataFrame
    evppi: pd.DataFrame

    def files(self) -> dict[str, pd.DataFrame]:
        """The tables by file name."""
        return {"ce_samples.csv": self.samples, "acceptability.csv": self.acceptability, "evpi.csv": self.evpi,
                "evppi.csv": self.evppi}


def threshold_grid(thresholds: Sequence[float]) -> np.ndarray:
    """Thresholds for the curves: 0 to twice the largest given one, and the given ones."""
    top = 2.0 * max(thresholds)
    return np.unique(np.concatenate([np.linspace(0.0, top, GRID_POINTS), np.asarray(thresholds, dtype=float)]))


def _arrays(records: Sequence[dict[str, Any]], arms: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Replication means as arrays [point, arm, replication] of cost and of QALYs."""
    cost = np.array([[record["means"][arm]["cost"] for arm in arms] for record in records], dtype=float)
    qalys = np.array([[record["means"][arm]["qalys"] for arm in arms] for record in records], dtype=float)
    return cost, qalys


def psa_economics(the_design: Design, records: Sequence[dict[str, Any]], arms: list[str], reference_arm: str,
                  economics: Economics, patients_per_arm: int) -> PsaEconomics:
    """The economic tables of a PSA sweep from its point records (in point order).

    ``patients_per_arm`` is the cohort of each sample: patients per arm and replication times
    replications. EVPPI is estimated for each parameter at each given threshold.
    """
    cost_r, qalys_r = _arrays(records, arms)
    cost, qalys = cost_r.mean(axis=2), qalys_r.mean(axis=2)  # point, arm
    replications = cost_r.shape[2]
    ref = arms.index(reference_arm)
    points = [p.index for p in the_design.points]
    samples = pd.DataFrame([
        {"point": point, "arm": arm, "cost": cost[i, a], "qalys": qalys[i, a],
         "incremental_cost": cost[i, a] - cost[i, ref], "incremental_qalys": qalys[i, a] - qalys[i, ref]}
        for i, point in enumerate(points) for a, arm in enumerate(arms)])
    grid = threshold_grid(economics.willingness_to_pay)
    curve = acceptability_curve(cost, qalys, grid, arms)
    frontier = acceptability_frontier(cost, qalys, grid, arms).set_index("threshold")
    acceptability = pd.DataFrame([
        {"threshold": t, "arm": arm, "probability_highest_nmb": float(curve.loc[t, arm]),
         "on_frontier": bool(frontier.loc[t, "arm"] == arm)}
        for t in grid for arm in arms])
    per_patient = evpi(cost, qalys, grid)
    population = None
    if economics.population is not None:
        population = discounted_population(economics.population, economics.decision_years,
                                           economics.discount_per_year.effects)
    rows = []
    for t in grid:
        row: dict[str, Any] = {"threshold": t, "evpi_per_patient": float(per_patient.loc[t])}
        if population is not None:
            row["evpi_population"] = float(per_patient.loc[t]) * population
        rows.append(row)
    evpi_table = pd.DataFrame(rows)
    noise_columns = ["evpi_noise", "evpi_corrected", "patients_needed_per_arm"]
    for column in noise_columns:
        evpi_table[column] = math.nan
    if replications >= 2:
        for t in economics.willingness_to_pay:
            nmb_r = t * qalys_r - cost_r
            se = nmb_r.std(axis=2, ddof=1) / math.sqrt(replications)
            noise = evpi_noise_inflation(nmb_r.mean(axis=2), se, patients_per_arm, seed=the_design.seed)
            where = np.isclose(evpi_table["threshold"], t)
            evpi_table.loc[where, noise_columns] = [noise.inflation, noise.evpi_corrected, noise.patients_needed]
    parameters = pd.DataFrame(the_design.matrix, columns=[p.label for p in the_design.parameters])
    # The regression fits a spline of EVPPI_BASIS functions on each parameter: a parameter with fewer
    # distinct values (a PSA of few samples) cannot carry it, and gets no EVPPI (the report says why).
    varying = parameters.loc[:, parameters.nunique() > EVPPI_BASIS]
    evppi_rows = []
    for t in economics.willingness_to_pay:
        nmb = net_monetary_benefit(cost, qalys, t)
        values = (evppi(nmb, varying, reference=ref, basis_size=EVPPI_BASIS) if len(arms) > 1 and not varying.empty
                  else pd.Series(dtype=float))
        for label, value in values.items():
            row = {"threshold": t, "parameter": label, "evppi_per_patient": float(value)}
            if population is not None:
                row["evppi_population"] = float(value) * population
            evppi_rows.append(row)
    evppi_columns = ["threshold", "parameter", "evppi_per_patient"] + (["evppi_population"] if population else [])
    return PsaEconomics(samples, acceptability, evpi_table, pd.DataFrame(evppi_rows, columns=evppi_columns))



def decisions(tables: PsaEconomics, economics: Economics, noise: bool = True) -> pd.DataFrame:
    """Per threshold of the scenario: the arm with the highest expected net benefit, its probability of being
    cost-effective and the EVPI per patient (and for the population; with ``noise``, its Monte Carlo noise and the
    patients per sample that make the noise negligible)."""
    currency = economics.currency
    rows = []
    for t in economics.willingness_to_pay:
        at = tables.acceptability[np.isclose(tables.acceptability["threshold"], t)]
        best = at[at["on_frontier"]].iloc[0]
        value = tables.evpi[np.isclose(tables.evpi["threshold"], t)].iloc[0]
        row = {"threshold": f"{money(t)} {currency}/QALY",
               "decision (highest expected net benefit)": f"{best['arm']}",
               "P(cost-effective)": percent(best["probability_highest_nmb"], 0),
               f"EVPI per patient ({currency})": money(value["evpi_per_patient"])}
        if "evpi_population" in value.index:
            row[f"population EVPI ({currency})"] = money(value["evpi_population"])
        if noise and math.isfinite(value["evpi_noise"]):
            needed = value["patients_needed_per_arm"]
            row["of which Monte Carlo noise"] = money(value["evpi_noise"]) if value["evpi_noise"] > 0 \
                else "none detected"
            row["patients per sample for noise < 5%"] = "not reachable" if not math.isfinite(needed) \
                else money(needed)
        rows.append(row)
    return pd.DataFrame(rows)


def economics_section(tables: PsaEconomics | None, economics: Economics | None, reference: str,
                      arms: list[str], samples: int) -> list[str]:
    """The report's health-economic section of a PSA sweep (nothing when it has none)."""
    if tables is None or economics is None:
        return []
    currency = economics.currency
    lines = ["## Cost-effectiveness under uncertainty", "",
             f"Each of the {samples} parameter samples gives each arm's mean discounted cost ({currency}) and QALYs "
             "per patient; `ce_samples.csv` holds them. *Acceptability*: the share of samples in which an arm has "
             "the highest net monetary benefit (QALYs times the threshold, minus cost), over a grid of thresholds "
             "(`acceptability.csv`); the *frontier* is the arm with the highest expected net benefit, the one a "
             "decision at that threshold would choose, with its probability of being cost-effective. *EVPI*: the "
             "expected value of perfect information, what resolving all the uncertainty would be worth per patient "
             "(`evpi.csv`), and for the population when `economics.population` is given "
             f"({'not given' if economics.population is None else f'{economics.population:g}'} patients a year over "
             f"{economics.decision_years} years, "
             f"discounted at {100 * economics.discount_per_year.effects:g}% a year).", ""]
    lines += [markdown_table(decisions(tables, economics)), "",
              "The noise of finite cohorts inflates EVPI (the maximum of noisy net benefits is biased upwards): the "
              "inflation is estimated from each sample's replications, and the last column gives the patients per "
              "arm and sample that would make it negligible (below 5% of EVPI). EVPI whose corrected value is near "
              "zero is within noise.", ""]
    if tables.evppi.empty:
        lines += [f"Expected value of partial perfect information is not estimated: it needs two arms or more and "
                  f"more than {EVPPI_BASIS} PSA samples (its regression fits a spline of {EVPPI_BASIS} functions on "
                  "each parameter).", ""]
    else:
        primary = economics.willingness_to_pay[0]
        evppi = tables.evppi[np.isclose(tables.evppi["threshold"], primary)].sort_values(
            "evppi_per_patient", ascending=False)
        table = pd.DataFrame({"parameter": evppi["parameter"],
                              f"EVPPI per patient ({currency})": [money(v, 1) for v in evppi["evppi_per_patient"]]})
        if "evppi_population" in evppi.columns:
            table[f"population EVPPI ({currency})"] = [money(v) for v in evppi["evppi_population"]]
        lines += [f"Expected value of partial perfect information at {money(primary)} {currency}/QALY, by parameter "
                  "(`evppi.csv`; regression estimator of Strong, Oakley and Brennan 2014: each arm's incremental "
                  "net benefit smoothed on the parameter with a generalised additive model). It tells which "
                  "parameter's research is worth most.", "", markdown_table(table), ""]
    return lines
