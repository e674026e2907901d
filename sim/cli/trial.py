"""``python run.py TRIAL.yaml``: trial planning from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.cli.budget import trial_need
from sim.cli.common import (
    COMMAND_FAILURES,
    failure_status,
    is_terminal,
    progress_bar,
    report_problems,
    room_refused,
    shown,
    size_problems,
    terminal_width,
    workers_problems,
)
from sim.execute import default_workers, scheduler_problems
from sim.outputs.text import text_table, wrap
from sim.spec.base import ScenarioError
from sim.studies.trial import load_trial, run_trial_planning
from sim.studies.trial.report import conclusion, format_power
from sim.studies.trial.report_single import simon_sentence

__all__ = ["run_command"]

_NOT_FOR_TRIALS = {
    "replications": ("--replications", "set trial.simulations instead, e.g. --set trial.simulations=200"),
    "patients": ("--patients", "set trial.patients_per_arm instead, e.g. --set 'trial.patients_per_arm=[20, 40]'"),
    "precision": ("--precision", "not used by trial planning"),
    "max_replications": ("--max-replications", "not used by trial planning"),
    "resume": ("--resume", "not used by trial planning"),
    "event_sample": ("--event-sample", "not used by trial planning"),
}


def run_command(args: Any, argv: list[str]) -> int:
    """``python run.py TRIAL.yaml``: validate everything, run, write the folder; returns the exit status."""
    where = f"error: {args.scenario}"
    problems = []
    for attribute, (option, hint) in _NOT_FOR_TRIALS.items():
        if getattr(args, attribute, None) is not None:
            problems.append(f"{where}: {option}: {hint}")
    if getattr(args, "no_events", False):
        problems.append(f"{where}: --no-events: not used by trial planning")
    problems += workers_problems(where, args.workers, args.force)
    seed_problems, seed = size_problems(where, args, ("seed",))
    problems += seed_problems
    overrides: list[str | tuple[str, Any]] = [*(args.overrides or []), *seed]
    try:
        plan = load_trial(args.scenario, overrides)
    except ScenarioError as err:
        problems.extend(err.problems)
    if not problems:
        problems.extend(scheduler_problems(args.scheduler, where))
    if problems:
        return report_problems(problems)
    workers = args.workers or default_workers()
    destination = Path(args.out).parent if args.out is not None else Path("results") / plan.name
    need = trial_need(plan.trial.simulations, len(plan.trial.patients_per_arm), sum(plan.max_arm_sizes), workers,
                      not args.no_plots)
    refused = room_refused(where, need, destination, args.force)
    if refused is not None:
        return refused
    bar = None
    if not args.quiet and is_terminal():
        bar = progress_bar(plan.trial.simulations, f"{plan.name}: simulated trials", "trial")
    try:
        with shown(bar):
            outcome = run_trial_planning(plan, out=args.out, workers=workers,
                                         scheduler=args.scheduler, plots=not args.no_plots, progress=bar, argv=argv)
    except COMMAND_FAILURES as err:
        status = failure_status(err, where, args.out, args.scheduler)
        if status is None:
            raise
        return status
    if args.quiet:
        print(outcome.path)
        return 0
    width = terminal_width()
    print(text_table(format_power(plan.trial, outcome.power), index=False, width=width))
    print()
    print(wrap(conclusion(plan, outcome.power), width))
    if outcome.summaries.simon is not None:
        print()
        print(wrap(simon_sentence(plan, outcome.summaries.simon), width))
    print(f"\nresults: {outcome.path}")
    return 0
