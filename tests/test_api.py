"""The Python API: results in memory that write nothing, and folders identical to the command line's."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import small_sweep

import sim
from sim.cli import main
from sim.outputs.folders import FolderError, folder_kind
from sim.outputs.provenance import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent
LOW_DOSE = ROOT / "scenarios" / "low_dose.yaml"
DATA_SKIPPED = {"run.json", "report.md"}  # provenance and its echo in the report: timings and the command line


def data_files(folder: Path) -> dict[str, str]:
    """SHA-256 of each data file of a results folder (figures, run.json and report.md aside)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in DATA_SKIPPED and "figures" not in p.parts}


def cli(*arguments: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*arguments, "--workers", "1", "--quiet"]) == 0


@pytest.fixture(scope="module")
def small_run() -> sim.RunResult:
    return sim.run(LOW_DOSE, patients=40, replications=2, seed=11)


def test_run_returns_tables_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = sim.run(LOW_DOSE, patients=20, replications=2, overrides=["cohort.loss_to_follow_up_per_year=0.1"])
    assert list(tmp_path.iterdir()) == []
    assert len(result.patients) == 2 * 3 * 20
    assert set(result.patients["arm"]) == {"standard", "thalidomide", "lenalidomide"}
    for table in (result.events, result.summary, result.comparison, result.survival, result.curves,
                  result.occupancy):
        assert isinstance(table, pd.DataFrame) and len(table)
    assert result.scenario.cohort.loss_to_follow_up_per_year == 0.1
    assert {"arm", "metric", "mean", "ci_low", "ci_high"} <= set(result.summary.columns)


def test_save_writes_what_the_command_line_writes(small_run: sim.RunResult, tmp_path: Path) -> None:
    saved = small_run.save(tmp_path / "api", plots=False)
    cli(str(LOW_DOSE), "--patients", "40", "--replications", "2", "--seed", "11", "--no-plots",
        "--out", str(tmp_path / "cli"))
    api, command = data_files(saved), data_files(tmp_path / "cli")
    assert api == command
    assert "patients.csv" in api and "survival.csv" in api and "state_occupancy.csv" in api
    info = json.loads((saved / "run.json").read_text(encoding="utf-8"))
    assert (info["kind"], info["schema_version"]) == ("run", SCHEMA_VERSION)


def test_save_refuses_to_overwrite(small_run: sim.RunResult, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(FolderError, match="exists and is not an empty folder"):
        small_run.save(tmp_path / "taken")
    assert (tmp_path / "taken" / "mine.txt").read_text(encoding="utf-8") == "keep"


def test_plot_draws_every_figure_of_the_folder(small_run: sim.RunResult) -> None:
    from sim.studies.run.figures import FIGURES

    figures = small_run.plot()
    assert list(figures) == [f for f in FIGURES if f != "cost_effectiveness.png"]  # no economics here
    for name, figure in figures.items():
        assert figure.axes and all(ax.has_data() or ax.texts or not ax.get_visible() for ax in figure.axes), name


def test_a_scenario_object_and_its_file_give_the_same_results() -> None:
    scenario = sim.load_scenario(LOW_DOSE)
    a = sim.run(scenario, patients=15, replications=1)
    b = sim.run(LOW_DOSE, patients=15, replications=1)
    pd.testing.assert_frame_equal(a.patients, b.patients)


def test_bad_options_raise_a_scenario_error() -> None:
    with pytest.raises(sim.ScenarioError) as caught:
        sim.run(LOW_DOSE, overrides=["therapies.thalidomide_100.response.probability=1.3"])
    assert "must be between 0 and 1, got 1.3" in caught.value.problems[0]


def test_sweep_in_memory_and_saved_like_the_command_line(tmp_path: Path) -> None:
    path = small_sweep(tmp_path)
    result = sim.sweep(path, patients=20, replications=2)
    assert result.tornado is not None and len(result.table) == len(result.design) * 3
    saved = result.save(tmp_path / "api", plots=False)
    cli(str(path), "--patients", "20", "--replications", "2", "--no-plots", "--out", str(tmp_path / "cli"))
    assert data_files(saved) == data_files(tmp_path / "cli")
    assert folder_kind(saved) == "sweep"
    info = json.loads((saved / "run.json").read_text(encoding="utf-8"))
    assert (info["kind"], info["schema_version"]) == ("sweep", SCHEMA_VERSION)  # recorded, not guessed from files
    assert set(result.plot()) == {f"{kind}_{outcome}.png" for kind in ("tornado", "one_way")
                                  for outcome in ("disease_free_weeks", "dropout")}


def test_trial_in_memory_and_saved_like_the_command_line(tmp_path: Path) -> None:
    path = ROOT / "scenarios" / "trials" / "complete_response_12.yaml"
    options = ["trial.simulations=20", "trial.patients_per_arm=[10, 20]"]
    result = sim.trial(path, overrides=options)
    assert list(result.power["patients_per_arm"]) == [10, 20]
    saved = result.save(tmp_path / "api", plots=False)
    cli(str(path), *[f"--set={o}" for o in options], "--no-plots", "--out", str(tmp_path / "cli"))
    assert data_files(saved) == data_files(tmp_path / "cli")
    assert folder_kind(saved) == "trial"
    info = json.loads((saved / "run.json").read_text(encoding="utf-8"))
    assert (info["kind"], info["schema_version"]) == ("trial", SCHEMA_VERSION)
    assert result.plot().axes


def test_plot_dispatches_on_the_kind_recorded_in_run_json(small_run: sim.RunResult, tmp_path: Path) -> None:
    saved = small_run.save(tmp_path / "run", plots=False)
    info = json.loads((saved / "run.json").read_text(encoding="utf-8"))
    info["kind"] = "experiment"
    (saved / "run.json").write_text(json.dumps(info), encoding="utf-8")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        assert main(["plot", str(saved)]) == 2
    assert "kind 'experiment' is none of run, sweep, trial, validation" in stderr.getvalue()
