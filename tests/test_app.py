"""The web app without a browser: forms from the schema, checks with the command line's messages, folders, runs.

The browser tests (``test_app_browser.py``) drive the page; these pin the parts it is built from,
each against the command line (the same messages, the same folder) or a hand-made case.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
import yaml

from sim.app.forms import NOT_SET, Field, command_line, edits_from, fields_of, flow_text, limits_text
from sim.app.jobs import Job, Runner
from sim.spec.load import read_yaml, scenario_json_schema

ROOT = Path(__file__).resolve().parent.parent
LOW_DOSE = ROOT / "scenarios" / "low_dose.yaml"
SKIP = ("seed", "replications", "cohort.size")


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The command line's exit status and standard error (run in this process)."""
    from sim.cli import main

    capsys.readouterr()
    status = main(args)
    return status, capsys.readouterr().err


def _fields(path: Path = LOW_DOSE) -> dict[str, Field]:
    return {f.path: f for f in fields_of(scenario_json_schema(), read_yaml(path), skip=SKIP)}


def test_the_form_has_a_field_for_every_value_of_the_file_and_only_those_the_schema_knows() -> None:
    """Every leaf of low_dose.yaml (but the run's size and seed) is a field, at its own path, with its value."""
    data = read_yaml(LOW_DOSE)
    fields = _fields()

    def leaves(node: object, prefix: str = "") -> dict[str, object]:
        if isinstance(node, dict) and not ("distribution" in node and prefix):
            out: dict[str, object] = {}
            for key, value in node.items():
                out.update(leaves(value, f"{prefix}.{key}" if prefix else key))
            return out
        return {prefix: node}

    expected = {p: v for p, v in leaves(data).items() if p not in SKIP}
    present = {p: f.value for p, f in fields.items() if f.present}
    assert present == expected
    assert fields["therapies.thalidomide_100.after_maintenance"].choices == ("continue", "stop", "taper", "reduce")
    time = fields["therapies.lenalidomide_5.response.time_to_response"]
    assert time.kind == "distribution" and "weibull" in time.choices
    assert [p.key for p in time.variants["lognormal"]] == ["median", "sigma"]


def test_every_field_of_the_shipped_scenarios_says_what_it_means_and_numbers_say_their_unit() -> None:
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        for field in _fields(path).values():
            assert field.description, f"{path.name}: {field.path} has no description"
            if field.kind == "text" and isinstance(field.value, float):
                assert field.unit, f"{path.name}: {field.path} has no unit"


def test_units_and_ranges_in_words() -> None:
    """Units come from the schema's x-unit; a distribution's parameters are in the unit of the quantity it describes
    (weeks for a time, grams for a cumulative-dose threshold), its shape parameters in their own."""
    fields = _fields()
    assert fields["therapies.thalidomide_100.relapse.after_stop.probability"].unit == "probability, 0 to 1"
    time = fields["therapies.lenalidomide_5.response.time_to_response"]
    assert time.unit == "weeks"
    assert [(p.key, p.unit) for p in time.variants["lognormal"]] == [("median", "weeks"), ("sigma", "log scale")]
    threshold = fields["therapies.thalidomide_100.adverse_events.neuropathy.cumulative_dose_g"]
    assert threshold.unit == "g" and [p.unit for p in threshold.variants["lognormal"]] == ["g", "log scale"]
    assert fields["therapies.thalidomide_100.dose_mg_per_day"].unit == "mg/day"
    assert limits_text({"minimum": 0, "maximum": 1}) == "0 to 1"
    assert limits_text({"exclusiveMinimum": 0}) == "above 0"
    assert limits_text({"minimum": 1, "exclusiveMaximum": 5}) == "at least 1, below 5"


@pytest.mark.parametrize("value", [0.0274, 1e-05, 130, "a: b", "yes", [2, 4, 8], {"distribution": "fixed", "value": 3}])
def test_a_value_typed_as_shown_reads_back_as_itself(value: object) -> None:
    from sim.spec.paths import parse_set_option

    assert parse_set_option(f"x={flow_text(value)}")[1] == value


