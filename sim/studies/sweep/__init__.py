"""Sensitivity sweeps over a base scenario: design, evaluate and analyse, with common random numbers.

A sweep file names a ``base`` scenario (relative to the sweep file) and a ``sweep`` section. As in
SALib, three steps: :func:`design` expands the sweep into points before anything runs;
:func:`simulate_point` runs one point (every arm, replications 0 to R-1, the base seed);
:func:`analyse` turns the point records into the folder's tables. :func:`sweep` does all three in
memory and returns a :class:`SweepResult`; the command line saves each point as it finishes, in a
``.partial`` folder that ``--resume`` can finish.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd

from sim.execute import map_as_completed
from sim.studies.sweep.analyse import SweepTables, analyse
from sim.studies.sweep.checks import Prepared, prepare
from sim.studies.sweep.design import Design, Point, design
from sim.studies.sweep.economics import PsaEconomics
from sim.studies.sweep.evaluate import simulate_point
from sim.studies.sweep.folder import (
    PARTIAL,
    finish_sweep,
    hold_folder,
    open_folder,
    read_folder,
    redraw_folder,
    run_sweep,
    save_points,
    sweep_tables,
)

__all__ = ["PARTIAL", "Design", "Point", "Prepared", "SweepResult", "SweepTables", "analyse", "design", "hold_folder",
           "open_folder", "prepare", "read_folder", "redraw_folder", "run_sweep", "simulate_point", "sweep"]


class SweepResult:
    """A finished sweep in memory: ``table`` is ``sweep.csv`` (a row per point and arm), ``design`` the points,
    and ``tornado``, ``sensitivity``, ``psa`` and ``noise`` the method's other tables (None when not made)."""

    def __init__(self, prepared: Prepared, records: list[dict[str, Any]], wall_seconds: float, workers: int):
        self.prepared = prepared
        self.records = records
        self.wall_seconds = wall_seconds
        self.workers = workers
        self.tables = sweep_tables(prepared, records)

    @property
    def table(self) -> pd.DataFrame:
        """``sweep.csv``: parameter values, each outcome's mean and paired difference, with intervals."""
        return self.tables.sweep

    @property
    def design(self) -> pd.DataFrame:
        """``design.csv``: the points."""
        return self.prepared.design.table()

    @property
    def tornado(self) -> pd.DataFrame | None:
        """``tornado.csv`` (one-way sweeps)."""
        return self.tables.tornado

    @property
    def sensitivity(self) -> pd.DataFrame | None:
        """``sensitivity.csv`` (Sobol and Morris sweeps)."""
        return self.tables.sensitivity

    @property
    def psa(self) -> pd.DataFrame | None:
        """``psa.csv`` (probabilistic sweeps)."""
        return self.tables.psa

    @property
    def economics(self) -> PsaEconomics | None:
        """A PSA of a scenario with economics: its samples on the cost-effectiveness plane, acceptability,
        EVPI and EVPPI tables (``ce_samples.csv``, ``acceptability.csv``, ``evpi.csv``, ``evppi.csv``)."""
        return self.tables.economics

    @property
    def noise(self) -> pd.DataFrame:
        """``noise.csv``: the replication noise of each quantity."""
        return self.tables.noise

    def save(self, out: str | Path | None = None, *, results_root: str | Path = "results", plots: bool = True,
             argv: list[str] | None = None) -> Path:
        """Write the sweep's folder (``out`` exactly, or a new ``results_root/<name>/<run id>``); returns it.

        The data files are byte-identical to those of ``run.py`` with the same file and options.
        """
        partial, final = open_folder(self.prepared, None if out is None else str(out), results_root=results_root)
        save_points(partial, self.records)
        return finish_sweep(self.prepared, partial, final, plots=plots, argv=argv or ["sim.sweep"],
                            wall_seconds=self.wall_seconds, workers=self.workers, scheduler=None,
                            computed=len(self.records), resumed=None)

    def plot(self) -> dict[str, Any]:
        """The sweep's figures (matplotlib Figures by file name); nothing is saved."""
        from sim.studies.sweep.figures import build_figures

        base = self.prepared.base
        return dict(build_figures(self.prepared.design, self.tables, base.arm_names, base.reference_arm,
                                  self.tables.outcomes, base.economics))

    def __repr__(self) -> str:
        d = self.prepared.design
        return f"SweepResult({self.prepared.name!r}: {d.method}, {len(d.points)} points)"


def sweep(path: str | Path, *, overrides: Sequence[str] = (), replications: int | None = None,
          patients: int | None = None, seed: int | None = None, workers: int = 1, scheduler: str | None = None,
          progress: Any = None) -> SweepResult:
    """Run every point of a sweep file and return its tables in memory; writes nothing.

    ``overrides`` (``PATH=VALUE``), ``replications`` (per point), ``patients`` and ``seed`` change
    the base scenario as ``--set``, ``--replications``, ``--patients`` and ``--seed`` do. Raises
    ScenarioError with one line per problem, found before anything runs.
    """
    prepared = prepare(path, overrides, replications, patients, seed)
    started = time.perf_counter()
    records: list[dict[str, Any]] = []
    with closing(map_as_completed(simulate_point, prepared.job, list(prepared.design.points), workers,
                                  scheduler)) as results:
        for _, record in results:
            records.append(record)
            if progress is not None:
                progress.update()
    records.sort(key=lambda record: int(record["point"]))
    return SweepResult(prepared, records, time.perf_counter() - started, workers)
