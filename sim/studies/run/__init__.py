"""The main job: simulate a scenario's arms, analyse them, and keep the results in memory or in a folder.

:func:`run` returns a :class:`RunResult` whose tables are pandas DataFrames and writes nothing;
``RunResult.save(dir)`` writes the folder the command line writes for the same options, and
``RunResult.plot()`` draws its figures. :func:`run_to_folder` streams a large run straight to disk.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sim.engine.records import EVENT_COLUMNS, patient_columns
from sim.outputs.folders import new_run_dir, write_recorded
from sim.outputs.tables import csv_header, read_events, read_patients
from sim.spec.base import ScenarioError
from sim.spec.load import apply_overrides, load_scenario, validate_scenario
from sim.spec.paths import parse_set_option
from sim.spec.scenario import Scenario
from sim.studies.run.folder import (
    RunOutcome,
    finish_folder,
    redraw_run,
    run_info,
    run_to_folder,
    scenario_data,
    simulate_and_summarise,
    write_headline_files,
)
from sim.studies.run.tables import RunTables, derive_tables
from sim.studies.units import BlockTables

__all__ = ["RunOutcome", "RunResult", "redraw_run", "resolve_scenario", "run", "run_to_folder"]


def resolve_scenario(scenario: Scenario | str | Path, *, patients: int | None = None,
                     replications: int | None = None, seed: int | None = None,
                     overrides: Sequence[str | tuple[str, Any]] = ()) -> Scenario:
    """A scenario (or a scenario file) with the command line's changes applied and validated.

    ``overrides`` are ``PATH=VALUE`` strings or ``(path, value)`` pairs, as ``--set`` takes them.
    Raises ScenarioError with one line per problem.
    """
    parsed: list[tuple[str, Any]] = []
    for item in overrides:
        parsed.append(parse_set_option(item) if isinstance(item, str) else item)
    parsed += [(p, v) for p, v in (("cohort.size", patients), ("replications", replications), ("seed", seed))
               if v is not None]
    if isinstance(scenario, Scenario):
        if not parsed:
            return scenario
        where = Path(f"<scenario {scenario.name}>")
        data = apply_overrides(where, scenario.model_dump(mode="json"), parsed)
        return validate_scenario(where, data, [p for p, _ in parsed])
    return load_scenario(scenario, parsed)


class RunResult:
    """The results of a run, in memory: the tables of its results folder as pandas DataFrames.

    ``patients`` and ``events`` are the tables exactly as ``patients.csv`` and ``events.csv`` hold
    them; ``summary`` and ``comparison`` the per-arm means and paired differences; ``survival``,
    ``curves`` and ``occupancy`` the time-to-event and time-course tables; ``economics`` the
    cost-effectiveness table (``economics.csv``) of a scenario with economics, else None.
    """

    def __init__(self, scenario: Scenario, texts: tuple[str, str], summary: pd.DataFrame,
                 comparison: pd.DataFrame, precision: dict[str, Any] | None, wall_seconds: float, workers: int,
                 patients_simulated: int, economics: pd.DataFrame | None = None):
        self.scenario = scenario
        self._texts = texts
        self.patients = read_patients(io.StringIO(texts[0]))
        self.events = read_events(io.StringIO(texts[1]))
        self.summary = summary
        self.comparison = comparison
        self.economics = economics
        self.precision = precision
        self.wall_seconds = wall_seconds
        self.workers = workers
        self.patients_simulated = patients_simulated
        self._tables, self._derived = derive_tables(scenario_data(scenario), self.patients, self.events)

    @property
    def survival(self) -> pd.DataFrame:
        """``survival.csv``: medians, restricted means, at-risk numbers and cumulative incidences."""
        return self._derived["survival.csv"]

    @property
    def curves(self) -> pd.DataFrame:
        """``survival_curves.csv``: Kaplan-Meier curves and cumulative incidences on a week grid."""
        return self._derived["survival_curves.csv"]

    @property
    def occupancy(self) -> pd.DataFrame:
        """``state_occupancy.csv``: patients in each state at each grid week."""
        return self._derived["state_occupancy.csv"]

    @property
    def tables(self) -> RunTables:
        """What the figures are drawn from."""
        return self._tables

    def save(self, out: str | Path | None = None, *, results_root: str | Path = "results", plots: bool = True,
             argv: list[str] | None = None) -> Path:
        """Write the results folder (``out`` exactly, or a new ``results_root/<name>/<run id>``); returns it.

        The data files are byte-identical to those of ``run.py`` with the same scenario and options.
        """
        info = run_info(self.scenario, self.precision, self.patients_simulated, argv or ["sim.run"],
                        self.wall_seconds, self.workers)
        with new_run_dir(self.scenario, out, results_root) as (work, final):
            files: dict[str, dict[str, Any]] = {}
            write_recorded(work / "patients.csv", self._texts[0], files)
            write_recorded(work / "events.csv", self._texts[1], files)
            write_headline_files(work, self.scenario, self.summary, self.comparison, info, files, self.economics)
            finish_folder(work, plots, self._tables, self._derived)
        return final

    def plot(self) -> dict[str, Any]:
        """The run's figures (matplotlib Figures by file name), drawn from these tables; nothing is saved."""
        from sim.studies.run.figures import build_figures

        return build_figures(self._tables, self.comparison, self.economics)

    def __repr__(self) -> str:
        return (f"RunResult({self.scenario.name!r}: {len(self.scenario.arms)} arms x "
                f"{self.scenario.replications} replications x {self.scenario.cohort.size} patients)")