def test_edits_are_the_set_options_that_turn_the_file_into_what_the_form_shows() -> None:
    fields = fields_of(scenario_json_schema(), read_yaml(LOW_DOSE), skip=SKIP)
    entered = {
        "therapies.lenalidomide_5.response.probability": "0.85",  # changed
        "therapies.thalidomide_100.max_courses": "3",  # as in the file: no edit
        "therapies.standard.response.time_to_response": "exponential",  # another distribution: replaced whole
        "therapies.standard.response.time_to_response.mean": "4",
        "therapies.standard.response.retreatment_probability": "",  # not in the file, left empty
        "therapies.standard.after_maintenance": "stop",
        "description": "a: b",  # a string is taken as it is typed
    }
    edits = edits_from(fields, entered)
    assert edits == [("description", "'a: b'"),
                     ("therapies.standard.response.time_to_response", "{distribution: exponential, mean: 4}"),
                     ("therapies.standard.after_maintenance", "stop"),
                     ("therapies.lenalidomide_5.response.probability", "0.85")]
    assert command_line("scenarios/low_dose.yaml", [("--seed", 3)], edits[-1:]) == \
        "python run.py scenarios/low_dose.yaml --seed 3 --set therapies.lenalidomide_5.response.probability=0.85"
    assert edits_from(fields, {}) == []


def test_a_choice_left_out_of_the_file_shows_its_default_or_stays_unset() -> None:
    schema = {"properties": {
        "tail": {"enum": ["a", "b"], "type": "string", "default": "a"},
        "mode": {"anyOf": [{"enum": ["x", "y"], "type": "string"}, {"type": "null"}], "default": None},
        "rate_per_year": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}], "default": None,
                          "x-unit": "per year"}}}
    tail, mode, rate = fields_of(schema, {})
    assert (tail.kind, tail.present, tail.text, tail.choices) == ("choice", False, "a", ("a", "b"))
    assert (mode.kind, mode.text, mode.choices) == ("choice", "", (NOT_SET, "x", "y"))
    assert (rate.kind, rate.text, rate.unit, rate.limits) == ("text", "", "per year", "at least 0")
    assert edits_from([tail, mode, rate], {"tail": "a", "mode": NOT_SET, "rate_per_year": ""}) == []
    assert edits_from([tail, mode, rate], {"tail": "b", "mode": "y", "rate_per_year": "0.1"}) == [
        ("tail", "b"), ("mode", "y"), ("rate_per_year", "0.1")]


