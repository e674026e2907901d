"""The command line: a thin shell over the Python API (``run.py``, and the ``cle-sim`` console script)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

__all__ = ["exit_process", "main"]

INTERRUPTED = 130


def _commands() -> dict[str, Callable[[list[str]], int]]:
    from sim.cli.app import app_command
    from sim.cli.tools import (
        check_command,
        clean_command,
        plot_command,
        schema_command,
        validate_command,
        verify_command,
    )

    return {"check": check_command, "schema": schema_command, "verify": verify_command,
            "validate": validate_command, "plot": plot_command, "clean": clean_command, "app": app_command}


COMMANDS = ("check", "schema", "verify", "validate", "plot", "clean", "app")


def _closed_output() -> int:
    """Standard output was closed by its reader (``| head``): end quietly, as Unix tools do on SIGPIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail again
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        pass
    return 141


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from sim.cli.common import stopped_by, stopped_by_signals
    from sim.cli.run import run_command, run_parser

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with stopped_by_signals():
            if argv and argv[0] in COMMANDS:
                status = _commands()[argv[0]](argv[1:])
            elif not argv:
                run_parser().print_usage(sys.stderr)
                print("error: run.py: give a scenario, sweep or trial file, or a command (see --help for the commands)",
                      file=sys.stderr)
                status = 2
            else:
                status = run_command(argv)
            sys.stdout.flush()  # here, where a closed pipe can still be handled
            return status
    except BrokenPipeError:
        return _closed_output()
    except KeyboardInterrupt as err:  # stopped before or after a command's own handling
        print(f"interrupted{stopped_by(err)}: nothing was written", file=sys.stderr)
        return INTERRUPTED
    except MemoryError:
        print("error: run.py: out of memory; nothing was written", file=sys.stderr)
        return 2


def exit_process(status: int) -> None:
    """End the process with ``status``. An interrupted command (130) has already removed its work folder
    and ended its workers: it leaves at once, without joining the process pool's internal threads,
    which can wait for tasks a killed worker never returns (seen under load: more than two minutes
    between "interrupted ..." and the exit)."""
    if status == INTERRUPTED:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)
    raise SystemExit(status)


def console() -> None:
    """The ``cle-sim`` console script."""
    exit_process(main())
