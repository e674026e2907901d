"""Units of work: blocks of patients of one arm and replication, simulated wherever ``sim.execute`` runs them.

Each unit is a pure function of (scenario, unit), and results come back in the order of the units,
so a run's files do not depend on what ran them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.engine.records import EVENT_COLUMNS, BlockResult, patient_columns
from sim.engine.simulate import simulate
from sim.execute import map_ordered
from sim.outputs.tables import csv_header, csv_rounded, event_columns, events_csv_text, patients_csv_text, typed_columns
from sim.spec.scenario import Scenario
from sim.stats.accumulate import survival_block
from sim.stats.survival_tables import SURVIVAL_INPUTS, curve_weeks
from sim.stats.timecourse import SWIMMER_PATIENTS, occupancy_from_states, state_changes

__all__ = ["BLOCK_PATIENTS", "FORMATS", "BlockTables", "Unit", "plan_units", "run_units"]

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


FORMATS = ("csv", "parquet")
"""How a run's patients and events tables may be written."""


@dataclass(frozen=True)
class BlockTables:
    """A unit's results as the runner needs them, made in the worker.

    ``columns``: the typed patients columns the summaries take (keys and summarised metrics);
    ``patients_data`` and ``events_data``: the unit's rows of ``patients`` and ``events`` as the
    file format takes them (CSV text without header, or column arrays for Parquet, floats as the
    CSV holds them); ``survival``: its share of the survival arrays (:func:`survival_block`);
    ``occupancy``: its state counts and logged patients; ``swimmer``: the CSV text (events,
    patients) of its first logged patients while the run still needs them for the swimmer plot.
    """

    arm: str
    columns: dict[str, np.ndarray]
    patients_data: Any
    events_data: Any
    survival: dict[str, Any]
    occupancy: tuple[np.ndarray, int]
    swimmer: tuple[str, str] | None


@dataclass(frozen=True)
class _UnitJob:
    scenario: Scenario
    log_events: bool
    event_sample: int | None
    as_tables: bool
    file_format: str = "csv"
    keep: tuple[str, ...] = ()


def _logged(job: _UnitJob, start: int, stop: int) -> int:
    """Patients start..stop-1 of a unit whose events are logged."""
    if not job.log_events:
        return 0
    return max(0, min(stop, job.event_sample if job.event_sample is not None else stop) - start)


def _block_tables(job: _UnitJob, unit: Unit, result: BlockResult) -> BlockTables:
    columns = patient_columns(job.scenario)
    typed = typed_columns(result.patients, columns)
    needed = ["replication", "arm", *(["subgroup"] if "subgroup" in typed else []), *SURVIVAL_INPUTS,
              "disease_free_weeks"]
    # Floats as the files hold them: for the survival analysis, and all of them for a Parquet file.
    as_saved = {name: csv_rounded(typed[name]) if typed[name].dtype.kind == "f" else typed[name]
                for name in (needed if job.file_format == "csv" else typed)}
    events = event_columns(result)
    saved_weeks = csv_rounded(events.week)
    grid = curve_weeks(job.scenario.follow_up_weeks)
    states = state_changes([label[0] for label in events.labels])
    occupancy = occupancy_from_states(events.patient, saved_weeks, states[events.code], grid)
    if job.file_format == "csv":
        patients_data: Any = patients_csv_text(typed)
        events_data: Any = events_csv_text(result, events)
    else:
        patients_data = as_saved
        events_data = {"replication": np.full(len(saved_weeks), unit.replication, dtype=np.int64),
                       "arm": np.full(len(saved_weeks), unit.arm, dtype=object),
                       "patient": events.patient, "week": saved_weeks}
        for index, name in enumerate(("event", "therapy", "detail")):  # empty is missing, as read from CSV
            events_data[name] = events.label_column(index)
    swimmer = None
    size = job.scenario.cohort.size
    before = unit.replication * _logged(job, 0, size) + _logged(job, 0, unit.start)
    if before < SWIMMER_PATIENTS and result.logs:
        wanted = SWIMMER_PATIENTS - before
        logs = [log for log in result.logs[:wanted]]
        head = BlockResult({name: values[:len(logs)] for name, values in result.patients.items()}, result.replication,
                           result.arm, result.first_patient, logs)
        swimmer = (csv_header(EVENT_COLUMNS) + events_csv_text(head),
                   csv_header(columns) + patients_csv_text({n: v[:len(logs)] for n, v in typed.items()}))
    survival = survival_block({name: as_saved[name] for name in needed})
    kept = {name: typed[name] for name in job.keep}
    return BlockTables(unit.arm, kept, patients_data, events_data, survival, occupancy, swimmer)


def _simulate_unit(job: _UnitJob, unit: Unit) -> BlockResult | BlockTables:
    result = simulate(job.scenario, unit.arm, unit.replication, unit.start, unit.stop,
                      log_events=job.log_events, event_sample=job.event_sample)
    if not job.as_tables:
        return result
    return _block_tables(job, unit, result)


def run_units(scenario: Scenario, units: Sequence[Unit], workers: int = 1, log_events: bool = True,
              on_done: Callable[[Unit], None] | None = None, scheduler: str | None = None,
              event_sample: int | None = None, as_tables: bool = False, file_format: str = "csv",
              keep: Sequence[str] = ()) -> Generator[Any, None, None]:
    """Simulate units and yield their results in the order of ``units``, whatever runs them.

    Each result is the unit's BlockResult, or with ``as_tables`` its BlockTables (with the typed
    patients columns ``keep``): the tables, the file contents in ``file_format`` and the unit's
    share of the derived tables are then made in the workers, leaving the main process to write
    and add up.
    """
    job = _UnitJob(scenario, log_events, event_sample, as_tables, file_format, tuple(keep))
    # Units travel in groups of at most TASK_PATIENTS patients, shrinking towards the end; on Dask,
    # whose tasks cost more to send, of at least DASK_TASK_PATIENTS.
    largest = max((u.stop - u.start for u in units), default=1)
    chunk = max(1, TASK_PATIENTS // largest)
    smallest = max(1, DASK_TASK_PATIENTS // largest) if scheduler is not None else 1
    yield from map_ordered(_simulate_unit, job, units, workers, scheduler, on_done, chunk, smallest)
