"""``python run.py SCENARIO.yaml``: simulate a scenario and write its results folder; the parser and its examples."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.cli.budget import run_need
from sim.cli.common import (
    COMMAND_FAILURES,
    Parser,
    failure_status,
    is_terminal,
    out_problems,
    progress_bar,
    report_problems,
    room_refused,
    say,
    shown,
    size_problems,
    study_kind,
    terminal_width,
    workers_problems,
)
from sim.execute import default_workers, scheduler_problems
from sim.outputs.text import measure, plural, significant, wrap
from sim.spec.base import ScenarioError
from sim.spec.load import load_scenario
from sim.spec.paths import parse_set_option
from sim.spec.scenario import Scenario

__all__ = ["DEFAULT_MAX_REPLICATIONS", "EXAMPLES", "load_with_options", "run_command", "run_parser"]

EXAMPLES = """\
examples:
  python run.py scenarios/low_dose.yaml
  python run.py scenarios/low_dose.yaml --replications 10 --patients 200 --seed 7
  python run.py scenarios/low_dose.yaml --set therapies.lenalidomide_5.max_courses=1
  python run.py scenarios/low_dose.yaml --set reference_arm=thalidomide
      compare every arm with thalidomide (also for a sweep's or PSA's base scenario)
  python run.py scenarios/low_dose.yaml --out results/my_run --workers 2 --no-plots
  python run.py scenarios/low_dose.yaml --precision 2
      add replications until every arm's 95% interval is narrower than 2 weeks
  python run.py scenarios/sweeps/one_way_weakest.yaml
      a sensitivity sweep (a file with base: and sweep:)
  python run.py scenarios/trials/time_to_relapse.yaml
      trial planning (a file with base: and trial:)
  python run.py check scenarios/low_dose.yaml
      validate a scenario, sweep or trial file without running it
  python run.py plot results/low_dose/RUN_ID
      redraw the figures, derived tables and report.md of a run, sweep or trial folder
  python run.py schema > scenario.schema.json
      the scenario format as JSON Schema, every key described (also: schema sweep, schema trial)
  python run.py verify
      the built-in verification suite
  python run.py validate
      the model against the published trials
  python run.py clean results
      remove what stopped commands left unfinished

