"""Provenance: run.json records what produced a run, and the recorded command reproduces it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sim.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEED = 4242
TABLES = ["scenario.yaml", "patients.csv", "events.csv", "summary.csv", "comparison.csv"]
COMMAND = ["scenarios/low_dose.yaml", "--seed", str(SEED), "--patients", "50", "--replications", "2",
           "--no-plots", "--quiet"]


def _run(out: Path, command: list[str] = COMMAND) -> Path:
    assert main([*command, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # the command names the scenario relative to the project
        return _run(tmp_path_factory.mktemp("provenance") / "first")


def test_run_json_records_provenance(first_run: Path) -> None:
    record = json.loads((first_run / "run.json").read_text(encoding="utf-8"))
    for key in ("scenario_sha256", "seed", "versions", "git_commit", "command_line", "wall_seconds",
                "patients_simulated"):
        assert key in record, key
    for package in ("python", "simpy", "numpy", "pandas", "cle-sim"):
        assert record["versions"].get(package), package
    assert record["seed"] == SEED
    assert record["command_line"][0] == "run.py"
    assert record["command_line"][1:] == [*COMMAND, "--out", str(first_run)]
    assert record["wall_seconds"] > 0
    assert record["patients_simulated"] == 2 * 3 * 50
    scenario_bytes = (first_run / "scenario.yaml").read_bytes()
    assert record["scenario_sha256"] == hashlib.sha256(scenario_bytes).hexdigest()
    if (ROOT / ".git").exists():
        assert record["git_commit"] and len(record["git_commit"]) == 40


def test_same_command_gives_identical_tables(first_run: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    second = _run(tmp_path / "second")
    for name in TABLES:
        assert (first_run / name).read_bytes() == (second / name).read_bytes(), name


def test_recorded_command_reproduces_the_run(first_run: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-run exactly what run.json says (seed and command line), only into a new folder."""
    record = json.loads((first_run / "run.json").read_text(encoding="utf-8"))
    command = list(record["command_line"][1:])
    command[command.index("--out") + 1] = str(tmp_path / "again")
    command[command.index("--seed") + 1] = str(record["seed"])
    monkeypatch.chdir(record.get("working_directory", ROOT))
    assert main(command) == 0
    again = tmp_path / "again"
    for name in TABLES:
        assert (first_run / name).read_bytes() == (again / name).read_bytes(), name
    assert json.loads((again / "run.json").read_text(encoding="utf-8"))["scenario_sha256"] == record["scenario_sha256"]
