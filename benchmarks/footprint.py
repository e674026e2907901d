"""Memory and disk of a run against the estimate that ``run.py`` checks before it starts (``sim/cli/budget.py``).

Each size runs ``scenarios/low_dose.yaml`` in a fresh process, sampling the resident memory of the
main process and of its workers every 0.1 s, and prints the peaks, the files written, and what
``run_need`` estimated from its pilot. The memory factors in ``budget.py`` come from these figures:
bytes of memory per byte of ``patients.csv`` and of ``events.csv`` at the main process's peak.

    python benchmarks/footprint.py                     # 3x10^4, 3x10^5 and 9x10^5 trajectories
    python benchmarks/footprint.py --sizes 1000x10     # patients x replications (3 arms each)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, os, sys, threading, time
from pathlib import Path
from sim.cli.budget import run_need
from sim.spec.load import load_scenario
from sim.studies.run import run_to_folder

patients, replications, events, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "events", Path(sys.argv[4])
scenario = load_scenario(sys.argv[5], [("cohort.size", patients), ("replications", replications)])
need = run_need(scenario, log_events=events, event_sample=None, workers=2, plots=False)

def rss(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0

def workers():
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if open(f"/proc/{entry}/stat").read().rsplit(") ", 1)[1].split()[1] == str(os.getpid()):
                    found.append(int(entry))
            except (OSError, IndexError):
                pass
    return found

peak = {"main": 0, "workers": 0}
done = False

def sample():
    while not done:
        peak["main"] = max(peak["main"], rss(os.getpid()))
        peak["workers"] = max(peak["workers"], sum(rss(pid) for pid in workers()))
        time.sleep(0.1)

threading.Thread(target=sample, daemon=True).start()
started = time.perf_counter()
run_to_folder(scenario, out=out, workers=2, plots=False, log_events=events)
done = True
sizes = {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}
print(json.dumps({"wall": time.perf_counter() - started, "peak": peak, "sizes": sizes,
                  "need": {"memory": need.memory, "disk": need.disk, "largest": need.largest_file}}))
"""


def measure(patients: int, replications: int, events: bool) -> dict:
    """One run's measured peaks and sizes, and the estimate, from a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-c", _CHILD, str(patients), str(replications),
                               "events" if events else "none", str(Path(tmp) / "out"),
                               str(ROOT / "scenarios" / "low_dose.yaml")],
                              capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1000x10", "1000x100", "3000x100"],
                        help="patients x replications, e.g. 1000x10")
    args = parser.parse_args()
    print(f"{'trajectories':>12} {'events':>6} {'wall s':>7} {'main MB':>8} {'workers MB':>10} {'est. MB':>8} "
          f"{'files MB':>8} {'est. MB':>8} {'mem/patients.csv':>16} {'mem/events.csv':>14}")
    base = None
    for size in args.sizes:
        patients, replications = (int(part) for part in size.split("x"))
        for events in (False, True):
            result = measure(patients, replications, events)
            sizes, peak, need = result["sizes"], result["peak"], result["need"]
            files = sum(sizes.values())
            if not events:
                base = (peak["main"], sizes["patients.csv"])
            per_patients = (peak["main"] - 300e6) / sizes["patients.csv"] if not events else float("nan")
            per_events = ((peak["main"] - base[0]) / sizes["events.csv"]) if events and base and sizes["events.csv"] \
                else float("nan")
            print(f"{3 * patients * replications:>12} {'full' if events else 'none':>6} {result['wall']:>7.1f} "
                  f"{peak['main'] / 1e6:>8.0f} {peak['workers'] / 1e6:>10.0f} {need['memory'] / 1e6:>8.0f} "
                  f"{files / 1e6:>8.1f} {need['disk'] / 1e6:>8.1f} {per_patients:>16.1f} {per_events:>14.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
