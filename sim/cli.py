"""The command line: a thin shell over load_scenario and run_scenario."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

EXAMPLES = """\
examples:
  python run.py scenarios/low_dose.yaml
  python run.py scenarios/low_dose.yaml --replications 10 --patients 200 --seed 7
  python run.py scenarios/low_dose.yaml --set therapies.lenalidomide_5.relapse.after_stop.probability=0.6
  python run.py scenarios/low_dose.yaml --out results/my_run --workers 2 --no-plots
  python run.py scenarios/low_dose.yaml --precision 2     replications until every CI is < 2 weeks wide
  python run.py check scenarios/low_dose.yaml      validate a scenario (or sweep or trial file) without running it
  python run.py plot results/low_dose/RUN_ID       redraw figures, derived tables and report.md (run, sweep or trial)
  python run.py schema > scenario.schema.json      the scenario format as JSON Schema (also: schema sweep|trial)
  python run.py scenarios/sweeps/one_way_weakest.yaml        a sensitivity sweep (a file with base: and sweep:)
  python run.py scenarios/trials/time_to_relapse.yaml        trial planning (a file with base: and trial:)
  python run.py verify                              the built-in verification suite
  python run.py validate                            the model against the published trials

exit status: 0 done, 2 bad input (one 'error: FILE: PATH: message' line per problem), 130 interrupted.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad options in the project's one-line form, with exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def _run_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="run.py",
        description="Simulate the arms of a CLE treatment-strategy scenario and write a results folder "
                    "(scenario.yaml, patients.csv, events.csv, summary.csv, comparison.csv, survival.csv, "
                    "survival_curves.csv, state_occupancy.csv, report.md, figures/, run.json).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", metavar="SCENARIO.yaml", help="the scenario file")
    parser.add_argument("--replications", type=int, metavar="N",
                        help="replications (independent virtual cohorts) instead of the file's, e.g. 10")
    parser.add_argument("--patients", type=int, metavar="N",
                        help="patients per arm and replication instead of cohort.size, e.g. 200")
    parser.add_argument("--seed", type=int, metavar="N", help="root seed instead of the file's, e.g. 7")
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", dest="overrides",
                        help="replace any value by its dotted path, validated like the file; repeatable, "
                             "e.g. --set therapies.thalidomide_100.response.probability=0.85")
    parser.add_argument("--out", metavar="DIR",
                        help="write exactly here (must not exist or be empty) instead of "
                             "results/<name>/<run id>/")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="local processes for replications (default: all cores); results do not "
                             "depend on it")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on an existing Dask distributed cluster instead of local processes, "
                             "e.g. tcp://127.0.0.1:8786; results do not depend on it")
    parser.add_argument("--event-sample", type=int, metavar="N",
                        help="log events only for the first N patients of each arm and replication "
                             "(the same patients in every arm); patients.csv is always complete")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="sweeps: finish an interrupted sweep in RUN_DIR, recomputing nothing finished")
    parser.add_argument("--no-plots", action="store_true", help="skip the figures")
    parser.add_argument("--no-events", action="store_true",
                        help="do not log events (events.csv keeps its header); patients.csv is complete")
    parser.add_argument("--precision", type=float, metavar="WEEKS",
                        help="instead of a fixed number of replications, add replications (at least "
                             "5) until the 95%% interval of every arm's mean disease-free weeks is narrower "
                             "than WEEKS (full width), e.g. 2; run.json and report.md say how many were needed")
    parser.add_argument("--max-replications", type=int, metavar="N",
                        help="with --precision: stop after N replications even if the precision is not "
                             "reached, with a warning (default 200)")
    parser.add_argument("--quiet", action="store_true",
                        help="print nothing but errors and warnings; no progress bar (there is none either "
                             "when standard error is not a terminal)")
    return parser


def _plot_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="run.py plot",
                     description="Redraw the figures, derived tables and report.md of a results folder from its "
                                 "saved files, without simulating; works for run, sweep and trial folders (told "
                                 "apart by their files). A run folder: survival.csv, survival_curves.csv and "
                                 "state_occupancy.csv from patients.csv and events.csv. A sweep folder: sweep.csv, "
                                 "noise.csv and tornado.csv, sensitivity.csv or psa.csv from points/, with the design "
                                 "rebuilt from scenario.yaml and sweep.yaml and checked against design.csv. A trial "
                                 "folder: the power curve from power.csv and trials.csv. run.json and the tables "
                                 "drawn from are never changed; a folder that is unfinished, incomplete or "
                                 "inconsistent is refused with one 'error:' line and exit status 2, nothing written.")
    parser.add_argument("results_dir", metavar="RESULTS_DIR",
                        help="a folder written by run.py: a run, a sweep or trial planning")
    return parser


