"""Results folders: created under a temporary name and renamed only when complete; read back only when checked.

One error type, FolderError, for a folder that cannot be created, written or trusted.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sim.outputs.provenance import KINDS, run_id, scenario_sha256
from sim.spec.scenario import Scenario

__all__ = ["REQUIRED_FILES", "FolderError", "missing_files", "check_scenario", "folder_kind", "folder_problem",
           "new_run_dir", "run_info", "write_json", "write_text_atomic"]


REQUIRED_FILES: dict[str, tuple[str, ...]] = {
    "run": ("scenario.yaml", "patients.csv", "summary.csv", "comparison.csv", "run.json"),
    "sweep": ("scenario.yaml", "sweep.yaml", "design.csv", "points/", "run.json"),
    "trial": ("trial.yaml", "scenario.yaml", "power.csv", "trials.csv", "run.json"),
    "validation": ("validation.csv", "run.json"),
}
"""What a finished folder of each kind holds besides its derived tables, figures and report (a name
ending in / is a folder)."""


def missing_files(folder: Path, kind: str) -> list[str]:
    """The files (and folders) of ``REQUIRED_FILES[kind]`` that ``folder`` lacks."""
    return [name for name in REQUIRED_FILES[kind]
            if not ((folder / name.rstrip("/")).is_dir() if name.endswith("/") else (folder / name).is_file())]


class FolderError(Exception):
    """A results folder that cannot be created, written, or used as a complete results folder.

    ``option`` names the command-line option whose folder it is (``--out``, ``--resume``), if any.
    """

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


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
            raise FolderError(f"{final}: exists and is not an empty folder; results are never overwritten")
    else:
        parent = Path(results_root) / scenario.name
        base = run_id(scenario.seed)
        final = parent / base
        suffix = 2
        while final.exists():
            final = parent / f"{base}-{suffix}"
            suffix += 1
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FolderError(f"{final.parent}: cannot create ({err.strerror})") from None
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
