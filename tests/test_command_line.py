"""The run command's options and ways of ending: --help, a bare run.py, --no-events, --event-sample, the
default results folder, an interrupt (exit status 130), and the shipped step-up scenario."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest
from conftest import ROOT
from fault_helpers import foreground

from sim.cli import main

LOW_DOSE = ROOT / "scenarios" / "low_dose.yaml"
SMALL = ["--replications", "2", "--patients", "30", "--no-plots", "--quiet", "--workers", "1"]


def command(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "100", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *arguments], cwd=cwd or ROOT, env=environment,
                          capture_output=True, text=True, timeout=120, check=False)


def test_help_lists_every_option_and_the_exit_statuses_within_100_columns():
    done = command("--help")
    assert done.returncode == 0 and done.stderr == ""
    text = done.stdout
    assert text.startswith("usage: run.py")
    for option in ("--replications", "--patients", "--seed", "--set", "--out", "--workers", "--scheduler",
                   "--event-sample", "--resume", "--no-plots", "--no-events", "--precision", "--max-replications",
                   "--quiet"):
        assert option in text, option
    assert "exit status: 0 done, 2 bad input" in text and "130 interrupted" in text
    assert "python run.py scenarios/low_dose.yaml" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_bare_run_prints_the_usage_and_one_error_line_with_status_2(tmp_path: Path):
    done = command(cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0].startswith("usage: run.py")
    assert lines[-1].startswith("error: run.py: give a scenario, sweep or trial file, or a command (see --help")
    assert len(lines[-1]) <= 100
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def run_quietly(*arguments: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return main(list(arguments))


def test_no_events_keeps_the_header_and_leaves_the_patients_unchanged(tmp_path: Path):
    assert run_quietly(str(LOW_DOSE), *SMALL, "--out", str(tmp_path / "with")) == 0
    assert run_quietly(str(LOW_DOSE), *SMALL, "--no-events", "--out", str(tmp_path / "without")) == 0
    with_events = (tmp_path / "with" / "events.csv").read_text(encoding="utf-8").splitlines()
    without = (tmp_path / "without" / "events.csv").read_text(encoding="utf-8").splitlines()
    assert without == with_events[:1] == ["replication,arm,patient,week,event,therapy,detail"]
    assert len(with_events) > 100
    for name in ("patients.csv", "summary.csv", "comparison.csv"):
        assert (tmp_path / "with" / name).read_bytes() == (tmp_path / "without" / name).read_bytes(), name


def test_event_sample_logs_the_first_patients_of_each_arm_and_replication_only(tmp_path: Path):
    assert run_quietly(str(LOW_DOSE), *SMALL, "--out", str(tmp_path / "all")) == 0
    assert run_quietly(str(LOW_DOSE), *SMALL, "--event-sample", "4", "--out", str(tmp_path / "sample")) == 0
    every = pd.read_csv(tmp_path / "all" / "events.csv")
    sample = pd.read_csv(tmp_path / "sample" / "events.csv")
    assert set(sample["patient"]) == {0, 1, 2, 3}
    assert set(zip(sample["replication"], sample["arm"], strict=True)) == set(
        zip(every["replication"], every["arm"], strict=True))  # every arm and replication has its four
    expected = every[every["patient"] < 4].reset_index(drop=True)
    pdt.assert_frame_equal(sample, expected)  # the same events the full log has for those patients
    assert (tmp_path / "all" / "patients.csv").read_bytes() == (tmp_path / "sample" / "patients.csv").read_bytes()


def test_without_out_a_run_writes_a_new_folder_under_results_and_never_overwrites(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch):
    """Run ids are the start time to the second and the seed; a second run in the same second gets
    the suffix -2 (the clock is held still here to make the collision happen)."""
    from sim.outputs import folders as folders_module

    monkeypatch.chdir(tmp_path)
    assert run_quietly(str(LOW_DOSE), *SMALL) == 0
    [made] = (tmp_path / "results" / "low_dose").iterdir()
    assert re.fullmatch(r"\d{8}-\d{6}-seed20121207", made.name), made.name
    monkeypatch.setattr(folders_module, "run_id", lambda seed: made.name)
    assert run_quietly(str(LOW_DOSE), *SMALL) == 0
    folders = sorted((tmp_path / "results" / "low_dose").iterdir())
    assert [f.name for f in folders] == [made.name, f"{made.name}-2"]
    first, second = folders
    for folder in folders:
        for name in ("scenario.yaml", "patients.csv", "events.csv", "summary.csv", "comparison.csv", "survival.csv",
                     "survival_curves.csv", "state_occupancy.csv", "report.md", "run.json"):
            assert (folder / name).is_file(), (folder, name)
    assert (first / "patients.csv").read_bytes() == (second / "patients.csv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_an_interrupt_exits_130_and_leaves_nothing_written(tmp_path: Path):
    """SIGINT while the patients are being simulated (patients.csv of the unfinished folder is growing)."""
    out = tmp_path / "run"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, str(ROOT / "run.py"), str(LOW_DOSE), "--replications", "400",
                                "--patients", "500", "--workers", "1", "--no-plots", "--quiet", "--out", str(out)],
                               cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=foreground)
    try:
        deadline = time.monotonic() + 60
        while True:
            partial = list(tmp_path.glob(".run.partial-*/patients.csv"))
            if partial and partial[0].stat().st_size > 10_000:
                break
            assert process.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted: nothing was written"
    assert "Traceback" not in stderr and stdout == ""
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its unfinished copy


def test_the_step_up_scenario_moves_non_responders_to_the_second_line_at_week_12(tmp_path: Path):
    """scenarios/sequence.yaml: standard therapy alone, or stepped up to thalidomide or lenalidomide.

    Standard therapy is assessed at week 12: in the standard arm a non-responder stops there with no
    line left; in a step-up arm the same patient (common random numbers) starts the second line at
    week 12. Patients who respond to standard therapy have the same response time in all arms.
    """
    out = tmp_path / "sequence"
    assert run_quietly(str(ROOT / "scenarios" / "sequence.yaml"), "--replications", "1", "--patients", "200",
                       "--no-plots", "--quiet", "--workers", "1", "--out", str(out)) == 0
    events = pd.read_csv(out / "events.csv")
    patients = pd.read_csv(out / "patients.csv").set_index(["arm", "patient"])
    assert list(dict.fromkeys(patients.index.get_level_values("arm"))) == [
        "standard", "step_up_thalidomide", "step_up_lenalidomide"]
    failed = events[(events["event"] == "assessment_failure") & (events["therapy"] == "standard")]
    assert set(failed["week"]) == {12.0}
    standard_failures = set(failed.loc[failed["arm"] == "standard", "patient"])
    assert 60 < len(standard_failures) < 140  # P(no response by week 12) = 0.55 of 200 (SE 7)
    for arm, second in (("step_up_thalidomide", "thalidomide_100"), ("step_up_lenalidomide", "lenalidomide_5")):
        starts = events[(events["arm"] == arm) & (events["event"] == "course_start") & (events["therapy"] == second)]
        at_twelve = set(starts.loc[starts["week"] == 12.0, "patient"])
        assert at_twelve == set(failed.loc[failed["arm"] == arm, "patient"]) == standard_failures
        assert (starts["detail"].str.startswith("line 2")).all()
        responders = patients.loc["standard"]["time_to_response_weeks"].dropna()
        responders = responders[responders <= 12]
        pdt.assert_series_equal(patients.loc[arm]["time_to_response_weeks"].loc[responders.index], responders)
    assert (patients.loc["standard"]["courses"] == 1).all()
    # with no line left, a standard-arm non-responder is off drug from week 12 on
    assert (patients.loc["standard"].loc[sorted(standard_failures), "weeks_on_treatment"] == 12.0).all()
