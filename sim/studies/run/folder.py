"""A run's results folder: written as the simulation streams, finished with derived tables, figures and report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sim.engine.records import EVENT_COLUMNS, patient_columns
from sim.outputs.folders import (
    FolderError,
    RecordedFile,
    check_files,
    check_scenario,
    folder_problem,
    missing_files,
    new_run_dir,
    write_json,
    write_recorded,
)
from sim.outputs.folders import run_info as folder_info
from sim.outputs.provenance import provenance
from sim.outputs.tables import csv_header, scenario_yaml, to_csv_text
from sim.spec.base import ScenarioError
from sim.spec.load import load_scenario
from sim.spec.scenario import Scenario
from sim.stats.summary import compare, summarise
from sim.studies.run.economics import ECONOMICS_FILE, run_economics
from sim.studies.run.evaluate import Simulated, simulate_run
from sim.studies.run.report import render_report
from sim.studies.run.tables import RunTables, write_tables
from sim.studies.units import BlockTables

__all__ = ["RunOutcome", "check_run_folder", "finish_folder", "redraw_run", "run_info", "run_to_folder",
           "scenario_data", "write_headline_files"]

@dataclass
class RunOutcome:
    """Where a run was written, its two headline tables and, for a precision run, how it stopped."""

    path: Path
    summary: pd.DataFrame
    comparison: pd.DataFrame
    replications: int = 0
    precision: dict[str, Any] | None = None
    economics: pd.DataFrame | None = None


def scenario_data(scenario: Scenario) -> dict[str, Any]:
    """The resolved scenario as ``scenario.yaml`` holds it, read back as plain data."""
    return yaml.safe_load(scenario_yaml(scenario))  # type: ignore[no-any-return]


def write_headline_files(work: Path, scenario: Scenario, summary: pd.DataFrame, comparison: pd.DataFrame,
                         info: dict[str, Any], files: dict[str, dict[str, Any]],
                         economics: pd.DataFrame | None = None) -> None:
    """``scenario.yaml``, ``summary.csv``, ``comparison.csv``, ``economics.csv`` (with economics) and, last,
    ``run.json`` of a run.

    ``files`` holds the records of the data files already written (``patients.csv``,
    ``events.csv``); with these three, they are ``files`` in ``run.json``, which ``run.py plot``
    checks before it trusts the folder.
    """
    write_recorded(work / "scenario.yaml", scenario_yaml(scenario), files)
    write_recorded(work / "summary.csv", to_csv_text(summary), files)
    write_recorded(work / "comparison.csv", to_csv_text(comparison), files)
    if economics is not None:
        write_recorded(work / ECONOMICS_FILE, to_csv_text(economics), files)
    write_json(work / "run.json", {**info, "files": files})


def run_info(scenario: Scenario, precision: dict[str, Any] | None, patients_simulated: int, argv: list[str],
             wall_seconds: float, workers: int) -> dict[str, Any]:
    """The run's ``run.json``."""
    info = provenance(scenario, argv, wall_seconds, patients_simulated, workers, kind="run")
    if precision is not None:
        info["precision"] = precision
    return info


