"""A run's derived tables (survival, curves, state occupancy), folded from its patients and events as they stream.

``survival.csv``: ``arm, endpoint, statistic, week, value, ci_low, ci_high`` with statistics
``patients``, ``events``, ``median_weeks``, ``rmst_weeks``, ``rmst_difference_weeks``, ``at_risk``
(at each ``week`` of the at-risk table), ``mean_weeks``, ``mean_difference_weeks`` and
``cumulative_incidence`` (at 52 weeks and at the horizon). ``week`` is empty when the statistic is
not taken at a time; a median not reached is empty. ``survival_curves.csv``: ``arm, endpoint, week,
estimate, ci_low, ci_high, at_risk`` on a grid of ``CURVE_POINTS`` weeks from 0 to the horizon.
``state_occupancy.csv``: ``arm, week, state, patients, share`` among the patients whose events were
logged. With subgroups, the first two have a ``subgroup`` column after ``arm``: the whole cohort
(``all``) first, then each subgroup computed on its own patients.

The tables are computed from the values as the saved files hold them (6 decimals), so a run, its
in-memory result and ``run.py plot`` on its folder (CSV or Parquet) give the same files.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.outputs.folders import write_text_atomic
from sim.outputs.tables import (
    iter_table,
    read_events,
    read_patients,
    read_table,
    scenario_yaml,
    table_path,
    to_csv_text,
)
from sim.spec.scenario import Scenario
from sim.stats.accumulate import (
    OccupancyAccumulator,
    SurvivalAccumulator,
    SwimmerAccumulator,
    UnitsAccumulator,
    survival_block,
)
from sim.stats.summary import Units
from sim.stats.survival_tables import (
    SURVIVAL_INPUTS,
    cumulative_incidence,
    curve_weeks,
    kaplan_meier_fits,
    survival_curves,
    survival_table,
    whole_cohort,
)
from sim.studies.units import BlockTables

__all__ = ["RunFold", "RunTables", "read_folder", "read_tables", "scenario_data", "write_tables"]


def scenario_data(scenario: Scenario) -> dict[str, Any]:
    """The resolved scenario as ``scenario.yaml`` holds it, read back as plain data."""
    return yaml.safe_load(scenario_yaml(scenario))  # type: ignore[no-any-return]

@dataclass
class RunTables:
    """The tables of a results folder that the figures and the report need.

    ``patients`` holds each patient's ``arm``, ``subgroup`` (with subgroups) and
    ``disease_free_weeks``; ``events`` the events of the swimmer plot's patients and ``sampled``
    their rows of the patients table.
    """

    scenario: dict[str, Any]
    patients: pd.DataFrame
    events: pd.DataFrame
    survival: pd.DataFrame
    curves: pd.DataFrame
    occupancy: pd.DataFrame
    sampled: pd.DataFrame


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


_PATIENT_KEYS = ["replication", "arm", "patient"]


class RunFold:
    """What a run's derived tables need, folded from its units as they come back, or from its saved tables read
    back piece by piece (``patients``: how many a run plans); :meth:`derive` computes the tables."""

    def __init__(self, scenario: dict[str, Any], patients: int = 0):
        self.scenario = scenario
        self.horizon = float(scenario["follow_up_weeks"])
        self.subgroups = bool((scenario.get("cohort") or {}).get("subgroups"))
        self.disease_free = UnitsAccumulator(["disease_free_weeks"], self.subgroups)
        self.survival = SurvivalAccumulator(patients)
        self.occupancy = OccupancyAccumulator(curve_weeks(self.horizon))
        self.swimmer = SwimmerAccumulator()

    def _keys(self, columns: dict[str, Any]) -> dict[str, Any]:
        return {name: columns[name] for name in (*_PATIENT_KEYS, *(["subgroup"] if self.subgroups else []))}

    def add_block(self, block: BlockTables) -> None:
        """Fold one unit's results (its columns must keep the patient keys)."""
        self.disease_free.add({**self._keys(block.columns),
                               "disease_free_weeks": block.survival["disease_free_weeks"]})
        self.survival.add(block.survival)
        self.occupancy.add_counts(block.arm, *block.occupancy)
        if block.swimmer is not None and self.swimmer.wanted(block.arm) > 0:
            events_text, patients_text = block.swimmer
            self.swimmer.add_events(read_events(io.StringIO(events_text)))
            self.swimmer.add_patients(read_patients(io.StringIO(patients_text)))

    def add_patients(self, chunk: pd.DataFrame) -> None:
        """Fold rows of a saved patients table, in order."""
        columns = {name: chunk[name].to_numpy() for name in chunk.columns}
        self.disease_free.add({**self._keys(columns), "disease_free_weeks": columns["disease_free_weeks"]})
        needed = ["replication", "arm", *(["subgroup"] if self.subgroups else []), *SURVIVAL_INPUTS,
                  "disease_free_weeks"]
        self.survival.add(survival_block({name: columns[name] for name in needed}))
        self.swimmer.add_patients(chunk)

    def add_events(self, chunk: pd.DataFrame) -> None:
        """Fold rows of a saved events table, in order, every patient's events whole."""
        if chunk.empty:
            return
        arms = chunk["arm"].to_numpy(dtype=object)
        for arm in dict.fromkeys(arms.tolist()):
            rows = chunk[arms == arm]
            patient = pd.MultiIndex.from_frame(rows[["replication", "patient"]]).factorize()[0]
            self.occupancy.add(str(arm), patient, rows["week"].to_numpy(dtype=float),
                               rows["event"].to_numpy(dtype=object))
            if self.swimmer.wanted(str(arm)) > 0:
                self.swimmer.add_events(rows)

    def derive(self) -> tuple[RunTables, dict[str, pd.DataFrame]]:
        """The derived tables: (what the figures need, the tables to write by file name)."""
        data, disease_free_weeks = self.survival.finish()
        units = self.disease_free.finish()
        by_label = {label: (label_units, key) for label, label_units, key in units.cohorts}
        adverse_events = _arm_adverse_events(self.scenario)
        reference = self.scenario.get("reference_arm")
        survivals, curve_sets = [], []
        for label, part in data.cohorts():  # the whole cohort, then each subgroup (if any)
            part_units = Units(["disease_free_weeks"], [(None, *by_label[label])])
            # Compact: a large run's Kaplan-Meier and Aalen-Johansen tables would have a row per patient.
            incidence = cumulative_incidence(part, self.horizon, adverse_events, compact=True)
            fits = kaplan_meier_fits(part, curve_weeks(self.horizon))
            tables = (survival_table(part, self.horizon, reference, adverse_events, incidence, fits, part_units),
                      survival_curves(part, self.horizon, incidence, fits=fits))
            if label is not None:
                for table in tables:
                    table.insert(1, "subgroup", label)
            survivals.append(tables[0])
            curve_sets.append(tables[1])
        survival = pd.concat(survivals, ignore_index=True)
        curves = pd.concat(curve_sets, ignore_index=True)
        occupancy = self.occupancy.finish()
        files = {"survival.csv": survival, "survival_curves.csv": curves, "state_occupancy.csv": occupancy}
        return self.tables(whole_cohort(survival), whole_cohort(curves), occupancy, data, disease_free_weeks), files

    def tables(self, survival: pd.DataFrame, curves: pd.DataFrame, occupancy: pd.DataFrame, data: Any = None,
               disease_free_weeks: np.ndarray | None = None) -> RunTables:
        """The :class:`RunTables` of what was folded, with these derived tables."""
        if data is None:
            data, disease_free_weeks = self.survival.finish()
        patients = pd.DataFrame({"arm": pd.Categorical.from_codes(data.arm, data.arms),
                                 "disease_free_weeks": disease_free_weeks})
        if data.subgroups is not None:
            patients.insert(1, "subgroup", pd.Categorical.from_codes(data.subgroup, data.subgroups))
        events, sampled = self.swimmer.finish()
        return RunTables(self.scenario, patients, events, survival, curves, occupancy, sampled)


