"""Results folders as the page shows them: found, told apart by kind, read into tables, figures and report, zipped.

Only reads: a folder is shown as its files are, whoever wrote it (the page, ``run.py`` or the
Python API), once it is checked as ``run.py plot`` checks it; a folder that cannot be read or
trusted (a table cut short, ``scenario.yaml`` changed after the run) is one clear message, never a
crash.
"""

from __future__ import annotations

import functools
import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sim.outputs.folders import FolderError, check_run_folder, require_finished, results_kind, run_info

__all__ = ["FolderView", "ROWS_SHOWN", "differences", "find_folders", "read_folder", "report_parts", "zip_folder"]

ROWS_SHOWN = 1000
"""Rows of a large table (patients, events, trials) read for display."""

_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


@dataclass
class FolderView:
    """What the page shows of a results folder: its kind, headline tables, other tables, figures and report."""

    path: Path
    kind: str
    info: dict[str, Any]
    headline: dict[str, pd.DataFrame]
    tables: list[str]
    figures: list[Path]
    report: str
    notes: list[str] = field(default_factory=list)


def find_folders(root: Path, depth: int = 3) -> list[Path]:
    """Finished results folders (with a ``run.json``) under ``root``, newest first; unfinished ones are skipped."""
    found: list[Path] = []

    def visit(folder: Path, level: int) -> None:
        try:
            children = [c for c in folder.iterdir() if c.is_dir() and not c.name.startswith(".")]
        except OSError:
            return
        for child in children:
            if child.name.endswith(".partial"):
                continue
            if (child / "run.json").is_file():
                found.append(child)
            elif level < depth:
                visit(child, level + 1)

    if root.is_dir():
        visit(root, 1)
    return sorted(found, key=lambda p: (p.stat().st_mtime, str(p)), reverse=True)


