"""What a command will need (memory, disk, its largest file) against what the machine has, checked before it runs.

A run's files are estimated from a pilot: the first patients of each arm are simulated (a few
milliseconds) and their rows of ``patients.csv`` and ``events.csv`` measured, then scaled by
patients x replications x arms (and by the patients whose events are logged). A run's memory does
not grow with its files: its main process keeps a few numbers per patient for the survival
analysis (``PATIENT_BYTES``) and, with a single replication, every patient's summarised values
(``SINGLE_REPLICATION_FACTOR`` per byte of ``patients.csv``); the factors are measured by
``benchmarks/footprint.py`` and ``benchmarks/main_job.py``. A command that would not fit
is refused with one line per shortfall, before anything is claimed or simulated, unless
``--force`` is given.
"""

from __future__ import annotations

import os
import resource
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sim.outputs.claims import megabytes

if TYPE_CHECKING:
    from sim.spec.scenario import Scenario

__all__ = ["BASE_BYTES", "PATIENT_BYTES", "SINGLE_REPLICATION_FACTOR", "WORKER_BYTES", "Capacity", "Need",
           "budget_problems",
           "capacity", "run_need", "sweep_need", "trial_need", "workers_problems"]

BASE_BYTES = 300_000_000
"""The main process before any result is held (the interpreter, NumPy, pandas, SciPy, Arrow)."""

WORKER_BYTES = 250_000_000
"""Each local worker process (measured: about 190 MB)."""

PLOT_BYTES = 200_000_000
"""Drawing the figures (matplotlib)."""

PATIENT_BYTES = 150
"""Bytes of the main process per simulated patient: the survival arrays (53 bytes, made at their full length
at the start), and the copies of one arm's arrays while its curves are computed (measured by
``benchmarks/main_job.py memory``: 1.7 GB for the largest process at 10^7 trajectories, about 145 bytes a patient
beyond the interpreter and its libraries)."""

SINGLE_REPLICATION_FACTOR = 4.0
"""Bytes of memory per byte of ``patients.csv`` of a run of one replication, whose intervals are over patients:
their summarised values are all kept (as floats, with pandas' copies while the summaries are taken)."""

FIXED_DISK_BYTES = 30_000_000
"""Files whose size does not grow with the patients: the survival and occupancy tables, figures, report."""

PILOT_PATIENTS = 100
"""Patients per arm simulated to measure the rows of a run."""

SAFETY = 0.9
"""The share of the free memory or disk a command may plan to use."""


@dataclass(frozen=True)
class Need:
    """What a command is estimated to need, in bytes, and the size that drives it, in words."""

    memory: int
    disk: int
    largest_file: int
    largest_name: str
    driver: str
    advice: str = "use fewer patients or replications (or --event-sample N, --no-events)"


