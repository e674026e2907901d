"""Trial planning: power against sample size from whole simulated randomised trials.

A trial file names a ``base:`` scenario (relative to the trial file) and a ``trial:`` section. Each
simulated trial ``k`` uses replication ``k`` of the base scenario's streams and runs as follows.

Enrolment and randomisation
    Patients arrive as a Poisson process of ``accrual_per_week`` (exponential gaps from the stream
    ``trial.accrual``, indexed by enrolment slot); the first arrives at calendar week 0. They are
    randomised in permuted blocks holding ``2 * allocation[a]`` places for arm ``a`` (blocks of 4
    for 1:1), each block shuffled by the stream ``trial.allocation``. ``patients_per_arm`` is the
    size of the smallest arm; with unequal allocation the others are scaled by the ratio.

Common random numbers across sizes
    The largest design is simulated once per trial; the design of ``n`` patients per arm takes the
    first ``n`` patients of each arm in randomisation order. The ``j``-th patient of arm ``a`` is
    patient ``a * ARM_PATIENT_OFFSET + j`` of the base scenario's streams, so the two arms hold
    different patients (also when both arms are the same strategy) and a patient's outcome does
    not depend on the other sizes of the list.

What the trial sees
    States only at ``visit_weeks`` (weeks from the patient's enrolment): the state at a visit is
    the patient's state at that week, rebuilt from the event log, so a remission that starts and
    ends between two visits is never seen. A patient leaves the trial at dropout (the first
    discontinuation for an adverse event, or loss to follow-up, at its exact week) and attends only
    the visits before it. ``duration_weeks`` ends the trial at that calendar week: a patient
    enrolled at week ``e`` is followed for ``duration_weeks - e`` weeks at most.

Endpoints (``at_week`` is W)
    ``complete_response`` / ``response``: in remission (or, for response, in response or
    remission) at the visit of week W; a patient who dropped out before W counts as a failure
    (non-responder imputation). ``dropout``: dropped out by week W (exact time). Patients whose
    week W falls after the administrative end are not evaluable and are left out.
    ``disease_free_weeks``: weeks in remission up to the visit of week W by the visit-interval
    (trapezoid) rule: the interval between two consecutive attended visits counts in full when
    both see remission, half when one does; week 0 is active disease; nothing counts after the last
    attended visit. ``time_to_dropout``: exact week of dropout. ``time_to_complete_response``:
    the first attended visit in remission. ``time_to_relapse``: the first attended visit with
    active disease after an attended visit in response or remission. Time-to-event endpoints follow
    each patient to W (default: the last visit week) or the administrative end, whichever is
    first; visit-observed ones are censored at the last attended visit.

Tests and effects (arms: control first, then experimental)
    ``fisher`` (scipy's exact test), ``chi2`` (Pearson's chi-square without continuity correction:
    the pooled two-proportion z-test), ``mann_whitney`` (normal approximation with tie and
    continuity corrections; exact for untied arms of at most 8), ``welch_t`` and ``logrank``
    (hypergeometric variance, tied visit weeks allowed). ``alternative: greater`` (``less``) is
    the one-sided alternative that the experimental arm's proportion, mean or hazard is higher
    (lower) than the control's. The effect is the difference in proportions or means,
    experimental minus control, or for log-rank the hazard ratio, experimental over control
    (Peto's estimate); a trial whose test cannot be computed (no event at all) does not reject.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError
from scipy import special, stats

from sim.engine.records import BlockResult
from sim.engine.simulate import simulate
from sim.engine.streams import Streams
from sim.spec.base import ScenarioError
from sim.spec.errors import describe_errors
from sim.spec.load import apply_overrides, load_scenario, read_yaml
from sim.spec.paths import parse_set_option
from sim.spec.scenario import Scenario
from sim.spec.trial import ARM_PATIENT_OFFSET, VISIT_OBSERVED, Trial, TrialFile, cross_check

__all__ = [
    "EndpointValues",
    "TrialPlan",
    "analyse_trial",
    "compare_arms",
    "endpoint_values",
    "enrolment_weeks",
    "load_trial",
    "logrank",
    "read_folder",
    "redraw_folder",
    "run_command",
    "run_trial_planning",
    "run_trials",
    "simulate_trial",
    "summarise_power",
    "visit_states",
]


TRIALS_PER_UNIT = 50
"""Simulated trials per unit of work: at 20 patients a trial, already ~1000 patients (~0.1 s), far above
the few milliseconds a process pool or Dask spends sending a task."""

PROGRESS_DELAY_SECONDS = 1.0


_ACTIVE, _RESPONSE, _REMISSION = 0, 1, 2
_STATE_AFTER = {"response": _RESPONSE, "remission": _REMISSION, "relapse": _ACTIVE}


# --- the trial file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialPlan:
    """A validated trial design with its resolved base scenario: what every unit of work needs."""

    name: str
    path: Path
    base_path: Path
    description: str
    trial: Trial
    scenario: Scenario

    @property
    def max_arm_sizes(self) -> tuple[int, ...]:
        """Patients simulated in each arm of every simulated trial (the largest design)."""
        return self.trial.arm_sizes(max(self.trial.patients_per_arm))


def _split_overrides(overrides: Iterable[str | tuple[str, Any]]) -> tuple[list[str], list[tuple[str, Any]]]:
    problems: list[str] = []
    parsed: list[tuple[str, Any]] = []
    for item in overrides:
        if isinstance(item, tuple):
            parsed.append(item)
            continue
        try:
            parsed.append(parse_set_option(item))
        except ScenarioError as err:
            problems.extend(err.problems)
    return problems, parsed


def load_trial(path: str | Path, overrides: Iterable[str | tuple[str, Any]] = ()) -> TrialPlan:
    """Read, override and validate a trial file and its base scenario.

    Parameters
    ----------
    path:
        The trial file (YAML with ``base:`` and ``trial:``).
    overrides:
        ``PATH=VALUE`` strings (or parsed pairs): paths starting ``trial.`` change the trial
        section, every other path the base scenario.

    Raises
    ------
    ScenarioError
        With one ``error: FILE: PATH: message`` line per problem, all found before anything runs.
    """
    path = Path(path)
    set_problems, parsed = _split_overrides(overrides)
    problems = [f"error: {path}: {p}" for p in set_problems]
    trial_sets = [(p, v) for p, v in parsed if p == "trial" or p.startswith("trial.")]
    base_sets = [(p, v) for p, v in parsed if not (p == "trial" or p.startswith("trial."))]
    set_paths = [p for p, _ in trial_sets]

    def line(dotted: str, message: str) -> str:
        origin = " (from --set)" if any(dotted == p or dotted.startswith(p + ".") for p in set_paths) else ""
        return f"error: {path}: {dotted}{origin}: {message}"

    raw = read_yaml(path)
    try:
        raw = apply_overrides(path, raw, trial_sets)
    except ScenarioError as err:
        problems.extend(err.problems)
    trial_file: TrialFile | None = None
    try:
        trial_file = TrialFile.model_validate(raw)
    except ValidationError as err:
        problems.extend(line(p, m) for p, m in describe_errors(err, TrialFile))
    scenario: Scenario | None = None
    base = raw.get("base")
    base_path = path.parent / base if isinstance(base, str) and base else None
    if base_path is not None:
        if not base_path.is_file():
            problems.append(line("base", f"no such file '{base}' (looked for {base_path})"))
        else:
            try:
                scenario = load_scenario(base_path, base_sets)
            except ScenarioError as err:
                problems.extend(err.problems)
    if trial_file is not None and scenario is not None:
        problems.extend(line(p, m) for p, m in cross_check(trial_file.trial, scenario))
    if problems:
        raise ScenarioError(problems)
    assert trial_file is not None and scenario is not None and base_path is not None
    return TrialPlan(path.stem, path, base_path, trial_file.description, trial_file.trial, scenario)


# --- design: who enters when, in which arm ------------------------------------------------------


def enrolment_weeks(seed: int, simulation: int, allocation: Sequence[int], arm_sizes: Sequence[int],
                    accrual_per_week: float) -> list[np.ndarray]:
    """Calendar week of enrolment of each arm's patients, in randomisation order.

    Poisson arrivals (the first at week 0) from the stream ``trial.accrual`` and permuted blocks of
    ``2 * allocation[a]`` places per arm shuffled by ``trial.allocation``, both indexed by
    enrolment slot: a longer trial extends a shorter one and never changes its first patients.
    """
    block = np.repeat(np.arange(len(allocation)), [2 * r for r in allocation])
    blocks = max(math.ceil(n / (2 * r)) for n, r in zip(arm_sizes, allocation, strict=True))
    slots = blocks * len(block)
    streams = Streams(seed, simulation, 0, slots)
    order = np.argsort(streams.uniforms("trial.allocation").reshape(blocks, len(block)), axis=1, kind="stable")
    table = np.empty((blocks, len(block)), dtype=np.int64)
    np.put_along_axis(table, order, np.broadcast_to(block, (blocks, len(block))), axis=1)
    slot_arm = table.ravel()
    gaps = -np.log1p(-streams.uniforms("trial.accrual")) / accrual_per_week
    arrival = np.concatenate([[0.0], np.cumsum(gaps[1:])])
    return [arrival[slot_arm == a][:n] for a, n in enumerate(arm_sizes)]


# --- what the trial sees ------------------------------------------------------------------------


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


# --- tests ---------------------------------------------------------------------------------------


def logrank(time0: np.ndarray, event0: np.ndarray, time1: np.ndarray, event1: np.ndarray,
            alternative: str = "two-sided") -> tuple[float, float]:
    """Log-rank test of group 1 against group 0: (hazard ratio, p-value).

    The statistic is ``U / sqrt(V)`` with ``U = O1 - E1`` summed over distinct event times and the
    hypergeometric variance ``V`` (ties allowed); the hazard ratio is Peto's ``exp(U / V)``.
    'greater' is the alternative that group 1 has the higher hazard. NaN when no event occurs.
    """
    t0, t1 = np.asarray(time0, dtype=float), np.asarray(time1, dtype=float)
    e0, e1 = np.asarray(event0, dtype=bool), np.asarray(event1, dtype=bool)
    times = np.unique(np.concatenate([t0[e0], t1[e1]]))
    if len(times) == 0:
        return math.nan, math.nan
    sorted0, sorted1 = np.sort(t0), np.sort(t1)
    at_risk0 = len(t0) - np.searchsorted(sorted0, times, side="left")
    at_risk1 = len(t1) - np.searchsorted(sorted1, times, side="left")
    events0, events1 = np.sort(t0[e0]), np.sort(t1[e1])
    deaths0 = np.searchsorted(events0, times, side="right") - np.searchsorted(events0, times, side="left")
    deaths1 = np.searchsorted(events1, times, side="right") - np.searchsorted(events1, times, side="left")
    at_risk = (at_risk0 + at_risk1).astype(float)
    deaths = (deaths0 + deaths1).astype(float)
    share1 = at_risk1 / at_risk
    u = float(deaths1.sum() - (deaths * share1).sum())
    v = float((deaths * share1 * (1 - share1) * (at_risk - deaths) / np.maximum(at_risk - 1, 1)).sum())
    if v <= 0:
        return math.nan, math.nan
    z = u / math.sqrt(v)
    return math.exp(u / v), _normal_p(z, alternative)


def _normal_p(z: float, alternative: str) -> float:
    """P-value of a standard normal statistic (two-sided: the chi-square(1) tail of z squared)."""
    if alternative == "greater":
        return 0.5 * math.erfc(z / math.sqrt(2))
    if alternative == "less":
        return 0.5 * math.erfc(-z / math.sqrt(2))
    return math.erfc(abs(z) / math.sqrt(2))


def _welch(control: np.ndarray, experimental: np.ndarray, alternative: str) -> float:
    """Welch's unequal-variance t-test (as ``scipy.stats.ttest_ind(equal_var=False)``, without its overhead)."""
    n0, n1 = len(control), len(experimental)
    v0, v1 = control.var(ddof=1) / n0, experimental.var(ddof=1) / n1
    difference = experimental.mean() - control.mean()
    if v0 + v1 == 0:  # both arms constant: certain when they differ
        if difference == 0:
            return 1.0
        return float(alternative == "less" and difference > 0 or alternative == "greater" and difference < 0)
    t = difference / math.sqrt(v0 + v1)
    df = (v0 + v1) ** 2 / (v0 * v0 / (n0 - 1) + v1 * v1 / (n1 - 1))
    if alternative == "greater":
        return float(special.stdtr(df, -t))
    if alternative == "less":
        return float(special.stdtr(df, t))
    return float(2 * special.stdtr(df, -abs(t)))


