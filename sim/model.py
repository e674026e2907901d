"""The clinical model: one SimPy process per patient, simulated in small batches.

``simulate(scenario, arm, replication, start, stop)`` is a pure function of its arguments. Each
patient's process keeps its pending events (the course's next step, a relapse, the next adverse
event) and waits for the earliest; ties are broken by a fixed priority so that fixed-duration
pathways are exact and reproducible.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Generator, Iterable, Iterator
from itertools import chain, repeat
from operator import is_not, itemgetter, truediv
from typing import Any

import numpy as np
import simpy

from sim.distributions import ppf_truncated
from sim.rng import Streams
from sim.scenario import Scenario, Therapy, mean_weeks, resolve_therapy

__all__ = ["BlockResult", "EVENT_COLUMNS", "merge_blocks", "patient_columns", "simulate"]

ACTIVE, RESPONSE, REMISSION = "active", "response", "remission"
FULL, TAPER, OFF = "full", "taper", "off"

# The kinds of pending event. On equal weeks they happen in this order: an adverse event while
# still on drug, then a relapse (so a relapse due exactly at a taper's end happens during the
# taper), then the course's next step: failure at assessment, response, remission, end of
# maintenance or end of taper (a course has only one of these pending at a time).
_ADVERSE, _RELAPSE, _FAILURE, _RESPONSE, _REMISSION, _MAINTENANCE_END, _TAPER_END = range(7)

EVENT_COLUMNS = ["replication", "arm", "patient", "week", "event", "therapy", "detail"]

_BASE_COLUMNS = [
    "responded",
    "time_to_response_weeks",
    "complete_response",
    "time_to_complete_response_weeks",
    "disease_free_weeks",
    "disease_free_fraction",
    "relapses",
    "first_relapse_week",
    "relapse_after_remission_week",
    "dropout",
    "dropout_reason",
    "dropout_week",
    "adverse_events",
    "discontinuations",
    "courses",
    "weeks_on_treatment",
    "observed_weeks",
    "final_state",
]


FLOAT_COLUMNS = {
    "time_to_response_weeks",
    "time_to_complete_response_weeks",
    "disease_free_weeks",
    "disease_free_fraction",
    "first_relapse_week",
    "relapse_after_remission_week",
    "dropout_week",
    "weeks_on_treatment",
    "observed_weeks",
}
"""Columns of weeks or fractions: missing ("did not happen") is NaN, written empty."""


def patient_columns(scenario: Scenario) -> list[str]:
    """Columns of ``patients.csv`` for a scenario, in order."""
    keys = ["replication", "arm", "patient"]
    if scenario.cohort.subgroups is not None:
        keys.append("subgroup")
    return keys + _BASE_COLUMNS + [f"dose_mg_{drug}" for drug in scenario.drugs_with_dose]


class BlockResult:
    """Patients and events of one block of patients in one arm and replication.

    ``patients`` is the block's table, column by column, in patient order. The event log is kept
    as the engine wrote it: ``logs[i]`` is patient ``first_patient + i``'s events in time order,
    flat, two items per event: the week and a label (event, therapy, detail). ``event_columns``
    and ``events`` give it as columns or as rows of ``EVENT_COLUMNS``.
    """

    __slots__ = ("patients", "replication", "arm", "first_patient", "logs")

    def __init__(self, patients: dict[str, list[Any]], replication: int, arm: str, first_patient: int,
                 logs: list[list[Any]]):
        self.patients = patients
        self.replication = replication
        self.arm = arm
        self.first_patient = first_patient
        self.logs = logs

    def event_rows(self) -> Iterator[tuple[int, float, str, str, str]]:
        """(patient, week, event, therapy, detail) for every logged event, in log order."""
        for patient, log in enumerate(self.logs, self.first_patient):
            for i in range(0, len(log), 2):
                event, therapy, detail = log[i + 1]
                yield patient, log[i], event, therapy, detail

    @property
    def event_columns(self) -> dict[str, list[Any]]:
        """The event log as columns of ``EVENT_COLUMNS``."""
        flat = list(chain.from_iterable(self.logs))
        total = len(flat) // 2
        patients = range(self.first_patient, self.first_patient + len(self.logs))
        event, therapy, detail = (list(c) for c in zip(*flat[1::2], strict=True)) if total else ([], [], [])
        return {
            "replication": [self.replication] * total,
            "arm": [self.arm] * total,
            "patient": list(chain.from_iterable(map(repeat, patients, [len(log) // 2 for log in self.logs]))),
            "week": flat[0::2],
            "event": event,
            "therapy": therapy,
            "detail": detail,
        }

    @property
    def events(self) -> list[tuple[Any, ...]]:
        """The event log as rows of ``EVENT_COLUMNS``."""
        replication, arm = self.replication, self.arm
        return [(replication, arm, *row) for row in self.event_rows()]


class _Draws:
    """Per-block draws as Python lists indexed by patient, derived lazily by purpose."""

    __slots__ = ("_streams", "_lists", "courses")

    def __init__(self, streams: Streams):
        self._streams = streams
        self._lists: dict[Any, list[float]] = {}
        self.courses: dict[tuple[_Plan, int, bool], _Course] = {}

    def close(self) -> None:
        """Drop the block's draws (courses refer back to this object)."""
        self._lists.clear()
        self.courses.clear()

    def below(self, purpose: str, probability: float) -> list[bool]:
        """Whether each patient's uniform for ``purpose`` is below ``probability``."""
        return (self._streams.uniforms(purpose) < probability).tolist()

    def uniforms(self, purpose: str) -> np.ndarray:
        return self._streams.uniforms(purpose)

    def times_array(self, purpose: str, spec: Any, upper: float | None = None) -> np.ndarray:
        return ppf_truncated(spec, self._streams.uniforms(purpose), upper)

    def times(self, purpose: str, spec: Any, upper: float | None = None) -> list[float]:
        # Keyed by the spec object: plans hold their specs for the block's lifetime.
        key = (purpose, id(spec), upper)
        values = self._lists.get(key)
        if values is None:
            values = self.times_array(purpose, spec, upper).tolist()
            self._lists[key] = values
        return values

    def exponential(self, purpose: str, mean_weeks: float) -> list[float]:
        key = (purpose, "exp", mean_weeks)
        values = self._lists.get(key)
        if values is None:
            u = self._streams.uniforms(purpose)
            values = (-mean_weeks * np.log1p(-u)).tolist()
            self._lists[key] = values
        return values

    def new_course(self, key: tuple[_Plan, int, bool]) -> _Course:
        """Draw a course for the whole block and keep it in ``courses``: the key is (plan, the
        course's ordinal in the patient's pathway, whether it is the plan's first course)."""
        plan, ordinal, first = key
        course = self.courses[key] = _Course(self, plan, _names(ordinal), first)
        return course


