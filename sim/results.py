"""Results folders: created under a temporary name and renamed only when complete."""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sim.engine.records import FLOAT_COLUMNS, BlockResult
from sim.spec.scenario import Scenario

__all__ = [
    "FLOAT_FORMAT",
    "OutputError",
    "events_csv_text",
    "failure_status",
    "patients_frame",
    "new_run_dir",
    "provenance",
    "scenario_sha256",
    "scenario_yaml",
    "to_csv_text",
    "write_json",
    "write_text_atomic",
]

FLOAT_FORMAT = "%.6f"
"""Every float in a CSV file: weeks to a fraction of a minute, identical on every platform."""


class OutputError(Exception):
    """A results folder that cannot be created (exists and is not empty, or not writable)."""


def _run_id(seed: int) -> str:
    return f"{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-seed{seed}"


@contextmanager
def new_run_dir(scenario: Scenario, out: str | Path | None = None,
                results_root: str | Path = "results") -> Iterator[tuple[Path, Path]]:
    """Yield ``(work, final)``: write into ``work``; it becomes ``final`` only if the block succeeds.

    ``final`` is ``out`` when given (it must not exist, or be an empty folder), else a new folder
    ``results_root/<scenario name>/<run id>``. Nothing is left under either name on failure.
    """
    if out is not None:
        final = Path(out)
        if final.exists() and (not final.is_dir() or any(final.iterdir())):
            raise OutputError(f"{final}: exists and is not an empty folder; results are never overwritten")
    else:
        parent = Path(results_root) / scenario.name
        base = _run_id(scenario.seed)
        final = parent / base
        suffix = 2
        while final.exists():
            final = parent / f"{base}-{suffix}"
            suffix += 1
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{final.parent}: cannot create ({err.strerror})") from None
    work = final.parent / f".{final.name}.partial-{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    try:
        yield work, final
        if final.exists():
            final.rmdir()  # only ever an empty --out folder: checked above
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


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


def failure_status(err: BaseException, where: str, out: str | None, scheduler: str | None) -> int | None:
    """Report a run that stopped on ``err`` in one line (``where`` starts it) and return the exit
    status; None when ``err`` is not one of the expected ways a run stops (the caller re-raises).

    Nothing is left written in each case: the results folder is only renamed into place at the end.
    """
    if isinstance(err, OutputError):
        print(f"{where}: {'--out' if out is not None else 'results'}: {err}", file=sys.stderr)
        return 2
    if isinstance(err, KeyboardInterrupt):
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    if isinstance(err, OSError | TimeoutError) and scheduler is not None:
        print(f"{where}: --scheduler: lost {scheduler} ({err}); nothing was written", file=sys.stderr)
        return 2
    return None


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file so that it exists either whole or not at all (temporary file, then rename)."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write indented JSON with a final newline."""
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    """Output of a read-only git command in the project's checkout, or None outside one."""
    here = Path(__file__).resolve().parent.parent
    try:
        # --no-optional-locks: never refresh (write) the index of the checkout being recorded.
        done = subprocess.run(["git", "--no-optional-locks", "-C", str(here), *args], capture_output=True,
                              text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _git_commit() -> str | None:
    return _git("rev-parse", "HEAD") or None


def _git_dirty() -> bool | None:
    """Whether tracked files differ from the commit (None when not in a git checkout)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def scenario_sha256(scenario: Scenario) -> str:
    """SHA-256 of the resolved scenario exactly as written to ``scenario.yaml``."""
    return hashlib.sha256(scenario_yaml(scenario).encode("utf-8")).hexdigest()


def provenance(scenario: Scenario, argv: list[str], wall_seconds: float, patients_simulated: int,
               workers: int) -> dict[str, Any]:
    """What ``run.json`` records: enough to reproduce the run and to know what produced it.

    ``scenario_sha256`` hashes ``scenario.yaml`` (the resolved scenario, seed included), so a
    re-run with ``command_line`` from ``working_directory`` can be checked against it.
    """
    commit = _git_commit()
    return {
        "scenario": scenario.name,
        "scenario_sha256": scenario_sha256(scenario),
        "seed": scenario.seed,
        "replications": scenario.replications,
        "patients_per_arm": scenario.cohort.size,
        "arms": scenario.arm_names,
        "patients_simulated": patients_simulated,
        "command_line": argv,
        "working_directory": os.getcwd(),
        "workers": workers,
        "wall_seconds": round(wall_seconds, 3),
        "finished_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "versions": {
            "python": platform.python_version(),
            "cle-sim": _version("cle-sim"),
            "simpy": _version("simpy"),
            "numpy": _version("numpy"),
            "pandas": _version("pandas"),
            "scipy": _version("scipy"),
            "pydantic": _version("pydantic"),
        },
        "git_commit": commit,
        "git_dirty": _git_dirty() if commit is not None else None,
        "platform": platform.platform(),
    }
