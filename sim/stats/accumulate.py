"""What a run's tables need, folded from its blocks of patients and events in order, in memory that does not grow.

A run hands over its patients and events a block at a time (a unit of work, or a piece of a saved
table read back). Summaries need only each (arm, replication)'s means, which are taken as soon as
its patients are all in; the survival tables need a few numbers per patient (``SurvivalData``,
about 40 bytes); state occupancy is a sum of counts per block; the swimmer plot needs the first
patients of each arm. Every result is the same, to the last bit, as the functions of
``sim.stats.summary``, ``survival_tables`` and ``timecourse`` give on the whole tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.stats.summary import (
    Units,
    at_least_counts,
    numeric_values,
    replication_means,
)
from sim.stats.survival_tables import SURVIVAL_INPUTS, SurvivalData, endpoint_arrays
from sim.stats.timecourse import SWIMMER_PATIENTS, occupancy_counts, occupancy_table

__all__ = ["BATCH_PATIENTS", "OccupancyAccumulator", "SurvivalAccumulator", "SwimmerAccumulator", "UnitsAccumulator",
           "survival_block"]


@dataclass
class _Cohort:
    replications: set[int] = field(default_factory=set)
    means: list[pd.DataFrame] = field(default_factory=list)
    rows: list[pd.DataFrame] = field(default_factory=list)  # the patients, while one replication is seen


BATCH_PATIENTS = 100_000
"""Patients whose (arm, replication) means are taken together (pandas' cost is per call, not per patient)."""


class UnitsAccumulator:
    """The :class:`~sim.stats.summary.Units` of a patients table fed in order, whole (arm, replication)s at a time.

    Only the patients of the (arm, replication)s not yet reduced are held (about ``BATCH_PATIENTS``),
    and the patients of a cohort seen in a single replication so far (its intervals are then over
    patients): with several replications, memory does not grow with the run.
    """

    def __init__(self, metrics: list[str], subgroups: bool):
        self.metrics = metrics
        self.binary: list[str] | None = None  # the true/false metrics, known from the first patients fed
        self.subgroups = subgroups
        self._keys = ["replication", "arm", "patient", *(["subgroup"] if subgroups else [])]
        self._pending: list[Mapping[str, np.ndarray]] = []
        self._pending_rows = 0
        self._current: tuple[Any, Any] | None = None
        self._cohorts: dict[str | None, _Cohort] = {}
        self._counts: list[pd.DataFrame] = []

    def add(self, columns: Mapping[str, np.ndarray]) -> None:
        """Feed patients (typed columns, at least the keys and the metrics), in the order of the table."""
        replication, arm = np.asarray(columns["replication"]), np.asarray(columns["arm"], dtype=object)
        if len(replication) == 0:
            return
        if self.binary is None:
            self.binary = [m for m in self.metrics if np.asarray(columns[m]).dtype == bool]
        change = np.flatnonzero((replication[1:] != replication[:-1]) | (arm[1:] != arm[:-1])) + 1
        for start, stop in zip(np.append(0, change), np.append(change, len(replication)), strict=True):
            key = (replication[start], arm[start])
            if key != self._current:
                if self._pending_rows >= BATCH_PATIENTS:  # only whole (arm, replication)s are reduced
                    self._reduce()
                self._current = key
            self._pending.append({name: np.asarray(columns[name])[start:stop] for name in self._keys + self.metrics})
            self._pending_rows += stop - start

    def _reduce(self) -> None:
        if not self._pending:
            return
        names = self._keys + self.metrics
        frame = pd.DataFrame({name: np.concatenate([part[name] for part in self._pending]) for name in names})
        self._pending, self._pending_rows = [], 0
        numeric = numeric_values(frame, self.metrics)
        self._fold("all" if self.subgroups else None, numeric)
        if self.subgroups:
            labels = frame["subgroup"]
            for label in labels.dropna().unique():
                self._fold(str(label), numeric[(labels == label).to_numpy()])
        if self.binary:
            self._counts.append(at_least_counts(frame, self.binary))

    def _fold(self, label: str | None, numeric: pd.DataFrame) -> None:
        cohort = self._cohorts.setdefault(label, _Cohort())
        cohort.replications.update(numeric["replication"].unique().tolist())
        cohort.means.append(replication_means(numeric, self.metrics))
        # With one replication the intervals are over patients: they are kept until a second one comes.
        cohort.rows = cohort.rows + [numeric] if len(cohort.replications) <= 1 else []

    def finish(self) -> Units:
        """The units of everything fed."""
        self._reduce()
        self._current = None
        named = sorted(str(label) for label in self._cohorts if label not in (None, "all"))
        labels: list[str | None] = [None] if not self.subgroups else ["all", *named]
        cohorts = []
        for label in labels:
            cohort = self._cohorts.get(label, _Cohort())
            if len(cohort.replications) > 1:
                cohorts.append((label, pd.concat(cohort.means, ignore_index=True), "replication"))
            elif cohort.rows:
                cohorts.append((label, pd.concat(cohort.rows), "patient"))
        whole = self._cohorts.get("all" if self.subgroups else None, _Cohort())
        counts = pd.concat(self._counts) if self.binary and len(whole.replications) >= 2 else None
        return Units(self.metrics, cohorts, self.binary or [], counts)


def _factorized(values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Distinct names (missing and "" left out) and each value's code (-1: none)."""
    values = np.array(values, dtype=object)
    values[values == ""] = None
    codes, names = pd.factorize(values, use_na_sentinel=True)
    return [str(n) for n in names], codes.astype(np.int16)


def survival_block(columns: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """A block's share of :class:`SurvivalData`, from its patients' columns as the CSV file holds them
    (``SURVIVAL_INPUTS``, ``arm``, ``replication``, ``subgroup`` if any, ``disease_free_weeks``); names as
    codes into the block's own lists."""
    arrays = endpoint_arrays({name: columns[name] for name in SURVIVAL_INPUTS})
    arrays.pop("first_cause_names")
    block: dict[str, Any] = {name: arrays[name] for name in SurvivalData.ARRAYS if name in arrays}
    block["replication"] = np.asarray(columns["replication"], dtype=np.int32)
    block["disease_free_weeks"] = np.asarray(columns["disease_free_weeks"], dtype=float)
    for name, values in (("arm", columns["arm"]), ("first_cause", arrays["first_cause_values"]),
                         ("subgroup", columns.get("subgroup"))):
        block[name] = None if values is None else _factorized(np.asarray(values, dtype=object))
    return block


class SurvivalAccumulator:
    """:class:`SurvivalData` (and each patient's disease-free weeks, for the figures) of blocks fed in order.

    ``expected``: the patients a run plans to feed. The arrays are made that long at once (memory the
    system commits only as it is filled), so that a large run never holds them twice while they grow.
    """

    def __init__(self, expected: int = 0) -> None:
        self.expected = expected
        self.arms: list[str] = []
        self.subgroups: list[str] | None = None
        self.causes: list[str] = [""]
        self._arrays: dict[str, np.ndarray] = {}
        self._size = 0

    @staticmethod
    def _codes(coded: tuple[list[str], np.ndarray], names: list[str], missing: int) -> np.ndarray:
        local, codes = coded
        for name in local:
            if name not in names:
                names.append(name)
        lookup = np.array([names.index(name) for name in local] + [missing], dtype=np.int16)
        return lookup[codes]  # code -1 picks ``missing``

    def add(self, block: Mapping[str, Any]) -> None:
        """Feed one :func:`survival_block`."""
        values = dict(block)
        values["arm"] = self._codes(block["arm"], self.arms, -1)
        values["first_cause"] = self._codes(block["first_cause"], self.causes, 0)
        if block["subgroup"] is not None:
            self.subgroups = self.subgroups if self.subgroups is not None else []
            values["subgroup"] = self._codes(block["subgroup"], self.subgroups, -1)
        else:
            values["subgroup"] = np.full(len(values["arm"]), -1, dtype=np.int16)
        count = len(values["arm"])
        if self._size + count > len(next(iter(self._arrays.values()), ())):
            capacity = max(1024, self.expected, 2 * (self._size + count))
            for name, array in values.items():
                grown = np.empty(capacity, dtype=np.asarray(array).dtype)
                if name in self._arrays:
                    grown[:self._size] = self._arrays[name][:self._size]
                self._arrays[name] = grown
        for name, array in values.items():
            self._arrays[name][self._size:self._size + count] = array
        self._size += count

    def finish(self) -> tuple[SurvivalData, np.ndarray]:
        """The survival arrays and the disease-free weeks of every patient fed."""
        arrays = {name: array[:self._size] for name, array in self._arrays.items()}
        if not arrays:
            arrays = {name: np.empty(0) for name in (*SurvivalData.ARRAYS, "disease_free_weeks")}
        subgroups = sorted(self.subgroups) if self.subgroups is not None else None
        if subgroups is not None and subgroups != self.subgroups:  # codes follow the sorted names
            lookup = np.array([subgroups.index(name) for name in self.subgroups or []] + [-1], dtype=np.int16)
            arrays["subgroup"] = lookup[arrays["subgroup"]]
        disease_free = arrays.pop("disease_free_weeks")
        data = SurvivalData(list(self.arms), subgroups, list(self.causes),
                            **{name: arrays[name] for name in SurvivalData.ARRAYS})
        return data, disease_free


class OccupancyAccumulator:
    """State occupancy counts summed over blocks of events (a patient's events all in one block)."""

    def __init__(self, grid: np.ndarray):
        self.grid = grid
        self.counts: dict[str, tuple[np.ndarray, int]] = {}

    def add_counts(self, arm: str, counts: np.ndarray, present: int) -> None:
        """Add one block's :func:`~sim.stats.timecourse.occupancy_counts` of an arm."""
        if present == 0:
            return
        total, seen = self.counts.get(arm, (np.zeros_like(counts), 0))
        self.counts[arm] = (total + counts, seen + present)

    def add(self, arm: str, patient: np.ndarray, week: np.ndarray, event: Any) -> None:
        """Add the events of some patients of one arm."""
        self.add_counts(arm, *occupancy_counts(patient, week, event, self.grid))

    def finish(self) -> pd.DataFrame:
        """The ``state_occupancy.csv`` table."""
        return occupancy_table(self.counts, self.grid)


class SwimmerAccumulator:
    """The events and patient rows of the first ``SWIMMER_PATIENTS`` logged patients of each arm."""

    def __init__(self, per_arm: int = SWIMMER_PATIENTS):
        self.per_arm = per_arm
        self.events: list[pd.DataFrame] = []
        self.patients: list[pd.DataFrame] = []
        self._chosen: dict[str, pd.MultiIndex] = {}

    def wanted(self, arm: str) -> int:
        """How many more patients of the arm are wanted."""
        return self.per_arm - len(self._chosen.get(arm, ()))

    def add_events(self, events: pd.DataFrame) -> None:
        """Offer the events (``EVENT_COLUMNS``, as saved) of some patients, in the order of the log."""
        for arm, group in events.groupby("arm", sort=False):
            chosen = self._chosen.get(str(arm), pd.MultiIndex.from_tuples([], names=["replication", "patient"]))
            keys = pd.MultiIndex.from_frame(group[["replication", "patient"]])
            new = keys.unique().difference(chosen, sort=False)[:self.per_arm - len(chosen)]
            if len(new) == 0:
                continue
            self._chosen[str(arm)] = chosen.append(new)
            self.events.append(group[keys.isin(new)])

    def add_patients(self, patients: pd.DataFrame) -> None:
        """Offer rows of the patients table (at least ``arm, replication, patient, dropout, dropout_week,
        observed_weeks``); those of chosen patients are kept."""
        for arm, chosen in self._chosen.items():
            rows = patients[(patients["arm"] == arm).to_numpy()]
            if len(rows):
                self.patients.append(rows[pd.MultiIndex.from_frame(rows[["replication", "patient"]]).isin(chosen)])

    def finish(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(events, patient rows) of the chosen patients."""
        events = pd.concat(self.events, ignore_index=True) if self.events else pd.DataFrame()
        patients = pd.concat(self.patients, ignore_index=True) if self.patients else pd.DataFrame()
        return events, patients
