"""Group-sequential two-arm trials: efficacy looks at information fractions, each analysing the data seen by then.

Information is the number of patients whose endpoint is known (binary and continuous endpoints:
the endpoint week has passed, or the patient dropped out before it) or, for log-rank, the number of
events, counted at the trial's final analysis. Look k takes place at the calendar week at which the
trial has ``ceil(t_k * I)`` of its ``I`` units of information, and analyses the data as seen that week:
patients whose endpoint is known (binary, continuous), or every patient enrolled by then, followed
to that week (log-rank; a visit-observed endpoint is censored at the last visit before it). The
final look is the end of the trial. The boundaries are those of Lan-DeMets alpha spending at the
information fractions actually reached (which differ from the planned ones only by rounding to whole
patients or events, and when several looks fall on the same week, which are then one look); the
trial stops at the first look whose nominal p-value is at most the boundary's nominal level
(one-sided tests: 1 - Phi(b_k); two-sided: twice that, the symmetric two-sided design at level alpha).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sim.spec.trial import VISIT_OBSERVED, Trial
from sim.stats.group_sequential import efficacy_boundaries, nominal_p_values
from sim.stats.testing import compare_arms

__all__ = ["ArmData", "Look", "SequentialOutcome", "look_schedule", "nominal_levels", "planned_boundaries",
           "run_looks", "seen_at"]


@dataclass(frozen=True)
class ArmData:
    """One arm's patients of a design of given size: enrolment week, endpoint value and event, whether used,
    and the calendar week each patient's endpoint is known."""

    enrol: np.ndarray
    value: np.ndarray
    event: np.ndarray | None
    used: np.ndarray
    known_at: np.ndarray


@dataclass(frozen=True)
class Look:
    """A look held: the planned look it is (1-based), its calendar week and the information fraction reached."""

    planned: int
    week: float
    fraction: float


@dataclass(frozen=True)
class SequentialOutcome:
    """How a group-sequential trial ended: the planned look it stopped at (1-based), the analysis there, and the
    analysis at the end of the trial (the same trial without interim looks)."""

    look: int
    week: float
    effect: float
    p_value: float
    reject: bool
    analysed: tuple[int, int]
    events: int
    final_reject: bool


@lru_cache(maxsize=4096)
def _boundaries(fractions: tuple[float, ...], alpha: float, spending: str) -> tuple[float, ...]:
    return efficacy_boundaries(fractions, alpha, spending).z


def nominal_levels(trial: Trial, fractions: Sequence[float]) -> np.ndarray:
    """The nominal p-value each look rejects at: one-sided 1 - Phi(b_k), or twice that for a two-sided test."""
    assert trial.interim is not None
    z = _boundaries(tuple(float(f) for f in fractions), trial.one_sided_alpha, trial.interim.spending)
    one_sided = nominal_p_values(z)
    return np.asarray(2.0 * one_sided if trial.alternative == "two-sided" else one_sided)


def planned_boundaries(trial: Trial) -> tuple[tuple[float, ...], np.ndarray]:
    """The z boundaries and nominal levels at the planned information fractions."""
    assert trial.interim is not None
    fractions = tuple(float(f) for f in trial.interim.looks)
    return _boundaries(fractions, trial.one_sided_alpha, trial.interim.spending), nominal_levels(trial, fractions)


def _information_times(trial: Trial, arms: Sequence[ArmData]) -> np.ndarray:
    """Sorted calendar weeks at which each unit of information arrives (a patient's endpoint, or an event)."""
    if trial.kind == "time_to_event":
        times = [a.enrol[a.used & a.event] + a.value[a.used & a.event] for a in arms if a.event is not None]
    else:
        times = [a.known_at[a.used] for a in arms]
    return np.sort(np.concatenate(times)) if times else np.zeros(0)


def look_schedule(trial: Trial, arms: Sequence[ArmData], end_week: float) -> list[Look]:
    """The looks held: interim ones at the weeks the planned fractions are reached, then the end of the trial.

    Looks that fall on the same week as a later one (or on the end) are merged into it.
    """
    assert trial.interim is not None
    times = _information_times(trial, arms)
    total = len(times)
    weeks: list[float] = []
    for t in trial.interim.looks[:-1]:
        if total == 0:
            break
        weeks.append(float(times[max(1, math.ceil(t * total)) - 1]))
    weeks.append(end_week)
    looks: list[Look] = []
    for i, week in enumerate(weeks):
        if i + 1 < len(weeks) and week >= weeks[i + 1]:
            continue
        reached = int(np.searchsorted(times, week, side="right"))
        fraction = 1.0 if i == len(weeks) - 1 or total == 0 else reached / total
        if fraction >= 1.0 and i < len(weeks) - 1:
            continue
        looks.append(Look(i + 1, week, fraction))
    return looks


def seen_at(trial: Trial, arm: ArmData, week: float | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The endpoint of one arm as the trial sees it at a calendar week, or with None at its end: (values, events)
    of the patients included."""
    if week is None:
        return arm.value[arm.used], None if arm.event is None else arm.event[arm.used]
    if trial.kind != "time_to_event":
        included = arm.used & (arm.known_at <= week)
        return arm.value[included], None
    assert arm.event is not None
    included = arm.used & (arm.enrol < week)
    enrol, value, event = arm.enrol[included], arm.value[included], arm.event[included]
    follow = week - enrol
    seen_event = event & (enrol + value <= week)
    if trial.endpoint.metric in VISIT_OBSERVED:
        visits = np.asarray(trial.visit_weeks, dtype=float)
        index = np.searchsorted(visits, follow, side="right") - 1
        follow = np.where(index >= 0, visits[np.maximum(index, 0)], 0.0)
    return np.where(seen_event, value, np.minimum(value, follow)), seen_event


def run_looks(trial: Trial, control: ArmData, experimental: ArmData, end_week: float) -> SequentialOutcome:
    """Analyse a two-arm trial at each of its looks and stop at the first that crosses its efficacy boundary."""
    looks = look_schedule(trial, (control, experimental), end_week)
    levels = nominal_levels(trial, [look.fraction for look in looks])
    final = _analyse(trial, control, experimental, None)
    final_reject = bool(final[1] <= trial.alpha) if not math.isnan(final[1]) else False
    for k, (look, level) in enumerate(zip(looks, levels, strict=True)):
        effect, p, analysed, events = final if k == len(looks) - 1 else _analyse(trial, control, experimental,
                                                                                 look.week)
        crossed = bool(p <= level) if not math.isnan(p) else False
        if crossed or k == len(looks) - 1:
            return SequentialOutcome(look.planned, look.week, effect, p, crossed, analysed, events, final_reject)
    raise AssertionError("the last look always ends the trial")


def _analyse(trial: Trial, control: ArmData, experimental: ArmData,
             week: float | None) -> tuple[float, float, tuple[int, int], int]:
    """(effect, p-value, patients analysed per arm, events) of the data seen at a calendar week (None: the end)."""
    c_value, c_event = seen_at(trial, control, week)
    e_value, e_event = seen_at(trial, experimental, week)
    effect, p = compare_arms(trial.test, trial.alternative or "two-sided", c_value, e_value, c_event, e_event)
    events = 0 if c_event is None or e_event is None else int(c_event.sum() + e_event.sum())
    return effect, p, (len(c_value), len(e_value)), events
