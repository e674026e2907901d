"""Shared builders: small in-memory scenarios with fixed or simple distributions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from sim.engine.simulate import simulate
from sim.outputs.text import WIDTH
from sim.spec.load import validate_scenario
from sim.spec.paths import deep_merge as _merge
from sim.spec.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _a_terminal_of_full_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands see a terminal of ``WIDTH`` (100) columns, whatever runs the tests: pytest in an 80-column
    terminal, or pytest-xdist, which sets ``COLUMNS`` to 80 in its workers. A test of another width sets its own."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))


def therapy(**changes: Any) -> dict[str, Any]:
    """A therapy that always responds at week 2 and is in remission at week 6, then continues."""
    base: dict[str, Any] = {
        "drug": "drug_a",
        "dose_mg_per_day": 10,
        "response": {
            "probability": 1.0,
            "complete_probability": 1.0,
            "time_to_response": 2,
            "time_to_complete": 4,
        },
        "after_maintenance": "continue",
    }
    return _merge(base, changes)


def scenario(therapies: dict[str, dict[str, Any]], arms: dict[str, list[str]] | None = None,
             **changes: Any) -> Scenario:
    """A validated scenario of the given therapies (one arm per therapy unless ``arms`` is given)."""
    data: dict[str, Any] = {
        "name": "test",
        "seed": 12345,
        "replications": 1,
        "follow_up_weeks": 100,
        "cohort": {"size": 1},
        "arms": arms if arms is not None else {name: [name] for name in therapies},
        "therapies": therapies,
    }
    data["reference_arm"] = next(iter(data["arms"]))
    data = _merge(data, changes)
    return validate_scenario(Path("<test>"), data)


def run(s: Scenario, arm: str | None = None, replication: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patients and events of one arm as DataFrames."""
    arm = arm if arm is not None else s.reference_arm
    result = simulate(s, arm, replication)
    events = pd.DataFrame(result.event_columns)
    return pd.DataFrame(result.patients), events


def timeline(events: pd.DataFrame, patient: int = 0) -> list[tuple[float, str, str, str]]:
    """One patient's events as (week, event, therapy, detail)."""
    rows = events[events["patient"] == patient]
    return [(r.week, r.event, r.therapy, r.detail) for r in rows.itertuples()]


@pytest.fixture
def low_dose() -> Scenario:
    from sim.spec.load import load_scenario

    return load_scenario(ROOT / "scenarios" / "low_dose.yaml")


def small_sweep(folder: Path) -> Path:
    """A sweep file in ``folder``: scenarios/sweeps/one_way_weakest.yaml cut to its first two parameters at two
    levels each (five points), on scenarios/low_dose.yaml."""
    data = yaml.safe_load((ROOT / "scenarios" / "sweeps" / "one_way_weakest.yaml").read_text(encoding="utf-8"))
    data["base"] = str(ROOT / "scenarios" / "low_dose.yaml")
    data["sweep"]["parameters"] = dict(list(data["sweep"]["parameters"].items())[:2])
    data["sweep"]["levels"] = 2
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