def run(scenario: Scenario | str | Path, *, patients: int | None = None, replications: int | None = None,
        seed: int | None = None, overrides: Sequence[str | tuple[str, Any]] = (), workers: int = 1,
        scheduler: str | None = None, log_events: bool = True, event_sample: int | None = None,
        precision_weeks: float | None = None, max_replications: int = 200, progress: Any = None) -> RunResult:
    """Simulate every arm and replication of a scenario and return the results in memory; writes nothing.

    Parameters
    ----------
    scenario:
        A Scenario, or the path of a scenario file.
    patients, replications, seed:
        Replace ``cohort.size``, ``replications`` and ``seed`` (as ``--patients``, ``--replications``
        and ``--seed`` do).
    overrides:
        ``PATH=VALUE`` strings or ``(path, value)`` pairs, as ``--set`` takes them.
    workers:
        Local processes; results do not depend on it.
    scheduler:
        A Dask scheduler address to run on instead of local processes; results do not depend on it.
    log_events, event_sample:
        Whether to keep the event log, and for only the first this many patients of each arm and
        replication.
    precision_weeks, max_replications:
        Add replications until the 95% interval of every arm's mean disease-free weeks is narrower
        than ``precision_weeks`` (at least 5, at most ``max_replications``).
    progress:
        A tqdm-like bar to update.

    Raises
    ------
    ScenarioError
        With one ``error: FILE: PATH: message`` line per problem of the scenario or the options.
    """
    resolved = resolve_scenario(scenario, patients=patients, replications=replications, seed=seed,
                                overrides=overrides)
    if workers < 1:
        raise ScenarioError([f"error: workers: must be at least 1, got {workers}"])
    started = time.perf_counter()
    patients_text = [csv_header(patient_columns(resolved))]
    events_text = [csv_header(EVENT_COLUMNS)]

    def sink(tables: BlockTables) -> None:
        patients_text.append(tables.patients_csv)
        events_text.append(tables.events_csv)

    simulated, summary, comparison, economics = simulate_and_summarise(
        resolved, sink, workers=workers, scheduler=scheduler, log_events=log_events, event_sample=event_sample,
        precision_weeks=precision_weeks, max_replications=max_replications, progress=progress)
    return RunResult(simulated.scenario, ("".join(patients_text), "".join(events_text)), summary, comparison,
                     simulated.precision, time.perf_counter() - started, workers, sum(map(len, simulated.frames)),
                     economics)
