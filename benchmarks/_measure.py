"""Shared helpers of the benchmark scripts: timing a command and its peak memory, printing tables."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tree_rss_bytes(pid: int) -> int:
    """Resident set of a process and all its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            parent, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


def run_measured(command: list[str], cwd: Path = ROOT) -> tuple[float, int]:
    """Run a command; return (wall seconds, peak resident set of its process tree in bytes)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss_bytes(process.pid))
        time.sleep(0.05)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        sys.stderr.write(process.stderr.read().decode() if process.stderr else "")
        raise SystemExit(f"command failed ({process.returncode}): {' '.join(command)}")
    return wall, peak


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A plain aligned table."""
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    print(title)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))


def machine() -> str:
    """A one-line description of this machine."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Python {sys.version.split()[0]}"