def _mann_whitney(control: np.ndarray, experimental: np.ndarray, alternative: str) -> float:
    """Mann-Whitney U test of experimental against control.

    Normal approximation with tie and continuity corrections, as ``scipy.stats.mannwhitneyu``'s
    'asymptotic' method; scipy's exact distribution for arms of at most 8 patients without ties.
    """
    n0, n1 = len(control), len(experimental)
    pooled = np.concatenate([experimental, control])
    ranks = stats.rankdata(pooled)
    _, ties = np.unique(pooled, return_counts=True)
    if max(n0, n1) <= 8 and ties.max() == 1:
        return float(stats.mannwhitneyu(experimental, control, alternative=alternative, method="exact").pvalue)
    n = n0 + n1
    u1 = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2
    mean = n0 * n1 / 2
    spread = math.sqrt(n0 * n1 / 12 * ((n + 1) - float((ties ** 3 - ties).sum()) / (n * (n - 1))))
    if spread == 0:
        return 1.0
    if alternative == "greater":
        u = u1
    elif alternative == "less":
        u = n0 * n1 - u1
    else:
        u = max(u1, n0 * n1 - u1)
    p = 0.5 * math.erfc((u - mean - 0.5) / spread / math.sqrt(2))
    return min(1.0, 2 * p if alternative == "two-sided" else p)