class _Course:
    """The draws of one course (a plan at a course ordinal) for every patient of a block.

    What every course needs (response, its time, complete response, adverse events and their
    onsets) is drawn at once; the rest (relapse times, taper and stop rules) on first use, as lists
    indexed by patient; the uniform for discontinuing after an adverse event, by kind of event.

    A patient's adverse events in a course are kept in the order they would happen: by onset from
    the start of the course, the lower index first on equal onsets. ``first_onset[j]`` is the first
    one's onset (infinity if none occurs); ``adverse_event(j, k)`` gives the k-th as (onset, index),
    read only for the few patients who have more than one during a course.
    """

    __slots__ = ("_draws", "_plan", "_names", "responds", "time_to_response", "completes", "first_onset",
                 "_onsets", "_order", "on_treatment", "time_to_complete", "after_taper", "after_taper_time",
                 "after_stop", "after_stop_time", "_discontinue")

    def __init__(self, draws: _Draws, plan: _Plan, names: _Names, first: bool):
        self._draws = draws
        self._plan = plan
        self._names = names
        self._discontinue: dict[int, np.ndarray] = {}
        self.responds = draws.below(names.response, plan.p_response if first else plan.p_retreat)
        self.time_to_response = draws.times(names.time_to_response, plan.time_to_response, plan.assessment_week)
        self.completes = draws.below(names.complete, plan.p_complete)
        possible = [(index, ae_name, p_occurs, onset) for index, ae_name, p_occurs, onset, _ in plan.adverse_events
                    if p_occurs > 0]
        if not possible:
            self.first_onset = [math.inf] * len(self.responds)
            self._onsets = self._order = None
            return
        uniforms = draws.uniforms
        onsets = np.stack([np.where(uniforms(names.ae(ae_name)[0]) < p_occurs,
                                    draws.times_array(names.ae(ae_name)[1], onset), np.inf)
                           for _, ae_name, p_occurs, onset in possible], axis=1)
        order = np.argsort(onsets, axis=1, kind="stable")  # stable: the lower index first on ties
        self._onsets = np.sort(onsets, axis=1)
        self._order = np.array([index for index, _, _, _ in possible])[order]
        self.first_onset = self._onsets[:, 0].tolist()

    def adverse_event(self, j: int, k: int) -> tuple[float, int]:
        """Patient j's k-th adverse event of the course (from 0): (onset, index); onset is infinity
        past the last."""
        onsets, order = self._onsets, self._order
        if onsets is None or order is None or k >= onsets.shape[1]:
            return math.inf, -1
        return onsets.item(j, k), order.item(j, k)

    def discontinue_uniform(self, index: int, j: int) -> float:
        """Patient j's uniform for discontinuing after adverse event ``index``: drawn for the block
        at the first adverse event of that kind in the course."""
        uniforms = self._discontinue.get(index)
        if uniforms is None:
            uniforms = self._draws.uniforms(self._names.ae(self._plan.adverse_events[index][1])[2])
            self._discontinue[index] = uniforms
        return uniforms.item(j)

    def __getattr__(self, name: str) -> Any:
        # Called only for a lazy slot not yet filled (and only for the rules the plan has): draw it, keep it.
        draws, names = self._draws, self._names
        plan: Any = self._plan
        if name == "on_treatment":
            value: Any = draws.exponential(names.on_treatment, plan.on_treatment_mean)
        elif name == "time_to_complete":
            value = draws.times(names.time_to_complete, plan.time_to_complete)
        elif name == "after_taper":  # whether the patient relapses after a taper
            value = draws.below(names.after_taper, plan.after_taper[0])
        elif name == "after_taper_time":
            value = draws.times(names.after_taper_time, plan.after_taper[1])
        elif name == "after_stop":  # whether the patient relapses after stopping
            value = draws.below(names.after_stop, plan.after_stop[0])
        elif name == "after_stop_time":
            value = draws.times(names.after_stop_time, plan.after_stop[1])
        else:
            raise AttributeError(name)
        setattr(self, name, value)
        return value


