"""Trial planning's design: the validated trial file, and who enters when, in which arm.

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

Single-arm designs (``design: single_arm``)
    One arm, enrolled in order as above; the binary endpoint of its first n patients is tested
    against ``p0`` by the exact one-sided binomial test, and Simon's two-stage designs (``simon``)
    take the first n1 and then all n patients (``single_arm``).

Interim analyses (``interim``)
    A two-arm design looks at the information fractions given, each look analysing the data seen at
    the calendar week the fraction is reached (``sequential``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import ValidationError

from sim.engine.streams import Streams
from sim.spec.base import ScenarioError
from sim.spec.errors import describe_errors
from sim.spec.load import apply_overrides, load_scenario, read_yaml
from sim.spec.paths import parse_set_option
from sim.spec.scenario import Scenario
from sim.spec.trial import Trial, TrialFile, cross_check
from sim.stats.single_arm import SimonDesign, simon_designs

__all__ = ["SIMON_MAX_N", "TrialPlan", "enrolment_weeks", "find_simon_designs", "load_trial", "trial_sha256",
           "trial_yaml"]

@dataclass(frozen=True)
class TrialPlan:
    """A validated trial design with its resolved base scenario: what every unit of work needs.

    ``simon`` holds Simon's optimal and minimax designs of a single-arm file with ``simon`` set.
    """

    name: str
    path: Path
    base_path: Path
    description: str
    trial: Trial
    scenario: Scenario
    simon: tuple[SimonDesign, SimonDesign] | None = None

    @property
    def max_arm_sizes(self) -> tuple[int, ...]:
        """Patients simulated in each arm of every simulated trial (the largest design)."""
        largest = max(self.trial.patients_per_arm)
        if self.simon is not None:
            largest = max(largest, *(d.n for d in self.simon))
        return self.trial.arm_sizes(largest)

    @property
    def chosen_simon(self) -> SimonDesign | None:
        """The Simon design the file asks for (``simon: optimal | minimax``), or None."""
        if self.simon is None:
            return None
        return self.simon[0] if self.trial.simon == "optimal" else self.simon[1]


SIMON_MAX_N = (100, 200)
"""Largest total sample sizes searched for a Simon design, in turn (the second only when the first finds none)."""


def find_simon_designs(trial: Trial) -> tuple[SimonDesign, SimonDesign]:
    """Simon's optimal and minimax designs for the trial's p0, p1, alpha and power (``target_power``).

    Raises ValueError when no design of at most ``SIMON_MAX_N[-1]`` patients meets both constraints.
    """
    assert trial.p0 is not None and trial.p1 is not None
    for n_max in SIMON_MAX_N:
        try:
            return simon_designs(trial.p0, trial.p1, trial.alpha, 1.0 - trial.target_power, n_max=n_max)
        except ValueError:
            continue
    raise ValueError(f"no two-stage design of at most {SIMON_MAX_N[-1]} patients has alpha <= {trial.alpha:g} "
                     f"at p0 = {trial.p0:g} and power >= {trial.target_power:g} at p1 = {trial.p1:g}; "
                     f"widen the gap between p0 and p1")


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
    simon = None
    if trial_file is not None and not problems and trial_file.trial.simon is not None:
        try:
            simon = find_simon_designs(trial_file.trial)
        except ValueError as err:
            problems.append(line("trial.p1", str(err)))
    if problems:
        raise ScenarioError(problems)
    assert trial_file is not None and scenario is not None and base_path is not None
    return TrialPlan(path.stem, path, base_path, trial_file.description, trial_file.trial, scenario, simon)


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


def trial_yaml(plan: TrialPlan) -> str:
    """The resolved trial file, pointing at ``scenario.yaml`` next to it in the results folder."""
    data: dict[str, Any] = {"base": "scenario.yaml"}
    if plan.description:
        data["description"] = plan.description
    data["trial"] = plan.trial.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None)



def trial_sha256(plan: TrialPlan) -> str:
    """SHA-256 of the resolved trial file as written to ``trial.yaml``."""
    return hashlib.sha256(trial_yaml(plan).encode("utf-8")).hexdigest()
