"""A trial-planning results folder: written when the trials are done, read back only when it is consistent."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.outputs.folders import (
    FolderError,
    check_scenario,
    folder_problem,
    missing_files,
    new_run_dir,
    run_info,
    write_json,
    write_text_atomic,
)
from sim.outputs.provenance import provenance
from sim.outputs.tables import FLOAT_FORMAT, scenario_yaml, to_csv_text
from sim.spec.base import ScenarioError
from sim.spec.load import read_yaml
from sim.studies.trial.analyse import POWER_COLUMNS, smallest_size, summarise_power
from sim.studies.trial.design import TrialPlan, load_trial, trial_sha256, trial_yaml
from sim.studies.trial.evaluate import TRIAL_COLUMNS, run_trials
from sim.studies.trial.report import figure_title, render_report

__all__ = ["TrialOutcome", "read_folder", "redraw_folder", "run_trial_planning", "write_folder"]

@dataclass
class TrialOutcome:
    """Where a trial-planning run was written, and its power table."""

    path: Path
    power: pd.DataFrame
    trials: pd.DataFrame


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
        Whether to draw the power curve.
    progress:
        A tqdm-like bar, updated by the simulated trials done.
    argv:
        The command line, for ``run.json``.
    """
    started = time.perf_counter()
    on_done = None if progress is None else lambda unit: progress.update(len(unit))
    trials = run_trials(plan, workers, scheduler, on_done)
    power = summarise_power(trials, plan.trial.kind == "time_to_event")
    final = write_folder(plan, power, trials, out=out, results_root=results_root, plots=plots, argv=argv or [],
                         wall_seconds=time.perf_counter() - started, workers=workers, scheduler=scheduler)
    return TrialOutcome(final, power, trials)


def write_folder(plan: TrialPlan, power: pd.DataFrame, trials: pd.DataFrame, *, out: str | Path | None,
                 results_root: str | Path, plots: bool, argv: list[str], wall_seconds: float, workers: int,
                 scheduler: str | None = None) -> Path:
    """Write a trial-planning folder from its simulated trials; returns the folder."""
    trial = plan.trial
    named = plan.scenario.model_copy(update={"name": plan.name})  # the folder is named after the trial file
    with new_run_dir(named, out, results_root) as (work, final):
        (work / "trial.yaml").write_text(trial_yaml(plan), encoding="utf-8")
        (work / "scenario.yaml").write_text(scenario_yaml(plan.scenario), encoding="utf-8")
        (work / "power.csv").write_text(to_csv_text(power), encoding="utf-8")
        (work / "trials.csv").write_text(to_csv_text(trials), encoding="utf-8")
        _write_results(work, plan, power, trials, plots)
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
            "scheduler": scheduler,
            "smallest_size_reaching_target": smallest_size(power, trial.target_power),
        })
        write_json(work / "run.json", info)
    return final


def _write_results(run_dir: Path, plan: TrialPlan, power: pd.DataFrame, trials: pd.DataFrame, plots: bool) -> None:
    """The power curve (if ``plots``) and ``report.md`` of a trial-planning folder, each written atomically."""
    figure = None
    if plots:
        from sim.studies.trial.figures import draw_power_curve  # matplotlib only when figures are wanted

        draw_power_curve(run_dir, power, plan.trial.target_power, title=figure_title(plan))
        figure = "figures/power_curve.png"
    write_text_atomic(run_dir / "report.md", render_report(plan, power, trials, figure))


_TRIAL_TYPES = {"patients_per_arm": "int64", "simulation": "int64", "n_control": "int64", "n_experimental": "int64",
                "effect": "float64", "p_value": "float64", "reject": "bool", "duration_weeks": "float64"}


_EXACT = ("power", "ci_low", "ci_high")
"""Columns of power.csv that trials.csv gives exactly (rejections counted, Wilson interval)."""


def _read_table(run_dir: Path, name: str, columns: list[str]) -> pd.DataFrame:
    """A saved table of the folder with exactly ``columns``, numbers parsed to the nearest double."""
    types = {c: t for c, t in _TRIAL_TYPES.items() if c in columns and t != "bool"}
    types.update({c: "float64" for c in columns if c not in _TRIAL_TYPES})
    try:
        table = pd.read_csv(run_dir / name, dtype=types, true_values=["true"], false_values=["false"],
                            float_precision="round_trip", encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as err:  # pandas' parser errors are ValueErrors
        reason = str(err).splitlines()[0] if str(err) else ""
        raise FolderError(f"{run_dir}: {name}: cannot be read ({type(err).__name__}: {reason})") from None
    if list(table.columns) != columns:
        raise FolderError(f"{run_dir}: {name}: columns {', '.join(map(str, table.columns))}; expected "
                          f"{', '.join(columns)}")
    if "reject" in columns and table["reject"].dtype != bool:
        raise FolderError(f"{run_dir}: {name}: reject: not true/false in every row")
    return table


def read_folder(run_dir: str | Path) -> tuple[TrialPlan, pd.DataFrame, pd.DataFrame]:
    """(plan, power, trials) of a trial-planning folder, from its own files only, checked.

    The plan is the folder's ``trial.yaml`` with its ``scenario.yaml`` (the trial file the folder
    came from is never read; its name, for the report's title, is the ``trial_file`` of
    ``run.json``). ``trials.csv`` must hold every simulated trial at every size, and ``power.csv``
    agree with it; the power and its interval are then taken exactly from ``trials.csv``, the other
    columns from ``power.csv``. Raises FolderError (``sim.runner``) naming the folder and the file
    at fault; writes nothing.
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
    trial = plan.trial
    power = _read_table(path, "power.csv", POWER_COLUMNS)
    trials = _read_table(path, "trials.csv", TRIAL_COLUMNS)
    sizes = list(trial.patients_per_arm)
    if power["patients_per_arm"].tolist() != sizes:
        raise FolderError(f"{path}: power.csv: sizes {power['patients_per_arm'].tolist()}, but trial.yaml has "
                          f"patients_per_arm {sizes}")
    counts = trials.groupby("patients_per_arm")["simulation"].nunique()
    if (counts.index.tolist() != sizes or (counts != trial.simulations).any()
            or len(trials) != trial.simulations * len(sizes)):
        raise FolderError(f"{path}: trials.csv: not one row per simulated trial ({trial.simulations}) and size "
                          f"({', '.join(map(str, sizes))}) of trial.yaml")
    exact = summarise_power(trials, trial.kind == "time_to_event")
    for column in _EXACT:
        for n, saved, counted in zip(sizes, power[column], exact[column], strict=True):
            if FLOAT_FORMAT % saved != FLOAT_FORMAT % counted:
                raise FolderError(f"{path}: power.csv: {column} at {n} patients per arm is {FLOAT_FORMAT % saved}, "
                                  f"but trials.csv gives {FLOAT_FORMAT % counted}")
    power[list(_EXACT)] = exact[list(_EXACT)]
    return plan, power, trials


def redraw_folder(run_dir: str | Path) -> Path:
    """Draw a trial-planning folder's power curve and write its ``report.md`` again, from its saved tables.

    Nothing is simulated; ``power.csv``, ``trials.csv`` and ``run.json`` are left as they are and the
    report is byte-identical to the one written with the run. Raises FolderError, before writing
    anything, when the folder is incomplete or its files unreadable or inconsistent.
    """
    path = Path(run_dir)
    plan, power, trials = read_folder(path)
    _write_results(path, plan, power, trials, plots=True)
    return path
