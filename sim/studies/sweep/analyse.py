"""A sweep's tables from its point records (SALib's analyse step): means, paired differences, noise and indices.

Intervals are 95% Student-t intervals over replications; differences are paired by replication
(every point and arm shares its random numbers).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.outcomes import OUTCOMES
from sim.spec.economics import Economics
from sim.spec.sweep import SAMPLED_METHODS
from sim.stats.summary import mean_interval
from sim.studies.sweep.design import Design, design_seed
from sim.studies.sweep.economics import NET_BENEFIT, PsaEconomics, psa_economics, with_net_benefit

__all__ = ["TORNADO_COLUMNS", "SweepTables", "analyse", "drawn_quantities"]

@dataclass
class SweepTables:
    """The tables of a sweep folder, derived from its saved points."""

    sweep: pd.DataFrame
    tornado: pd.DataFrame | None = None
    sensitivity: pd.DataFrame | None = None
    psa: pd.DataFrame | None = None
    noise: pd.DataFrame = field(default_factory=pd.DataFrame)
    economics: PsaEconomics | None = None
    outcomes: list[str] = field(default_factory=list)
    """The outcomes reported: the sweep's, and net monetary benefit when the base scenario has economics."""


def _stack(records: Sequence[dict[str, Any]], arms: list[str], outcomes: list[str]) -> np.ndarray:
    """Replication means as an array [point, arm, outcome, replication]."""
    return np.array([[[record["means"][arm][o] for o in outcomes] for arm in arms] for record in records], dtype=float)


def _half(low: float, high: float) -> float:
    return (high - low) / 2 if math.isfinite(low) and math.isfinite(high) else math.nan


def analyse(the_design: Design, records: Sequence[dict[str, Any]], arms: list[str], reference_arm: str,
            outcomes: list[str], economics: Economics | None = None, patients_per_arm: int = 1) -> SweepTables:
    """The sweep's tables from its point records (in point order).

    Intervals are 95% Student-t intervals over replications; differences are paired by replication
    (every point and arm shares its random numbers). With ``economics`` (the base scenario's), net
    monetary benefit at the primary threshold is reported as one more outcome, and a PSA gains its
    economic tables (``patients_per_arm``: the cohort behind each point's means).
    """
    values = _stack(records, arms, outcomes)  # point, arm, outcome, replication
    values, outcomes = with_net_benefit(values, outcomes, economics)
    ref = arms.index(reference_arm)
    rows = []
    design_table = the_design.table()
    for i in range(len(records)):
        keys = design_table.iloc[i].to_dict()
        for a, arm in enumerate(arms):
            row: dict[str, Any] = {**keys, "arm": arm}
            for o, outcome in enumerate(outcomes):
                mean, low, high = mean_interval(values[i, a, o])
                if a == ref:
                    difference = d_low = d_high = math.nan
                else:
                    difference, d_low, d_high = mean_interval(values[i, a, o] - values[i, ref, o])
                row.update({f"{outcome}_mean": mean, f"{outcome}_ci_low": low, f"{outcome}_ci_high": high,
                            f"{outcome}_difference": difference, f"{outcome}_difference_ci_low": d_low,
                            f"{outcome}_difference_ci_high": d_high})
            rows.append(row)
    sweep_table = pd.DataFrame(rows)
    sweep_table["point"] = sweep_table["point"].astype(int)
    tables = SweepTables(sweep=sweep_table, noise=_noise(the_design, values, arms, ref, outcomes), outcomes=outcomes)
    if the_design.method == "one_way":
        tables.tornado = _tornado(the_design, values, arms, ref, outcomes)
    elif the_design.method in ("sobol", "morris"):
        tables.sensitivity = _sensitivity(the_design, values, arms, ref, outcomes, tables.noise)
    elif the_design.method == "psa":
        tables.psa = _psa(values, arms, ref, outcomes, tables.noise)
        if economics is not None and NET_BENEFIT in outcomes and len(arms) > 1:
            tables.economics = psa_economics(the_design, records, arms, reference_arm, economics, patients_per_arm)
    return tables


def _quantities(values: np.ndarray, arms: list[str], ref: int) -> list[tuple[str, str, np.ndarray]]:
    """(arm, measure, [point, outcome, replication]) for each arm's mean and each difference from the reference."""
    out = [(arm, "mean", values[:, a]) for a, arm in enumerate(arms)]
    out += [(arm, "difference", values[:, a] - values[:, ref]) for a, arm in enumerate(arms) if a != ref]
    return out


