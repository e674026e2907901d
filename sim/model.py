"""The clinical model: one SimPy process per patient, simulated in small batches.

``simulate(scenario, arm, replication, start, stop)`` is a pure function of its arguments. Each
patient's process keeps a small table of pending events (response, remission, relapse, adverse
events, end of maintenance or taper, failure at assessment) and waits for the earliest; ties are
broken by a fixed priority so that fixed-duration pathways are exact and reproducible.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from sim.distributions import ppf_truncated
from sim.rng import Streams
from sim.scenario import Scenario, Therapy, mean_weeks, resolve_therapy

__all__ = ["BlockResult", "EVENT_COLUMNS", "patient_columns", "simulate"]

ACTIVE, RESPONSE, REMISSION = "active", "response", "remission"
FULL, TAPER, OFF = "full", "taper", "off"

# Pending events are stored as key -> (week, key), so that the earliest is min() of the values and,
# on equal weeks, the smaller key happens first: adverse events (key = their index, in file order)
# while still on drug, then relapse (so a relapse due exactly at a taper's end happens during the
# taper), failure at assessment, response, remission, end of maintenance, end of taper.
_RELAPSE = 1_000_000
_FAILURE = _RELAPSE + 1
_RESPONSE = _RELAPSE + 2
_REMISSION = _RELAPSE + 3
_MAINTENANCE_END = _RELAPSE + 4
_TAPER_END = _RELAPSE + 5

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


@dataclass
class BlockResult:
    """Patients and events of one block of patients in one arm and replication."""

    patients: dict[str, list[Any]]
    events: list[tuple[Any, ...]] = field(default_factory=list)


class _Draws:
    """Per-block draws as Python lists indexed by patient, derived lazily by purpose."""

    __slots__ = ("_streams", "_lists", "_starts")

    def __init__(self, streams: Streams):
        self._streams = streams
        self._lists: dict[Any, list[float]] = {}
        self._starts: dict[Any, _CourseStart] = {}

    def u(self, purpose: str) -> list[float]:
        values = self._lists.get(purpose)
        if values is None:
            values = self._streams.uniforms(purpose).tolist()
            self._lists[purpose] = values
        return values

    def times(self, purpose: str, spec: Any, upper: float | None = None) -> list[float]:
        # Keyed by the spec object: plans hold their specs for the block's lifetime.
        key = (purpose, id(spec), upper)
        values = self._lists.get(key)
        if values is None:
            values = ppf_truncated(spec, self._streams.uniforms(purpose), upper).tolist()
            self._lists[key] = values
        return values

    def course_start(self, plan: _Plan, names: _Names, first: bool) -> _CourseStart:
        """Response, remission and adverse-event draws of a course of ``plan``, for the whole block."""
        key = (id(plan), names.prefix, first)
        start = self._starts.get(key)
        if start is None:
            uniforms = self._streams.uniforms
            p_response = plan.p_response if first else plan.p_retreat
            adverse_events = tuple(
                (index, (uniforms(names.ae(name)[0]) < p_occurs).tolist(), self.times(names.ae(name)[1], onset))
                for index, name, p_occurs, onset, _ in plan.adverse_events
                if p_occurs > 0
            )
            start = _CourseStart(
                (uniforms(names.response) < p_response).tolist(),
                self.times(names.time_to_response, plan.time_to_response, plan.assessment_week),
                (uniforms(names.complete) < plan.p_complete).tolist(),
                adverse_events,
            )
            self._starts[key] = start
        return start

    def exponential(self, purpose: str, mean_weeks: float) -> list[float]:
        key = (purpose, "exp", mean_weeks)
        values = self._lists.get(key)
        if values is None:
            u = self._streams.uniforms(purpose)
            values = (-mean_weeks * np.log1p(-u)).tolist()
            self._lists[key] = values
        return values


class _CourseStart:
    """What a course's start decides for every patient of a block, as lists indexed by patient."""

    __slots__ = ("responds", "time_to_response", "completes", "adverse_events")

    def __init__(self, responds: list[bool], time_to_response: list[float], completes: list[bool],
                 adverse_events: tuple[tuple[int, list[bool], list[float]], ...]):
        self.responds = responds
        self.time_to_response = time_to_response
        self.completes = completes
        self.adverse_events = adverse_events


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

    __slots__ = ("name", "drug", "full_mg_per_week", "taper_mg_per_week", "p_response", "p_retreat",
                 "p_complete", "time_to_response", "assessment_week", "time_to_complete", "maintenance_weeks",
                 "after_maintenance", "taper_weeks", "on_treatment_mean", "after_taper", "after_stop",
                 "retreat", "max_courses", "adverse_events")

    def __init__(self, name: str, therapy: Therapy):
        response = therapy.response
        self.name = name
        self.drug = therapy.drug
        dose = therapy.dose_mg_per_day
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
        rules = therapy.relapse
        self.after_taper = (rules.after_taper.probability, rules.after_taper.time) if rules.after_taper else None
        self.after_stop = (rules.after_stop.probability, rules.after_stop.time) if rules.after_stop else None
        self.retreat = therapy.on_relapse == "retreat"
        self.max_courses = therapy.max_courses
        self.adverse_events = tuple(
            (index, ae_name, ae.occurrence_probability, ae.onset_distribution, ae.discontinue_probability)
            for index, (ae_name, ae) in enumerate(therapy.adverse_events.items())
        )


