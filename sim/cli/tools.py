"""The commands beside running: check a file, print the schema, redraw a folder, verify and validate the model."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.cli.common import (
    Parser,
    failure_status,
    is_terminal,
    progress_bar,
    report_problems,
    say,
    shown,
    stopped_by,
    study_kind,
    workers_problems,
)
from sim.outputs.claims import write_problem
from sim.outputs.folders import FolderError, results_kind
from sim.outputs.text import plural

__all__ = ["check_command", "clean_command", "plot_command", "schema_command", "validate_command", "verify_command"]

_REDRAW_AGAIN = "each file is whole, as it was or redrawn; run.py plot it again to redraw the rest"
"""What a redraw stopped part way leaves: every file is replaced atomically."""


def _plot_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="run.py plot",
                    description="Redraw the figures, derived tables and report.md of a results folder from its "
                                "saved files, without simulating; works for run, sweep and trial folders (told "
                                "apart by the kind in their run.json). A run folder: survival.csv, "
                                "survival_curves.csv and state_occupancy.csv from patients.csv and events.csv. A "
                                "sweep folder: sweep.csv, noise.csv and tornado.csv, sensitivity.csv or psa.csv from "
                                "points/, with the design rebuilt from scenario.yaml and sweep.yaml and checked "
                                "against design.csv. A trial folder: the power curve from power.csv and trials.csv. "
                                "run.json and the tables drawn from are never changed; a folder that is unfinished, "
                                "incomplete or inconsistent is refused with one 'error:' line and exit status 2, "
                                "nothing written.")
    parser.add_argument("results_dir", metavar="RESULTS_DIR",
                        help="a folder written by run.py: a run, a sweep or trial planning")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="local processes that draw a sweep's figures (default: all cores); the figures do not "
                             "depend on it")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar (there is none either when standard error is not a terminal)")
    parser.add_argument("--force", action="store_true", help="allow more --workers than cores")
    return parser


def check_command(argv: list[str]) -> int:
    """``run.py check FILE``: validate a scenario, sweep or trial file without running it."""
    from sim.cli.run import load_with_options
    from sim.spec.base import ScenarioError

    parser = Parser(prog="run.py check", description="Validate a scenario without running it.")
    parser.add_argument("scenario", metavar="SCENARIO.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", dest="overrides")
    args = parser.parse_args(argv)
    kind = study_kind(args.scenario)
    try:
        if kind == "sweep":
            from sim.studies.sweep import prepare

            prepared = prepare(args.scenario, args.overrides)
            say(f"{args.scenario}: ok: {prepared.sweep_file.sweep.method} sweep of "
                f"{plural(len(prepared.sweep_file.sweep.parameters), 'parameter')}, "
                f"{plural(len(prepared.design.points), 'point')}, base {prepared.base.name}, reference arm "
                f"{prepared.base.reference_arm}")
            return 0
        if kind == "trial":
            from sim.studies.trial import load_trial

            plan = load_trial(args.scenario, args.overrides)
            kind_words = "single-arm trial" if plan.trial.single_arm else "trial"
            say(f"{args.scenario}: ok: {kind_words} {' vs '.join(plan.trial.arms)}, "
                f"{plural(plan.trial.simulations, 'simulated trial')} at each of "
                f"{plural(len(plan.trial.patients_per_arm), 'size')}, base {plan.scenario.name}")
            return 0
        scenario = load_with_options(args.scenario, args.overrides)
    except ScenarioError as err:
        return report_problems(err.problems)
    total = scenario.replications * scenario.cohort.size * len(scenario.arms)
    trajectories = plural(total, "patient trajectory", "patient trajectories")
    say(f"{args.scenario}: ok: {plural(len(scenario.arms), 'arm')}, "
        f"{plural(len(scenario.therapies), 'therapy', 'therapies')}, {trajectories}; reference arm "
        f"{scenario.reference_arm}")
    return 0


def schema_command(argv: list[str]) -> int:
    """``run.py schema [scenario|sweep|trial]``: a file format as JSON Schema."""
    from sim.spec.load import UNITS, scenario_json_schema
    from sim.spec.sweep import SweepFile
    from sim.spec.trial import TrialFile

    parser = Parser(prog="run.py schema",
                    description="Print a file format as JSON Schema: every key with its description, unit and allowed "
                                "values, for an editor's completion and checks (JSON: its long lines are meant for "
                                "a file, e.g. run.py schema > scenario.schema.json).")
    parser.add_argument("kind", nargs="?", choices=("scenario", "sweep", "trial"), default="scenario",
                        help="scenario (default), sweep or trial file")
    kind = parser.parse_args(argv).kind
    if kind == "scenario":
        schema = scenario_json_schema()
    else:
        model: type[SweepFile] | type[TrialFile] = SweepFile if kind == "sweep" else TrialFile
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = f"CLE treatment-strategy {'sensitivity sweep' if kind == 'sweep' else 'trial planning'}"
        schema["description"] = (f"{schema.get('description', '')} The base scenario's format is `run.py schema`; "
                                 f"{UNITS}").strip()
    print(json.dumps(schema, indent=2))
    return 0


def redraw(results_dir: str | Path, workers: int = 1, drawn: Callable[[int], Any] | None = None) -> Path:
    """Redraw a results folder, dispatched on the kind its ``run.json`` records.

    A sweep's figures are drawn by ``workers`` processes; ``drawn(count)`` follows the figures (0 once the
    saved tables are read, then each figure written).
    """
    path = Path(results_dir)
    kind = results_kind(path)
    if kind == "sweep":
        from sim.studies.sweep import redraw_folder as redraw_sweep

        return redraw_sweep(path, workers, drawn)
    if kind == "trial":
        from sim.studies.trial import redraw_folder as redraw_trial

        return redraw_trial(path, drawn)
    if kind == "validation":
        from sim.studies.validate import redraw_folder as redraw_validation

        return redraw_validation(path, drawn)
    from sim.studies.run import redraw_run

    return redraw_run(path, drawn=drawn)


def plot_command(argv: list[str]) -> int:
    """``run.py plot RESULTS_DIR``: redraw a folder's figures, derived tables and report."""
    from sim.execute import WorkerLost, default_workers

    args = _plot_parser().parse_args(argv)
    problems = workers_problems(f"error: plot: {args.results_dir}", args.workers, args.force)
    if problems:
        return report_problems(problems)
    bar = None
    if not args.quiet and is_terminal():  # at once: reading a large run's tables updates nothing for a while
        name = Path(args.results_dir).resolve().name
        name = name if len(name) <= 40 else f"{name[:18]}...{name[-19:]}"  # room for the count and the note
        bar = progress_bar(None, f"{name}: figures drawn", "figure",
                           note="reading the saved tables", delay=0)

    def drawn(count: int) -> None:
        if bar is not None:  # every count shown (figures are far apart), without the note once the tables are read
            bar.n = count
            bar.set_postfix_str("")

    try:
        with shown(bar):
            path = redraw(args.results_dir, args.workers or default_workers(), drawn)
    except FolderError as err:
        return report_problems([f"error: {err}"])
    except WorkerLost as err:
        return report_problems([f"error: {args.results_dir}: {err}; {_REDRAW_AGAIN}"])
    except OSError as err:
        return report_problems([f"error: {args.results_dir}: {write_problem(err)}"])
    except MemoryError:
        return report_problems([f"error: {args.results_dir}: out of memory"])
    except KeyboardInterrupt as err:
        print(f"interrupted{stopped_by(err)}: {args.results_dir}: {_REDRAW_AGAIN}", file=sys.stderr)
        return 130
    print(f"redrawn: {path}")
    return 0


