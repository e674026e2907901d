"""A run's results folder: written as the simulation streams, finished with derived tables, figures and report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.engine.records import EVENT_COLUMNS, patient_columns
from sim.outputs.folders import (
    Digest,
    FolderError,
    RecordedFile,
    check_run_folder,
    missing_files,
    new_run_dir,
    write_json,
    write_recorded,
    write_text_atomic,
)
from sim.outputs.provenance import provenance
from sim.outputs.tables import ParquetTable, csv_header, scenario_yaml, to_csv_text
from sim.spec.scenario import Scenario
from sim.stats.summary import compare, summarise
from sim.studies.run.economics import ECONOMICS_FILE, run_economics
from sim.studies.run.evaluate import Simulated, simulate_run
from sim.studies.run.report import render_report
from sim.studies.run.tables import RunTables, scenario_data, write_tables
from sim.studies.units import FORMATS, BlockTables

__all__ = ["RunOutcome", "TableFiles", "check_run_folder", "finish_folder", "redraw_run", "run_info",
           "run_to_folder", "scenario_data", "write_headline_files"]

@dataclass
class RunOutcome:
    """Where a run was written, its two headline tables and, for a precision run, how it stopped."""

    path: Path
    summary: pd.DataFrame
    comparison: pd.DataFrame
    replications: int = 0
    precision: dict[str, Any] | None = None
    economics: pd.DataFrame | None = None


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
    units = simulated.units
    reference = simulated.scenario.reference_arm
    economics = scenario.economics
    table = run_economics(units, reference, economics) if economics is not None else None
    return simulated, summarise(units), compare(units, reference), table


class TableFiles:
    """``patients`` and ``events`` of a run written as its units come back, as CSV (``patients.csv``,
    ``events.csv``) or Parquet (``.parquet``), each recorded for ``run.json``."""

    def __init__(self, work: Path, columns: list[str], file_format: str = "csv"):
        if file_format not in FORMATS:
            raise ValueError(f"unknown file format {file_format!r}; expected one of {', '.join(FORMATS)}")
        self.format = file_format
        if file_format == "csv":
            self._patients: Any = RecordedFile(work / "patients.csv")
            self._events: Any = RecordedFile(work / "events.csv")
            self._patients.write(csv_header(columns))
            self._events.write(csv_header(EVENT_COLUMNS))
        else:
            self._patients = ParquetTable(work / "patients.parquet", columns)
            self._events = ParquetTable(work / "events.parquet", EVENT_COLUMNS)

    def write(self, tables: BlockTables) -> None:
        """Append one unit's rows."""
        self._patients.write(tables.patients_data)
        self._events.write(tables.events_data)

    def close(self) -> dict[str, dict[str, Any]]:
        """Close both files; their records by file name."""
        if self.format == "csv":
            return {"patients.csv": self._patients.close(), "events.csv": self._events.close()}
        records = {}
        for table in (self._patients, self._events):
            table.close()
            records[table.path.name] = Digest.of_file(table.path).record(table.path.name)
        return records

    def __enter__(self) -> TableFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.format == "csv":
            self._patients.__exit__(*exc)
            self._events.__exit__(*exc)


def run_to_folder(scenario: Scenario, *, out: str | Path | None = None, results_root: str | Path = "results",
                  workers: int = 1, scheduler: str | None = None, log_events: bool = True,
                  event_sample: int | None = None, precision_weeks: float | None = None, max_replications: int = 200,
                  plots: bool = True, progress: Any = None, argv: list[str] | None = None,
                  file_format: str = "csv") -> RunOutcome:
    """Simulate a scenario and write its results folder as the units come back (what ``run.py`` does).

    ``patients.csv`` and ``events.csv`` (with ``file_format="parquet"``, ``patients.parquet`` and
    ``events.parquet``) are streamed to disk, and what the summaries and derived tables need is
    folded as the units come back, so memory does not grow with the run but for a few numbers per
    patient (the survival arrays). The folder appears under its final name only when complete: ``out`` exactly
    (it must not exist, or be empty), else a new ``results_root/<scenario name>/<run id>``.
    Options as for :func:`sim.run`; ``progress`` is a tqdm-like bar, ``argv`` the command line for
    ``run.json``.
    """
    started = time.perf_counter()
    columns = patient_columns(scenario)
    with new_run_dir(scenario, out, results_root) as (work, final):
        with TableFiles(work, columns, file_format) as table_files:
            simulated, summary, comparison, economics = simulate_and_summarise(
                scenario, table_files.write, workers=workers, scheduler=scheduler, log_events=log_events,
                event_sample=event_sample, precision_weeks=precision_weeks, max_replications=max_replications,
                progress=progress, file_format=file_format)
            files = table_files.close()
        info = run_info(simulated.scenario, simulated.precision, simulated.patients, argv or [],
                        time.perf_counter() - started, workers)
        write_headline_files(work, simulated.scenario, summary, comparison, info, files, economics)
        tables, derived = simulated.fold.derive()
        if plots and progress is not None:
            progress.set_postfix_str("drawing the figures")  # the count is done; a few seconds more
        finish_folder(work, plots, tables, derived)
    return RunOutcome(final, summary, comparison, simulated.scenario.replications, simulated.precision, economics)


def finish_folder(run_dir: Path, plots: bool = True, tables: RunTables | None = None,
                  derived: dict[str, pd.DataFrame] | None = None, drawn: Callable[[int], Any] | None = None) -> None:
    """Write a folder's survival tables, figures (if ``plots``) and ``report.md`` from its saved tables.

    ``tables`` and ``derived`` are the folder's derived tables when already computed (by
    ``RunFold.derive`` from the same data); otherwise they are computed from the saved files.
    ``drawn(count)`` follows the figures.
    """
    if tables is None or derived is None:
        tables = write_tables(run_dir)
    else:
        for name, frame in derived.items():  # whole or not at all, and an error names the file
            write_text_atomic(run_dir / name, to_csv_text(frame))
    if plots:
        from sim.studies.run.figures import draw_figures  # matplotlib only when figures are wanted

        draw_figures(run_dir, tables, drawn)
    write_text_atomic(run_dir / "report.md", render_report(run_dir))


def redraw_run(path: Path, check: Callable[[Path], None] | None = None,
               drawn: Callable[[int], Any] | None = None) -> Path:
    """Recompute the derived tables, figures and report of a run's folder, without simulating.

    ``drawn(count)`` follows the figures. Raises FolderError, before anything is written, for a folder
    that is incomplete or unreadable.
    """
    missing = missing_files(path, "run")
    if missing:
        raise FolderError(f"{path}: not a results folder of a run, sweep or trial (missing {', '.join(missing)})")
    check_run_folder(path)
    if check is not None:
        check(path)
    try:
        finish_folder(path, plots=True, drawn=drawn)
    except (KeyError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise FolderError(f"{path}: unreadable results ({type(err).__name__}: {str(err)[:200]})") from None
    return path
