"""Where work runs: in this process, on a local process pool, or on a Dask cluster; it knows nothing of the model.

Callers hand over a module-level function, what every call shares, and the items; results come back
in order (or as each finishes), computed wherever asked, so the same seed gives the same files with
1 worker, 2 workers or a cluster.
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["PARENT_CHECK_SECONDS", "SCHEDULER_CONNECT_SECONDS", "SchedulerLost", "WorkerLost", "address_problem",
           "default_workers", "map_as_completed", "map_ordered", "scheduler_problems"]

SCHEDULER_CONNECT_SECONDS = 10.0
"""How long a ``--scheduler`` may take to be found, to connect and to answer before it is called unusable."""

PARENT_CHECK_SECONDS = 0.25
"""How often a local worker checks that the process that started it is still alive (it exits if not)."""

_HANDSHAKE_BYTES = 1 << 20
"""The largest first message a Dask scheduler is believed to send (its handshake is under 100 bytes)."""


class WorkerLost(RuntimeError):
    """A local worker process ended without returning its work (killed, or out of memory)."""


class SchedulerLost(RuntimeError):
    """A ``--scheduler`` that has no workers, stopped answering or dropped the connection while the work ran.

    Not an OSError (which the timeouts and closed connections of Dask are): the message is about the
    scheduler, never taken for a failure to write the results. It starts with ``--scheduler:``.
    """


T = TypeVar("T")


R = TypeVar("R")


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def _split_address(address: str) -> tuple[str, int]:
    """(host, port) of ``tcp://HOST:PORT`` (or ``HOST:PORT``); ValueError saying what is wrong."""
    scheme, separator, rest = address.partition("://")
    if not separator:
        scheme, rest = "tcp", address
    if scheme != "tcp":
        raise ValueError(f"unknown address scheme {scheme!r}; only tcp:// is supported")
    if rest.startswith("["):  # an IPv6 address: [::1]:8786
        host, bracket, port_text = rest[1:].partition("]")
        if not bracket or not port_text.startswith(":"):
            raise ValueError("an IPv6 address needs the form [ADDRESS]:PORT")
        port_text = port_text[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    else:
        host, colon, port_text = rest.rpartition(":")
        if not colon or not host:
            raise ValueError("missing port number" if not colon else "missing host")
        if re.fullmatch(r"[0-9.]+", host):  # looks like IPv4: every octet must be 0-255
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise ValueError(f"{host!r} is not an IPv4 address (four numbers from 0 to 255)") from None
        elif len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in host.rstrip(".").split(".")):
            raise ValueError(f"{host[:60]!r} is not a host name")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text[:20]!r} is not a number from 1 to 65535")
    return host, int(port_text)


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a scheduler address (None when its form is right); nothing is contacted."""
    try:
        _split_address(address)
    except ValueError as err:
        return str(err)
    return None


def _with_deadline(task: Callable[[], T], seconds: float, what: str) -> T:
    """``task()`` in a helper thread, or TimeoutError after ``seconds`` (the thread is left to finish alone)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = task()
        except BaseException as err:  # handed to the caller
            box["error"] = err

    helper = threading.Thread(target=target, daemon=True)
    helper.start()
    helper.join(seconds)
    if helper.is_alive():
        raise TimeoutError(f"{what} took more than {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _receive(connection: socket.socket, count: int, deadline: float) -> bytes:
    """Exactly ``count`` bytes, or TimeoutError at ``deadline`` / ConnectionError if the peer closes."""
    data = bytearray()
    while len(data) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("connected, but no answer")
        connection.settimeout(left)
        try:
            chunk = connection.recv(min(count - len(data), 65536))
        except TimeoutError:
            raise TimeoutError("connected, but no answer") from None
        if not chunk:
            raise ConnectionError("the connection was closed without an answer")
        data += chunk
    return bytes(data)


def probe_scheduler(address: str, seconds: float) -> None:
    """Check that a Dask scheduler answers at ``address`` within ``seconds``; OSError or TimeoutError if not.

    Dask's own client waits without limit for a server that accepts a connection and never
    answers, and believes any length a server announces; this reads the scheduler's greeting
    itself, with a deadline and a bound on its size, before a client is made.
    """
    host, port = _split_address(address)
    deadline = time.monotonic() + seconds
    found = _with_deadline(lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM), seconds,
                           f"looking up {host}")
    family, kind, protocol, _, where = found[0]
    with socket.socket(family, kind, protocol) as connection:
        connection.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            connection.connect(where)
        except TimeoutError:
            raise TimeoutError("no connection") from None
        head = _receive(connection, 8, deadline)
        (size,) = struct.unpack("<Q", head)
        if not 16 <= size <= _HANDSHAKE_BYTES:
            raise ConnectionError("it answered, but not as a Dask scheduler does")
        body = _receive(connection, size, deadline)
        (frames,) = struct.unpack_from("<Q", body)
        if not 1 <= frames <= 64 or 8 * (1 + frames) > size:
            raise ConnectionError("it answered, but not as a Dask scheduler does")
        connection.sendall(head + body)  # its own greeting back: a well-formed handshake, then goodbye


