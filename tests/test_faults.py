"""Faults and hostile inputs, in process: every one ends with one clear line and exit status 2, within
seconds, and loses nothing (README, "What is guaranteed under which fault").

The cases come from an adversarial pass over the command line (``S`` is ``run.py low_dose.yaml
--patients 50 --replications 2 --no-plots --quiet``): destinations that cannot be used or are
taken, hostile files generated here (deep nesting, alias bombs, devices, pipes, huge values),
names that break CSV files, damaged results folders given to ``plot``, sizes beyond the machine,
unusable schedulers, and injected failures (out of memory, a foreign file in a sweep). Faults that
need a process of their own (signals, ``ulimit -f``, read-only folders, concurrent commands) are
in ``test_faults_processes.py``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_helpers import LOW_DOSE, ONE_WAY, ROOT, SMALL, TRIAL, low_dose, one_error, tree, write_scenario

import sim.execute
from sim.cli import budget as cli_budget
from sim.cli import main
from sim.outputs import folders
from sim.outputs.claims import claim_exact, claim_new
from sim.outputs.tables import read_table
from sim.studies.run.folder import check_run_folder
from sim.studies.sweep import read_folder

# --- destinations: checked and claimed before anything runs -------------------------------------


def test_an_out_folder_another_command_holds_is_refused_at_once(tmp_path, monkeypatch, capsys):
    """Issue: two runs with the same --out; the last to finish died and its results were deleted. The
    name is claimed before simulating, so the second command stops at once, and the first is untouched."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    held = claim_exact(out)  # what a first command holds while it runs
    before = tree(tmp_path)
    started = time.monotonic()
    assert main([str(LOW_DOSE), *SMALL, "--out", str(out)]) == 2
    one_error(capsys.readouterr().err, f"--out: {out} is being written by another command")
    assert time.monotonic() - started < 5
    assert tree(tmp_path) == before
    held.abandon()
    assert main([str(LOW_DOSE), *SMALL, "--out", str(out), "--workers", "1"]) == 0
    assert (out / "run.json").is_file() and tree(tmp_path).keys() >= {"out/patients.csv"}
    assert not [name for name in os.listdir(tmp_path) if "partial" in name]


