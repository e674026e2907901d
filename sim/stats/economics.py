"""Health-economic arithmetic: discounting, incremental cost-effectiveness, net monetary benefit and acceptability."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DOMINATED",
    "EXTENDEDLY_DOMINATED",
    "NON_DOMINATED",
    "REFERENCE",
    "acceptability_curve",
    "acceptability_frontier",
    "discount_weight",
    "discount_weights",
    "discounted_flow",
    "discounted_flows",
    "incremental_analysis",
    "incremental_net_benefit",
    "net_monetary_benefit",
]

WEEKS_PER_YEAR = 52.0
REFERENCE = "reference"
NON_DOMINATED = "non-dominated"
DOMINATED = "dominated"
EXTENDEDLY_DOMINATED = "extendedly dominated"


# --- discounting ----------------------------------------------------------------------------------

def _log_rate(annual_rate: float) -> float:
    """ln(1 + d) for a valid annual rate d, raising ValueError otherwise."""
    # The comparison is written so that NaN fails it too.
    if not 0.0 <= annual_rate < math.inf:
        raise ValueError(f"annual discount rate must be a finite number >= 0, got {annual_rate!r}")
    return math.log1p(annual_rate)


def discount_weight(week: float, annual_rate: float) -> float:
    """Weight (1 + d) ** (-week / 52) of a cost or QALY at ``week`` (plain floats, for hot loops)."""
    return math.exp(-week * _log_rate(annual_rate) / WEEKS_PER_YEAR)


def discounted_flow(start_week: float, end_week: float, annual_rate: float) -> float:
    """Discounted total of a flow of one unit per week from ``start_week`` to ``end_week`` (plain floats).

    Closed form (52 / ln(1 + d)) * ((1 + d) ** (-a / 52) - (1 + d) ** (-b / 52)), written with expm1 so that
    it stays accurate as d goes to 0, where it tends to b - a.
    """
    if end_week < start_week:
        raise ValueError(f"end_week ({end_week!r}) must not be before start_week ({start_week!r})")
    log_rate = _log_rate(annual_rate)
    if log_rate == 0.0:
        return end_week - start_week
    per_week = log_rate / WEEKS_PER_YEAR
    return math.exp(-start_week * per_week) * -math.expm1(-(end_week - start_week) * per_week) / per_week


def discount_weights(weeks: ArrayLike, annual_rate: float) -> NDArray[np.float64]:
    """Vectorised :func:`discount_weight`: the weight at each week of an array."""
    return np.exp(-np.asarray(weeks, dtype=float) * (_log_rate(annual_rate) / WEEKS_PER_YEAR))


def discounted_flows(start_weeks: ArrayLike, end_weeks: ArrayLike, annual_rate: float) -> NDArray[np.float64]:
    """Vectorised :func:`discounted_flow` over broadcast arrays of interval starts and ends."""
    start = np.asarray(start_weeks, dtype=float)
    end = np.asarray(end_weeks, dtype=float)
    if np.any(end < start):
        raise ValueError("every end week must be at or after its start week")
    log_rate = _log_rate(annual_rate)
    if log_rate == 0.0:
        return np.asarray(end - start, dtype=float)
    per_week = log_rate / WEEKS_PER_YEAR
    return np.asarray(np.exp(-start * per_week) * -np.expm1(-(end - start) * per_week) / per_week, dtype=float)


# --- incremental cost-effectiveness analysis ------------------------------------------------------

def _dominates(costs: NDArray[np.float64], effects: NDArray[np.float64], j: int, i: int) -> bool:
    """Whether arm j strictly dominates arm i: costs no more, gives at least as much, one of them strictly."""
    no_worse = costs[j] <= costs[i] and effects[j] >= effects[i]
    return bool(no_worse and (costs[j] < costs[i] or effects[j] > effects[i]))


def _first_extendedly_dominated(frontier: list[int], costs: NDArray[np.float64],
                                effects: NDArray[np.float64]) -> int | None:
    """Position of the first frontier arm whose ICER exceeds the next arm's ICER, or None when they increase."""
    for k in range(1, len(frontier) - 1):
        before, here, after = frontier[k - 1], frontier[k], frontier[k + 1]
        # ICER(here) > ICER(after), cross-multiplied: incremental effects are > 0 once dominated arms are gone.
        left = (costs[here] - costs[before]) * (effects[after] - effects[here])
        right = (costs[after] - costs[here]) * (effects[here] - effects[before])
        if left > right:
            return k
    return None


