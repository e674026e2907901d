"""Mutation testing of the engine, the statistics and the study analyses with mutmut 3, one target at a time.

Each target names the modules to mutate and the tests that pin them (a selection that keeps each
mutant's run to seconds). The script copies the repository's code, tests and scenarios into a
scratch folder, writes mutmut's configuration there (``setup.cfg``), runs ``mutmut run`` and
prints the score: killed / (killed + survived), with every surviving mutant's name. The working
tree is never touched; docs/mutation.md records the scores and explains every survivor.

    pip install "mutmut>=3.8,<4"
    python benchmarks/mutation.py --list                          # the targets and their tests
    python benchmarks/mutation.py stats sweep trial verify        # run targets (default: all stable ones)
    python benchmarks/mutation.py engine --children 2             # the engine, once it is stable
    python benchmarks/mutation.py stats --show                    # also print each survivor's diff
    python benchmarks/mutation.py stats --keep /tmp/mutation      # reuse a scratch folder (resumes a run)

mutmut runs each mutant in a forked process with only the selected tests that execute the mutated
function, and stops at the first failing test. A timeout counts as killed (the mutant made the
tests hang or crawl); "no tests" means no selected test reaches the function.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    """Modules mutated together and the tests that are run against their mutants."""

    modules: tuple[str, ...]
    tests: tuple[str, ...]
    stable: bool = True  # run by default


TARGETS: dict[str, Target] = {
    "stats": Target(
        ("sim/stats/summary.py", "sim/stats/survival.py", "sim/stats/survival_tables.py", "sim/stats/testing.py"),
        ("tests/test_analysis.py", "tests/test_reference_statistics.py", "tests/test_hypothesis_tests.py",
         "tests/test_survival_curves.py", "tests/test_stats_exact.py",
         "tests/test_trial.py::test_logrank_matches_lifelines_with_ties",
         "tests/test_trial.py::test_binary_tests_match_scipy", "tests/test_trial.py::test_continuous_tests_match_scipy",
         "tests/test_trial.py::test_one_sided_direction_is_experimental_against_control",
         "tests/test_subgroups.py::test_summary_and_comparison_have_subgroup_rows")),
    "timecourse": Target(
        ("sim/stats/timecourse.py",),
        ("tests/test_timecourse.py", "tests/test_analysis.py", "tests/test_stats_exact.py")),
    "designs": Target(
        ("sim/stats/single_arm.py", "sim/stats/group_sequential.py"),
        ("tests/test_single_arm.py", "tests/test_group_sequential.py", "tests/test_designs_exact.py")),
    "economics": Target(
        ("sim/stats/economics.py",),
        ("tests/test_economics_math.py", "tests/test_economics_exact.py", "-k",
         "not evppi and not evpi and not noise_inflation")),
    "cost_effectiveness": Target(
        ("sim/stats/cost_effectiveness.py",),
        ("tests/test_cost_effectiveness.py", "tests/test_cost_effectiveness_scenario.py", "tests/test_stats_exact.py")),
    "folding": Target(
        ("sim/stats/accumulate.py",),
        ("tests/test_streaming.py", "tests/test_stats_exact.py", "-k", "not parquet and not api_reads")),
    "value_of_information": Target(
        ("sim/stats/value_of_information.py",),
        ("tests/test_economics_math.py",),
        stable=False),
    "sweep": Target(
        ("sim/studies/sweep/analyse.py",),
        ("tests/test_sweep_analysis.py",)),
    "trial": Target(
        ("sim/studies/trial/analyse.py",),
        ("tests/test_reference_statistics.py",)),
    "verify": Target(
        ("sim/studies/verify/checks.py",),
        ("tests/test_verify_checks.py",)),
    "engine": Target(
        ("sim/engine/patient.py", "sim/engine/plans.py", "sim/engine/draws.py"),
        ("tests/test_pathways.py", "tests/test_pathway_order.py", "tests/test_pathways_exposure.py",
         "tests/test_economics_pathways.py", "tests/test_engine_exact.py", "tests/test_statistics.py",
         "tests/test_subgroups.py::test_two_subgroups_follow_their_own_fixed_pathways",
         "tests/test_subgroups.py::test_subgroup_frequencies_match_shares", "tests/test_golden.py",
         "tests/test_crn.py", "--deselect", "tests/test_crn.py::test_workers_one_and_two_write_identical_files"),
        stable=False),
}
"""Every target. Not run by default: the engine, while its modules change often, and the value of
information, whose tests take minutes per mutant (EVPPI regressions over thousands of draws)."""


COPIED = ("sim", "tests", "scenarios", "run.py", "pyproject.toml")


def prepare(folder: Path, target: Target) -> None:
    """Copy the code, tests and scenarios into ``folder`` and write mutmut's configuration for ``target``."""
    for name in COPIED:
        source = ROOT / name
        destination = folder / name
        if destination.exists():
            shutil.rmtree(destination) if destination.is_dir() else destination.unlink()
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, destination)
    # mutmut reads [tool.mutmut] in pyproject.toml first; the project keeps none, so setup.cfg is read.
    lines = ["[mutmut]", "source_paths = sim", "only_mutate ="]
    lines += [f"    {m}" for m in target.modules]
    lines += ["pytest_add_cli_args_test_selection ="]
    lines += [f"    {t}" for t in target.tests]
    lines += ["pytest_add_cli_args =", "    -q", "    -p", "    no:cacheprovider", "    -x", "    -n", "    0",
              "timeout_multiplier = 10.0", "also_copy =", "    scenarios", "    run.py",
              # Workers forked from mutmut's main process inherit the caches that its test run filled
              # (compiled plans, stream names): a mutant of a cached constructor would never run.
              "process_isolation = forkserver", "forkserver_warmup = collect", ""]
    (folder / "setup.cfg").write_text("\n".join(lines), encoding="utf-8")