def test_default_folders_started_in_the_same_second_never_collide(tmp_path, monkeypatch, capsys):
    """Issue: two default runs started in the same second wrote the same folder. A name another command
    has claimed is skipped: each run gets its own folder, complete."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(folders, "run_id", lambda seed: f"20990101-120000-seed{seed}")
    stem = f"20990101-120000-seed{low_dose()['seed']}"
    parent = tmp_path / "results" / "low_dose"
    held = claim_new(parent, stem)  # a command started in the same second, still running
    assert main([str(LOW_DOSE), *SMALL, "--workers", "1"]) == 0
    assert main([str(LOW_DOSE), *SMALL, "--workers", "1"]) == 0
    assert (parent / f"{stem}-2" / "run.json").is_file() and (parent / f"{stem}-3" / "run.json").is_file()
    assert held.work.is_dir() and not (parent / stem).exists()
    held.abandon()
    assert sorted(os.listdir(parent)) == [f"{stem}-2", f"{stem}-3"]
    for folder in (f"{stem}-2", f"{stem}-3"):
        check_run_folder(parent / folder)  # whole: what plot checks before it trusts a folder
    capsys.readouterr()


def _symlink_to_empty(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    (tmp / "link").symlink_to("empty")
    return tmp / "link"


def _dangling(tmp: Path) -> Path:
    (tmp / "dangling").symlink_to("nowhere")
    return tmp / "dangling"


def _not_utf8(tmp: Path) -> Path:
    return Path(os.fsdecode(os.fsencode(str(tmp)) + b"/bad\xffname"))  # what Python makes of such an argument


def _under_a_file(tmp: Path) -> Path:
    (tmp / "a_file").write_text("x", encoding="utf-8")
    return tmp / "a_file" / "out"


@pytest.mark.parametrize(("make", "fragment"), [
    (_symlink_to_empty, "is a symbolic link; results are written only to a real folder"),
    (_dangling, "is a symbolic link; results are written only to a real folder"),
    (_not_utf8, "the name is not valid UTF-8 text"),
    (_under_a_file, "a_file is not a folder"),
    (lambda tmp: Path("/proc/sim-fault-test/out"), "/proc/sim-fault-test: cannot create"),
    (lambda tmp: Path("/proc/sim-fault-test"), "/proc: cannot write"),
], ids=["symlink_to_empty_folder", "dangling_symlink", "non_utf8_name", "under_a_file", "under_proc",
        "in_proc"])
@pytest.mark.parametrize("file", [LOW_DOSE, ONE_WAY, TRIAL], ids=["run", "sweep", "trial"])
def test_an_out_that_cannot_be_used_is_refused_before_anything_runs(make, fragment, file, tmp_path, monkeypatch,
                                                                     capsys):
    """Issue: these --out targets gave a traceback after the whole run, results discarded."""
    monkeypatch.chdir(tmp_path)
    out = make(tmp_path)
    before = tree(tmp_path)
    options = SMALL if file == LOW_DOSE else ["--quiet", "--no-plots", "--set", "trial.simulations=10"] if (
        file == TRIAL) else ["--quiet", "--no-plots", "--patients", "10"]
    started = time.monotonic()
    assert main([str(file), *options, "--out", str(out), "--workers", "1"]) == 2
    one_error(capsys.readouterr().err, fragment)
    assert time.monotonic() - started < 10
    assert tree(tmp_path) == before


# --- hostile files ---------------------------------------------------------------------------------


def _billion_laughs(anchor_line: str, use: str) -> str:
    """A valid low_dose.yaml whose ``use`` line refers to 9 levels of 9-fold aliases (387 million values)."""
    levels = ["bomb0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"bomb{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    text = LOW_DOSE.read_text(encoding="utf-8")
    definitions = "x-bombs:\n" + "".join(f"  {line}\n" for line in levels)
    return definitions + text.replace(anchor_line, use, 1)


HOSTILE_FILES = {
    "nested_600_levels": (lambda: "name: x\nseed: [" * 1 + "[" * 600 + "]" * 600 + "]\n", "nested more than 64"),
    "alias_bomb_in_description": (lambda: _billion_laughs("description:", "description: *l8\nold_description:"),
                                  "once its aliases (*name) are expanded"),
    "alias_bomb_in_an_arm": (lambda: _billion_laughs("  standard: [standard]", "  standard: *l8"),
                             "once its aliases (*name) are expanded"),
    "recursive_alias": (lambda: "name: &a [x, *a]\n", "inside the value it names"),
    "larger_than_a_megabyte": (lambda: LOW_DOSE.read_text(encoding="utf-8") + "#" * (1 << 20) + "\n",
                               "larger than the 1048576"),
}


@pytest.mark.parametrize("case", list(HOSTILE_FILES))
@pytest.mark.parametrize("mode", ["check", "run"])
def test_hostile_files_fail_fast_with_one_line(case, mode, tmp_path, monkeypatch, capsys):
    """Issue: a 7 KB file nested 600 levels was a RecursionError; an alias bomb referenced from
    ``description:`` ran 110 s to a MemoryError (its message expanded the input), from an arm list it
    was still running at 60 s. Files are bounded before they are built."""
    monkeypatch.chdir(tmp_path)
    text, fragment = HOSTILE_FILES[case]
    path = tmp_path / "hostile.yaml"
    path.write_text(text(), encoding="utf-8")
    before = tree(tmp_path)
    started = time.monotonic()
    argv = ["check", str(path)] if mode == "check" else [str(path), *SMALL]
    assert main(argv) == 2
    line = one_error(capsys.readouterr().err, f"error: {path}: ", fragment)
    assert time.monotonic() - started < 5 and len(line) < 400
    assert tree(tmp_path) == before


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "scenario.yaml"
    os.mkfifo(path)
    yield path


@pytest.mark.parametrize("where", ["/dev/zero", "/dev/urandom", "fifo", "folder"])
@pytest.mark.parametrize("mode", ["check", "run"])
def test_devices_pipes_and_folders_are_refused_without_reading(where, mode, tmp_path, fifo, monkeypatch, capsys):
    """Issue: ``check /dev/zero`` ran out of memory, ``/dev/urandom`` was read without limit, and a named
    pipe blocked for ever. Only regular files are read."""
    monkeypatch.chdir(tmp_path)
    path = {"fifo": str(fifo), "folder": str(tmp_path)}.get(where, where)
    started = time.monotonic()
    assert main(["check", path] if mode == "check" else [path, *SMALL]) == 2
    kind = {"fifo": "a named pipe", "folder": "a folder"}.get(where, "a device")
    one_error(capsys.readouterr().err, f"error: {path}: cannot be read ({kind}")
    assert time.monotonic() - started < 5


COST_EFFECTIVENESS = ROOT / "scenarios" / "cost_effectiveness.yaml"


def _set(path: str, value: Any) -> list[str]:
    return ["--set", f"{path}={json.dumps(value)}"]


OVERFLOWS = {
    "follow_up_1e308": (["--set", "follow_up_weeks=1e308"], "follow_up_weeks (from --set): must be at most 5200 weeks"),
    "follow_up_1e10": (["--set", "follow_up_weeks=1e10"], "follow_up_weeks (from --set): must be at most 5200 weeks"),
    "gamma_sd_1e-200": (_set("therapies.thalidomide_100.response.time_to_complete",
                             {"distribution": "gamma", "mean": 4, "sd": 1e-200}),
                        "time_to_complete (from --set): parameters out of range: sd 1e-200 and mean 4"),
    "weibull_shape_1e-3": (_set("therapies.standard.response.time_to_response",
                                {"distribution": "weibull", "shape": 0.001, "scale": 2}),
                           "time_to_response (from --set): parameters out of range"),
    "lognormal_sigma_50": (_set("therapies.standard.response.time_to_response",
                                {"distribution": "lognormal", "median": 2, "sigma": 50}),
                           "time_to_response (from --set): parameters out of range"),
    "dose_1e308": (["--set", "therapies.lenalidomide_5.dose_mg_per_day=1e+308"],
                   "therapies.lenalidomide_5.dose_mg_per_day (from --set): must be at most 100000, got 1e+308"),
    "weekly_cost_1e308": (["--set", "therapies.lenalidomide_5.costs.per_week_on_drug=1e+308"],
                          "therapies.lenalidomide_5.costs.per_week_on_drug (from --set): must be at most 1e+12, got "
                          "1e+308", COST_EFFECTIVENESS),
}
"""Each case: --set options, the fragment of the one error line, the scenario (low_dose.yaml unless given)."""


@pytest.mark.parametrize("case", list(OVERFLOWS))
@pytest.mark.parametrize("mode", ["check", "run"])
def test_values_that_overflow_are_refused_at_check(case, mode, tmp_path, monkeypatch, capsys):
    """Issue: ``follow_up_weeks=1e308`` / ``1e10`` failed after simulating (ValueError, MemoryError) and a
    gamma with ``sd: 1e-200`` passed ``check`` and then overflowed; a weekly cost of 1e308 simulated, then
    failed with a traceback (costs not finite), and a dose of 1e308 mg/day ran to exit 0 with every
    cumulative dose 0. Amounts are bounded at 1e12 and doses at 100,000 mg/day."""
    monkeypatch.chdir(tmp_path)
    options, fragment, *given = OVERFLOWS[case]
    file = str(given[0] if given else LOW_DOSE)
    started = time.monotonic()
    argv = ["check", file, *options] if mode == "check" else [file, *SMALL, *options]
    assert main(argv) == 2
    one_error(capsys.readouterr().err, fragment)
    assert time.monotonic() - started < 5
    assert tree(tmp_path) == {}


def test_the_horizon_bound_allows_a_lifetime(capsys):
    """The bound on follow-up is 100 years, not less: a lifetime horizon passes."""
    assert main(["check", str(LOW_DOSE), "--set", "follow_up_weeks=5200"]) == 0
    capsys.readouterr()


def _rename_arm(old: str, new: str) -> dict:
    data = low_dose()
    data["arms"] = {new if name == old else name: lines for name, lines in data["arms"].items()}
    if data["reference_arm"] == old:
        data["reference_arm"] = new
    return data


BAD_NAMES = {
    "empty_arm": (_rename_arm("thalidomide", ""), "arms.: a name must not be empty"),
    "newline_in_arm": (_rename_arm("thalidomide", "thal\nidomide"), "must not hold a line break"),
    "tab_in_drug": ({**low_dose(), "therapies": {**low_dose()["therapies"], "thalidomide_100": {
        **low_dose()["therapies"]["thalidomide_100"], "drug": "thal\tidomide"}}},
        "therapies.thalidomide_100.drug: a name must not hold a line break, tab"),
    "space_around_arm": (_rename_arm("thalidomide", " thalidomide"), "must not begin or end with a space"),
    "long_arm": (_rename_arm("thalidomide", "t" * 101), "at most 100 characters"),
}


@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_names_that_cannot_label_a_table_are_refused(case, tmp_path, monkeypatch, capsys):
    """Issue: an arm named ``""`` failed in lifelines after simulating; a newline in a name broke the CSV
    parser. Names are any printable text (quoted in CSV where needed), not empty, without control
    characters or surrounding spaces."""
    monkeypatch.chdir(tmp_path)
    data, fragment = BAD_NAMES[case]
    path = write_scenario(tmp_path / "names.yaml", data)
    for argv in (["check", str(path)], [str(path), *SMALL]):
        assert main(argv) == 2
        one_error(capsys.readouterr().err, fragment)
    assert sorted(os.listdir(tmp_path)) == ["names.yaml"]


def test_a_huge_value_is_not_echoed(tmp_path, capsys):
    """An error line quotes a value of half a megabyte only in part."""
    data = low_dose()
    data["reference_arm"] = "x" * 500_000
    path = write_scenario(tmp_path / "huge.yaml", data)
    assert main(["check", str(path)]) == 2
    line = one_error(capsys.readouterr().err, "reference_arm", "characters left out")
    assert len(line) < 1000


HOSTILE_BUT_VALID = {"standard": "NA", "thalidomide": 'thal, "the old one"', "lenalidomide": "lénalidomide;#5"}


def test_every_table_reads_back_with_the_same_fields_whatever_the_names(tmp_path, monkeypatch, capsys):
    """Issue: a drug named ``aaa,b`` gave a ``patients.csv`` whose header had 24 fields and rows 23. Every
    table of a run whose arm, therapy and drug names hold commas, quotes, semicolons, accents and
    ``NA`` parses with the csv module to rows as long as its header, and reads back with the names
    unchanged."""
    monkeypatch.chdir(tmp_path)
    data = low_dose()
    data["arms"] = {HOSTILE_BUT_VALID[arm]: lines for arm, lines in data["arms"].items()}
    data["reference_arm"] = HOSTILE_BUT_VALID[data["reference_arm"]]
    data["therapies"]["thalidomide_100"]["drug"] = "aaa,b"
    path = write_scenario(tmp_path / "names.yaml", data)
    out = tmp_path / "out"
    assert main([str(path), "--patients", "30", "--replications", "2", "--quiet", "--workers", "1",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    names = set(HOSTILE_BUT_VALID.values())
    tables = sorted(out.glob("*.csv"))
    assert {p.name for p in tables} >= {"patients.csv", "events.csv", "summary.csv", "comparison.csv",
                                        "survival.csv", "survival_curves.csv", "state_occupancy.csv"}
    for table in tables:
        rows = list(csv.reader(io.StringIO(table.read_text(encoding="utf-8"))))
        assert len(rows) > 1 and {len(row) for row in rows} == {len(rows[0])}, table.name
        frame = read_table(table)
        assert list(frame.columns) == rows[0]
        expected = names - {data["reference_arm"]} if table.name == "comparison.csv" else names
        assert set(frame["arm"]) == expected, table.name
    assert "dose_mg_aaa,b" in read_table(out / "patients.csv").columns
    assert set(read_table(out / "events.csv")["therapy"].dropna()) <= set(data["therapies"])


# --- options beyond the machine -----------------------------------------------------------------


@pytest.mark.parametrize(("argv", "fragment"), [
    ([str(LOW_DOSE), *SMALL, "--event-sample", "-5"], "--event-sample: must be at least 0, got -5"),
    ([str(LOW_DOSE), *SMALL, "--workers", "1000"], "--workers: 1000 is more than the"),
    ([str(ONE_WAY), "--quiet", "--workers", "1000"], "--workers: 1000 is more than the"),
    ([str(TRIAL), "--quiet", "--workers", "1000"], "--workers: 1000 is more than the"),
    (["validate", "--workers", "1000"], "--workers: 1000 is more than the"),
    ([str(LOW_DOSE), "--patients", "50", "--replications", "1000000000", "--quiet"],
     "too large for this machine: 1000000000 replications x 3 arms x 50 patients needs about"),
    ([str(LOW_DOSE), "--patients", "1000000000", "--replications", "2", "--quiet"],
     "too large for this machine: 2 replications x 3 arms x 1000000000 patients needs about"),
    ([str(TRIAL), "--quiet", "--set", "trial.simulations=1000000000"],
     "too large for this machine: 1000000000 simulated trials x 6 sizes"),
    ([str(ONE_WAY), "--quiet", "--patients", "1000000000"], "too large for this machine: "),
], ids=["negative_event_sample", "workers_1000_run", "workers_1000_sweep", "workers_1000_trial",
        "workers_1000_validate", "replications_1e9", "patients_1e9", "trial_simulations_1e9", "sweep_patients_1e9"])
def test_sizes_beyond_the_machine_are_refused_before_anything_runs(argv, fragment, tmp_path, monkeypatch, capsys):
    """Issue: ``--event-sample -5`` exited 0 with empty tables; ``--workers 1000`` started 31 processes on
    2 cores; ``--replications 1000000000`` ran 38 s to a MemoryError; ``--patients 1000000000`` and
    a trial of 10^9 simulations grew without bound."""
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    assert main(argv) == 2
    one_error(capsys.readouterr().err, fragment)
    assert time.monotonic() - started < 10
    assert tree(tmp_path) == {}


def test_the_estimate_names_each_shortfall_and_force_goes_ahead(tmp_path, monkeypatch, capsys):
    """On a machine made small (an estimate above 90% of the memory and disk, a file over ``ulimit -f``),
    one line names all three; --force runs anyway. The estimate is from a pilot of the scenario:
    low_dose's patients.csv has about 140 bytes a row (measured by benchmarks/footprint.py)."""
    monkeypatch.chdir(tmp_path)
    need = cli_budget.run_need(cli_budget_scenario(), log_events=True, event_sample=None, workers=1, plots=False)
    assert 100 * 300 * 2 * 3 < need.disk - cli_budget.FIXED_DISK_BYTES < 1000 * 300 * 2 * 3  # 300 patients' rows
    small = cli_budget.Capacity(memory=need.memory, disk=need.disk, disk_where=tmp_path,
                                file_limit=need.largest_file - 1)
    monkeypatch.setattr(cli_budget, "capacity", lambda destination: small)
    monkeypatch.setattr("sim.cli.common.capacity", lambda destination: small)
    argv = [str(LOW_DOSE), "--patients", "300", "--replications", "2", "--no-plots", "--quiet", "--workers", "1"]
    assert main(argv) == 2
    one_error(capsys.readouterr().err, "of memory (", "of disk (", "for events.csv (files may have at most")
    assert tree(tmp_path) == {}
    assert main([*argv, "--force", "--workers", "3"]) == 0
    assert len(list((tmp_path / "results" / "low_dose").iterdir())) == 1


