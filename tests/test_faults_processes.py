"""Faults that need a process of their own: signals, killed workers, ``ulimit -f``, read-only folders and
commands started together. Each command runs in a fresh interpreter (``python run.py``) and must end
with one clear line, exit status 2 (130 when stopped by a signal), within seconds, losing nothing.

Read-only folders are read-only for root too: the child then gives up the capabilities that let
root ignore file permissions (``permissions_hold``).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from fault_helpers import (
    LONG,
    LOW_DOSE,
    ONE_WAY,
    SMALL,
    alive,
    children,
    command,
    finish,
    one_error,
    permissions_hold,
    tree,
    wait_until,
)


def _work_folders(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if ".partial" in name)


def _verified(folder: Path) -> None:
    """A complete run folder: every file recorded in run.json whole and unchanged (what ``plot`` checks first)."""
    from sim.outputs.folders import missing_files
    from sim.studies.run.folder import check_run_folder

    assert missing_files(folder, "run") == []
    check_run_folder(folder)


# --- commands started together ----------------------------------------------------------------------


def test_two_runs_with_the_same_out_one_wins_and_nothing_is_lost(tmp_path):
    """Issue: the run that finished last died with 'Directory not empty' and its results were deleted.
    The first to claim the name runs; the other stops at once with one line; the folder is complete."""
    out = tmp_path / "out"
    options = [str(LOW_DOSE), "--patients", "200", "--replications", "2", "--no-plots", "--quiet", "--workers", "1",
               "--out", str(out)]
    first, second = command(options, tmp_path), command(options, tmp_path)
    results = [finish(first), finish(second)]
    assert sorted(status for status, _, _ in results) == [0, 2], results
    _, _, err = next(result for result in results if result[0] == 2)
    line = one_error(err, f"--out: {out}")
    assert "is being written by another command" in line or "exists and is not an empty folder" in line
    assert sorted(os.listdir(tmp_path)) == ["out"]
    _verified(out)


def test_default_runs_started_together_each_get_a_complete_folder(tmp_path):
    """Issue: two default runs started in the same second collided. Each claims its own name."""
    processes = [command([str(LOW_DOSE), *SMALL, "--workers", "1"], tmp_path) for _ in range(2)]
    for process in processes:
        status, _, err = finish(process)
        assert status == 0, err
    parent = tmp_path / "results" / "low_dose"
    folders = sorted(parent.iterdir())
    assert len(folders) == 2 and not _work_folders(parent)
    for folder in folders:
        _verified(folder)


# --- signals ------------------------------------------------------------------------------------------


def _running(tmp_path: Path, args: list[str]) -> tuple[subprocess.Popen[bytes], list[int]]:
    """A command started and working, with its two worker processes."""
    process = command(args, tmp_path)
    wait_until(lambda: len(children(process.pid)) >= 2 or process.poll() is not None, 60, "workers started")
    assert process.poll() is None, finish(process)
    time.sleep(0.5)
    return process, children(process.pid)


def test_a_run_stopped_by_a_signal_leaves_nothing(tmp_path):
    """Issue: SIGTERM of a run left a hidden .partial-PID folder that nothing cleaned up. SIGTERM and
    SIGHUP now stop a run the way Ctrl-C (SIGINT) does: its work folder removed, its workers ended,
    exit status 130 within seconds. The three run side by side."""
    runs = {}
    for how in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        folder = tmp_path / how.name
        folder.mkdir()
        runs[how] = (folder, *_running(folder, [str(LOW_DOSE), *LONG, "--out", "out"]))
    for how, (folder, process, _) in runs.items():
        assert _work_folders(folder)
        process.send_signal(how)
    started = time.monotonic()
    for how, (folder, process, workers) in runs.items():
        status, out, err = finish(process)
        assert time.monotonic() - started < 15
        assert status == 130 and out == "", err
        assert err == f"interrupted{'' if how == signal.SIGINT else ' by ' + how.name}: nothing was written\n", err
        assert os.listdir(folder) == []
        wait_until(lambda workers=workers: not any(alive(pid) for pid in workers), 5, "workers ended")


def test_kill_9_of_a_run_its_workers_end_and_the_leftover_is_reported_and_removable(tmp_path):
    """Issue: kill -9 of the main process left its workers running (5 min 44 s and counting) and its
    work folder for ever. The workers notice within a second; the leftover is named by the next
    command writing there and by one that wants the same --out, and ``run.py clean`` removes it."""
    process, workers = _running(tmp_path, [str(LOW_DOSE), *LONG, "--out", "out"])
    process.kill()
    process.wait()
    assert wait_until(lambda: not any(alive(pid) for pid in workers), 5, "orphaned workers ended") < 5
    leftover = _work_folders(tmp_path)
    assert len(leftover) == 1 and leftover[0].startswith(".out.partial-")
    status, _, err = finish(command([str(LOW_DOSE), *SMALL, "--out", "out"], tmp_path))
    assert status == 2
    one_error(err, f"--out: out: a command that stopped left {leftover[0]}", "remove it with: python run.py clean .")
    status, _, err = finish(command([str(LOW_DOSE), *SMALL, "--out", "other"], tmp_path))
    assert status == 0 and err.startswith("warning: .: 1 unfinished folder left by stopped commands"), err
    status, out, _ = finish(command(["clean", "."], tmp_path))
    assert status == 0 and out.startswith(f"removed {leftover[0]} (")
    assert sorted(os.listdir(tmp_path)) == ["other"]


def test_kill_9_of_one_worker_ends_the_run_with_one_line(tmp_path):
    """Issue: kill -9 of a worker gave a BrokenProcessPool traceback."""
    process, workers = _running(tmp_path, [str(LOW_DOSE), *LONG, "--out", "out"])
    os.kill(workers[0], signal.SIGKILL)
    started = time.monotonic()
    status, _, err = finish(process)
    assert time.monotonic() - started < 10
    assert status == 2
    one_error(err, "a worker process stopped before returning its work (killed, or out of memory); nothing was "
                   "written")
    assert os.listdir(tmp_path) == []
    wait_until(lambda: not any(alive(pid) for pid in workers), 5, "the other worker ended")


SWEEP_LONG = ["--patients", "1500", "--replications", "3", "--no-plots", "--quiet", "--workers", "2"]
"""A sweep long enough (about 5 s on two cores) to be stopped while its workers simulate; two tests resume it to
the end, so it is kept short."""


def test_kill_9_of_a_sweep_worker_gives_the_resume_command_which_finishes_it(tmp_path):
    """Issue: kill -9 of a sweep's worker gave a traceback and no resume command."""
    process, workers = _running(tmp_path, [str(ONE_WAY), *SWEEP_LONG, "--out", "sweep"])
    os.kill(workers[0], signal.SIGKILL)
    status, _, err = finish(process)
    assert status == 2
    line = one_error(err, "a worker process stopped", "the finished points are saved in sweep.partial; resume with: ")
    resume = shlex.split(line.split("resume with: ", 1)[1])
    assert resume[:2] == ["python", "run.py"] and resume[-2:] == ["--resume", "sweep.partial"]
    status, _, err = finish(command(resume[2:], tmp_path))
    assert status == 0, err
    assert sorted(os.listdir(tmp_path)) == ["sweep"]


