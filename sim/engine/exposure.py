"""When the adverse events that follow the dose (docs/model.md 2b, rules 2 and 3) fall due, at a start or a dose change.

A course of a plan with such events keeps a short list beside its other pending events: ``due``,
the week at which each event of ``plan.dynamic`` would occur at the current dose (``DONE`` once it
can no longer occur in the course). It costs nothing to a plan without these events.

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

from sim.engine.draws import Course
from sim.engine.plans import Plan

__all__ = ["DONE", "next_exposure", "redraw_exposure", "start_exposure"]

_INF = math.inf


DONE = float("inf")
"""Marks an event of ``due`` that can no longer occur in the course (occurred, or not this course's): an
infinity of its own, told apart from a pending event due at infinity by identity."""


def start_exposure(plan: Plan, course: Course, j: int, now: float, mg_per_week: float | None, dose: list[float],
                   done: frozenset[tuple[str, str]], matrix_week: float) -> tuple[float, list[float]]:
    """The next adverse event's week (the earlier of ``matrix_week`` and the earliest of ``due``) and ``due``
    at the start of a course (full dose)."""
    starts = course.exposure_start
    due: list[float] = []
    for i, exposure in enumerate(plan.dynamic):
        if exposure.cumulative:
            if exposure.key in done:
                due.append(DONE)
            else:
                left = starts[i][j] - dose[plan.dose_index]
                due.append(now if left <= 0.0 else now + left / mg_per_week if mg_per_week else _INF)
        elif exposure.first_only and not course.first_of_drug:
            due.append(DONE)
        else:
            due.append(now + starts[i][j])
    earliest = min(due)
    return (matrix_week if matrix_week < earliest else earliest), due


def redraw_exposure(plan: Plan, course: Course, j: int, now: float, mg_per_week: float | None, dose: list[float],
                    due: list[float], level: str, matrix_week: float) -> float:
    """Work ``due`` out again on entering a new dose level (``escalated``, ``taper`` or ``reduced``); returns
    the next adverse event's week."""
    for i, offsets in enumerate(course.exposure_at(level, mg_per_week)):
        if due[i] is not DONE:
            if offsets is None:
                left = course.exposure_start[i][j] - dose[plan.dose_index]
                due[i] = now if left <= 0.0 else now + left / mg_per_week if mg_per_week else _INF
            else:
                due[i] = now + offsets[j]
    earliest = min(due)
    return matrix_week if matrix_week < earliest else earliest


def next_exposure(due: list[float]) -> tuple[float, int]:
    """The earliest due week and its position (the first in file order on ties)."""
    week = min(due)
    return week, due.index(week)
