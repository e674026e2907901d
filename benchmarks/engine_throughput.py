"""Engine throughput against the SimPy floor, on one core.

The model runs scenarios/low_dose.yaml as a run does, unit by unit (blocks of one arm and
replication), in this one process; the number of timeouts each patient's process yields is counted;
then a bare SimPy loop does exactly those timeouts per patient, in its fastest layout (patients in
small batches per environment, garbage collector off; every batch size below is tried and the best
kept). The ratio model/floor is the share of the time SimPy itself costs: the rest is the clinical
logic, the draws and the records.

The model is measured three ways: without the event log, logging the first 100 patients of each
arm and replication (``--event-sample 100``, as large runs do), and logging every patient (the
default of a run).

    python benchmarks/engine_throughput.py [--replications 20] [--repeats 5] [--clock cpu]

``--clock cpu`` times by the process's CPU time instead of the wall clock: on a machine shared with
other work, the wall clock counts the time the process waits for a core, which the floor (a short
measurement) and the model (a longer one) do not suffer alike.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

import simpy
from _measure import ROOT, machine, print_table

sys.path.insert(0, str(ROOT))

from sim.engine import simulate as model  # noqa: E402
from sim.spec.load import load_scenario  # noqa: E402
from sim.studies.units import plan_units  # noqa: E402

FLOOR_BATCHES = (8, 16, 32, 64, 128)

CLOCK = time.perf_counter
"""The timer of every measurement (``--clock cpu``: time.process_time)."""


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


def timeouts_per_patient(scenario, units) -> list[int]:  # type: ignore[no-untyped-def]
    """Timeouts yielded by each patient of the units, in order."""
    original = model.simpy.Environment
    _CountingEnvironment.counts = []
    try:
        model.simpy.Environment = _CountingEnvironment  # type: ignore[misc]
        _simulate_units(scenario, units, "off")
    finally:
        model.simpy.Environment = original  # type: ignore[misc]
    return list(_CountingEnvironment.counts)


def floor_rate(counts: list[int], batch: int) -> float:
    """Patients per second of a bare SimPy loop doing ``counts[i]`` timeouts for patient i."""

    def patient(env: simpy.Environment, n: int):  # type: ignore[no-untyped-def]
        timeout = env.timeout
        for _ in range(n):
            yield timeout(1.0)

    gc.disable()
    try:
        started = CLOCK()
        for first in range(0, len(counts), batch):
            env = simpy.Environment()
            for n in counts[first:first + batch]:
                env.process(patient(env, n))
            env.run()
        elapsed = CLOCK() - started
    finally:
        gc.enable()
    return len(counts) / elapsed


def _simulate_units(scenario, units, log: str) -> None:  # type: ignore[no-untyped-def]
    for unit in units:
        model.simulate(scenario, unit.arm, unit.replication, unit.start, unit.stop, log_events=log != "off",
                       event_sample=100 if log == "sample" else None)


def model_rate(scenario, units, log: str) -> float:  # type: ignore[no-untyped-def]
    """Patient trajectories per second of the model over the units."""
    started = CLOCK()
    _simulate_units(scenario, units, log)
    return sum(u.stop - u.start for u in units) / (CLOCK() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replications", type=int, default=20,
                        help="replications of low_dose.yaml (default 20: 3 arms x 500 patients each)")
    parser.add_argument("--repeats", type=int, default=5, help="best of this many runs of each (default 5)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="time by the wall clock (default) or by this process's CPU time")
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "low_dose.yaml"),
                        help="the scenario (default scenarios/low_dose.yaml)")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    scenario = load_scenario(args.scenario, [("replications", args.replications)])
    units = plan_units(scenario)
    counts = timeouts_per_patient(scenario, units)
    mean_timeouts = sum(counts) / len(counts)
    # Interleave the measurements, so that a slow spell of the machine does not favour one of them.
    floors = {batch: 0.0 for batch in FLOOR_BATCHES}
    rates = {"off": 0.0, "sample": 0.0, "on": 0.0}
    for _ in range(args.repeats):
        for batch in FLOOR_BATCHES:
            floors[batch] = max(floors[batch], floor_rate(counts, batch))
        for log in rates:
            rates[log] = max(rates[log], model_rate(scenario, units, log))
    best_batch = max(floors, key=floors.__getitem__)
    floor = floors[best_batch]
    rows = [
        ["patient trajectories", f"{len(counts):,}", ""],
        ["timeouts per patient (mean)", f"{mean_timeouts:.2f}", ""],
        [f"floor: bare SimPy, batches of {best_batch}", f"{floor:,.0f}", "1.00"],
        ["model, no event log", f"{rates['off']:,.0f}", f"{rates['off'] / floor:.2f}"],
        ["model, event log of 100 patients per unit", f"{rates['sample']:,.0f}", f"{rates['sample'] / floor:.2f}"],
        ["model, full event log", f"{rates['on']:,.0f}", f"{rates['on'] / floor:.2f}"],
    ]
    print_table(f"engine throughput, one core, on {machine()}; best of {args.repeats}, {args.clock} clock",
                ["", "patients/s", "model/floor"], rows)
    print("floor by batch size, patients/s: "
          + ", ".join(f"{batch}: {rate:,.0f}" for batch, rate in floors.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