def incremental_analysis(arms: Sequence[str], costs: ArrayLike, effects: ArrayLike) -> pd.DataFrame:
    """Incremental cost-effectiveness table: dominance, extended dominance and ICERs along the frontier.

    Arms are ordered by cost, ties by effect. An arm is ``dominated`` when another costs no more and gives at
    least as much effect, one of them strictly; ``dominated_by`` names the cheapest non-dominated such arm. Of
    the rest, an arm whose ICER against the previous one exceeds the next arm's ICER against it is
    ``extendedly dominated`` (a mix of its neighbours on the final frontier, named in ``dominated_by``, gives
    more effect for the same cost); this is repeated until ICERs do not decrease along the frontier (an arm
    exactly on the line between its neighbours stays). The cheapest remaining arm is the ``reference``; every
    other remaining arm is ``non-dominated`` with its ICER against the previous remaining arm.

    Parameters
    ----------
    arms : names of the arms, unique.
    costs, effects : mean cost and mean effect (QALYs) of each arm, in the order of ``arms``.

    Returns
    -------
    DataFrame in cost order with columns arm, cost, effect, incremental_cost, incremental_effect, icer,
    status and dominated_by (None for the reference and non-dominated arms). Incremental columns and the
    ICER are NaN except on non-dominated arms.

    Raises
    ------
    ValueError : no arms, mismatched lengths, repeated names, non-finite values, or two arms with the same
        cost and the same effect (neither dominates the other and their ICER is 0 / 0: merge or drop one).
    """
    names = [str(a) for a in arms]
    cost = np.asarray(costs, dtype=float)
    effect = np.asarray(effects, dtype=float)
    if not names:
        raise ValueError("incremental analysis needs at least one arm")
    if cost.shape != (len(names),) or effect.shape != (len(names),):
        raise ValueError(f"costs {cost.shape} and effects {effect.shape} must be 1-D with one value per arm "
                         f"({len(names)})")
    if len(set(names)) != len(names):
        raise ValueError(f"arm names must be unique: {names}")
    if not (np.all(np.isfinite(cost)) and np.all(np.isfinite(effect))):
        raise ValueError("costs and effects must be finite")
    pairs: dict[tuple[float, float], str] = {}
    for name, c, e in zip(names, cost, effect, strict=True):
        if (c, e) in pairs:
            raise ValueError(f"arms {pairs[(c, e)]!r} and {name!r} have the same cost and effect: merge or drop one")
        pairs[(c, e)] = name

    order = sorted(range(len(names)), key=lambda i: (cost[i], effect[i]))
    dominators = {i: [j for j in order if _dominates(cost, effect, j, i)] for i in order}
    frontier = [i for i in order if not dominators[i]]
    dropped: list[int] = []
    while (k := _first_extendedly_dominated(frontier, cost, effect)) is not None:
        dropped.append(frontier.pop(k))

    status = {i: NON_DOMINATED for i in frontier}
    status[frontier[0]] = REFERENCE
    by: dict[int, str | None] = {i: None for i in frontier}
    for i in order:
        if dominators[i]:
            status[i] = DOMINATED
            # Some dominating arm is itself undominated (dominance is a strict partial order): name the cheapest.
            by[i] = names[next(j for j in dominators[i] if not dominators[j])]
    for i in dropped:
        status[i] = EXTENDEDLY_DOMINATED
        left = max((j for j in frontier if cost[j] < cost[i]), key=lambda j: cost[j])
        right = min((j for j in frontier if cost[j] > cost[i]), key=lambda j: cost[j])
        by[i] = f"{names[left]} and {names[right]}"

    rows = []
    previous: int | None = None
    for i in order:
        row: dict[str, object] = {"arm": names[i], "cost": float(cost[i]), "effect": float(effect[i]),
                                  "incremental_cost": math.nan, "incremental_effect": math.nan, "icer": math.nan,
                                  "status": status[i], "dominated_by": by[i]}
        if status[i] == NON_DOMINATED and previous is not None:
            d_cost, d_effect = float(cost[i] - cost[previous]), float(effect[i] - effect[previous])
            row.update(incremental_cost=d_cost, incremental_effect=d_effect, icer=d_cost / d_effect)
        if status[i] in (REFERENCE, NON_DOMINATED):
            previous = i
        rows.append(row)
    columns = ["arm", "cost", "effect", "incremental_cost", "incremental_effect", "icer", "status", "dominated_by"]
    return pd.DataFrame(rows, columns=columns)


# --- net monetary benefit and acceptability -------------------------------------------------------