class _Names:
    """Stream names of one course ordinal: every draw of that course has its own purpose."""

    __slots__ = ("prefix", "response", "time_to_response", "complete", "time_to_complete", "on_treatment",
                 "after_taper", "after_taper_time", "after_stop", "after_stop_time", "_ae")

    def __init__(self, course: int):
        prefix = f"c{course}."
        self.prefix = prefix
        self.response = prefix + "response"
        self.time_to_response = prefix + "time_to_response"
        self.complete = prefix + "complete"
        self.time_to_complete = prefix + "time_to_complete"
        self.on_treatment = prefix + "relapse.on_treatment"
        self.after_taper = prefix + "relapse.after_taper"
        self.after_taper_time = prefix + "relapse.after_taper.time"
        self.after_stop = prefix + "relapse.after_stop"
        self.after_stop_time = prefix + "relapse.after_stop.time"
        self._ae: dict[str, tuple[str, str, str]] = {}

    def ae(self, name: str) -> tuple[str, str, str]:
        """Purposes of an adverse event: (occurs, onset, discontinue)."""
        names = self._ae.get(name)
        if names is None:
            base = f"{self.prefix}ae.{name}."
            names = (base + "occurs", base + "onset", base + "discontinue")
            self._ae[name] = names
        return names


_NAMES: dict[int, _Names] = {}


def _names(course: int) -> _Names:
    names = _NAMES.get(course)
    if names is None:
        names = _NAMES[course] = _Names(course)
    return names


