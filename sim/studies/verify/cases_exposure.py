"""Verification cases of the pathway rules that follow exposure and practice (docs/model.md 2b), one or more per rule.

Each case names its rule as ``2b.N``: first-course-only adverse events (2b.1), a hazard that scales
with the dose (2b.2), cumulative-dose toxicity (2b.3), irreversible harm (2b.4), dose escalation
(2b.5) and reduced-dose maintenance (2b.6). The expected values are exact pathways of fixed
durations or closed forms (an exponential survival over piecewise-constant hazards, a uniform
threshold, a product of probabilities, a truncated mean).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sim.studies.verify.cases import _exact, _mean, _proportion, _Run, _run, _scenario, _therapy
from sim.studies.verify.checks import EXACT_PATIENTS, Check

__all__ = ["EXPOSURE_CASES"]


def case_first_course_only(seed: int, n: int) -> list[Check]:
    """2b.1: an early adverse event in the first course of a drug only, not in retreatment courses nor in a
    later therapy of the same drug."""
    case = "17 first-course-only adverse events (2b.1)"
    cycle = dict(maintenance_weeks=2, after_maintenance="stop", on_relapse="retreat",
                 relapse={"after_stop": {"probability": 1.0, "time": 1}})
    early = {"early": {"probability": 1.0, "onset": 0.5, "recurs": "first_course_of_drug"}}
    every = {"early": {"probability": 1.0, "onset": 0.5}}
    first = _therapy(max_courses=3, adverse_events=early, **cycle)
    usual = _therapy(max_courses=3, adverse_events=every, **cycle)
    other = _therapy(response={"time_to_response": 2}, adverse_events=early)  # the same drug, another therapy
    scenario = _scenario({"first": first, "usual": usual, "other": other},
                         arms={"first": ["first"], "usual": ["usual"], "sequence": ["first", "other"]},
                         follow_up=30, patients=EXACT_PATIENTS, seed=seed)
    once, each, sequence = _run(scenario, "first"), _run(scenario, "usual"), _run(scenario, "sequence")
    return [
        _exact(case, "adverse events over 3 courses, first course only", 1, "course 1 only",
               once.column("adverse_events")),
        _exact(case, "adverse events over 3 courses, every course", 3, "one per course (recurs: every_course)",
               each.column("adverse_events")),
        _exact(case, "adverse events, later therapy of the same drug", 1, "drug_a's first course only",
               sequence.column("adverse_events")),
        _exact(case, "week of the adverse event", 0.5, "fixed onset 0.5 of course 1",
               once.event_weeks("adverse_event")),
    ]


def case_dose_dependent_hazard(seed: int, n: int) -> list[Check]:
    """2b.2: hazard r (d/D)^k: full dose 10 mg to week 26, then a taper at 5 mg to week 52 (redrawn at the taper)."""
    case = "18 hazard that scales with the dose (2b.2)"
    rate, k = 1.0, 2.0
    therapy = _therapy(maintenance_weeks=25, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 26},
                       adverse_events={"toxicity": {"rate_per_year": rate, "dose_exponent": k}})
    run = _run(_scenario({"a": therapy}, follow_up=60, patients=n, seed=seed), "a")
    half = 0.5**k
    return [
        _proportion(case, "P(event by week 52)", -math.expm1(-rate * (26 + half * 26) / 52),
                    "1 - exp(-r (26 + 26 (1/2)^k) / 52), k = 2", _had_event(run, 0, 52)),
        _proportion(case, "P(event during the taper, weeks 26-52)",
                    math.exp(-rate * 26 / 52) * -math.expm1(-rate * half * 26 / 52),
                    "exp(-r 26/52) (1 - exp(-r (1/2)^k 26/52))", _had_event(run, 26, 52)),
        _exact(case, "patients with an event after the stop at week 52", 0, "on drug only",
               _had_event(run, 52, 60)),
    ]


def _had_event(run: _Run, low: float, high: float) -> np.ndarray:
    """Per patient, whether it had an adverse event in weeks [low, high)."""
    events = run.events
    mask = (events["event"] == "adverse_event") & (events["week"] >= low) & (events["week"] < high)
    has = np.zeros(len(run.patients["patient"]), dtype=bool)
    has[events["patient"][mask].astype(int)] = True
    return has


def case_cumulative_dose(seed: int, n: int) -> list[Check]:
    """2b.3: the event when the cumulative dose reaches a threshold G drawn once per patient and drug."""
    case = "19 cumulative-dose toxicity (2b.3)"
    # Full dose 10 mg/day (70 mg/week) to week 16 (1120 mg), then 5 mg/day (35 mg/week): 2.1 g is reached
    # (2100 - 1120) / 35 = 28 weeks later, at week 44.
    taper = _therapy(maintenance_weeks=15, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 40},
                     adverse_events={"neuropathy": {"cumulative_dose_g": 2.1}})
    # Courses of 20 weeks on drug (1400 mg) and 4 off: the 2100th mg is taken 10 weeks into course 2.
    cycle = _therapy(maintenance_weeks=19, after_maintenance="stop", on_relapse="retreat", max_courses=3,
                     relapse={"after_stop": {"probability": 1.0, "time": 4}},
                     adverse_events={"neuropathy": {"cumulative_dose_g": 2.1}})
    threshold = {"distribution": "uniform", "low": 0, "high": 4}
    random = _therapy(response={"probability": 0.0}, adverse_events={"neuropathy": {"cumulative_dose_g": threshold}})
    scenario = _scenario({"taper": taper, "cycle": cycle, "random": random}, follow_up=60, patients=n, seed=seed)
    small = scenario.model_copy(update={"cohort": scenario.cohort.model_copy(update={"size": EXACT_PATIENTS})})
    exact, courses, uniform = _run(small, "taper"), _run(small, "cycle"), _run(scenario, "random")
    horizon = 40.0
    weeks = uniform.event_weeks("adverse_event")
    return [
        _exact(case, "week the threshold is reached, across a taper", 44, "16 + (2100 - 1120) / 35",
               exact.event_weeks("adverse_event")),
        _exact(case, "week it is reached in a second course", 34, "24 + (2100 - 1400) / 70",
               courses.event_weeks("adverse_event")),
        _exact(case, "events per patient over 3 courses", 1, "at most once per patient and drug",
               courses.column("adverse_events")),
        _proportion(case, f"P(event by week {horizon:g}), G ~ U(0, 4) g", 0.07 * horizon / 4,
                    "P(G < 0.07 g/week x 40) = 2.8 / 4", _had_event(uniform, 0, horizon)),
        _mean(case, f"mean week of the event | by week {horizon:g}", horizon / 2,
              "G uniform: the week is uniform on [0, 40]", weeks[weeks < horizon]),
    ]


def case_irreversible_harm(seed: int, n: int) -> list[Check]:
    """2b.4: an adverse event leaves permanent harm with probability p, dated at the event."""
    case = "20 irreversible harm (2b.4)"
    p, occurs = 0.3, 0.6
    therapy = _therapy(adverse_events={"neuropathy": {"probability": occurs, "onset": 3,
                                                      "irreversible_probability": p}})
    run = _run(_scenario({"a": therapy}, follow_up=20, patients=n, seed=seed), "a")
    harmed = run.column("irreversible_harm").astype(bool)
    return [
        _proportion(case, "P(irreversible harm)", occurs * p, "P(event) x irreversible_probability", harmed),
        _exact(case, "week of the harm", 3, "the event's week", run.weeks("irreversible_harm_week")[harmed]),
    ]


def case_escalation(seed: int, n: int) -> list[Check]:
    """2b.5: no response at week E: dose D2; later responders respond as drawn, non-responders with q."""
    case = "21 dose escalation (2b.5)"
    p, q, mu, esc, week = 0.5, 0.4, 6.0, 4.0, 12.0
    escalation = {"at_week": esc, "dose_mg_per_day": 20, "probability": q}
    random = _therapy(response={"probability": p, "time_to_response": {"distribution": "exponential", "mean": mu},
                                "assessment_week": week, "complete_probability": 0.0},
                      escalation=escalation)
    fixed = _therapy(response={"probability": 0.0, "time_to_response": 3, "assessment_week": week},
                     escalation={**escalation, "probability": 1.0})
    failing = _therapy(response={"probability": 0.0, "time_to_response": 3, "assessment_week": week},
                       escalation={**escalation, "probability": 0.0})
    scenario = _scenario({"random": random, "fixed": fixed, "failing": failing}, follow_up=20, patients=n, seed=seed)
    small = scenario.model_copy(update={"cohort": scenario.cohort.model_copy(update={"size": EXACT_PATIENTS})})
    run, exact, fails = _run(scenario, "random"), _run(small, "fixed"), _run(small, "failing")
    f = -math.expm1(-esc / mu) / -math.expm1(-week / mu)  # P(time <= E | responder), truncated at A
    responded = run.column("responded").astype(bool)
    times = run.weeks("time_to_response_weeks")
    escalated = run.patients_with("dose_escalation")
    return [
        _proportion(case, "P(response)", p + (1 - p) * q, "p + (1 - p) q", responded),
        _proportion(case, "P(escalation)", 1 - p * f, "1 - p F(E)/F(A)", escalated),
        _mean(case, "mean weeks from E to response | escalated", _truncated_exponential_mean(mu, week - esc),
              "Exp(mu) truncated to A - E (memoryless)", times[escalated & responded] - esc),
        _exact(case, "week of response, escalated non-responder", esc + 3, "E + fixed 3 (truncated at A - E = 8)",
               exact.weeks("time_to_response_weeks")),
        _exact(case, "cumulative dose to week 20, mg", 10 * 7 * esc + 20 * 7 * (20 - esc), "10 x 7 x 4 + 20 x 7 x 16",
               exact.weeks("dose_mg_drug_a")),
        _exact(case, "week of failure without response", week, "assessment_week 12",
               fails.event_weeks("assessment_failure")),
    ]


def case_reduced_maintenance(seed: int, n: int) -> list[Check]:
    """2b.6: after maintenance the taper dose for good; relapse there at on_reduced_per_year, drawn on entry."""
    case = "22 reduced-dose maintenance (2b.6)"
    rate, t = 1.5, 26.0
    hazard = _therapy(response={"time_to_response": 1}, maintenance_weeks=9, after_maintenance="reduce",
                      taper={"dose_mg_per_day": 5}, relapse={"on_treatment_per_year": 5.0,
                                                             "on_reduced_per_year": rate})
    exact = _therapy(response={"time_to_response": 1}, maintenance_weeks=9, after_maintenance="reduce",
                     taper={"dose_mg_per_day": 5}, relapse={"on_reduced_per_year": 0.0})
    scenario = _scenario({"hazard": hazard, "exact": exact}, follow_up=60, patients=n, seed=seed)
    small = scenario.model_copy(update={"cohort": scenario.cohort.model_copy(update={"size": EXACT_PATIENTS})})
    run, fixed = _run(scenario, "hazard"), _run(small, "exact")
    reduced = run.patients_with("dose_reduction")
    relapse = run.weeks("first_relapse_week")
    after = run.event_weeks("relapse", "reduced") - 10
    return [
        _proportion(case, "P(reaching the reduced dose)", math.exp(-5.0 * 9 / 52),
                    "no full-dose relapse: exp(-5 x 9/52)", reduced),
        _proportion(case, f"P(no relapse {t:g} wk after reduction | reduced)", math.exp(-rate * t / 52),
                    "exp(-r t / 52), r = 1.5/yr, from reduction", ~(relapse[reduced] <= 10 + t)),
        _mean(case, "mean weeks from reduction to relapse | by week 60", _truncated_exponential_mean(52 / rate, 50),
              "mean of Exp(52/r) truncated at 50", after),
        _exact(case, "weeks on treatment (no end)", 60, "reduced dose to the horizon",
               fixed.weeks("weeks_on_treatment")),
        _exact(case, "cumulative dose, mg", 10 * 7 * 10 + 5 * 7 * 50, "10 x 7 x 10 + 5 x 7 x 50",
               fixed.weeks("dose_mg_drug_a")),
    ]


def _truncated_exponential_mean(mean: float, upper: float) -> float:
    """E[X | X < upper] for an exponential of this mean."""
    return mean - upper * math.exp(-upper / mean) / -math.expm1(-upper / mean)


EXPOSURE_CASES: list[Callable[[int, int], list[Check]]] = [
    case_first_course_only,
    case_dose_dependent_hazard,
    case_cumulative_dose,
    case_irreversible_harm,
    case_escalation,
    case_reduced_maintenance,
]