def verify_command(argv: list[str]) -> int:
    """``run.py verify``: print the verification table; exit 0 if every check passes, else 1."""
    from sim.studies.verify import DEFAULT_SEED, STOCHASTIC_PATIENTS, format_table, run_verification

    parser = Parser(prog="run.py verify", description="Check the model against closed forms and exact pathways.")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="N", help="root seed of the cases")
    parser.add_argument("--patients", type=int, default=STOCHASTIC_PATIENTS, metavar="N",
                        help=f"patients per stochastic case (default {STOCHASTIC_PATIENTS})")
    args = parser.parse_args(argv)
    if args.patients < 10 or args.seed < 0:
        parser.error("--patients must be at least 10 and --seed not negative")
    started = time.perf_counter()
    outcomes = run_verification(args.seed, args.patients)
    print(format_table(outcomes))
    print(f"seed {args.seed}, {args.patients} patients per stochastic case, "
          f"{time.perf_counter() - started:.1f} s")
    return 0 if all(o.passed for o in outcomes) else 1


def validate_command(argv: list[str]) -> int:
    """``run.py validate``: run the validation scenarios and write validation.csv and a figure."""
    from sim.execute import WorkerLost, default_workers
    from sim.spec.base import ScenarioError
    from sim.studies.validate import (
        POOLED_PATIENTS,
        POOLED_REPLICATIONS,
        format_table,
        run_validation,
        validation_folder,
        validation_scenarios,
        write_files,
    )

    parser = Parser(prog="run.py validate",
                    description="Compare simulated virtual trials with published outcomes (docs/evidence.md §9).")
    parser.add_argument("--out", metavar="DIR", help="write here (must not exist or be empty) instead of "
                        "results/validation/<run id>/")
    parser.add_argument("--trials", type=int, metavar="N",
                        help="virtual trials per Vall d'Hebron study instead of the files' replications")
    parser.add_argument("--pooled-replications", type=int, default=POOLED_REPLICATIONS, metavar="N",
                        help=f"simulated pools of {POOLED_PATIENTS} for §9c (default {POOLED_REPLICATIONS})")
    parser.add_argument("--workers", type=int, metavar="N", help="local processes (default: all cores)")
    parser.add_argument("--no-plots", action="store_true", help="skip the figure")
    parser.add_argument("--force", action="store_true", help="allow more --workers than cores")
    args = parser.parse_args(argv)
    for option, value in (("--trials", args.trials), ("--pooled-replications", args.pooled_replications),
                          ("--workers", args.workers)):
        if value is not None and value < 1:
            parser.error(f"{option} must be at least 1, got {value}")
    problems = workers_problems("error: validate", args.workers, args.force)
    if problems:
        return report_problems(problems)
    started = time.perf_counter()
    try:
        scenarios = validation_scenarios(args.trials, args.pooled_replications)
    except ScenarioError as err:
        return report_problems(err.problems)
    workers = args.workers or default_workers()
    try:
        with validation_folder(scenarios, args.out) as (work, final):  # claimed before anything is simulated
            table, _ = run_validation(scenarios, workers)
            print(format_table(table))
            write_files(work, table, scenarios, ["run.py", "validate", *argv], started, workers,
                        plots=not args.no_plots)
    except (FolderError, KeyboardInterrupt, OSError, MemoryError, WorkerLost) as err:
        status = failure_status(err, "error: validate", args.out, None)
        if status is None:
            raise
        return status
    print(f"\nresults: {final}")
    return 0


