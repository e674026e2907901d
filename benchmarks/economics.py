"""What health economics costs: the engine's throughput with and without a scenario's economics, and a PSA.

1. The engine, one core: the units of ``scenarios/cost_effectiveness.yaml`` simulated as a run does,
   with its economics block and without it (the same scenario with ``economics``, ``costs`` and every
   adverse event's economic keys removed), best of ``--repeats``; the target is at most 15% fewer
   patients per second with economics.
2. A probabilistic sweep of ``scenarios/sweeps/psa_cost_effectiveness.yaml`` at 1,000 samples x 3 arms x
   1,000 patients (2 replications of 500) on 2 local processes, from the command line's API: simulation,
   analysis (acceptability, EVPI with its noise, EVPPI) and the folder; the target is under 90 seconds.

    python benchmarks/economics.py [--repeats 5] [--samples 1000] [--clock cpu]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _measure import ROOT, machine, print_table

sys.path.insert(0, str(ROOT))

from sim.engine.simulate import simulate  # noqa: E402
from sim.spec.load import load_scenario, validate_scenario  # noqa: E402
from sim.spec.scenario import Scenario  # noqa: E402
from sim.studies.units import plan_units  # noqa: E402

SCENARIO = ROOT / "scenarios" / "cost_effectiveness.yaml"
PSA = ROOT / "scenarios" / "sweeps" / "psa_cost_effectiveness.yaml"
ECONOMIC_EVENT_KEYS = ("cost", "disutility", "disutility_weeks", "irreversible_disutility")


def without_economics(scenario: Scenario) -> Scenario:
    """The same scenario with no economics block, no therapy costs and no economic keys on adverse events."""
    data: dict[str, Any] = scenario.model_dump(mode="json", exclude_none=True)
    data.pop("economics", None)
    for therapy in data["therapies"].values():
        therapy.pop("costs", None)
        for event in therapy.get("adverse_events", {}).values():
            for key in ECONOMIC_EVENT_KEYS:
                event.pop(key, None)
    return validate_scenario(Path("<without economics>"), data)


def engine_rate(scenario: Scenario, repeats: int, clock: Any) -> float:
    """Patients per second simulating the scenario's units (no event log), best of ``repeats``."""
    units = plan_units(scenario)
    patients = sum(u.stop - u.start for u in units)
    best = float("inf")
    for _ in range(repeats):
        started = clock()
        for unit in units:
            simulate(scenario, unit.arm, unit.replication, unit.start, unit.stop, log_events=False)
        best = min(best, clock() - started)
    return patients / best


def psa_seconds(samples: int, workers: int) -> tuple[float, int]:
    """Wall seconds of the PSA at ``samples`` samples, 2 replications of 500 patients, folder included."""
    import sim

    data = yaml.safe_load(PSA.read_text(encoding="utf-8"))
    data["base"] = str((PSA.parent / data["base"]).resolve())
    data["sweep"]["samples"] = samples
    data["sweep"]["replications"] = 2
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / PSA.name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        started = time.perf_counter()
        result = sim.sweep(path, patients=500, workers=workers)
        result.save(Path(folder) / "out", plots=True)
        wall = time.perf_counter() - started
    return wall, samples * 3 * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--replications", type=int, default=10, help="replications of the engine measurement")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--skip-psa", action="store_true")
    args = parser.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    scenario = load_scenario(SCENARIO, [("replications", args.replications)])
    plain = without_economics(scenario)
    # Interleaved, so that a disturbance of the machine falls on both.
    with_rate = without_rate = 0.0
    for _ in range(args.repeats):
        with_rate = max(with_rate, engine_rate(scenario, 1, clock))
        without_rate = max(without_rate, engine_rate(plain, 1, clock))
    rows = [["engine, cost_effectiveness.yaml without economics (patients/s)", f"{without_rate:,.0f}"],
            ["engine, with economics (patients/s)", f"{with_rate:,.0f}"],
            ["throughput lost to economics (target at most 15%)", f"{100 * (1 - with_rate / without_rate):.1f}%"]]
    if not args.skip_psa:
        wall, trajectories = psa_seconds(args.samples, args.workers)
        rows.append([f"PSA: {args.samples} samples x 3 arms x 1,000 patients on {args.workers} processes "
                     "(target < 90 s)", f"{wall:.1f} s"])
        rows.append(["PSA trajectories per second", f"{trajectories / wall:,.0f}"])
    print_table(f"health economics, {machine()}, {args.clock} clock, best of {args.repeats}", ["", "value"], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
