"""Results folders: created under a temporary name and renamed only when complete; read back only when checked.

One error type, FolderError, for a folder that cannot be created, written or trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.outputs.claims import FolderError, claim_exact, claim_new, write_problem
from sim.outputs.provenance import KINDS, run_id, scenario_sha256
from sim.spec.base import ScenarioError
from sim.spec.load import load_scenario
from sim.spec.scenario import Scenario

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["REQUIRED_FILES", "Digest", "FolderError", "RecordedFile", "check_files", "check_run_folder",
           "check_scenario", "folder_kind", "folder_problem", "missing_files", "new_run_dir", "read_run_table",
           "require_finished", "results_kind", "run_info", "write_bytes_atomic", "write_json", "write_recorded",
           "write_text_atomic"]


REQUIRED_FILES: dict[str, tuple[str, ...]] = {
    "run": ("scenario.yaml", "patients.csv|patients.parquet", "summary.csv", "comparison.csv", "run.json"),
    "sweep": ("scenario.yaml", "sweep.yaml", "design.csv", "points/", "run.json"),
    "trial": ("trial.yaml", "scenario.yaml", "power.csv", "trials.csv", "run.json"),
    "validation": ("validation.csv", "run.json"),
}
"""What a finished folder of each kind holds besides its derived tables, figures and report (a name
ending in / is a folder; ``a|b``: either)."""


def missing_files(folder: Path, kind: str) -> list[str]:
    """The files (and folders) of ``REQUIRED_FILES[kind]`` that ``folder`` lacks."""
    return [name.split("|")[0] for name in REQUIRED_FILES[kind]
            if not ((folder / name.rstrip("/")).is_dir() if name.endswith("/")
                    else any((folder / option).is_file() for option in name.split("|")))]


@contextmanager
def new_run_dir(scenario: Scenario, out: str | Path | None = None,
                results_root: str | Path = "results") -> Iterator[tuple[Path, Path]]:
    """Yield ``(work, final)``: write into ``work``; it becomes ``final`` only if the block succeeds.

    ``final`` is ``out`` when given (it must not exist, or be an empty folder), else a new folder
    ``results_root/<scenario name>/<run id>``. The name is claimed before the block runs (see
    ``sim.outputs.claims``): no other command can take it meanwhile, and FolderError says so at
    once when it cannot be had or written. If the block fails, nothing is left under either name,
    unless ``run.json`` was already written (the data files are then complete): the folder is then
    kept as ``NAME.unfinished`` and the FolderError says where. A failure to write is a FolderError
    naming the file and the reason (a full disk, the limit on file size).
    """
    if out is not None:
        claim = claim_exact(Path(out), option="--out")
    else:
        claim = claim_new(Path(results_root) / scenario.name, run_id(scenario.seed))
    work, final = claim.work, claim.final
    try:
        yield work, final
    except BaseException as err:
        complete = (work / "run.json").is_file()
        if isinstance(err, Exception) and not isinstance(err, FolderError) and complete:
            kept = claim.keep()
            if isinstance(err, OSError | MemoryError):
                reason = write_problem(err, work, final) if isinstance(err, OSError) else "out of memory"
                raise FolderError(f"{reason}; the simulated tables are complete and kept in {kept} (python run.py "
                                  f"plot {kept} finishes that folder)") from None
            err.add_note(f"The simulated tables are complete and kept in {kept}.")
            raise
        claim.abandon()
        if isinstance(err, OSError):
            raise FolderError(f"{write_problem(err, work, final)}; nothing was written") from None
        raise
    claim.commit()


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file so that it exists either whole or not at all (temporary file, then rename)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write a file so that it exists either whole or not at all (temporary file, then rename)."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as err:  # a signal (KeyboardInterrupt) while writing leaves no temporary file either
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise OSError(err.errno, err.strerror, str(path)) from None
        raise


class Digest:
    """The size, SHA-256 and line count of a file, taken as it is written, for the ``files`` of ``run.json``."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0
        self.lines = 0

    def update(self, data: bytes) -> bytes:
        """Count ``data`` (written next) and return it."""
        self._hash.update(data)
        self.size += len(data)
        self.lines += data.count(b"\n")
        return data

    @classmethod
    def of_file(cls, path: Path) -> Digest:
        """The digest of a file already written (read back a megabyte at a time)."""
        digest = cls()
        with open(path, "rb") as handle:
            while piece := handle.read(1 << 20):
                digest.update(piece)
        return digest

    def record(self, name: str) -> dict[str, Any]:
        """What ``run.json`` records of the file: bytes, sha256 and, for a table, its rows (lines but the header)."""
        entry: dict[str, Any] = {"bytes": self.size, "sha256": self._hash.hexdigest()}
        if name.endswith(".csv"):
            entry["rows"] = max(0, self.lines - 1)
        return entry