@lru_cache(maxsize=1 << 16)
def _fisher(x1: int, n1: int, x0: int, n0: int, alternative: str) -> float:
    return float(stats.fisher_exact([[x1, n1 - x1], [x0, n0 - x0]], alternative=alternative)[1])


def _chi2(x1: int, n1: int, x0: int, n0: int, alternative: str) -> float:
    """Pearson's chi-square test of a 2x2 table without continuity correction, as the pooled z-test."""
    pooled = (x0 + x1) / (n0 + n1)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
    if se == 0:
        return 1.0  # every patient alike: no evidence either way
    return _normal_p((x1 / n1 - x0 / n0) / se, alternative)


def compare_arms(test: str, alternative: str, control: np.ndarray, experimental: np.ndarray,
                 control_event: np.ndarray | None = None,
                 experimental_event: np.ndarray | None = None) -> tuple[float, float]:
    """(effect, p-value) of the experimental arm against the control arm; NaN when not computable.

    The effect is the difference in proportions or means (experimental minus control), or for
    ``logrank`` the hazard ratio (experimental over control). 'greater' is the alternative that
    the effect is above 0 (hazard ratio above 1).
    """
    n0, n1 = len(control), len(experimental)
    if n0 == 0 or n1 == 0:
        return math.nan, math.nan
    if test == "logrank":
        assert control_event is not None and experimental_event is not None
        return logrank(control, control_event, experimental, experimental_event, alternative)
    effect = float(experimental.mean() - control.mean())
    if test in ("fisher", "chi2"):
        x0, x1 = int(control.sum()), int(experimental.sum())
        p = (_fisher if test == "fisher" else _chi2)(x1, n1, x0, n0, alternative)
        return effect, p
    if test == "mann_whitney":
        return effect, _mann_whitney(control, experimental, alternative)
    if n0 < 2 or n1 < 2:
        return effect, math.nan
    return effect, _welch(control, experimental, alternative)


