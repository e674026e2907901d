"""Sensitivity sweeps over a base scenario: design, run and analyse, with common random numbers.

A sweep file names a ``base`` scenario (relative to the sweep file) and a ``sweep`` section. As in
SALib, three steps:

- :func:`design` expands the sweep into points, before anything runs. A point is the base scenario
  with some numeric values replaced (by dotted path). Every point is validated like a scenario file.
- :func:`simulate_point` runs one point: every arm, replications ``0 .. R-1``, with the base seed.
  All points and arms therefore share their random numbers, so differences between arms and
  between points are paired and one-way curves are smooth.
- :func:`analyse` turns the saved point records into the folder's tables.

:func:`run_command` is the ``python run.py SWEEP.yaml`` job: it writes into
``results/<name>/<run id>.partial/``, saves each point as soon as it is back
(``points/NNNNNN.json``, atomically), and renames the folder without ``.partial`` only when
everything is written; ``--resume`` finishes an interrupted sweep from its saved points.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import json
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    TypeAdapter,
    ValidationError,
)

from sim.analysis import mean_interval
from sim.engine.streams import purpose_key
from sim.outcomes import OUTCOMES
from sim.results import write_text_atomic
from sim.spec.base import ScenarioError
from sim.spec.distributions import BetaPrior, GammaPrior, LognormalPrior, NormalPrior, TriangularPrior, UniformPrior
from sim.spec.errors import describe_errors
from sim.spec.load import apply_overrides, load_scenario, read_yaml, validate_scenario
from sim.spec.paths import leaf, parse_set_option
from sim.spec.scenario import Scenario
from sim.spec.sweep import (
    EXPECTED,
    METHODS,
    SAMPLED_METHODS,
    ParameterSpec,
    Range,
    Sweep,
    SweepFile,
    Values,
    consistency,
    spec_kind,
)

__all__ = [
    "OUTCOMES",
    "Design",
    "Point",
    "Sweep",
    "SweepFile",
    "SweepTables",
    "analyse",
    "design",
    "open_folder",
    "prepare",
    "read_folder",
    "redraw_folder",
    "run_command",
    "run_sweep",
    "simulate_point",
]

# --- outcomes ------------------------------------------------------------------------------------


REPORT_POINTS = 60
"""A grid or Latin hypercube of at most this many points is tabulated point by point in ``report.md``."""

UNSWEPT = {"seed": "every point uses the base seed (common random numbers)",
           "replications": "every point uses the sweep's replications"}

# --- the sweep section: a typed, frozen schema -----------------------------------------------------


# --- reading sweep files -------------------------------------------------------------------------


# --- design --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One swept value: its dotted path, label, specification and base value (None when unset)."""

    path: str
    label: str
    spec: Any
    base_value: float | None
    integer: bool


@dataclass(frozen=True)
class Point:
    """One point of a design: the values it replaces in the base scenario."""

    index: int
    overrides: tuple[tuple[str, float], ...]
    varied: str | None = None  # one_way: the parameter moved from its base value (None: the base point)


@dataclass(frozen=True)
class Design:
    """A sweep expanded into points, with what SALib needs to analyse it."""

    method: str
    parameters: tuple[Parameter, ...]
    points: tuple[Point, ...]
    matrix: np.ndarray  # point x parameter values (NaN for an unset base value)
    problem: dict[str, Any] | None = None  # SALib problem (sobol, morris)
    seed: int = 0
    levels: int = 0

    def table(self) -> pd.DataFrame:
        """The design as a table: point, (varied,) and one column per parameter."""
        frame = pd.DataFrame({"point": [p.index for p in self.points]})
        if self.method == "one_way":
            frame["varied"] = [p.varied or "" for p in self.points]
        for j, parameter in enumerate(self.parameters):
            frame[parameter.path] = self.matrix[:, j]
        return frame


def _default_label(path: str) -> str:
    return path.removeprefix("therapies.")


def _design_seed(seed: int, purpose: str) -> int:
    """A 32-bit seed for one design purpose, derived from the scenario seed and the purpose's name."""
    return int(np.random.SeedSequence([seed, purpose_key(purpose)]).generate_state(1)[0])


def _path_problem(path: str, data: dict[str, Any], method: str | None) -> tuple[str | None, Any]:
    """Why a dotted path cannot be swept in a resolved base scenario (None if it can), and its base value."""
    head = path.split(".")[0]
    if head in UNSWEPT:
        return f"cannot be swept: {UNSWEPT[head]}", None
    found, value, why = leaf(data, path)
    if not found:
        return f"not a value of the base scenario: {why}", None
    if isinstance(value, bool) or not (value is None or isinstance(value, (int, float))):
        kinds = {dict: "a mapping", list: "a list", str: "text", bool: "a true/false value"}
        return f"not a number in the base scenario (it is {kinds.get(type(value), 'no number')})", None
    if isinstance(value, int) and method in SAMPLED_METHODS:
        return (f"a whole number (base value {value}); {method} samples fractions: sweep it with grid or "
                f"one_way"), None
    return None, value


def parameters_of(sweep: Sweep, base: Scenario, where: str = "") -> tuple[Parameter, ...]:
    """The swept parameters with their base values; raises ScenarioError for a path that is no number."""
    data = base.model_dump(mode="json")
    problems = []
    out = []
    for path, spec in sweep.parameters.items():
        problem, value = _path_problem(path, data, sweep.method)
        if problem is not None:
            problems.append(f"error: {where}: sweep.parameters.{path}: {problem}")
            continue
        out.append(Parameter(path, spec.label or _default_label(path), spec, value, isinstance(value, int)))
    if problems:
        raise ScenarioError(problems)
    return tuple(out)


def _prior_ppf(spec: Any, u: np.ndarray) -> np.ndarray:
    """Values of an uncertainty distribution at the uniforms ``u`` (inverse CDF)."""
    from scipy import stats

    if isinstance(spec, BetaPrior):
        return stats.beta(spec.alpha, spec.beta).ppf(u)
    if isinstance(spec, NormalPrior):
        return stats.norm(spec.mean, spec.sd).ppf(u)
    if isinstance(spec, GammaPrior):
        return stats.gamma((spec.mean / spec.sd) ** 2, scale=spec.sd**2 / spec.mean).ppf(u)
    if isinstance(spec, LognormalPrior):
        return stats.lognorm(spec.sigma, scale=spec.median).ppf(u)
    if isinstance(spec, UniformPrior):
        return spec.low + (spec.high - spec.low) * u
    if isinstance(spec, TriangularPrior):
        width = spec.high - spec.low
        return stats.triang((spec.mode - spec.low) / width, loc=spec.low, scale=width).ppf(u)
    raise TypeError(f"not an uncertainty distribution: {spec!r}")


