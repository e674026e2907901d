"""``python run.py SWEEP.yaml``: a sensitivity sweep from the command line, resumable."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from sim.cli.common import failure_status, is_terminal, progress_bar, report_problems, workers_problems
from sim.execute import default_workers, scheduler_problems
from sim.outputs.folders import FolderError
from sim.spec.base import ScenarioError
from sim.studies.sweep import PARTIAL, hold_folder, open_folder, prepare, run_sweep

__all__ = ["run_command"]

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
    problems += workers_problems(f"error: {where}", args.workers)
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
        if not quiet:
            print(text, file=sys.stderr)

    workers = args.workers or default_workers()
    try:
        partial, final = open_folder(prepared, args.out, args.resume)
        held = hold_folder(partial)
    except FolderError as err:
        return failure_status(err, f"error: {where}", args.out, None) or 2
    resume = _resume_command(argv, partial)

    def bar(total: int, initial: int) -> Any:
        return progress_bar(total, f"{prepared.name}: points", "point", initial)

    try:
        final = run_sweep(prepared, partial, final, workers=workers, scheduler=args.scheduler,
                          plots=not args.no_plots, progress=bar if not quiet and is_terminal() else None, argv=argv,
                          resumed=args.resume is not None, say=say, resume_hint=resume)
    except KeyboardInterrupt:
        print(f"interrupted: the finished points are saved in {partial}; resume with: "
              f"{resume}", file=sys.stderr)
        return 130
    except (OSError, TimeoutError) as err:
        if args.scheduler is None:
            raise
        print(f"error: {where}: --scheduler: cannot use {args.scheduler} ({err}); the finished points are saved "
              f"in {partial}; resume with: {resume}", file=sys.stderr)
        return 2
    finally:
        if held is not None:
            os.close(held)
    if not quiet:
        print(f"results: {final}")
    return 0
