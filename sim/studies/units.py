"""Units of work: blocks of patients of one arm and replication, simulated wherever ``sim.execute`` runs them.

Each unit is a pure function of (scenario, unit), and results come back in the order of the units,
so a run's files do not depend on what ran them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sim.engine.records import BlockResult, patient_columns
from sim.engine.simulate import simulate
from sim.execute import map_ordered
from sim.outputs.tables import events_csv_text, patients_frame, to_csv_text
from sim.spec.scenario import Scenario

__all__ = ["BLOCK_PATIENTS", "BlockTables", "Unit", "plan_units", "run_units"]

BLOCK_PATIENTS = 1000
"""Patients per unit of work (about 30 ms of simulation); results are written a unit at a time."""


TASK_PATIENTS = 25_000
"""The most patients in a task sent to a worker (units travel in groups): about 0.5 s of
simulation, so the cost of sending a task (~0.1 ms to a process, a few ms to Dask) stays
negligible. Tasks shrink towards the end of a run, so the workers finish together."""


DASK_TASK_PATIENTS = 5_000
"""The fewest patients in a task sent to Dask (about 0.1 s of simulation): its tasks cost a few
milliseconds each to send, schedule and collect, on the same cores as the work."""


@dataclass(frozen=True)
class Unit:
    """One block of patients of one arm in one replication."""

    replication: int
    arm: str
    start: int
    stop: int


def plan_units(scenario: Scenario, block_patients: int | None = None,
               replications: range | None = None) -> list[Unit]:
    """Every unit of a scenario (or of some of its replications), in the order results are written."""
    block = BLOCK_PATIENTS if block_patients is None else block_patients
    size = scenario.cohort.size
    return [
        Unit(replication, arm, start, min(start + block, size))
        for replication in (range(scenario.replications) if replications is None else replications)
        for arm in scenario.arms
        for start in range(0, size, block)
    ]


@dataclass(frozen=True)
class BlockTables:
    """A unit's results as the runner writes them, made in the worker: the typed patients table
    (for the summaries) and the CSV text of its patients and events (without headers)."""

    patients: pd.DataFrame
    patients_csv: str
    events_csv: str


@dataclass(frozen=True)
class _UnitJob:
    scenario: Scenario
    log_events: bool
    event_sample: int | None
    as_tables: bool


def _simulate_unit(job: _UnitJob, unit: Unit) -> BlockResult | BlockTables:
    result = simulate(job.scenario, unit.arm, unit.replication, unit.start, unit.stop,
                      log_events=job.log_events, event_sample=job.event_sample)
    if not job.as_tables:
        return result
    patients = patients_frame(result.patients, patient_columns(job.scenario))
    return BlockTables(patients, to_csv_text(patients, header=False), events_csv_text(result))


def run_units(scenario: Scenario, units: Sequence[Unit], workers: int = 1, log_events: bool = True,
              on_done: Callable[[Unit], None] | None = None, scheduler: str | None = None,
              event_sample: int | None = None, as_tables: bool = False) -> Generator[Any, None, None]:
    """Simulate units and yield their results in the order of ``units``, whatever runs them.

    Each result is the unit's BlockResult, or with ``as_tables`` its BlockTables: the conversion to
    tables and CSV text then happens in the workers, leaving the main process only to write.
    """
    job = _UnitJob(scenario, log_events, event_sample, as_tables)
    # Units travel in groups of at most TASK_PATIENTS patients, shrinking towards the end; on Dask,
    # whose tasks cost more to send, of at least DASK_TASK_PATIENTS.
    largest = max((u.stop - u.start for u in units), default=1)
    chunk = max(1, TASK_PATIENTS // largest)
    smallest = max(1, DASK_TASK_PATIENTS // largest) if scheduler is not None else 1
    yield from map_ordered(_simulate_unit, job, units, workers, scheduler, on_done, chunk, smallest)