def test_checks_give_the_command_lines_messages_and_name_an_upload_as_uploaded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.app.sources import check_scenario, load_source, save_upload

    text = ("name: bad\nseed: 1\nfollow_up_weeks: -3\ncohort: {size: 10}\nreference_arm: a\narms: {a: [t]}\n"
            "therapies: {t: {drug: d, response: {probability: 2, complete_probability: 0.5, time_to_response: 3}}}\n")
    kept = save_upload(tmp_path / "kept", "../my scenario.yaml", text.encode())
    assert kept.parent == tmp_path / "kept" and kept.name == "my_scenario.yaml"
    source = load_source("my scenario.yaml", kept, uploaded=True)
    scenario, problems = check_scenario(source, [], [])
    (tmp_path / "my scenario.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    status, said = _cli(["check", "my scenario.yaml"], capsys)
    assert status == 2 and scenario is None and problems == said.splitlines() and len(problems) == 2
    monkeypatch.chdir(ROOT)
    shipped = load_source("scenarios/low_dose.yaml", Path("scenarios/low_dose.yaml"))
    scenario, problems = check_scenario(shipped, [], [("seed", ""), ("therapies.nope.max_courses", "2")])
    status, said = _cli(["check", "scenarios/low_dose.yaml", "--set", "seed=", "--set",
                         "therapies.nope.max_courses=2"], capsys)
    assert status == 2 and scenario is None and problems == said.splitlines() and len(problems) == 2


@pytest.fixture(scope="module")
def cli_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``run.py`` writes for a small run of the main scenario."""
    from sim.cli import main

    out = tmp_path_factory.mktemp("cli") / "run"
    assert main([str(LOW_DOSE), "--patients", "20", "--replications", "2", "--seed", "4", "--out", str(out),
                 "--quiet", "--workers", "1"]) == 0
    return out


def test_a_folder_is_read_zipped_and_compared_as_written(cli_folder: Path, tmp_path: Path) -> None:
    from sim.app.folders import differences, find_folders, read_folder, report_parts, zip_folder

    view = read_folder(cli_folder)
    assert view.kind == "run" and view.info["seed"] == 4
    assert list(view.headline) == ["Per arm: mean (95% interval)", "Difference from standard (95% interval)"]
    assert [f.name for f in view.figures] == sorted(p.name for p in (cli_folder / "figures").glob("*.png"))
    images = [part for kind, part in report_parts(view.report, cli_folder) if kind == "image"]
    assert len(images) == len(view.figures) and all(Path(i).is_file() for i in images)
    archive = zipfile.ZipFile(BytesIO(zip_folder(cli_folder)))
    files = sorted(p for p in cli_folder.rglob("*") if p.is_file())
    assert archive.namelist() == [f"run/{p.relative_to(cli_folder).as_posix()}" for p in files]
    assert all(archive.read(f"run/{p.relative_to(cli_folder).as_posix()}") == p.read_bytes() for p in files)
    assert zip_folder(cli_folder) == zip_folder(cli_folder)
    other = tmp_path / "results" / "low_dose" / "other"
    other.parent.mkdir(parents=True)
    (tmp_path / "results" / "low_dose" / ".hidden.partial-1").mkdir()
    (tmp_path / "results" / "unfinished.partial").mkdir()
    data = yaml.safe_load((cli_folder / "scenario.yaml").read_text(encoding="utf-8"))
    data["seed"], data["cohort"]["size"], data["therapies"]["standard"]["max_courses"] = 9, 30, 1.5
    other.mkdir()
    (other / "scenario.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    (other / "run.json").write_text("{}", encoding="utf-8")
    assert find_folders(tmp_path / "results") == [other]
    changed = differences(cli_folder, other)
    assert changed.values.tolist() == [["seed", "4", "9"], ["cohort.size", "20", "30"],
                                       ["therapies.standard.max_courses", "1", "1.5"]]


def test_a_sweep_folder_is_browsed_by_its_tornado_and_points(tmp_path: Path) -> None:
    """"Open a results folder" on a sweep: read as a sweep, with the tornado and the points as written."""
    import pandas as pd
    from conftest import small_sweep

    import sim
    from sim.app.folders import read_folder

    folder = sim.sweep(small_sweep(tmp_path), patients=10, replications=2).save(tmp_path / "sweep", plots=False)
    view = read_folder(folder)
    assert view.kind == "sweep"
    assert list(view.headline) == ["Tornado: effect of each parameter", "Every point"]
    pd.testing.assert_frame_equal(view.headline["Tornado: effect of each parameter"].reset_index(drop=True),
                                  pd.read_csv(folder / "tornado.csv").reset_index(drop=True))
    assert {"sweep.csv", "tornado.csv", "design.csv"} <= set(view.tables)


def test_a_folder_that_is_not_one_is_a_message(tmp_path: Path) -> None:
    from sim.app.folders import read_folder
    from sim.outputs.folders import FolderError

    with pytest.raises(FolderError, match="no such results folder"):
        read_folder(tmp_path / "missing")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "run.json").write_text(json.dumps({"kind": "run"}), encoding="utf-8")
    with pytest.raises(FolderError, match="not a finished run folder \\(missing scenario.yaml, patients.csv"):
        read_folder(tmp_path / "half")


def test_a_damaged_folder_is_a_message_naming_the_file_not_its_tables(cli_folder: Path, tmp_path: Path) -> None:
    """The page showed a folder whose scenario.yaml was edited or whose table was cut as if it were fine.
    It checks the folder as ``run.py plot`` does (every time it changes: the check is cached by each
    file's size and time) and gives one line naming the file instead of the tables."""
    import shutil

    from sim.app.folders import read_folder
    from sim.outputs.folders import FolderError

    folder = tmp_path / "run"
    shutil.copytree(cli_folder, folder)
    assert read_folder(folder).kind == "run"  # whole: read (and its check cached)
    scenario = (folder / "scenario.yaml").read_text(encoding="utf-8")
    assert "follow_up_weeks: 130" in scenario
    (folder / "scenario.yaml").write_text(scenario.replace("follow_up_weeks: 130", "follow_up_weeks: 52"),
                                          encoding="utf-8")
    with pytest.raises(FolderError) as caught:
        read_folder(folder)
    assert str(caught.value) == (f"{folder}: scenario.yaml: not the scenario that ran (its scenario_sha256 in "
                                 f"run.json differs); changed after the run?")
    (folder / "scenario.yaml").write_text(scenario, encoding="utf-8")
    assert read_folder(folder).kind == "run"
    events = (folder / "events.csv").read_bytes()
    (folder / "events.csv").write_bytes(events[:len(events) // 2])
    with pytest.raises(FolderError, match=f"^{folder}: events.csv: {len(events) // 2} bytes, but run.json records "
                                          f"{len(events)}: cut short"):
        read_folder(folder)


def _wait(job: Job, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while job.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not job.active


def test_runs_take_turns_a_queued_run_can_be_cancelled_and_a_failure_is_a_message(tmp_path: Path,
                                                                                   cli_folder: Path) -> None:
    """One queue: the second run waits for the first; cancelled in the queue, it never starts; a results folder
    that cannot be written is the command line's message; the finished run's folder is the command line's."""
    runner = Runner()
    runner.workers = 1
    spec = {"kind": "run", "file": str(LOW_DOSE), "options": [["cohort.size", 20], ["replications", 2], ["seed", 4]],
            "edits": [], "results_root": str(tmp_path / "results"), "argv": ["app"]}
    first = runner.submit(Job("run", "first", spec))
    queued = runner.submit(Job("run", "queued", spec))
    blocked = tmp_path / "a file"
    blocked.write_text("", encoding="utf-8")
    failing = runner.submit(Job("run", "failing", {**spec, "results_root": str(blocked)}))
    assert queued.state == "queued" and runner.ahead(queued) == 1
    queued.cancel()
    _wait(first)
    _wait(queued)
    _wait(failing)
    assert first.state == "done" and queued.state == "cancelled" and queued.process is None
    assert first.folder is not None and first.folder.parent == tmp_path / "results" / "low_dose"
    for name in ("patients.csv", "events.csv", "summary.csv", "comparison.csv", "survival.csv"):
        assert (first.folder / name).read_bytes() == (cli_folder / name).read_bytes()
    assert json.loads((first.folder / "run.json").read_text(encoding="utf-8"))["workers"] == 1
    assert failing.state == "failed" and len(failing.problems) == 1
    assert failing.problems[0].startswith(f"error: {blocked}") and "Traceback" not in failing.problems[0]


def test_the_app_command_refuses_a_port_in_use_and_the_core_never_loads_the_app(
        capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        said = _cli(["app", "--port", str(port)], capsys)
    assert said == (2, f"error: run.py app: --port: 127.0.0.1:{port} is in use; choose another with --port N\n")
    assert _cli(["app", "--port", "70000", "--workers", "0"], capsys) == (2, (
        "error: run.py app: --workers: must be at least 1, got 0\n"
        "error: run.py app: --port: must be between 1 and 65535, got 70000\n"))
    probe = ("import sys, sim, sim.cli, sim.studies.run, sim.studies.sweep, sim.studies.trial\n"
             "from sim.cli import main\n"
             "main(['check', 'scenarios/low_dose.yaml'])\n"
             "print(sorted(m for m in sys.modules if m.startswith(('sim.app', 'streamlit'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=120)
    assert loaded.stdout.strip().splitlines()[-1] == "[]"
