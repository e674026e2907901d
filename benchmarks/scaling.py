"""Wall time and peak memory of whole runs of scenarios/low_dose.yaml at 10^4, 10^5 and 10^6 trajectories.

Each run is the real command line (three arms, 10 replications, patients per arm chosen to give
the total), on all cores, without figures, logging events for the first 100 patients of each arm
and replication (patients.csv is always complete). Peak memory is the resident set of the whole
process tree (main process and workers), sampled every 50 ms.

    python benchmarks/scaling.py [--sizes 10000 100000 1000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _measure import ROOT, machine, print_table, run_measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000],
                        help="total patient trajectories per run (three arms x 10 replications)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for total in args.sizes:
        patients = max(1, round(total / 30))
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            wall, peak = run_measured([sys.executable, "run.py", "scenarios/low_dose.yaml", "--replications", "10",
                                       "--patients", str(patients), "--workers", str(args.workers), "--no-plots",
                                       "--event-sample", "100", "--quiet", "--out", str(out)])
            size_mb = sum(f.stat().st_size for f in out.iterdir() if f.is_file()) / 1e6
        trajectories = patients * 30
        rows.append([f"{trajectories:,}", f"{wall:.1f}", f"{trajectories / wall:,.0f}", f"{peak / 1e6:,.0f}",
                     f"{size_mb:,.0f}"])
    print_table(f"scaling on {machine()}, {args.workers} workers",
                ["trajectories", "wall s", "trajectories/s", "peak RSS MB", "output MB"], rows)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
