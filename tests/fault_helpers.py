"""Shared helpers of the fault-injection tests: hostile files, one-line errors, folder trees, child processes."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LOW_DOSE = ROOT / "scenarios" / "low_dose.yaml"
ONE_WAY = ROOT / "scenarios" / "sweeps" / "one_way_weakest.yaml"
TRIAL = ROOT / "scenarios" / "trials" / "time_to_relapse.yaml"
SMALL = ["--patients", "50", "--replications", "2", "--no-plots", "--quiet"]
"""The issue's ``S``: a run of a few seconds."""

LONG = ["--patients", "3000", "--replications", "100", "--no-plots", "--quiet", "--workers", "2"]
"""A run long enough (about 20 s alone on two cores) to be stopped while it works, even when three are started
one after another; every test stops it within seconds."""


def one_error(stderr: str, *fragments: str) -> str:
    """The one ``error:`` line of a failed command (warnings aside), holding every fragment; no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1, f"expected one line, got:\n{stderr}"
    assert lines[0].startswith("error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in:\n{lines[0]}"
    return lines[0]


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every entry under a folder, hidden ones too, with each file's bytes (None for a folder or a link)."""
    found: dict[str, bytes | None] = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = Path(root) / name
            found[str(path.relative_to(folder))] = (path.read_bytes() if path.is_file() and not path.is_symlink()
                                                    else None)
    return found


def low_dose() -> dict:
    return yaml.safe_load(LOW_DOSE.read_text(encoding="utf-8"))


def write_scenario(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(") ", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[1] == str(pid) and fields[0] != "Z":
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll ``condition`` until true; the seconds it took (AssertionError after ``seconds``)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what}: not within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - started


_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER = 1, 2, 3
_PR_CAPBSET_DROP = 24


def _drop_file_capabilities() -> None:
    """In a child about to exec: as root, lose the power to ignore file permissions (so a read-only
    folder is read-only for it, as for any user)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def permissions_hold() -> bool:
    """Whether a child process can be made to obey file permissions here (not root, or root able to drop them)."""
    probe = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_drop_file_capabilities, check=False)
    return probe.returncode == 0


def foreground() -> None:
    """Ctrl-C reaches a command run in the foreground, even when the suite itself runs as a background job (whose
    shell starts it, and so every child, with SIGINT ignored). Called in the child before it runs Python."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def command(args: Sequence[str | bytes], cwd: Path, *, file_size: int | None = None,
            obey_permissions: bool = False) -> subprocess.Popen[bytes]:
    """``python run.py ARGS`` in a fresh interpreter, optionally with ``ulimit -f`` (bytes) or file permissions
    enforced even for root."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}

    def prepare() -> None:
        foreground()
        if file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
        if obey_permissions:
            _drop_file_capabilities()

    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=prepare)


def finish(process: subprocess.Popen[bytes], seconds: float = 120) -> tuple[int, str, str]:
    """(status, stdout, stderr) of a command started by ``command``."""
    out, err = process.communicate(timeout=seconds)
    return process.returncode, out.decode("utf-8", "backslashreplace"), err.decode("utf-8", "backslashreplace")
