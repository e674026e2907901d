"""What the engine returns: a block's patient records and event log, their columns and the state names."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain, repeat
from typing import Any

from sim.spec.scenario import Scenario

__all__ = ["ACTIVE", "ECONOMIC_COLUMNS", "EVENT_COLUMNS", "FLOAT_COLUMNS", "FULL", "IRREVERSIBLE_COLUMNS", "OFF",
           "PATIENT_FIELDS", "REDUCED", "REMISSION", "RESPONSE", "TAPER", "BlockResult", "merge_blocks",
           "patient_columns"]

ACTIVE, RESPONSE, REMISSION = "active", "response", "remission"
FULL, TAPER, REDUCED, OFF = "full", "taper", "reduced", "off"

EVENT_COLUMNS = ["replication", "arm", "patient", "week", "event", "therapy", "detail"]


RECORD_COLUMNS = [
    "responded",
    "time_to_response_weeks",
    "complete_response",
    "time_to_complete_response_weeks",
    "disease_free_weeks",
    "disease_free_fraction",
    "relapses",
    "first_relapse_week",
    "relapse_after_remission_week",
    "dropout",
    "dropout_reason",
    "dropout_week",
    "adverse_events",
    "discontinuations",
    "courses",
    "weeks_on_treatment",
    "observed_weeks",
    "final_state",
]


ECONOMIC_COLUMNS = ["cost", "qalys", "cost_undiscounted", "qalys_undiscounted"]
"""Columns of a scenario with an economics block (last): per patient, discounted first."""

IRREVERSIBLE_COLUMNS = ["irreversible_harm", "irreversible_harm_week"]
"""Columns of a scenario whose adverse events may leave permanent harm (after ``discontinuations``)."""


PATIENT_FIELDS = ("first_response", "first_remission", "disease_free", "relapses", "first_relapse",
                  "relapse_after_remission", "dropout_reason", "dropout_week", "adverse_events", "discontinuations",
                  "courses", "on_treatment", "final_state", "doses", "irreversible_week", "economics")
"""The order of the values in the record the patient process leaves when its observation ends."""

FLOAT_COLUMNS = {
    "time_to_response_weeks",
    "time_to_complete_response_weeks",
    "disease_free_weeks",
    "disease_free_fraction",
    "first_relapse_week",
    "relapse_after_remission_week",
    "dropout_week",
    "irreversible_harm_week",
    "weeks_on_treatment",
    "observed_weeks",
    *ECONOMIC_COLUMNS,
}
"""Columns of weeks or fractions: missing ("did not happen") is NaN, written empty."""


def patient_columns(scenario: Scenario) -> list[str]:
    """Columns of ``patients.csv`` for a scenario, in order."""
    keys = ["replication", "arm", "patient"]
    if scenario.cohort.subgroups is not None:
        keys.append("subgroup")
    records = RECORD_COLUMNS
    if scenario.records_irreversible_harm:
        at = RECORD_COLUMNS.index("discontinuations") + 1
        records = RECORD_COLUMNS[:at] + IRREVERSIBLE_COLUMNS + RECORD_COLUMNS[at:]
    economics = ECONOMIC_COLUMNS if scenario.economics is not None else []
    return keys + records + [f"dose_mg_{drug}" for drug in scenario.drugs_with_dose] + economics


class BlockResult:
    """Patients and events of one block of patients in one arm and replication.

    ``patients`` is the block's table, column by column, in patient order. The event log is kept
    as the engine wrote it: ``logs[i]`` is patient ``first_patient + i``'s events in time order,
    flat, two items per event: the week and a label (event, therapy, detail). ``event_columns``
    and ``events`` give it as columns or as rows of ``EVENT_COLUMNS``.
    """

    __slots__ = ("patients", "replication", "arm", "first_patient", "logs")

    def __init__(self, patients: dict[str, list[Any]], replication: int, arm: str, first_patient: int,
                 logs: list[list[Any]]):
        self.patients = patients
        self.replication = replication
        self.arm = arm
        self.first_patient = first_patient
        self.logs = logs

    def event_rows(self) -> Iterator[tuple[int, float, str, str, str]]:
        """(patient, week, event, therapy, detail) for every logged event, in log order."""
        for patient, log in enumerate(self.logs, self.first_patient):
            for i in range(0, len(log), 2):
                event, therapy, detail = log[i + 1]
                yield patient, log[i], event, therapy, detail

    @property
    def event_columns(self) -> dict[str, list[Any]]:
        """The event log as columns of ``EVENT_COLUMNS``."""
        flat = list(chain.from_iterable(self.logs))
        total = len(flat) // 2
        patients = range(self.first_patient, self.first_patient + len(self.logs))
        event, therapy, detail = (list(c) for c in zip(*flat[1::2], strict=True)) if total else ([], [], [])
        return {
            "replication": [self.replication] * total,
            "arm": [self.arm] * total,
            "patient": list(chain.from_iterable(map(repeat, patients, [len(log) // 2 for log in self.logs]))),
            "week": flat[0::2],
            "event": event,
            "therapy": therapy,
            "detail": detail,
        }

    @property
    def events(self) -> list[tuple[Any, ...]]:
        """The event log as rows of ``EVENT_COLUMNS``."""
        replication, arm = self.replication, self.arm
        return [(replication, arm, *row) for row in self.event_rows()]


def merge_blocks(blocks: Iterable[BlockResult]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """The patients and the event log of several blocks, in order, as columns."""
    patients: dict[str, list[Any]] = {}
    events: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS}
    for block in blocks:
        for column, values in block.patients.items():
            patients.setdefault(column, []).extend(values)
        for column, values in block.event_columns.items():
            events[column].extend(values)
    return patients, events
