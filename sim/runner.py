"""The main job: simulate a scenario's arms and write its results folder."""

from __future__ import annotations

import math
import os
import time
from contextlib import closing
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis import compare, mean_interval, summarise
from sim.engine.records import EVENT_COLUMNS, patient_columns
from sim.experiment import plan_units, run_units
from sim.report import render_report
from sim.results import new_run_dir, provenance, scenario_yaml, to_csv_text, write_json
from sim.spec.scenario import Scenario

__all__ = ["MIN_PRECISION_REPLICATIONS", "FolderError", "RunOutcome", "check_scenario", "finish_folder", "folder_kind",
           "folder_problem", "redraw", "run_info", "run_scenario"]

MIN_PRECISION_REPLICATIONS = 5
"""A precision run never stops before this many replications: with fewer, a by-chance small spread
of replication means could end it early (the t quantile alone already penalises 2 or 3)."""

PROGRESS_DELAY_SECONDS = 1.0
"""The progress bar appears only once a run has taken this long."""

PRECISION_METRIC = "disease_free_weeks"

FOLDER_FILES = ("scenario.yaml", "patients.csv", "summary.csv", "comparison.csv", "run.json")
"""The saved tables a results folder needs for its figures and report."""


SWEEP_MARKERS = ("sweep.yaml", "design.csv", "points")
"""Files (and the folder ``points/``) only a sweep folder has."""

TRIAL_MARKERS = ("trial.yaml", "trials.csv", "power.csv")
"""Files only a trial-planning folder has."""


class FolderError(Exception):
    """A folder that is not a complete results folder."""


def folder_problem(run_dir: Path, err: Exception) -> FolderError:
    """``RUN_DIR: FILE: problem`` from an error about a file of the folder (the first of its problems)."""
    problems = [str(p) for p in getattr(err, "problems", None) or [str(err)]]
    first = problems[0].removeprefix("error: ").removeprefix(f"{run_dir}{os.sep}")
    more = len(problems) - 1
    if more:
        first += f" (and {more} more problem{'s' if more > 1 else ''})"
    return FolderError(f"{run_dir}: {first}")


def run_info(run_dir: Path) -> dict[str, Any]:
    """A folder's ``run.json`` (only read), or FolderError naming it."""
    import json

    try:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise FolderError(f"{run_dir}: run.json: cannot be read ({type(err).__name__})") from None
    if not isinstance(info, dict):
        raise FolderError(f"{run_dir}: run.json: not the provenance of a run (a JSON object)")
    return info


def check_scenario(run_dir: Path, info: dict[str, Any], scenario: Scenario) -> None:
    """FolderError unless ``scenario.yaml`` (read back as ``scenario``) is the scenario ``run.json`` says ran.

    Compared by ``scenario_sha256``: a value changed after the run is refused, a mere reformatting is
    not. A ``run.json`` without the hash is not checked.
    """
    from sim.results import scenario_sha256

    recorded = info.get("scenario_sha256")
    if recorded is not None and recorded != scenario_sha256(scenario):
        raise FolderError(f"{run_dir}: scenario.yaml: not the scenario that ran (its scenario_sha256 in run.json "
                          f"differs); changed after the run?")


def folder_kind(run_dir: Path) -> str:
    """'sweep', 'trial' or 'run': which command wrote a results folder, from the files it holds.

    A folder with files of both a sweep and trial planning is refused (FolderError): it is neither.
    """
    sweep = [name for name in SWEEP_MARKERS if (run_dir / name).exists()]
    trial = [name for name in TRIAL_MARKERS if (run_dir / name).exists()]
    if sweep and trial:
        raise FolderError(f"{run_dir}: not a results folder: it holds files of a sweep ({', '.join(sweep)}) and of "
                          f"trial planning ({', '.join(trial)})")
    if sweep:
        return "sweep"
    return "trial" if trial else "run"


