"""A sweep's design: the swept parameters and the points, expanded before anything runs (SALib's sample step).

A point is the base scenario with some numeric values replaced (by dotted path). Sampled designs
are seeded from the base seed and a stable hash of the method, so they are the same every time.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.engine.streams import purpose_key
from sim.spec.base import ScenarioError
from sim.spec.distributions import ppf
from sim.spec.paths import leaf
from sim.spec.scenario import Scenario
from sim.spec.sweep import SAMPLED_METHODS, Sweep

__all__ = ["UNSWEPT", "Design", "Parameter", "Point", "design", "design_seed", "design_value", "parameters_of",
           "path_problem"]

UNSWEPT = {"seed": "every point uses the base seed (common random numbers)",
           "replications": "every point uses the sweep's replications"}


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


def design_seed(seed: int, purpose: str) -> int:
    """A 32-bit seed for one design purpose, derived from the scenario seed and the purpose's name."""
    return int(np.random.SeedSequence([seed, purpose_key(purpose)]).generate_state(1)[0])


def path_problem(path: str, data: dict[str, Any], method: str | None) -> tuple[str | None, Any]:
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
        problem, value = path_problem(path, data, sweep.method)
        if problem is not None:
            problems.append(f"error: {where}: sweep.parameters.{path}: {problem}")
            continue
        out.append(Parameter(path, spec.label or _default_label(path), spec, value, isinstance(value, int)))
    if problems:
        raise ScenarioError(problems)
    return tuple(out)


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
    sample_seed = design_seed(seed, f"sweep:{sweep.method}")
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

        unit = qmc.LatinHypercube(d=d, rng=np.random.default_rng(sample_seed)).random(n)
        matrix = qmc.scale(unit, [p.spec.low for p in params], [p.spec.high for p in params]).reshape(n, d)
    elif sweep.method in ("sobol", "morris"):
        problem = {"num_vars": d, "names": [p.path for p in params],
                   "bounds": [[p.spec.low, p.spec.high] for p in params]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if sweep.method == "sobol":
                from SALib.sample import sobol as sobol_sample

                matrix = sobol_sample.sample(problem, n, calc_second_order=False, seed=sample_seed)
            else:
                from SALib.sample import morris as morris_sample

                matrix = morris_sample.sample(problem, n, num_levels=sweep.level_count, seed=sample_seed)
        matrix = np.asarray(matrix, dtype=float).reshape(-1, d)
    elif sweep.method == "psa":
        unit = np.random.default_rng(sample_seed).random((n, d))
        matrix = np.column_stack([ppf(p.spec, unit[:, j]) for j, p in enumerate(params)]).reshape(n, d)
    else:  # pragma: no cover - the schema allows no other method
        raise ValueError(sweep.method)
    points = []
    for i, row in enumerate(matrix):
        if sweep.method == "one_way":
            name = varied[i]
            columns = [j for j, p in enumerate(params) if p.path == name]
        else:
            name, columns = None, list(range(d))
        overrides = tuple((params[j].path, design_value(row[j], params[j].integer)) for j in columns)
        points.append(Point(i, overrides, name))
    return Design(sweep.method, params, tuple(points), matrix, problem, sample_seed, sweep.level_count)


def design_value(value: float, integer: bool) -> float:
    """A design value as written into a scenario: a whole number stays a whole number."""
    value = float(value)
    return int(value) if integer and value.is_integer() else value  # type: ignore[return-value]
