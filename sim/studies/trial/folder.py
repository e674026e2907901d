"""A trial-planning results folder: written when the trials are done, read back only when it is consistent."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.outputs.folders import (
    FolderError,
    check_files,
    check_scenario,
    folder_problem,
    missing_files,
    new_run_dir,
    run_info,
    write_json,
    write_recorded,
    write_text_atomic,
)
from sim.outputs.provenance import provenance
from sim.outputs.tables import FLOAT_FORMAT, scenario_yaml, to_csv_text
from sim.spec.base import ScenarioError
from sim.spec.load import read_yaml
from sim.studies.trial.analyse import SIMON_COLUMNS, Summaries, power_columns, smallest_size, summarise
from sim.studies.trial.design import TrialPlan, load_trial, trial_sha256, trial_yaml
from sim.studies.trial.evaluate import TrialTables, run_trials, trial_columns
from sim.studies.trial.report import figure_title, render_report
from sim.studies.trial.single_arm import SIMON_TRIAL_COLUMNS

__all__ = ["TrialOutcome", "read_folder", "redraw_folder", "run_trial_planning", "write_folder"]

@dataclass
class TrialOutcome:
    """Where a trial-planning run was written, its simulated trials and their summaries."""

    path: Path
    tables: TrialTables
    summaries: Summaries

    @property
    def power(self) -> pd.DataFrame:
        """``power.csv``: one row per size."""
        return self.summaries.power

    @property
    def trials(self) -> pd.DataFrame:
        """``trials.csv``: one row per simulated trial and size."""
        return self.tables.trials


def run_trial_planning(plan: TrialPlan, *, out: str | Path | None = None, results_root: str | Path = "results",
                       workers: int = 1, scheduler: str | None = None, plots: bool = True, progress: Any = None,
                       argv: list[str] | None = None) -> TrialOutcome:
    """Simulate the trials of a plan and write its results folder.

    Parameters
    ----------
    plan:
        A validated plan (``load_trial``).
    out:
        The exact results folder (must not exist, or be empty); default a new folder
        ``results_root/<trial file name>/<run id>``.
    workers, scheduler:
        Local processes, or a Dask scheduler address; results do not depend on either.
    plots:
        Whether to draw the figure.
    progress:
        A tqdm-like bar, updated by the simulated trials done.
    argv:
        The command line, for ``run.json``.
    """
    started = time.perf_counter()
    on_done = None if progress is None else lambda unit: progress.update(len(unit))
    with new_run_dir(_named(plan), out, results_root) as (work, final):  # claimed before any trial runs
        tables = run_trials(plan, workers, scheduler, on_done)
        summaries = summarise(plan.trial, plan.simon, tables.trials, tables.simon)
        _write_files(work, plan, tables, summaries, plots=plots, argv=argv or [],
                     wall_seconds=time.perf_counter() - started, workers=workers, scheduler=scheduler)
    return TrialOutcome(final, tables, summaries)


def _named(plan: TrialPlan) -> Any:
    """The base scenario named after the trial file, which names the folder."""
    return plan.scenario.model_copy(update={"name": plan.name})


def _data_files(tables: TrialTables, summaries: Summaries) -> dict[str, pd.DataFrame]:
    """The tables of a trial-planning folder, by file name."""
    files = {"power.csv": summaries.power, "trials.csv": tables.trials}
    if summaries.looks is not None:
        files["looks.csv"] = summaries.looks
    if summaries.simon is not None and tables.simon is not None:
        files["simon.csv"] = summaries.simon
        files["simon_trials.csv"] = tables.simon
    return files


def write_folder(plan: TrialPlan, tables: TrialTables, summaries: Summaries, *, out: str | Path | None,
                 results_root: str | Path, plots: bool, argv: list[str], wall_seconds: float, workers: int,
                 scheduler: str | None = None) -> Path:
    """Write a trial-planning folder from its simulated trials; returns the folder."""
    with new_run_dir(_named(plan), out, results_root) as (work, final):
        _write_files(work, plan, tables, summaries, plots=plots, argv=argv, wall_seconds=wall_seconds,
                     workers=workers, scheduler=scheduler)
    return final


def _write_files(work: Path, plan: TrialPlan, tables: TrialTables, summaries: Summaries, *, plots: bool,
                 argv: list[str], wall_seconds: float, workers: int, scheduler: str | None) -> None:
    """The files of a trial-planning folder: its tables, then ``run.json`` recording them, then figure and report.

    The figure and ``report.md`` are drawn from the tables as read back from the folder, so that
    ``run.py plot`` redraws them byte for byte.
    """
    trial = plan.trial
    files: dict[str, dict[str, Any]] = {}
    write_recorded(work / "trial.yaml", trial_yaml(plan), files)
    write_recorded(work / "scenario.yaml", scenario_yaml(plan.scenario), files)
    for name, frame in _data_files(tables, summaries).items():
        write_recorded(work / name, to_csv_text(frame), files)
    patients = trial.simulations * sum(plan.max_arm_sizes)
    info = provenance(plan.scenario, argv, wall_seconds, patients, workers, kind="trial")
    info.pop("replications", None)
    info.update({
        "trial_file": str(plan.path),
        "base": str(plan.base_path),
        "trial_sha256": trial_sha256(plan),
        "simulations": trial.simulations,
        "patients_per_arm": list(trial.patients_per_arm),
        "arms": list(trial.arms),
        "design": trial.design,
        "scheduler": scheduler,
        "smallest_size_reaching_target": smallest_size(summaries.power, trial.target_power),
        "files": files,
    })
    write_json(work / "run.json", info)  # the data are complete from here: a later failure keeps them
    saved_tables, saved = _read_tables(work, plan)
    _write_results(work, plan, saved_tables, saved, plots)


def _write_results(run_dir: Path, plan: TrialPlan, tables: TrialTables, summaries: Summaries, plots: bool,
                   drawn: Callable[[int], Any] | None = None) -> None:
    """The figure (if ``plots``; ``drawn(count)`` follows it) and ``report.md`` of a trial-planning folder, each
    written atomically."""
    figure = None
    if plots:
        from sim.studies.trial.figures import draw_figure  # matplotlib only when figures are wanted

        if drawn is not None:
            drawn(0)
        figure = draw_figure(run_dir, plan, summaries, figure_title(plan))
        if drawn is not None:
            drawn(1)
    write_text_atomic(run_dir / "report.md", render_report(plan, summaries, tables, figure))


# A trial-planning folder holds REQUIRED_FILES["trial"]; a group-sequential design adds looks.csv, a
# single-arm design with simon adds simon.csv and simon_trials.csv.
_TEXT = {"criterion"}
_BOOL = {"reject", "feasible", "chosen", "stopped_early", "declared_active", "reject_without_interim"}
_INT = {"patients_per_arm", "simulation", "n_control", "n_experimental", "events", "look", "patients_enrolled",
        "responses", "stage1_responses", "total_responses", "patients", "critical_responses", "r1", "n1", "r", "n"}


def _read_table(run_dir: Path, name: str, columns: list[str]) -> pd.DataFrame:
    """A saved table of the folder with exactly ``columns``, numbers parsed to the nearest double."""
    types = {c: ("str" if c in _TEXT else "int64" if c in _INT else "float64") for c in columns if c not in _BOOL}
    try:
        table = pd.read_csv(run_dir / name, dtype=types, true_values=["true"], false_values=["false"],
                            float_precision="round_trip", encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as err:  # pandas' parser errors are ValueErrors
        reason = str(err).splitlines()[0] if str(err) else ""
        raise FolderError(f"{run_dir}: {name}: cannot be read ({type(err).__name__}: {reason})") from None
    if list(table.columns) != columns:
        raise FolderError(f"{run_dir}: {name}: columns {', '.join(map(str, table.columns))}; expected "
                          f"{', '.join(columns)}")
    for column in _BOOL & set(columns):
        if table[column].dtype != bool:
            raise FolderError(f"{run_dir}: {name}: {column}: not true/false in every row")
    return table


_EXACT = {"power.csv": ("power", "ci_low", "ci_high"), "looks.csv": ("stop_probability", "efficacy_probability"),
          "simon.csv": ("pet", "p_declare_active")}
"""Columns of each summary that its trials table gives exactly (counts of simulated trials)."""


def _read_tables(path: Path, plan: TrialPlan) -> tuple[TrialTables, Summaries]:
    """The simulated trials and summaries saved in a folder, checked against each other and the design."""
    trial = plan.trial
    missing = [name for name in ("looks.csv",) if trial.interim is not None and not (path / name).is_file()]
    missing += [name for name in ("simon.csv", "simon_trials.csv") if plan.simon is not None
                and not (path / name).is_file()]
    if missing:
        raise FolderError(f"{path}: not a complete trial-planning folder (missing {', '.join(missing)})")
    trials = _read_table(path, "trials.csv", trial_columns(trial))
    sizes = list(trial.patients_per_arm)
    counts = trials.groupby("patients_per_arm")["simulation"].nunique()
    if (counts.index.tolist() != sizes or (counts != trial.simulations).any()
            or len(trials) != trial.simulations * len(sizes)):
        raise FolderError(f"{path}: trials.csv: not one row per simulated trial ({trial.simulations}) and size "
                          f"({', '.join(map(str, sizes))}) of trial.yaml")
    simon_trials = None
    if plan.simon is not None:
        simon_trials = _read_table(path, "simon_trials.csv", SIMON_TRIAL_COLUMNS)
        per_design = simon_trials.groupby("criterion")["simulation"].nunique().to_dict()
        if per_design != {"minimax": trial.simulations, "optimal": trial.simulations} \
                or len(simon_trials) != 2 * trial.simulations:
            raise FolderError(f"{path}: simon_trials.csv: not one row per simulated trial ({trial.simulations}) "
                              f"and Simon design (optimal, minimax)")
    exact = summarise(trial, plan.simon, trials, simon_trials)
    saved = Summaries(_read_table(path, "power.csv", power_columns(trial)),
                      _read_table(path, "looks.csv", list(exact.looks.columns)) if exact.looks is not None else None,
                      _read_table(path, "simon.csv", SIMON_COLUMNS) if exact.simon is not None else None)
    if saved.power["patients_per_arm"].tolist() != sizes:
        raise FolderError(f"{path}: power.csv: sizes {saved.power['patients_per_arm'].tolist()}, but trial.yaml has "
                          f"patients_per_arm {sizes}")
    for name, ours, theirs in (("power.csv", exact.power, saved.power), ("looks.csv", exact.looks, saved.looks),
                               ("simon.csv", exact.simon, saved.simon)):
        if ours is None or theirs is None:
            continue
        if len(ours) != len(theirs):
            raise FolderError(f"{path}: {name}: {len(theirs)} rows, but the trials give {len(ours)}")
        for column in _EXACT[name]:
            for i, (value, counted) in enumerate(zip(theirs[column], ours[column], strict=True)):
                if FLOAT_FORMAT % value != FLOAT_FORMAT % counted:
                    where = (f"at {int(theirs['patients_per_arm'].iloc[i])} patients per arm"
                             if "patients_per_arm" in theirs.columns else f"for {theirs['criterion'].iloc[i]}")
                    source = "simon_trials.csv" if name == "simon.csv" else "trials.csv"
                    raise FolderError(f"{path}: {name}: {column} {where} is {FLOAT_FORMAT % value}, but {source} "
                                      f"gives {FLOAT_FORMAT % counted}")
    return TrialTables(trials, simon_trials), saved


def read_folder(run_dir: str | Path) -> tuple[TrialPlan, TrialTables, Summaries]:
    """(plan, simulated trials, summaries) of a trial-planning folder, from its own files only, checked.

    The plan is the folder's ``trial.yaml`` with its ``scenario.yaml`` (the trial file the folder
    came from is never read; its name, for the report's title, is the ``trial_file`` of
    ``run.json``). ``trials.csv`` (and ``simon_trials.csv``) must hold every simulated trial at every
    size (and design), and the summaries (``power.csv``, ``looks.csv``, ``simon.csv``) agree with them
    on every probability counted from the trials. Raises FolderError naming the folder and the file at
    fault; writes nothing.
    """

    path = Path(run_dir)
    missing = missing_files(path, "trial")
    if missing:
        raise FolderError(f"{path}: not a complete trial-planning folder (missing {', '.join(missing)})")
    info = run_info(path)
    trial_file = info.get("trial_file")
    if not isinstance(trial_file, str) or not trial_file:
        raise FolderError(f"{path}: run.json: no trial_file: not written by trial planning")
    try:
        base = read_yaml(path / "trial.yaml").get("base")
        if base != "scenario.yaml":
            raise FolderError(f"{path}: trial.yaml: base: must be scenario.yaml (the folder's own resolved "
                              f"scenario), got {base!r}")
        plan = load_trial(path / "trial.yaml")
    except ScenarioError as err:
        raise folder_problem(path, err) from None
    check_scenario(path, info, plan.scenario)
    recorded = info.get("trial_sha256")
    if recorded is not None and recorded != trial_sha256(plan):
        raise FolderError(f"{path}: trial.yaml: not the design that ran (its trial_sha256 in run.json differs); "
                          f"changed after the run?")
    plan = dataclasses.replace(plan, name=Path(trial_file).stem, path=Path(trial_file),
                               base_path=Path(str(info.get("base") or plan.base_path)))
    tables, summaries = _read_tables(path, plan)
    check_files(path, info)  # last: whatever the checks above would not see (the detailed messages come first)
    return plan, tables, summaries


def redraw_folder(run_dir: str | Path, drawn: Callable[[int], Any] | None = None) -> Path:
    """Draw a trial-planning folder's figure and write its ``report.md`` again, from its saved tables.

    Nothing is simulated; the tables and ``run.json`` are left as they are and the report is
    byte-identical to the one written with the run; ``drawn(count)`` follows the figure. Raises
    FolderError, before writing anything, when the folder is incomplete or its files unreadable or
    inconsistent.
    """
    path = Path(run_dir)
    plan, tables, summaries = read_folder(path)
    _write_results(path, plan, tables, summaries, plots=True, drawn=drawn)
    return path
