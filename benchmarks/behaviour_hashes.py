"""Hashes of the data files that every shipped scenario, sweep and trial file writes, on a small size.

A refactoring must not move behaviour: run this before and after, and compare. ``--record`` writes
the hashes to ``tests/golden/behaviour_hashes.json`` (do that only when a change is meant to move
results, and say why in the commit); without it the script prints each case and whether it still
matches the recorded hashes, and exits 1 if any differs. ``tests/test_behaviour.py`` runs a part of
it in CI.

    python benchmarks/behaviour_hashes.py            # compare with the recorded hashes
    python benchmarks/behaviour_hashes.py --record   # record them

``--fixture`` does the same for the copies of the scenario files as they were before the pathway
rules of docs/model.md section 2b (``tests/fixtures/scenarios_before_2b/``): files without the new keys
must keep writing exactly what they wrote then, so their hashes are never re-recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "tests" / "golden" / "behaviour_hashes.json"
FIXTURE = ROOT / "tests" / "fixtures" / "scenarios_before_2b"
FIXTURE_RECORD = ROOT / "tests" / "golden" / "behaviour_hashes_before_2b.json"
SMALL = ["--workers", "1", "--quiet", "--no-plots"]

# Files written for people or for provenance, not data: run.json holds timings and the command
# line; report.md holds the wall time; figures are redrawn from the data.
SKIPPED = {"run.json", "report.md"}


def cases(folder: Path = ROOT / "scenarios") -> dict[str, list[str]]:
    """Every shipped file (or every file of a copy of the scenarios folder), with the options that make it small."""
    found: dict[str, list[str]] = {}
    runs = sorted(folder.glob("*.yaml")) + sorted((folder / "validation").glob("*.yaml"))
    for path in runs:
        found[str(path.relative_to(ROOT))] = [str(path), "--replications", "2", "--patients", "60", *SMALL]
    for path in sorted((folder / "sweeps").glob("*.yaml")):
        found[str(path.relative_to(ROOT))] = [str(path), "--replications", "2", "--patients", "30", *SMALL]
    for path in sorted((folder / "trials").glob("*.yaml")):
        found[str(path.relative_to(ROOT))] = [str(path), "--set", "trial.simulations=20",
                                              "--set", "trial.patients_per_arm=[20, 40]", *SMALL]
    return found


def folder_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every data file under ``folder``, by relative path.

    A sweep's resolved file names its base scenario by absolute path: the checkout's own folder is
    replaced by ``<root>`` first, so that the hashes do not depend on where the project lives.
    """
    hashes = {}
    root = str(ROOT).encode("utf-8")
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and relative.name not in SKIPPED and relative.parts[0] != "figures":
            hashes[str(relative)] = hashlib.sha256(path.read_bytes().replace(root, b"<root>")).hexdigest()
    return hashes


def small_sweep(path: Path, folder: Path) -> Path:
    """A copy of a sweep file with fewer points (``--set`` reaches only the base scenario)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["base"] = str((path.parent / data["base"]).resolve())
    sweep = data["sweep"]
    if "samples" in sweep:
        sweep["samples"] = 4
    for spec in sweep["parameters"].values():
        if "values" in spec:
            spec["values"] = spec["values"][:2]
    if "levels" in sweep:
        sweep["levels"] = 2
    copy = folder / path.name
    copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return copy


def run_case(arguments: list[str], out: Path) -> dict[str, str]:
    """Run one case through the command line into ``out`` and hash what it wrote."""
    from sim.cli import main

    if "sweeps" in Path(arguments[0]).parts:
        arguments = [str(small_sweep(Path(arguments[0]), out.parent)), *arguments[1:]]
    with contextlib.redirect_stdout(io.StringIO()):
        status = main([*arguments, "--out", str(out)])
    if status != 0:
        raise SystemExit(f"{arguments[0]}: exit status {status}")
    return folder_hashes(out)


def compute(names: list[str] | None = None, folder: Path = ROOT / "scenarios") -> dict[str, dict[str, str]]:
    """The hashes of the named cases (all by default)."""
    every = cases(folder)
    chosen = names if names is not None else list(every)
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for index, name in enumerate(chosen):
            result[name] = run_case(every[name], Path(tmp) / str(index))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="write the hashes to tests/golden/")
    parser.add_argument("--fixture", action="store_true",
                        help="the scenario files as they were before the rules of docs/model.md section 2b")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    folder, record = (FIXTURE, FIXTURE_RECORD) if args.fixture else (ROOT / "scenarios", RECORD)
    hashes = compute(folder=folder)
    if args.record:
        record.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"recorded {sum(map(len, hashes.values()))} files of {len(hashes)} cases in {record}")
        return 0
    recorded = json.loads(record.read_text(encoding="utf-8"))
    differ = 0
    for name, files in hashes.items():
        same = recorded.get(name) == files
        differ += not same
        changed = sorted(f for f in set(files) | set(recorded.get(name, {}))
                         if files.get(f) != recorded.get(name, {}).get(f))
        print(f"{'same' if same else 'DIFFERS':8} {name}" + (f"  ({', '.join(changed)})" if changed else ""))
    print(f"{len(hashes) - differ} of {len(hashes)} cases byte-identical to the recorded hashes")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
