"""``python run.py app``: serve the web app on 127.0.0.1 (needs the optional extra: ``pip install -e '.[app]'``)."""

from __future__ import annotations

import argparse
import errno
import socket
from pathlib import Path

from sim.cli.common import Parser, report_problems, workers_problems

__all__ = ["app_command", "app_parser"]

HOST = "127.0.0.1"
"""The app listens on the loopback address only: it is for the person at this machine."""

DEFAULT_PORT = 8501

PAGE = Path(__file__).resolve().parent.parent / "app" / "page.py"
"""The page's script; the command line only names it (the core never imports the app)."""


def app_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="run.py app",
                    description=f"Serve the web app on http://{HOST}:PORT for people who do not use a terminal: "
                                "pick or upload a scenario, edit it in a form, run it, and see, compare and "
                                "download the results; sweeps and trial planning too. Stop it with Ctrl-C.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="N",
                        help=f"the port on {HOST} (default {DEFAULT_PORT})")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="local processes for each run, as run.py --workers (default: all cores); runs "
                             "started from several browser tabs take turns")
    parser.add_argument("--results", default="results", metavar="DIR",
                        help="where results folders are written and looked for (default: results)")
    return parser


def _port_problem(port: int) -> str | None:
    if not 1 <= port <= 65535:
        return f"must be between 1 and 65535, got {port}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError as err:
            return f"{HOST}:{port} is in use; choose another with --port N" if err.errno == errno.EADDRINUSE \
                else f"cannot listen on {HOST}:{port} ({err.strerror})"
    return None


def app_command(argv: list[str]) -> int:
    """Serve the page until interrupted; exit status 2 when it cannot start."""
    args = app_parser().parse_args(argv)
    problems = workers_problems("error: run.py app", args.workers, force=False)
    port_problem = _port_problem(args.port)
    if port_problem:
        problems.append(f"error: run.py app: --port: {port_problem}")
    try:
        from streamlit.web import cli as streamlit_cli
    except ImportError:
        problems.append("error: run.py app: the web app needs its optional dependencies: pip install -e '.[app]'")
    if problems:
        return report_problems(problems)
    page_args = ["--results", args.results] + (["--workers", str(args.workers)] if args.workers else [])
    streamlit_cli.main(["run", str(PAGE), "--server.address", HOST, "--server.port", str(args.port),
                        "--server.headless", "true", "--browser.gatherUsageStats", "false",
                        "--server.fileWatcherType", "none", "--server.runOnSave", "false",
                        "--server.maxUploadSize", "5", "--client.toolbarMode", "minimal", "--", *page_args],
                       prog_name="run.py app", standalone_mode=False)
    return 0