def _check_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="run.py check", description="Validate a scenario without running it.")
    parser.add_argument("scenario", metavar="SCENARIO.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", dest="overrides")
    return parser


def _load(path: str, overrides: list[str], extra: Sequence[tuple[str, Any]] = ()):  # type: ignore[no-untyped-def]
    from sim.spec.base import ScenarioError
    from sim.spec.load import load_scenario
    from sim.spec.paths import parse_set_option

    problems: list[str] = []
    parsed: list[tuple[str, Any]] = list(extra)
    for text in overrides:
        try:
            parsed.append(parse_set_option(text))
        except ScenarioError as err:
            problems.extend(f"error: {path}: {p}" for p in err.problems)
    try:  # the scenario is checked with the readable overrides, so that every problem is reported at once
        scenario = load_scenario(path, parsed)
    except ScenarioError as err:
        raise ScenarioError(problems + err.problems) from None
    if problems:
        raise ScenarioError(problems)
    return scenario


def _report_problems(err: Exception) -> int:
    for line in getattr(err, "problems", [str(err)]):
        print(line, file=sys.stderr)
    return 2


def _cmd_check(argv: list[str]) -> int:
    from sim.spec.base import ScenarioError

    args = _check_parser().parse_args(argv)
    kind = _study_kind(args.scenario)
    try:
        if kind == "sweep":
            from sim.sweep import prepare

            prepared = prepare(args.scenario, args.overrides)
            print(f"{args.scenario}: ok: {prepared.sweep_file.sweep.method} sweep of "
                  f"{len(prepared.sweep_file.sweep.parameters)} parameters, {len(prepared.design.points)} points, "
                  f"base {prepared.base.name}")
            return 0
        if kind == "trial":
            from sim.trial import load_trial

            plan = load_trial(args.scenario, args.overrides)
            print(f"{args.scenario}: ok: trial {' vs '.join(plan.trial.arms)}, "
                  f"{plan.trial.simulations} simulated trials at each of {len(plan.trial.patients_per_arm)} sizes, "
                  f"base {plan.scenario.name}")
            return 0
        scenario = _load(args.scenario, args.overrides)
    except ScenarioError as err:
        return _report_problems(err)
    total = scenario.replications * scenario.cohort.size * len(scenario.arms)
    print(f"{args.scenario}: ok: {len(scenario.arms)} arms, {len(scenario.therapies)} therapies, "
          f"{total} patient trajectories")
    return 0


def _cmd_schema(argv: list[str]) -> int:
    from sim.spec.load import scenario_json_schema

    parser = _Parser(prog="run.py schema", description="Print a file format as JSON Schema (for editor completion).")
    parser.add_argument("kind", nargs="?", choices=("scenario", "sweep", "trial"), default="scenario",
                        help="scenario (default), sweep or trial file")
    kind = parser.parse_args(argv).kind
    if kind == "scenario":
        schema = scenario_json_schema()
    else:
        import importlib

        model = {"sweep": "SweepFile", "trial": "TrialFile"}[kind]
        schema = getattr(importlib.import_module(f"sim.{kind}"), model).model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    print(json.dumps(schema, indent=2))
    return 0


def _out_problems(out: str) -> list[str]:
    """Why ``--out`` cannot be used (it must not exist, or be an empty folder), checked before running."""
    from pathlib import Path

    folder = Path(out)
    try:
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            return [f"{folder} exists and is not an empty folder; results are never overwritten"]
    except OSError as err:
        return [f"{folder} cannot be read ({err.strerror})"]
    return []


def _study_kind(path: str) -> str | None:
    """'sweep' or 'trial' when the file is a sweep or trial-planning file, else None."""
    from sim.spec.base import ScenarioError
    from sim.spec.load import read_yaml

    try:
        data = read_yaml(Path(path))
    except ScenarioError:
        return None  # the scenario path reports it
    for kind in ("sweep", "trial"):
        if kind in data:
            return kind
    return None