def simulate_and_summarise(scenario: Scenario, sink: Callable[[BlockTables], None],
                           **options: Any) -> tuple[Simulated, pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Simulate a run into ``sink`` (options as for :func:`simulate_run`); its summary, comparison and, with
    economics, its cost-effectiveness table."""
    simulated = simulate_run(scenario, sink, **options)
    patients = simulated.patients
    reference = simulated.scenario.reference_arm
    economics = scenario.economics
    table = run_economics(patients, reference, economics) if economics is not None else None
    return simulated, summarise(patients), compare(patients, reference), table


def run_to_folder(scenario: Scenario, *, out: str | Path | None = None, results_root: str | Path = "results",
                  workers: int = 1, scheduler: str | None = None, log_events: bool = True,
                  event_sample: int | None = None, precision_weeks: float | None = None, max_replications: int = 200,
                  plots: bool = True, progress: Any = None, argv: list[str] | None = None) -> RunOutcome:
    """Simulate a scenario and write its results folder as the units come back (what ``run.py`` does).

    ``patients.csv`` and ``events.csv`` are streamed to disk, so only the typed patients table is
    held in memory. The folder appears under its final name only when complete: ``out`` exactly
    (it must not exist, or be empty), else a new ``results_root/<scenario name>/<run id>``.
    Options as for :func:`sim.run`; ``progress`` is a tqdm-like bar, ``argv`` the command line for
    ``run.json``.
    """
    started = time.perf_counter()
    columns = patient_columns(scenario)
    with new_run_dir(scenario, out, results_root) as (work, final):
        with RecordedFile(work / "patients.csv") as patients_file, RecordedFile(work / "events.csv") as events_file:
            patients_file.write(csv_header(columns))
            events_file.write(csv_header(EVENT_COLUMNS))

            def sink(tables: BlockTables) -> None:
                patients_file.write(tables.patients_csv)
                events_file.write(tables.events_csv)

            simulated, summary, comparison, economics = simulate_and_summarise(
                scenario, sink, workers=workers, scheduler=scheduler, log_events=log_events,
                event_sample=event_sample, precision_weeks=precision_weeks, max_replications=max_replications,
                progress=progress)
            files = {"patients.csv": patients_file.close(), "events.csv": events_file.close()}
        info = run_info(simulated.scenario, simulated.precision, sum(map(len, simulated.frames)), argv or [],
                        time.perf_counter() - started, workers)
        write_headline_files(work, simulated.scenario, summary, comparison, info, files, economics)
        finish_folder(work, plots)
    return RunOutcome(final, summary, comparison, simulated.scenario.replications, simulated.precision, economics)


def finish_folder(run_dir: Path, plots: bool = True, tables: RunTables | None = None,
                  derived: dict[str, pd.DataFrame] | None = None) -> None:
    """Write a folder's survival tables, figures (if ``plots``) and ``report.md`` from its saved tables.

    ``tables`` and ``derived`` are the folder's derived tables when already computed (by
    :func:`derive_tables` from the same data); otherwise they are computed from the saved files.
    """
    if tables is None or derived is None:
        tables = write_tables(run_dir)
    else:
        for name, frame in derived.items():
            (run_dir / name).write_text(to_csv_text(frame), encoding="utf-8")
    if plots:
        from sim.studies.run.figures import draw_figures  # matplotlib only when figures are wanted

        draw_figures(run_dir, tables)
    (run_dir / "report.md").write_text(render_report(run_dir), encoding="utf-8")


def redraw_run(path: Path, check: Callable[[Path], None] | None = None) -> Path:
    """Recompute the derived tables, figures and report of a run's folder, without simulating.

    Raises FolderError, before anything is written, for a folder that is incomplete or unreadable.
    """
    missing = missing_files(path, "run")
    if missing:
        raise FolderError(f"{path}: not a results folder of a run, sweep or trial (missing {', '.join(missing)})")
    check_run_folder(path)
    if check is not None:
        check(path)
    try:
        finish_folder(path, plots=True)
    except (KeyError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise FolderError(f"{path}: unreadable results ({type(err).__name__}: {str(err)[:200]})") from None
    return path


def check_run_folder(path: Path) -> None:
    """FolderError unless a run's folder can be trusted: ``scenario.yaml`` is the scenario that ran
    (``scenario_sha256`` in ``run.json``) and every data file is whole and unchanged (its size and
    SHA-256 in ``run.json``). A folder from before the files were recorded must at least have
    tables that end with a whole row."""
    info = folder_info(path)
    try:
        scenario = load_scenario(path / "scenario.yaml")
    except ScenarioError as err:
        raise folder_problem(path, err) from None
    check_scenario(path, info, scenario)
    if "files" in info:
        check_files(path, info)
        return
    for name in ("patients.csv", "events.csv"):
        table = path / name
        if table.is_file() and table.stat().st_size:
            with open(table, "rb") as handle:
                handle.seek(-1, 2)
                if handle.read(1) != b"\n":
                    raise FolderError(f"{path}: {name}: cut short (its last row is not whole); run it again")

