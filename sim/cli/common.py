"""What every command shares: the argparse class, option checks, problem reporting, stopped runs, progress."""

from __future__ import annotations

import argparse
import functools
import shutil
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sim.cli.budget import Need, budget_problems, capacity, workers_problems
from sim.execute import SchedulerLost, WorkerLost
from sim.outputs.claims import leftovers, megabytes, write_problem
from sim.outputs.folders import FolderError
from sim.outputs.text import WIDTH, wrap

__all__ = ["COMMAND_FAILURES", "PROGRESS_DELAY_SECONDS", "PROGRESS_INTERVAL_SECONDS", "HelpFormatter", "Parser",
           "failure_status", "is_terminal", "leftover_warning", "out_problems", "progress_bar", "report_problems",
           "room_refused", "say", "shown", "size_problems", "stopped_by", "stopped_by_signals", "study_kind",
           "workers_problems"]

LINE_CHARACTERS = 1000
"""The longest line an error report prints (a longer one is cut in the middle)."""

PROGRESS_DELAY_SECONDS = 1.0
"""A progress bar appears only once a command has taken this long."""

PROGRESS_INTERVAL_SECONDS = 0.1
"""A progress bar is redrawn at most this often."""


def terminal_width() -> int:
    """The columns output may use: the terminal's, at most ``WIDTH``."""
    return max(40, min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns))


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help at most ``WIDTH`` columns wide: paragraphs of a description or epilog are wrapped, indented lines
    (examples) are kept as written."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=terminal_width(), max_help_position=28)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out: list[str] = []
        paragraph: list[str] = []

        def flush() -> None:
            if paragraph:
                out.append(wrap(" ".join(paragraph), width, indent))
                paragraph.clear()

        for line in text.splitlines():
            if line.strip() and not line.startswith(" "):
                paragraph.append(line.strip())
                continue
            flush()
            out.append(indent + line if line.strip() else "")
        flush()
        return "\n".join(out)


def say(text: str, file: Any = None) -> None:
    """Print a message wrapped to the terminal's width (at most ``WIDTH``), continuation lines indented."""
    print(wrap(text, terminal_width(), hanging="  "), file=file)


class Parser(argparse.ArgumentParser):
    """argparse that reports bad options in the project's one-line form, with exit status 2, and whose help fits
    ``WIDTH`` columns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def report_problems(problems: Sequence[str]) -> int:
    """Print one line per problem on standard error (each at most ``LINE_CHARACTERS``); returns exit status 2."""
    for line in problems:
        if len(line) > LINE_CHARACTERS:
            half = LINE_CHARACTERS // 2
            line = f"{line[:half]} ... ({len(line) - 2 * half} characters left out) ... {line[-half:]}"
        line = line.replace("\r", "\\r").replace("\n", "\\n")  # one line per problem, whatever it quotes
        print(line.encode("utf-8", "backslashreplace").decode("utf-8"), file=sys.stderr)
    return 2


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP: handled like Ctrl-C (work folders removed or kept resumable, exit status 130)."""


def stopped_by(err: BaseException) -> str:
    """`` by SIGTERM`` (or SIGHUP) after "interrupted" for a command a signal stopped; empty for Ctrl-C."""
    return f" by {err.args[0]}" if err.args and isinstance(err.args[0], str) else ""


def _stop(signum: int, frame: Any) -> None:
    raise Stopped(signal.Signals(signum).name)


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """While a command runs, SIGTERM and SIGHUP stop it the way Ctrl-C does, instead of killing it outright
    (which would leave its work folder and its workers behind)."""
    try:
        previous = {number: signal.signal(number, _stop) for number in (signal.SIGTERM, signal.SIGHUP)}
    except ValueError:  # not the main thread: signals are not ours to take
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def leftover_warning(folder: Path) -> None:
    """Warn (one line) about work folders that stopped commands left in ``folder``, and how to remove them."""
    found = [item for item in leftovers(folder, depth=1) if not item.resumable]
    if found:
        size = sum(item.size for item in found)
        # one line, as an error is: the path and the command to copy stay whole
        print(f"warning: {folder}: {len(found)} unfinished folder{'s' if len(found) > 1 else ''} left by stopped "
              f"commands ({megabytes(size)}); remove with: python run.py clean {folder}", file=sys.stderr)


def room_refused(where: str, need: Need, destination: Path, force: bool) -> int | None:
    """Check that the work fits the machine and ``destination`` (unless ``force``), then warn of leftovers there.

    Returns the exit status when it does not fit (the problems reported), None to go on.
    """
    if not force:
        problems = budget_problems(where, need, capacity(destination))
        if problems:
            return report_problems(problems)
    leftover_warning(destination)
    return None


def is_terminal() -> bool:
    """Whether progress should be shown: standard error is a terminal."""
    return sys.stderr.isatty()