class RecordedFile:
    """A file written piece by piece and recorded as it goes (``Digest``); a failed write names the file."""

    def __init__(self, path: Path):
        self.path = path
        self.digest = Digest()
        self._handle = open(path, "wb")  # closed by close() or at the end of the with block

    def write(self, text: str) -> None:
        """Append UTF-8 text."""
        data = self.digest.update(text.encode("utf-8"))
        try:
            self._handle.write(data)
        except OSError as err:
            raise OSError(err.errno, err.strerror, str(self.path)) from None

    def close(self) -> dict[str, Any]:
        """Flush and close; the file's record for ``run.json``."""
        try:
            self._handle.close()
        except OSError as err:
            raise OSError(err.errno, err.strerror, str(self.path)) from None
        return self.digest.record(self.path.name)

    def __enter__(self) -> RecordedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._handle.closed:
            try:
                self._handle.close()
            except OSError:
                if exc[0] is None:
                    raise


def write_recorded(path: Path, text: str, files: dict[str, dict[str, Any]]) -> None:
    """Write a UTF-8 text file and add its record to ``files`` (by file name)."""
    digest = Digest()
    path.write_bytes(digest.update(text.encode("utf-8")))
    files[path.name] = digest.record(path.name)


def check_files(run_dir: Path, info: dict[str, Any]) -> None:
    """FolderError unless every file ``run.json`` records under ``files`` is there, whole and unchanged.

    Sizes are compared first (a table cut short is found without reading it), then SHA-256. A
    ``run.json`` without ``files`` (written before they were recorded) is not checked.
    """
    files = info.get("files")
    if files is None:
        return
    if not isinstance(files, dict):
        raise FolderError(f"{run_dir}: run.json: files: not a record of the folder's files")
    for name, entry in files.items():
        path = run_dir / str(name)
        if not isinstance(entry, dict) or os.sep in str(name) or str(name).startswith("."):
            raise FolderError(f"{run_dir}: run.json: files: {str(name)[:60]!r}: not a record of a file")
        if not path.is_file():
            raise FolderError(f"{run_dir}: {name}: missing (run.json records it)")
        size = path.stat().st_size
        if size != entry.get("bytes"):
            raise FolderError(f"{run_dir}: {name}: {size} bytes, but run.json records {entry.get('bytes')}: cut "
                              f"short or changed after the run; run it again")
        digest = Digest()
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        if digest.record(name)["sha256"] != entry.get("sha256"):
            raise FolderError(f"{run_dir}: {name}: not the file the run wrote (its sha256 differs from run.json's); "
                              f"changed after the run?")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write indented JSON with a final newline."""
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


SWEEP_MARKERS = ("sweep.yaml", "design.csv", "points")
"""Files (and the folder ``points/``) only a sweep folder has."""


TRIAL_MARKERS = ("trial.yaml", "trials.csv", "power.csv")
"""Files only a trial-planning folder has."""


def folder_problem(run_dir: Path, err: Exception) -> FolderError:
    """``RUN_DIR: FILE: problem`` from an error about a file of the folder (the first of its problems)."""
    problems = [str(p) for p in getattr(err, "problems", None) or [str(err)]]
    first = problems[0].removeprefix("error: ").removeprefix(f"{run_dir}{os.sep}")
    more = len(problems) - 1
    if more:
        first += f" (and {more} more problem{'s' if more > 1 else ''})"
    return FolderError(f"{run_dir}: {first}")


def run_info(run_dir: Path) -> dict[str, Any]:
    """A folder's ``run.json`` (only read), or FolderError naming it."""
    try:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise FolderError(f"{run_dir}: run.json: cannot be read ({type(err).__name__})") from None
    if not isinstance(info, dict):
        raise FolderError(f"{run_dir}: run.json: not the provenance of a run (a JSON object)")
    return info