_CONTINUE, _STOP, _TAPER = 0, 1, 2


class _Plan:
    """A therapy compiled for the hot loop: plain attributes, specs held for the draw cache."""

    __slots__ = ("name", "drug", "dose_index", "full_mg_per_week", "taper_mg_per_week", "p_response", "p_retreat",
                 "p_complete", "time_to_response", "assessment_week", "time_to_complete", "maintenance_weeks",
                 "after_maintenance", "taper_weeks", "on_treatment_mean", "relapses_on_treatment", "after_taper",
                 "after_stop", "retreat", "max_courses", "adverse_events", "log_response", "log_remission",
                 "log_taper_start", "log_failure", "log_relapse", "log_stop", "log_adverse", "log_discontinuation",
                 "log_lost", "log_end", "log_course_start")

    def __init__(self, name: str, therapy: Therapy, dosed_drugs: list[str]):
        response = therapy.response
        self.name = name
        self.drug = therapy.drug
        dose = therapy.dose_mg_per_day
        self.dose_index = dosed_drugs.index(therapy.drug) if dose is not None else -1
        self.full_mg_per_week = None if dose is None else dose * 7.0
        taper = therapy.taper
        self.taper_mg_per_week = None if dose is None or taper is None else taper.dose_mg_per_day * 7.0
        self.p_response = response.probability
        self.p_retreat = response.retreatment
        self.p_complete = response.complete_probability
        self.time_to_response = response.time_to_response
        self.assessment_week = response.assessment_week
        self.time_to_complete = response.time_to_complete
        self.maintenance_weeks = therapy.maintenance_weeks
        self.after_maintenance = {"continue": _CONTINUE, "stop": _STOP, "taper": _TAPER}[therapy.after_maintenance]
        self.taper_weeks = taper.weeks if taper is not None else 0.0
        self.on_treatment_mean = mean_weeks(therapy.relapse.on_treatment_per_year)
        self.relapses_on_treatment = self.on_treatment_mean != math.inf
        rules = therapy.relapse
        self.after_taper = (rules.after_taper.probability, rules.after_taper.time) if rules.after_taper else None
        self.after_stop = (rules.after_stop.probability, rules.after_stop.time) if rules.after_stop else None
        self.retreat = therapy.on_relapse == "retreat"
        self.max_courses = therapy.max_courses
        self.adverse_events = tuple(
            (index, ae_name, ae.occurrence_probability, ae.onset_distribution, ae.discontinue_probability)
            for index, (ae_name, ae) in enumerate(therapy.adverse_events.items())
        )
        # The event log's labels, (event, therapy, detail), made once: the engine logs (week, label).
        self.log_response = ("response", name, "")
        self.log_remission = ("remission", name, "")
        self.log_taper_start = ("taper_start", name, "")
        self.log_failure = ("assessment_failure", name, "")
        self.log_relapse = {level: ("relapse", name, level) for level in (FULL, TAPER, OFF)}
        self.log_stop = {reason: ("drug_stop", name, reason)
                         for reason in ("end_of_maintenance", "end_of_taper", "discontinued", "switch")}
        self.log_adverse = tuple(("adverse_event", name, ae_name) for _, ae_name, *_ in self.adverse_events)
        self.log_discontinuation = tuple(("discontinuation", name, ae_name) for _, ae_name, *_ in self.adverse_events)
        self.log_lost = ("lost_to_follow_up", name, "")
        self.log_end = ("end_of_follow_up", name, "")
        # By (line index, course number), filled as courses start.
        self.log_course_start: dict[tuple[int, int], tuple[str, str, str]] = {}

    def course_start_label(self, line: int, number: int) -> tuple[str, str, str]:
        """The label of this plan's ``number``-th course, started as line ``line + 1``."""
        label = self.log_course_start[line, number] = ("course_start", self.name, f"line {line + 1}, course {number}")
        return label


