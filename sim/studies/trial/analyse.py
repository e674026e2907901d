"""Power against sample size from the simulated trials: rejection rates with intervals, effects, durations, looks.

Every probability estimated from simulated trials carries its 95% Wilson interval (Monte Carlo
error). A size is feasible when 90% of its simulated trials end within ``max_duration_weeks``; the
smallest size reaching the target power is the smallest whose whole interval lies at or above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sim.spec.trial import Trial
from sim.stats.single_arm import SimonDesign, binomial_tail, critical_count, operating_characteristics
from sim.studies.trial.sequential import planned_boundaries

__all__ = ["DURATION_QUANTILE", "SIMON_COLUMNS", "Summaries", "looks_table", "point_reaching", "power_columns",
           "simon_table", "smallest_size", "summarise", "summarise_power", "wilson"]

DURATION_QUANTILE = 0.9
"""The share of simulated trials that must end within ``max_duration_weeks`` for a size to be feasible."""

SIMON_COLUMNS = ["criterion", "chosen", "r1", "n1", "r", "n", "alpha", "power", "pet0", "pet1", "en0", "response_rate",
                 "pet", "pet_ci_low", "pet_ci_high", "expected_n", "expected_n_ci_low", "expected_n_ci_high",
                 "p_declare_active", "p_declare_active_ci_low", "p_declare_active_ci_high", "exact_pet_at_rate",
                 "exact_p_declare_active_at_rate", "mean_duration_weeks", "p90_duration_weeks", "feasible"]


def wilson(k: int, total: int) -> tuple[float, float]:
    """95% Wilson interval of a proportion k / total."""
    interval = stats.binomtest(k, total).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def power_columns(trial: Trial) -> list[str]:
    """The columns of ``power.csv``: one row per size."""
    durations = ["mean_duration_weeks", "p90_duration_weeks", "feasible"]
    if trial.single_arm:
        return ["patients_per_arm", "critical_responses", "exact_alpha", "exact_power_p1", "power", "ci_low",
                "ci_high", "response_rate", "exact_power_at_rate", *durations]
    columns = ["patients_per_arm", "power", "ci_low", "ci_high", trial.effect_column]
    if trial.kind == "time_to_event":
        columns.append("expected_events")
    columns += durations
    if trial.interim is not None:
        columns += ["expected_patients", "power_without_interim"]
    return columns


def _durations(trial: Trial, weeks: np.ndarray) -> tuple[float, float, bool]:
    """Mean and 90th percentile of the trials' durations, and whether the size is feasible."""
    p90 = float(np.quantile(weeks, DURATION_QUANTILE))
    return float(weeks.mean()), p90, bool(p90 <= trial.max_duration_weeks)


def _mean_effect(trial: Trial, effects: np.ndarray) -> float:
    """The mean effect: the geometric mean of hazard ratios, else the mean; NaN when no trial had one."""
    effects = effects[np.isfinite(effects)]
    if trial.kind == "time_to_event":
        effects = effects[effects > 0]
        return float(np.exp(np.log(effects).mean())) if len(effects) else math.nan
    return float(effects.mean()) if len(effects) else math.nan


def summarise_power(trial: Trial, trials: pd.DataFrame) -> pd.DataFrame:
    """Per size (``power_columns``): power with its Wilson interval, the mean effect, events, durations, feasibility.

    Single-arm: the critical count r of the exact test, its exact size at p0 and power at p1, the
    simulated probability of declaring activity, the mean response rate and the exact power at it.
    """
    rows: list[tuple[object, ...]] = []
    for n, group in trials.groupby("patients_per_arm", sort=True):
        k, total = int(group["reject"].sum()), len(group)
        low, high = wilson(k, total)
        durations = _durations(trial, group["duration_weeks"].to_numpy(dtype=float))
        if trial.single_arm:
            assert trial.p0 is not None
            r = critical_count(int(n), trial.p0, trial.alpha)
            rate = float(group["responses"].mean()) / int(n)
            at_p1 = math.nan if trial.p1 is None else binomial_tail(r, int(n), trial.p1)
            rows.append((int(n), r, binomial_tail(r, int(n), trial.p0), at_p1, k / total, low, high, rate,
                         binomial_tail(r, int(n), rate), *durations))
            continue
        row: list[object] = [int(n), k / total, low, high,
                             _mean_effect(trial, group[trial.effect_column].to_numpy(dtype=float))]
        if trial.kind == "time_to_event":
            row.append(float(group["events"].mean()))
        row += list(durations)
        if trial.interim is not None:
            row += [float(group["patients_enrolled"].mean()), float(group["reject_without_interim"].mean())]
        rows.append(tuple(row))
    return pd.DataFrame(rows, columns=power_columns(trial))