def cli_budget_scenario() -> Any:
    from sim.spec.load import load_scenario

    return load_scenario(LOW_DOSE, [("cohort.size", 300), ("replications", 2)])


# --- schedulers that are malformed, silent or speak garbage -----------------------------------------


@pytest.fixture
def server() -> Iterator[Any]:
    """Start a TCP server that accepts and then stays silent, or sends garbage; yields a starter."""
    sockets: list[socket.socket] = []

    def start(answer: bytes | None) -> str:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        sockets.append(listener)

        def serve() -> None:
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                sockets.append(connection)
                if answer is not None:
                    connection.sendall(answer)

        threading.Thread(target=serve, daemon=True).start()
        return f"tcp://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for item in sockets:
        item.close()


@pytest.mark.parametrize(("answer", "fragment"), [
    (None, "connected, but no answer within 1.5 s"),
    (b"\xff" * 8 + b"HTTP/1.1 400 Bad Request\r\n\r\n", "it answered, but not as a Dask scheduler does"),
], ids=["silent", "garbage"])
@pytest.mark.parametrize("file", [LOW_DOSE, ONE_WAY, TRIAL], ids=["run", "sweep", "trial"])
def test_a_scheduler_that_is_silent_or_speaks_garbage_fails_within_the_deadline(answer, fragment, file, server,
                                                                                tmp_path, monkeypatch, capsys):
    """Issue: a server that accepts and never answers was still awaited at 400 s (the README promises
    10 s), and one answering garbage made Dask try to allocate 3 EiB after 21 s. The deadline is
    shortened here to 1.5 s."""
    monkeypatch.setattr(sim.execute, "SCHEDULER_CONNECT_SECONDS", 1.5)
    monkeypatch.chdir(tmp_path)
    address = server(answer)
    started = time.monotonic()
    assert main([str(file), "--quiet", "--no-plots", "--scheduler", address]) == 2
    one_error(capsys.readouterr().err, f"--scheduler: cannot connect to {address}: {fragment}")
    assert time.monotonic() - started < 1.5 + 3
    assert tree(tmp_path) == {}