_NO_LINE_LEFT = ("no_line_left", "", "")
_LOST_WITHOUT_LINE = ("lost_to_follow_up", "", "")
_END_WITHOUT_LINE = ("end_of_follow_up", "", "")
# What to do before waiting for the next event.
_NOTHING, _STOP_DRUG, _NEXT_LINE, _RETREAT = 0, 1, 2, 3
_INF = math.inf


def _patient(timeout: Any, j: int, lines: list[_Plan], end_week: float, follow_up: float, draws: _Draws,
             log: list[Any] | None, rows: list[Any], dosed: int) -> Generator[simpy.Event, Any, None]:
    """One patient's course through the lines of an arm, as a SimPy process.

    The state lives in local variables, and each rule is written once, in the branch of the event
    that triggers it: this loop runs once per event of every patient. After an event, ``action``
    says what follows it: stop the drug (``stop_reason`` says why), move to the next usable line,
    or start a new course of the same therapy. When the patient's observation ends, their record
    goes into ``rows[j]``. Its events go into ``log``, two items each: the week and the plan's
    label for the event, (event, therapy, detail), by two ``append`` calls (the cheapest way to
    grow a list: about half the cost of ``log += (week, label)``).

    Pending events live in three places, because a pathway never has more than one of each kind:
    the next step of the course (``step_week``, ``step``: failure at assessment, response,
    remission, end of maintenance or end of taper, one at a time), the relapse (``relapse_week``),
    and the course's next adverse event (``adverse_week``; it is the course's ``adverse_next``-th,
    in onset order). Absent events are due at infinity. On equal weeks an adverse event comes
    first, then the relapse, then the course's step (see the keys at the top of this module).
    """
    now = 0.0
    disease = ACTIVE
    level = OFF
    step_week = relapse_week = _INF
    step = -1
    adverse_week = _INF
    adverse_next = 0
    course_start = 0.0
    line = -1
    n_lines = len(lines)
    plan: Any = None
    course: Any = None  # the current course's draws
    ordinal = 0  # the current course's ordinal over the whole pathway (names its streams)
    courses_of: dict[str, int] = {}
    will_complete = False
    discontinued: tuple[str, ...] = ()  # drugs stopped for an adverse event
    mg_per_week: float | None = None  # the current dose, while on drug
    dose_index = -1  # the current drug's place in `dose`
    therapy = ""  # the current plan's name
    first_response: float | None = None
    first_remission: float | None = None
    first_relapse: float | None = None
    relapse_after_remission: float | None = None
    disease_free = 0.0
    on_treatment = 0.0
    dose = [0.0] * dosed
    relapses = adverse_events = discontinuations = courses = 0
    dropout_reason: str | None = None
    dropout_week: float | None = None
    action = _NEXT_LINE
    stop_reason = ""
    courses_drawn = draws.courses

    while True:
        if action:
            if action == _STOP_DRUG:
                level = OFF
                if log is not None:
                    log.append(now)
                    log.append(plan.log_stop[stop_reason])
                step_week = relapse_week = adverse_week = _INF
                if disease is not ACTIVE and plan.after_stop is not None and course.after_stop[j]:
                    relapse_week = now + course.after_stop_time[j]
            else:
                if action == _NEXT_LINE:
                    if level is not OFF:
                        level = OFF
                        if log is not None:
                            log.append(now)
                            log.append(plan.log_stop["switch"])
                    step_week = relapse_week = adverse_week = _INF
                    line += 1
                    while line < n_lines and lines[line].drug in discontinued:
                        # A drug stopped for an adverse event is never restarted, in any later line either.
                        line += 1
                    if line < n_lines:
                        plan = lines[line]
                    else:
                        plan = None
                        if log is not None:
                            log.append(now)
                            log.append(_NO_LINE_LEFT)
                if plan is not None:
                    # Start a course of `plan`.
                    ordinal += 1
                    therapy = plan.name
                    number = courses_of.get(therapy, 0) + 1
                    courses_of[therapy] = number
                    courses += 1
                    level = FULL
                    mg_per_week = plan.full_mg_per_week
                    dose_index = plan.dose_index
                    relapse_week = _INF
                    if log is not None:
                        log.append(now)
                        log.append(plan.log_course_start.get((line, number)) or plan.course_start_label(line, number))
                    drawn = (plan, ordinal, number == 1)
                    course = courses_drawn.get(drawn) or draws.new_course(drawn)
                    if course.responds[j]:
                        step_week, step = now + course.time_to_response[j], _RESPONSE
                    elif plan.assessment_week is not None:
                        step_week, step = now + plan.assessment_week, _FAILURE
                    else:
                        step_week = _INF
                    will_complete = course.completes[j]
                    course_start = now
                    adverse_week = now + course.first_onset[j]
                    adverse_next = 0
            action = _NOTHING

        # The next event: the earliest, ties broken by kind.
        t, key = step_week, step
        if relapse_week <= t:
            t, key = relapse_week, _RELAPSE
        if adverse_week <= t:
            t, key = adverse_week, _ADVERSE
        ending = t >= end_week
        if ending:
            t = end_week
        if t > now:
            yield timeout(t - now)
            # Accumulate time in the current state up to t.
            dt = t - now
            if disease is REMISSION:
                disease_free += dt
            if level is not OFF:
                on_treatment += dt
                if mg_per_week is not None:
                    dose[dose_index] += mg_per_week * dt
            now = t
        if ending:
            break

        if key == _RESPONSE:
            step_week = _INF
            disease = RESPONSE
            if first_response is None:
                first_response = now
            if log is not None:
                log.append(now)
                log.append(plan.log_response)
            if plan.relapses_on_treatment:
                relapse_week = now + course.on_treatment[j]
            if will_complete:
                step_week, step = now + course.time_to_complete[j], _REMISSION
            elif plan.after_maintenance != _CONTINUE:
                step_week, step = now + plan.maintenance_weeks, _MAINTENANCE_END
        elif key == _REMISSION:
            step_week = _INF
            disease = REMISSION
            if first_remission is None:
                first_remission = now
            if log is not None:
                log.append(now)
                log.append(plan.log_remission)
            if plan.after_maintenance != _CONTINUE:
                step_week, step = now + plan.maintenance_weeks, _MAINTENANCE_END
        elif key == _MAINTENANCE_END:
            if plan.after_maintenance == _TAPER:
                level = TAPER
                mg_per_week = plan.taper_mg_per_week
                if log is not None:
                    log.append(now)
                    log.append(plan.log_taper_start)
                relapse_week = _INF  # a change of dose voids the full-dose relapse draw
                if plan.after_taper is not None and course.after_taper[j]:
                    relapse_week = now + course.after_taper_time[j]
                step_week, step = now + plan.taper_weeks, _TAPER_END
            else:
                action, stop_reason = _STOP_DRUG, "end_of_maintenance"
        elif key == _RELAPSE:
            relapse_week = _INF
            relapses += 1
            if first_relapse is None:
                first_relapse = now
            if first_remission is not None and relapse_after_remission is None:
                relapse_after_remission = now
            disease = ACTIVE
            if log is not None:
                log.append(now)
                log.append(plan.log_relapse[level])
            if level is FULL:
                action = _NEXT_LINE  # relapse on full dose is a treatment failure
            elif plan.retreat and plan.drug not in discontinued and courses_of[therapy] < plan.max_courses:
                level = OFF
                action = _RETREAT
            else:
                action = _NEXT_LINE
        elif key == _TAPER_END:
            action, stop_reason = _STOP_DRUG, "end_of_taper"
        elif key == _FAILURE:
            if log is not None:
                log.append(now)
                log.append(plan.log_failure)
            action = _NEXT_LINE
        else:  # an adverse event
            _, index = course.adverse_event(j, adverse_next)
            adverse_next += 1
            onset, _ = course.adverse_event(j, adverse_next)
            adverse_week = course_start + onset
            _, ae_name, _, _, p_discontinue = plan.adverse_events[index]
            adverse_events += 1
            if log is not None:
                log.append(now)
                log.append(plan.log_adverse[index])
            if course.discontinue_uniform(index, j) < p_discontinue:
                discontinuations += 1
                discontinued += (plan.drug,)
                if log is not None:
                    log.append(now)
                    log.append(plan.log_discontinuation[index])
                if dropout_reason is None:
                    dropout_reason = ae_name
                    dropout_week = now
                if disease is ACTIVE:
                    action = _NEXT_LINE
                else:
                    # A responder stays off drug under the after-stop rule (this also cancels a
                    # pending remission) and moves to the next line at relapse.
                    action, stop_reason = _STOP_DRUG, "discontinued"

    if end_week < follow_up:
        if log is not None:
            log.append(now)
            log.append(plan.log_lost if plan is not None else _LOST_WITHOUT_LINE)
        if dropout_reason is None:
            dropout_reason = "lost_to_follow_up"
            dropout_week = end_week
    elif log is not None:
        log.append(now)
        log.append(plan.log_end if plan is not None else _END_WITHOUT_LINE)
    rows[j] = (first_response, first_remission, disease_free, relapses, first_relapse, relapse_after_remission,
               dropout_reason, dropout_week, adverse_events, discontinuations, courses, on_treatment, disease,
               dose)


