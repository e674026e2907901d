"""Tables as files: the CSV format (true/false, fixed floats, empty for missing), written fast and read back typed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain, repeat
from operator import is_not
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import yaml

from sim.engine.records import FLOAT_COLUMNS, BlockResult
from sim.spec.scenario import Scenario

__all__ = ["FLOAT_FORMAT", "PARQUET_ROWS", "READ_ROWS", "EventColumns", "ParquetTable", "csv_header", "csv_rounded",
           "event_columns", "events_csv_text", "iter_table", "patients_csv_text", "patients_frame", "read_events",
           "read_patients", "read_table", "scenario_yaml", "table_path", "to_csv_text", "typed_columns"]

READ_ROWS = 200_000
"""Rows per piece when a large table is read back piece by piece."""

FLOAT_FORMAT = "%.6f"
"""Every float in a CSV file: weeks to a fraction of a minute, identical on every platform."""


_NAME_COLUMNS = {"arm", "subgroup", "dropout_reason", "final_state"}
"""Patient columns of names (the engine's strings, missing None): object arrays, unless none is given."""


def _typed(name: str, values: list[Any]) -> np.ndarray:
    """One column as pandas would type it: weeks, fractions and doses as floats (missing: NaN), true/false as
    booleans, whole numbers as int64, numbers with gaps as floats, names as objects."""
    if name in FLOAT_COLUMNS or name.startswith("dose_mg_"):
        return np.array(values, dtype=float)
    if name in _NAME_COLUMNS and any(map(is_not, values, repeat(None))):
        return np.array(values, dtype=object)
    array = np.array(values)
    if array.dtype.kind in "bif":
        return array if array.dtype.kind != "i" else array.astype(np.int64)
    if array.dtype.kind == "O" and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                                       for v in values):
        return np.array(values, dtype=float)
    return array.astype(object)


def typed_columns(table: Mapping[str, list[Any]], columns: list[str]) -> dict[str, np.ndarray]:
    """A block's patients as typed arrays by column (the types of :func:`patients_frame`)."""
    return {column: _typed(column, table[column]) for column in columns}


def patients_frame(table: dict[str, list[object]], columns: list[str]) -> pd.DataFrame:
    """A block's patients as a typed frame: weeks and fractions as floats (missing: NaN), doses as floats."""
    return pd.DataFrame(typed_columns(table, columns), columns=columns)


def csv_rounded(values: np.ndarray) -> np.ndarray:
    """Floats as the CSV files hold them: each value as ``float(FLOAT_FORMAT % value)`` would give it.

    Exact and vectorised: the value times 10^6 is rounded to the nearest integer (ties to even, as
    ``%f`` rounds the exact binary value), which the float product gets right except within a
    rounding error of a tie or beyond 2^33; those few are formatted one by one. Dividing the integer
    by 10^6 is then the correctly rounded value of the 6-decimal text, which is what parsing gives.
    """
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        scaled = values * 1e6
        whole = np.rint(scaled)
        doubtful = ~(np.abs(np.abs(scaled - whole) - 0.5) >= 1e-3) | ~(np.abs(values) < 2.0**33)
    out = whole / 1e6
    for i in np.flatnonzero(doubtful & ~np.isnan(values)):
        out[i] = float(FLOAT_FORMAT % values[i])
    return out


def _quoted(value: str) -> str:
    """A name as the csv module writes it in a row (quoted only when it must be)."""
    if not any(c in value for c in ',"\r\n'):
        return value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([value, ""])
    return buffer.getvalue()[:-1]


class _Cells(dict[Any, str]):
    """The CSV cell of each value of a column of names (missing: empty), made once per distinct value."""

    def __missing__(self, value: Any) -> str:
        if value is None or (isinstance(value, float) and value != value):
            cell = ""
        elif isinstance(value, bool):
            cell = "true" if value else "false"
        elif isinstance(value, float):
            cell = FLOAT_FORMAT % value
        else:
            cell = _quoted(str(value))
        if value is None or isinstance(value, str):  # True == 1 == 1.0 as keys: only names are kept
            self[value] = cell
        return cell


class _Suffixes(dict[tuple[Any, ...], str]):
    """``,event,therapy,detail`` and the line end of each event label, as the csv module writes them."""

    def __missing__(self, label: tuple[Any, ...]) -> str:
        text = "".join("," + ("" if v is None else _quoted(str(v))) for v in label) + "\n"
        self[label] = text
        return text


