"""Parallel efficiency: the same units on 1 and 2 local processes and on a local Dask cluster of 2 workers.

The units of scenarios/low_dose.yaml, results consumed in order as the runner does, measured for two
kinds of work: the simulation alone ("simulate": what parallelism buys the engine), and the
simulation followed by what run.py's workers also do, the typed tables and the CSV text of
patients and events, logging the first 100 patients per unit ("tables"). Each result set is
checked identical across runners.

    python benchmarks/parallel.py [--trajectories 100000 400000] [--work simulate tables]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import Any

from _measure import ROOT, machine, print_table

sys.path.insert(0, str(ROOT))

from sim.spec.load import load_scenario  # noqa: E402
from sim.studies.units import plan_units, run_units  # noqa: E402


def _timed(scenario, units, work: str, repeats: int = 1, **where) -> tuple[float, list]:  # type: ignore[no-untyped-def]
    """Best wall time of ``repeats`` runs (this machine's timings vary run to run), and the results."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        results: list[Any]
        if work == "tables":
            runs = run_units(scenario, units, event_sample=100, as_tables=True, **where)
            results = [(r.patients_csv, r.events_csv) for r in runs]
        else:
            runs = run_units(scenario, units, log_events=False, **where)
            results = [list(r.patients["disease_free_weeks"]) for r in runs]
        best = min(best, time.perf_counter() - started)
    return best, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trajectories", type=int, nargs="+", default=[100_000, 400_000],
                        help="totals to measure (three arms x 20 replications each)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs of each (default 3)")
    parser.add_argument("--work", nargs="+", choices=["simulate", "tables"], default=["simulate", "tables"],
                        help="what each unit does (default both)")
    args = parser.parse_args()
    for total in args.trajectories:
        _measure_one(total, args.repeats, args.work)
    return 0


def _measure_one(total: int, repeats: int, works: list[str]) -> None:
    import dask
    from distributed import Client, LocalCluster

    patients = max(1, round(total / 60))
    scenario = load_scenario(ROOT / "scenarios" / "low_dose.yaml", [("replications", 20), ("cohort.size", patients)])
    units = plan_units(scenario)
    n = patients * 60
    # Dask workers sample their own stacks every 10 ms for the dashboard's profile, by default: that
    # costs a few per cent of a core. The runs here have no dashboard.
    dask.config.set({"distributed.worker.profile.enabled": False})
    for work in works:
        # The local runs first, with no cluster idling beside them.
        one, reference = _timed(scenario, units, work, repeats, workers=1)
        two, results_two = _timed(scenario, units, work, repeats, workers=2)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Client(cluster.scheduler_address, set_as_default=False) as client:
                client.run(importlib.import_module, "sim.experiment")  # every worker imports the model first
            on_dask, results_dask = _timed(scenario, units, work, repeats, scheduler=cluster.scheduler_address)
        assert results_two == reference and results_dask == reference, "results differ between runners"
        rows = [
            ["1 local process", f"{one:.1f}", f"{n / one:,.0f}", "1.00"],
            ["2 local processes", f"{two:.1f}", f"{n / two:,.0f}", f"{one / two:.2f}"],
            ["Dask, 2 workers", f"{on_dask:.1f}", f"{n / on_dask:,.0f}", f"{one / on_dask:.2f}"],
        ]
        print_table(f"parallel efficiency ({work}), {n:,} trajectories in {len(units)} units, on {machine()}",
                    ["runner", "wall s", "trajectories/s", "speedup"], rows)
        print(f"Dask / local pool wall time: {on_dask / two:.2f}; results identical: yes\n")


if __name__ == "__main__":
    raise SystemExit(main())