class _Pathway:
    """One patient's course through the lines of an arm."""

    __slots__ = ("replication", "arm", "j", "patient", "lines", "end_week", "follow_up", "draws", "log", "now",
                 "disease", "level", "pending", "line", "plan", "course", "names", "courses_of", "will_complete",
                 "discontinued",
                 "first_response", "first_remission", "first_relapse", "relapse_after_remission",
                 "disease_free", "on_treatment", "dose_mg", "relapses", "adverse_events", "discontinuations",
                 "courses", "dropout_reason", "dropout_week")

    def __init__(self, replication: int, arm: str, j: int, patient: int, lines: list[_Plan], end_week: float,
                 follow_up: float, draws: _Draws, log: bool):
        self.replication = replication
        self.arm = arm
        self.j = j
        self.patient = patient
        self.lines = lines
        self.end_week = end_week
        self.follow_up = follow_up
        self.draws = draws
        self.log: list[tuple[Any, ...]] | None = [] if log else None

        self.now = 0.0
        self.disease = ACTIVE
        self.level = OFF
        self.pending: dict[int, tuple[float, int]] = {}
        self.line = -1
        self.plan: _Plan | None = None
        self.course = 0  # ordinal of the current course over the whole pathway (names the streams)
        self.names = _names(0)
        self.courses_of: dict[str, int] = {}
        self.will_complete = False
        self.discontinued: set[str] = set()

        self.first_response: float | None = None
        self.first_remission: float | None = None
        self.first_relapse: float | None = None
        self.relapse_after_remission: float | None = None
        self.disease_free = 0.0
        self.on_treatment = 0.0
        self.dose_mg: dict[str, float] = {}
        self.relapses = 0
        self.adverse_events = 0
        self.discontinuations = 0
        self.courses = 0
        self.dropout_reason: str | None = None
        self.dropout_week: float | None = None

    # --- bookkeeping -------------------------------------------------------------------------

    def _event(self, event: str, detail: str = "") -> None:
        log = self.log
        if log is not None:
            plan = self.plan
            log.append((self.replication, self.arm, self.patient, self.now, event,
                        plan.name if plan is not None else "", detail))

    # --- the process -------------------------------------------------------------------------

    def run(self, env: simpy.Environment) -> Iterator[simpy.Event]:
        self._next_line()
        pending = self.pending
        end_week = self.end_week
        timeout = env.timeout
        while True:
            t, key = min(pending.values()) if pending else (math.inf, -1)
            ending = t >= end_week
            if ending:
                t = end_week
            now = self.now
            if t > now:
                yield timeout(t - now)
                # Accumulate time in the current state up to t (inline: this runs once per event).
                dt = t - now
                if self.disease is REMISSION:
                    self.disease_free += dt
                level = self.level
                if level is not OFF:
                    self.on_treatment += dt
                    plan = self.plan
                    mg_per_week = plan.full_mg_per_week if level is FULL else plan.taper_mg_per_week
                    if mg_per_week is not None:
                        dose_mg = self.dose_mg
                        dose_mg[plan.drug] = dose_mg.get(plan.drug, 0.0) + mg_per_week * dt
                self.now = t
            if ending:
                self._finish()
                return
            del pending[key]
            if key == _RELAPSE:
                self._relapse()
            elif key == _RESPONSE:
                self._response()
            else:
                self._handle(key)

    def _handle(self, key: int) -> None:
        if key < _RELAPSE:
            self._adverse_event(key)
        elif key == _RELAPSE:
            self._relapse()
        elif key == _RESPONSE:
            self._response()
        elif key == _REMISSION:
            self._remission()
        elif key == _MAINTENANCE_END:
            if self.plan.after_maintenance == _TAPER:
                self._start_taper()
            else:
                self._stop_drug("end_of_maintenance")
        elif key == _TAPER_END:
            self._stop_drug("end_of_taper")
        elif key == _FAILURE:
            self._event("assessment_failure")
            self._next_line()

    # --- rules -------------------------------------------------------------------------------

    def _start_course(self, plan: _Plan) -> None:
        self.course += 1
        names = self.names = _names(self.course)
        number = self.courses_of.get(plan.name, 0) + 1
        self.courses_of[plan.name] = number
        self.courses += 1
        self.plan = plan
        self.level = FULL
        pending = self.pending
        pending.clear()
        if self.log is not None:
            self._event("course_start", f"line {self.line + 1}, course {number}")

        j, now = self.j, self.now
        start = self.draws.course_start(plan, names, number == 1)
        if start.responds[j]:
            pending[_RESPONSE] = (now + start.time_to_response[j], _RESPONSE)
        elif plan.assessment_week is not None:
            pending[_FAILURE] = (now + plan.assessment_week, _FAILURE)
        self.will_complete = start.completes[j]
        for index, occurs, onset in start.adverse_events:
            if occurs[j]:
                pending[index] = (now + onset[j], index)

    def _next_line(self) -> None:
        """Leave the current line (if any) and start the next usable one, or go off drug."""
        if self.level is not OFF:
            self.level = OFF
            self._event("drug_stop", "switch")
        self.pending.clear()
        self.line += 1
        lines = self.lines
        while self.line < len(lines) and lines[self.line].drug in self.discontinued:
            # A drug stopped for an adverse event is never restarted, in any later line either.
            self.line += 1
        if self.line < len(lines):
            self._start_course(lines[self.line])
        else:
            self.plan = None
            self._event("no_line_left")

    def _response(self) -> None:
        plan = self.plan
        self.disease = RESPONSE
        if self.first_response is None:
            self.first_response = self.now
        self._event("response")
        if plan.on_treatment_mean != math.inf:
            delay = self.draws.exponential(self.names.on_treatment, plan.on_treatment_mean)[self.j]
            self.pending[_RELAPSE] = (self.now + delay, _RELAPSE)
        if self.will_complete:
            delay = self.draws.times(self.names.time_to_complete, plan.time_to_complete)[self.j]
            self.pending[_REMISSION] = (self.now + delay, _REMISSION)
        elif plan.after_maintenance != _CONTINUE:
            self.pending[_MAINTENANCE_END] = (self.now + plan.maintenance_weeks, _MAINTENANCE_END)

    def _remission(self) -> None:
        self.disease = REMISSION
        if self.first_remission is None:
            self.first_remission = self.now
        self._event("remission")
        plan = self.plan
        if plan.after_maintenance != _CONTINUE:
            self.pending[_MAINTENANCE_END] = (self.now + plan.maintenance_weeks, _MAINTENANCE_END)

    def _start_taper(self) -> None:
        plan = self.plan
        pending = self.pending
        self.level = TAPER
        self._event("taper_start")
        pending.pop(_RELAPSE, None)  # a change of dose voids the full-dose relapse draw
        rule = plan.after_taper
        if rule is not None and self.draws.u(self.names.after_taper)[self.j] < rule[0]:
            delay = self.draws.times(self.names.after_taper_time, rule[1])[self.j]
            pending[_RELAPSE] = (self.now + delay, _RELAPSE)
        pending[_TAPER_END] = (self.now + plan.taper_weeks, _TAPER_END)

    def _stop_drug(self, reason: str) -> None:
        self.level = OFF
        self._event("drug_stop", reason)
        self.pending.clear()
        rule = self.plan.after_stop
        if self.disease is not ACTIVE and rule is not None:
            if self.draws.u(self.names.after_stop)[self.j] < rule[0]:
                delay = self.draws.times(self.names.after_stop_time, rule[1])[self.j]
                self.pending[_RELAPSE] = (self.now + delay, _RELAPSE)

    def _relapse(self) -> None:
        plan = self.plan
        level = self.level
        self.relapses += 1
        if self.first_relapse is None:
            self.first_relapse = self.now
        if self.first_remission is not None and self.relapse_after_remission is None:
            self.relapse_after_remission = self.now
        self.disease = ACTIVE
        self._event("relapse", level)
        if level is FULL:
            self._next_line()  # relapse on full dose is a treatment failure
        elif (plan.retreat and plan.drug not in self.discontinued
              and self.courses_of[plan.name] < plan.max_courses):
            self.level = OFF
            self._start_course(plan)
        else:
            self._next_line()

    def _adverse_event(self, index: int) -> None:
        plan = self.plan
        _, ae_name, _, _, p_discontinue = plan.adverse_events[index]
        self.adverse_events += 1
        self._event("adverse_event", ae_name)
        if self.draws.u(self.names.ae(ae_name)[2])[self.j] >= p_discontinue:
            return
        self.discontinuations += 1
        self.discontinued.add(plan.drug)
        self._event("discontinuation", ae_name)
        if self.dropout_reason is None:
            self.dropout_reason = ae_name
            self.dropout_week = self.now
        if self.disease is ACTIVE:
            self._next_line()
        else:
            # A responder stays off drug under the after-stop rule (this also cancels a pending
            # remission) and moves to the next line at relapse.
            self._stop_drug("discontinued")

    def _finish(self) -> None:
        if self.end_week < self.follow_up:
            self._event("lost_to_follow_up")
            if self.dropout_reason is None:
                self.dropout_reason = "lost_to_follow_up"
                self.dropout_week = self.end_week
        else:
            self._event("end_of_follow_up")


