"""Claiming a results folder's name before anything is computed, so that no two commands ever own it.

A command works in a folder beside the one it will write: a run (or trial planning, or validation)
in ``.NAME.partial-PID``, a sweep in ``NAME.partial``. That work folder is the claim on ``NAME``:
it is created atomically (``mkdir``) while the parent folder is locked, and locked (``flock``) by
its command for as long as the command lives, so a second command wanting ``NAME`` sees it and
stops, and a work folder nobody holds is known to be left by a command that died (``stale``). A
finished work folder is renamed to ``NAME``; nothing here ever deletes a file it did not create.
"""

from __future__ import annotations

import errno
import os
import re
import resource
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SWEEP_SUFFIX", "UNFINISHED_SUFFIX", "Claim", "FolderError", "Leftover", "claim_exact", "claim_new",
           "claims_of", "folder_bytes", "leftovers", "lock_folder", "megabytes", "remove_leftover", "write_problem"]

SWEEP_SUFFIX = ".partial"
"""A sweep works in ``NAME.partial``, which ``--resume`` finishes."""

UNFINISHED_SUFFIX = ".unfinished"
"""Where complete simulated tables are kept when the folder around them cannot be finished."""

RUN_WORK = re.compile(r"\.(?P<name>.+)\.partial-(?P<pid>\d+)")
"""The work folder of a run, trial planning or validation: hidden, named after its process."""

PARENT_LOCK_SECONDS = 10.0
"""The longest wait for another command to finish claiming a name in the same folder (it takes
milliseconds)."""


class FolderError(Exception):
    """A results folder that cannot be created, written, or used as a complete results folder.

    ``option`` names the command-line option whose folder it is (``--out``, ``--resume``), if any.
    """

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


def megabytes(size: float) -> str:
    """A size for people: ``12.3 MB``, ``4.1 GB``, ``3.5 TB``."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 1e6:.1f} MB"


def folder_bytes(path: Path) -> int:
    """The bytes of the files under a folder (links not followed)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def write_problem(err: OSError, work: Path | None = None, final: Path | None = None) -> str:
    """``cannot write FILE: reason (why)`` for an error while writing, naming the file under its final name."""
    name = err.filename if isinstance(err.filename, str) else None
    if name is not None and work is not None and final is not None and name.startswith(str(work)):
        name = str(final) + name[len(str(work)):]
    where = f"cannot write {name}" if name else "cannot write"
    reason = err.strerror or type(err).__name__
    if err.errno == errno.EFBIG:
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY:
            reason += f" (files may have at most {limit} bytes here: see ulimit -f)"
    elif err.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += " (the disk is full)" if err.errno == errno.ENOSPC else " (the disk quota is used up)"
    return f"{where}: {reason}"


def lock_folder(path: Path) -> int | None:
    """An exclusive lock on a folder: its descriptor (close it to release), or None when another
    process holds it. The lock is the folder's and ends with the process, however it ends."""
    import fcntl

    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


@contextmanager
def _parent_locked(parent: Path) -> Iterator[None]:
    """Hold ``parent``'s lock while a name in it is claimed (milliseconds), so two claims never interleave."""
    try:
        descriptor = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as err:
        raise FolderError(f"{parent}: cannot be used ({err.strerror})") from None
    try:
        import fcntl

        deadline = time.monotonic() + PARENT_LOCK_SECONDS
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise FolderError(f"{parent}: another command has held it for {PARENT_LOCK_SECONDS:g} s "
                                      f"while choosing a folder name; try again") from None
                time.sleep(0.01)
        yield
    finally:
        os.close(descriptor)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _held(work: Path) -> bool:
    """Whether a running command holds a work folder (a folder nobody holds was left by one that died)."""
    try:
        descriptor = lock_folder(work)
    except OSError:
        return False
    if descriptor is None:
        return True
    os.close(descriptor)
    match = RUN_WORK.fullmatch(work.name)
    # A folder whose process still lives is not taken for stale, locked or not (its pid may be reused:
    # then it waits for the next clean).
    return match is not None and int(match["pid"]) != os.getpid() and _alive(int(match["pid"]))