# --- run: simulate trials -------------------------------------------------------------------------


TRIAL_COLUMNS = ["patients_per_arm", "simulation", "n_control", "n_experimental", "effect", "p_value", "reject",
                 "duration_weeks"]


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
    enrol = enrolment_weeks(scenario.seed, simulation, trial.allocation, sizes, trial.accrual_per_week)
    needs_states = trial.endpoint.metric in VISIT_OBSERVED
    arms = []
    for index, (arm, n) in enumerate(zip(trial.arms, sizes, strict=True)):
        first = index * ARM_PATIENT_OFFSET
        block = simulate(scenario, arm, simulation, first, first + n, log_events=needs_states)
        dropout = np.array(block.patients["dropout_week"], dtype=float)
        states = visit_states(block, n, trial.visit_weeks) if needs_states else None
        arms.append(SimulatedArm(enrol[index], dropout, states))
    return arms


def analyse_trial(trial: Trial, arms: Sequence[SimulatedArm], simulation: int) -> list[tuple[Any, ...]]:
    """One row per size (``TRIAL_COLUMNS``) of a simulated trial: the first patients of each arm."""
    values = [endpoint_values(trial, a.enrol_week, a.dropout_week, a.states) for a in arms]
    end = math.inf if trial.duration_weeks is None else trial.duration_weeks
    rows = []
    for n in trial.patients_per_arm:
        sizes = trial.arm_sizes(n)
        parts = []
        for v, size in zip(values, sizes, strict=True):
            used = v.used[:size]
            parts.append((v.value[:size][used], None if v.event is None else v.event[:size][used]))
        (control, control_event), (experimental, experimental_event) = parts
        effect, p = compare_arms(trial.test, trial.alternative, control, experimental, control_event,
                                 experimental_event)
        duration = min(end, max(float(v.needed_until[:size].max()) for v, size in zip(values, sizes, strict=True)))
        reject = bool(p <= trial.alpha) if not math.isnan(p) else False
        rows.append((n, simulation, len(control), len(experimental), effect, p, reject, duration))
    return rows


def _simulate_unit(plan: TrialPlan, simulations: range) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for k in simulations:
        rows.extend(analyse_trial(plan.trial, simulate_trial(plan, k), k))
    return rows


def plan_units(plan: TrialPlan, per_unit: int = TRIALS_PER_UNIT) -> list[range]:
    """The simulated trials in units of work, in order."""
    total = plan.trial.simulations
    return [range(start, min(start + per_unit, total)) for start in range(0, total, per_unit)]


def run_trials(plan: TrialPlan, workers: int = 1, scheduler: str | None = None,
               on_done: Callable[[range], None] | None = None) -> pd.DataFrame:
    """Simulate every trial of the plan and return ``trials``: a row per size and simulated trial.

    Each trial is a pure function of (base scenario, design, simulation number): the table is the
    same whatever ``workers`` or ``scheduler`` runs it.
    """
    from sim.experiment import map_ordered

    rows: list[tuple[Any, ...]] = []
    for unit_rows in map_ordered(_simulate_unit, plan, plan_units(plan), workers, scheduler, on_done):
        rows.extend(unit_rows)
    frame = pd.DataFrame(rows, columns=TRIAL_COLUMNS)
    frame = frame.sort_values(["patients_per_arm", "simulation"], kind="stable").reset_index(drop=True)
    return frame.astype({"effect": float, "p_value": float, "reject": bool, "duration_weeks": float})


# --- analyse: power against size -----------------------------------------------------------------


POWER_COLUMNS = ["patients_per_arm", "power", "ci_low", "ci_high", "mean_effect", "mean_duration_weeks"]


def summarise_power(trials: pd.DataFrame, time_to_event: bool = False) -> pd.DataFrame:
    """Per size: power (rejection rate) with its 95% Wilson interval, mean effect and mean duration.

    For time-to-event endpoints the mean effect is the geometric mean of the hazard ratios.
    """
    rows = []
    for n, group in trials.groupby("patients_per_arm", sort=True):
        k, total = int(group["reject"].sum()), len(group)
        interval = stats.binomtest(k, total).proportion_ci(confidence_level=0.95, method="wilson")
        effects = group["effect"].to_numpy(dtype=float)
        effects = effects[np.isfinite(effects)]
        if time_to_event:
            effects = effects[effects > 0]
            mean_effect = float(np.exp(np.log(effects).mean())) if len(effects) else math.nan
        else:
            mean_effect = float(effects.mean()) if len(effects) else math.nan
        rows.append((int(n), k / total, float(interval.low), float(interval.high), mean_effect,
                     float(group["duration_weeks"].mean())))
    return pd.DataFrame(rows, columns=POWER_COLUMNS)


