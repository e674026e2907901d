"""Common random numbers: variance of the paired difference with shared versus independent streams.

The difference in mean disease-free weeks, lenalidomide minus thalidomide, is computed in each of R
replications of scenarios/low_dose.yaml: once with the arms sharing their streams (the model's
design) and once with each arm drawing from a stream of its own (the lenalidomide arm run under
another seed), at the same cost. The ratio of the variances is the factor by which common random
numbers cut the replications needed for a given precision.

    python benchmarks/crn.py [--replications 40] [--patients 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from _measure import ROOT, machine, print_table

sys.path.insert(0, str(ROOT))

from sim.engine.simulate import simulate  # noqa: E402
from sim.spec.load import load_scenario  # noqa: E402


def _mean_disease_free(scenario, arm: str, replication: int) -> float:  # type: ignore[no-untyped-def]
    values = simulate(scenario, arm, replication, log_events=False).patients["disease_free_weeks"]
    return sum(values) / len(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replications", type=int, default=40)
    parser.add_argument("--patients", type=int, default=500)
    args = parser.parse_args()
    shared = load_scenario(ROOT / "scenarios" / "low_dose.yaml", [("cohort.size", args.patients)])
    other_seed = load_scenario(ROOT / "scenarios" / "low_dose.yaml",
                               [("cohort.size", args.patients), ("seed", shared.seed + 1)])
    paired, independent = [], []
    for r in range(args.replications):
        thalidomide = _mean_disease_free(shared, "thalidomide", r)
        paired.append(_mean_disease_free(shared, "lenalidomide", r) - thalidomide)
        independent.append(_mean_disease_free(other_seed, "lenalidomide", r) - thalidomide)
    var_paired = statistics.variance(paired)
    var_independent = statistics.variance(independent)
    rows = [
        ["shared streams (CRN)", f"{statistics.mean(paired):.2f}", f"{var_paired:.3f}"],
        ["independent streams", f"{statistics.mean(independent):.2f}", f"{var_independent:.3f}"],
    ]
    print_table(f"lenalidomide - thalidomide, mean disease-free weeks, {args.replications} replications x "
                f"{args.patients} patients, on {machine()}", ["streams", "mean difference", "variance"], rows)
    print(f"variance ratio independent/shared: {var_independent / var_paired:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