def test_kill_9_of_a_sweep_releases_its_folder_at_once(tmp_path):
    """Issue: after kill -9 of a sweep, its workers kept the folder's lock, so --resume said another
    command was running it until they were killed by hand."""
    process, workers = _running(tmp_path, [str(ONE_WAY), *SWEEP_LONG, "--out", "sweep"])
    process.kill()
    process.wait()
    wait_until(lambda: not any(alive(pid) for pid in workers), 5, "orphaned workers ended")
    status, _, err = finish(command([str(ONE_WAY), *SWEEP_LONG, "--resume", "sweep.partial"], tmp_path))
    assert status == 0, err
    assert sorted(os.listdir(tmp_path)) == ["sweep"]


ONE_WAY_30 = ONE_WAY.parent / "one_way_cost_effectiveness.yaml"
PNG_END = b"IEND\xaeB`\x82"
REDRAW_AGAIN = "each file is whole, as it was or redrawn; run.py plot it again to redraw the rest"


@pytest.fixture(scope="module")
def undrawn_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped one-way sweep of 30 parameters, small and without figures: drawing them takes about 12 s
    on two workers (the figures' work grows with the parameters, not the patients)."""
    folder = tmp_path_factory.mktemp("undrawn")
    status, _, err = finish(command([str(ONE_WAY_30), "--patients", "20", "--replications", "2", "--no-plots",
                                     "--quiet", "--workers", "2", "--out", "sweep"], folder))
    assert status == 0, err
    return folder / "sweep"


def _drawing(tmp_path: Path, source: Path) -> tuple[subprocess.Popen[bytes], Path, list[int]]:
    """``run.py plot`` of a copy of ``source`` on two workers, once its first figures are written."""
    folder = tmp_path / "sweep"
    shutil.copytree(source, folder)
    process = command(["plot", "sweep", "--workers", "2"], tmp_path)
    wait_until(lambda: (len(children(process.pid)) >= 2 and any((folder / "figures").glob("*.png")))
               or process.poll() is not None, 60, "the first figures written")
    assert process.poll() is None, finish(process)
    return process, folder, children(process.pid)


def _whole(folder: Path, workers: list[int]) -> list[Path]:
    """The workers end; each figure written is a whole PNG and no temporary file is left; the figures."""
    wait_until(lambda: not any(alive(pid) for pid in workers), 5, "workers ended")
    figures = sorted((folder / "figures").iterdir())
    assert figures and all(path.read_bytes().endswith(PNG_END) for path in figures)
    assert not [name for name in tree(folder) if ".tmp-" in name]
    return figures


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_redraw_stopped_by_a_signal_ends_its_workers_and_leaves_each_file_whole(how, undrawn_sweep, tmp_path):
    """``run.py plot`` of a large sweep draws on two workers for seconds: stopped while they draw, it ends
    them, says what it leaves (each file as it was or redrawn) in one line, status 130; run again, it finishes."""
    process, folder, workers = _drawing(tmp_path, undrawn_sweep)
    process.send_signal(how)
    status, out, err = finish(process)
    assert status == 130 and out == "", err
    assert err == f"interrupted{'' if how == signal.SIGINT else ' by ' + how.name}: sweep: {REDRAW_AGAIN}\n", err
    _whole(folder, workers)


def test_kill_9_of_a_drawing_worker_ends_the_redraw_with_one_line(undrawn_sweep, tmp_path):
    """A drawing worker killed (or out of memory): one line saying what is left and what to do; run again, the
    redraw finishes."""
    process, folder, workers = _drawing(tmp_path, undrawn_sweep)
    os.kill(workers[0], signal.SIGKILL)
    status, out, err = finish(process)
    assert status == 2 and out == ""
    one_error(err, "error: sweep: a worker process stopped", REDRAW_AGAIN)
    before = _whole(folder, workers)
    status, out, err = finish(command(["plot", "sweep"], tmp_path))
    assert status == 0 and out == "redrawn: sweep\n", err
    assert len(_whole(folder, [])) > len(before)


# --- a full disk: ulimit -f -----------------------------------------------------------------------------


def test_a_file_size_limit_is_checked_before_running(tmp_path):
    """The estimate knows ``ulimit -f``: a run whose events.csv would not fit is refused at once."""
    status, _, err = finish(command([str(LOW_DOSE), *SMALL, "--out", "out"], tmp_path, file_size=100_000))
    assert status == 2
    one_error(err, "too large for this machine", "for events.csv (files may have at most 0.1 MB here: ulimit -f)")
    assert os.listdir(tmp_path) == []


def test_a_full_disk_while_simulating_leaves_nothing(tmp_path):
    """Issue: a full disk (``ulimit -f``) was an OSError [Errno 27] traceback. With --force past the
    estimate, the write fails; the line names the file and the limit, and nothing is left."""
    status, _, err = finish(command([str(LOW_DOSE), *SMALL, "--force", "--out", "out"], tmp_path,
                                    file_size=100_000))
    assert status == 2
    one_error(err, "--out: cannot write out/events.csv: File too large (files may have at most 100000 bytes here: see "
                   "ulimit -f); nothing was written")
    assert os.listdir(tmp_path) == []


def test_a_full_disk_after_the_data_keeps_the_data_under_the_name_the_error_gives(tmp_path):
    """The data files fit but the survival curves (about 1.1 MB) do not: the complete tables are kept in
    out.unfinished, whole, for ``plot`` to finish once the limit is gone."""
    status, _, err = finish(command([str(LOW_DOSE), *SMALL, "--force", "--out", "out"], tmp_path,
                                    file_size=500_000))
    assert status == 2
    one_error(err, "cannot write out/survival_curves.csv: File too large", "the simulated tables are complete and "
                   "kept in out.unfinished (python run.py plot out.unfinished finishes that folder)")
    assert os.listdir(tmp_path) == ["out.unfinished"]
    info = json.loads((tmp_path / "out.unfinished" / "run.json").read_text(encoding="utf-8"))
    assert set(info["files"]) == {"patients.csv", "events.csv", "scenario.yaml", "summary.csv", "comparison.csv"}
    _verified(tmp_path / "out.unfinished")  # test_faults.py shows plot finishing such a folder


def test_a_sweep_on_a_full_disk_is_resumable_and_its_failed_start_leaves_nothing(tmp_path):
    """Issue: a sweep whose write failed told --out to resume and --resume to start again. A start that
    cannot be written leaves nothing; a later failure leaves a folder that the given command finishes."""
    options = [str(ONE_WAY), "--patients", "10", "--replications", "2", "--no-plots", "--quiet", "--force"]
    status, _, err = finish(command([*options, "--out", "sweep"], tmp_path, file_size=2_000))
    assert status == 2
    one_error(err, "cannot write sweep/scenario.yaml: File too large", "nothing was written")
    assert os.listdir(tmp_path) == []
    status, _, err = finish(command([*options, "--out", "sweep"], tmp_path, file_size=20_000))
    assert status == 2
    line = one_error(err, "cannot write sweep.partial/sweep.csv: File too large",
                     "the finished points are saved in sweep.partial; resume with: ")
    status, _, err = finish(command(shlex.split(line.split("resume with: ", 1)[1])[2:], tmp_path))
    assert status == 0, err
    assert sorted(os.listdir(tmp_path)) == ["sweep"]


# --- read-only destinations ----------------------------------------------------------------------------


needs_permissions = pytest.mark.skipif(not permissions_hold(), reason="file permissions cannot be enforced here")


@needs_permissions
def test_an_empty_read_only_out_folder_is_refused_before_running(tmp_path):
    """Issue: an empty read-only --out gave a traceback after the whole run."""
    out = tmp_path / "read_only"
    out.mkdir()
    out.chmod(0o555)
    try:
        status, _, err = finish(command([str(LOW_DOSE), *SMALL, "--out", str(out)], tmp_path,
                                        obey_permissions=True))
    finally:
        out.chmod(0o755)
    assert status == 2
    one_error(err, f"--out: {out} is not writable (a read-only folder)")
    assert tree(tmp_path) == {"read_only": None}


@needs_permissions
def test_an_out_inside_a_read_only_folder_is_refused_before_running(tmp_path):
    """Issue: --out inside a read-only folder gave a traceback after the whole run."""
    parent = tmp_path / "read_only"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        status, _, err = finish(command([str(LOW_DOSE), *SMALL, "--out", str(parent / "out")], tmp_path,
                                        obey_permissions=True))
    finally:
        parent.chmod(0o755)
    assert status == 2
    one_error(err, f"--out: {parent}: cannot write (Permission denied)")
    assert tree(tmp_path) == {"read_only": None}


def test_an_out_with_a_byte_that_is_not_utf8_is_refused(tmp_path):
    """Issue: a --out with a non-UTF-8 byte gave a traceback after the whole run."""
    out = os.fsencode(str(tmp_path)) + b"/bad\xffname"
    status, _, err = finish(command([os.fsencode(str(LOW_DOSE)), *[a.encode() for a in SMALL], b"--out", out],
                                    tmp_path))
    assert status == 2
    one_error(err, "bad\\xffname: the name is not valid UTF-8 text")
    assert os.listdir(tmp_path) == []