def smallest_size(power: pd.DataFrame, target: float) -> int | None:
    """The smallest size whose estimated power reaches the target, or None."""
    reached = power[power["power"] >= target]
    return int(reached["patients_per_arm"].iloc[0]) if len(reached) else None


# --- words for people ----------------------------------------------------------------------------

_METRIC_WORDS = {
    "complete_response": "complete response (remission) at the visit of week {w:g}",
    "response": "response (partial or complete) at the visit of week {w:g}",
    "dropout": "dropout (discontinuation for an adverse event, or loss to follow-up) by week {w:g}",
    "disease_free_weeks": "weeks in remission up to the visit of week {w:g} (visit-interval trapezoid rule)",
    "time_to_dropout": "time to dropout (exact week), followed to week {w:g}",
    "time_to_relapse": "time to the first relapse seen at a visit, followed to week {w:g}",
    "time_to_complete_response": "time to the first visit in complete response, followed to week {w:g}",
}
_TEST_WORDS = {"fisher": "Fisher's exact test", "chi2": "Pearson's chi-square test (no continuity correction)",
               "logrank": "the log-rank test", "mann_whitney": "the Mann-Whitney U test",
               "welch_t": "Welch's t-test"}


def effect_words(trial: Trial) -> str:
    """What the effect column means."""
    control, experimental = trial.arms
    if trial.kind == "time_to_event":
        return f"hazard ratio, {experimental} over {control} (log-rank/Peto estimate; mean = geometric mean)"
    what = "proportions" if trial.kind == "binary" else "mean weeks"
    return f"difference in {what}, {experimental} minus {control}"


def alternative_words(trial: Trial) -> str:
    """The alternative hypothesis, with its direction."""
    control, experimental = trial.arms
    if trial.alternative == "two-sided":
        return "two-sided"
    higher = trial.alternative == "greater"
    if trial.kind == "time_to_event":
        return f"one-sided: {experimental} has a {'higher' if higher else 'lower'} hazard than {control}"
    quantity = "proportion" if trial.kind == "binary" else "mean"
    return f"one-sided: {experimental} has a {'higher' if higher else 'lower'} {quantity} than {control}"


def _format_power(power: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "patients per arm": power["patients_per_arm"],
        "power": [f"{p:.3f} ({lo:.3f} to {hi:.3f})" for p, lo, hi in
                  zip(power["power"], power["ci_low"], power["ci_high"], strict=True)],
        "mean effect": [f"{e:.3f}" for e in power["mean_effect"]],
        "mean duration (weeks)": [f"{d:.1f}" for d in power["mean_duration_weeks"]],
    })


def conclusion(plan: TrialPlan, power: pd.DataFrame) -> str:
    """The headline: the smallest size reaching the target power."""
    target = plan.trial.target_power
    size = smallest_size(power, target)
    if size is None:
        largest = power.iloc[-1]
        return (f"No size reaches the target power {target:g}: the largest, {int(largest['patients_per_arm'])} "
                f"patients per arm, has power {largest['power']:.3f} "
                f"(95% CI {largest['ci_low']:.3f} to {largest['ci_high']:.3f}).")
    row = power[power["patients_per_arm"] == size].iloc[0]
    return (f"Smallest size reaching the target power {target:g}: {size} patients per arm "
            f"(power {row['power']:.3f}, 95% CI {row['ci_low']:.3f} to {row['ci_high']:.3f}).")


