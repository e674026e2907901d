"""Simulating trials: each simulated trial's patients, what the trial sees at its visits, and the test.

Each simulated trial ``k`` uses replication ``k`` of the base scenario's streams. The effect of a
two-arm trial is the difference in proportions (``risk_difference``) or mean weeks
(``mean_difference_weeks``), experimental minus control, or for log-rank the hazard ratio
(``hazard_ratio``), experimental over control (Peto's estimate); a trial whose test cannot be
computed (no event at all) does not reject. Group-sequential designs are analysed look by look
(``sequential``), single-arm designs by the exact binomial test and Simon's rule (``single_arm``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.engine.records import BlockResult
from sim.engine.simulate import simulate
from sim.execute import map_ordered
from sim.spec.trial import ARM_PATIENT_OFFSET, VISIT_OBSERVED, Trial
from sim.stats.testing import compare_arms
from sim.studies.trial.design import TrialPlan, enrolment_weeks
from sim.studies.trial.sequential import ArmData, run_looks, seen_at
from sim.studies.trial.single_arm import SIMON_TRIAL_COLUMNS, SINGLE_TRIAL_COLUMNS, simon_rows, single_stage_rows

__all__ = ["EndpointValues", "SimulatedArm", "TrialTables", "analyse_trial", "endpoint_values", "plan_units",
           "run_trials", "simon_trial", "simulate_trial", "trial_columns", "visit_states"]

TRIALS_PER_UNIT = 50
"""Simulated trials per unit of work: at 20 patients a trial, already ~1000 patients (~0.1 s), far above
the few milliseconds a process pool or Dask spends sending a task."""


_ACTIVE, _RESPONSE, _REMISSION = 0, 1, 2
_STATE_AFTER = {"response": _RESPONSE, "remission": _REMISSION, "relapse": _ACTIVE}


def visit_states(block: BlockResult, n: int, visit_weeks: Sequence[float]) -> np.ndarray:
    """State of each of a block's first n patients (0 active, 1 response, 2 remission) at each visit
    week, from its event log.

    The state at a visit is the state after every event at or before that week; patients start active.
    """
    first_patient = block.first_patient
    rows = [(p - first_patient, w, _STATE_AFTER[e]) for p, w, e, _, _ in block.event_rows() if e in _STATE_AFTER]
    visits = np.asarray(visit_weeks, dtype=float)
    if not rows:
        return np.zeros((n, len(visits)), dtype=np.int8)
    patient = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    week = np.fromiter((r[1] for r in rows), dtype=float, count=len(rows))
    state = np.fromiter((r[2] for r in rows), dtype=np.int8, count=len(rows))
    # The log is in patient order, then time order: search each (patient, visit) in one sorted key.
    stride = max(float(week.max()), float(visits.max())) + 1.0
    key = patient * stride + week
    query = (np.arange(n)[:, None] * stride + visits[None, :]).ravel()
    index = np.searchsorted(key, query, side="right") - 1
    owner = np.repeat(np.arange(n), len(visits))
    found = (index >= 0) & (patient[np.maximum(index, 0)] == owner)
    return np.where(found, state[np.maximum(index, 0)], _ACTIVE).astype(np.int8).reshape(n, len(visits))


@dataclass(frozen=True)
class EndpointValues:
    """One arm's endpoint, per patient in randomisation order.

    ``value`` is 0/1 (binary), weeks (continuous) or the event or censoring week (time to event);
    ``event`` is None except for time-to-event endpoints; ``used`` marks the patients who count
    (evaluable, or enrolled before the administrative end); ``needed_until`` is the calendar week
    the patient's follow-up for the endpoint ends (endpoint week or dropout, before any cap).
    """

    value: np.ndarray
    event: np.ndarray | None
    used: np.ndarray
    needed_until: np.ndarray


def endpoint_values(trial: Trial, enrol_week: np.ndarray, dropout_week: np.ndarray,
                    states: np.ndarray | None) -> EndpointValues:
    """The endpoint of one arm's patients, from their enrolment weeks, dropout weeks and visit states.

    ``dropout_week`` is NaN for no dropout; ``states`` is ``visit_states`` (needed for
    visit-observed endpoints).
    """
    metric = trial.endpoint.metric
    end = math.inf if trial.duration_weeks is None else trial.duration_weeks
    enrol = np.asarray(enrol_week, dtype=float)
    dropout = np.asarray(dropout_week, dtype=float)
    dropout = np.where(np.isnan(dropout), np.inf, dropout)
    week = trial.endpoint_week
    visits = np.asarray(trial.visit_weeks, dtype=float)
    needed_until = enrol + np.minimum(week, dropout)
    used = enrol + week <= end if trial.kind != "time_to_event" else enrol < end
    event = None
    if metric == "dropout":
        value = (dropout <= week).astype(float)
    elif metric == "time_to_dropout":
        follow = np.minimum(week, end - enrol)
        event = dropout <= follow
        value = np.where(event, dropout, follow)
    else:
        assert states is not None, f"{metric} needs the visit states"
        last = int(np.searchsorted(visits, week, side="right"))  # visits up to and including week W
        visits = visits[:last]
        attended = (visits[None, :] < dropout[:, None]) & (enrol[:, None] + visits[None, :] <= end)
        seen = np.where(attended, states[:, :last], -1)
        if metric in ("complete_response", "response"):
            value = (seen[:, -1] >= (_REMISSION if metric == "complete_response" else _RESPONSE)).astype(float)
        elif metric == "disease_free_weeks":
            remission = np.concatenate([np.zeros((len(enrol), 1)), (seen == _REMISSION).astype(float)], axis=1)
            widths = np.diff(np.concatenate([[0.0], visits]))
            value = (attended * widths * (remission[:, :-1] + remission[:, 1:]) / 2).sum(axis=1)
        else:
            if metric == "time_to_complete_response":
                hit = seen == _REMISSION
            else:
                responded = np.logical_or.accumulate(seen >= _RESPONSE, axis=1)
                before = np.concatenate([np.zeros((len(enrol), 1), dtype=bool), responded[:, :-1]], axis=1)
                hit = (seen == _ACTIVE) & before
            event = hit.any(axis=1)
            last_seen = np.where(attended, visits[None, :], 0.0).max(axis=1)
            value = np.where(event, visits[np.argmax(hit, axis=1)], last_seen)
    return EndpointValues(np.asarray(value, dtype=float), event, np.asarray(used, dtype=bool), needed_until)


def trial_columns(trial: Trial) -> list[str]:
    """The columns of ``trials.csv``: one row per simulated trial and size.

    Two-arm: the patients analysed per arm, the effect (named with its unit), the p-value, whether
    it rejected and the trial's duration; log-rank adds the events analysed; a group-sequential
    design adds the planned look the trial stopped at, the patients enrolled by then and whether the
    same trial, analysed once at its end, would have rejected. Single-arm: the responses, the exact
    binomial p-value, whether it declared the drug active, and the duration.
    """
    if trial.single_arm:
        return list(SINGLE_TRIAL_COLUMNS)
    columns = ["patients_per_arm", "simulation", "n_control", "n_experimental", trial.effect_column, "p_value",
               "reject", "duration_weeks"]
    if trial.kind == "time_to_event":
        columns.append("events")
    if trial.interim is not None:
        columns += ["look", "patients_enrolled", "reject_without_interim"]
    return columns


@dataclass(frozen=True)
class SimulatedArm:
    """One arm of one simulated trial (the largest design), its patients in randomisation order."""

    enrol_week: np.ndarray
    dropout_week: np.ndarray
    states: np.ndarray | None


def simulate_trial(plan: TrialPlan, simulation: int, full_follow_up: bool = False) -> list[SimulatedArm]:
    """Simulate the largest design of trial ``simulation`` (replication ``simulation`` of the base streams).

    Patients are simulated only to a week past the last week the trial looks at (its last visit or
    endpoint week): the model is causal, so what the trial sees is the same as with the base
    scenario's whole follow-up (``full_follow_up=True``), at a fraction of the cost.
    """
    trial, scenario = plan.trial, plan.scenario
    if not full_follow_up:
        needed = max(trial.endpoint_week, max(trial.visit_weeks)) + 1.0
        if needed < scenario.follow_up_weeks:
            scenario = scenario.model_copy(update={"follow_up_weeks": needed})
    sizes = plan.max_arm_sizes
    enrol = enrolment_weeks(scenario.seed, simulation, trial.ratios, sizes, trial.accrual_per_week)
    needs_states = trial.endpoint.metric in VISIT_OBSERVED
    arms = []
    for index, (arm, n) in enumerate(zip(trial.arms, sizes, strict=True)):
        first = index * ARM_PATIENT_OFFSET
        block = simulate(scenario, arm, simulation, first, first + n, log_events=needs_states)
        dropout = np.array(block.patients["dropout_week"], dtype=float)
        states = visit_states(block, n, trial.visit_weeks) if needs_states else None
        arms.append(SimulatedArm(enrol[index], dropout, states))
    return arms


def _arm_data(values: EndpointValues, enrol: np.ndarray, size: int) -> ArmData:
    return ArmData(enrol[:size], values.value[:size], None if values.event is None else values.event[:size],
                   values.used[:size], values.needed_until[:size])


def analyse_trial(trial: Trial, arms: Sequence[SimulatedArm], simulation: int) -> list[tuple[Any, ...]]:
    """One row per size (``trial_columns``) of a two-arm or single-arm simulated trial: the first patients of
    each arm."""
    values = [endpoint_values(trial, a.enrol_week, a.dropout_week, a.states) for a in arms]
    if trial.single_arm:
        return single_stage_rows(trial, values[0].value, values[0].needed_until, simulation)
    end = math.inf if trial.duration_weeks is None else trial.duration_weeks
    rows = []
    for n in trial.patients_per_arm:
        sizes = trial.arm_sizes(n)
        control, experimental = (_arm_data(v, a.enrol_week, size) for v, a, size in zip(values, arms, sizes,
                                                                                        strict=True))
        duration = min(end, max(float(v.needed_until[:size].max()) for v, size in zip(values, sizes, strict=True)))
        if trial.interim is not None:
            outcome = run_looks(trial, control, experimental, duration)
            enrolled = sum(int((a.enrol <= outcome.week).sum()) for a in (control, experimental))
            row: tuple[Any, ...] = (n, simulation, *outcome.analysed, outcome.effect, outcome.p_value, outcome.reject,
                                    outcome.week)
            if trial.kind == "time_to_event":
                row += (outcome.events,)
            rows.append(row + (outcome.look, enrolled, outcome.final_reject))
            continue
        c_value, c_event = seen_at(trial, control, None)
        e_value, e_event = seen_at(trial, experimental, None)
        effect, p = compare_arms(trial.test, trial.alternative or "two-sided", c_value, e_value, c_event, e_event)
        reject = bool(p <= trial.alpha) if not math.isnan(p) else False
        row = (n, simulation, len(c_value), len(e_value), effect, p, reject, duration)
        if trial.kind == "time_to_event":
            assert c_event is not None and e_event is not None
            row += (int(c_event.sum() + e_event.sum()),)
        rows.append(row)
    return rows


def simon_trial(plan: TrialPlan, arms: Sequence[SimulatedArm], simulation: int) -> list[tuple[Any, ...]]:
    """The rows (``SIMON_TRIAL_COLUMNS``) of the Simon designs of a simulated single-arm trial."""
    assert plan.simon is not None
    [arm] = arms
    values = endpoint_values(plan.trial, arm.enrol_week, arm.dropout_week, arm.states)
    return simon_rows(plan.simon, values.value, arm.enrol_week, values.needed_until, simulation)


@dataclass(frozen=True)
class TrialTables:
    """The simulated trials of a plan: ``trials`` (one row per trial and size) and, for a single-arm plan with
    ``simon``, ``simon`` (one row per trial and design)."""

    trials: pd.DataFrame
    simon: pd.DataFrame | None = None


def _simulate_unit(plan: TrialPlan, simulations: range) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rows: list[tuple[Any, ...]] = []
    simon: list[tuple[Any, ...]] = []
    for k in simulations:
        arms = simulate_trial(plan, k)
        rows.extend(analyse_trial(plan.trial, arms, k))
        if plan.simon is not None:
            simon.extend(simon_trial(plan, arms, k))
    return rows, simon


def plan_units(plan: TrialPlan, per_unit: int = TRIALS_PER_UNIT) -> list[range]:
    """The simulated trials in units of work, in order."""
    total = plan.trial.simulations
    return [range(start, min(start + per_unit, total)) for start in range(0, total, per_unit)]


_TYPES = {"effect": float, "p_value": float, "reject": bool, "duration_weeks": float, "stopped_early": bool,
          "declared_active": bool, "reject_without_interim": bool}


def run_trials(plan: TrialPlan, workers: int = 1, scheduler: str | None = None,
               on_done: Callable[[range], None] | None = None) -> TrialTables:
    """Simulate every trial of the plan: ``trials``, a row per size and simulated trial, and any Simon table.

    Each trial is a pure function of (base scenario, design, simulation number): the tables are the
    same whatever ``workers`` or ``scheduler`` runs them.
    """
    rows: list[tuple[Any, ...]] = []
    simon: list[tuple[Any, ...]] = []
    for unit_rows, unit_simon in map_ordered(_simulate_unit, plan, plan_units(plan), workers, scheduler, on_done):
        rows.extend(unit_rows)
        simon.extend(unit_simon)
    trial = plan.trial
    frame = pd.DataFrame(rows, columns=trial_columns(trial))
    frame = frame.sort_values(["patients_per_arm", "simulation"], kind="stable").reset_index(drop=True)
    types = {**_TYPES, trial.effect_column: float}
    frame = frame.astype({c: t for c, t in types.items() if c in frame.columns})
    simon_frame = None
    if plan.simon is not None:
        simon_frame = pd.DataFrame(simon, columns=SIMON_TRIAL_COLUMNS)
        order = {"optimal": 0, "minimax": 1}
        simon_frame = simon_frame.sort_values(["criterion", "simulation"], key=lambda c: c.map(order)
                                              if c.name == "criterion" else c, kind="stable").reset_index(drop=True)
        simon_frame = simon_frame.astype({c: t for c, t in _TYPES.items() if c in simon_frame.columns})
    return TrialTables(frame, simon_frame)
