"""Tables as files: the CSV format (true/false, fixed floats, empty for missing), written fast and read back typed."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import IO, Any

import pandas as pd
import yaml

from sim.engine.records import FLOAT_COLUMNS, BlockResult
from sim.spec.scenario import Scenario

__all__ = ["FLOAT_FORMAT", "csv_header", "events_csv_text", "patients_frame", "read_events", "read_patients",
           "read_table", "scenario_yaml", "to_csv_text"]

FLOAT_FORMAT = "%.6f"
"""Every float in a CSV file: weeks to a fraction of a minute, identical on every platform."""


def patients_frame(table: dict[str, list[object]], columns: list[str]) -> pd.DataFrame:
    """A block's patients as a typed frame: weeks and fractions as floats (missing: NaN), doses as floats."""
    frame = pd.DataFrame(table, columns=columns)
    for column in columns:
        if column in FLOAT_COLUMNS or column.startswith("dose_mg_"):
            frame[column] = frame[column].astype(float)
    return frame


def _cells(series: pd.Series) -> list[str]:
    """A column's CSV cells: true/false, fixed-point floats, empty for missing."""
    values = series.tolist()
    if series.dtype == bool:
        return ["true" if v else "false" for v in values]
    if series.dtype.kind == "f":
        return ["" if v != v else FLOAT_FORMAT % v for v in values]  # v != v: NaN
    if series.dtype.kind in "iu":
        return [str(v) for v in values]
    cells = []
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            cells.append("")
        elif isinstance(v, bool):
            cells.append("true" if v else "false")
        elif isinstance(v, float):
            cells.append(FLOAT_FORMAT % v)
        else:
            cells.append(str(v))
    return cells


def to_csv_text(frame: pd.DataFrame, header: bool = True) -> str:
    """CSV text with booleans as true/false, missing values empty and fixed float formatting.

    Written with the csv module (minimal quoting, as pandas does) from pre-formatted columns:
    several times faster than ``DataFrame.to_csv`` with a float format, which matters because
    every block of patients and events passes through here.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow([str(c) for c in frame.columns])
    writer.writerows(zip(*(_cells(frame[c]) for c in frame.columns), strict=True))
    return buffer.getvalue()


def csv_header(columns: list[str]) -> str:
    """A header line, each name quoted as the csv module quotes it (a drug named ``a,b`` stays one column)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(columns)
    return buffer.getvalue()


def events_csv_text(block: BlockResult) -> str:
    """CSV lines (no header) of a block's event log, in ``EVENT_COLUMNS`` order, formatted as
    ``to_csv_text`` would format their table, without building it."""
    buffer = io.StringIO()
    r, a = block.replication, block.arm
    csv.writer(buffer, lineterminator="\n").writerows(
        (r, a, p, FLOAT_FORMAT % w, e, t, d) for p, w, e, t, d in block.event_rows())
    return buffer.getvalue()


def scenario_yaml(scenario: Scenario) -> str:
    """The fully resolved scenario, defaults filled in, as YAML."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def read_table(path: str | Path | IO[str], dtype: dict[str, Any] | None = None) -> pd.DataFrame:
    """A CSV table as written here: only an empty field is missing, so an arm named ``NA`` or ``null``
    stays a name (pandas would read those as missing by default)."""
    return pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=[""])


def read_patients(path: str | Path | IO[str]) -> pd.DataFrame:
    """``patients.csv`` with names as strings, booleans as booleans and missing times as NaN."""
    return read_table(path, {"arm": str, "dropout_reason": str, "final_state": str, "subgroup": str})


def read_events(path: str | Path | IO[str]) -> pd.DataFrame:
    """``events.csv`` (possibly only its header) with names as strings."""
    return read_table(path, {"arm": str, "event": str, "therapy": str, "detail": str, "week": float})