def claims_of(final: Path) -> list[Path]:
    """The work folders that claim ``final``: runs' ``.NAME.partial-PID`` and a sweep's ``NAME.partial``."""
    found = []
    sweep = final.with_name(final.name + SWEEP_SUFFIX)
    if sweep.is_dir() and not sweep.is_symlink():
        found.append(sweep)
    prefix = f".{final.name}.partial-"
    try:
        entries = list(os.scandir(final.parent))
    except OSError:
        return found
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name[len(prefix):].isdigit() and entry.is_dir(follow_symlinks=False):
            found.append(final.parent / entry.name)
    return found


def _sweep_resumable(partial: Path) -> bool:
    return all((partial / name).is_file() for name in ("scenario.yaml", "sweep.yaml", "design.csv"))


def _taken(final: Path, option: str | None) -> None:
    """FolderError when ``final`` cannot be claimed: a file, a folder with files, or claimed by another."""
    if final.is_symlink():
        raise FolderError(f"{final} is a symbolic link; results are written only to a real folder (give the "
                          f"folder itself, or a new name)", option)
    if final.exists():
        try:
            empty = final.is_dir() and next(os.scandir(final), None) is None
        except OSError as err:
            raise FolderError(f"{final} cannot be read ({err.strerror})", option) from None
        if not empty:
            raise FolderError(f"{final} exists and is not an empty folder; results are never overwritten", option)
        if not os.access(final, os.W_OK | os.X_OK):
            raise FolderError(f"{final} is not writable (a read-only folder)", option)
    for work in claims_of(final):
        if _held(work):
            raise FolderError(f"{final} is being written by another command (in {work}); wait for it to finish, "
                              f"or choose another folder", option)
        parent = final.parent
        if work.name.endswith(SWEEP_SUFFIX) and _sweep_resumable(work):
            raise FolderError(f"{work} exists: an interrupted sweep; finish it with --resume {work}, or remove it "
                              f"with: python run.py clean {parent} --sweeps", option)
        raise FolderError(f"{final}: a command that stopped left {work} ({megabytes(folder_bytes(work))}) "
                          f"unfinished; remove it with: python run.py clean {parent}", option)


def _check_name(final: Path, option: str | None) -> None:
    try:
        str(final).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(str(final)).decode("utf-8", "backslashreplace")
        raise FolderError(f"{shown}: the name is not valid UTF-8 text (it is recorded in run.json and the "
                          f"report); choose another name", option) from None


def _make_parent(parent: Path, option: str | None) -> None:
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise FolderError(f"{parent} is not a folder", option) from None
    except OSError as err:
        raise FolderError(f"{parent}: cannot create ({err.strerror})", option) from None


@dataclass
class Claim:
    """A claimed name: ``work`` is created and locked (``descriptor``); it becomes ``final`` at ``commit``."""

    final: Path
    work: Path
    descriptor: int | None

    def release(self) -> None:
        """Let go of the lock (the work folder stays)."""
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None

    def commit(self) -> Path:
        """Rename the finished work folder to its final name (replacing an empty folder) and let go."""
        try:
            os.rename(self.work, self.final)
        except OSError as err:
            kept = self.keep()
            raise FolderError(f"{self.final}: cannot be put in place ({err.strerror}); the finished results are "
                              f"kept in {kept}") from None
        self.release()
        return self.final

    def abandon(self) -> None:
        """Remove the work folder (everything in it was written by this command) and let go."""
        shutil.rmtree(self.work, ignore_errors=True)
        self.release()

    def keep(self) -> Path:
        """Move the work folder to a visible name beside ``final`` (``NAME.unfinished``), let go, and return it."""
        for suffix in range(1, 1000):
            kept = self.final.with_name(self.final.name + UNFINISHED_SUFFIX + (f"-{suffix}" if suffix > 1 else ""))
            if kept.exists() or kept.is_symlink():
                continue
            try:
                os.rename(self.work, kept)
            except OSError:
                break
            self.release()
            return kept
        self.release()
        return self.work