def merge_blocks(blocks: Iterable[BlockResult]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """The patients and the event log of several blocks, in order, as columns."""
    patients: dict[str, list[Any]] = {}
    events: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS}
    for block in blocks:
        for column, values in block.patients.items():
            patients.setdefault(column, []).extend(values)
        for column, values in block.event_columns.items():
            events[column].extend(values)
    return patients, events


_COMPILED: dict[int, tuple[Scenario, dict[str, dict[str | None, list[_Plan]]]]] = {}
"""Compiled lines of recent scenarios, by the scenario's identity (scenarios are frozen)."""


def _compiled_lines(scenario: Scenario, arm: str) -> dict[str | None, list[_Plan]]:
    """``_arm_lines`` compiled once per scenario and arm in this process (blocks of the same
    scenario reuse its plans; a bounded number of scenarios is kept, for sweeps)."""
    entry = _COMPILED.get(id(scenario))
    if entry is None or entry[0] is not scenario:
        if len(_COMPILED) >= 32:  # a bound, for sweeps that see many scenarios
            _COMPILED.clear()
        entry = _COMPILED[id(scenario)] = (scenario, {})
    arms = entry[1]
    lines = arms.get(arm)
    if lines is None:
        lines = arms[arm] = _arm_lines(scenario, arm)
    return lines


