"""Units of work (blocks of patients of one arm and replication), run in order on local processes or Dask.

Whatever runs them, results come back in the order of the units, and each unit is a pure function
of (scenario, unit): the same seed gives the same files with 1 worker, 2 workers or a cluster.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd

from sim.engine.records import BlockResult, patient_columns
from sim.engine.simulate import simulate
from sim.results import events_csv_text, patients_frame, to_csv_text
from sim.spec.scenario import Scenario

__all__ = ["BLOCK_PATIENTS", "BlockTables", "Unit", "default_workers", "is_terminal", "map_as_completed", "map_ordered",
           "plan_units", "run_units", "scheduler_problems"]

BLOCK_PATIENTS = 1000
"""Patients per unit of work (about 30 ms of simulation); results are written a unit at a time."""

TASK_PATIENTS = 25_000
"""The most patients in a task sent to a worker (units travel in groups): about 0.5 s of
simulation, so the cost of sending a task (~0.1 ms to a process, a few ms to Dask) stays
negligible. Tasks shrink towards the end of a run, so the workers finish together."""

DASK_TASK_PATIENTS = 5_000
"""The fewest patients in a task sent to Dask (about 0.1 s of simulation): its tasks cost a few
milliseconds each to send, schedule and collect, on the same cores as the work."""

SCHEDULER_CONNECT_SECONDS = 10.0
"""How long to try a ``--scheduler`` address before calling it unreachable."""

T = TypeVar("T")
R = TypeVar("R")


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


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def scheduler_problems(address: str | None, where: str) -> list[str]:
    """The ``WHERE: --scheduler: ...`` line when a Dask scheduler address cannot be used; none when
    it is not given or a client connects to it.

    Checked before a run starts, so that a mistyped or unreachable address is a one-line error
    after a few seconds, not a traceback after Dask's own 30-second timeout.
    """
    if address is None:
        return []
    from distributed import Client
    from distributed.comm import get_address_host_port

    try:
        get_address_host_port(address)  # the form first: a Client would not clean up after a bad one
    except ValueError as err:
        return [f"{where}: --scheduler: not a scheduler address ({err}); e.g. tcp://127.0.0.1:8786"]
    try:
        with Client(address, timeout=SCHEDULER_CONNECT_SECONDS, set_as_default=False):
            return []
    except (OSError, TimeoutError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return [f"{where}: --scheduler: cannot connect to {address}: {reason}"]


def is_terminal() -> bool:
    """Whether progress should be shown: standard error is a terminal."""
    return sys.stderr.isatty()


_worker_state: dict[str, Any] = {}


def _init_worker(function: Callable[..., Any], shared: Any) -> None:
    _worker_state["function"] = function
    _worker_state["shared"] = shared


def _call_in_worker(chunk: list[Any]) -> list[Any]:
    function, shared = _worker_state["function"], _worker_state["shared"]
    return [function(shared, item) for item in chunk]


def _call_on_dask(function: Callable[..., Any], shared: Any, chunk: list[Any]) -> list[Any]:
    return [function(shared, item) for item in chunk]


def _chunks(items: Sequence[T], size: int, workers: int = 1, smallest: int = 1) -> list[list[T]]:
    """Consecutive items in tasks of at most ``size``, shrinking towards the end ("guided" chunks).

    Each task takes a share of what is left (a quarter per worker, at most ``size``, at least
    ``smallest``), so the first tasks are large, to keep the cost of sending them negligible, and
    the last ones small, so that the workers finish together.
    """
    chunks: list[list[T]] = []
    first = 0
    while first < len(items):
        take = max(1, smallest, min(size, (len(items) - first) // (4 * max(1, workers))))
        chunks.append(list(items[first:first + take]))
        first += take
    return chunks


def map_ordered(function: Callable[[Any, T], R], shared: Any, items: Sequence[T], workers: int = 1,
                scheduler: str | None = None, on_done: Callable[[T], None] | None = None,
                chunk_size: int = 1, smallest_chunk: int = 1) -> Iterator[R]:
    """Yield ``function(shared, item)`` for each item, in order, computed where asked.

    ``shared`` is sent to each worker once; items travel in tasks of ``smallest_chunk`` to
    ``chunk_size`` items, smaller towards the end.
    At most a few tasks per worker wait to be consumed, so memory stays flat however many items
    there are. ``function`` must be a module-level function.
    """
    if scheduler is not None:
        yield from _map_dask(function, shared, items, scheduler, on_done, chunk_size, smallest_chunk)
        return
    if workers <= 1 or len(items) <= 1:
        for item in items:
            result = function(shared, item)
            if on_done is not None:
                on_done(item)
            yield result
        return
    window = 4 * workers
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), initializer=_init_worker,
                             initargs=(function, shared)) as pool:
        queue: deque[tuple[list[T], Future[list[R]]]] = deque()
        try:
            for chunk in _chunks(items, chunk_size, workers, smallest_chunk):
                queue.append((chunk, pool.submit(_call_in_worker, chunk)))
                if len(queue) >= window:
                    yield from _next_done(queue, on_done)
            while queue:
                yield from _next_done(queue, on_done)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def map_as_completed(function: Callable[[Any, T], R], shared: Any, items: Sequence[T], workers: int = 1,
                     scheduler: str | None = None) -> Generator[tuple[T, R], None, None]:
    """Yield ``(item, function(shared, item))`` as each finishes, whatever the order.

    For work whose results are saved one by one (sweep points): a finished item is handed over at
    once instead of waiting behind a slower earlier one. At most a few items per worker are in
    flight, so memory stays flat.
    """
    if scheduler is not None:
        yield from _as_completed_dask(function, shared, items, scheduler)
        return
    if workers <= 1 or len(items) <= 1:
        for item in items:
            yield item, function(shared, item)
        return
    from concurrent.futures import FIRST_COMPLETED, wait

    window = 4 * workers
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), initializer=_init_worker,
                             initargs=(function, shared)) as pool:
        running: dict[Future[list[R]], T] = {}
        pending = iter(items)
        try:
            for item in pending:
                running[pool.submit(_call_in_worker, [item])] = item
                if len(running) >= window:
                    break
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    item = running.pop(future)
                    yield item, future.result()[0]
                for item in pending:
                    running[pool.submit(_call_in_worker, [item])] = item
                    if len(running) >= window:
                        break
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _as_completed_dask(function: Callable[[Any, T], R], shared: Any, items: Sequence[T],
                       scheduler: str) -> Iterator[tuple[T, R]]:
    from distributed import Client, as_completed

    with Client(scheduler, set_as_default=False) as client:
        window = 4 * max(1, sum(client.nthreads().values()))
        [shared_future] = client.scatter([shared], broadcast=True)
        pending = iter(items)
        owner: dict[Any, T] = {}

        def submit(item: T) -> Any:
            future = client.submit(_call_on_dask, function, shared_future, [item], pure=False)
            owner[future.key] = item
            return future

        first = [submit(item) for _, item in zip(range(window), pending, strict=False)]
        flow = as_completed(first, loop=client.loop)
        try:
            for future in flow:
                item = owner.pop(future.key)
                result = future.result()[0]
                following = next(pending, None)
                if following is not None:
                    flow.add(submit(following))
                yield item, result
        except BaseException:
            client.cancel(list(flow.futures))
            raise


def _next_done(queue: deque[tuple[list[T], Any]], on_done: Callable[[T], None] | None) -> Iterator[Any]:
    chunk, future = queue.popleft()
    results = future.result()
    for item, result in zip(chunk, results, strict=True):
        if on_done is not None:
            on_done(item)
        yield result


def _map_dask(function: Callable[[Any, T], R], shared: Any, items: Sequence[T], scheduler: str,
              on_done: Callable[[T], None] | None, chunk_size: int, smallest_chunk: int) -> Iterator[R]:
    from distributed import Client

    with Client(scheduler, set_as_default=False) as client:
        workers = max(1, sum(client.nthreads().values()))
        window = 4 * workers
        [shared_future] = client.scatter([shared], broadcast=True)
        queue: deque[tuple[list[T], Any]] = deque()
        try:
            for chunk in _chunks(items, chunk_size, workers, smallest_chunk):
                queue.append((chunk, client.submit(_call_on_dask, function, shared_future, chunk, pure=False)))
                if len(queue) >= window:
                    yield from _next_done(queue, on_done)
            while queue:
                yield from _next_done(queue, on_done)
        except BaseException:
            client.cancel([future for _, future in queue])
            raise


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