def drawn_quantities(values: np.ndarray, arms: list[str], ref: int) -> list[tuple[str, str, np.ndarray]]:
    """What a sweep's figures draw: each arm's difference from the reference, or with one arm its own mean."""
    if len(arms) == 1:
        return [(arms[0], "mean", values[:, 0])]
    return [(arm, "difference", values[:, a] - values[:, ref]) for a, arm in enumerate(arms) if a != ref]


def _paired_half_width(change: np.ndarray) -> float:
    """Half-width of the 95% interval of a mean change over replications (paired by replication)."""
    _, low, high = mean_interval(change)
    return _half(low, high)


def _noise(the_design: Design, values: np.ndarray, arms: list[str], ref: int, outcomes: list[str]) -> pd.DataFrame:
    """Replication noise of each reported quantity.

    ``half_width``: the half-width of the 95% interval of the quantity at the base point (one_way),
    else its median over points. ``paired_half_width`` (one_way only): the median, over every
    point other than the base, of the half-width of the 95% interval of the change from the base
    point, paired by replication (common random numbers): the noise of a tornado bar.
    ``noise_variance_share``: the mean squared standard error of the point means over the variance
    of the point means across a sampled design (lhs, sobol, morris, psa); near 1, the spread between
    points is mostly replication noise (more replications needed).
    """
    from scipy import stats

    replications = values.shape[-1]
    t = float(stats.t.ppf(0.975, replications - 1))
    one_way = the_design.method == "one_way"
    rows = []
    for arm, measure, q in _quantities(values, arms, ref):
        for o, outcome in enumerate(outcomes):
            y = q[:, o, :]
            se = y.std(axis=1, ddof=1) / math.sqrt(replications)
            half = t * (se[0] if one_way else float(np.median(se)))
            means = y.mean(axis=1)
            spread = float(means.var(ddof=1)) if the_design.method in SAMPLED_METHODS and len(means) > 1 else math.nan
            share = float(np.mean(se**2)) / spread if spread > 0 else math.nan
            row = {"outcome": outcome, "arm": arm, "measure": measure, "half_width": float(half)}
            if one_way:
                paired = [_paired_half_width(y[i] - y[0]) for i in range(1, len(y))]
                row["paired_half_width"] = float(np.median(paired)) if paired else math.nan
            row["noise_variance_share"] = share
            rows.append(row)
    columns = ["outcome", "arm", "measure", "half_width", *(["paired_half_width"] if one_way else []),
               "noise_variance_share"]
    return pd.DataFrame(rows, columns=columns)


TORNADO_COLUMNS = ["outcome", "arm", "measure", "parameter", "label", "base_value", "low_value", "high_value",
                   "at_base", "at_low", "at_high", "swing", "change_low_to_high", "change_ci_low", "change_ci_high",
                   "noise_at_low", "noise_at_high", "base_half_width"]


def _tornado(the_design: Design, values: np.ndarray, arms: list[str], ref: int, outcomes: list[str]) -> pd.DataFrame:
    """One-way effects on each drawn quantity (difference from the reference, or a single arm's own mean),
    sorted by swing within each panel.

    Every change is paired by replication (common random numbers): ``noise_at_low`` and
    ``noise_at_high`` are the half-widths of the 95% intervals of the changes from the base point to
    the low and to the high point (the noise of each bar), and the change from low to high has its
    own interval. ``base_half_width`` is the half-width of the 95% interval of the quantity itself at
    the base point (the precision of its level, not of a change).
    """
    rows = []
    index = {p.path: [pt.index for pt in the_design.points if pt.varied == p.path] for p in the_design.parameters}
    for o, outcome in enumerate(outcomes):
        for arm, measure, q in drawn_quantities(values, arms, ref):
            y = q[:, o, :]  # point, replication
            base, base_low, base_high = mean_interval(y[0])
            panel = []
            for j, p in enumerate(the_design.parameters):
                low_point, high_point = index[p.path][0], index[p.path][-1]
                at_low, at_high = y[low_point], y[high_point]
                _, s_low, s_high = mean_interval(at_high - at_low)
                panel.append({"outcome": outcome, "arm": arm, "measure": measure, "parameter": p.path,
                              "label": p.label, "base_value": p.base_value if p.base_value is not None else math.nan,
                              "low_value": the_design.matrix[low_point, j],
                              "high_value": the_design.matrix[high_point, j],
                              "at_base": base, "at_low": float(at_low.mean()), "at_high": float(at_high.mean()),
                              "swing": float(abs(at_high.mean() - at_low.mean())),
                              "change_low_to_high": float(at_high.mean() - at_low.mean()),
                              "change_ci_low": s_low, "change_ci_high": s_high,
                              "noise_at_low": _paired_half_width(at_low - y[0]),
                              "noise_at_high": _paired_half_width(at_high - y[0]),
                              "base_half_width": _half(base_low, base_high)})
            panel.sort(key=lambda r: -r["swing"])
            rows.extend(panel)
    return pd.DataFrame(rows, columns=TORNADO_COLUMNS)


