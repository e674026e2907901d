"""Adverse events that follow the dose (DESIGN 2b, rules 2 and 3): when each is due, worked out at the
start of a course and again at every change of dose.

A course of a plan with such events keeps two short lists beside its other pending events: ``due``,
the week at which each event of ``plan.dynamic`` would occur at the current dose, and ``live``,
whether it may still occur in the course. They cost nothing to a plan without these events.

* A hazard that scales with the dose, ``rate_per_year * (dose / dose_mg_per_day) ** k``: at the
  course start (full dose, factor 1) its time is the very draw an event without a dose exponent
  would have; at each change of dose it is redrawn from the new hazard (memoryless), from a draw of
  its own for that dose level. It occurs at most once a course.
* A cumulative-dose threshold: the patient's threshold of the drug (grams, drawn once per patient
  and drug) is reached ``(G * 1000 - D) / (mg per week)`` weeks after a moment at which D mg had
  been taken, at a constant dose. It occurs at most once per patient and drug (``done``).
"""

from __future__ import annotations

import math
from typing import Any

from sim.engine.draws import Course, Draws
from sim.engine.plans import Plan

__all__ = ["next_exposure", "redraw_exposure", "start_exposure"]

_INF = math.inf


def _threshold_weeks(draws: Draws, exposure: Any, j: int, taken_mg: float, mg_per_week: float | None) -> float:
    """Weeks from now until the cumulative dose reaches the patient's threshold at this dose."""
    threshold_mg = draws.times(exposure.threshold_purpose, exposure.threshold)[j] * 1000.0
    left = threshold_mg - taken_mg
    if left <= 0.0:
        return 0.0
    if not mg_per_week:
        return _INF
    return left / mg_per_week


def start_exposure(plan: Plan, course: Course, j: int, now: float, mg_per_week: float | None, dose: list[float],
                   done: set[tuple[str, str]], draws: Draws) -> tuple[list[float], list[bool]]:
    """``due`` and ``live`` at the start of a course (full dose)."""
    due: list[float] = []
    live: list[bool] = []
    taken = dose[plan.dose_index]
    for exposure in plan.dynamic:
        if exposure.cumulative:
            if exposure.key in done:
                due.append(_INF)
                live.append(False)
            else:
                due.append(now + _threshold_weeks(draws, exposure, j, taken, mg_per_week))
                live.append(True)
        elif exposure.first_only and not course.first_of_drug:
            due.append(_INF)
            live.append(False)
        else:
            due.append(now + course.onset_at_start(exposure.index)[j])
            live.append(True)
    return due, live


def redraw_exposure(plan: Plan, course: Course, j: int, now: float, mg_per_week: float | None, dose: list[float],
                    due: list[float], live: list[bool], level: str, draws: Draws) -> None:
    """Work ``due`` out again on entering a new dose level (``escalated``, ``taper`` or ``reduced``)."""
    taken = dose[plan.dose_index]
    for i, exposure in enumerate(plan.dynamic):
        if not live[i]:
            continue
        if exposure.cumulative:
            due[i] = now + _threshold_weeks(draws, exposure, j, taken, mg_per_week)
            continue
        factor = ((mg_per_week or 0.0) / exposure.full_mg_per_week) ** exposure.exponent
        if factor <= 0.0:
            due[i] = _INF
        else:
            due[i] = now + course.unit_exponential(exposure.index, level)[j] * exposure.mean_weeks / factor


def next_exposure(due: list[float]) -> tuple[float, int]:
    """The earliest due week and its position (the first in file order on ties)."""
    week = min(due)
    return week, due.index(week)
