"""The files the page works on: shipped scenario, sweep and trial files, uploads, and their checks.

Every check calls the same loaders as the command line with the same arguments, so a problem reads
exactly as ``python run.py FILE [options]`` prints it; an uploaded file is named as it was
uploaded (as if run from its own folder), not by where the page keeps it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.spec.base import ScenarioError
from sim.spec.load import load_scenario, read_yaml
from sim.spec.paths import parse_set_option
from sim.spec.scenario import Scenario

__all__ = ["REPOSITORY", "Source", "check_scenario", "check_sweep", "check_trial", "load_source", "save_upload",
           "shipped"]

REPOSITORY = Path(__file__).resolve().parents[2]
"""The checkout the package runs from (``pip install -e .``): its ``scenarios/`` are the shipped files."""

FOLDERS = {"scenario": ("scenarios", "scenarios/validation"), "sweep": ("scenarios/sweeps",),
           "trial": ("scenarios/trials",)}


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def shipped(kind: str) -> list[str]:
    """The shipped files of a kind ('scenario', 'sweep' or 'trial'), as paths to type (from the checkout, or from
    the working directory when the package is installed elsewhere)."""
    home = REPOSITORY if (REPOSITORY / "scenarios").is_dir() else Path.cwd()
    found: list[str] = []
    for folder in FOLDERS[kind]:
        found += [_shown(p) for p in sorted((home / folder).glob("*.yaml"))]
    return found


@dataclass(frozen=True)
class Source:
    """A file the page works on: ``display`` names it in messages and commands, ``path`` is where it is read."""

    display: str
    path: Path
    raw: dict[str, Any]
    uploaded: bool = False

    @property
    def token(self) -> str:
        """A name for the file's form widgets: its stem, and for an upload a hash of where it is kept (so a new
        upload of the same name starts a fresh form)."""
        stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(self.display).stem)
        if not self.uploaded:
            return stem
        return f"upload_{stem}_{hashlib.sha256(str(self.path).encode()).hexdigest()[:8]}"

    def named(self, problems: Sequence[str]) -> list[str]:
        """Problems with the file named as the user knows it."""
        return [p.replace(str(self.path), self.display) for p in problems]


def load_source(display: str, path: Path, uploaded: bool = False) -> Source:
    """Read a file; ScenarioError (with the file named as ``display``) when it is not YAML mapping."""
    try:
        raw = read_yaml(path)
    except ScenarioError as err:
        raise ScenarioError([p.replace(str(path), display) for p in err.problems]) from None
    return Source(display, path, raw, uploaded)


def save_upload(folder: Path, name: str, content: bytes) -> Path:
    """Keep an uploaded file under its own name (its last component, made safe) in ``folder``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(name).name) or "upload.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe
    target.write_bytes(content)
    return target


def _parsed_edits(source: Source, edits: Sequence[tuple[str, str]], problems: list[str]) -> list[tuple[str, Any]]:
    """``--set`` texts read as the command line reads them; their problems appended as it prints them."""
    parsed: list[tuple[str, Any]] = []
    for path, text in edits:
        try:
            parsed.append(parse_set_option(f"{path}={text}"))
        except ScenarioError as err:
            problems.extend(f"error: {source.display}: {p}" for p in err.problems)
    return parsed


def check_scenario(source: Source, options: Sequence[tuple[str, Any]],
                   edits: Sequence[tuple[str, str]]) -> tuple[Scenario | None, list[str]]:
    """The scenario that ``run.py FILE`` with these options (``cohort.size``, ``replications``,
    ``seed``) and ``--set`` edits would run, or its problems as the command line prints them."""
    for kind in ("sweep", "trial"):
        if kind in source.raw:
            return None, [f"error: {source.display}: a {kind} file (it has '{kind}:'); the shipped {kind} files run "
                          f"from the {'Sweep' if kind == 'sweep' else 'Trial planning'} tab"]
    problems: list[str] = []
    parsed = _parsed_edits(source, edits, problems)
    try:
        scenario = load_scenario(source.path, [*options, *parsed])
    except ScenarioError as err:
        return None, problems + source.named(err.problems)
    return (None, problems) if problems else (scenario, [])


def check_trial(source: Source, seed: int | None, edits: Sequence[tuple[str, str]]) -> tuple[Any, list[str]]:
    """The trial plan ``run.py TRIAL.yaml [--seed N] --set ...`` would run, or its problems."""
    from sim.studies.trial import load_trial

    overrides: list[str | tuple[str, Any]] = [f"{path}={text}" for path, text in edits]
    if seed is not None:
        overrides.append(("seed", seed))
    try:
        return load_trial(source.path, overrides), []
    except ScenarioError as err:
        return None, source.named(err.problems)


def check_sweep(source: Source, replications: int | None, patients: int | None,
                seed: int | None) -> tuple[Any, list[str]]:
    """The prepared sweep ``run.py SWEEP.yaml --replications R --patients N --seed S`` would run, or its problems."""
    from sim.studies.sweep import prepare

    try:
        return prepare(source.path, [], replications, patients, seed), []
    except ScenarioError as err:
        return None, source.named(err.problems)