def render_report(plan: TrialPlan, power: pd.DataFrame, trials: pd.DataFrame, figure: str | None) -> str:
    """``report.md``: the design, the power table and curve, and the smallest size reaching the target."""
    trial, scenario = plan.trial, plan.scenario
    control, experimental = trial.arms
    lines = [f"# Trial planning: {plan.name}", ""]
    if plan.description:
        lines += [plan.description.strip(), ""]
    lines += [f"**{conclusion(plan, power)}**", ""]
    allocation = ":".join(map(str, trial.allocation))
    duration = ("none" if trial.duration_weeks is None
                else f"week {trial.duration_weeks:g} (calendar, from first enrolment)")
    same = " (the same strategy: a null scenario)" if control == experimental else ""
    lines += [
        "## Design", "",
        f"- Base scenario: `{scenario.name}` (`scenario.yaml`), seed {scenario.seed}; trial k uses its replication k.",
        f"- Arms: control `{control}` ({', '.join(scenario.arms[control])}), experimental `{experimental}` "
        f"({', '.join(scenario.arms[experimental])}){same}",
        f"- Endpoint: {_METRIC_WORDS[trial.endpoint.metric].format(w=trial.endpoint_week)}.",
        f"- Test: {_TEST_WORDS[trial.test]}, {alternative_words(trial)}, alpha {trial.alpha:g}.",
        f"- Effect: {effect_words(trial)}.",
        f"- Accrual: Poisson, {trial.accrual_per_week:g} patients per week; allocation {allocation} in permuted "
        f"blocks of {2 * sum(trial.allocation)}.",
        f"- Visits (weeks from enrolment): {', '.join(f'{w:g}' for w in trial.visit_weeks)}.",
        f"- Administrative end: {duration}.",
        f"- Simulated trials per size: {trial.simulations} (the same patients at every size: the first n of "
        f"each arm in randomisation order).",
        "",
        "## Power", "",
        _markdown(_format_power(power)),
        "",
        "Power is the share of simulated trials rejecting the null hypothesis, with its 95% Wilson interval "
        "(Monte Carlo error). Duration runs from the first enrolment to the last patient's last needed visit "
        "(or dropout), or to the administrative end.",
        "",
    ]
    if figure is not None:
        lines += [f"![Power against patients per arm]({figure})", ""]
    analysed = trials.groupby("patients_per_arm")[["n_control", "n_experimental"]].mean()
    short = [(int(n), row) for n, row in analysed.iterrows()
             if row["n_control"] < trial.arm_sizes(int(n))[0] or row["n_experimental"] < trial.arm_sizes(int(n))[1]]
    if short:
        late = ("arrived after the administrative end" if trial.kind == "time_to_event"
                else "enrolled too late to reach the endpoint week before the administrative end")
        lines += ["## Patients analysed", "",
                  f"Some patients {late} and were not analysed. Mean patients analysed per arm:", ""]
        lines += [f"- {n} per arm: {row['n_control']:.1f} {control}, {row['n_experimental']:.1f} {experimental}"
                  for n, row in short]
        lines.append("")
    lines += [
        "## How the trial sees patients", "",
        "States are seen only at the visits: a remission that begins and ends between two visits is not seen. "
        "A patient leaves the trial at dropout and attends only the visits before it; for response and "
        "complete response, a patient who dropped out before the endpoint visit counts as a failure. "
        "Events seen at visits are dated at the visit that first shows them; dropout is dated exactly.",
        "",
        "Files: `power.csv` (one row per size), `trials.csv` (one row per simulated trial and size), "
        "`trial.yaml` (the resolved design; it runs again as it is), `scenario.yaml` (the resolved base "
        "scenario), `run.json` (provenance).",
        "",
    ]
    return "\n".join(lines)


def _markdown(table: pd.DataFrame) -> str:
    rows = [list(table.columns), ["---"] * len(table.columns), *table.astype(str).to_numpy().tolist()]
    return "\n".join("| " + " | ".join(map(str, row)) + " |" for row in rows)


def trial_yaml(plan: TrialPlan) -> str:
    """The resolved trial file, pointing at ``scenario.yaml`` next to it in the results folder."""
    data: dict[str, Any] = {"base": "scenario.yaml"}
    if plan.description:
        data["description"] = plan.description
    data["trial"] = plan.trial.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None)


# --- the results folder --------------------------------------------------------------------------


@dataclass
class TrialOutcome:
    """Where a trial-planning run was written, and its power table."""

    path: Path
    power: pd.DataFrame
    trials: pd.DataFrame


def run_trial_planning(plan: TrialPlan, *, out: str | Path | None = None, results_root: str | Path = "results",
                       workers: int = 1, scheduler: str | None = None, plots: bool = True, progress: bool = False,
                       argv: list[str] | None = None) -> TrialOutcome:
    """Simulate the trials of a plan and write its results folder.

    Parameters
    ----------
    plan:
        A validated plan (``load_trial``).
    out:
        The exact results folder (must not exist, or be empty); default a new folder
        ``results_root/<trial file name>/<run id>``.
    workers, scheduler:
        Local processes, or a Dask scheduler address; results do not depend on either.
    plots:
        Whether to draw the power curve.
    progress:
        Whether to show a progress bar on standard error.
    argv:
        The command line, for ``run.json``.
    """
    from sim.results import new_run_dir, provenance, scenario_yaml, to_csv_text, write_json

    started = time.perf_counter()
    trial = plan.trial
    named = plan.scenario.model_copy(update={"name": plan.name})  # the folder is named after the trial file
    with new_run_dir(named, out, results_root) as (work, final):
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=trial.simulations, desc=f"{plan.name}: simulated trials", unit="trial", leave=False,
                       dynamic_ncols=True, delay=PROGRESS_DELAY_SECONDS)
        try:
            trials = run_trials(plan, workers, scheduler, None if bar is None else lambda unit: bar.update(len(unit)))
        finally:
            if bar is not None:
                bar.close()
        power = summarise_power(trials, trial.kind == "time_to_event")
        (work / "trial.yaml").write_text(trial_yaml(plan), encoding="utf-8")
        (work / "scenario.yaml").write_text(scenario_yaml(plan.scenario), encoding="utf-8")
        (work / "power.csv").write_text(to_csv_text(power), encoding="utf-8")
        (work / "trials.csv").write_text(to_csv_text(trials), encoding="utf-8")
        _write_results(work, plan, power, trials, plots)
        patients = trial.simulations * sum(plan.max_arm_sizes)
        info = provenance(plan.scenario, argv or [], time.perf_counter() - started, patients, workers)
        info.pop("replications", None)
        info.update({
            "kind": "trial",
            "trial_file": str(plan.path),
            "base": str(plan.base_path),
            "trial_sha256": hashlib.sha256(trial_yaml(plan).encode("utf-8")).hexdigest(),
            "simulations": trial.simulations,
            "patients_per_arm": list(trial.patients_per_arm),
            "arms": list(trial.arms),
            "scheduler": scheduler,
            "smallest_size_reaching_target": smallest_size(power, trial.target_power),
        })
        write_json(work / "run.json", info)
    return TrialOutcome(final, power, trials)