def scheduler_problems(address: str | None, where: str) -> list[str]:
    """The ``WHERE: --scheduler: ...`` line when a Dask scheduler address cannot be used; none when
    it is not given or a client connects to it.

    Checked before a run starts: a malformed address (a port out of range, an IPv4 octet over 255)
    is refused at once, and a host that cannot be reached, or that does not answer as a scheduler
    within ``SCHEDULER_CONNECT_SECONDS``, is a one-line error within that time.
    """
    if address is None:
        return []
    problem = address_problem(address)
    if problem is not None:
        return [f"{where}: --scheduler: not a scheduler address ({problem}); e.g. tcp://127.0.0.1:8786"]
    seconds = SCHEDULER_CONNECT_SECONDS
    try:
        probe_scheduler(address, seconds)
        from distributed import Client

        def connect() -> None:
            with Client(address, timeout=seconds, set_as_default=False):
                pass

        _with_deadline(connect, 2 * seconds, "connecting")
    except (OSError, TimeoutError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if isinstance(err, TimeoutError) and "within" not in reason:
            reason += f" within {seconds:g} s"
        return [f"{where}: --scheduler: cannot connect to {address}: {reason[:200]}"]
    return []


_worker_state: dict[str, Any] = {}


def _watch_parent(parent: int) -> None:
    """End this worker as soon as the process that started it is gone (killed, even with SIGKILL)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _init_worker(function: Callable[..., Any], shared: Any, parent: int) -> None:
    # The main process answers Ctrl-C and SIGTERM by stopping its workers; a worker must not
    # raise KeyboardInterrupt of its own (a traceback each) nor run the main process's handlers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Orphaned workers would simulate on, hold the results folder's lock and block on a pipe no
    # one reads: each watches its parent and exits within PARENT_CHECK_SECONDS of its death.
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()
    _worker_state["function"] = function
    _worker_state["shared"] = shared


def _pool(workers: int, function: Callable[..., Any], shared: Any) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(function, shared, os.getpid()))


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what is queued and end the workers now, rather than after the tasks they are running."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        try:
            process.terminate()
        except (OSError, ValueError, AttributeError):  # already gone
            pass


_LOST = ("a worker process stopped before returning its work (killed, or out of memory)")


@contextmanager
def _stopped_on_failure(pool: ProcessPoolExecutor) -> Iterator[None]:
    """End the pool's workers at once if the work stops (a lost worker, an interrupt, an error, or
    the consumer closing the generator); a lost worker becomes one ``WorkerLost`` line."""
    try:
        yield
    except BrokenProcessPool:
        _stop(pool)
        raise WorkerLost(_LOST) from None
    except BaseException:
        _stop(pool)
        raise


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
    with _pool(min(workers, len(items)), function, shared) as pool, _stopped_on_failure(pool):
        queue: deque[tuple[list[T], Future[list[R]]]] = deque()
        for chunk in _chunks(items, chunk_size, workers, smallest_chunk):
            queue.append((chunk, pool.submit(_call_in_worker, chunk)))
            if len(queue) >= window:
                yield from _next_done(queue, on_done)
        while queue:
            yield from _next_done(queue, on_done)


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
    with _pool(min(workers, len(items)), function, shared) as pool, _stopped_on_failure(pool):
        running: dict[Future[list[R]], T] = {}
        pending = iter(items)
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


@contextmanager
def _dask_client(scheduler: str) -> Iterator[Any]:
    """A client of the scheduler once it has a worker; a timeout or a lost connection while it is used is a
    SchedulerLost naming the scheduler."""
    from distributed import Client

    seconds = SCHEDULER_CONNECT_SECONDS
    try:
        with Client(scheduler, timeout=seconds, set_as_default=False) as client:
            try:
                client.wait_for_workers(1, timeout=seconds)
            except TimeoutError:
                raise SchedulerLost(f"--scheduler: {scheduler} has no workers (none joined within {seconds:g} s); "
                                    f"start some with: dask worker {scheduler}") from None
            yield client
    except OSError as err:  # a TimeoutError, or Dask's CommClosedError
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        what = "did not answer" if isinstance(err, TimeoutError) else "lost the connection"
        raise SchedulerLost(f"--scheduler: {scheduler} {what} ({reason})") from None


def _as_completed_dask(function: Callable[[Any, T], R], shared: Any, items: Sequence[T],
                       scheduler: str) -> Iterator[tuple[T, R]]:
    from distributed import as_completed

    with _dask_client(scheduler) as client:
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
    with _dask_client(scheduler) as client:
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