_CELLS = _Cells()
_SUFFIXES = _Suffixes()


def _fast_cells(values: np.ndarray) -> list[str]:
    """A typed column's CSV cells (as :func:`_cells`), from its array."""
    kind = values.dtype.kind
    if kind == "b":
        return list(map(("false", "true").__getitem__, values.tolist()))
    if kind == "f":
        cells = list(map(FLOAT_FORMAT.__mod__, values.tolist()))
        for i in np.flatnonzero(np.isnan(values)).tolist():
            cells[i] = ""
        return cells
    if kind in "iu":
        return list(map(str, values.tolist()))
    return list(map(_CELLS.__getitem__, values.tolist()))


_DECIMALS: Any = None


def _decimal_text(values: np.ndarray) -> Any:
    """Floats as Arrow strings in ``FLOAT_FORMAT`` (missing: null): Arrow's cast to a decimal of 6 places
    rounds the exact binary value half to even, as ``%.6f`` does (the tests compare them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    global _DECIMALS
    if _DECIMALS is None:
        _DECIMALS = pa.decimal128(38, 6)
    return pc.cast(pc.cast(pa.array(values, from_pandas=True), _DECIMALS, safe=False), pa.string())


def patients_csv_text(columns: Mapping[str, np.ndarray]) -> str:
    """CSV lines (no header) of typed patient columns: the text ``to_csv_text`` writes for their frame.

    Written by Arrow's CSV writer (floats formatted by :func:`_decimal_text`) unless a name needs
    quoting, which only the csv module writes the way the rest of the files do.
    """
    if not columns or not len(next(iter(columns.values()))):
        return ""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    arrays = {}
    for name, values in columns.items():
        kind = values.dtype.kind
        if kind == "f":
            arrays[name] = _decimal_text(values)
        elif kind == "O":
            cells = list(map(_CELLS.__getitem__, values.tolist()))  # true/false among names as well
            if any(cell.startswith('"') for cell in set(cells)):
                return _python_csv_text(columns)
            arrays[name] = pa.array(cells, type=pa.string())  # unquoted, an empty cell is written as a missing one
        else:
            arrays[name] = pa.array(values)
    buffer = io.BytesIO()
    pa_csv.write_csv(pa.table(arrays), buffer, pa_csv.WriteOptions(include_header=False, quoting_style="none"))
    return buffer.getvalue().decode("utf-8")


def _python_csv_text(columns: Mapping[str, np.ndarray]) -> str:
    cells = [_fast_cells(values) for values in columns.values()]
    return "\n".join(map(",".join, zip(*cells, strict=True))) + "\n"


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


class _Index(dict[Any, int]):
    """Numbers for the distinct items, in order of first appearance."""

    def __missing__(self, key: Any) -> int:
        self[key] = len(self)
        return self[key]


@dataclass(frozen=True)
class EventColumns:
    """A block's event log as columns in log order, each distinct label once."""

    patient: np.ndarray
    """Each event's patient number (int64)."""
    week: np.ndarray
    """Each event's week (float)."""
    code: np.ndarray
    """Each event's label as its index in ``labels`` (int32)."""
    labels: list[tuple[Any, ...]]
    """The distinct ``(event, therapy, detail)`` labels, in order of first appearance."""

    def label_column(self, index: int) -> np.ndarray:
        """Item ``index`` of each event's label (an object array; ``None`` or empty is ``None``)."""
        distinct = np.empty(len(self.labels), dtype=object)
        distinct[:] = [label[index] or None for label in self.labels]
        return distinct[self.code]


