"""Engine throughput against the SimPy floor, on one core.

The model is run on scenarios/low_dose.yaml; the number of timeouts each patient's process yields is
counted; then a bare SimPy loop does exactly those timeouts per patient, in the fastest layout
(patients in small batches per environment, garbage collector off). The ratio model/floor is the
share of the time SimPy itself costs: the rest is the clinical logic, draws and records.

    python benchmarks/engine_throughput.py [--patients N] [--repeats R]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import simpy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim import model  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402


def _counting(generator, counts: list[int], slot: int):  # type: ignore[no-untyped-def]
    """Pass a process's events through, counting them into ``counts[slot]``."""
    try:
        event = next(generator)
        while True:
            counts[slot] += 1
            value = yield event
            event = generator.send(value)
    except StopIteration:
        return


class _CountingEnvironment(simpy.Environment):
    """An environment whose processes count the events they wait for."""

    counts: list[int] = []

    def process(self, generator):  # type: ignore[no-untyped-def, override]
        self.counts.append(0)
        return super().process(_counting(generator, self.counts, len(self.counts) - 1))


def timeouts_per_patient(scenario, patients: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Timeouts yielded by each patient of every arm (one replication), in order."""
    original = model.simpy.Environment
    _CountingEnvironment.counts = []
    try:
        model.simpy.Environment = _CountingEnvironment  # type: ignore[misc]
        for arm in scenario.arms:
            model.simulate(scenario, arm, 0, 0, patients, log_events=False)
    finally:
        model.simpy.Environment = original  # type: ignore[misc]
    return list(_CountingEnvironment.counts)


def floor_rate(counts: list[int], batch: int = 64) -> float:
    """Patients per second of a bare SimPy loop doing ``counts[i]`` timeouts for patient i."""

    def patient(env: simpy.Environment, n: int):  # type: ignore[no-untyped-def]
        timeout = env.timeout
        for _ in range(n):
            yield timeout(1.0)

    gc.disable()
    try:
        started = time.perf_counter()
        for first in range(0, len(counts), batch):
            env = simpy.Environment()
            for n in counts[first:first + batch]:
                env.process(patient(env, n))
            env.run()
        elapsed = time.perf_counter() - started
    finally:
        gc.enable()
    return len(counts) / elapsed


def model_rate(scenario, patients: int, log_events: bool) -> float:  # type: ignore[no-untyped-def]
    """Patient trajectories per second of the model (all arms, one replication)."""
    started = time.perf_counter()
    for arm in scenario.arms:
        model.simulate(scenario, arm, 0, 0, patients, log_events=log_events)
    return patients * len(scenario.arms) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000, help="patients per arm (default 10000)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (default 3)")
    args = parser.parse_args()
    scenario = load_scenario(ROOT / "scenarios" / "low_dose.yaml")
    counts = timeouts_per_patient(scenario, args.patients)
    floor = max(floor_rate(counts) for _ in range(args.repeats))
    with_log = max(model_rate(scenario, args.patients, True) for _ in range(args.repeats))
    without_log = max(model_rate(scenario, args.patients, False) for _ in range(args.repeats))
    mean_timeouts = sum(counts) / len(counts)
    rows = [
        ("patients (3 arms)", f"{len(counts):,}"),
        ("timeouts per patient (mean)", f"{mean_timeouts:.2f}"),
        ("floor: bare SimPy, patients/s", f"{floor:,.0f}"),
        ("floor: timeouts/s", f"{floor * mean_timeouts:,.0f}"),
        ("model, event log on: patients/s", f"{with_log:,.0f}"),
        ("model, event log off: patients/s", f"{without_log:,.0f}"),
        ("ratio model/floor (log on)", f"{with_log / floor:.2f}"),
        ("ratio model/floor (log off)", f"{without_log / floor:.2f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'engine throughput, one core':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