def out_problems(out: str) -> list[str]:
    """Why ``--out`` cannot be used (it must not exist, or be an empty folder), checked before running."""
    folder = Path(out)
    try:
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            return [f"{folder} exists and is not an empty folder; results are never overwritten"]
    except OSError as err:
        return [f"{folder} cannot be read ({err.strerror})"]
    return []


def size_problems(where: str, args: argparse.Namespace, options: Sequence[str] = ("replications", "patients", "seed"),
                  least_replications: int = 1) -> tuple[list[str], list[tuple[str, Any]]]:
    """Problems of ``--replications``, ``--patients`` and ``--seed``, and the scenario changes they make."""
    problems: list[str] = []
    changes: list[tuple[str, Any]] = []
    table = {"replications": ("--replications", "replications", least_replications),
             "patients": ("--patients", "cohort.size", 1), "seed": ("--seed", "seed", 0)}
    for name in options:
        option, path, least = table[name]
        value = getattr(args, name, None)
        if value is not None and value < least:
            problems.append(f"{where}: {option}: must be at least {least}, got {value}")
        elif value is not None:
            changes.append((path, value))
    return problems, changes


COMMAND_FAILURES = (FolderError, KeyboardInterrupt, OSError, TimeoutError, MemoryError, WorkerLost, SchedulerLost)
"""The ways a command's work can stop that :func:`failure_status` reports in one line."""


@contextmanager
def shown(bar: Any) -> Iterator[Any]:
    """A progress bar (or None) kept while the work runs and closed however it ends."""
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def failure_status(err: BaseException, where: str, out: str | None, scheduler: str | None) -> int | None:
    """Report a command that stopped on ``err`` in one line (``where`` starts it) and return the exit
    status; None when ``err`` is not one of the expected ways a command stops (the caller re-raises).

    Nothing is left written in each case (a results folder is only renamed into place at the end),
    unless the message says where complete tables were kept.
    """
    if isinstance(err, FolderError):
        option = err.option or ("--out" if out is not None else "results")
        return report_problems([f"{where}: {option}: {err}"])
    if isinstance(err, KeyboardInterrupt):
        print(f"interrupted{stopped_by(err)}: nothing was written", file=sys.stderr)
        return 130
    if isinstance(err, OSError | TimeoutError) and scheduler is not None:
        return report_problems([f"{where}: --scheduler: lost {scheduler} ({err}); nothing was written"])
    if isinstance(err, WorkerLost | SchedulerLost):  # a SchedulerLost says --scheduler: itself
        return report_problems([f"{where}: {err}; nothing was written"])
    if isinstance(err, MemoryError):
        return report_problems([f"{where}: out of memory; nothing was written (use fewer patients or replications, "
                                f"--event-sample N or --no-events)"])
    if isinstance(err, BrokenPipeError):
        return None  # standard output was closed (``| head``): the command line ends quietly
    if isinstance(err, OSError):
        return report_problems([f"{where}: {write_problem(err)}; nothing was written"])
    return None


def progress_bar(total: int | None, description: str, unit: str, initial: int = 0, note: str = "",
                 delay: float | None = None) -> Any:
    """A bar on standard error with the time left, shown once the work has taken ``delay`` seconds (None: a second), at
    most ``WIDTH`` columns wide. When ``total`` is None, a count without a time left or a rate: ``description: N
    [elapsed]`` (the count after the description reads right at 1, and tqdm writes a slow rate as "s/unit").
    ``note`` follows the elapsed time (as ``set_postfix_str`` would set it) from the start."""
    # A pseudo-terminal that reports a 0 x 0 size would make tqdm hide the bar ("below the screen").
    size = shutil.get_terminal_size((100, 20))
    bar = _bar_class()
    return bar(total=total, initial=initial, desc=description, unit=unit, ncols=min(size.columns, WIDTH),
               nrows=max(size.lines, 2), leave=False,
               delay=PROGRESS_DELAY_SECONDS if delay is None else delay, postfix=note or None,
               mininterval=PROGRESS_INTERVAL_SECONDS,
               bar_format=None if total is not None else "{desc}: {n_fmt} [{elapsed}{postfix}]")


@functools.cache
def _bar_class() -> Any:
    """tqdm, whose notes (``set_postfix_str``) keep the display delay.

    A note is what a bar shows once its count is done (``drawing the figures``, ``figures drawn: 3``), so it
    is drawn at once, but only when the bar is due to be shown. tqdm's own ``refresh`` would draw it before the
    delay and without recording it, and closing the bar would then leave it on the line.
    """
    from tqdm import tqdm

    class Bar(tqdm):  # type: ignore[misc]  # tqdm has no type information here
        def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
            if self.total is not None and self.n >= self.total:  # done: no time left, and a rate that would fall
                self.bar_format = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"  # as the note runs on
            super().set_postfix_str(s, refresh=False)
            if refresh and not self.disable and self._time() >= self.start_t + self.delay:
                self.refresh()
                self.last_print_t = self._time()  # what close() clears

    return Bar


def study_kind(path: str) -> str | None:
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
