"""Verification checks as data: expected value, formula and source beside the simulated values, and the verdict.

Exact checks: every simulated patient must match to 1e-9 weeks. Proportions: the expected value
must lie in the Monte Carlo interval ``p +- z sqrt(p(1-p)/n)``; means: in ``mean +- z sd/sqrt(n)``.
``z`` makes the intervals simultaneous 95% intervals over all stochastic checks (Bonferroni), so a
correct model fails the whole suite with probability at most 5% whatever the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

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
    return f"{x:.4f}"


def format_table(outcomes: list[Outcome]) -> str:
    """The verification table: one row per check, grouped by case."""
    header = f"{'quantity':<50} {'expected':>9}  {'source (formula)':<46} {'simulated':>9}  " \
             f"{'MC 95% interval / range':<21} {'n':>6}  result"
    lines = [header, "-" * len(header)]
    case = None
    for o in outcomes:
        c = o.check
        if c.case != case:
            case = c.case
            lines.append(case)
        interval = f"[{_number(o.low)}, {_number(o.high)}]"
        if c.kind == "exact":
            interval = f"range {interval}"
        lines.append(f"  {c.quantity:<48} {_number(c.expected):>9}  {c.formula:<46} {_number(o.simulated):>9}  "
                     f"{interval:<21} {o.n:>6}  {'pass' if o.passed else 'FAIL'}")
    stochastic = sum(1 for o in outcomes if o.check.kind != "exact")
    failed = sum(1 for o in outcomes if not o.passed)
    lines.append("-" * len(header))
    lines.append(f"{len(outcomes)} checks in {len({o.check.case for o in outcomes})} cases: "
                 f"{len(outcomes) - failed} passed, {failed} failed. Exact checks: every patient within "
                 f"{EXACT_TOLERANCE:g}. Stochastic checks: simultaneous 95% intervals over {stochastic} checks "
                 f"(z = {simultaneous_z(stochastic):.2f}; binomial SE for proportions, SD/sqrt(n) for means).")
    return "\n".join(lines)
