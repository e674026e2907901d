"""A run's derived tables (survival, curves, state occupancy), computed from its patients and events tables.

``survival.csv``: ``arm, endpoint, statistic, week, value, ci_low, ci_high`` with statistics
``patients``, ``events``, ``median_weeks``, ``rmst_weeks``, ``rmst_difference_weeks``, ``at_risk``
(at each ``week`` of the at-risk table), ``mean_weeks``, ``mean_difference_weeks`` and
``cumulative_incidence`` (at 52 weeks and at the horizon). ``week`` is empty when the statistic is
not taken at a time; a median not reached is empty. ``survival_curves.csv``: ``arm, endpoint, week,
estimate, ci_low, ci_high, at_risk`` on a grid of ``CURVE_POINTS`` weeks from 0 to the horizon.
``state_occupancy.csv``: ``arm, week, state, patients, share`` among the patients whose events were
logged. With subgroups, the first two have a ``subgroup`` column after ``arm``: the whole cohort
(``all``) first, then each subgroup computed on its own patients.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sim.outputs.folders import write_text_atomic
from sim.outputs.tables import read_events, read_patients, read_table, to_csv_text
from sim.stats.summary import cohorts
from sim.stats.survival_tables import (
    cumulative_incidence,
    kaplan_meier_fits,
    survival_curves,
    survival_table,
    whole_cohort,
)
from sim.stats.timecourse import state_occupancy

__all__ = ["RunTables", "derive_tables", "read_tables", "write_tables"]

@dataclass
class RunTables:
    """The saved tables of a results folder that the figures and the report need."""

    scenario: dict[str, Any]
    patients: pd.DataFrame
    events: pd.DataFrame
    survival: pd.DataFrame
    curves: pd.DataFrame
    occupancy: pd.DataFrame


def _arm_adverse_events(scenario: dict[str, Any]) -> dict[str, list[str]]:
    """Each arm's adverse events that can stop a drug, in the order of its lines and the file."""
    out = {}
    for arm, lines in scenario["arms"].items():
        names: list[str] = []
        for therapy in lines:
            for name, spec in (scenario["therapies"][therapy].get("adverse_events") or {}).items():
                if spec.get("discontinue_probability", 1.0) > 0 and name not in names:
                    names.append(name)
        out[arm] = names
    return out


def derive_tables(scenario: dict[str, Any], patients: pd.DataFrame,
                  events: pd.DataFrame) -> tuple[RunTables, dict[str, pd.DataFrame]]:
    """The survival, curve and occupancy tables of a run: (what the figures need, the tables to write by file name).

    ``patients`` and ``events`` are the tables as ``patients.csv`` and ``events.csv`` hold them (read
    back, or parsed from the same text), so the results are the same however they were obtained.
    """
    horizon = float(scenario["follow_up_weeks"])
    adverse_events = _arm_adverse_events(scenario)
    reference = scenario.get("reference_arm")
    survivals, curve_sets = [], []
    for label, part in cohorts(patients):  # the whole cohort, then each subgroup (if any)
        incidence = cumulative_incidence(part, horizon, adverse_events)
        fits = kaplan_meier_fits(part)
        tables = (survival_table(part, horizon, reference, adverse_events, incidence, fits),
                  survival_curves(part, horizon, incidence, fits=fits))
        if label is not None:
            for table in tables:
                table.insert(1, "subgroup", label)
        survivals.append(tables[0])
        curve_sets.append(tables[1])
    survival = pd.concat(survivals, ignore_index=True)
    curves = pd.concat(curve_sets, ignore_index=True)
    occupancy = state_occupancy(events, horizon)
    files = {"survival.csv": survival, "survival_curves.csv": curves, "state_occupancy.csv": occupancy}
    return RunTables(scenario, patients, events, whole_cohort(survival), whole_cohort(curves), occupancy), files


def _read_inputs(run_dir: Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    scenario = yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8"))
    patients = read_patients(run_dir / "patients.csv")
    events_path = run_dir / "events.csv"
    events = read_events(events_path) if events_path.exists() else pd.DataFrame(columns=["arm", "event"])
    return scenario, patients, events


def write_tables(run_dir: str | Path) -> RunTables:
    """Compute ``survival.csv``, ``survival_curves.csv`` and ``state_occupancy.csv`` from a folder's saved tables.

    Reads ``scenario.yaml``, ``patients.csv`` and ``events.csv`` (missing: no events), so the tables
    are the same whether written by the run or recomputed later.
    """
    run_dir = Path(run_dir)
    tables, files = derive_tables(*_read_inputs(run_dir))
    for name, frame in files.items():
        write_text_atomic(run_dir / name, to_csv_text(frame))
    return tables


def read_tables(run_dir: Path) -> RunTables:
    """The tables of a results folder that the figures need, as saved."""
    scenario, patients, events = _read_inputs(run_dir)

    def saved(name: str) -> pd.DataFrame:
        return whole_cohort(read_table(run_dir / name, dtype={"arm": str, "subgroup": str}))

    occupancy = read_table(run_dir / "state_occupancy.csv", dtype={"arm": str})
    return RunTables(scenario, patients, events, saved("survival.csv"), saved("survival_curves.csv"), occupancy)
