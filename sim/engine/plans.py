"""Therapies compiled for the engine's hot loop: plain attributes, event labels made once, cached per scenario."""

from __future__ import annotations

import math

import numpy as np

from sim.engine.economics import TherapyValues
from sim.engine.records import FULL, OFF, REDUCED, TAPER
from sim.engine.streams import Streams
from sim.spec.scenario import Scenario
from sim.spec.therapy import AdverseEvent, Therapy, mean_weeks, resolve_therapy

__all__ = ["AFTER_CONTINUE", "AFTER_REDUCE", "AFTER_STOP", "AFTER_TAPER", "Exposure", "Plan", "assign_subgroups",
           "compiled_lines"]

AFTER_CONTINUE, AFTER_STOP, AFTER_TAPER, AFTER_REDUCE = 0, 1, 2, 3
"""What follows maintenance: the full dose continues, the drug stops, a taper, or the reduced dose for good."""


class Exposure:
    """An adverse event that follows the dose: a hazard scaled by the current dose, or a cumulative-dose
    threshold (docs/model.md 2b, rules 2 and 3). Its time is worked out again whenever the dose changes."""

    __slots__ = ("index", "name", "cumulative", "first_only", "mean_weeks", "exponent", "full_mg_per_week",
                 "threshold", "key", "threshold_purpose", "discontinue_purpose", "irreversible_purpose")

    def __init__(self, index: int, name: str, event: AdverseEvent, drug: str, full_mg_per_week: float):
        self.index = index
        self.name = name
        self.cumulative = event.cumulative
        self.first_only = event.first_course_only
        self.mean_weeks = mean_weeks(event.rate_per_year) if event.rate_per_year is not None else math.inf
        self.exponent = event.dose_exponent or 0.0
        self.full_mg_per_week = full_mg_per_week
        self.threshold = event.cumulative_dose_g
        # A cumulative-dose event belongs to the patient and the drug, not to a course: its draws are
        # named by the drug, once per patient, whatever therapy of the drug is given.
        self.key = (drug, name)
        base = f"drug.{drug}.ae.{name}."
        self.threshold_purpose = base + "threshold_g"
        self.discontinue_purpose = base + "discontinue"
        self.irreversible_purpose = base + "irreversible"