def _csv(path: Path, rows: int | None = None) -> pd.DataFrame:
    try:
        return pd.read_csv(path, nrows=rows, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise FolderError(f"{path.parent}: {path.name}: cannot be read ({type(err).__name__})") from None


def _headline(path: Path, kind: str, info: dict[str, Any]) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The tables a reader looks at first, formatted as the report formats them."""
    notes: list[str] = []
    if kind == "run":
        from sim.studies.run.report import arm_table, comparison_table

        summary, comparison = pd.read_csv(path / "summary.csv"), pd.read_csv(path / "comparison.csv")
        tables = {"Per arm: mean (95% interval)": arm_table(summary)}
        if len(comparison):
            reference = info.get("reference_arm") or _reference(path)
            tables[f"Difference from {reference} (95% interval)"] = comparison_table(comparison)
        return tables, notes
    if kind == "trial":
        # power.csv as written (its columns depend on the design); the report has the worded table
        smallest = info.get("smallest_size_reaching_target")
        notes.append("Smallest size reaching the target power: "
                     + (f"{smallest} patients per arm" if smallest else "none of the sizes simulated"))
        return {"Power at each size (power.csv, with its 95% interval)": _csv(path / "power.csv").round(3)}, notes
    if kind == "sweep":
        tables = {}
        for name, title in (("tornado.csv", "Tornado: effect of each parameter"),
                            ("sensitivity.csv", "Sensitivity indices"), ("psa.csv", "Probabilistic sensitivity"),
                            ("sweep.csv", "Every point")):
            if (path / name).is_file():
                tables[title] = _csv(path / name, ROWS_SHOWN)
        return tables, notes
    return {"Validation": _csv(path / "validation.csv")}, notes


def _reference(path: Path) -> str:
    try:
        data = yaml.safe_load((path / "scenario.yaml").read_text(encoding="utf-8"))
        return str(data.get("reference_arm", "the reference arm"))
    except (OSError, yaml.YAMLError, AttributeError):
        return "the reference arm"


def _signature(path: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time of every file of a folder (and of ``points/``): a change to any of
    them makes the folder one to check again."""
    entries = []
    for folder in (path, path / "points"):
        try:
            with os.scandir(folder) as found:
                for entry in found:
                    if entry.is_file():
                        stat = entry.stat()
                        entries.append((os.path.relpath(entry.path, path), stat.st_size, stat.st_mtime_ns))
        except OSError:
            continue
    return tuple(sorted(entries))


@functools.lru_cache(maxsize=64)
def _checked(path: Path, kind: str, signature: tuple[tuple[str, int, int], ...]) -> None:
    """FolderError unless the folder passes the checks ``run.py plot`` makes for its kind (cached by the
    folder's ``signature``: the page is drawn again on every click, the files are read once)."""
    try:
        if kind == "run":
            check_run_folder(path)
        elif kind == "sweep":
            from sim.studies.sweep import read_folder as read_sweep

            read_sweep(path)
        elif kind == "trial":
            from sim.studies.trial import read_folder as read_trial

            read_trial(path)
        else:
            from sim.studies.validate.folder import check_folder

            check_folder(path)
    except (KeyError, ValueError, TypeError, IndexError, UnicodeDecodeError) as err:
        raise FolderError(f"{path}: unreadable results ({type(err).__name__}: {str(err)[:200]})") from None


def read_folder(path: Path) -> FolderView:
    """A results folder of any kind, read for display; FolderError when it is not one or cannot be read."""
    kind = results_kind(path)
    require_finished(path, kind)
    _checked(path, kind, _signature(path))
    info = run_info(path)
    try:
        headline, notes = _headline(path, kind, info)
    except (KeyError, ValueError, pd.errors.ParserError) as err:
        raise FolderError(f"{path}: unreadable results ({type(err).__name__}: {err})") from None
    figures = sorted((path / "figures").glob("*.png")) if (path / "figures").is_dir() else []
    figures += sorted(path.glob("*.png"))
    report = (path / "report.md").read_text(encoding="utf-8") if (path / "report.md").is_file() else ""
    tables = sorted(p.name for p in path.glob("*.csv"))
    return FolderView(path, kind, info, headline, tables, figures, report, notes)


def read_table(path: Path, name: str) -> tuple[pd.DataFrame, bool]:
    """A table of a folder for display (at most ``ROWS_SHOWN`` rows) and whether it has more."""
    frame = _csv(path / name, ROWS_SHOWN + 1)
    return frame.head(ROWS_SHOWN), len(frame) > ROWS_SHOWN


def report_parts(report: str, folder: Path) -> list[tuple[str, str]]:
    """``report.md`` cut into ('markdown', text) and ('image', file) parts, so its figures show in place."""
    parts: list[tuple[str, str]] = []
    last = 0
    for match in _IMAGE.finditer(report):
        parts.append(("markdown", report[last:match.start()]))
        target = (folder / match.group(2)).resolve()
        if target.is_file() and folder.resolve() in target.parents:
            parts.append(("image", str(target)))
        last = match.end()
    parts.append(("markdown", report[last:]))
    return [(k, v) for k, v in parts if k == "image" or v.strip()]


def zip_folder(path: Path) -> bytes:
    """The folder as a zip holding ``NAME/...``, every file as written (in order: the same folder, the same zip)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{path.name}/{file.relative_to(path).as_posix()}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, file.read_bytes())
    return buffer.getvalue()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def differences(first: Path, second: Path) -> pd.DataFrame:
    """The values of ``scenario.yaml`` that differ between two folders: columns ``value``, ``first``, ``second``."""
    values = []
    for folder in (first, second):
        try:
            values.append(_flatten(yaml.safe_load((folder / "scenario.yaml").read_text(encoding="utf-8")) or {}))
        except (OSError, yaml.YAMLError):
            values.append({})
    paths = list(dict.fromkeys([*values[0], *values[1]]))
    rows = [(p, str(values[0].get(p, "(not set)")), str(values[1].get(p, "(not set)"))) for p in paths
            if values[0].get(p, "(not set)") != values[1].get(p, "(not set)")]
    return pd.DataFrame(rows, columns=["value", "first", "second"], dtype=str)