def read_folder(run_dir: Path, fold: RunFold) -> None:
    """Fold a results folder's saved events and patients tables (CSV or Parquet), piece by piece."""
    events_path = table_path(run_dir, "events")
    if events_path.is_file():
        held = pd.DataFrame()
        for chunk in iter_table(events_path):
            chunk = pd.concat([held, chunk], ignore_index=True) if len(held) else chunk
            keys = chunk[["replication", "arm", "patient"]]
            last = (keys == keys.iloc[-1]).all(axis=1).to_numpy() if len(chunk) else np.zeros(0, dtype=bool)
            # The last patient's events may go on in the next piece: held back until they are whole.
            tail = len(last) - int(np.argmin(last[::-1])) if not last.all() else 0
            fold.add_events(chunk.iloc[:tail])
            held = chunk.iloc[tail:]
        fold.add_events(held)
    for chunk in iter_table(table_path(run_dir, "patients")):
        fold.add_patients(chunk)


def _read_scenario(run_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def write_tables(run_dir: str | Path) -> RunTables:
    """Compute ``survival.csv``, ``survival_curves.csv`` and ``state_occupancy.csv`` from a folder's saved tables.

    Reads ``scenario.yaml`` and the patients and events tables (CSV or Parquet; no events file: no
    events) piece by piece, so the tables are the same whether written by the run or recomputed
    later, and the memory is that of the run.
    """
    run_dir = Path(run_dir)
    fold = RunFold(_read_scenario(run_dir))
    read_folder(run_dir, fold)
    tables, files = fold.derive()
    for name, frame in files.items():
        write_text_atomic(run_dir / name, to_csv_text(frame))
    return tables


def read_tables(run_dir: Path) -> RunTables:
    """The tables of a results folder that the figures need, as saved."""
    fold = RunFold(_read_scenario(run_dir))
    read_folder(run_dir, fold)

    def saved(name: str) -> pd.DataFrame:
        return whole_cohort(read_table(run_dir / name, dtype={"arm": str, "subgroup": str}))

    occupancy = read_table(run_dir / "state_occupancy.csv", dtype={"arm": str})
    return fold.tables(saved("survival.csv"), saved("survival_curves.csv"), occupancy)