class Plan:
    """A therapy compiled for the hot loop: plain attributes, specs held for the draw cache."""

    __slots__ = ("name", "drug", "dose_index", "full_mg_per_week", "taper_mg_per_week", "p_response", "p_retreat",
                 "p_complete", "time_to_response", "assessment_week", "time_to_complete", "maintenance_weeks",
                 "after_maintenance", "taper_weeks", "on_treatment_mean", "relapses_on_treatment", "after_taper",
                 "after_stop", "retreat", "max_courses", "adverse_events", "log_response", "log_remission",
                 "log_taper_start", "log_failure", "log_relapse", "log_stop", "log_adverse", "log_discontinuation",
                 "log_lost", "log_end", "log_course_start", "escalation_week", "escalates", "escalation_mg_per_week",
                 "p_escalation", "escalation_window", "on_reduced_mean", "relapses_on_reduced", "first_course_only",
                 "course_events", "dynamic", "irreversible", "log_escalation", "log_reduction", "log_irreversible",
                 "same_drug", "threshold_only", "threshold_key", "course_start", "values")

    def __init__(self, name: str, therapy: Therapy, dosed_drugs: list[str], same_drug: tuple[str, ...] = (),
                 economics: bool = False):
        response = therapy.response
        self.values = TherapyValues(therapy) if economics else None
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
        self.after_maintenance = {"continue": AFTER_CONTINUE, "stop": AFTER_STOP, "taper": AFTER_TAPER,
                                  "reduce": AFTER_REDUCE}[therapy.after_maintenance]
        self.taper_weeks = taper.weeks if taper is not None and taper.weeks is not None else 0.0
        self.on_treatment_mean = mean_weeks(therapy.relapse.on_treatment_per_year)
        self.relapses_on_treatment = self.on_treatment_mean != math.inf
        rules = therapy.relapse
        self.after_taper = (rules.after_taper.probability, rules.after_taper.time) if rules.after_taper else None
        self.after_stop = (rules.after_stop.probability, rules.after_stop.time) if rules.after_stop else None
        self.retreat = therapy.on_relapse == "retreat"
        self.max_courses = therapy.max_courses
        events = therapy.adverse_events
        self.adverse_events = tuple(
            (index, ae_name, 0.0 if ae.cumulative else ae.occurrence_probability,
             None if ae.cumulative else ae.onset_distribution, ae.discontinue_probability)
            for index, (ae_name, ae) in enumerate(events.items())
        )
        # docs/model.md section 2b. Each rule costs the hot loop only when the therapy uses it.
        escalation = therapy.escalation
        self.escalates = escalation is not None
        self.escalation_week = escalation.at_week if escalation is not None else math.inf
        self.escalation_mg_per_week = escalation.dose_mg_per_day * 7.0 if escalation is not None else None
        self.p_escalation = escalation.probability if escalation is not None else 0.0
        self.escalation_window = (response.assessment_week - escalation.at_week
                                  if escalation is not None and response.assessment_week is not None else None)
        reduced = therapy.relapse.on_reduced_per_year
        self.on_reduced_mean = mean_weeks(reduced) if reduced is not None else math.inf
        self.relapses_on_reduced = self.on_reduced_mean != math.inf
        self.first_course_only = any(ae.first_course_only for ae in events.values())
        # The other therapies of the scenario with this drug: a first course of this therapy is the
        # patient's first course of the drug when none of them has had a course.
        self.same_drug = same_drug
        self.dynamic = tuple(
            Exposure(index, ae_name, ae, therapy.drug, self.full_mg_per_week or 0.0)
            for index, (ae_name, ae) in enumerate(events.items())
            if dose is not None and (ae.cumulative or (ae.scales_with_dose and ae.occurrence_probability > 0))
        )
        # The commonest case, one cumulative-dose event and nothing else that follows the dose, is worked
        # out in the patient process itself (no call, no loop).
        self.threshold_only = len(self.dynamic) == 1 and self.dynamic[0].cumulative
        self.threshold_key = self.dynamic[0].key if self.threshold_only else None
        # What a course start reads, in one tuple (one attribute lookup in the hot loop).
        self.course_start = (name, self.full_mg_per_week, self.dose_index, self.first_course_only, bool(self.dynamic))
        moving = {e.index for e in self.dynamic}
        # The events drawn per course, in onset order: (index, name, P(occurs), onset, first course of the drug only).
        self.course_events = tuple(
            (index, ae_name, p_occurs, onset, events[ae_name].first_course_only)
            for index, ae_name, p_occurs, onset, _ in self.adverse_events if index not in moving
        )
        irreversible = [ae.irreversible_probability or 0.0 for ae in events.values()]
        self.irreversible = tuple(irreversible) if any(irreversible) else ()
        # The event log's labels, (event, therapy, detail), made once: the engine logs (week, label).
        self.log_response = ("response", name, "")
        self.log_remission = ("remission", name, "")
        self.log_taper_start = ("taper_start", name, "")
        self.log_failure = ("assessment_failure", name, "")
        self.log_relapse = {level: ("relapse", name, level) for level in (FULL, TAPER, REDUCED, OFF)}
        self.log_stop = {reason: ("drug_stop", name, reason)
                         for reason in ("end_of_maintenance", "end_of_taper", "discontinued", "switch")}
        self.log_adverse = tuple(("adverse_event", name, ae_name) for _, ae_name, *_ in self.adverse_events)
        self.log_discontinuation = tuple(("discontinuation", name, ae_name) for _, ae_name, *_ in self.adverse_events)
        self.log_escalation = ("dose_escalation", name, "")
        self.log_reduction = ("dose_reduction", name, "")
        self.log_irreversible = tuple(("irreversible_harm", name, ae_name) for _, ae_name, *_ in self.adverse_events)
        self.log_lost = ("lost_to_follow_up", name, "")
        self.log_end = ("end_of_follow_up", name, "")
        # By (line index, course number), filled as courses start.
        self.log_course_start: dict[tuple[int, int], tuple[str, str, str]] = {}

    def course_start_label(self, line: int, number: int) -> tuple[str, str, str]:
        """The label of this plan's ``number``-th course, started as line ``line + 1``."""
        label = self.log_course_start[line, number] = ("course_start", self.name, f"line {line + 1}, course {number}")
        return label


_COMPILED: dict[int, tuple[Scenario, dict[str, dict[str | None, list[Plan]]]]] = {}
"""Compiled lines of recent scenarios, by the scenario's identity (scenarios are frozen)."""


def compiled_lines(scenario: Scenario, arm: str) -> dict[str | None, list[Plan]]:
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


def _arm_lines(scenario: Scenario, arm: str) -> dict[str | None, list[Plan]]:
    """The arm's compiled lines for each subgroup (key None when the cohort has no subgroups)."""
    names = scenario.arms[arm]
    groups = scenario.cohort.subgroups
    dosed = scenario.drugs_with_dose
    drug_of = {n: t.drug for n, t in scenario.therapies.items()}
    same = {n: tuple(m for m in drug_of if m != n and drug_of[m] == drug_of[n]) for n in names}
    valued = scenario.economics is not None
    plans = {n: Plan(n, scenario.therapies[n], dosed, same[n], valued) for n in names}
    if groups is None:
        return {None: [plans[n] for n in names]}
    lines: dict[str | None, list[Plan]] = {}
    for group, spec in groups.items():
        lines[group] = [
            Plan(n, resolve_therapy(scenario.therapies[n], spec.overrides[n]), dosed, same[n], valued)
            if n in spec.overrides
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