def design(sweep: Sweep, parameters: Sequence[Parameter], seed: int) -> Design:
    """Expand a sweep into its points (nothing runs). Sampled designs are seeded from ``seed``.

    grid: every combination of the values, the first parameter varying slowest. one_way: the base
    point, then each parameter from low to high in ``levels`` equal steps, the others at base.
    lhs: a Latin hypercube in the ranges. sobol, morris: SALib's samples. psa: each parameter drawn
    by inverse CDF from its uncertainty distribution.
    """
    params = tuple(parameters)
    d = len(params)
    base_row = np.array([math.nan if p.base_value is None else float(p.base_value) for p in params])
    problem = None
    varied: list[str | None] = []
    design_seed = _design_seed(seed, f"sweep:{sweep.method}")
    n = sweep.samples or 0
    if sweep.method == "grid":
        matrix = np.array(list(itertools.product(*(p.spec.values for p in params))), dtype=float).reshape(-1, d)
    elif sweep.method == "one_way":
        rows = [base_row]
        varied.append(None)
        for j, p in enumerate(params):
            for value in np.linspace(p.spec.low, p.spec.high, sweep.level_count):
                row = base_row.copy()
                # 12 significant digits: a level between decimal ends is the decimal it stands for
                # (0.45, not 0.44999999999999996), so a level at the base value is exactly the base point
                row[j] = float(f"{value:.12g}")
                rows.append(row)
                varied.append(p.path)
        matrix = np.array(rows)
    elif sweep.method == "lhs":
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=d, rng=np.random.default_rng(design_seed)).random(n)
        matrix = qmc.scale(unit, [p.spec.low for p in params], [p.spec.high for p in params]).reshape(n, d)
    elif sweep.method in ("sobol", "morris"):
        problem = {"num_vars": d, "names": [p.path for p in params],
                   "bounds": [[p.spec.low, p.spec.high] for p in params]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if sweep.method == "sobol":
                from SALib.sample import sobol as sobol_sample

                matrix = sobol_sample.sample(problem, n, calc_second_order=False, seed=design_seed)
            else:
                from SALib.sample import morris as morris_sample

                matrix = morris_sample.sample(problem, n, num_levels=sweep.level_count, seed=design_seed)
        matrix = np.asarray(matrix, dtype=float).reshape(-1, d)
    elif sweep.method == "psa":
        unit = np.random.default_rng(design_seed).random((n, d))
        matrix = np.column_stack([_prior_ppf(p.spec, unit[:, j]) for j, p in enumerate(params)]).reshape(n, d)
    else:  # pragma: no cover - the schema allows no other method
        raise ValueError(sweep.method)
    points = []
    for i, row in enumerate(matrix):
        if sweep.method == "one_way":
            name = varied[i]
            columns = [j for j, p in enumerate(params) if p.path == name]
        else:
            name, columns = None, list(range(d))
        overrides = tuple((params[j].path, _number(row[j], params[j].integer)) for j in columns)
        points.append(Point(i, overrides, name))
    return Design(sweep.method, params, tuple(points), matrix, problem, design_seed, sweep.level_count)


def _number(value: float, integer: bool) -> float:
    """A design value as written into a scenario: a whole number stays a whole number."""
    value = float(value)
    return int(value) if integer and value.is_integer() else value  # type: ignore[return-value]


# --- checking a design before anything runs ------------------------------------------------------


def _scenario_problems(where: Path, data: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems of a scenario mapping as (dotted path, message)."""
    try:
        validate_scenario(where, data)
    except ScenarioError as err:
        prefix = f"error: {where}: "
        out = []
        for line in err.problems:
            dotted, _, message = line.removeprefix(prefix).partition(": ")
            out.append((dotted, message))
        return out
    return []


def _extreme_problems(sweep_path: Path, data: dict[str, Any], path: str, spec: Any, integer: bool) -> list[str]:
    """Problems of the base scenario with one parameter at each of its extreme values (others at base)."""
    if isinstance(spec, Values):
        ends = [(f"values.{i}", v) for i, v in enumerate(spec.values)]
    elif isinstance(spec, (Range, UniformPrior, TriangularPrior)):
        ends = [("low", spec.low), ("high", spec.high)]
    else:
        ends = []
    where = Path("<point>")
    problems = []
    for key, value in ends:
        candidate = apply_overrides(where, data, [(path, _number(value, integer))])
        for dotted, message in _scenario_problems(where, candidate):
            detail = message if dotted == path else f"{dotted}: {message}"
            problems.append(f"error: {sweep_path}: sweep.parameters.{path}.{key}: {detail}")
    return problems


def _point_problems(sweep_path: Path, data: dict[str, Any], the_design: Design) -> list[str]:
    """Problems of the design's points, grouped by where they arise: how many points, and the first."""
    where = Path("<point>")
    failures: dict[tuple[str, str], list[int]] = {}
    first: dict[tuple[str, str], str] = {}
    paths = {p.path for p in the_design.parameters}
    for point in the_design.points:
        candidate = apply_overrides(where, data, list(point.overrides))
        for dotted, message in _scenario_problems(where, candidate):
            owners = [p for p in paths if p == dotted or p.startswith(dotted + ".") or dotted.startswith(p + ".")]
            key = f"sweep.parameters.{owners[0]}" if len(owners) == 1 else "sweep.parameters"
            group = (key, dotted if dotted not in paths else "")
            failures.setdefault(group, []).append(point.index)
            first.setdefault(group, message)
    total = len(the_design.points)
    problems = []
    for (key, dotted), indices in failures.items():
        inside = f"{dotted}: " if dotted else ""
        problems.append(f"error: {sweep_path}: {key}: {len(indices)} of {total} points give an invalid scenario, "
                        f"e.g. point {indices[0]}: {inside}{first[(key, dotted)]}")
    return problems


def check_design(sweep_path: Path, base: Scenario, the_design: Design) -> list[str]:
    """Every problem of a design, as ``error: FILE: sweep.parameters.PATH...: message`` lines.

    First each parameter alone at its extreme values (range ends, grid values, bounded supports),
    then every point of the design.
    """
    data = base.model_dump(mode="json")
    problems: list[str] = []
    for p in the_design.parameters:
        problems.extend(_extreme_problems(sweep_path, data, p.path, p.spec, p.integer))
    if problems:
        return list(dict.fromkeys(problems))
    return _point_problems(sweep_path, data, the_design)


# --- running points ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointJob:
    """What every point shares: the resolved base scenario, replications and outcomes."""

    base: dict[str, Any]
    replications: int
    outcomes: tuple[str, ...]


def point_scenario(job: PointJob, point: Point) -> Scenario:
    """The scenario of one point: the base with the point's values and the sweep's replications."""
    where = Path(f"<sweep point {point.index}>")
    data = apply_overrides(where, job.base, [*point.overrides, ("replications", job.replications)])
    return validate_scenario(where, data)


def simulate_point(job: PointJob, point: Point) -> dict[str, Any]:
    """Simulate every arm of one point in replications 0..R-1: the per-replication mean of each outcome.

    Returns the point's record: ``{"point", "values", "replications", "means": {arm: {outcome: [R
    means]}}}``. A pure function of its arguments, so it gives the same record wherever it runs.
    """
    from sim.engine.simulate import simulate

    scenario = point_scenario(job, point)
    means: dict[str, dict[str, list[float]]] = {arm: {o: [] for o in job.outcomes} for arm in scenario.arms}
    for replication in range(job.replications):
        for arm in scenario.arms:
            patients = simulate(scenario, arm, replication, log_events=False).patients
            for outcome in job.outcomes:
                means[arm][outcome].append(float(np.mean(np.asarray(patients[outcome], dtype=float))))
    return {"point": point.index, "values": dict(point.overrides), "replications": job.replications,
            "means": means}


# --- analysis ------------------------------------------------------------------------------------


@dataclass
class SweepTables:
    """The tables of a sweep folder, derived from its saved points."""

    sweep: pd.DataFrame
    tornado: pd.DataFrame | None = None
    sensitivity: pd.DataFrame | None = None
    psa: pd.DataFrame | None = None
    noise: pd.DataFrame = field(default_factory=pd.DataFrame)


def _stack(records: Sequence[dict[str, Any]], arms: list[str], outcomes: list[str]) -> np.ndarray:
    """Replication means as an array [point, arm, outcome, replication]."""
    return np.array([[[record["means"][arm][o] for o in outcomes] for arm in arms] for record in records], dtype=float)


def _half(low: float, high: float) -> float:
    return (high - low) / 2 if math.isfinite(low) and math.isfinite(high) else math.nan


def analyse(the_design: Design, records: Sequence[dict[str, Any]], arms: list[str], reference_arm: str,
            outcomes: list[str]) -> SweepTables:
    """The sweep's tables from its point records (in point order).

    Intervals are 95% Student-t intervals over replications; differences are paired by replication
    (every point and arm shares its random numbers).
    """
    values = _stack(records, arms, outcomes)  # point, arm, outcome, replication
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
    tables = SweepTables(sweep=sweep_table, noise=_noise(the_design, values, arms, ref, outcomes))
    if the_design.method == "one_way":
        tables.tornado = _tornado(the_design, values, arms, ref, outcomes)
    elif the_design.method in ("sobol", "morris"):
        tables.sensitivity = _sensitivity(the_design, values, arms, ref, outcomes, tables.noise)
    elif the_design.method == "psa":
        tables.psa = _psa(values, arms, ref, outcomes, tables.noise)
    return tables


def _quantities(values: np.ndarray, arms: list[str], ref: int) -> list[tuple[str, str, np.ndarray]]:
    """(arm, measure, [point, outcome, replication]) for each arm's mean and each difference from the reference."""
    out = [(arm, "mean", values[:, a]) for a, arm in enumerate(arms)]
    out += [(arm, "difference", values[:, a] - values[:, ref]) for a, arm in enumerate(arms) if a != ref]
    return out


def _noise(the_design: Design, values: np.ndarray, arms: list[str], ref: int, outcomes: list[str]) -> pd.DataFrame:
    """Replication noise of each reported quantity.

    ``half_width``: the half-width of the 95% interval of the quantity at the base point (one_way),
    else its median over points. ``noise_variance_share``: the mean squared standard error of the
    point means over the variance of the point means across a sampled design (lhs, sobol, morris,
    psa); near 1, the spread between points is mostly replication noise (more replications needed).
    """
    from scipy import stats

    replications = values.shape[-1]
    t = float(stats.t.ppf(0.975, replications - 1))
    rows = []
    for arm, measure, q in _quantities(values, arms, ref):
        for o, outcome in enumerate(outcomes):
            y = q[:, o, :]
            se = y.std(axis=1, ddof=1) / math.sqrt(replications)
            half = t * (se[0] if the_design.method == "one_way" else float(np.median(se)))
            means = y.mean(axis=1)
            spread = float(means.var(ddof=1)) if the_design.method in SAMPLED_METHODS and len(means) > 1 else math.nan
            share = float(np.mean(se**2)) / spread if spread > 0 else math.nan
            rows.append({"outcome": outcome, "arm": arm, "measure": measure, "half_width": float(half),
                         "noise_variance_share": share})
    return pd.DataFrame(rows, columns=["outcome", "arm", "measure", "half_width", "noise_variance_share"])


def _tornado(the_design: Design, values: np.ndarray, arms: list[str], ref: int, outcomes: list[str]) -> pd.DataFrame:
    """One-way effects on each arm's difference from the reference, sorted by swing within each panel.

    The swing's interval is paired by replication between the low and high points (common random
    numbers), so it measures the effect against the replication noise directly.
    """
    rows = []
    index = {p.path: [pt.index for pt in the_design.points if pt.varied == p.path] for p in the_design.parameters}
    for o, outcome in enumerate(outcomes):
        for a, arm in enumerate(arms):
            if a == ref:
                continue
            difference = values[:, a, o, :] - values[:, ref, o, :]  # point, replication
            base, base_low, base_high = mean_interval(difference[0])
            panel = []
            for j, p in enumerate(the_design.parameters):
                low_point, high_point = index[p.path][0], index[p.path][-1]
                d_low, d_high = difference[low_point], difference[high_point]
                _, s_low, s_high = mean_interval(d_high - d_low)
                panel.append({"outcome": outcome, "arm": arm, "parameter": p.path, "label": p.label,
                              "base_value": p.base_value if p.base_value is not None else math.nan,
                              "low_value": the_design.matrix[low_point, j],
                              "high_value": the_design.matrix[high_point, j],
                              "difference_at_low": float(d_low.mean()), "difference_at_high": float(d_high.mean()),
                              "swing": float(abs(d_high.mean() - d_low.mean())),
                              "change_low_to_high": float(d_high.mean() - d_low.mean()),
                              "change_ci_low": s_low, "change_ci_high": s_high,
                              "base_difference": base, "noise_half_width": _half(base_low, base_high)})
            panel.sort(key=lambda r: -r["swing"])
            rows.extend(panel)
    return pd.DataFrame(rows)


def _sensitivity(the_design: Design, values: np.ndarray, arms: list[str], ref: int, outcomes: list[str],
                 noise: pd.DataFrame) -> pd.DataFrame:
    """Sobol indices (S1, ST with intervals) or Morris measures of each arm's mean and each difference."""
    problem = the_design.problem
    assert problem is not None
    rows = []
    share = noise.set_index(["outcome", "arm", "measure"])["noise_variance_share"]
    seed = _design_seed(the_design.seed, "sweep:analysis")
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
    """Per outcome and arm: the chance of being best (exact 95% interval over draws) and the distribution
    of the difference from the reference across draws."""
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
            row: dict[str, Any] = {"outcome": outcome, "arm": arm, "probability_best": wins / draws,
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


# --- the results folder --------------------------------------------------------------------------

PARTIAL = ".partial"
START_FILES = ("scenario.yaml", "sweep.yaml", "design.csv")
"""Written atomically before any point runs; a resume checks that it would write the same bytes."""


def _point_file(run_dir: Path, index: int) -> Path:
    return run_dir / "points" / f"{index:06d}.json"


def _point_text(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=False) + "\n"


def _saved_points(run_dir: Path, the_design: Design, job: PointJob) -> set[int]:
    """Points already saved in a folder and matching the design; anything else there is removed."""
    folder = run_dir / "points"
    done: set[int] = set()
    if not folder.is_dir():
        return done
    for path in folder.iterdir():
        match = re.fullmatch(r"(\d{6})\.json", path.name)
        if match is None:
            path.unlink()  # a temporary file of a point being written when the sweep stopped
            continue
        index = int(match.group(1))
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            good = (index < len(the_design.points) and record["point"] == index
                    and record["values"] == dict(the_design.points[index].overrides)
                    and record["replications"] == job.replications
                    and all(len(record["means"][arm][o]) == job.replications
                            for arm in record["means"] for o in job.outcomes))
        except (ValueError, KeyError, TypeError):
            good = False
        if good:
            done.add(index)
        else:
            path.unlink()
    return done


def _run_id(seed: int) -> str:
    return f"{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-seed{seed}"


class _FolderProblem(Exception):
    pass


def _new_folder(name: str, seed: int, out: str | None, results_root: Path) -> tuple[Path, Path]:
    """(partial, final) folders of a new sweep; the partial folder is created."""
    if out is not None:
        final = Path(out)
        if final.exists() and (not final.is_dir() or any(final.iterdir())):
            raise _FolderProblem(f"--out: {final} exists and is not an empty folder; results are never overwritten")
        partial = final.with_name(final.name + PARTIAL)
        if partial.exists():
            raise _FolderProblem(f"--out: {partial} exists: an interrupted sweep; finish it with --resume {partial}")
    else:
        parent = results_root / name
        stem = _run_id(seed)
        final, partial, suffix = parent / stem, parent / (stem + PARTIAL), 2
        while final.exists() or partial.exists():
            final, partial = parent / f"{stem}-{suffix}", parent / f"{stem}-{suffix}{PARTIAL}"
            suffix += 1
    try:
        partial.mkdir(parents=True)
        (partial / "points").mkdir()
    except OSError as err:
        raise _FolderProblem(f"{partial}: cannot create ({err.strerror})") from None
    return partial, final


def _resume_folder(run_dir: str, start_texts: dict[str, str]) -> tuple[Path, Path]:
    """(partial, final) of an interrupted sweep, checked against what this command would write."""
    partial = Path(run_dir)
    if not partial.name.endswith(PARTIAL) or not partial.is_dir():
        raise _FolderProblem(f"--resume: {partial} is not an unfinished sweep folder (a folder named *{PARTIAL})")
    final = partial.with_name(partial.name.removesuffix(PARTIAL))
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise _FolderProblem(f"--resume: {final} already exists; results are never overwritten")
    for name, text in start_texts.items():
        path = partial / name
        if not path.is_file():
            raise _FolderProblem(f"--resume: {partial} has no {name}: not a sweep folder, or stopped before it began; "
                                 f"start the sweep again")
        if path.read_text(encoding="utf-8") != text:
            raise _FolderProblem(f"--resume: {partial}/{name} differs from what this sweep file and these options "
                                 f"give; resume with the same file, --set, --seed, --patients and --replications")
    (partial / "points").mkdir(exist_ok=True)
    return partial, final


# --- writing outputs -----------------------------------------------------------------------------


def _resolved_sweep_text(sweep_file: SweepFile, name: str, replications: int) -> str:
    data = sweep_file.model_dump(mode="json", exclude_none=True)
    data["name"] = name
    data["sweep"]["replications"] = replications
    data["sweep"]["levels"] = sweep_file.sweep.level_count if sweep_file.sweep.method in ("one_way", "morris") \
        else data["sweep"].get("levels")
    if data["sweep"]["levels"] is None:
        del data["sweep"]["levels"]
    ordered = {k: data[k] for k in ("name", "description", "base", "sweep") if k in data}
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True)


def _csv(frame: pd.DataFrame) -> str:
    from sim.results import to_csv_text

    return to_csv_text(frame)


def _write_outputs(run_dir: Path, tables: SweepTables) -> None:
    write_text_atomic(run_dir / "sweep.csv", _csv(tables.sweep))
    write_text_atomic(run_dir / "noise.csv", _csv(tables.noise))
    for name, frame in (("tornado.csv", tables.tornado), ("sensitivity.csv", tables.sensitivity),
                        ("psa.csv", tables.psa)):
        if frame is not None:
            write_text_atomic(run_dir / name, _csv(frame))


def _parameter_unit(path: str) -> str:
    leaf = path.split(".")[-1]
    if leaf.endswith("probability") or leaf == "share":
        return "probability"
    if leaf.endswith("_per_year"):
        return "per year"
    if leaf == "dose_mg_per_day":
        return "mg/day"
    if leaf == "sigma":
        return "log-scale SD"
    if leaf in ("weeks", "maintenance_weeks", "follow_up_weeks", "assessment_week", "median", "mean", "sd", "low",
                "high", "mode", "value", "scale"):
        return "weeks"
    return ""


def _axis_label(p: Parameter) -> str:
    unit = _parameter_unit(p.path)
    return f"{p.label} ({unit})" if unit else p.label


def draw_figures(run_dir: Path, the_design: Design, tables: SweepTables, arms: list[str], reference_arm: str,
                 outcomes: list[str]) -> list[Path]:
    """Draw the sweep's figures into ``run_dir/figures``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim import sweep_plots as sp

    figures = run_dir / "figures"
    figures.mkdir(exist_ok=True)
    colours = sp.arm_colours(arms)
    others = [arm for arm in arms if arm != reference_arm]
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = figures / name
        temporary = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
        fig.savefig(temporary, dpi=110, metadata={"Software": None})
        plt.close(fig)
        os.replace(temporary, path)
        written.append(path)

    sweep_table = tables.sweep
    method = the_design.method
    for outcome in outcomes:
        info = OUTCOMES[outcome]
        diff_label = f"difference vs {reference_arm} ({info.difference_unit})"
        if method == "one_way" and tables.tornado is not None and others:
            height = 0.7 * len(the_design.parameters) + 2.2
            fig, axes = plt.subplots(1, len(others), figsize=(6.5 * len(others), height), squeeze=False)
            for ax, arm in zip(axes[0], others, strict=True):
                rows = tables.tornado[(tables.tornado["outcome"] == outcome) & (tables.tornado["arm"] == arm)]
                sp.tornado(rows, scale=info.scale, ax=ax)
                ax.set_title(f"{arm} − {reference_arm}")
                ax.set_xlabel(diff_label)
            fig.suptitle(f"One-way sensitivity of {info.label.lower()}: each parameter from low to high, others at "
                         f"base\n(bars sorted by swing; grey band: replication noise, 95% CI half-width at base)",
                         fontsize="medium")
            fig.tight_layout()
            save(fig, f"tornado_{outcome}.png")
            params = the_design.parameters
            columns = min(3, len(params))
            nrows = math.ceil(len(params) / columns)
            fig, axes = plt.subplots(nrows, columns, figsize=(4.6 * columns, 3.4 * nrows + 0.8), squeeze=False)
            for k, p in enumerate(params):
                ax = axes[k // columns][k % columns]
                rows = sweep_table[sweep_table["varied"] == p.path]
                sp.one_way_curve(rows, p.path, outcome, others, scale=info.scale, base_value=p.base_value,
                                 colours=colours, ax=ax)
                ax.set_xlabel(_axis_label(p))
                ax.set_ylabel(diff_label)
            for k in range(len(params), nrows * columns):
                axes[k // columns][k % columns].set_visible(False)
            fig.suptitle(f"One-way curves: {info.label.lower()}, difference vs {reference_arm} "
                         f"(mean and 95% CI over replications)", fontsize="medium")
            fig.tight_layout()
            save(fig, f"one_way_{outcome}.png")
        if method == "grid" and len(the_design.parameters) == 2 and others:
            px, py = the_design.parameters
            fig, axes = plt.subplots(1, len(others), figsize=(5.8 * len(others), 4.6), squeeze=False)
            matrices = {arm: sweep_table[sweep_table["arm"] == arm].pivot(
                index=py.path, columns=px.path, values=f"{outcome}_difference") * info.scale for arm in others}
            every = np.concatenate([m.to_numpy(dtype=float).ravel() for m in matrices.values()])
            every = every[np.isfinite(every)]
            limits = (float(every.min()), float(every.max())) if every.size else None
            for ax, arm in zip(axes[0], others, strict=True):
                sp.heat_map(matrices[arm], colour_label=diff_label, limits=limits, ax=ax)
                ax.set_title(f"{arm} − {reference_arm}")
                ax.set_xlabel(_axis_label(px))
                ax.set_ylabel(_axis_label(py))
            fig.suptitle(f"{info.label}: difference between arms over the grid (mean over replications)",
                         fontsize="medium")
            fig.tight_layout()
            save(fig, f"heatmap_{outcome}.png")
        if method == "lhs" and others:
            params = the_design.parameters
            columns = min(3, len(params))
            nrows = math.ceil(len(params) / columns)
            fig, axes = plt.subplots(nrows, columns, figsize=(4.6 * columns, 3.4 * nrows + 0.8), squeeze=False)
            for k, p in enumerate(params):
                ax = axes[k // columns][k % columns]
                sp.parameter_scatter(sweep_table, p.path, f"{outcome}_difference", others, scale=info.scale,
                                     colours=colours, ax=ax)
                ax.set_xlabel(_axis_label(p))
                ax.set_ylabel(diff_label)
            for k in range(len(params), nrows * columns):
                axes[k // columns][k % columns].set_visible(False)
            fig.suptitle(f"Latin hypercube: {info.label.lower()}, difference vs {reference_arm} at each point "
                         f"(all parameters vary together)", fontsize="medium")
            fig.tight_layout()
            save(fig, f"lhs_{outcome}.png")
        if method == "grid" and len(the_design.parameters) == 1 and others:
            p = the_design.parameters[0]
            fig, ax = plt.subplots(figsize=(6.5, 4.2))
            sp.one_way_curve(sweep_table, p.path, outcome, others, scale=info.scale, base_value=p.base_value,
                             colours=colours, ax=ax)
            ax.set_xlabel(_axis_label(p))
            ax.set_ylabel(diff_label)
            ax.set_title(f"{info.label}: difference vs {reference_arm} (mean and 95% CI)")
            fig.tight_layout()
            save(fig, f"grid_{outcome}.png")
        if method in ("sobol", "morris") and tables.sensitivity is not None:
            measure = "difference" if others else "mean"
            panels = others or arms
            height = 0.45 * len(the_design.parameters) + 2.8
            fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), height), squeeze=False, sharey=True)
            for ax, arm in zip(axes[0], panels, strict=True):
                rows = tables.sensitivity[(tables.sensitivity["outcome"] == outcome)
                                          & (tables.sensitivity["arm"] == arm)
                                          & (tables.sensitivity["measure"] == measure)]
                if method == "sobol":
                    sp.sobol_bars(rows, ax=ax)
                    ax.set_xlabel("Sobol index (share of variance)")
                else:
                    sp.morris_bars(rows, scale=info.scale, ax=ax)
                    ax.set_xlabel(f"elementary effect ({info.difference_unit} over the parameter's range)")
                ax.set_title(f"{arm} − {reference_arm}" if measure == "difference" else arm)
            what = "Sobol indices" if method == "sobol" else "Morris screening"
            fig.suptitle(f"{what}: {info.label.lower()}" + (f", difference vs {reference_arm}" if others else ""),
                         fontsize="medium")
            fig.tight_layout()
            save(fig, f"{method}_{outcome}.png")
        if method == "psa" and others:
            fig, ax = plt.subplots(figsize=(7, 4.4))
            differences = {arm: sweep_table.loc[sweep_table["arm"] == arm, f"{outcome}_difference"].to_numpy()
                           * info.scale for arm in others}
            sp.difference_histogram(differences, colours=colours, ax=ax)
            ax.set_xlabel(diff_label)
            ax.set_ylabel("parameter draws")
            ax.set_title(f"PSA: {info.label.lower()}, difference vs {reference_arm} over {len(the_design.points)} "
                         f"draws")
            fig.tight_layout()
            save(fig, f"psa_differences_{outcome}.png")
    if method == "psa" and tables.psa is not None:
        fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(outcomes) * len(arms) / 2, 4.4))
        sp.best_probability_bars(tables.psa, {o: OUTCOMES[o].label for o in outcomes}, colours=colours, ax=ax)
        ax.set_ylabel("probability of being best (%)")
        ax.set_title("PSA: probability each arm is best (95% exact CI over draws)")
        fig.tight_layout()
        save(fig, "psa_best.png")
        if others and len(outcomes) >= 2:
            x, y = ("disease_free_weeks", "dropout") if {"disease_free_weeks", "dropout"} <= set(outcomes) \
                else tuple(outcomes[:2])
            fig, ax = plt.subplots(figsize=(6.5, 5))
            frame = sweep_table[sweep_table["arm"].isin(others)]
            sp.difference_scatter(frame, f"{x}_difference", f"{y}_difference", x_scale=OUTCOMES[x].scale,
                                  y_scale=OUTCOMES[y].scale, colours=colours, ax=ax)
            ax.set_xlabel(f"{OUTCOMES[x].label.lower()}: difference vs {reference_arm} ({OUTCOMES[x].difference_unit})")
            ax.set_ylabel(f"{OUTCOMES[y].label.lower()}: difference vs {reference_arm} ({OUTCOMES[y].difference_unit})")
            ax.set_title("PSA: joint distribution of the differences (one dot per draw)")
            fig.tight_layout()
            save(fig, "psa_scatter.png")
    return written


def _fmt(value: float, digits: int = 3) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


def _markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _spec_text(spec: Any) -> str:
    if isinstance(spec, Range):
        return f"{spec.low:g} to {spec.high:g}"
    if isinstance(spec, Values):
        return ", ".join(f"{v:g}" for v in spec.values)
    fields = {k: v for k, v in spec.model_dump().items() if k not in ("distribution", "label")}
    return f"{spec.distribution}(" + ", ".join(f"{k} {v:g}" for k, v in fields.items()) + ")"


def render_report(name: str, sweep_file: SweepFile, base: Scenario, the_design: Design, tables: SweepTables,
                  figures: list[str]) -> str:
    """``report.md`` of a sweep folder: what was varied, the headline tables, the noise, the figures."""
    sweep = sweep_file.sweep
    arms, reference = base.arm_names, base.reference_arm
    lines = [f"# Sweep: {name}", ""]
    if sweep_file.description:
        lines += [sweep_file.description.strip(), ""]
    lines += [f"Base scenario `{base.name}` ({sweep_file.base}); method **{sweep.method}**, "
              f"{len(the_design.points)} points, {base.replications} replications per point of "
              f"{base.cohort.size} patients per arm; seed {base.seed}.", "",
              "Every point uses the same seed and replications 0 to "
              f"{base.replications - 1}: points and arms share their random numbers (common random numbers), so "
              "differences between arms and between points are paired by replication. Intervals are 95% Student-t "
              "intervals over replications.", "", "## Parameters", ""]
    params = pd.DataFrame([{"parameter": f"`{p.path}`", "label": p.label, "base value": _fmt(p.base_value, 4)
                            if p.base_value is not None else "(unset)", "varied over": _spec_text(p.spec)}
                           for p in the_design.parameters])
    lines += [_markdown(params), ""]
    noise = tables.noise
    lines += ["## Replication noise", "",
              ("Half-width of the 95% interval of each difference at the base point: an effect smaller than this is "
               "not distinguishable from replication noise." if sweep.method == "one_way" else
               "Median over points of the half-width of the 95% interval of each quantity; the noise share is the "
               "mean squared standard error of the point means over their variance across the design (near 1: the "
               "spread between points is mostly replication noise)."), ""]
    rows = []
    for outcome in sweep.outcomes:
        info = OUTCOMES[outcome]
        for arm in arms:
            if arm == reference:
                continue
            r = noise[(noise["outcome"] == outcome) & (noise["arm"] == arm) & (noise["measure"] == "difference")]
            if r.empty:
                continue
            row = {"outcome": info.label, "difference": f"{arm} − {reference}",
                   "noise (± 95% CI half-width)": f"{info.scale * float(r['half_width'].iloc[0]):.3g} "
                                                  f"{info.difference_unit}"}
            if sweep.method not in ("one_way", "grid"):
                row["noise share of spread"] = _fmt(float(r["noise_variance_share"].iloc[0]), 2)
            rows.append(row)
    if rows:
        lines += [_markdown(pd.DataFrame(rows)), ""]
    if sweep.method in ("grid", "lhs") and len(the_design.points) <= REPORT_POINTS and len(arms) > 1:
        lines += ["## Differences at each point", "",
                  f"Each arm minus {reference}: mean (95% interval), paired by replication.", ""]
        table = tables.sweep[tables.sweep["arm"] != reference]
        columns: dict[str, list[str]] = {"point": [], **{p.label: [] for p in the_design.parameters}}
        for point, group in table.groupby("point", sort=True):
            columns["point"].append(str(point))
            for p in the_design.parameters:
                columns[p.label].append(f"{group[p.path].iloc[0]:.4g}")
            for outcome in sweep.outcomes:
                info = OUTCOMES[outcome]
                for row in group.itertuples(index=False):
                    row_dict = row._asdict()
                    key = f"{info.label}: {row_dict['arm']} ({info.difference_unit})"
                    mean, low, high = (info.scale * row_dict[f"{outcome}_difference{s}"]
                                       for s in ("", "_ci_low", "_ci_high"))
                    columns.setdefault(key, []).append(f"{mean:.3g} ({low:.3g} to {high:.3g})")
        lines += [_markdown(pd.DataFrame(columns)), ""]
    if tables.tornado is not None and not tables.tornado.empty:
        lines += ["## One-way effects (tornado)", "",
                  "Difference from the reference arm with each parameter at its low and high value (others at base), "
                  "sorted by swing. The change from low to high is paired by replication; its interval shows whether "
                  "the swing exceeds replication noise.", ""]
        for (outcome, arm), group in tables.tornado.groupby(["outcome", "arm"], sort=False):
            info = OUTCOMES[str(outcome)]
            s = info.scale
            lines += [f"**{info.label}: {arm} − {reference}** ({info.difference_unit}; base "
                      f"{s * group['base_difference'].iloc[0]:.3g} ± {s * group['noise_half_width'].iloc[0]:.2g})", ""]
            table = pd.DataFrame({
                "parameter": group["label"], "low → high": [f"{a:.4g} → {b:.4g}" for a, b in
                                                           zip(group["low_value"], group["high_value"], strict=True)],
                "at low": [f"{s * v:.3g}" for v in group["difference_at_low"]],
                "at high": [f"{s * v:.3g}" for v in group["difference_at_high"]],
                "change (95% CI)": [f"{s * c:.3g} ({s * lo:.3g} to {s * hi:.3g})" for c, lo, hi in
                                    zip(group["change_low_to_high"], group["change_ci_low"], group["change_ci_high"],
                                        strict=True)]})
            lines += [_markdown(table), ""]
    if tables.sensitivity is not None:
        sens = tables.sensitivity[tables.sensitivity["measure"] == ("difference" if len(arms) > 1 else "mean")]
        title = "Sobol indices" if sweep.method == "sobol" else "Morris elementary effects"
        lines += [f"## {title}", "", "Of each arm's difference from the reference (all quantities in "
                                     "`sensitivity.csv`).", ""]
        for (outcome, arm), group in sens.groupby(["outcome", "arm"], sort=False):
            lines += [f"**{OUTCOMES[str(outcome)].label}: {arm}**", ""]
            if sweep.method == "sobol":
                table = pd.DataFrame({
                    "parameter": group["label"],
                    "S1 (± conf)": [f"{a:.2f} ± {b:.2f}" for a, b in zip(group["S1"], group["S1_conf"], strict=True)],
                    "ST (± conf)": [f"{a:.2f} ± {b:.2f}" for a, b in zip(group["ST"], group["ST_conf"], strict=True)]})
            else:
                s = OUTCOMES[str(outcome)].scale
                table = pd.DataFrame({"parameter": group["label"],
                                      "mu* (± conf)": [f"{s * a:.3g} ± {s * b:.2g}" for a, b in
                                                       zip(group["mu_star"], group["mu_star_conf"], strict=True)],
                                      "sigma": [f"{s * v:.3g}" for v in group["sigma"]]})
            lines += [_markdown(table), ""]
    if tables.psa is not None:
        lines += ["## Probabilistic sensitivity analysis", "",
                  f"{len(the_design.points)} draws of the parameters from their uncertainty distributions. "
                  "\"Best\": highest mean where higher is better (disease-free time, response), lowest where lower is "
                  "better (dropout, relapses, adverse events); 95% exact interval over draws.", ""]
        table = []
        for row in tables.psa.itertuples(index=False):
            info = OUTCOMES[row.outcome]
            s = info.scale
            diff = "" if math.isnan(row.mean_difference) else (
                f"{s * row.mean_difference:.3g} ({s * row.difference_p2_5:.3g} to {s * row.difference_p97_5:.3g})")
            table.append({"outcome": info.label, "arm": row.arm,
                          "P(best)": f"{100 * row.probability_best:.0f}% ({100 * row.probability_best_ci_low:.0f}"
                                     f"–{100 * row.probability_best_ci_high:.0f}%)",
                          f"difference vs {reference} (2.5–97.5%)": diff,
                          f"P(better than {reference})": "" if math.isnan(row.probability_better)
                          else f"{100 * row.probability_better:.0f}%"})
        lines += [_markdown(pd.DataFrame(table)), ""]
    if figures:
        lines += ["## Figures", ""] + [f"![{f}](figures/{f})" for f in figures] + [""]
    lines += ["## Files", "",
              "- `sweep.csv`: a row per point and arm: parameter values, each outcome's mean and 95% interval, and the "
              f"paired difference from {reference} with its interval.",
              "- `design.csv`: the points, expanded before anything ran; `points/`: each point's replication means, "
              "saved as it finished.",
              "- `noise.csv`: the replication noise of each quantity."]
    extra = {"tornado.csv": tables.tornado, "sensitivity.csv": tables.sensitivity, "psa.csv": tables.psa}
    notes = {"tornado.csv": "the one-way effects behind the tornado diagrams",
             "sensitivity.csv": "the sensitivity indices with their intervals",
             "psa.csv": "the probability each arm is best and the distribution of differences"}
    lines += [f"- `{k}`: {notes[k]}." for k, v in extra.items() if v is not None]
    lines += ["- `scenario.yaml`: the resolved base scenario; `sweep.yaml`: the resolved sweep; `run.json`: "
              "provenance.", ""]
    return "\n".join(lines)


# --- the command ---------------------------------------------------------------------------------


def _records(run_dir: Path, count: int) -> list[dict[str, Any]]:
    return [json.loads(_point_file(run_dir, i).read_text(encoding="utf-8")) for i in range(count)]


def _tables(prepared: _Prepared, records: Sequence[dict[str, Any]]) -> SweepTables:
    base = prepared.base
    return analyse(prepared.design, records, base.arm_names, base.reference_arm, list(prepared.job.outcomes))


def _write_results(run_dir: Path, prepared: _Prepared, tables: SweepTables, plots: bool) -> None:
    """Everything a sweep writes once its points are computed: tables, figures (if ``plots``) and
    ``report.md``, each file atomically."""
    base, outcomes = prepared.base, list(prepared.job.outcomes)
    _write_outputs(run_dir, tables)
    figures: list[str] = []
    if plots:
        figures = [p.name for p in draw_figures(run_dir, prepared.design, tables, base.arm_names, base.reference_arm,
                                                outcomes)]
    report = render_report(prepared.name, prepared.sweep_file, base, prepared.design, tables, figures)
    write_text_atomic(run_dir / "report.md", report)


def _progress(total: int, initial: int, name: str, show: bool) -> Any:
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=f"{name}: points", unit="point", leave=False, dynamic_ncols=True)


@dataclass
class _Prepared:
    sweep_file: SweepFile
    name: str
    base: Scenario
    design: Design
    job: PointJob
    start_texts: dict[str, str]


def _load_base(sweep_path: Path, raw: dict[str, Any], parsed: list[tuple[str, Any]],
               extra: list[tuple[str, Any]], problems: list[str]) -> Scenario | None:
    """The base scenario named by a sweep file, with the command line's changes; problems are appended."""
    base_name = raw.get("base")
    if not isinstance(base_name, str) or not base_name:
        return None  # the schema reports it
    base_path = sweep_path.parent / base_name
    if not base_path.is_file():
        problems.append(f"error: {sweep_path}: base: no such scenario file: {base_path}")
        return None
    try:
        data = apply_overrides(base_path, read_yaml(base_path), [*extra, *parsed])
        return validate_scenario(base_path, data, [p for p, _ in parsed])
    except ScenarioError as err:
        problems.extend(err.problems)
        return None


def _section_problems(sweep_path: Path, raw: dict[str, Any], base: Scenario | None,
                      schema_failed: bool) -> list[str]:
    """Problems of each parameter on its own (path, extreme values) and, when the schema failed, between
    keys, so that one run reports them all."""
    section = raw.get("sweep")
    if not isinstance(section, dict):
        return []
    parameters = section.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    method = section.get("method") if section.get("method") in METHODS else None
    problems: list[str] = []
    specs: dict[str, Any] = {}
    adapter = TypeAdapter(ParameterSpec)
    for path, spec in parameters.items():
        try:
            specs[str(path)] = adapter.validate_python(spec)
        except ValidationError:
            specs[str(path)] = None
    if schema_failed and method is not None:
        kinds = {str(p): spec_kind(v) for p, v in parameters.items()}
        levels, samples = section.get("levels"), section.get("samples")
        listed = section.get("outcomes")
        outcomes = listed if isinstance(listed, list) else []
        problems.extend(f"error: {sweep_path}: sweep.{key}: {message}"
                        for key, message in consistency(method, kinds, levels, samples, outcomes))
    if base is None:
        return problems
    data = base.model_dump(mode="json")
    for path, spec in specs.items():
        problem, value = _path_problem(path, data, method)
        if problem is not None:
            problems.append(f"error: {sweep_path}: sweep.parameters.{path}: {problem}")
        elif spec is not None and (method is None or spec_kind(spec) == EXPECTED[method][0]):
            problems.extend(_extreme_problems(sweep_path, data, path, spec, isinstance(value, int)))
    return problems


def prepare(sweep_path: str | Path, overrides: Sequence[str] = (), replications: int | None = None,
            patients: int | None = None, seed: int | None = None) -> _Prepared:
    """Read, resolve, expand and check a sweep; raises ScenarioError listing every problem."""
    from sim.results import scenario_yaml

    sweep_path = Path(sweep_path)
    problems: list[str] = []
    for option, value, least in (("--replications", replications, 2), ("--patients", patients, 1),
                                 ("--seed", seed, 0)):
        if value is not None and value < least:
            problems.append(f"error: {sweep_path}: {option}: must be at least {least}, got {value}")
    parsed: list[tuple[str, Any]] = []
    for text in overrides:
        try:
            parsed.append(parse_set_option(text))
        except ScenarioError as err:
            problems.extend(f"error: {sweep_path}: {p}" for p in err.problems)
    raw = read_yaml(sweep_path)  # a missing or unreadable file is the only problem worth reporting
    sweep_file = None
    try:
        sweep_file = SweepFile.model_validate(raw)
    except ValidationError as err:
        problems.extend(f"error: {sweep_path}: {w}: {m}" for w, m in describe_errors(err, SweepFile))
    extra = [(p, v) for p, v in (("cohort.size", patients), ("seed", seed)) if v is not None and v >= 0]
    base = _load_base(sweep_path, raw, parsed, extra, problems)
    problems.extend(_section_problems(sweep_path, raw, base, sweep_file is None))
    count = 0
    if base is not None and sweep_file is not None:
        count = replications or sweep_file.sweep.replications or base.replications
        if count < 2:
            problems.append(f"error: {sweep_path}: sweep.replications: missing, and the base scenario has {count}; "
                            f"a sweep needs at least 2 per point (the noise of each effect comes from them)")
    problems = list(dict.fromkeys(problems))
    if problems or base is None or sweep_file is None:
        raise ScenarioError(problems)
    base = base.model_copy(update={"replications": count})
    parameters = parameters_of(sweep_file.sweep, base, str(sweep_path))
    the_design = design(sweep_file.sweep, parameters, base.seed)
    design_problems = _point_problems(sweep_path, base.model_dump(mode="json"), the_design)
    if design_problems:
        raise ScenarioError(design_problems)
    name = sweep_file.name or sweep_path.stem
    job = PointJob(base.model_dump(mode="json"), count, tuple(sweep_file.sweep.outcomes))
    start_texts = {"scenario.yaml": scenario_yaml(base),
                   "sweep.yaml": _resolved_sweep_text(sweep_file, name, count),
                   "design.csv": _csv(the_design.table())}
    return _Prepared(sweep_file, name, base, the_design, job, start_texts)


def hold_folder(partial: Path) -> int | None:
    """Lock an unfinished sweep folder for this process (an open descriptor; close it to release).

    A second command on the same folder (``--resume`` while the sweep still runs) is refused
    instead of computing the same points and racing to rename the folder. The lock is on the
    folder itself, so it follows the rename and leaves no file behind. None where the platform
    has no ``flock``.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on a POSIX system
        return None
    descriptor = os.open(partial, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise _FolderProblem(f"--resume: {partial} is being run by another command; wait for it to finish, or stop "
                             f"it and resume again") from None
    return descriptor


def open_folder(prepared: _Prepared, out: str | None = None, resume: str | None = None,
                results_root: str | Path = "results") -> tuple[Path, Path]:
    """(partial, final): a new ``.partial`` folder with the start files, or the checked one being resumed."""
    if resume is not None:
        return _resume_folder(resume, prepared.start_texts)
    partial, final = _new_folder(prepared.name, prepared.base.seed, out, Path(results_root))
    for name, text in prepared.start_texts.items():
        write_text_atomic(partial / name, text)
    return partial, final


def run_sweep(prepared: _Prepared, partial: Path, final: Path, *, workers: int = 1, scheduler: str | None = None,
              plots: bool = True, progress: bool = False, argv: Sequence[str] = (), resumed: bool = False,
              say: Callable[[str], None] = lambda _: None) -> Path:
    """Run the unsaved points of a sweep in ``partial``, write its outputs and rename it to ``final``."""
    from sim.experiment import map_as_completed
    from sim.results import provenance, write_json

    started = time.perf_counter()
    the_design, job, base = prepared.design, prepared.job, prepared.base
    done = _saved_points(partial, the_design, job)
    todo = [point for point in the_design.points if point.index not in done]
    say(f"sweep {prepared.name}: {the_design.method}, {len(the_design.points)} points x {job.replications} "
        f"replications x {len(base.arms)} arms" + (f"; {len(done)} points already saved" if resumed else ""))
    say(f"working in {partial} (renamed to {final} when complete; if stopped, resume with: "
        f"{_resume_command(list(argv), partial)})")
    bar = _progress(len(the_design.points), len(done), prepared.name, progress)
    try:
        # Points are saved as each finishes (in any order): a kill loses only the points running.
        with closing(map_as_completed(simulate_point, job, todo, workers, scheduler)) as results:
            for point, record in results:
                write_text_atomic(_point_file(partial, point.index), _point_text(record))
                if bar is not None:
                    bar.update()
    finally:
        if bar is not None:
            bar.close()
    records = _records(partial, len(the_design.points))
    _write_results(partial, prepared, _tables(prepared, records), plots)
    info = provenance(base, list(argv), time.perf_counter() - started,
                      len(todo) * job.replications * len(base.arms) * base.cohort.size, workers)
    info["sweep"] = {"name": prepared.name, "method": the_design.method, "points": len(the_design.points),
                     "replications_per_point": job.replications, "points_computed": len(todo),
                     "points_resumed": len(done), "resumed": resumed, "scheduler": scheduler}
    write_json(partial / "run.json", info)
    if final.exists():
        final.rmdir()  # only ever an empty folder: checked before starting
    partial.rename(final)
    return final


# --- redrawing a finished sweep folder ------------------------------------------------------------

FOLDER_FILES = ("scenario.yaml", "sweep.yaml", "design.csv", "points", "run.json")
"""What a finished sweep folder holds besides its derived tables, figures and report."""


def _folder_text(run_dir: Path, name: str) -> str:
    """A file of a folder as text, or FolderError naming it."""
    from sim.runner import FolderError

    try:
        return (run_dir / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FolderError(f"{run_dir}: {name}: cannot be read ({type(err).__name__})") from None


def _record_problem(record: Any, point: Point, job: PointJob, arms: Sequence[str]) -> str | None:
    """Why a saved point record is not the record of ``point`` (None when it is)."""
    if not isinstance(record, dict):
        return "not a point record (a JSON object)"
    if record.get("point") != point.index:
        return f"holds point {record.get('point')!r}, not point {point.index}"
    if record.get("values") != dict(point.overrides):
        return f"its values {record.get('values')!r} are not those of point {point.index} in design.csv"
    if record.get("replications") != job.replications:
        return f"has {record.get('replications')!r} replications, the sweep {job.replications}"
    means = record.get("means")
    for arm in arms:
        for outcome in job.outcomes:
            row = means.get(arm) if isinstance(means, dict) else None
            values = row.get(outcome) if isinstance(row, dict) else None
            if not (isinstance(values, list) and len(values) == job.replications
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
                return f"means.{arm}.{outcome}: not {job.replications} replication means"
    return None


def read_folder(run_dir: str | Path) -> tuple[_Prepared, list[dict[str, Any]]]:
    """A finished sweep rebuilt from its folder's own files, with its point records, all checked.

    The base is the folder's ``scenario.yaml`` (resolved, with the sweep's replications) and the
    sweep its ``sweep.yaml`` (resolved); the sweep file the folder came from is never read. The
    design is expanded again from these and the base seed and must give ``design.csv`` exactly;
    ``points/`` must hold a record of every point, matching it. Raises FolderError
    (``sim.runner``) naming the folder and the file at fault; writes nothing.
    """
    from sim.runner import FolderError, check_scenario, folder_problem, run_info

    path = Path(run_dir)
    if path.name.endswith(PARTIAL):
        raise FolderError(f"{path}: an unfinished sweep; finish it first with: python run.py SWEEP.yaml --resume "
                          f"{path}")
    missing = [name for name in FOLDER_FILES
               if not ((path / name).is_dir() if name == "points" else (path / name).is_file())]
    if missing:
        raise FolderError(f"{path}: not a complete sweep folder (missing {', '.join(missing)})")
    try:
        raw = read_yaml(path / "sweep.yaml")
        base = load_scenario(path / "scenario.yaml")
    except ScenarioError as err:
        raise folder_problem(path, err) from None
    try:
        sweep_file = SweepFile.model_validate(raw)
    except ValidationError as err:
        where, message = describe_errors(err, SweepFile)[0]
        raise FolderError(f"{path}: sweep.yaml: {where}: {message}") from None
    sweep = sweep_file.sweep
    count = sweep.replications or base.replications
    if count != base.replications:
        raise FolderError(f"{path}: sweep.yaml: sweep.replications: {count}, but scenario.yaml has "
                          f"{base.replications} replications; the two do not belong together")
    if sweep_file.name is None:
        raise FolderError(f"{path}: sweep.yaml: name: missing (the resolved sweep of a sweep folder has one)")
    info = run_info(path)
    check_scenario(path, info, base)
    recorded = info.get("sweep")
    ran: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
    for key, where, value in (("name", "name", sweep_file.name), ("method", "sweep.method", sweep.method),
                              ("replications_per_point", "sweep.replications", count)):
        if key in ran and ran[key] != value:
            raise FolderError(f"{path}: sweep.yaml: {where}: {value!r}, but run.json records {ran[key]!r}; changed "
                              f"after the run?")
    try:
        the_design = design(sweep, parameters_of(sweep, base, str(path / "sweep.yaml")), base.seed)
    except ScenarioError as err:
        raise folder_problem(path, err) from None
    saved, expected = _folder_text(path, "design.csv"), _csv(the_design.table())
    if saved != expected:
        pairs = itertools.zip_longest(saved.splitlines(keepends=True), expected.splitlines(keepends=True))
        line = next(i for i, (a, b) in enumerate(pairs, 1) if a != b)
        raise FolderError(f"{path}: design.csv: differs from the design that sweep.yaml and scenario.yaml give "
                          f"(seed {base.seed}) at line {line}; these files do not belong together")
    job = PointJob(base.model_dump(mode="json"), count, tuple(sweep.outcomes))
    records = []
    for point in the_design.points:
        name = str(_point_file(path, point.index).relative_to(path))
        if not (path / name).is_file():
            raise FolderError(f"{path}: {name}: missing; every point of design.csv needs its record")
        try:
            record = json.loads(_folder_text(path, name))
        except ValueError as err:
            raise FolderError(f"{path}: {name}: not valid JSON ({err})") from None
        problem = _record_problem(record, point, job, base.arm_names)
        if problem is not None:
            raise FolderError(f"{path}: {name}: {problem}")
        records.append(record)
    extra = sorted(p.name for p in (path / "points").iterdir()
                   if re.fullmatch(r"\d{6}\.json", p.name) and int(p.name[:6]) >= len(the_design.points))
    if extra:
        raise FolderError(f"{path}: points/{extra[0]}: not a point of design.csv ({len(the_design.points)} points)")
    if ran.get("points", len(records)) != len(records):
        raise FolderError(f"{path}: design.csv: {len(records)} points, but run.json records {ran['points']}")
    return _Prepared(sweep_file, sweep_file.name, base, the_design, job, {}), records


def redraw_folder(run_dir: str | Path) -> Path:
    """Write a finished sweep folder's tables, figures and ``report.md`` again from its saved points.

    Nothing is simulated and ``run.json`` is left as it is; every file is replaced atomically. The
    tables and report are byte-identical to those the sweep wrote (with figures). Raises
    FolderError, before writing anything, when the folder is not a finished, consistent sweep.
    """
    from sim.runner import FolderError

    path = Path(run_dir)
    prepared, records = read_folder(path)
    try:
        tables = _tables(prepared, records)
    except (KeyError, ValueError, TypeError, IndexError) as err:
        raise FolderError(f"{path}: points: unusable records ({type(err).__name__}: {err})") from None
    _write_results(path, prepared, tables, plots=True)
    return path


def _resume_command(argv: list[str], partial: Path) -> str:
    """The command line that resumes this sweep: the same options, without --out or --resume."""
    import shlex

    kept: list[str] = []
    skip = False
    for word in argv[1:]:
        if skip:
            skip = False
        elif word in ("--out", "--resume"):
            skip = True
        elif not word.startswith(("--out=", "--resume=")):
            kept.append(word)
    return shlex.join(["python", "run.py", *kept, "--resume", str(partial)])


def run_command(args: argparse.Namespace, argv: list[str]) -> int:
    """``python run.py SWEEP.yaml [options]``: the exit status (0 done, 2 bad input, 130 interrupted)."""
    from sim.experiment import default_workers, is_terminal

    where = args.scenario
    problems = []
    for option, value in (("--precision", getattr(args, "precision", None)),
                          ("--max-replications", getattr(args, "max_replications", None))):
        if value is not None:
            problems.append(f"error: {where}: {option}: not for sweeps (each point runs the sweep's replications)")
    if args.workers is not None and args.workers < 1:
        problems.append(f"error: {where}: --workers: must be at least 1, got {args.workers}")
    if args.resume is not None and args.out is not None:
        problems.append(f"error: {where}: --out: not with --resume (the folder is RUN_DIR without {PARTIAL})")
    try:
        prepared = prepare(where, args.overrides, args.replications, args.patients, args.seed)
    except ScenarioError as err:
        problems.extend(err.problems)
        prepared = None
    if not problems and prepared is not None:
        from sim.experiment import scheduler_problems

        problems.extend(scheduler_problems(args.scheduler, f"error: {where}"))
    if problems or prepared is None:
        for line in problems:
            print(line, file=sys.stderr)
        return 2
    quiet = bool(args.quiet)

    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr)

    workers = args.workers or default_workers()
    try:
        partial, final = open_folder(prepared, args.out, args.resume)
        held = hold_folder(partial)
    except _FolderProblem as err:
        print(f"error: {where}: {err}", file=sys.stderr)
        return 2
    try:
        final = run_sweep(prepared, partial, final, workers=workers, scheduler=args.scheduler,
                          plots=not args.no_plots, progress=not quiet and is_terminal(), argv=argv,
                          resumed=args.resume is not None, say=say)
    except KeyboardInterrupt:
        print(f"interrupted: the finished points are saved in {partial}; resume with: "
              f"{_resume_command(argv, partial)}", file=sys.stderr)
        return 130
    except (OSError, TimeoutError) as err:
        if args.scheduler is None:
            raise
        print(f"error: {where}: --scheduler: cannot use {args.scheduler} ({err}); the finished points are saved "
              f"in {partial}; resume with: {_resume_command(argv, partial)}", file=sys.stderr)
        return 2
    finally:
        if held is not None:
            os.close(held)
    if not quiet:
        print(f"results: {final}")
    return 0