def _thresholds(thresholds: ArrayLike) -> NDArray[np.float64]:
    """Willingness-to-pay values as a float array, checked finite and >= 0."""
    values = np.asarray(thresholds, dtype=float)
    if values.ndim > 1:
        raise ValueError(f"thresholds must be a number or a 1-D array, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("willingness-to-pay thresholds must be finite and >= 0")
    return values


def _costs_effects(costs: ArrayLike, effects: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Costs and effects as float arrays of one shape with arms on the last axis, checked finite."""
    cost = np.asarray(costs, dtype=float)
    effect = np.asarray(effects, dtype=float)
    if cost.shape != effect.shape:
        raise ValueError(f"costs {cost.shape} and effects {effect.shape} must have the same shape")
    if cost.ndim == 0 or cost.shape[-1] == 0:
        raise ValueError("costs and effects need at least one arm on their last axis")
    if not (np.all(np.isfinite(cost)) and np.all(np.isfinite(effect))):
        raise ValueError("costs and effects must be finite")
    return cost, effect


def net_monetary_benefit(costs: ArrayLike, effects: ArrayLike, thresholds: ArrayLike) -> NDArray[np.float64]:
    """Net monetary benefit lambda * effect - cost at each willingness-to-pay lambda.

    Parameters
    ----------
    costs, effects : arrays of one shape with arms on the last axis, e.g. (samples, arms) or (arms,).
    thresholds : one willingness-to-pay value per QALY, or a 1-D array of them.

    Returns
    -------
    Array of the shape of ``costs`` for a single threshold, else with a leading axis over thresholds.
    """
    cost, effect = _costs_effects(costs, effects)
    lam = _thresholds(thresholds)
    if lam.ndim == 0:
        return np.asarray(float(lam) * effect - cost, dtype=float)
    return np.asarray(lam.reshape((-1,) + (1,) * cost.ndim) * effect - cost, dtype=float)


def incremental_net_benefit(costs: ArrayLike, effects: ArrayLike, thresholds: ArrayLike,
                            reference: int = 0) -> NDArray[np.float64]:
    """Paired difference NMB(arm) - NMB(reference arm), sample by sample, shaped as :func:`net_monetary_benefit`.

    Parameters
    ----------
    costs, effects : arrays of one shape with arms on the last axis; samples of one row are paired.
    thresholds : one willingness-to-pay value per QALY, or a 1-D array of them.
    reference : index of the reference arm on the last axis (its own column is 0).
    """
    nmb = net_monetary_benefit(costs, effects, thresholds)
    arms = nmb.shape[-1]
    if not -arms <= reference < arms:
        raise ValueError(f"reference arm index {reference} is out of range for {arms} arms")
    return np.asarray(nmb - np.take(nmb, [reference], axis=-1), dtype=float)


def _psa(costs: ArrayLike, effects: ArrayLike, arms: Sequence[str] | None,
         thresholds: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str], NDArray[np.float64]]:
    """Checked (samples, arms) costs and effects, arm names and a 1-D threshold grid."""
    cost, effect = _costs_effects(costs, effects)
    if cost.ndim != 2 or cost.shape[0] == 0:
        raise ValueError(f"PSA costs and effects must be (samples, arms) with at least one sample, got {cost.shape}")
    names = [f"arm {i}" for i in range(cost.shape[1])] if arms is None else [str(a) for a in arms]
    if len(names) != cost.shape[1] or len(set(names)) != len(names):
        raise ValueError(f"need {cost.shape[1]} unique arm names, got {names}")
    lam = np.atleast_1d(_thresholds(thresholds))
    if lam.size == 0:
        raise ValueError("need at least one willingness-to-pay threshold")
    return cost, effect, names, lam


def _probability_best(nmb: NDArray[np.float64]) -> NDArray[np.float64]:
    """Share of samples in which each arm has the highest NMB, ties split equally between the tied arms."""
    best = nmb == nmb.max(axis=1, keepdims=True)
    return np.asarray((best / best.sum(axis=1, keepdims=True)).mean(axis=0), dtype=float)


def acceptability_curve(costs: ArrayLike, effects: ArrayLike, thresholds: ArrayLike,
                        arms: Sequence[str] | None = None) -> pd.DataFrame:
    """Cost-effectiveness acceptability curves: P(arm has the highest NMB) at each threshold.

    Parameters
    ----------
    costs, effects : (samples, arms) arrays from a probabilistic sensitivity analysis, one row per sample.
    thresholds : willingness-to-pay values per QALY.
    arms : arm names (default ``arm 0``, ``arm 1``, ...).

    Returns
    -------
    DataFrame indexed by threshold with one column per arm; each row sums to 1 (a sample in which several
    arms tie for the highest NMB counts for each of them equally).
    """
    cost, effect, names, lam = _psa(costs, effects, arms, thresholds)
    rows = [_probability_best(w * effect - cost) for w in lam]
    return pd.DataFrame(rows, index=pd.Index(lam, name="threshold"), columns=names)


def acceptability_frontier(costs: ArrayLike, effects: ArrayLike, thresholds: ArrayLike,
                           arms: Sequence[str] | None = None) -> pd.DataFrame:
    """Cost-effectiveness acceptability frontier: the arm with the highest expected NMB at each threshold.

    This is the arm a risk-neutral decision maker picks, which need not be the arm most often best: its
    probability of being cost-effective is its value on the acceptability curve.

    Parameters
    ----------
    costs, effects : (samples, arms) arrays from a probabilistic sensitivity analysis, one row per sample.
    thresholds : willingness-to-pay values per QALY.
    arms : arm names (default ``arm 0``, ``arm 1``, ...).

    Returns
    -------
    DataFrame with columns threshold, arm (the first in arm order on a tie of expected NMB), expected_nmb
    and probability_cost_effective.
    """
    cost, effect, names, lam = _psa(costs, effects, arms, thresholds)
    rows = []
    for w in lam:
        nmb = w * effect - cost
        expected = nmb.mean(axis=0)
        best = int(np.argmax(expected))
        rows.append({"threshold": float(w), "arm": names[best], "expected_nmb": float(expected[best]),
                     "probability_cost_effective": float(_probability_best(nmb)[best])})
    return pd.DataFrame(rows, columns=["threshold", "arm", "expected_nmb", "probability_cost_effective"])