def _arm_lines(scenario: Scenario, arm: str) -> dict[str | None, list[_Plan]]:
    """The arm's compiled lines for each subgroup (key None when the cohort has no subgroups)."""
    names = scenario.arms[arm]
    groups = scenario.cohort.subgroups
    dosed = scenario.drugs_with_dose
    plans = {n: _Plan(n, scenario.therapies[n], dosed) for n in names}
    if groups is None:
        return {None: [plans[n] for n in names]}
    lines: dict[str | None, list[_Plan]] = {}
    for group, spec in groups.items():
        lines[group] = [
            _Plan(n, resolve_therapy(scenario.therapies[n], spec.overrides[n]), dosed) if n in spec.overrides
            else plans[n]
            for n in names
        ]
    return lines


def assign_subgroups(scenario: Scenario, streams: Streams) -> list[str | None]:
    """Each patient's subgroup, from its own stream: the same in every arm."""
    groups = scenario.cohort.subgroups
    n = streams.stop - streams.start
    if groups is None:
        return [None] * n
    names = list(groups)
    edges = np.cumsum([groups[g].share for g in names])
    edges[-1] = np.inf  # shares sum to 1 up to rounding: the last group takes the remainder
    index = np.searchsorted(edges, streams.uniforms("subgroup"), side="right")
    return [names[i] for i in index]


