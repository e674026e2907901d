"""``python run.py SWEEP.yaml``: a sensitivity sweep from the command line, resumable."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from sim.cli.budget import sweep_need
from sim.cli.common import (
    failure_status,
    is_terminal,
    progress_bar,
    report_problems,
    room_refused,
    stopped_by,
    terminal_width,
    workers_problems,
)
from sim.cli.common import say as wrapped
from sim.execute import SchedulerLost, WorkerLost, default_workers, scheduler_problems
from sim.outputs.claims import write_problem
from sim.outputs.folders import FolderError
from sim.outputs.tables import read_table
from sim.spec.base import ScenarioError
from sim.studies.sweep import PARTIAL, hold_folder, open_folder, prepare, run_sweep
from sim.studies.sweep.analyse import SweepTables
from sim.studies.sweep.economics import PsaEconomics
from sim.studies.sweep.report import terminal_summary

__all__ = ["read_sweep_tables", "run_command", "shell_lines"]


def _resume_command(argv: list[str], partial: Path) -> str:
    """The command line that resumes this sweep: the same options, without --out or --resume."""
    import shlex

    kept: list[str] = []
    skip = False
    for word in argv[1:]:
        if skip:
            skip = False
        elif word in ("--out", "--resume"):
            skip = True
        elif not word.startswith(("--out=", "--resume=")):
            kept.append(word)
    return shlex.join(["python", "run.py", *kept, "--resume", str(partial)])


def run_command(args: argparse.Namespace, argv: list[str]) -> int:
    """``python run.py SWEEP.yaml [options]``: the exit status (0 done, 2 bad input, 130 interrupted)."""
    where = args.scenario
    problems = []
    for option, value in (("--precision", getattr(args, "precision", None)),
                          ("--max-replications", getattr(args, "max_replications", None))):
        if value is not None:
            problems.append(f"error: {where}: {option}: not for sweeps (each point runs the sweep's replications)")
    problems += workers_problems(f"error: {where}", args.workers, args.force)
    if args.resume is not None and args.out is not None:
        problems.append(f"error: {where}: --out: not with --resume (the folder is RUN_DIR without {PARTIAL})")
    try:
        prepared = prepare(where, args.overrides, args.replications, args.patients, args.seed)
    except ScenarioError as err:
        problems.extend(err.problems)
        prepared = None
    if not problems and prepared is not None:
        problems.extend(scheduler_problems(args.scheduler, f"error: {where}"))
    if problems or prepared is None:
        return report_problems(problems)
    quiet = bool(args.quiet)

    def say(text: str) -> None:
        if quiet:
            return
        if text.startswith("  "):  # a command line to copy: broken only as a shell continues it
            print(shell_lines(text.strip(), terminal_width()), file=sys.stderr)
        else:
            wrapped(text, file=sys.stderr)

    workers = args.workers or default_workers()
    base = prepared.base
    destination = Path(args.resume).parent if args.resume else (
        Path(args.out).parent if args.out else Path("results") / prepared.name)
    need = sweep_need(len(prepared.design.points), prepared.job.replications, len(base.arms),
                      len(prepared.job.outcomes), base.cohort.size, workers)
    refused = room_refused(f"error: {where}", need, destination, args.force)
    if refused is not None:
        return refused
    try:
        partial, final = open_folder(prepared, args.out, args.resume)
        held = hold_folder(partial)
    except FolderError as err:
        return failure_status(err, f"error: {where}", args.out, None) or 2
    resume = _resume_command(argv, partial)
    saved = f"the finished points are saved in {partial}; resume with: {resume}"

    def bar(total: int, initial: int) -> Any:
        return progress_bar(total, f"{prepared.name}: points", "point", initial)

    try:
        final = run_sweep(prepared, partial, final, workers=workers, scheduler=args.scheduler,
                          plots=not args.no_plots, progress=bar if not quiet and is_terminal() else None, argv=argv,
                          resumed=args.resume is not None, say=say, resume_hint=resume)
    except KeyboardInterrupt as err:
        print(f"interrupted{stopped_by(err)}: {saved}", file=sys.stderr)
        return 130
    except FolderError as err:
        return report_problems([f"error: {where}: {err.option + ': ' if err.option else ''}{err}; {saved}"])
    except (OSError, TimeoutError) as err:
        if args.scheduler is not None and getattr(err, "filename", None) is None:
            return report_problems([f"error: {where}: --scheduler: cannot use {args.scheduler} ({err}); {saved}"])
        problem = write_problem(err, None, None) if isinstance(err, OSError) else str(err)
        return report_problems([f"error: {where}: {problem}; {saved}"])
    except (WorkerLost, SchedulerLost, MemoryError) as err:
        problem = "out of memory" if isinstance(err, MemoryError) else str(err)
        return report_problems([f"error: {where}: {problem}; {saved}"])
    finally:
        if held is not None:
            os.close(held)
    if quiet:
        print(final)
        return 0
    print()
    print(terminal_summary(prepared.design, read_sweep_tables(final), base.arm_names, base.reference_arm,
                           list(prepared.job.outcomes), terminal_width(), base.economics))
    print(f"\nresults: {final}")
    return 0


def shell_lines(command: str, width: int) -> str:
    """A shell command indented and folded between its words with backslash continuations, within ``width``."""
    import shlex

    lines: list[str] = []
    line = "  "
    for word in shlex.split(command):
        quoted = shlex.quote(word)
        if line.strip() and len(line) + 1 + len(quoted) + 2 > width:
            lines.append(line + " \\")
            line = "      "
        line += ("" if not line.strip() else " ") + quoted
    return "\n".join([*lines, line])


def read_sweep_tables(folder: Path) -> SweepTables:
    """The tables a finished sweep folder holds (those its method writes)."""
    def table(name: str) -> pd.DataFrame | None:
        path = folder / name
        return read_table(path, dtype={"arm": str}) if path.is_file() else None

    sweep = table("sweep.csv")
    assert sweep is not None
    noise = table("noise.csv")
    economic = [table(name) for name in ("ce_samples.csv", "acceptability.csv", "evpi.csv", "evppi.csv")]
    return SweepTables(sweep=sweep, tornado=table("tornado.csv"), sensitivity=table("sensitivity.csv"),
                       psa=table("psa.csv"), noise=noise if noise is not None else pd.DataFrame(),
                       economics=PsaEconomics(*economic) if all(t is not None for t in economic) else None)