def clean_command(argv: list[str]) -> int:
    """``run.py clean RESULTS_DIR``: remove the work folders that stopped commands left unfinished."""
    from sim.outputs.claims import leftovers, megabytes, remove_leftover

    parser = Parser(prog="run.py clean",
                    description="Remove what commands that were stopped (killed, out of memory, a full disk) left "
                                "unfinished under RESULTS_DIR: the hidden .NAME.partial-PID folders of runs, trial "
                                "planning and validation, and sweep folders NAME.partial that cannot be resumed. An "
                                "interrupted sweep that --resume can finish is only listed, unless --sweeps is given. "
                                "A folder a running command holds is never touched; nothing else is ever removed.")
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="a results folder, e.g. results (searched 3 "
                                                                  "levels down)")
    parser.add_argument("--sweeps", action="store_true", help="remove resumable sweep folders too")
    parser.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    args = parser.parse_args(argv)
    root = Path(args.results_dir)
    if not root.is_dir():
        return report_problems([f"error: {root}: no such folder"])
    removed = kept = 0
    for item in leftovers(root):
        if item.resumable and not args.sweeps:
            print(f"kept {item.path} ({megabytes(item.size)}): an interrupted sweep; finish it with: python run.py "
                  f"SWEEP.yaml --resume {item.path} (or remove it with --sweeps)")
            kept += 1
            continue
        if args.dry_run:
            print(f"would remove {item.path} ({megabytes(item.size)})")
            removed += 1
        elif remove_leftover(item):
            print(f"removed {item.path} ({megabytes(item.size)})")
            removed += 1
    if not removed and not kept:
        print(f"{root}: nothing left unfinished")
    return 0
