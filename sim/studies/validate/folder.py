"""The validation folder: ``validation.csv``, the scenarios run, the figure and ``run.json``."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pandas as pd

from sim.outputs.folders import (
    FolderError,
    check_files,
    new_run_dir,
    require_finished,
    run_info,
    write_json,
    write_recorded,
)
from sim.outputs.provenance import SCHEMA_VERSION, provenance
from sim.outputs.tables import scenario_yaml, to_csv_text
from sim.spec.scenario import Scenario

__all__ = ["check_folder", "draw_figure", "redraw_folder", "validation_folder", "write_files", "write_folder"]


def draw_figure(table: pd.DataFrame, path: Path) -> Path:
    """Save the figure of a validation table (proportions above, then times in weeks, then doses in grams)."""
    from sim.plotting.style import plt, save_figure
    from sim.plotting.validation import plot_validation

    if "inputs" in table.columns:  # where each outcome's inputs came from, beside its label
        table = table.assign(outcome=table["outcome"] + " [" + table["inputs"].astype(str) + "]")
    units = [u for u in ("proportion", "weeks", "g") if (table["unit"] == u).any()]
    heights = [max(1, int((table["unit"] == u).sum())) for u in units]
    fig, axes = plt.subplots(len(units), 1, figsize=(10, 0.42 * sum(heights) + 2.2),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for unit, ax in zip(units, axes[:, 0], strict=True):
        plot_validation(table, unit, ax=ax)
    title = "Validation: published outcomes vs simulated cohorts of the studies' own size"
    if "inputs" in table.columns:
        title += ("\n[circular]: an input came from the study itself"
                  "\n[calibration]: an input came from a pooled source that contains the study"
                  "\n[validation]: no input came from the study (a test of the model's predictions)")
    axes[0, 0].set_title(title, fontsize=10, pad=36)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    axes[0, 0].legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8,
                      frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)


def validation_folder(scenarios: dict[str, Scenario], out: str | None,
                      results_root: str | Path = "results") -> AbstractContextManager[tuple[Path, Path]]:
    """The validation folder, claimed (``new_run_dir``): ``(work, final)`` to write into before simulating."""
    named = next(iter(scenarios.values())).model_copy(update={"name": "validation"})
    return new_run_dir(named, out, results_root)


def write_files(work: Path, table: pd.DataFrame, scenarios: dict[str, Scenario], argv: list[str], started: float,
                workers: int, plots: bool = True) -> None:
    """``validation.csv``, the scenarios run and ``run.json`` recording them (``files``: each one's size and
    SHA-256, which ``run.py plot`` and the web app check), then the figure (if ``plots``)."""
    files: dict[str, dict[str, Any]] = {}
    write_recorded(work / "validation.csv", to_csv_text(table), files)
    for scenario in scenarios.values():
        write_recorded(work / f"{scenario.name}.scenario.yaml", scenario_yaml(scenario), files)
    wall = time.perf_counter() - started
    write_json(work / "run.json", {
        "kind": "validation",
        "schema_version": SCHEMA_VERSION,
        "command_line": argv,
        "wall_seconds": round(wall, 3),
        "scenarios": [provenance(s, argv, wall, s.replications * s.cohort.size, workers, kind="validation")
                      for s in scenarios.values()],
        "files": files,
    })
    if plots:
        draw_figure(table, work / "validation.png")


def write_folder(table: pd.DataFrame, scenarios: dict[str, Scenario], out: str | None, argv: list[str],
                 started: float, workers: int, plots: bool = True, results_root: str | Path = "results") -> Path:
    """Write the validation folder; returns it."""
    with validation_folder(scenarios, out, results_root) as (work, final):
        write_files(work, table, scenarios, argv, started, workers, plots)
    return final


def check_folder(path: Path) -> None:
    """FolderError unless a validation folder is finished and its data files (``validation.csv``, the
    scenarios run) are whole and unchanged: their sizes and SHA-256 as ``run.json`` records them."""
    require_finished(path, "validation")
    check_files(path, run_info(path))


def redraw_folder(path: Path, drawn: Callable[[int], Any] | None = None) -> Path:
    """Draw a validation folder's figure again from its ``validation.csv``, once the folder is checked
    (``drawn(count)`` follows it)."""
    check_folder(path)
    try:
        table = pd.read_csv(path / "validation.csv")
        if drawn is not None:
            drawn(0)
        draw_figure(table, path / "validation.png")
        if drawn is not None:
            drawn(1)
    except (KeyError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise FolderError(f"{path}: validation.csv: unreadable ({type(err).__name__}: {err})") from None
    return path
