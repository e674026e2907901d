"""Single-arm trials: the exact binomial test at each size, and Simon two-stage designs, on simulated patients.

Each simulated trial treats the first n patients of the arm, in enrolment order, and counts those
with the endpoint (response or complete response seen at the visit of the endpoint week; a dropout
before it counts as a failure). A single-stage design declares the drug active when at least r
respond, r the smallest count whose exact one-sided binomial p-value against ``p0`` is at most alpha.
A Simon design stops after its first n1 patients when at most r1 respond; enrolment is suspended
after the n1-th patient until the first stage is evaluated (its last patient reaches the endpoint
week, or drops out), then resumes with the same arrival gaps. It declares activity when more than r
of all n respond. A trial's duration runs from the first enrolment to the endpoint of its last
patient.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from sim.spec.trial import Trial
from sim.stats.single_arm import SimonDesign, binomial_test_p_value, critical_count

__all__ = ["SIMON_TRIAL_COLUMNS", "SINGLE_TRIAL_COLUMNS", "simon_rows", "single_stage_rows"]

SINGLE_TRIAL_COLUMNS = ["patients_per_arm", "simulation", "responses", "p_value", "reject", "duration_weeks"]
SIMON_TRIAL_COLUMNS = ["criterion", "simulation", "stage1_responses", "total_responses", "stopped_early",
                       "declared_active", "patients", "duration_weeks"]


@lru_cache(maxsize=1024)
def _critical(n: int, p0: float, alpha: float) -> int:
    return critical_count(n, p0, alpha)


def single_stage_rows(trial: Trial, value: np.ndarray, known_at: np.ndarray, simulation: int) -> list[tuple[Any, ...]]:
    """One row per size (``SINGLE_TRIAL_COLUMNS``): the exact binomial test of the first n patients."""
    assert trial.p0 is not None
    rows = []
    for n in trial.patients_per_arm:
        responses = int(value[:n].sum())
        p = binomial_test_p_value(responses, n, trial.p0)
        reject = responses >= _critical(n, trial.p0, trial.alpha)
        rows.append((n, simulation, responses, p, bool(reject), float(known_at[:n].max())))
    return rows


def simon_rows(designs: tuple[SimonDesign, SimonDesign], value: np.ndarray, enrol: np.ndarray, known_at: np.ndarray,
               simulation: int) -> list[tuple[Any, ...]]:
    """One row per design (``SIMON_TRIAL_COLUMNS``): the two stages of the first n patients.

    ``total_responses`` counts all n patients even when the trial stops early (as if it had gone
    on), so the rule can be checked against exact binomial sums.
    """
    rows = []
    for design in designs:
        n1, n = design.n1, design.n
        first, total = int(value[:n1].sum()), int(value[:n].sum())
        stage1_end = float(known_at[:n1].max())
        stopped = first <= design.r1
        if stopped:
            patients, duration = n1, stage1_end
        else:
            # stage 2 enrols from the end of stage 1, with the same gaps between arrivals
            shift = stage1_end - float(enrol[n1 - 1])
            patients, duration = n, max(stage1_end, float(known_at[n1:n].max()) + shift)
        active = (not stopped) and total > design.r
        rows.append((design.criterion, simulation, first, total, bool(stopped), bool(active), patients, duration))
    return rows
