"""Whether a validation criterion could detect a model that is off by a clinically relevant amount.

A criterion that passes is evidence only if it would have failed for a wrong model. Here a model is
"off by a clinically relevant amount" when its value of the outcome differs from the published one
by 15 percentage points (a proportion), or is 1.5 times longer or shorter (a time in weeks); for an
outcome published only as a range, the range's midpoint stands for the published value. For each
such alternative value, in the directions that stay within [0, 1]:

* ``observed_in_simulated``, a proportion: the central 95% of a binomial(N, alternative) count over
  N, with N the published denominator (the study's own size), must exclude the published value;
* ``observed_in_simulated``, a time: the simulated central 95%, scaled to the alternative median
  (the model's spread relative to its median is kept), must exclude the published value;
* ``simulated_in_band`` and ``pooled_in_band``: the alternative must lie outside the band.

A criterion detects a relevant error when every alternative would fail it. An outcome that passes a
criterion that cannot detect one is reported as ``weak``, not ``inside``.
"""

from __future__ import annotations

import math

from scipy import stats

from sim.studies.validate.targets import Target

__all__ = ["RELEVANT_FACTOR", "RELEVANT_POINTS", "alternatives", "detects_relevant_error", "relevant_error_text"]

RELEVANT_POINTS = 0.15
"""A clinically relevant error in a proportion: 15 percentage points (e.g. complete response 65% vs 80%)."""


RELEVANT_FACTOR = 1.5
"""A clinically relevant error in a time: 1.5 times longer or shorter."""


def _reference(target: Target) -> float:
    if target.observed is not None:
        return target.observed
    assert target.band is not None
    return (target.band[0] + target.band[1]) / 2


def alternatives(target: Target) -> list[float]:
    """The values of a model off by a clinically relevant amount, in each direction that is possible."""
    reference = _reference(target)
    if target.unit != "proportion":
        return [reference / RELEVANT_FACTOR, reference * RELEVANT_FACTOR]
    return [v for v in (reference - RELEVANT_POINTS, reference + RELEVANT_POINTS) if -1e-12 <= v <= 1 + 1e-12]


def relevant_error_text(target: Target) -> str:
    """The relevant error, as the table shows it."""
    return f"x/{RELEVANT_FACTOR:g}" if target.unit != "proportion" else f"+-{100 * RELEVANT_POINTS:.0f} pts"


def _fails(target: Target, alternative: float, median: float, low: float, high: float) -> bool:
    """Whether a model whose value is ``alternative`` would fail the target's criterion."""
    if target.criterion in ("simulated_in_band", "pooled_in_band"):
        assert target.band is not None
        return not target.band[0] - 1e-12 <= alternative <= target.band[1] + 1e-12
    assert target.observed is not None
    if target.unit != "proportion":
        if not (math.isfinite(median) and median > 0):
            return False
        low, high = alternative * low / median, alternative * high / median
    else:
        assert target.denominator is not None, f"{target.study} {target.key}: no published denominator"
        n = target.denominator
        p = min(max(alternative, 0.0), 1.0)
        low, high = stats.binom.ppf(0.025, n, p) / n, stats.binom.ppf(0.975, n, p) / n
    return not low - 1e-12 <= target.observed <= high + 1e-12


def detects_relevant_error(target: Target, median: float, low: float, high: float) -> bool:
    """Whether the target's criterion, at the published size, fails for every relevant error.

    ``median``, ``low`` and ``high`` are the simulated median and central 95% (used for times).
    """
    values = alternatives(target)
    return bool(values) and all(_fails(target, v, median, low, high) for v in values)