def event_columns(block: BlockResult) -> EventColumns:
    """A block's event log (one flat list per patient, week and label in turn) as :class:`EventColumns`."""
    logs = block.logs
    flat = list(chain.from_iterable(logs))
    labels = _Index()
    code = np.fromiter(map(labels.__getitem__, flat[1::2]), dtype=np.int32, count=len(flat) // 2)
    counts = np.fromiter(map(len, logs), dtype=np.int64, count=len(logs)) // 2
    patient = np.repeat(np.arange(block.first_patient, block.first_patient + len(logs), dtype=np.int64), counts)
    return EventColumns(patient, np.array(flat[0::2], dtype=float), code, list(labels))


def events_csv_text(block: BlockResult, events: EventColumns | None = None) -> str:
    """CSV lines (no header) of a block's event log, in ``EVENT_COLUMNS`` order, formatted as
    ``to_csv_text`` would format their table, without building it: each line is the patient's
    ``replication,arm,patient,`` the week and the event's ``,event,therapy,detail`` (both made once
    per patient and per distinct event), joined by Arrow. ``events``: the block's :func:`event_columns`,
    if already made."""
    import pyarrow as pa
    import pyarrow.compute as pc

    events = event_columns(block) if events is None else events
    if not len(events.code):
        return ""
    first = block.first_patient
    head = f"{block.replication},{_quoted(str(block.arm))},"
    prefixes = pa.array([f"{head}{p}," for p in range(first, first + len(block.logs))])
    rows = pc.binary_join_element_wise(pc.take(prefixes, events.patient - first), _decimal_text(events.week),
                                       pc.take(pa.array(list(map(_SUFFIXES.__getitem__, events.labels))),
                                               events.code), "")
    whole = pa.ListArray.from_arrays(pa.array([0, len(rows)], type=pa.int32()), rows)  # a block is far below 2 GB
    return str(pc.binary_join(whole, "")[0].as_py())


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
    return read_table(path, EVENT_TYPES)


PATIENT_TYPES = {"arm": str, "dropout_reason": str, "final_state": str, "subgroup": str}
EVENT_TYPES = {"arm": str, "event": str, "therapy": str, "detail": str, "week": float}


def iter_table(path: Path, columns: list[str] | None = None, rows: int | None = None) -> Iterator[pd.DataFrame]:
    """A ``.csv`` or ``.parquet`` table of a results folder piece by piece (``rows`` at a time), typed as
    :func:`read_patients` and :func:`read_events` read it; ``columns`` only (all by default)."""
    rows = READ_ROWS if rows is None else rows
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows, columns=columns):
            yield batch.to_pandas()
        return
    types = EVENT_TYPES if path.name.startswith("events") else PATIENT_TYPES
    with pd.read_csv(path, dtype=types, keep_default_na=False, na_values=[""], usecols=columns,
                     chunksize=rows) as reader:
        yield from reader


def table_path(run_dir: Path, name: str) -> Path:
    """``name.parquet`` in a results folder if it is there, else ``name.csv``."""
    parquet = run_dir / f"{name}.parquet"
    return parquet if parquet.is_file() else run_dir / f"{name}.csv"


PARQUET_ROWS = 100_000
"""Rows per row group of a Parquet table."""


class ParquetTable:
    """A Parquet file written as the blocks of a run come, ``PARQUET_ROWS`` rows per row group (pyarrow).

    Names are strings (missing: null), floats as the CSV file holds them (6 decimals), so a folder
    gives the same derived tables from either format.
    """

    def __init__(self, path: Path, columns: list[str]):
        self.path = path
        self.columns = columns
        self._pending: list[Mapping[str, Any]] = []
        self._rows = 0
        self._writer: Any = None
        self._types: dict[str, Any] = {}

    def write(self, data: Mapping[str, Any]) -> None:
        """Append a block of rows (arrays by column)."""
        rows = len(data[self.columns[0]])
        if rows:
            self._pending.append(data)
            self._rows += rows
        if self._rows >= PARQUET_ROWS:
            self._flush()

    def _array(self, name: str, parts: list[Any]) -> Any:
        import pyarrow as pa

        values = np.concatenate([np.asarray(part) for part in parts]) if parts else np.empty(0, dtype=object)
        if name not in self._types:
            self._types[name] = pa.string() if values.dtype.kind in "OU" else pa.from_numpy_dtype(values.dtype)
        if self._types[name] == pa.string():
            return pa.array(values.tolist(), type=pa.string())
        return pa.array(values, type=self._types[name])

    def _flush(self, last: bool = False) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._pending and not (last and self._writer is None):
            return
        table = pa.table({name: self._array(name, [part[name] for part in self._pending]) for name in self.columns})
        self._pending, self._rows = [], 0
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        try:
            self._writer.write_table(table)
        except OSError as err:
            raise OSError(err.errno, err.strerror, str(self.path)) from None

    def close(self) -> None:
        """Write what is left and close the file."""
        self._flush(last=True)
        self._writer.close()