@dataclass(frozen=True)
class Capacity:
    """What the machine has now (None: unknown): memory available, free disk where results go, largest file."""

    memory: int | None
    disk: int | None
    disk_where: Path
    file_limit: int | None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """Memory left under this process's cgroup limit (containers), if it has one."""
    for limit_path, usage_path in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit_text = Path(limit_path).read_text(encoding="ascii").strip()
            usage = int(Path(usage_path).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue
        if limit_text == "max" or int(limit_text) >= 1 << 60:
            return None
        return max(0, int(limit_text) - usage)
    return None


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor (where its files would land)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def capacity(destination: Path) -> Capacity:
    """The memory available, the free disk under ``destination`` and the limit on file size (``ulimit -f``)."""
    rooms = [room for room in (_meminfo_available(), _cgroup_room()) if room is not None]
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit != resource.RLIM_INFINITY:
        rooms.append(limit)
    where = _existing(destination)
    try:
        usage = shutil.disk_usage(where)
        disk: int | None = usage.free if usage.total else None  # a pseudo file system (/proc) has no size
    except OSError:
        disk = None
    size = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return Capacity(min(rooms) if rooms else None, disk, where, None if size == resource.RLIM_INFINITY else size)


def run_need(scenario: Scenario, *, log_events: bool, event_sample: int | None, workers: int, plots: bool,
             replications: int | None = None) -> Need:
    """A run's need, from a pilot of ``PILOT_PATIENTS`` per arm; ``replications`` overrides the scenario's
    (a precision run may go up to ``--max-replications``)."""
    replications = scenario.replications if replications is None else replications
    size = scenario.cohort.size
    pilot = min(size, PILOT_PATIENTS)
    logged_pilot = pilot if event_sample is None else min(event_sample, pilot)
    logged = (size if event_sample is None else min(event_sample, size)) if log_events else 0
    patients_bytes = events_bytes = 0.0
    # Here, not at the top: every command checks its workers with this module, only a run needs the engine.
    from sim.engine.records import patient_columns
    from sim.engine.simulate import simulate
    from sim.outputs.tables import events_csv_text, patients_csv_text, typed_columns

    columns = patient_columns(scenario)
    for arm in scenario.arms:
        block = simulate(scenario, arm, 0, 0, pilot, log_events=log_events, event_sample=event_sample)
        patients_bytes += len(patients_csv_text(typed_columns(block.patients, columns))) / pilot * size
        if logged_pilot:
            events_bytes += len(events_csv_text(block)) / logged_pilot * logged
    patients_bytes *= replications
    events_bytes *= replications
    patients = size * replications * len(scenario.arms)
    memory = (BASE_BYTES + workers * WORKER_BYTES + (PLOT_BYTES if plots else 0) + PATIENT_BYTES * patients
              + (SINGLE_REPLICATION_FACTOR * patients_bytes if replications == 1 else 0))
    largest, name = max((patients_bytes, "patients.csv"), (events_bytes, "events.csv"))
    driver = f"{replications} replications x {len(scenario.arms)} arms x {size} patients"
    return Need(int(memory), int(patients_bytes + events_bytes + FIXED_DISK_BYTES), int(largest), name, driver)


TRIAL_ROW_BYTES = 80
"""A row of ``trials.csv``."""

TRIAL_ROW_MEMORY = 400
"""A simulated trial's row in memory while the trials are collected (tuples, then the table)."""

PATIENT_MEMORY = 2_000
"""A simulated patient while a worker holds a whole arm (a sweep point, a simulated trial)."""


def trial_need(simulations: int, sizes: int, largest_trial_patients: int, workers: int, plots: bool) -> Need:
    """Trial planning's need: ``simulations`` x ``sizes`` rows of ``trials.csv``, trials of up to
    ``largest_trial_patients`` patients simulated in each worker."""
    rows = simulations * sizes
    memory = (BASE_BYTES + (PLOT_BYTES if plots else 0) + rows * TRIAL_ROW_MEMORY
              + workers * (WORKER_BYTES + largest_trial_patients * PATIENT_MEMORY))
    disk = rows * TRIAL_ROW_BYTES
    return Need(int(memory), disk + FIXED_DISK_BYTES, disk, "trials.csv",
                f"{simulations} simulated trials x {sizes} sizes of up to {largest_trial_patients} patients",
                "use fewer trial.simulations or smaller trial.patients_per_arm")


def sweep_need(points: int, replications: int, arms: int, outcomes: int, patients: int, workers: int) -> Need:
    """A sweep's need: its point records, and a whole arm of ``patients`` simulated at a time in each worker."""
    records = points * replications * arms * outcomes * 25
    memory = BASE_BYTES + 4 * records + workers * (WORKER_BYTES + patients * PATIENT_MEMORY)
    return Need(int(memory), records + FIXED_DISK_BYTES, records, "points/",
                f"{points} points x {replications} replications x {arms} arms x {patients} patients",
                "use fewer points, replications or patients")


def budget_problems(where: str, need: Need, have: Capacity) -> list[str]:
    """The line saying what does not fit (memory, disk, the largest file against ``ulimit -f``); none when all fits."""
    short = []
    if have.memory is not None and need.memory > SAFETY * have.memory:
        short.append(f"{megabytes(need.memory)} of memory ({megabytes(have.memory)} available)")
    if have.disk is not None and need.disk > SAFETY * have.disk:
        short.append(f"{megabytes(need.disk)} of disk ({megabytes(have.disk)} free in {have.disk_where})")
    if have.file_limit is not None and need.largest_file > have.file_limit:
        short.append(f"{megabytes(need.largest_file)} for {need.largest_name} (files may have at most "
                     f"{megabytes(have.file_limit)} here: ulimit -f)")
    if not short:
        return []
    return [f"{where}: too large for this machine: {need.driver} needs about {' and '.join(short)}; "
            f"{need.advice}, or add --force to try anyway"]


def workers_problems(where: str, workers: int | None, force: bool) -> list[str]:
    """The ``--workers`` problem, if any: at least 1, and at most the cores this process may use unless forced."""
    if workers is None:
        return []
    if workers < 1:
        return [f"{where}: --workers: must be at least 1, got {workers}"]
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    if workers > cores and not force:
        return [f"{where}: --workers: {workers} is more than the {cores} cores this process may use (more would only "
                f"compete for them); use at most {cores}, or add --force"]
    return []
