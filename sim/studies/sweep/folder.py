"""A sweep's results folder: worked in under ``.partial``, each point saved as it finishes, resumable, locked.

The folder is renamed without ``.partial`` only when everything is written; ``--resume`` finishes an
interrupted sweep from its saved points and recomputes nothing finished. A finished folder is read
back only when every file agrees with the design it names.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.execute import map_as_completed
from sim.outputs.claims import Claim, claim_exact, claim_new, lock_folder, write_problem
from sim.outputs.folders import (
    FolderError,
    check_scenario,
    folder_problem,
    missing_files,
    run_info,
    write_json,
    write_text_atomic,
)
from sim.outputs.provenance import provenance, run_id
from sim.outputs.tables import to_csv_text
from sim.spec.base import ScenarioError
from sim.spec.errors import describe_errors
from sim.spec.load import load_scenario, read_yaml
from sim.spec.sweep import SweepFile
from sim.studies.sweep.analyse import SweepTables, analyse
from sim.studies.sweep.checks import Prepared
from sim.studies.sweep.design import Design, Point, design, parameters_of
from sim.studies.sweep.economics import job_outcomes
from sim.studies.sweep.evaluate import PointJob, simulate_point
from sim.studies.sweep.report import render_report

__all__ = ["PARTIAL", "finish_sweep", "hold_folder", "open_folder", "read_folder", "redraw_folder",
           "run_sweep", "save_points", "sweep_tables"]

PARTIAL = ".partial"


START_FILES = ("scenario.yaml", "sweep.yaml", "design.csv")
"""Written atomically before any point runs; a resume checks that it would write the same bytes."""


def point_file(run_dir: Path, index: int) -> Path:
    return run_dir / "points" / f"{index:06d}.json"


def _point_text(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=False) + "\n"


_TEMPORARY = re.compile(r"\.\d{6}\.json\.tmp-\d+")
"""A point being written when its sweep stopped (``write_text_atomic``'s temporary name)."""


def saved_points(run_dir: Path, the_design: Design, job: PointJob) -> set[int]:
    """Points already saved in a folder (the caller holds its lock), checked against the design.

    Only this sweep's own files are touched: a temporary file of a point being written when the
    sweep stopped is removed; anything else in ``points/`` that is not named like a point
    (``NOTES.txt``, ``000001.json.orig``, a folder) is left alone. A file named like a point that
    is not a record of that point of this design is refused (FolderError), never deleted.
    """
    folder = run_dir / "points"
    done: set[int] = set()
    if not folder.is_dir():
        return done
    for path in sorted(folder.iterdir()):
        if _TEMPORARY.fullmatch(path.name) and path.is_file() and not path.is_symlink():
            path.unlink()
            continue
        match = re.fullmatch(r"(\d{6})\.json", path.name)
        if match is None:
            continue
        index = int(match.group(1))
        name = f"points/{path.name}"
        if not path.is_file():
            raise FolderError(f"{run_dir}: {name}: not a file; move it out of points/ and resume again",
                              option="--resume")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            problem = (_record_problem(record, the_design.points[index], job, list(job.base["arms"]))
                       if index < len(the_design.points) else f"the design has only {len(the_design.points)} points")
        except (OSError, ValueError, AttributeError) as err:
            problem = f"not a point record ({type(err).__name__})"
        if problem is not None:
            raise FolderError(f"{run_dir}: {name}: {problem}; it is not this sweep's: move it out of points/ and "
                              f"resume again", option="--resume")
        done.add(index)
    return done


def _new_folder(name: str, seed: int, out: str | None, results_root: Path) -> Claim:
    """The claim of a new sweep's folder: its ``.partial`` folder, created and locked."""
    if out is not None:
        claim = claim_exact(Path(out), sweep=True, option="--out")
    else:
        claim = claim_new(results_root / name, run_id(seed), sweep=True)
    try:
        (claim.work / "points").mkdir()
    except OSError as err:
        claim.abandon()
        raise FolderError(f"{claim.work}: cannot create points/ ({err.strerror}); nothing was written") from None
    return claim


def _resume_folder(run_dir: str, start_texts: dict[str, str]) -> tuple[Path, Path]:
    """(partial, final) of an interrupted sweep, checked against what this command would write."""
    partial = Path(run_dir)
    if not partial.name.endswith(PARTIAL) or not partial.is_dir() or partial.is_symlink():
        raise FolderError(f"{partial} is not an unfinished sweep folder (a folder named *{PARTIAL})", option="--resume")
    final = partial.with_name(partial.name.removesuffix(PARTIAL))
    if final.is_symlink() or (final.exists() and (not final.is_dir() or any(final.iterdir()))):
        raise FolderError(f"{final} already exists; results are never overwritten", option="--resume")
    for name, text in start_texts.items():
        path = partial / name
        if not path.is_file() and not (partial / "points").is_dir():
            raise FolderError(f"{partial} has no {name}: not a sweep folder", option="--resume")
        if not path.is_file():
            raise FolderError(f"{partial} has no {name}: it stopped before it began; remove it with: python run.py "
                              f"clean {partial.parent} and start the sweep again", option="--resume")
        try:
            saved = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise FolderError(f"{partial}/{name}: cannot be read ({type(err).__name__})", option="--resume") from None
        if saved != text:
            raise FolderError(f"{partial}/{name} differs from what this sweep file and these options "
                                 f"give; resume with the same file, --set, --seed, --patients and --replications",
                              option="--resume")
    points = partial / "points"
    if points.is_symlink() or (points.exists() and not points.is_dir()):
        raise FolderError(f"{points}: not a folder", option="--resume")
    points.mkdir(exist_ok=True)
    return partial, final


def hold_folder(partial: Path) -> int | None:
    """Lock an unfinished sweep folder for this process (an open descriptor; close it to release).

    A second command on the same folder (``--resume`` while the sweep still runs) is refused
    instead of computing the same points and racing to rename the folder. The lock is on the
    folder itself, so it follows the rename and leaves no file behind. None where the platform
    has no ``flock``.
    """
    try:
        import fcntl  # noqa: F401 - only to know that the platform locks
    except ImportError:  # pragma: no cover - not on a POSIX system
        return None
    descriptor = lock_folder(partial)
    if descriptor is None:
        raise FolderError(f"{partial} is being run by another command; wait for it to finish, or stop "
                             f"it and resume again", option="--resume") from None
    return descriptor


def open_folder(prepared: Prepared, out: str | None = None, resume: str | None = None,
                results_root: str | Path = "results") -> tuple[Path, Path]:
    """(partial, final): a new ``.partial`` folder with the start files, or the checked one being resumed.

    A new folder's name is claimed before anything runs (``sim.outputs.claims``); if its start
    files cannot be written, it is removed again and FolderError says why. The caller locks the
    folder (``hold_folder``) while it works in it.
    """
    if resume is not None:
        return _resume_folder(resume, prepared.start_texts)
    claim = _new_folder(prepared.name, prepared.base.seed, out, Path(results_root))
    try:
        for name, text in prepared.start_texts.items():
            write_text_atomic(claim.work / name, text)
    except OSError as err:
        claim.abandon()
        raise FolderError(f"{write_problem(err, claim.work, claim.final)}; nothing was written") from None
    claim.release()
    return claim.work, claim.final


def saved_records(run_dir: Path, count: int) -> list[dict[str, Any]]:
    return [json.loads(point_file(run_dir, i).read_text(encoding="utf-8")) for i in range(count)]


def sweep_tables(prepared: Prepared, records: Sequence[dict[str, Any]]) -> SweepTables:
    base = prepared.base
    return analyse(prepared.design, records, base.arm_names, base.reference_arm, list(prepared.job.outcomes),
                   base.economics, base.cohort.size * prepared.job.replications)


def _write_outputs(run_dir: Path, tables: SweepTables) -> None:
    write_text_atomic(run_dir / "sweep.csv", to_csv_text(tables.sweep))
    write_text_atomic(run_dir / "noise.csv", to_csv_text(tables.noise))
    for name, frame in (("tornado.csv", tables.tornado), ("sensitivity.csv", tables.sensitivity),
                        ("psa.csv", tables.psa)):
        if frame is not None:
            write_text_atomic(run_dir / name, to_csv_text(frame))
    if tables.economics is not None:
        for name, frame in tables.economics.files().items():
            write_text_atomic(run_dir / name, to_csv_text(frame))


def write_results(run_dir: Path, prepared: Prepared, tables: SweepTables, plots: bool,
                  drawn: Callable[[int], Any] | None = None, workers: int = 1) -> None:
    """Everything a sweep writes once its points are computed: tables, figures (if ``plots``, drawn by ``workers``
    processes; ``drawn(count)`` follows them) and ``report.md``, each file atomically."""
    base, outcomes = prepared.base, tables.outcomes
    _write_outputs(run_dir, tables)
    figures: list[str] = []
    if plots:
        from sim.studies.sweep.figures import draw_figures  # matplotlib only when figures are wanted

        figures = [p.name for p in draw_figures(run_dir, prepared.design, tables, base.arm_names, base.reference_arm,
                                                outcomes, base.economics, drawn, workers)]
    report = render_report(prepared.name, prepared.sweep_file, base, prepared.design, tables, figures)
    write_text_atomic(run_dir / "report.md", report)


def run_sweep(prepared: Prepared, partial: Path, final: Path, *, workers: int = 1, scheduler: str | None = None,
              plots: bool = True, progress: Callable[[int, int], Any] | None = None, argv: Sequence[str] = (),
              resumed: bool = False, say: Callable[[str], None] = lambda _: None, resume_hint: str = "") -> Path:
    """Run the unsaved points of a sweep in ``partial``, write its outputs and rename it to ``final``.

    ``progress(total, already_done)`` makes a tqdm-like bar, updated per point, whose note then counts the
    figures drawn; ``say`` tells the user where the sweep works and, with ``resume_hint``, how to resume it if
    stopped.
    """
    started = time.perf_counter()
    the_design, job, base = prepared.design, prepared.job, prepared.base
    done = saved_points(partial, the_design, job)
    todo = [point for point in the_design.points if point.index not in done]
    say(f"sweep {prepared.name}: {the_design.method}, {len(the_design.points)} points x {job.replications} "
        f"replications x {len(base.arms)} arms" + (f"; {len(done)} points already saved" if resumed else ""))
    say(f"working in {partial} (renamed to {final} when complete)" + ("; if stopped, resume with:" if resume_hint
                                                                         else ""))
    if resume_hint:
        say(f"  {resume_hint}")  # a command line of its own, to copy whole
    bar = progress(len(the_design.points), len(done)) if progress is not None else None
    try:
        # Points are saved as each finishes (in any order): a kill loses only the points running.
        with closing(map_as_completed(simulate_point, job, todo, workers, scheduler)) as results:
            for _, record in results:
                save_points(partial, [record])
                if bar is not None:
                    bar.update()
        wall = time.perf_counter() - started
        drawn = None if bar is None else lambda count: bar.set_postfix_str(f"figures drawn: {count}")
        return finish_sweep(prepared, partial, final, plots=plots, argv=argv, wall_seconds=wall, workers=workers,
                            scheduler=scheduler, computed=len(todo), resumed=len(done) if resumed else None,
                            drawn=drawn)
    finally:
        if bar is not None:
            bar.close()


def save_points(partial: Path, records: Sequence[dict[str, Any]]) -> None:
    """Save point records into a sweep folder, each atomically."""
    for record in records:
        write_text_atomic(point_file(partial, int(record["point"])), _point_text(record))


def finish_sweep(prepared: Prepared, partial: Path, final: Path, *, plots: bool, argv: Sequence[str],
                 wall_seconds: float, workers: int, scheduler: str | None, computed: int,
                 resumed: int | None, drawn: Callable[[int], Any] | None = None) -> Path:
    """Write a sweep's tables, figures, report and ``run.json`` from its saved points, and rename it to ``final``
    (``drawn(count)`` follows the figures)."""
    the_design, job, base = prepared.design, prepared.job, prepared.base
    records = saved_records(partial, len(the_design.points))
    write_results(partial, prepared, sweep_tables(prepared, records), plots, drawn, workers)
    info = provenance(base, list(argv), wall_seconds, computed * job.replications * len(base.arms) * base.cohort.size,
                      workers, kind="sweep")
    info["sweep"] = {"name": prepared.name, "method": the_design.method, "points": len(the_design.points),
                     "replications_per_point": job.replications, "points_computed": computed,
                     "points_resumed": resumed or 0, "resumed": resumed is not None, "scheduler": scheduler}
    write_json(partial / "run.json", info)
    try:
        os.rename(partial, final)  # replaces only an empty folder; a folder with files stays and is reported
    except OSError as err:
        (partial / "run.json").unlink()  # still an unfinished sweep, to finish again with --resume
        raise FolderError(f"{final}: cannot be put in place ({err.strerror})") from None
    return final


def _folder_text(run_dir: Path, name: str) -> str:
    """A file of a folder as text, or FolderError naming it."""
    try:
        return (run_dir / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FolderError(f"{run_dir}: {name}: cannot be read ({type(err).__name__})") from None


def _record_problem(record: Any, point: Point, job: PointJob, arms: Sequence[str]) -> str | None:
    """Why a saved point record is not the record of ``point`` (None when it is)."""
    if not isinstance(record, dict):
        return "not a point record (a JSON object)"
    if record.get("point") != point.index:
        return f"holds point {record.get('point')!r}, not point {point.index}"
    if record.get("values") != dict(point.overrides):
        return f"its values {record.get('values')!r} are not those of point {point.index} in design.csv"
    if record.get("replications") != job.replications:
        return f"has {record.get('replications')!r} replications, the sweep {job.replications}"
    means = record.get("means")
    for arm in arms:
        for outcome in job.outcomes:
            row = means.get(arm) if isinstance(means, dict) else None
            values = row.get(outcome) if isinstance(row, dict) else None
            if not (isinstance(values, list) and len(values) == job.replications
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
                return f"means.{arm}.{outcome}: not {job.replications} replication means"
    return None


def read_folder(run_dir: str | Path) -> tuple[Prepared, list[dict[str, Any]]]:
    """A finished sweep rebuilt from its folder's own files, with its point records, all checked.

    The base is the folder's ``scenario.yaml`` (resolved, with the sweep's replications) and the
    sweep its ``sweep.yaml`` (resolved); the sweep file the folder came from is never read. The
    design is expanded again from these and the base seed and must give ``design.csv`` exactly;
    ``points/`` must hold a record of every point, matching it. Raises FolderError
    (``sim.runner``) naming the folder and the file at fault; writes nothing.
    """
    path = Path(run_dir)
    if path.name.endswith(PARTIAL):
        raise FolderError(f"{path}: an unfinished sweep; finish it first with: python run.py SWEEP.yaml --resume "
                          f"{path}")
    missing = [name.rstrip("/") for name in missing_files(path, "sweep")]
    if missing:
        raise FolderError(f"{path}: not a complete sweep folder (missing {', '.join(missing)})")
    try:
        raw = read_yaml(path / "sweep.yaml")
        base = load_scenario(path / "scenario.yaml")
    except ScenarioError as err:
        raise folder_problem(path, err) from None
    try:
        sweep_file = SweepFile.model_validate(raw)
    except ValidationError as err:
        where, message = describe_errors(err, SweepFile)[0]
        raise FolderError(f"{path}: sweep.yaml: {where}: {message}") from None
    sweep = sweep_file.sweep
    count = sweep.replications or base.replications
    if count != base.replications:
        raise FolderError(f"{path}: sweep.yaml: sweep.replications: {count}, but scenario.yaml has "
                          f"{base.replications} replications; the two do not belong together")
    if sweep_file.name is None:
        raise FolderError(f"{path}: sweep.yaml: name: missing (the resolved sweep of a sweep folder has one)")
    info = run_info(path)
    check_scenario(path, info, base)
    recorded = info.get("sweep")
    ran: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
    for key, where, value in (("name", "name", sweep_file.name), ("method", "sweep.method", sweep.method),
                              ("replications_per_point", "sweep.replications", count)):
        if key in ran and ran[key] != value:
            raise FolderError(f"{path}: sweep.yaml: {where}: {value!r}, but run.json records {ran[key]!r}; changed "
                              f"after the run?")
    try:
        the_design = design(sweep, parameters_of(sweep, base, str(path / "sweep.yaml")), base.seed)
    except ScenarioError as err:
        raise folder_problem(path, err) from None
    saved, expected = _folder_text(path, "design.csv"), to_csv_text(the_design.table())
    if saved != expected:
        pairs = itertools.zip_longest(saved.splitlines(keepends=True), expected.splitlines(keepends=True))
        line = next(i for i, (a, b) in enumerate(pairs, 1) if a != b)
        raise FolderError(f"{path}: design.csv: differs from the design that sweep.yaml and scenario.yaml give "
                          f"(seed {base.seed}) at line {line}; these files do not belong together")
    job = PointJob(base.model_dump(mode="json"), count, job_outcomes(sweep.outcomes, base.economics))
    records = []
    for point in the_design.points:
        name = str(point_file(path, point.index).relative_to(path))
        if not (path / name).is_file():
            raise FolderError(f"{path}: {name}: missing; every point of design.csv needs its record")
        try:
            record = json.loads(_folder_text(path, name))
        except ValueError as err:
            raise FolderError(f"{path}: {name}: not valid JSON ({err})") from None
        problem = _record_problem(record, point, job, base.arm_names)
        if problem is not None:
            raise FolderError(f"{path}: {name}: {problem}")
        records.append(record)
    extra = sorted(p.name for p in (path / "points").iterdir()
                   if re.fullmatch(r"\d{6}\.json", p.name) and int(p.name[:6]) >= len(the_design.points))
    if extra:
        raise FolderError(f"{path}: points/{extra[0]}: not a point of design.csv ({len(the_design.points)} points)")
    if ran.get("points", len(records)) != len(records):
        raise FolderError(f"{path}: design.csv: {len(records)} points, but run.json records {ran['points']}")
    return Prepared(sweep_file, sweep_file.name, base, the_design, job, {}), records


def redraw_folder(run_dir: str | Path, workers: int = 1, drawn: Callable[[int], Any] | None = None) -> Path:
    """Write a finished sweep folder's tables, figures and ``report.md`` again from its saved points.

    Nothing is simulated and ``run.json`` is left as it is; every file is replaced atomically. The
    tables and report are byte-identical to those the sweep wrote (with figures), and the figures do not
    depend on ``workers``, the processes that draw them; ``drawn(count)`` follows them. Raises
    FolderError, before writing anything, when the folder is not a finished, consistent sweep.
    """
    path = Path(run_dir)
    prepared, records = read_folder(path)
    try:
        tables = sweep_tables(prepared, records)
    except (KeyError, ValueError, TypeError, IndexError) as err:
        raise FolderError(f"{path}: points: unusable records ({type(err).__name__}: {err})") from None
    write_results(path, prepared, tables, plots=True, drawn=drawn, workers=workers)
    return path
