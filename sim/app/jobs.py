"""Runs started from the page: one at a time on the command line's workers, each in its own process, cancellable.

The page's script must answer at once, so a run works in a process of its own (``sim.app.worker``)
watched by a thread, and the page polls the :class:`Job`. Runs wait in one queue for the whole app
and start one after another, each on the workers the command line would use (``--workers N``,
default all cores): two browser tabs never use more processes than one command line does. The
process writes its results folder as the command line does, under a temporary name renamed only
when complete; cancelling interrupts it as Ctrl-C interrupts ``run.py``, and a process that has
not stopped a few seconds later is killed with its workers, and its unfinished folder removed.
A crash or a full memory in a run ends that process, never the page.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sim.app.worker import MARK
from sim.execute import default_workers

__all__ = ["GRACE_SECONDS", "Job", "RUNNER", "Runner"]

GRACE_SECONDS = 10.0
"""How long a cancelled run may take to stop cleanly before it is killed."""

_ids = itertools.count(1)

_RUNNING: set[subprocess.Popen[str]] = set()
"""Every worker process started, to stop at exit."""


@dataclass
class Job:
    """One run, sweep or trial planning started from the page, and what became of it.

    ``spec`` is what the worker process is given; ``state`` goes ``queued`` -> ``running`` ->
    ``done``, ``cancelled`` or ``failed``; ``folder`` is the results folder when done,
    ``problems`` the messages when failed.
    """

    kind: str
    label: str
    spec: dict[str, Any]
    total: int = 0
    done: int = 0
    note: str = ""
    phase: str = "queued"
    state: str = "queued"
    folder: Path | None = None
    problems: list[str] = field(default_factory=list)
    id: int = field(default_factory=lambda: next(_ids))
    seconds: float = 0.0
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    process: subprocess.Popen[str] | None = None

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def active(self) -> bool:
        return not self.finished.is_set()

    def cancel(self) -> None:
        """Stop the run: a queued run never starts; a running one is interrupted as Ctrl-C would."""
        self.cancel_requested.set()
        process = self.process
        if process is not None and process.poll() is None and self.phase != "writing":
            process.send_signal(signal.SIGINT)
            threading.Timer(GRACE_SECONDS, _kill_if_alive, args=(self,)).start()


def _kill_group(process: subprocess.Popen[str]) -> None:
    """Kill a run's process and its workers (its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _kill_if_alive(job: Job) -> None:
    process = job.process
    if process is not None and process.poll() is None and job.phase != "writing":
        _kill_group(process)


def _sim_path() -> str:
    """The folder ``sim`` is imported from, first on the worker's path (whatever the working directory)."""
    import sim

    return str(Path(sim.__file__).resolve().parents[1])


def _start_worker() -> tuple[subprocess.Popen[str], IO[str]]:
    """A worker process (its own process group, so it is stopped with its workers) and the file of its errors."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_sim_path(), os.environ.get("PYTHONPATH")]))}
    errors = tempfile.TemporaryFile("w+", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "sim.app.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=errors, text=True, env=env, start_new_session=True)
    _RUNNING.add(process)
    return process, errors


class Runner:
    """The app's one queue of runs: each starts when the run before it has finished."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._queue: list[Job] = []
        self._spare: tuple[subprocess.Popen[str], IO[str]] | None = None
        self.workers = default_workers()

    def ahead(self, job: Job) -> int:
        """Runs that will start before this one."""
        with self._lock:
            return self._queue.index(job) if job in self._queue else 0

    def submit(self, job: Job) -> Job:
        """Queue the job and return at once; a thread starts its process when its turn comes."""
        with self._lock:
            self._queue.append(job)
        threading.Thread(target=self._run, args=(job,), name=f"app-job-{job.id}", daemon=True).start()
        return job

    def _wait_for_turn(self, job: Job) -> bool:
        with self._lock:
            while self._queue[0] is not job and not job.cancel_requested.is_set():
                self._lock.wait(0.2)
            return not job.cancel_requested.is_set()

    def _run(self, job: Job) -> None:
        started = time.monotonic()
        try:
            if not self._wait_for_turn(job):
                job.state = "cancelled"
                return
            started = time.monotonic()
            job.state = job.phase = "running"
            self._watch(job)
        except Exception as err:  # the page must stay up: report what went wrong, keep every earlier result
            job.state, job.problems = "failed", [f"error: {job.label}: {type(err).__name__}: {err}"]
        finally:
            job.seconds = time.monotonic() - started
            with self._lock:
                if job in self._queue:
                    self._queue.remove(job)
                self._lock.notify_all()
            job.finished.set()

    def prepare(self) -> None:
        """Start a process for the next run now, so that it has its modules loaded when the run starts."""
        with self._lock:
            if self._spare is None or self._spare[0].poll() is not None:
                self._spare = _start_worker()

    def _take_process(self) -> tuple[subprocess.Popen[str], IO[str]]:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None or spare[0].poll() is not None:
            spare = _start_worker()
        self.prepare()
        return spare

    def _watch(self, job: Job) -> None:
        """Run the job's process to its end, following its messages."""
        spec = {**job.spec, "workers": self.workers}
        process, errors = self._take_process()
        with errors:
            job.process = process
            if job.cancel_requested.is_set():  # cancelled while the process started
                job.cancel()
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(json.dumps(spec))
            process.stdin.close()
            outcome: dict[str, Any] = {}
            for line in process.stdout:
                if not line.startswith(MARK):
                    continue
                news = json.loads(line[len(MARK):])
                job.total = news.get("total", job.total)
                job.done = news.get("done", job.done)
                job.note = news.get("note", job.note)
                job.phase = news.get("phase", job.phase)
                outcome.update({k: v for k, v in news.items() if k in ("folder", "problems", "cancelled")})
                if news.get("cancelled"):  # its folder is removed: stop the workers' unfinished tasks now
                    _kill_group(process)
            status = process.wait()
            _RUNNING.discard(process)
            errors.seek(0)
            detail = errors.read().strip().splitlines()
        if "folder" in outcome:
            job.folder, job.state = Path(outcome["folder"]), "done"
        elif outcome.get("problems"):
            job.state, job.problems = "failed", list(outcome["problems"])
        elif job.cancel_requested.is_set():
            job.state = "cancelled"
            _remove_unfinished(Path(job.spec["results_root"]), process.pid)
        else:
            last = detail[-1] if detail else f"exit status {status}"
            job.state, job.problems = "failed", [f"error: {job.label}: the run stopped ({last}); nothing was written"]
            _remove_unfinished(Path(job.spec["results_root"]), process.pid)


def _remove_unfinished(root: Path, pid: int) -> None:
    """A killed run's folder under its temporary name (``.NAME.partial-PID``), if it left one."""
    if root.is_dir():
        for work in root.glob(f"*/.*.partial-{pid}"):
            shutil.rmtree(work, ignore_errors=True)


@atexit.register
def _stop_all() -> None:
    """When the app stops, so do its runs (with their workers)."""
    for process in list(_RUNNING):
        _kill_group(process)


RUNNER = Runner()
"""The app's queue (one per server process, shared by every browser tab)."""