def simulate(scenario: Scenario, arm: str, replication: int, start: int = 0, stop: int | None = None,
             batch_size: int = 16, log_events: bool = True, event_sample: int | None = None) -> BlockResult:
    """Simulate patients ``start`` to ``stop - 1`` of one arm in one replication.

    Parameters
    ----------
    scenario:
        A validated scenario.
    arm:
        The arm's name.
    replication:
        The replication number; with the scenario's seed it names every random stream.
    start, stop:
        The block of patients (default: the whole cohort). Results do not depend on the block.
    batch_size:
        Patients per SimPy environment; small batches keep the event heap short.
    log_events:
        Whether to keep the event log.
    event_sample:
        Log events only for patients numbered below this (the same patients in every arm and
        replication); None logs every patient. Patient records are always complete.
    """
    # The garbage collector is off for the whole block: the block's temporaries (processes, draws,
    # records, logs) are freed by reference counting before it is back on, and the result holds
    # only flat lists of numbers, strings and the plans' shared labels, so nothing is left for it
    # to scan again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _simulate(scenario, arm, replication, start, stop, batch_size, log_events, event_sample)
    finally:
        if collecting:
            gc.enable()


def _simulate(scenario: Scenario, arm: str, replication: int, start: int, stop: int | None, batch_size: int,
              log_events: bool, event_sample: int | None) -> BlockResult:
    stop = scenario.cohort.size if stop is None else stop
    n = stop - start
    streams = Streams(scenario.seed, replication, start, stop)
    draws = _Draws(streams)
    lines_by_group = _compiled_lines(scenario, arm)
    subgroups = assign_subgroups(scenario, streams)
    dosed_drugs = scenario.drugs_with_dose
    follow_up = scenario.follow_up_weeks
    ltfu_rate = scenario.cohort.loss_to_follow_up_per_year
    if ltfu_rate > 0:
        end_weeks = np.minimum(follow_up, -(52.0 / ltfu_rate) * np.log1p(-streams.uniforms("loss_to_follow_up")))
        ends = end_weeks.tolist()
    else:
        ends = [follow_up] * n

    logged = max(0, min(stop, event_sample if event_sample is not None else stop) - start) if log_events else 0
    logs: list[list[Any] | None] = [[] for _ in range(logged)] + [None] * (n - logged)
    rows: list[Any] = [None] * n
    dosed = len(dosed_drugs)
    for first in range(0, n, batch_size):
        env = simpy.Environment()
        timeout, process = env.timeout, env.process
        for j in range(first, min(first + batch_size, n)):
            process(_patient(timeout, j, lines_by_group[subgroups[j]], ends[j], follow_up, draws, logs[j], rows,
                             dosed))
        env.run()
    draws.close()

    (first_response, first_remission, disease_free, relapses, first_relapse, relapse_after_remission, dropout_reason,
     dropout_week, adverse_events, discontinuations, courses, on_treatment, final_state, doses) = (
        zip(*rows, strict=True) if rows else ((),) * 14)
    if n and min(ends) > 0:
        fraction = list(map(truediv, disease_free, ends))
    else:  # a patient observed for no time has no fraction
        fraction = [free / end if end > 0 else math.nan for free, end in zip(disease_free, ends, strict=True)]
    table: dict[str, list[Any]] = {
        "replication": [replication] * n,
        "arm": [arm] * n,
        "patient": list(range(start, stop)),
        "subgroup": subgroups,
        "responded": list(map(is_not, first_response, repeat(None))),
        "time_to_response_weeks": list(first_response),
        "complete_response": list(map(is_not, first_remission, repeat(None))),
        "time_to_complete_response_weeks": list(first_remission),
        "disease_free_weeks": list(disease_free),
        "disease_free_fraction": fraction,
        "relapses": list(relapses),
        "first_relapse_week": list(first_relapse),
        "relapse_after_remission_week": list(relapse_after_remission),
        "dropout": list(map(is_not, dropout_reason, repeat(None))),
        "dropout_reason": list(dropout_reason),
        "dropout_week": list(dropout_week),
        "adverse_events": list(adverse_events),
        "discontinuations": list(discontinuations),
        "courses": list(courses),
        "weeks_on_treatment": list(on_treatment),
        "observed_weeks": ends,
        "final_state": list(final_state),
    }
    for index, drug in enumerate(dosed_drugs):
        table[f"dose_mg_{drug}"] = list(map(itemgetter(index), doses))
    # Each log is in time order and the logs are in patient order: no sort needed.
    return BlockResult({c: table[c] for c in patient_columns(scenario)}, replication, arm, start, logs[:logged])  # type: ignore[arg-type]
