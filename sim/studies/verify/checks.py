"""Verification checks as data: expected value, formula and source beside the simulated values, and the verdict.

Exact checks: every simulated patient must match to 1e-9 weeks. Proportions: the expected value
must lie in the Monte Carlo interval ``p +- z sqrt(p(1-p)/n)``; means: in ``mean +- z sd/sqrt(n)``.
``z`` makes the intervals simultaneous 95% intervals over all stochastic checks (Bonferroni), so a
correct model fails the whole suite with probability at most 5% whatever the seed.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

import numpy as np
from scipy import special

from sim.outputs.text import fixed

__all__ = ["DEFAULT_SEED", "STOCHASTIC_PATIENTS", "Check", "Outcome", "evaluate", "evaluate_all", "format_table",
           "simultaneous_z"]

DEFAULT_SEED = 20121207


EXACT_TOLERANCE = 1e-9


BLOCK = 1000
"""Patients per call of ``simulate``, as the experiment runner blocks them."""


# Patients per case: exact pathways need few; stochastic checks get a standard error near 0.0035.
EXACT_PATIENTS = 200


STOCHASTIC_PATIENTS = 20000


@dataclass(frozen=True)
class Check:
    """One verified quantity: its expected value, the formula that gives it, and simulated values."""

    case: str
    quantity: str
    expected: float
    formula: str
    kind: str  # "exact", "proportion" or "mean"
    values: np.ndarray


@dataclass(frozen=True)
class Outcome:
    """A check's simulated value, its Monte Carlo interval (or range, if exact) and the verdict."""

    check: Check
    simulated: float
    low: float
    high: float
    passed: bool

    @property
    def n(self) -> int:
        """Patients (or relapses) the simulated value is taken over."""
        return len(self.check.values)


def evaluate(check: Check, z: float) -> Outcome:
    """Compare one check with its expected value; ``z`` is the half-width in standard errors."""
    values = np.asarray(check.values, dtype=float)
    if len(values) == 0:
        return Outcome(check, math.nan, math.nan, math.nan, False)
    centre = float(values.mean())
    if check.kind == "exact":
        low, high = float(values.min()), float(values.max())
        tolerance = EXACT_TOLERANCE * max(1.0, abs(check.expected))
        passed = bool(np.all(np.abs(values - check.expected) <= tolerance))
        return Outcome(check, centre, low, high, passed)
    if check.kind == "proportion":
        se = math.sqrt(centre * (1.0 - centre) / len(values))
    elif check.kind == "mean":
        se = float(values.std(ddof=1)) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    else:
        raise ValueError(f"unknown kind of check: {check.kind!r}")
    low, high = centre - z * se, centre + z * se
    return Outcome(check, centre, low, high, bool(low <= check.expected <= high))


def simultaneous_z(stochastic_checks: int, level: float = 0.95) -> float:
    """Half-width in standard errors for simultaneous ``level`` intervals (Bonferroni)."""
    k = max(1, stochastic_checks)
    return float(special.ndtri(1.0 - (1.0 - level) / (2 * k)))


def evaluate_all(checks: list[Check]) -> list[Outcome]:
    """Evaluate checks with simultaneous 95% intervals over the stochastic ones."""
    z = simultaneous_z(sum(1 for c in checks if c.kind != "exact"))
    return [evaluate(check, z) for check in checks]


def _number(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if float(x).is_integer() and abs(x) < 1e6:
        return f"{int(x)}"
    return fixed(x, 4 if abs(x) < 100 else 1)  # an amount of money keeps its interval inside its column


def format_table(outcomes: list[Outcome], width: int = 100) -> str:
    """The verification table, at most ``width`` columns: per check a line with the quantity, the expected value,
    the simulated value, its interval (or range), n and the verdict, and an indented line with the source."""
    intervals = [("range " if o.check.kind == "exact" else "") + f"[{_number(o.low)}, {_number(o.high)}]"
                 for o in outcomes]
    room = max([23, *map(len, intervals)])  # the quantity's column gives way to a wide interval
    columns = f"{'expected':>9}  {'simulated':>9}  {'MC 95% interval / range':<{room}} {'n':>6}  result"
    name_width = width - 2 - 1 - len(columns)
    header = f"  {'quantity (source below)':<{name_width}} {columns}"
    lines = [header, "-" * width]
    case = None
    for o, interval in zip(outcomes, intervals, strict=True):
        c = o.check
        if c.case != case:
            case = c.case
            lines.append(case)
        names = textwrap.wrap(c.quantity, name_width) or [""]
        lines += [f"  {name}" for name in names[:-1]]
        lines.append(f"  {names[-1]:<{name_width}} {_number(c.expected):>9}  {_number(o.simulated):>9}  "
                     f"{interval:<{room}} {o.n:>6}  {'pass' if o.passed else 'FAIL'}")
        lines += textwrap.wrap(c.formula, width, initial_indent="      ", subsequent_indent="        ")
    stochastic = sum(1 for o in outcomes if o.check.kind != "exact")
    failed = sum(1 for o in outcomes if not o.passed)
    lines.append("-" * width)
    lines += textwrap.wrap(
        f"{len(outcomes)} checks in {len({o.check.case for o in outcomes})} cases: {len(outcomes) - failed} passed, "
        f"{failed} failed. Exact checks: every patient within {EXACT_TOLERANCE:g}. Stochastic checks: simultaneous "
        f"95% intervals over {stochastic} checks (z = {simultaneous_z(stochastic):.2f}; binomial SE for proportions, "
        f"SD/sqrt(n) for means).", width)
    return "\n".join(lines)