def _cmd_run(argv: list[str]) -> int:
    from sim.experiment import default_workers, is_terminal
    from sim.results import OutputError, failure_status
    from sim.spec.base import ScenarioError

    args = _run_parser().parse_args(argv)
    kind = _study_kind(args.scenario)
    if kind is not None:  # a sweep or trial-planning file: it names a base scenario and varies it
        import importlib

        return int(importlib.import_module(f"sim.{kind}").run_command(args, ["run.py", *argv]))
    extra: list[tuple[str, Any]] = []
    problems = []
    for option, path, value, least in (("--replications", "replications", args.replications, 1),
                                       ("--patients", "cohort.size", args.patients, 1),
                                       ("--seed", "seed", args.seed, 0)):
        if value is not None and value < least:
            problems.append(f"error: {args.scenario}: {option}: must be at least {least}, got {value}")
        elif value is not None:
            extra.append((path, value))
    if args.workers is not None and args.workers < 1:
        problems.append(f"error: {args.scenario}: --workers: must be at least 1, got {args.workers}")
    if args.out is not None:
        problems.extend(f"error: {args.scenario}: --out: {p}" for p in _out_problems(args.out))
    problems.extend(_precision_problems(args))
    try:
        scenario = _load(args.scenario, args.overrides, extra)
    except ScenarioError as err:
        problems.extend(err.problems)
    if not problems:
        from sim.experiment import scheduler_problems

        problems.extend(scheduler_problems(args.scheduler, f"error: {args.scenario}"))
    if problems:  # every problem at once: the command line's and the scenario's
        return _report_problems(ScenarioError(problems))

    from sim.report import arm_table
    from sim.runner import run_scenario

    workers = args.workers or default_workers()
    try:
        outcome = run_scenario(scenario, out=args.out, workers=workers, log_events=not args.no_events,
                               plots=not args.no_plots, progress=not args.quiet and is_terminal(),
                               argv=["run.py", *argv], precision_weeks=args.precision,
                               max_replications=args.max_replications or DEFAULT_MAX_REPLICATIONS,
                               scheduler=args.scheduler, event_sample=args.event_sample)
    except (OutputError, KeyboardInterrupt, OSError, TimeoutError) as err:
        status = failure_status(err, f"error: {args.scenario}", args.out, args.scheduler)
        if status is None:
            raise
        return status
    precision = outcome.precision
    if precision is not None and not precision["reached"]:
        widest = precision["widest_arm"]
        print(f"warning: precision not reached: stopped at --max-replications {precision['replications']}; the 95% "
              f"interval of {widest}'s mean disease-free weeks is {precision['ci_width_weeks'][widest]:.3g} weeks "
              f"wide (target < {args.precision:g}); results written to {outcome.path}", file=sys.stderr)
    if not args.quiet:
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(arm_table(outcome.summary).to_string())
        if precision is not None and precision["reached"]:
            print(f"\nprecision reached after {outcome.replications} replications (every arm's 95% interval "
                  f"of mean disease-free weeks is narrower than {args.precision:g} weeks)")
        print(f"\nresults: {outcome.path}")
    return 0


def _cmd_plot(argv: list[str]) -> int:
    from sim.runner import FolderError, redraw

    args = _plot_parser().parse_args(argv)
    try:
        path = redraw(args.results_dir)
    except FolderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: {args.results_dir}: cannot write ({err.strerror})", file=sys.stderr)
        return 2
    print(f"redrawn: {path}")
    return 0


DEFAULT_MAX_REPLICATIONS = 200


def _precision_problems(args: argparse.Namespace) -> list[str]:
    """What is wrong with --precision and --max-replications."""
    from sim.runner import MIN_PRECISION_REPLICATIONS

    where = f"error: {args.scenario}"
    problems = []
    if args.precision is None:
        if args.max_replications is not None:
            problems.append(f"{where}: --max-replications: only with --precision")
        return problems
    if not 0 < args.precision < float("inf"):
        problems.append(f"{where}: --precision: must be a positive number of weeks, got {args.precision:g}")
    if args.replications is not None:
        problems.append(f"{where}: --replications: not with --precision, which chooses the number of "
                        f"replications (--max-replications caps it)")
    if args.max_replications is not None and args.max_replications < MIN_PRECISION_REPLICATIONS:
        problems.append(f"{where}: --max-replications: must be at least {MIN_PRECISION_REPLICATIONS}, "
                        f"got {args.max_replications}")
    return problems


def _cmd_verify(argv: list[str]) -> int:
    from sim.verify import main as verify

    return verify(argv)


def _cmd_validate(argv: list[str]) -> int:
    from sim.validate import main as validate

    return validate(argv)


COMMANDS = {"check": _cmd_check, "schema": _cmd_schema, "verify": _cmd_verify, "validate": _cmd_validate,
            "plot": _cmd_plot}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    if not argv:
        _run_parser().print_help()
        return 2
    return _cmd_run(argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
