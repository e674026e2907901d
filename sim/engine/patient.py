"""The SimPy process of one patient: the pathway through the lines of an arm, event by event."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from sim.engine.draws import Course, Draws
from sim.engine.economics import Valuation, flow
from sim.engine.exposure import DONE, next_exposure, redraw_exposure, start_exposure
from sim.engine.plans import AFTER_CONTINUE, AFTER_REDUCE, AFTER_TAPER, Plan
from sim.engine.records import ACTIVE, FULL, OFF, REDUCED, REMISSION, RESPONSE, TAPER

__all__ = ["patient_pathway"]

# The kinds of pending event. On equal weeks they happen in this order: an adverse event while
# still on drug, then a relapse (so a relapse due exactly at a taper's end happens during the
# taper), then the course's next step: failure at assessment, response, remission, end of
# maintenance, end of taper or dose escalation (a course has only one of these pending at a time).
_ADVERSE, _RELAPSE, _FAILURE, _RESPONSE, _REMISSION, _MAINTENANCE_END, _TAPER_END, _ESCALATION = range(8)

_NO_LINE_LEFT = ("no_line_left", "", "")
_LOST_WITHOUT_LINE = ("lost_to_follow_up", "", "")
_END_WITHOUT_LINE = ("end_of_follow_up", "", "")
_INF = math.inf
# What to do before waiting for the next event.
_NOTHING, _STOP_DRUG, _NEXT_LINE, _RETREAT = 0, 1, 2, 3
_NONE: frozenset[tuple[str, str]] = frozenset()
_EXP = math.exp
_NO_DUE: list[float] = []  # never changed: a course that needs ``due`` makes its own


def _threshold_due(course: Course, j: int, now: float, mg_per_week: float | None, taken: float, due: list[float],
                   matrix_week: float) -> float:
    """engine/exposure.py's redraw_exposure for a plan whose only dose-following event is a cumulative-dose
    threshold (``taken`` mg so far): its due week worked out again at the new dose; returns the next adverse
    event's week."""
    if due[0] is not DONE:
        left = course.exposure_start[0][j] - taken
        due[0] = (now + left / mg_per_week if left > 0.0 else now) if mg_per_week else _INF
    return matrix_week if matrix_week < due[0] else due[0]