def looks_table(trial: Trial, trials: pd.DataFrame) -> pd.DataFrame:
    """Per size and planned look of a group-sequential design: its boundary at the planned fraction, and the
    probability that the trial ends there (with its interval), crosses the boundary there, and when."""
    assert trial.interim is not None
    z, nominal = planned_boundaries(trial)
    rows = []
    for n, group in trials.groupby("patients_per_arm", sort=True):
        total = len(group)
        for k, fraction in enumerate(trial.interim.looks, start=1):
            here = group[group["look"] == k]
            low, high = wilson(len(here), total)
            weeks = here["duration_weeks"].to_numpy(dtype=float)
            rows.append((int(n), k, float(fraction), float(z[k - 1]), float(nominal[k - 1]), len(here) / total, low,
                         high, float(here["reject"].sum()) / total, float(weeks.mean()) if len(weeks) else math.nan))
    return pd.DataFrame(rows, columns=["patients_per_arm", "look", "information_fraction", "boundary_z", "nominal_p",
                                       "stop_probability", "stop_ci_low", "stop_ci_high", "efficacy_probability",
                                       "mean_week"])


def simon_table(trial: Trial, designs: tuple[SimonDesign, SimonDesign], simon: pd.DataFrame) -> pd.DataFrame:
    """Per Simon design (``SIMON_COLUMNS``): its rule and exact characteristics at p0 and p1, and its operating
    characteristics under the pathway model from the simulated trials, beside the exact binomial ones at the
    model's response rate."""
    rows = []
    for design in designs:
        group = simon[simon["criterion"] == design.criterion]
        total = len(group)
        stopped = int(group["stopped_early"].sum())
        active = int(group["declared_active"].sum())
        pet_low, pet_high = wilson(stopped, total)
        active_low, active_high = wilson(active, total)
        rate = float(group["total_responses"].mean()) / design.n
        exact = operating_characteristics(design, [rate, design.p1])
        second = design.n - design.n1
        rows.append((design.criterion, design.criterion == trial.simon, design.r1, design.n1, design.r, design.n,
                     design.alpha, design.power, design.pet0, float(exact.pet[1]), design.en0, rate, stopped / total,
                     pet_low, pet_high,
                     float(group["patients"].mean()), design.n - second * pet_high, design.n - second * pet_low,
                     active / total, active_low, active_high, float(exact.pet[0]), float(exact.p_declare_active[0]),
                     *_durations(trial, group["duration_weeks"].to_numpy(dtype=float))))
    return pd.DataFrame(rows, columns=SIMON_COLUMNS)


def smallest_size(power: pd.DataFrame, target: float) -> int | None:
    """The smallest size whose whole 95% interval of power lies at or above the target, or None."""
    reached = power[power["ci_low"] >= target]
    return int(reached["patients_per_arm"].iloc[0]) if len(reached) else None


def point_reaching(power: pd.DataFrame, target: float) -> int | None:
    """The smallest size whose estimated power (the point estimate) reaches the target, or None."""
    reached = power[power["power"] >= target]
    return int(reached["patients_per_arm"].iloc[0]) if len(reached) else None


@dataclass(frozen=True)
class Summaries:
    """The tables summarising the simulated trials: ``power`` per size, ``looks`` per size and look of a
    group-sequential design, ``simon`` per Simon design of a single-arm plan."""

    power: pd.DataFrame
    looks: pd.DataFrame | None = None
    simon: pd.DataFrame | None = None


def summarise(trial: Trial, designs: tuple[SimonDesign, SimonDesign] | None, trials: pd.DataFrame,
              simon_trials: pd.DataFrame | None) -> Summaries:
    """Every summary table of a plan's simulated trials."""
    looks = looks_table(trial, trials) if trial.interim is not None else None
    simon = None
    if designs is not None:
        assert simon_trials is not None
        simon = simon_table(trial, designs, simon_trials)
    return Summaries(summarise_power(trial, trials), looks, simon)