@dataclass
class RunOutcome:
    """Where a run was written, its two headline tables and, for a precision run, how it stopped."""

    path: Path
    summary: pd.DataFrame
    comparison: pd.DataFrame
    replications: int = 0
    precision: dict[str, Any] | None = None


def _precision_widths(sums: dict[str, list[float]]) -> dict[str, float]:
    """Full width of each arm's 95% interval of the mean, from its replication means."""
    widths = {}
    for arm, means in sums.items():
        _, low, high = mean_interval(np.asarray(means, dtype=float))
        widths[arm] = high - low
    return widths


def run_scenario(scenario: Scenario, *, out: str | Path | None = None, results_root: str | Path = "results",
                 workers: int = 1, log_events: bool = True, plots: bool = True, progress: bool = False,
                 argv: list[str] | None = None, precision_weeks: float | None = None,
                 max_replications: int = 200, scheduler: str | None = None,
                 event_sample: int | None = None) -> RunOutcome:
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
    scheduler:
        A Dask scheduler address to run on instead of local processes; results do not depend on it.
    event_sample:
        Log events only for the first this many patients of each arm and replication.
    log_events:
        Whether to write the event log (``events.csv`` has its header either way).
    plots:
        Whether to draw the figures.
    progress:
        Whether to show a progress bar on standard error (once the run has taken a second).
    argv:
        The command line, for ``run.json``.
    precision_weeks:
        When given, simulate replications 0, 1, 2, ... until the 95% interval of every arm's mean
        disease-free weeks is narrower than this (full width, weeks), from
        ``MIN_PRECISION_REPLICATIONS`` on and at most ``max_replications``; the scenario's
        replications are ignored. The folder is then exactly that of a plain run with the number
        of replications reached; ``run.json`` and ``report.md`` say how the run stopped.
    max_replications:
        The cap of a precision run.
    """
    if precision_weeks is not None and max_replications < MIN_PRECISION_REPLICATIONS:
        raise ValueError(f"max_replications must be at least {MIN_PRECISION_REPLICATIONS}, got {max_replications}")
    started = time.perf_counter()
    plan = scenario if precision_weeks is None else scenario.model_copy(update={"replications": max_replications})
    units = plan_units(plan)
    per_replication = len(units) // plan.replications
    columns = patient_columns(scenario)
    means: dict[str, list[float]] = {arm: [] for arm in scenario.arms}
    totals: dict[str, list[float]] = {arm: [0.0, 0.0] for arm in scenario.arms}
    widths: dict[str, float] = {}
    done = 0
    with new_run_dir(scenario, out, results_root) as (work, final):
        frames = []
        bar = _progress_bar(plan, per_replication, precision_weeks) if progress else None
        try:
            with open(work / "patients.csv", "w", encoding="utf-8", newline="") as patients_file, \
                 open(work / "events.csv", "w", encoding="utf-8", newline="") as events_file, \
                 closing(run_units(plan, units, workers, log_events, scheduler=scheduler,
                                   event_sample=event_sample, as_tables=True)) as results:
                patients_file.write(",".join(columns) + "\n")
                events_file.write(",".join(EVENT_COLUMNS) + "\n")
                for index, (unit, result) in enumerate(zip(units, results, strict=False)):
                    block = result.patients
                    patients_file.write(result.patients_csv)
                    events_file.write(result.events_csv)
                    frames.append(block)
                    if precision_weeks is None:
                        if bar is not None:
                            bar.update()
                        continue
                    totals[unit.arm][0] += float(block[PRECISION_METRIC].sum())
                    totals[unit.arm][1] += len(block)
                    if (index + 1) % per_replication:
                        continue
                    done = (index + 1) // per_replication
                    for arm, (total, count) in totals.items():
                        means[arm].append(total / count)
                        totals[arm] = [0.0, 0.0]
                    widths = _precision_widths(means)
                    if bar is not None:
                        bar.update()
                        bar.set_postfix_str(f"widest 95% CI {max(widths.values()):.2f} wk, "
                                            f"target < {precision_weeks:g}")
                    if done >= MIN_PRECISION_REPLICATIONS and all(w < precision_weeks for w in widths.values()):
                        break
        finally:
            if bar is not None:
                bar.close()
        precision = None
        if precision_weeks is not None:
            scenario = scenario.model_copy(update={"replications": done})
            widest = max(widths, key=lambda arm: widths[arm]) if widths else None
            precision = {
                "metric": PRECISION_METRIC,
                "target_ci_width_weeks": precision_weeks,
                "max_replications": max_replications,
                "min_replications": MIN_PRECISION_REPLICATIONS,
                "replications": done,
                "reached": bool(widths) and all(w < precision_weeks for w in widths.values()),
                "ci_width_weeks": {arm: round(w, 6) if math.isfinite(w) else None for arm, w in widths.items()},
                "widest_arm": widest,
            }
        (work / "scenario.yaml").write_text(scenario_yaml(scenario), encoding="utf-8")
        patients = pd.concat(frames, ignore_index=True)
        summary = summarise(patients)
        comparison = compare(patients, scenario.reference_arm)
        (work / "summary.csv").write_text(to_csv_text(summary), encoding="utf-8")
        (work / "comparison.csv").write_text(to_csv_text(comparison), encoding="utf-8")
        info = provenance(scenario, argv or [], time.perf_counter() - started, len(patients), workers)
        info["versions"].update({name: _version(name) for name in ("lifelines", "matplotlib")})
        if precision is not None:
            info["precision"] = precision
        write_json(work / "run.json", info)
        finish_folder(work, plots)
    return RunOutcome(final, summary, comparison, scenario.replications, precision)


def finish_folder(run_dir: Path, plots: bool = True) -> None:
    """Write a folder's survival tables, figures (if ``plots``) and ``report.md`` from its saved tables."""
    from sim.survival import write_tables

    tables = write_tables(run_dir)
    if plots:
        from sim.plots import draw_figures  # matplotlib only when figures are wanted

        draw_figures(run_dir, tables)
    (run_dir / "report.md").write_text(render_report(run_dir), encoding="utf-8")


