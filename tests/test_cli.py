"""The command line's commands for sweep and trial files: check and schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT

from sim.cli import main


@pytest.mark.parametrize("path, words", [
    ("scenarios/sweeps/one_way_weakest.yaml", "one_way sweep of 9 parameters, 28 points"),
    ("scenarios/trials/time_to_relapse.yaml", "trial thalidomide vs lenalidomide"),
    ("scenarios/case_mix.yaml", "3 arms"),
])
def test_check_understands_each_kind_of_file(path, words, capsys):
    assert main(["check", str(ROOT / path)]) == 0
    # The line wraps at 100 columns, and where it wraps depends on the length of the path.
    assert words in " ".join(capsys.readouterr().out.split())


def test_check_reports_a_bad_sweep_path(tmp_path: Path, capsys):
    sweep = tmp_path / "bad.yaml"
    sweep.write_text(f"base: {ROOT / 'scenarios' / 'low_dose.yaml'}\n"
                     "sweep:\n  method: one_way\n  levels: 2\n  replications: 2\n  parameters:\n"
                     "    therapies.lenalidomide_5.relapse.after_stop.probabilty: {low: 0.1, high: 0.9}\n")
    assert main(["check", str(sweep)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {sweep}: ") and "probabilty" in err and "Traceback" not in err


def test_set_changes_a_sweep_files_own_block_as_it_does_a_trial_files(capsys):
    """``--set sweep.KEY`` changes the sweep block (every other path the base scenario), validated like the file."""
    path = ROOT / "scenarios/sweeps/psa_cost_effectiveness.yaml"
    assert main(["check", str(path), "--set", "sweep.samples=60", "--set", "cohort.size=20"]) == 0
    assert "psa sweep of 33 parameters, 60 points" in " ".join(capsys.readouterr().out.split())
    assert main(["check", str(path), "--set", "sweep.smaples=3"]) == 2
    assert capsys.readouterr().err == f"error: {path}: sweep.smaples: unknown key 'smaples' (did you mean 'samples'?)\n"


def test_check_reports_a_bad_trial_set(capsys):
    assert main(["check", str(ROOT / "scenarios/trials/time_to_relapse.yaml"), "--set", "trial.alpha=2"]) == 2
    assert "trial.alpha" in capsys.readouterr().err


@pytest.mark.parametrize("kind, keys", [
    ([], {"name", "seed", "cohort", "arms", "therapies"}),
    (["sweep"], {"base", "sweep"}),
    (["trial"], {"base", "trial"}),
])
def test_schema_of_each_file_kind(kind, keys, capsys):
    assert main(["schema", *kind]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert keys <= set(schema["properties"])
