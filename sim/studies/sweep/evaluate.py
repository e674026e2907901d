"""Running one point of a sweep (SALib's evaluate step): every arm, replications 0 to R-1, with the base seed.

All points and arms share their random numbers, so differences between arms and between points are
paired and one-way curves are smooth. A point's record is a pure function of the point.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine.simulate import simulate
from sim.spec.load import apply_overrides, validate_scenario
from sim.spec.scenario import Scenario
from sim.studies.sweep.design import Point

__all__ = ["PointJob", "point_scenario", "simulate_point"]

@dataclass(frozen=True)
class PointJob:
    """What every point shares: the resolved base scenario, replications and outcomes."""

    base: dict[str, Any]
    replications: int
    outcomes: tuple[str, ...]


def point_scenario(job: PointJob, point: Point) -> Scenario:
    """The scenario of one point: the base with the point's values and the sweep's replications."""
    where = Path(f"<sweep point {point.index}>")
    data = apply_overrides(where, job.base, [*point.overrides, ("replications", job.replications)])
    return validate_scenario(where, data)


def simulate_point(job: PointJob, point: Point) -> dict[str, Any]:
    """Simulate every arm of one point in replications 0..R-1: the per-replication mean of each outcome.

    Returns the point's record: ``{"point", "values", "replications", "means": {arm: {outcome: [R
    means]}}}``. A pure function of its arguments, so it gives the same record wherever it runs.
    """
    scenario = point_scenario(job, point)
    means: dict[str, dict[str, list[float]]] = {arm: {o: [] for o in job.outcomes} for arm in scenario.arms}
    for replication in range(job.replications):
        for arm in scenario.arms:
            patients = simulate(scenario, arm, replication, log_events=False).patients
            for outcome in job.outcomes:
                means[arm][outcome].append(float(np.mean(np.asarray(patients[outcome], dtype=float))))
    return {"point": point.index, "values": dict(point.overrides), "replications": job.replications,
            "means": means}