def _write_results(run_dir: Path, plan: TrialPlan, power: pd.DataFrame, trials: pd.DataFrame, plots: bool) -> None:
    """The power curve (if ``plots``) and ``report.md`` of a trial-planning folder, each written atomically."""
    from sim.results import write_text_atomic

    figure = None
    if plots:
        from sim.trial_plots import draw_trial_figures

        draw_trial_figures(run_dir, power, plan.trial.target_power, title=_figure_title(plan))
        figure = "figures/power_curve.png"
    write_text_atomic(run_dir / "report.md", render_report(plan, power, trials, figure))


# --- redrawing a trial-planning folder -------------------------------------------------------------

FOLDER_FILES = ("trial.yaml", "scenario.yaml", "power.csv", "trials.csv", "run.json")
"""What a trial-planning folder holds besides its figure and report."""

_TRIAL_TYPES = {"patients_per_arm": "int64", "simulation": "int64", "n_control": "int64", "n_experimental": "int64",
                "effect": "float64", "p_value": "float64", "reject": "bool", "duration_weeks": "float64"}
_EXACT = ("power", "ci_low", "ci_high")
"""Columns of power.csv that trials.csv gives exactly (rejections counted, Wilson interval)."""


def _read_table(run_dir: Path, name: str, columns: list[str]) -> pd.DataFrame:
    """A saved table of the folder with exactly ``columns``, numbers parsed to the nearest double."""
    from sim.runner import FolderError

    types = {c: t for c, t in _TRIAL_TYPES.items() if c in columns and t != "bool"}
    types.update({c: "float64" for c in columns if c not in _TRIAL_TYPES})
    try:
        table = pd.read_csv(run_dir / name, dtype=types, true_values=["true"], false_values=["false"],
                            float_precision="round_trip", encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as err:  # pandas' parser errors are ValueErrors
        reason = str(err).splitlines()[0] if str(err) else ""
        raise FolderError(f"{run_dir}: {name}: cannot be read ({type(err).__name__}: {reason})") from None
    if list(table.columns) != columns:
        raise FolderError(f"{run_dir}: {name}: columns {', '.join(map(str, table.columns))}; expected "
                          f"{', '.join(columns)}")
    if "reject" in columns and table["reject"].dtype != bool:
        raise FolderError(f"{run_dir}: {name}: reject: not true/false in every row")
    return table


def read_folder(run_dir: str | Path) -> tuple[TrialPlan, pd.DataFrame, pd.DataFrame]:
    """(plan, power, trials) of a trial-planning folder, from its own files only, checked.

    The plan is the folder's ``trial.yaml`` with its ``scenario.yaml`` (the trial file the folder
    came from is never read; its name, for the report's title, is the ``trial_file`` of
    ``run.json``). ``trials.csv`` must hold every simulated trial at every size, and ``power.csv``
    agree with it; the power and its interval are then taken exactly from ``trials.csv``, the other
    columns from ``power.csv``. Raises FolderError (``sim.runner``) naming the folder and the file
    at fault; writes nothing.
    """
    import dataclasses

    from sim.results import FLOAT_FORMAT
    from sim.runner import FolderError, check_scenario, folder_problem, run_info

    path = Path(run_dir)
    missing = [name for name in FOLDER_FILES if not (path / name).is_file()]
    if missing:
        raise FolderError(f"{path}: not a complete trial-planning folder (missing {', '.join(missing)})")
    info = run_info(path)
    trial_file = info.get("trial_file")
    if not isinstance(trial_file, str) or not trial_file:
        raise FolderError(f"{path}: run.json: no trial_file: not written by trial planning")
    try:
        base = read_yaml(path / "trial.yaml").get("base")
        if base != "scenario.yaml":
            raise FolderError(f"{path}: trial.yaml: base: must be scenario.yaml (the folder's own resolved "
                              f"scenario), got {base!r}")
        plan = load_trial(path / "trial.yaml")
    except ScenarioError as err:
        raise folder_problem(path, err) from None
    check_scenario(path, info, plan.scenario)
    recorded = info.get("trial_sha256")
    if recorded is not None and recorded != hashlib.sha256(trial_yaml(plan).encode("utf-8")).hexdigest():
        raise FolderError(f"{path}: trial.yaml: not the design that ran (its trial_sha256 in run.json differs); "
                          f"changed after the run?")
    plan = dataclasses.replace(plan, name=Path(trial_file).stem, path=Path(trial_file),
                               base_path=Path(str(info.get("base") or plan.base_path)))
    trial = plan.trial
    power = _read_table(path, "power.csv", POWER_COLUMNS)
    trials = _read_table(path, "trials.csv", TRIAL_COLUMNS)
    sizes = list(trial.patients_per_arm)
    if power["patients_per_arm"].tolist() != sizes:
        raise FolderError(f"{path}: power.csv: sizes {power['patients_per_arm'].tolist()}, but trial.yaml has "
                          f"patients_per_arm {sizes}")
    counts = trials.groupby("patients_per_arm")["simulation"].nunique()
    if (counts.index.tolist() != sizes or (counts != trial.simulations).any()
            or len(trials) != trial.simulations * len(sizes)):
        raise FolderError(f"{path}: trials.csv: not one row per simulated trial ({trial.simulations}) and size "
                          f"({', '.join(map(str, sizes))}) of trial.yaml")
    exact = summarise_power(trials, trial.kind == "time_to_event")
    for column in _EXACT:
        for n, saved, counted in zip(sizes, power[column], exact[column], strict=True):
            if FLOAT_FORMAT % saved != FLOAT_FORMAT % counted:
                raise FolderError(f"{path}: power.csv: {column} at {n} patients per arm is {FLOAT_FORMAT % saved}, "
                                  f"but trials.csv gives {FLOAT_FORMAT % counted}")
    power[list(_EXACT)] = exact[list(_EXACT)]
    return plan, power, trials


def redraw_folder(run_dir: str | Path) -> Path:
    """Draw a trial-planning folder's power curve and write its ``report.md`` again, from its saved tables.

    Nothing is simulated; ``power.csv``, ``trials.csv`` and ``run.json`` are left as they are and the
    report is byte-identical to the one written with the run. Raises FolderError, before writing
    anything, when the folder is incomplete or its files unreadable or inconsistent.
    """
    path = Path(run_dir)
    plan, power, trials = read_folder(path)
    _write_results(path, plan, power, trials, plots=True)
    return path


def _figure_title(plan: TrialPlan) -> str:
    trial = plan.trial
    control, experimental = trial.arms
    metric = trial.endpoint.metric.replace("_", " ")
    at = f" {'to' if trial.kind == 'time_to_event' else 'at'} week {trial.endpoint_week:g}"
    return f"{experimental} vs {control}: {metric}{at}, {trial.test}, alpha {trial.alpha:g}"


# --- command line --------------------------------------------------------------------------------

_NOT_FOR_TRIALS = {
    "replications": ("--replications", "set trial.simulations instead, e.g. --set trial.simulations=200"),
    "patients": ("--patients", "set trial.patients_per_arm instead, e.g. --set 'trial.patients_per_arm=[20, 40]'"),
    "precision": ("--precision", "not used by trial planning"),
    "max_replications": ("--max-replications", "not used by trial planning"),
    "resume": ("--resume", "not used by trial planning"),
    "event_sample": ("--event-sample", "not used by trial planning"),
}


def run_command(args: Any, argv: list[str]) -> int:
    """``python run.py TRIAL.yaml``: validate everything, run, write the folder; returns the exit status."""
    from sim.experiment import default_workers, is_terminal
    from sim.results import OutputError, failure_status

    where = f"error: {args.scenario}"
    problems = []
    for attribute, (option, hint) in _NOT_FOR_TRIALS.items():
        if getattr(args, attribute, None) is not None:
            problems.append(f"{where}: {option}: {hint}")
    if getattr(args, "no_events", False):
        problems.append(f"{where}: --no-events: not used by trial planning")
    if args.workers is not None and args.workers < 1:
        problems.append(f"{where}: --workers: must be at least 1, got {args.workers}")
    overrides: list[str | tuple[str, Any]] = list(args.overrides or [])
    if args.seed is not None:
        if args.seed < 0:
            problems.append(f"{where}: --seed: must be at least 0, got {args.seed}")
        else:
            overrides.append(("seed", args.seed))
    try:
        plan = load_trial(args.scenario, overrides)
    except ScenarioError as err:
        problems.extend(err.problems)
    if not problems:
        from sim.experiment import scheduler_problems

        problems.extend(scheduler_problems(args.scheduler, where))
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        return 2
    try:
        outcome = run_trial_planning(plan, out=args.out, workers=args.workers or default_workers(),
                                     scheduler=args.scheduler, plots=not args.no_plots,
                                     progress=not args.quiet and is_terminal(), argv=argv)
    except (OutputError, KeyboardInterrupt, OSError, TimeoutError) as err:
        status = failure_status(err, where, args.out, args.scheduler)
        if status is None:
            raise
        return status
    if not args.quiet:
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(_format_power(outcome.power).to_string(index=False))
        print(f"\n{conclusion(plan, outcome.power)}")
        print(f"\nresults: {outcome.path}")
    return 0