def mutmut(folder: Path, *arguments: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the mutmut console script of this interpreter in ``folder``."""
    executable = Path(sys.executable).with_name("mutmut")
    command = [str(executable) if executable.exists() else "mutmut", *arguments]
    environment = {**os.environ, "PYTHONPATH": ""}
    return subprocess.run(command, cwd=folder, text=True, check=False, env=environment,
                          stdout=subprocess.PIPE if capture else None, stderr=subprocess.STDOUT if capture else None)


def results(folder: Path) -> dict[str, str]:
    """Each mutant's status, by name, from ``mutmut results --all true``."""
    listing = mutmut(folder, "results", "--all", "true", capture=True).stdout
    status = {}
    for line in listing.splitlines():
        match = re.match(r"\s*([\w.]+__mutmut_\d+): ([\w ]+?)\s*$", line)
        if match:
            status[match.group(1)] = match.group(2)
    return status


def score(status: dict[str, str]) -> dict[str, float]:
    """Counts by status and the score killed / (killed + survived), timeouts counted as killed."""
    counts: dict[str, float] = {}
    for value in status.values():
        counts[value] = counts.get(value, 0) + 1
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    survived = counts.get("survived", 0)
    counts["score"] = killed / (killed + survived) if killed + survived else float("nan")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"targets to run (default: the stable ones); one of "
                                                   f"{', '.join(TARGETS)}")
    parser.add_argument("--children", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--keep", metavar="DIR", help="scratch folder to use and keep (one sub-folder per target)")
    parser.add_argument("--show", action="store_true", help="print each surviving mutant's diff")
    parser.add_argument("--json", metavar="FILE", help="write every mutant's status, by target, to FILE")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    args = parser.parse_args()
    if args.list:
        for name, target in TARGETS.items():
            print(f"{name}{'' if target.stable else ' (not run by default)'}: {', '.join(target.modules)}\n"
                  f"    tests: {', '.join(target.tests)}")
        return 0
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; see --list")
    chosen = args.targets or [name for name, target in TARGETS.items() if target.stable]
    scratch = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cle-mutation-"))
    every: dict[str, dict[str, str]] = {}
    for name in chosen:
        folder = scratch / name
        folder.mkdir(parents=True, exist_ok=True)
        prepare(folder, TARGETS[name])
        print(f"== {name}: mutating {', '.join(TARGETS[name].modules)} in {folder}", flush=True)
        mutmut(folder, "run", "--max-children", str(args.children))
        status = every[name] = results(folder)
        counts = score(status)
        print(f"== {name}: " + ", ".join(f"{k} {int(v)}" for k, v in sorted(counts.items()) if k != "score")
              + f"; score {100 * counts['score']:.1f}%")
        for mutant, value in sorted(status.items()):
            if value not in ("killed", "timeout"):
                print(f"   {value}: {mutant}")
                if args.show and value == "survived":
                    print(mutmut(folder, "show", mutant, capture=True).stdout)
    if args.json:
        Path(args.json).write_text(json.dumps(every, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