def patient_pathway(timeout: Any, j: int, lines: list[Plan], end_week: float, follow_up: float, draws: Draws,
                    log: list[Any] | None, rows: list[Any], dosed: int,
                    valuation: Valuation | None = None) -> Generator[simpy.Event, Any, None]:
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
    remission, end of maintenance, end of taper or dose escalation, one at a time), the relapse
    (``relapse_week``), and the course's next adverse event (``adverse_week``; it is the course's
    ``adverse_next``-th, in onset order). Absent events are due at infinity. On equal weeks an
    adverse event comes first, then the relapse, then the course's step (see the keys at the top of
    this module). A plan with adverse events that follow the dose keeps them in ``due``
    (engine/exposure.py): its next adverse event is the earlier of ``matrix_week`` (the course's
    next drawn event) and the earliest of ``due``.

    Time is accumulated in one place, for the interval up to the next event: disease-free time, time
    on treatment and dose, at the current state and dose level; with a ``valuation`` (the scenario's
    economics, engine/economics.py), also costs and QALYs, discounted and not: the state's weekly cost
    and utility, the drug's weekly and per-mg cost while on drug, a cost at each course start and
    adverse event, and an adverse event's utility decrement for its weeks (to the end of observation
    for permanent harm), all over the observed time.
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
    ordinal = 0  # the current course's ordinal over the whole pathway (names its streams): courses started
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
    remission_since = 0.0  # disease-free time is summed by spells: exactly the observed time for one spell
    on_treatment = 0.0
    dose = [0.0] * dosed
    relapses = adverse_events = discontinuations = 0
    dropout_reason: str | None = None
    dropout_week: float | None = None
    irreversible_week: float | None = None
    action = _NEXT_LINE
    stop_reason = ""
    courses_drawn = draws.courses
    done: frozenset[tuple[str, str]] = _NONE  # (drug, event) of cumulative-dose events that occurred
    due: list[float] = _NO_DUE  # replaced at the start of each course of a plan with events that follow the dose
    matrix_week = _INF
    valued_run = valuation is not None
    if valuation is not None:
        # weight = exp(-rate * t); an interval's discounted length = (w_start - w_end) / rate (its length at rate 0)
        effect_rate, same_rate, cost_exponent, effect_exponent, cost_scale, effect_scale, state_values = \
            valuation.terms
        exp = _EXP
    # The flows per week now: the state's cost and QALYs, the drug's cost (0 off drug). Each is set where
    # what it depends on changes (the state; the level or the dose), so an interval only reads them.
    state_cost, utility = state_values[disease] if valued_run else (0.0, 0.0)
    drug_cost = 0.0
    # Discounted flows are summed as weight differences and scaled by 1/rate at the end (at rate 0 the
    # weights stay 1 and the plain sums are the discounted ones); events add their discounted values.
    cost_flow = qalys_flow = cost = qalys = cost_plain = qalys_plain = 0.0
    cost_weight = effect_weight = 1.0  # discount weights at `now`

    while True:
        if action:
            if action == _STOP_DRUG:
                level = OFF
                drug_cost = 0.0
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
                        drug_cost = 0.0
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
                    therapy, mg_per_week, dose_index, first_only, dynamic = plan.course_start
                    number = courses_of.get(therapy, 0) + 1
                    courses_of[therapy] = number
                    level = FULL
                    if valued_run:
                        drug_cost = plan.values.drug_cost(mg_per_week)
                        cost += plan.values.per_course * cost_weight
                        cost_plain += plan.values.per_course
                    relapse_week = _INF
                    if log is not None:
                        log.append(now)
                        log.append(plan.log_course_start.get((line, number)) or plan.course_start_label(line, number))
                    if first_only:
                        # The patient's first course of the drug: no course yet of any therapy of the drug.
                        first_of_drug = number == 1 and not (plan.same_drug
                                                             and any(map(courses_of.get, plan.same_drug)))
                        drawn: tuple[Any, ...] = (plan, ordinal, number == 1, first_of_drug)
                    else:
                        drawn = (plan, ordinal, number == 1)
                    course = courses_drawn.get(drawn) or draws.new_course(drawn)
                    if course.responds[j]:
                        respond_after = course.time_to_response[j]
                        if plan.escalation_week < respond_after:
                            step_week, step = now + plan.escalation_week, _ESCALATION
                        else:
                            step_week, step = now + respond_after, _RESPONSE
                    elif plan.assessment_week is not None:
                        if plan.escalates:
                            step_week, step = now + plan.escalation_week, _ESCALATION
                        else:
                            step_week, step = now + plan.assessment_week, _FAILURE
                    else:
                        step_week = _INF
                    will_complete = course.completes[j]
                    course_start = now
                    adverse_next = 0
                    if dynamic:
                        matrix_week = now + course.first_onset[j]
                        if plan.threshold_only:  # engine/exposure.py's start_exposure, written out
                            if done and plan.threshold_key in done:
                                due = [DONE]
                            else:
                                left = course.exposure_start[0][j] - dose[dose_index]
                                due = [(now + left / mg_per_week if left > 0.0 else now) if mg_per_week else _INF]
                            adverse_week = matrix_week if matrix_week < due[0] else due[0]
                        else:
                            adverse_week, due = start_exposure(plan, course, j, now, mg_per_week, dose, done,
                                                               matrix_week)
                    else:
                        adverse_week = now + course.first_onset[j]
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
            # Accumulate time in the current state and at the current dose up to t.
            dt = t - now
            if level is not OFF:
                on_treatment += dt
                if mg_per_week is not None:
                    dose[dose_index] += mg_per_week * dt
            if valued_run:
                weight = exp(cost_exponent * t)
                per_week = state_cost + drug_cost
                cost_flow += per_week * (cost_weight - weight)
                cost_plain += per_week * dt
                cost_weight = weight
                if not same_rate:
                    weight = exp(effect_exponent * t)
                qalys_flow += utility * (effect_weight - weight)
                qalys_plain += utility * dt
                effect_weight = weight
            now = t
        if ending:
            break

        if key == _RESPONSE:
            step_week = _INF
            disease = RESPONSE
            if valued_run:
                state_cost, utility = state_values[RESPONSE]
            if first_response is None:
                first_response = now
            if log is not None:
                log.append(now)
                log.append(plan.log_response)
            if plan.relapses_on_treatment:
                relapse_week = now + course.on_treatment[j]
            if will_complete:
                step_week, step = now + course.time_to_complete[j], _REMISSION
            elif plan.after_maintenance != AFTER_CONTINUE:
                step_week, step = now + plan.maintenance_weeks, _MAINTENANCE_END
        elif key == _REMISSION:
            step_week = _INF
            disease = REMISSION
            if valued_run:
                state_cost, utility = state_values[REMISSION]
            remission_since = now
            if first_remission is None:
                first_remission = now
            if log is not None:
                log.append(now)
                log.append(plan.log_remission)
            if plan.after_maintenance != AFTER_CONTINUE:
                step_week, step = now + plan.maintenance_weeks, _MAINTENANCE_END
        elif key == _MAINTENANCE_END:
            if plan.after_maintenance == AFTER_TAPER:
                level = TAPER
                mg_per_week = plan.taper_mg_per_week
                if valued_run:
                    drug_cost = plan.values.drug_cost(mg_per_week)
                if log is not None:
                    log.append(now)
                    log.append(plan.log_taper_start)
                relapse_week = _INF  # a change of dose voids the full-dose relapse draw
                if plan.after_taper is not None and course.after_taper[j]:
                    relapse_week = now + course.after_taper_time[j]
                step_week, step = now + plan.taper_weeks, _TAPER_END
                if plan.dynamic:
                    if plan.threshold_only:
                        adverse_week = _threshold_due(course, j, now, mg_per_week, dose[dose_index], due, matrix_week)
                    else:
                        adverse_week = redraw_exposure(plan, course, j, now, mg_per_week, dose, due, TAPER,
                                                       matrix_week)
            elif plan.after_maintenance == AFTER_REDUCE:
                level = REDUCED
                mg_per_week = plan.taper_mg_per_week
                if valued_run:
                    drug_cost = plan.values.drug_cost(mg_per_week)
                if log is not None:
                    log.append(now)
                    log.append(plan.log_reduction)
                # A change of dose voids the full-dose relapse draw; the reduced dose has its own, and no end.
                relapse_week = now + course.on_reduced[j] if plan.relapses_on_reduced else _INF
                step_week = _INF
                if plan.dynamic:
                    if plan.threshold_only:
                        adverse_week = _threshold_due(course, j, now, mg_per_week, dose[dose_index], due, matrix_week)
                    else:
                        adverse_week = redraw_exposure(plan, course, j, now, mg_per_week, dose, due, REDUCED,
                                                       matrix_week)
            else:
                action, stop_reason = _STOP_DRUG, "end_of_maintenance"
        elif key == _RELAPSE:
            relapse_week = _INF
            relapses += 1
            if first_relapse is None:
                first_relapse = now
            if first_remission is not None and relapse_after_remission is None:
                relapse_after_remission = now
            if disease is REMISSION:
                disease_free += now - remission_since
            disease = ACTIVE
            if valued_run:
                state_cost, utility = state_values[ACTIVE]
            if log is not None:
                log.append(now)
                log.append(plan.log_relapse[level])
            if level is FULL:
                action = _NEXT_LINE  # relapse on full dose is a treatment failure
            elif plan.retreat and plan.drug not in discontinued and courses_of[therapy] < plan.max_courses:
                level = OFF
                drug_cost = 0.0
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
        elif key == _ESCALATION:
            # No response yet at the escalation week: the course's full dose is the escalated one from now.
            mg_per_week = plan.escalation_mg_per_week
            if valued_run:
                drug_cost = plan.values.drug_cost(mg_per_week)
            if log is not None:
                log.append(now)
                log.append(plan.log_escalation)
            if course.responds[j]:  # a responder whose drawn time is later still responds then
                step_week, step = course_start + course.time_to_response[j], _RESPONSE
            elif course.escalation_responds[j]:
                step_week, step = now + course.escalation_time[j], _RESPONSE
            else:
                step_week, step = course_start + plan.assessment_week, _FAILURE
            if plan.dynamic:
                if plan.threshold_only:
                    adverse_week = _threshold_due(course, j, now, mg_per_week, dose[dose_index], due, matrix_week)
                else:
                    adverse_week = redraw_exposure(plan, course, j, now, mg_per_week, dose, due, "escalated",
                                                   matrix_week)
        else:  # an adverse event
            exposure = None
            if plan.dynamic:
                onset, index = course.adverse_event(j, adverse_next)
                week, position = next_exposure(due)
                if course_start + onset < week or (course_start + onset == week
                                                   and index < plan.dynamic[position].index):
                    adverse_next += 1
                    onset, _ = course.adverse_event(j, adverse_next)
                    matrix_week = course_start + onset
                else:
                    exposure = plan.dynamic[position]
                    index = exposure.index
                    due[position] = DONE
                    if exposure.cumulative:
                        done = done | {exposure.key}
                adverse_week = min(matrix_week, *due)
            else:
                _, index = course.adverse_event(j, adverse_next)
                adverse_next += 1
                onset, _ = course.adverse_event(j, adverse_next)
                adverse_week = course_start + onset
            _, ae_name, _, _, p_discontinue = plan.adverse_events[index]
            adverse_events += 1
            if log is not None:
                log.append(now)
                log.append(plan.log_adverse[index])
            valued = plan.values.events[index] if valued_run else None
            if valued is not None:
                cost += valued[0] * cost_weight
                cost_plain += valued[0]
                if valued[1]:  # a utility decrement for its weeks, within the observed time
                    until = min(now + valued[2], end_week)
                    lost = flow(effect_rate, effect_weight, math.exp(-effect_rate * until), until - now)
                    qalys -= valued[1] * lost
                    qalys_plain -= valued[1] * (until - now)
            if plan.irreversible and plan.irreversible[index] > 0.0:
                if exposure is not None and exposure.cumulative:
                    chance = draws.uniforms(exposure.irreversible_purpose).item(j)
                else:
                    chance = course.irreversible_uniform(index, j)
                if chance < plan.irreversible[index]:
                    if irreversible_week is None:
                        irreversible_week = now
                    if valued is not None and valued[3]:  # permanent: to the end of observation
                        lost = flow(effect_rate, effect_weight, math.exp(-effect_rate * end_week), end_week - now)
                        qalys -= valued[3] * lost
                        qalys_plain -= valued[3] * (end_week - now)
                    if log is not None:
                        log.append(now)
                        log.append(plan.log_irreversible[index])
            if exposure is not None and exposure.cumulative:
                chance = draws.uniforms(exposure.discontinue_purpose).item(j)
            else:
                chance = course.discontinue_uniform(index, j)
            if chance < p_discontinue:
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

    if disease is REMISSION:
        disease_free += now - remission_since
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
    if valued_run:  # the discounted flows from their weight differences (the plain sums at rate 0)
        cost = cost + cost_flow * cost_scale if cost_scale else cost_plain
        qalys = qalys + qalys_flow * effect_scale if effect_scale else qalys_plain
    # In the order of records.PATIENT_FIELDS.
    rows[j] = (first_response, first_remission, disease_free, relapses, first_relapse, relapse_after_remission,
               dropout_reason, dropout_week, adverse_events, discontinuations, ordinal, on_treatment, disease,
               dose, irreversible_week,
               (cost, qalys, cost_plain, qalys_plain) if valued_run else None)