def redraw(run_dir: str | Path) -> Path:
    """Recompute the derived tables, figures and report of an existing results folder, without simulating.

    A plain run's folder, a sweep's (``sim.sweep.redraw_folder``) or trial planning's
    (``sim.trial.redraw_folder``), told apart by their files. Raises FolderError, before anything
    is written, for a folder that is none of these, incomplete or unreadable.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise FolderError(f"{path}: no such results folder")
    kind = folder_kind(path)
    if kind == "sweep":
        from sim.sweep import redraw_folder as redraw_sweep

        return redraw_sweep(path)
    if kind == "trial":
        from sim.trial import redraw_folder as redraw_trial

        return redraw_trial(path)
    missing = [name for name in FOLDER_FILES if not (path / name).is_file()]
    if missing:
        raise FolderError(f"{path}: not a results folder of a run, sweep or trial (missing {', '.join(missing)})")
    try:
        finish_folder(path, plots=True)
    except (KeyError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise FolderError(f"{path}: unreadable results ({type(err).__name__}: {err})") from None
    return path


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _progress_bar(plan: Scenario, per_replication: int, precision_weeks: float | None):  # type: ignore[no-untyped-def]
    """A bar on standard error with the time left: blocks of patients, or replications of a precision run."""
    import shutil

    from tqdm import tqdm

    # A pseudo-terminal that reports a 0 x 0 size would make tqdm hide the bar ("below the screen").
    size = shutil.get_terminal_size((100, 20))
    shape = {"ncols": min(size.columns, 120), "nrows": max(size.lines, 2), "leave": False,
             "delay": PROGRESS_DELAY_SECONDS}
    if precision_weeks is None:
        return tqdm(total=plan.replications * per_replication, desc=f"{plan.name}: {plan.replications} replications",
                    unit="block", **shape)
    return tqdm(total=plan.replications, desc=f"{plan.name}: replications (at most)", unit="replication", **shape)