def _start(final: Path, sweep: bool, option: str | None) -> Claim:
    """Create and lock the work folder claiming ``final`` (the parent is locked by the caller), and
    check that it can be written."""
    work = final.with_name(final.name + SWEEP_SUFFIX) if sweep else final.with_name(
        f".{final.name}.partial-{os.getpid()}")
    try:
        os.mkdir(work)
    except FileExistsError:
        raise FolderError(f"{final} is being written by another command (in {work})", option) from None
    except OSError as err:
        raise FolderError(f"{final.parent}: cannot write ({err.strerror})", option) from None
    descriptor = lock_folder(work)
    claim = Claim(final, work, descriptor)
    try:
        probe = work / ".writable"
        with open(probe, "wb") as handle:
            handle.write(b"\n")
        probe.unlink()
    except OSError as err:
        claim.abandon()
        raise FolderError(f"{final.parent}: {write_problem(err)}", option) from None
    return claim


def claim_exact(final: Path, *, sweep: bool = False, option: str | None = None) -> Claim:
    """Claim exactly ``final`` (``--out``): it must not exist, or be an empty, writable, real folder,
    and no other command may hold it or have left it unfinished."""
    _check_name(final, option)
    if final.is_symlink():
        _taken(final, option)
    _make_parent(final.parent, option)
    with _parent_locked(final.parent):
        _taken(final, option)
        return _start(final, sweep, option)


def claim_new(parent: Path, stem: str, *, sweep: bool = False) -> Claim:
    """Claim a new folder ``parent/stem`` (or ``stem-2``, ``stem-3``, ... when taken or claimed)."""
    _check_name(parent / stem, None)
    _make_parent(parent, None)
    with _parent_locked(parent):
        for suffix in range(1, 100_000):
            final = parent / (stem if suffix == 1 else f"{stem}-{suffix}")
            if not (final.exists() or final.is_symlink() or claims_of(final)
                    or final.with_name(final.name + UNFINISHED_SUFFIX).exists()):
                return _start(final, sweep, None)
    raise FolderError(f"{parent}: no free folder name for {stem}")


@dataclass(frozen=True)
class Leftover:
    """A work folder no running command holds: what a stopped command left."""

    path: Path
    kind: str  # "run" (never resumable) or "sweep"
    resumable: bool
    size: int


def leftovers(root: Path, depth: int = 3) -> list[Leftover]:
    """The work folders under ``root`` (at most ``depth`` levels down) that no running command holds."""
    found: list[Leftover] = []

    def visit(folder: Path, level: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            path = folder / entry.name
            if RUN_WORK.fullmatch(entry.name):
                if not _held(path):
                    found.append(Leftover(path, "run", False, folder_bytes(path)))
            elif entry.name.endswith(SWEEP_SUFFIX) and entry.name != SWEEP_SUFFIX and (path / "points").is_dir():
                if not _held(path):  # a sweep's folder (it makes points/ first); any other *.partial is not ours
                    found.append(Leftover(path, "sweep", _sweep_resumable(path), folder_bytes(path)))
            elif level < depth:
                visit(path, level + 1)

    visit(root, 1)
    return found


def remove_leftover(leftover: Leftover) -> bool:
    """Remove a leftover work folder if still nobody holds it; True if it was removed."""
    descriptor = None
    try:
        descriptor = lock_folder(leftover.path)
    except OSError:
        return False
    if descriptor is None:
        return False
    try:
        shutil.rmtree(leftover.path)
    finally:
        os.close(descriptor)
    return True
