"""The web app's page (a Streamlit script): ``python run.py app`` serves it on 127.0.0.1.

Arguments after the script (``streamlit run page.py -- --workers N --results DIR``) set the
workers each run uses (default all cores, as the command line) and where results folders go.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import streamlit as st

from sim.app.jobs import RUNNER
from sim.app.runs import show_notice, show_status
from sim.app.tabs import scenario_tab, sweep_tab, trial_tab
from sim.app.views import compare_tab, open_tab
from sim.execute import default_workers


def settings(argv: list[str]) -> argparse.Namespace:
    """The page's arguments: ``--workers N`` and ``--results DIR``."""
    parser = argparse.ArgumentParser(prog="sim.app.page")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--results", default="results")
    args, _ = parser.parse_known_args(argv)
    args.workers = max(1, args.workers)
    return args


def main() -> None:
    """Draw the page for this browser tab."""
    config = settings(sys.argv[1:])
    RUNNER.workers = config.workers
    RUNNER.prepare()
    root = Path(config.results)
    st.set_page_config(page_title="CLE treatment-strategy simulator", layout="wide")
    st.title("CLE treatment-strategy simulator")
    st.caption("Virtual cohorts of patients with refractory cutaneous lupus on standard therapy, thalidomide or "
               f"low-dose lenalidomide. Results are written to `{root}` as the command line writes them.")
    show_notice()
    show_status()
    pages = {"Scenario": scenario_tab, "Sweep": sweep_tab, "Trial planning": trial_tab,
             "Compare two runs": compare_tab, "Open a results folder": open_tab}
    # Only the open tab is drawn: each redraw then reads no more files than the user looks at.
    for tab, draw in zip(st.tabs(list(pages), key="page-tab", on_change="rerun"), pages.values(), strict=True):
        if tab.open:
            with tab:
                draw(root)


main()
