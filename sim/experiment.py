"""Arms x replications x blocks of patients, run in order on one process or a local pool."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from sim.model import BlockResult, simulate
from sim.scenario import Scenario

__all__ = ["Unit", "plan_units", "run_units", "default_workers"]

BLOCK_PATIENTS = 1000
"""Patients per unit of work: large enough to dwarf the cost of sending a task to a process."""


@dataclass(frozen=True)
class Unit:
    """One block of patients of one arm in one replication."""

    replication: int
    arm: str
    start: int
    stop: int


def plan_units(scenario: Scenario, block_patients: int = BLOCK_PATIENTS) -> list[Unit]:
    """Every unit of a scenario, in the order results are written."""
    size = scenario.cohort.size
    return [
        Unit(replication, arm, start, min(start + block_patients, size))
        for replication in range(scenario.replications)
        for arm in scenario.arms
        for start in range(0, size, block_patients)
    ]


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


_worker_scenario: Scenario | None = None
_worker_log_events = True


def _init_worker(scenario: Scenario, log_events: bool) -> None:
    global _worker_scenario, _worker_log_events
    _worker_scenario = scenario
    _worker_log_events = log_events


def _run_in_worker(unit: Unit) -> BlockResult:
    assert _worker_scenario is not None
    return simulate(_worker_scenario, unit.arm, unit.replication, unit.start, unit.stop,
                    log_events=_worker_log_events)


def run_units(scenario: Scenario, units: list[Unit], workers: int = 1, log_events: bool = True,
              on_done: Callable[[Unit], None] | None = None) -> Iterator[BlockResult]:
    """Simulate units and yield their results in the order of ``units``, whatever ``workers``."""
    if workers <= 1 or len(units) <= 1:
        for unit in units:
            result = simulate(scenario, unit.arm, unit.replication, unit.start, unit.stop,
                              log_events=log_events)
            if on_done is not None:
                on_done(unit)
            yield result
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(units)), initializer=_init_worker,
                             initargs=(scenario, log_events)) as pool:
        try:
            for unit, result in zip(units, pool.map(_run_in_worker, units), strict=True):
                if on_done is not None:
                    on_done(unit)
                yield result
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def is_terminal() -> bool:
    """Whether progress should be shown: standard error is a terminal."""
    return sys.stderr.isatty()