def _sensitivity(the_design: Design, values: np.ndarray, arms: list[str], ref: int, outcomes: list[str],
                 noise: pd.DataFrame) -> pd.DataFrame:
    """Sobol indices (S1, ST with intervals) or Morris measures of each arm's mean and each difference."""
    problem = the_design.problem
    assert problem is not None
    rows = []
    share = noise.set_index(["outcome", "arm", "measure"])["noise_variance_share"]
    seed = design_seed(the_design.seed, "sweep:analysis")
    for o, outcome in enumerate(outcomes):
        for arm, measure, q in _quantities(values, arms, ref):
            y = q[:, o, :].mean(axis=1)
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                if the_design.method == "sobol":
                    from SALib.analyze import sobol as sobol_analyze

                    result = sobol_analyze.analyze(problem, y, calc_second_order=False, num_resamples=200,
                                                   conf_level=0.95, seed=seed)
                    keys = ("S1", "S1_conf", "ST", "ST_conf")
                else:
                    from SALib.analyze import morris as morris_analyze

                    result = morris_analyze.analyze(problem, the_design.matrix, y, num_resamples=200,
                                                     conf_level=0.95, num_levels=the_design.levels, seed=seed)
                    keys = ("mu", "mu_star", "mu_star_conf", "sigma")
            for j, p in enumerate(the_design.parameters):
                row: dict[str, Any] = {"outcome": outcome, "arm": arm, "measure": measure, "parameter": p.path,
                                       "label": p.label}
                row.update({k: float(np.asarray(result[k])[j]) for k in keys})
                row["noise_variance_share"] = float(share[(outcome, arm, measure)])
                rows.append(row)
    return pd.DataFrame(rows)


def _psa(values: np.ndarray, arms: list[str], ref: int, outcomes: list[str], noise: pd.DataFrame) -> pd.DataFrame:
    """Per outcome and arm: the distribution of the arm's mean across draws (2.5th, 50th and 97.5th
    percentiles), the chance of being best (exact 95% interval over draws) and the distribution of the
    difference from the reference across draws."""
    from scipy import stats

    share = noise.set_index(["outcome", "arm", "measure"])["noise_variance_share"]
    rows = []
    draws = values.shape[0]
    for o, outcome in enumerate(outcomes):
        means = values[:, :, o, :].mean(axis=2)  # point, arm
        best = np.argmax(OUTCOMES[outcome].better * means, axis=1)
        for a, arm in enumerate(arms):
            wins = int((best == a).sum())
            interval = stats.binomtest(wins, draws).proportion_ci(confidence_level=0.95, method="exact")
            row: dict[str, Any] = {"outcome": outcome, "arm": arm,
                                   "mean_p2_5": float(np.quantile(means[:, a], 0.025)),
                                   "mean_p50": float(np.quantile(means[:, a], 0.5)),
                                   "mean_p97_5": float(np.quantile(means[:, a], 0.975)),
                                   "probability_best": wins / draws,
                                   "probability_best_ci_low": float(interval.low),
                                   "probability_best_ci_high": float(interval.high)}
            if a == ref:
                row.update({k: math.nan for k in ("mean_difference", "difference_p2_5", "difference_p50",
                                                  "difference_p97_5", "probability_better", "noise_variance_share")})
            else:
                d = means[:, a] - means[:, ref]
                row.update({"mean_difference": float(d.mean()),
                            "difference_p2_5": float(np.quantile(d, 0.025)),
                            "difference_p50": float(np.quantile(d, 0.5)),
                            "difference_p97_5": float(np.quantile(d, 0.975)),
                            "probability_better": float(np.mean(OUTCOMES[outcome].better * d > 0)),
                            "noise_variance_share": float(share[(outcome, arm, "difference")])})
            rows.append(row)
    return pd.DataFrame(rows)