def check_scenario(run_dir: Path, info: dict[str, Any], scenario: Scenario) -> None:
    """FolderError unless ``scenario.yaml`` (read back as ``scenario``) is the scenario ``run.json`` says ran.

    Compared by ``scenario_sha256``: a value changed after the run is refused, a mere reformatting is
    not. A ``run.json`` without the hash is not checked.
    """
    recorded = info.get("scenario_sha256")
    if recorded is not None and recorded != scenario_sha256(scenario):
        raise FolderError(f"{run_dir}: scenario.yaml: not the scenario that ran (its scenario_sha256 in run.json "
                          f"differs); changed after the run?")


def check_run_folder(path: Path) -> None:
    """FolderError unless a run's folder can be trusted: ``scenario.yaml`` is the scenario that ran
    (``scenario_sha256`` in ``run.json``) and every data file is whole and unchanged (its size and
    SHA-256 in ``run.json``). A folder from before the files were recorded must at least have
    tables that end with a whole row. What ``run.py plot``, ``sim.read_run_table`` and the web app
    check before they read a run's folder."""
    info = run_info(path)
    try:
        scenario = load_scenario(path / "scenario.yaml")
    except ScenarioError as err:
        raise folder_problem(path, err) from None
    check_scenario(path, info, scenario)
    if "files" in info:
        check_files(path, info)
        return
    for name in ("patients.csv", "events.csv"):
        table = path / name
        if table.is_file() and table.stat().st_size:
            with open(table, "rb") as handle:
                handle.seek(-1, 2)
                if handle.read(1) != b"\n":
                    raise FolderError(f"{path}: {name}: cut short (its last row is not whole); run it again")


def results_kind(path: Path) -> str:
    """The kind of the results folder ``path`` (:func:`folder_kind`); FolderError when there is no such folder."""
    if not path.is_dir():
        raise FolderError(f"{path}: no such results folder")
    return folder_kind(path)


def require_finished(path: Path, kind: str) -> None:
    """FolderError unless ``path`` holds every file a finished folder of ``kind`` has."""
    missing = missing_files(path, kind)
    if missing:
        raise FolderError(f"{path}: not a finished {kind} folder (missing {', '.join(missing)})")


def folder_kind(run_dir: Path) -> str:
    """Which command wrote a results folder: ``kind`` in its ``run.json`` (one of ``KINDS``).

    A folder written before ``run.json`` recorded its kind is told by its files ('sweep', 'trial'
    or 'run'). A folder with files of both a sweep and trial planning is refused (FolderError),
    whatever its ``run.json`` says: it is neither.
    """
    info = run_info(run_dir) if (run_dir / "run.json").is_file() else {}
    sweep = [name for name in SWEEP_MARKERS if (run_dir / name).exists()]
    trial = [name for name in TRIAL_MARKERS if (run_dir / name).exists()]
    if sweep and trial:
        raise FolderError(f"{run_dir}: not a results folder: it holds files of a sweep ({', '.join(sweep)}) and of "
                          f"trial planning ({', '.join(trial)})")
    kind = info.get("kind")
    if kind is not None:
        if kind not in KINDS:
            raise FolderError(f"{run_dir}: run.json: kind {kind!r} is none of {', '.join(KINDS)}")
        return str(kind)
    if sweep:
        return "sweep"
    return "trial" if trial else "run"


def read_run_table(run_dir: str | Path, name: str) -> pd.DataFrame:
    """A run's folder's ``patients`` or ``events`` table, from its CSV or Parquet file (``sim.read_run_table``).

    ``name`` is ``"patients"`` or ``"events"``; whichever of ``name.parquet`` (``--format parquet``) and
    ``name.csv`` the folder holds is read, with the same columns and values. The folder is checked
    first as ``run.py plot`` checks it (``check_run_folder``): a folder that is not a finished run's,
    whose ``scenario.yaml`` was changed after the run, or whose data file was cut short or changed
    raises ``FolderError`` naming the file, rather than giving part of the rows.
    """
    if name not in ("patients", "events"):
        raise ValueError(f"unknown table {name!r}; expected 'patients' or 'events'")
    folder = Path(run_dir)
    kind = results_kind(folder)
    if kind != "run":
        raise FolderError(f"{folder}: a {kind} folder, not a run's: it has no patients or events table")
    require_finished(folder, kind)
    check_run_folder(folder)
    import pandas as pd  # only here: the commands that check or clean a folder do without it

    from sim.engine.records import EVENT_COLUMNS
    from sim.outputs.tables import read_events, read_patients, table_path

    path = table_path(folder, name)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pandas()
    if not path.is_file() and name == "events":
        return pd.DataFrame(columns=EVENT_COLUMNS)
    return read_patients(path) if name == "patients" else read_events(path)