@pytest.fixture(scope="module")
def workerless_scheduler() -> Iterator[str]:
    """A real Dask scheduler, in this process, that no worker has joined."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


@pytest.mark.parametrize("file", [LOW_DOSE, ONE_WAY], ids=["run", "sweep"])
def test_a_scheduler_without_workers_is_named_not_the_destination(file, workerless_scheduler, tmp_path, monkeypatch,
                                                                  capsys):
    """Issue (audit): a scheduler with no workers ended after 14 s with ``--out: cannot write: TimeoutError;
    nothing was written``, blaming the destination. Dask's timeouts are OSErrors; they are now told
    apart: the line names --scheduler and says it has no workers. The wait is shortened here to 1 s."""
    monkeypatch.setattr(sim.execute, "SCHEDULER_CONNECT_SECONDS", 1.0)
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    assert main([str(file), *SMALL, "--scheduler", workerless_scheduler, "--out", "out"]) == 2
    line = one_error(capsys.readouterr().err, f"--scheduler: {workerless_scheduler} has no workers (none joined "
                                              f"within 1 s); start some with: dask worker {workerless_scheduler}")
    assert "--out" not in line and "cannot write" not in line
    assert time.monotonic() - started < 1.0 + 4
    if file == LOW_DOSE:
        assert tree(tmp_path) == {}


@pytest.mark.parametrize(("address", "fragment"), [
    ("tcp://127.0.0.1:99999", "port '99999' is not a number from 1 to 65535"),
    ("tcp://127.0.0.1:0", "port '0' is not a number from 1 to 65535"),
    ("tcp://256.1.1.1:8786", "'256.1.1.1' is not an IPv4 address"),
    ("tcp://1.2.3:8786", "'1.2.3' is not an IPv4 address"),
    ("tcp://[::g]:8786", "'::g' is not an IPv6 address"),
    ("tls://127.0.0.1:8786", "unknown address scheme 'tls'"),
    ("tcp://host name:8786", "'host name' is not a host name"),
])
def test_a_malformed_scheduler_address_is_refused_without_waiting(address, fragment, tmp_path, monkeypatch, capsys):
    """Issue: ``tcp://127.0.0.1:99999`` and ``tcp://256.1.1.1:8786`` waited 10 s and said "Timed out"."""
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    assert main([str(LOW_DOSE), *SMALL, "--scheduler", address]) == 2
    one_error(capsys.readouterr().err, f"--scheduler: not a scheduler address ({fragment}")
    assert time.monotonic() - started < 2