exit status: 0 done, 2 bad input or a run that cannot be done or finished (one 'error: ...' line per
problem), 130 interrupted (Ctrl-C, SIGTERM or SIGHUP), 141 standard output closed early (| head).
"""


def run_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="run.py",
        description="Simulate the arms of a CLE treatment-strategy scenario and write a results folder "
                    "(scenario.yaml, patients.csv, events.csv, summary.csv, comparison.csv, survival.csv, "
                    "survival_curves.csv, state_occupancy.csv, report.md, figures/, run.json); print each "
                    "arm's means and their differences from the reference arm.",
        epilog=EXAMPLES,
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
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv", dest="file_format",
                        help="write patients and events as CSV (default) or as Parquet (patients.parquet, "
                             "events.parquet: smaller and faster to read for large runs); run.py plot reads either")
    parser.add_argument("--precision", type=float, metavar="WEEKS",
                        help="instead of a fixed number of replications, add replications (at least "
                             "5) until the 95%% interval of every arm's mean disease-free weeks is narrower "
                             "than WEEKS (full width), e.g. 2; run.json and report.md say how many were needed")
    parser.add_argument("--max-replications", type=int, metavar="N",
                        help="with --precision: stop after N replications even if the precision is not "
                             "reached, with a warning (default 200)")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the results folder (and errors and warnings); no progress bar (there is "
                             "none either when standard error is not a terminal)")
    parser.add_argument("--force", action="store_true",
                        help="run even when the estimated memory, disk or file size exceeds what this machine "
                             "has, or --workers exceeds its cores (refused otherwise, before anything runs)")
    return parser


def load_with_options(path: str, overrides: list[str], extra: Sequence[tuple[str, Any]] = ()) -> Scenario:
    """A scenario file with the ``--set`` overrides and option changes, every problem reported at once."""
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


def _precision_problems(args: argparse.Namespace) -> list[str]:
    """What is wrong with --precision and --max-replications."""
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
    from sim.studies.run.evaluate import MIN_PRECISION_REPLICATIONS

    if args.max_replications is not None and args.max_replications < MIN_PRECISION_REPLICATIONS:
        problems.append(f"{where}: --max-replications: must be at least {MIN_PRECISION_REPLICATIONS}, "
                        f"got {args.max_replications}")
    return problems


DEFAULT_MAX_REPLICATIONS = 200


def run_command(argv: list[str]) -> int:
    """``python run.py FILE [options]``: a scenario's run, or a sweep or trial planning; the exit status."""
    args = run_parser().parse_args(argv)
    kind = study_kind(args.scenario)
    if kind == "sweep":  # a sweep or trial-planning file names a base scenario and varies it
        from sim.cli.sweep import run_command as sweep_command

        return sweep_command(args, ["run.py", *argv])
    if kind == "trial":
        from sim.cli.trial import run_command as trial_command

        return trial_command(args, ["run.py", *argv])
    where = f"error: {args.scenario}"
    problems, extra = size_problems(where, args)
    problems += workers_problems(where, args.workers, args.force)
    if args.event_sample is not None and args.event_sample < 0:
        problems.append(f"{where}: --event-sample: must be at least 0, got {args.event_sample}")
    if args.out is not None:
        problems.extend(f"{where}: --out: {p}" for p in out_problems(args.out))
    problems.extend(_precision_problems(args))
    scenario = None
    try:
        scenario = load_with_options(args.scenario, args.overrides, extra)
    except ScenarioError as err:
        problems.extend(err.problems)
    if not problems:
        problems.extend(scheduler_problems(args.scheduler, where))
    if problems or scenario is None:  # every problem at once: the command line's and the scenario's
        return report_problems(problems)
    # The run's modules (pandas, Arrow, the statistics) only once it is to be done: not for --help or bad input.
    from sim.studies.run import run_to_folder
    from sim.studies.run.evaluate import planned
    from sim.studies.run.report import terminal_tables
    from sim.studies.units import plan_units

    workers = args.workers or default_workers()
    max_replications = args.max_replications or DEFAULT_MAX_REPLICATIONS
    destination = Path(args.out).parent if args.out is not None else Path("results") / scenario.name
    need = run_need(scenario, log_events=not args.no_events, event_sample=args.event_sample, workers=workers,
                    plots=not args.no_plots, replications=max_replications if args.precision is not None else None)
    refused = room_refused(where, need, destination, args.force)
    if refused is not None:
        return refused
    bar = None
    if not args.quiet and is_terminal():
        plan = planned(scenario, args.precision, max_replications)
        if args.precision is None:
            bar = progress_bar(len(plan_units(plan)), f"{plan.name}: {plural(plan.replications, 'replication')}",
                               "block")
        else:  # how many replications are needed is not known until they run: a count, no time left
            bar = progress_bar(None, f"{plan.name}: replications done", "replication")
    try:
        with shown(bar):
            outcome = run_to_folder(scenario, out=args.out, workers=workers, log_events=not args.no_events,
                                    plots=not args.no_plots, progress=bar, argv=["run.py", *argv],
                                    precision_weeks=args.precision, max_replications=max_replications,
                                    scheduler=args.scheduler, event_sample=args.event_sample,
                                    file_format=args.file_format)
    except COMMAND_FAILURES as err:
        status = failure_status(err, where, args.out, args.scheduler)
        if status is None:
            raise
        return status
    precision = outcome.precision
    if precision is not None and not precision["reached"]:
        widest = precision["widest_arm"]
        print(f"warning: precision not reached: stopped at --max-replications {precision['replications']}; "
              f"{widest}'s 95% interval is {significant(precision['ci_width_weeks'][widest])} weeks wide (target < "
              f"{args.precision:g}); results: {outcome.path}", file=sys.stderr)  # one line, as an error is
    if args.quiet:
        print(outcome.path)
        return 0
    ran = outcome.replications
    print(wrap(f"{scenario.name}: {plural(ran, 'replication')} of {plural(scenario.cohort.size, 'patient')} per "
               f"arm, followed for {scenario.follow_up_weeks:g} weeks; means with 95% intervals over replications, "
               f"proportions in percent.", terminal_width()))
    print()
    print(terminal_tables(outcome.summary, outcome.comparison, scenario.reference_arm, terminal_width()))
    if precision is not None and precision["reached"]:
        print()
        say(f"precision reached after {plural(ran, 'replication')} (every arm's 95% interval of mean "
            f"disease-free weeks is narrower than {measure(f'{args.precision:g}', 'week')})")
    print(f"\nresults: {outcome.path}")
    return 0