def _arm_lines(scenario: Scenario, arm: str) -> dict[str | None, list[_Plan]]:
    """The arm's compiled lines for each subgroup (key None when the cohort has no subgroups)."""
    names = scenario.arms[arm]
    groups = scenario.cohort.subgroups
    plans = {n: _Plan(n, scenario.therapies[n]) for n in names}
    if groups is None:
        return {None: [plans[n] for n in names]}
    lines: dict[str | None, list[_Plan]] = {}
    for group, spec in groups.items():
        lines[group] = [
            _Plan(n, resolve_therapy(scenario.therapies[n], spec.overrides[n])) if n in spec.overrides else plans[n]
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
             batch_size: int = 64, log_events: bool = True, event_sample: int | None = None) -> BlockResult:
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
    stop = scenario.cohort.size if stop is None else stop
    streams = Streams(scenario.seed, replication, start, stop)
    draws = _Draws(streams)
    lines_by_group = _arm_lines(scenario, arm)
    subgroups = assign_subgroups(scenario, streams)
    follow_up = scenario.follow_up_weeks
    ltfu_rate = scenario.cohort.loss_to_follow_up_per_year
    if ltfu_rate > 0:
        end_weeks = np.minimum(follow_up, -(52.0 / ltfu_rate) * np.log1p(-streams.uniforms("loss_to_follow_up")))
        ends = end_weeks.tolist()
    else:
        ends = [follow_up] * (stop - start)

    logged_below = (stop if event_sample is None else event_sample) if log_events else 0
    pathways: list[_Pathway] = []
    collecting = gc.isenabled()
    gc.disable()  # the pathways form no reference cycles worth collecting mid-block
    try:
        for batch_start in range(start, stop, batch_size):
            env = simpy.Environment()
            for patient in range(batch_start, min(batch_start + batch_size, stop)):
                j = patient - start
                pathway = _Pathway(replication, arm, j, patient, lines_by_group[subgroups[j]], ends[j], follow_up,
                                   draws, patient < logged_below)
                pathways.append(pathway)
                env.process(pathway.run(env))
            env.run()
    finally:
        if collecting:
            gc.enable()

    ps = pathways
    table: dict[str, list[Any]] = {
        "replication": [replication] * len(ps),
        "arm": [arm] * len(ps),
        "patient": [p.patient for p in ps],
    }
    if scenario.cohort.subgroups is not None:
        table["subgroup"] = subgroups
    table.update({
        "responded": [p.first_response is not None for p in ps],
        "time_to_response_weeks": [p.first_response for p in ps],
        "complete_response": [p.first_remission is not None for p in ps],
        "time_to_complete_response_weeks": [p.first_remission for p in ps],
        "disease_free_weeks": [p.disease_free for p in ps],
        "disease_free_fraction": [p.disease_free / p.end_week if p.end_week > 0 else math.nan for p in ps],
        "relapses": [p.relapses for p in ps],
        "first_relapse_week": [p.first_relapse for p in ps],
        "relapse_after_remission_week": [p.relapse_after_remission for p in ps],
        "dropout": [p.dropout_reason is not None for p in ps],
        "dropout_reason": [p.dropout_reason for p in ps],
        "dropout_week": [p.dropout_week for p in ps],
        "adverse_events": [p.adverse_events for p in ps],
        "discontinuations": [p.discontinuations for p in ps],
        "courses": [p.courses for p in ps],
        "weeks_on_treatment": [p.on_treatment for p in ps],
        "observed_weeks": [p.end_week for p in ps],
        "final_state": [p.disease for p in ps],
    })
    for drug in scenario.drugs_with_dose:
        table[f"dose_mg_{drug}"] = [p.dose_mg.get(drug, 0.0) for p in ps]
    # Pathways are in patient order and each log is in time order: no sort needed.
    events = [event for p in ps if p.log for event in p.log]
    return BlockResult({c: table[c] for c in patient_columns(scenario)}, events)