# --- plot trusts no folder it has not checked ---------------------------------------------------


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("plotted") / "run"
    assert main([str(LOW_DOSE), *SMALL, "--workers", "1", "--out", str(folder)]) == 0
    return folder


def _edit_scenario(folder: Path) -> None:
    path = folder / "scenario.yaml"
    text = path.read_text(encoding="utf-8")
    assert "follow_up_weeks: 130" in text
    path.write_text(text.replace("follow_up_weeks: 130", "follow_up_weeks: 52"), encoding="utf-8")


def _cut(name: str, keep: float) -> Any:
    def cut(folder: Path) -> None:
        data = (folder / name).read_bytes()
        end = int(len(data) * keep)
        while data[end - 1:end] == b"\n":  # cut mid-row
            end += 1
        (folder / name).write_bytes(data[:end])

    return cut


def _change_a_value(folder: Path) -> None:
    lines = (folder / "patients.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[1].split(",")
    cells[2] = "7" if cells[2] != "7" else "8"  # same length: only the checksum can tell
    lines[1] = ",".join(cells)
    (folder / "patients.csv").write_text("".join(lines), encoding="utf-8")


def _old_folder_cut(folder: Path) -> None:
    info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    del info["files"]  # a folder from before the files were recorded
    (folder / "run.json").write_text(json.dumps(info), encoding="utf-8")
    _cut("events.csv", 0.5)(folder)


DAMAGE = {
    "scenario_edited": (_edit_scenario, "scenario.yaml: not the scenario that ran"),
    "events_cut_mid_row": (_cut("events.csv", 0.5), "events.csv: ", "bytes, but run.json records"),
    "patients_cut_mid_row": (_cut("patients.csv", 0.5), "patients.csv: ", "bytes, but run.json records"),
    "patients_value_changed": (_change_a_value, "patients.csv: not the file the run wrote"),
    "old_folder_events_cut": (_old_folder_cut, "events.csv: cut short (its last row is not whole)"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_plot_refuses_a_run_folder_that_changed_after_the_run(damage, run_folder, tmp_path, capsys):
    """Issue: ``plot`` on a run folder whose scenario.yaml was edited (130 -> 52 weeks) rewrote
    survival.csv from the wrong horizon; after events.csv was cut mid-row it rebuilt the occupancy from
    half the events; after patients.csv was cut, a traceback. run.json records each data file's size
    and SHA-256, and the scenario's hash; plot checks them first and changes nothing when refusing."""
    folder = tmp_path / "copy"
    shutil.copytree(run_folder, folder)
    change, *fragments = DAMAGE[damage]
    change(folder)
    before = tree(folder)
    capsys.readouterr()
    assert main(["plot", str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    one_error(captured.err, f"error: {folder}: ", *fragments)
    assert tree(folder) == before


def test_plot_refuses_a_trial_folder_whose_table_changed_where_no_other_check_looks(tmp_path, capsys):
    """A trial-planning folder is checked against its tables' counts first; a change those counts
    cannot see (one trial's hazard ratio) is caught by the SHA-256 run.json records."""
    out = tmp_path / "trial"
    assert main([str(TRIAL), "--set", "trial.simulations=20", "--set", "trial.patients_per_arm=[20, 40]",
                 "--no-plots", "--quiet", "--workers", "1", "--out", str(out)]) == 0
    lines = (out / "trials.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[1].split(",")
    assert lines[0].split(",")[4] == "hazard_ratio"
    cells[4] = cells[4][:-1] + ("1" if cells[4][-1] != "1" else "2")
    lines[1] = ",".join(cells)
    (out / "trials.csv").write_text("".join(lines), encoding="utf-8")
    before = tree(out)
    capsys.readouterr()
    assert main(["plot", str(out)]) == 2
    one_error(capsys.readouterr().err, f"error: {out}: trials.csv: not the file the run wrote")
    assert tree(out) == before


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_the_api_refuses_a_run_folder_that_changed_after_the_run(damage, run_folder, tmp_path):
    """``sim.read_run_table`` returned half the rows of a table cut mid-row, and read a folder whose
    scenario.yaml was edited as if it were whole. It checks the folder as ``plot`` does, whichever table
    is asked for (here the one not damaged), and raises FolderError naming the file."""
    import sim

    folder = tmp_path / "copy"
    shutil.copytree(run_folder, folder)
    change, *fragments = DAMAGE[damage]
    change(folder)
    before = tree(folder)
    table = "events" if "patients" in damage else "patients"
    with pytest.raises(folders.FolderError) as caught:
        sim.read_run_table(folder, table)
    message = str(caught.value)
    assert message.startswith(f"{folder}: ") and "\n" not in message
    assert all(fragment in message for fragment in fragments), message
    assert tree(folder) == before


def test_the_api_reads_only_a_finished_run_folder(run_folder, tmp_path):
    """The positive control, and a folder of another kind or an unfinished one refused by name."""
    import sim

    assert len(sim.read_run_table(run_folder, "patients")) == 2 * 3 * 50
    (tmp_path / "trial").mkdir()
    (tmp_path / "trial" / "run.json").write_text(json.dumps({"kind": "trial"}), encoding="utf-8")
    with pytest.raises(folders.FolderError, match="a trial folder, not a run's"):
        sim.read_run_table(tmp_path / "trial", "patients")
    half = tmp_path / "half"
    shutil.copytree(run_folder, half)
    (half / "summary.csv").unlink()
    with pytest.raises(folders.FolderError, match="not a finished run folder \\(missing summary.csv\\)"):
        sim.read_run_table(half, "events")


def _validation_folder(tmp_path: Path, **columns: list[Any]) -> Path:
    """A validation folder as ``run.py validate`` writes it (a table of two rows, with ``columns``; no figure)."""
    import pandas as pd

    from sim.spec.load import load_scenario
    from sim.studies.validate.folder import write_folder

    table = pd.DataFrame({"study": ["9a", "9a"], "outcome": ["response", "time to response"],
                          "unit": ["proportion", "weeks"], "published": [0.87, 4.0], "simulated": [0.8, 4.5],
                          **columns})
    return write_folder(table, {"low_dose": load_scenario(LOW_DOSE)}, str(tmp_path / "validation"), ["validate"],
                        time.perf_counter(), 1, plots=False)


@pytest.mark.parametrize("kind", ["trial", "validation"])
def test_plot_of_a_trial_or_validation_folder_counts_its_one_figure(kind, tmp_path, capsys, monkeypatch):
    """The bar of ``run.py plot`` says it reads, then counts the one figure of a trial or validation folder."""
    import sim.cli.tools as cli_tools

    monkeypatch.setattr(cli_tools, "is_terminal", lambda: True)
    if kind == "trial":
        folder = tmp_path / "trial"
        assert main([str(TRIAL), "--set", "trial.simulations=20", "--set", "trial.patients_per_arm=[20, 40]",
                     "--no-plots", "--quiet", "--workers", "1", "--out", str(folder)]) == 0
    else:  # the columns the figure reads, as run.py validate writes them
        folder = _validation_folder(tmp_path, observed=[0.87, 4.0], simulated_median=[0.8, 4.5],
                                    simulated_low=[0.6, 3.0], simulated_high=[0.95, 6.0],
                                    simulated_overall=[0.81, 4.4], band_low=[0.7, 3.0], band_high=[1.0, 6.0],
                                    criterion=["band", "band"], inside=[True, True])
    capsys.readouterr()
    assert main(["plot", str(folder)]) == 0
    shown = [part for part in capsys.readouterr().err.split("\r") if part.strip()]
    name = folder.name
    assert shown[0] == f"{name}: figures drawn: 0 [00:00, reading the saved tables]"
    assert [part.split(" [")[0] for part in shown[1:]] == [f"{name}: figures drawn: 0", f"{name}: figures drawn: 1"]


def test_plot_refuses_a_validation_folder_whose_table_was_cut(tmp_path, capsys):
    """A validation folder recorded no files in run.json, so nothing could check it; it records each data
    file's size and SHA-256 like the other kinds, and ``plot`` (which redraws its figure from
    validation.csv) refuses one whose table was cut, changing nothing."""
    from sim.studies.validate.folder import check_folder

    folder = _validation_folder(tmp_path)
    recorded = json.loads((folder / "run.json").read_text(encoding="utf-8"))["files"]
    assert sorted(recorded) == ["low_dose.scenario.yaml", "validation.csv"]
    assert recorded["validation.csv"]["rows"] == 2
    check_folder(folder)  # the positive control: the folder as written passes
    _cut("validation.csv", 0.6)(folder)
    before = tree(folder)
    capsys.readouterr()
    assert main(["plot", str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    one_error(captured.err, f"error: {folder}: validation.csv: ", "bytes, but run.json records")
    assert tree(folder) == before

    (folder / "validation.csv").unlink()  # missing: the words every kind of folder uses
    assert main(["plot", str(folder)]) == 2
    one_error(capsys.readouterr().err, f"error: {folder}: not a finished validation folder (missing validation.csv)")


def test_the_checks_pass_on_an_untouched_run_folder(run_folder):
    """The positive control: the same checks pass on the folder as written (test_plots.py redraws one)."""
    check_run_folder(run_folder)


# --- failures while running: nothing half-written, complete tables kept ----------------------------


@pytest.mark.parametrize("writer", ["file", "figure"])
@pytest.mark.parametrize("stop", [KeyboardInterrupt("SIGTERM"), OSError(28, "No space left on device")],
                         ids=["signal", "full disk"])
def test_a_write_stopped_part_way_leaves_the_old_file_and_no_temporary_one(stop, writer, tmp_path, monkeypatch):
    """Files and figures are replaced through a temporary file: a signal (raised as KeyboardInterrupt where the
    program is) or a full disk before the rename leaves the file as it was, and the temporary file is removed."""
    import matplotlib.pyplot as plt

    from sim.plotting import style

    path = tmp_path / "figure.png"
    path.write_bytes(b"old")

    def failing_replace(source: object, target: object) -> None:
        raise stop

    module = folders if writer == "file" else style
    monkeypatch.setattr(module.os, "replace", failing_replace)
    with pytest.raises(type(stop)):
        if writer == "file":
            folders.write_bytes_atomic(path, b"new" * 1000)
        else:
            style.save_figure(plt.figure(), path)
    assert os.listdir(tmp_path) == ["figure.png"] and path.read_bytes() == b"old"


def test_out_of_memory_while_simulating_leaves_nothing(tmp_path, monkeypatch, capsys):
    """Issue: a MemoryError left a hidden .partial-PID folder behind. A run that fails before its data is
    complete removes its work folder and says so in one line."""
    import sim.studies.run.folder as run_folder_module

    real = run_folder_module.simulate_run

    def failing(scenario: Any, sink: Any, **options: Any) -> Any:
        def sink_then_fail(tables: Any) -> None:
            sink(tables)
            raise MemoryError

        return real(scenario, sink_then_fail, **options)

    monkeypatch.setattr(run_folder_module, "simulate_run", failing)
    monkeypatch.chdir(tmp_path)
    assert main([str(LOW_DOSE), *SMALL, "--workers", "1", "--out", "out"]) == 2
    one_error(capsys.readouterr().err, "out of memory; nothing was written")
    assert tree(tmp_path) == {}


def test_a_failure_after_the_data_is_complete_keeps_it_under_a_name_the_error_gives(tmp_path, monkeypatch, capsys):
    """When only the derived tables, figures or report fail (here out of memory), the complete data
    files are kept in ``OUT.unfinished``, named in the error line, and ``plot`` finishes that folder."""
    import sim.studies.run.folder as run_folder_module

    def failing(run_dir: Path, plots: bool = True, tables: Any = None, derived: Any = None) -> None:
        raise MemoryError

    monkeypatch.chdir(tmp_path)
    with monkeypatch.context() as patched:
        patched.setattr(run_folder_module, "finish_folder", failing)
        assert main([str(LOW_DOSE), *SMALL, "--workers", "1", "--out", "out"]) == 2
    line = one_error(capsys.readouterr().err, "out of memory; the simulated tables are complete and kept in "
                                              "out.unfinished")
    assert "python run.py plot out.unfinished" in line
    assert sorted(os.listdir(tmp_path)) == ["out.unfinished"]
    assert main(["plot", "out.unfinished"]) == 0
    assert (tmp_path / "out.unfinished" / "report.md").is_file()
    capsys.readouterr()


# --- sweeps: foreign files, odd folders, a start that failed ------------------------------------------


def _started_sweep(tmp_path: Path, **options: Any) -> tuple[Path, Path]:
    from sim.studies.sweep import open_folder, prepare

    return open_folder(prepare(ONE_WAY, replications=2, patients=10), out=str(tmp_path / "sweep"), **options)


SWEEP_OPTIONS = ["--replications", "2", "--patients", "10", "--quiet", "--no-plots", "--workers", "1"]


def test_resume_leaves_files_it_does_not_own_in_points(tmp_path, capsys):
    """Issue: --resume deleted NOTES.txt and 000001.json.orig from points/. Only the sweep's own
    temporary files are removed; the rest is left where it was and ends up in the finished folder."""
    partial, final = _started_sweep(tmp_path)
    foreign = {"NOTES.txt": b"why I stopped it\n", "000001.json.orig": b"{\"an\": \"old copy\"}\n",
               "subfolder/keep.txt": b"mine\n"}
    for name, content in foreign.items():
        (partial / "points" / name).parent.mkdir(exist_ok=True)
        (partial / "points" / name).write_bytes(content)
    (partial / "points" / f".000002.json.tmp-{2**22 + 1}").write_text("{\"half", encoding="utf-8")  # the sweep's own
    assert main([str(ONE_WAY), *SWEEP_OPTIONS, "--resume", str(partial)]) == 0
    capsys.readouterr()
    for name, content in foreign.items():
        assert (final / "points" / name).read_bytes() == content
    assert not list((final / "points").glob(".*.tmp-*"))
    _, records = read_folder(final)  # a finished, consistent sweep, as plot reads it
    assert len(records) == len(list((final / "points").glob("[0-9]*.json")))


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda points: (points / "000001.json").mkdir(), "points/000001.json: not a file"),
    (lambda points: (points / "000001.json").write_text("{\"point\": 7}", encoding="utf-8"),
     "points/000001.json: holds point 7, not point 1"),
    (lambda points: (points / "000099.json").write_text("{}", encoding="utf-8"),
     "points/000099.json: the design has only"),
], ids=["a_folder_named_like_a_point", "another_sweeps_point", "a_point_beyond_the_design"])
def test_resume_refuses_rather_than_deletes_what_is_not_its_own(make, fragment, tmp_path, capsys):
    """Issue: --resume with a folder in points/ was an IsADirectoryError; a file named like a point
    that is not this sweep's was silently deleted. Both are reported, and left as they are."""
    partial, _ = _started_sweep(tmp_path)
    make(partial / "points")
    before = tree(partial)
    assert main([str(ONE_WAY), *SWEEP_OPTIONS, "--resume", str(partial)]) == 2
    one_error(capsys.readouterr().err, fragment, "move it out of points/")
    assert tree(partial) == before


def test_resume_given_a_folder_inside_points_is_refused(tmp_path, capsys):
    partial, _ = _started_sweep(tmp_path)
    inner = partial / "points" / "inner.partial"
    inner.mkdir()
    assert main([str(ONE_WAY), *SWEEP_OPTIONS, "--resume", str(inner)]) == 2
    one_error(capsys.readouterr().err, f"--resume: {inner} has no scenario.yaml")
    assert list(inner.iterdir()) == []


def test_a_sweep_folder_that_never_started_gets_one_remedy_from_every_command(tmp_path, monkeypatch, capsys):
    """Issue: after a sweep whose first write failed, --out said "finish it with --resume", --resume
    said "start the sweep again", and the folder had to be deleted by hand. Now the failed start
    removes its folder; a start folder left some other way (killed) gets the same remedy from both
    commands, ``run.py clean``, which removes it."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "sweep"
    partial = tmp_path / "sweep.partial"
    (partial / "points").mkdir(parents=True)  # killed before its start files were written
    assert main([str(ONE_WAY), *SWEEP_OPTIONS, "--out", str(out)]) == 2
    one_error(capsys.readouterr().err, f"remove it with: python run.py clean {tmp_path}")
    assert main([str(ONE_WAY), *SWEEP_OPTIONS, "--resume", str(partial)]) == 2
    one_error(capsys.readouterr().err, f"remove it with: python run.py clean {tmp_path}")
    assert main(["clean", str(tmp_path)]) == 0
    assert f"removed {partial}" in capsys.readouterr().out
    assert main([str(ONE_WAY), *SWEEP_OPTIONS, "--out", str(out)]) == 0
    assert (out / "run.json").is_file()
    capsys.readouterr()


# --- leftovers of stopped commands: reported, removable by one command ----------------------------


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def test_clean_removes_only_what_stopped_commands_left(tmp_path, monkeypatch, capsys):
    """Issue: kill -9 left hidden .NAME.partial-PID folders (101 MB, 780 MB) that nothing reported or
    removed. A run writing beside them warns, with the command that removes them; ``clean`` removes
    them, lists a resumable sweep (removed only with --sweeps), and never touches a folder a running
    command holds."""
    monkeypatch.chdir(tmp_path)
    parent = tmp_path / "results" / "low_dose"
    dead = parent / f".20990101-000000-seed1.partial-{_dead_pid()}"
    (dead / "deep").mkdir(parents=True)
    (dead / "patients.csv").write_bytes(b"x" * 100_000)
    running = claim_new(parent, "20990101-000001-seed1")  # held by this (running) process
    _started_sweep(parent)  # an interrupted sweep: parent/sweep.partial, resumable
    assert main([str(LOW_DOSE), *SMALL, "--workers", "1"]) == 0
    assert ("warning: results/low_dose: 1 unfinished folder left by stopped commands (0.1 MB); remove with: python "
            "run.py clean results/low_dose") in capsys.readouterr().err
    assert main(["clean", "results", "--dry-run"]) == 0
    assert f"would remove {Path('results/low_dose') / dead.name}" in capsys.readouterr().out and dead.is_dir()
    assert main(["clean", "results"]) == 0
    out = capsys.readouterr().out
    assert "removed results/low_dose/.20990101-000000-seed1.partial-" in out
    assert "kept results/low_dose/sweep.partial" in out
    assert not dead.exists() and running.work.is_dir() and (parent / "sweep.partial").is_dir()
    assert main(["clean", "results", "--sweeps"]) == 0
    assert "removed results/low_dose/sweep.partial" in capsys.readouterr().out
    assert running.work.is_dir()
    running.abandon()
    assert main(["clean", "results"]) == 0
    assert capsys.readouterr().out == "results: nothing left unfinished\n"
    assert [p.name for p in parent.iterdir()] != [] and all(not p.name.startswith(".") for p in parent.iterdir())
