"""The main job: simulate a scenario's arms and write its results folder."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim.analysis import compare, summarise
from sim.experiment import plan_units, run_units
from sim.model import EVENT_COLUMNS, FLOAT_COLUMNS, patient_columns
from sim.report import render_report
from sim.results import new_run_dir, provenance, scenario_yaml, to_csv_text, write_json
from sim.scenario import Scenario

__all__ = ["RunOutcome", "run_scenario"]


@dataclass
class RunOutcome:
    """Where a run was written and its two headline tables."""

    path: Path
    summary: pd.DataFrame
    comparison: pd.DataFrame


def run_scenario(scenario: Scenario, *, out: str | Path | None = None, results_root: str | Path = "results",
                 workers: int = 1, log_events: bool = True, plots: bool = True, progress: bool = False,
                 argv: list[str] | None = None) -> RunOutcome:
    """Simulate every arm and replication of ``scenario`` and write its results folder.

    Parameters
    ----------
    scenario:
        A validated scenario (overrides already applied).
    out:
        The exact results folder (must not exist, or be empty); default a new folder under
        ``results_root/<scenario name>/``.
    workers:
        Local processes; results do not depend on it.
    log_events:
        Whether to write the event log (``events.csv`` has its header either way).
    plots:
        Whether to draw the figures.
    progress:
        Whether to show a progress bar on standard error.
    argv:
        The command line, for ``run.json``.
    """
    started = time.perf_counter()
    units = plan_units(scenario)
    columns = patient_columns(scenario)
    with new_run_dir(scenario, out, results_root) as (work, final):
        (work / "scenario.yaml").write_text(scenario_yaml(scenario), encoding="utf-8")
        frames = []
        bar = _progress_bar(len(units), scenario) if progress else None
        try:
            with open(work / "patients.csv", "w", encoding="utf-8", newline="") as patients_file, \
                 open(work / "events.csv", "w", encoding="utf-8", newline="") as events_file:
                patients_file.write(",".join(columns) + "\n")
                events_file.write(",".join(EVENT_COLUMNS) + "\n")
                for result in run_units(scenario, units, workers, log_events,
                                        on_done=(lambda _: bar.update()) if bar is not None else None):
                    block = patients_frame(result.patients, columns)
                    patients_file.write(to_csv_text(block, header=False))
                    if result.events:
                        events_file.write(to_csv_text(pd.DataFrame(result.events, columns=EVENT_COLUMNS),
                                                      header=False))
                    frames.append(block)
        finally:
            if bar is not None:
                bar.close()
        patients = pd.concat(frames, ignore_index=True)
        summary = summarise(patients)
        comparison = compare(patients, scenario.reference_arm)
        (work / "summary.csv").write_text(to_csv_text(summary), encoding="utf-8")
        (work / "comparison.csv").write_text(to_csv_text(comparison), encoding="utf-8")
        write_json(work / "run.json", provenance(scenario, argv or [], time.perf_counter() - started,
                                                 len(patients), workers))
        if plots:
            from sim.plots import draw_figures  # matplotlib only when figures are wanted

            draw_figures(work)
        (work / "report.md").write_text(render_report(work), encoding="utf-8")
    return RunOutcome(final, summary, comparison)


def patients_frame(table: dict[str, list[object]], columns: list[str]) -> pd.DataFrame:
    """A block's patients as a typed frame: weeks and fractions as floats, doses as floats."""
    frame = pd.DataFrame(table, columns=columns)
    for column in columns:
        if column in FLOAT_COLUMNS or column.startswith("dose_mg_"):
            frame[column] = frame[column].astype(float)
    return frame


def _progress_bar(total: int, scenario: Scenario):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    return tqdm(total=total, desc=f"{scenario.name}", unit="block", leave=False, dynamic_ncols=True)
