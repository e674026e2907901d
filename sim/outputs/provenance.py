"""Provenance: what every results folder's ``run.json`` records (versions, seed, command, wall time, hashes)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.spec.scenario import Scenario

__all__ = ["KINDS", "SCHEMA_VERSION", "provenance", "run_id", "scenario_sha256", "version"]

SCHEMA_VERSION = 1
"""The version of the layout of results folders, recorded in every ``run.json``."""

KINDS = ("run", "sweep", "trial", "validation")
"""What wrote a results folder, recorded as ``kind`` in its ``run.json``."""


def run_id(seed: int) -> str:
    """A new folder name: the local time and the seed."""
    return f"{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-seed{seed}"


def version(package: str) -> str | None:
    """An installed package's version, or None."""
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
    from sim.outputs.tables import scenario_yaml  # pandas: not for the commands that only check or clean

    return hashlib.sha256(scenario_yaml(scenario).encode("utf-8")).hexdigest()


def provenance(scenario: Scenario, argv: list[str], wall_seconds: float, patients_simulated: int,
               workers: int, kind: str = "run") -> dict[str, Any]:
    """What ``run.json`` records: enough to reproduce the run and to know what produced it.

    ``scenario_sha256`` hashes ``scenario.yaml`` (the resolved scenario, seed included), so a
    re-run with ``command_line`` from ``working_directory`` can be checked against it.
    """
    commit = _git_commit()
    return {
        "kind": kind,
        "schema_version": SCHEMA_VERSION,
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
            "cle-sim": version("cle-sim"),
            "simpy": version("simpy"),
            "numpy": version("numpy"),
            "pandas": version("pandas"),
            "scipy": version("scipy"),
            "pydantic": version("pydantic"),
            "lifelines": version("lifelines"),
            "matplotlib": version("matplotlib"),
        },
        "git_commit": commit,
        "git_dirty": _git_dirty() if commit is not None else None,
        "platform": platform.platform(),
    }
