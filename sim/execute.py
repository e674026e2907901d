"""Where work runs: in this process, on a local process pool, or on a Dask cluster; it knows nothing of the model.

Callers hand over a module-level function, what every call shares, and the items; results come back
in order (or as each finishes), computed wherever asked, so the same seed gives the same files with
1 worker, 2 workers or a cluster.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

__all__ = ["SCHEDULER_CONNECT_SECONDS", "default_workers", "map_as_completed", "map_ordered", "scheduler_problems"]

SCHEDULER_CONNECT_SECONDS = 10.0
"""How long to try a ``--scheduler`` address before calling it unreachable."""


T = TypeVar("T")


R = TypeVar("R")


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
