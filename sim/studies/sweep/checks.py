"""Reading a sweep file and its base scenario, expanding the design, and checking every point before anything runs.

Every problem is found at once: of the sweep section, of each parameter (its path in the base
scenario, each alone at its extreme values), and of every point of the design.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from sim.outputs.tables import scenario_yaml, to_csv_text
from sim.spec.base import ScenarioError
from sim.spec.distributions import TriangularPrior, UniformPrior
from sim.spec.errors import describe_errors
from sim.spec.load import apply_overrides, override_and_validate, read_yaml, validate_scenario
from sim.spec.paths import parse_set_option
from sim.spec.scenario import Scenario
from sim.spec.sweep import EXPECTED, METHODS, ParameterSpec, Range, SweepFile, Values, consistency, spec_kind
from sim.studies.sweep.design import Design, design, design_value, parameters_of, path_problem
from sim.studies.sweep.economics import job_outcomes
from sim.studies.sweep.evaluate import PointJob

__all__ = ["Prepared", "check_design", "prepare", "resolved_sweep_text"]

def _scenario_problems(where: Path, data: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems of a scenario mapping as (dotted path, message)."""
    try:
        validate_scenario(where, data)
    except ScenarioError as err:
        prefix = f"error: {where}: "
        out = []
        for line in err.problems:
            dotted, _, message = line.removeprefix(prefix).partition(": ")
            out.append((dotted, message))
        return out
    return []


def _extreme_problems(sweep_path: Path, data: dict[str, Any], path: str, spec: Any, integer: bool) -> list[str]:
    """Problems of the base scenario with one parameter at each of its extreme values (others at base)."""
    if isinstance(spec, Values):
        ends = [(f"values.{i}", v) for i, v in enumerate(spec.values)]
    elif isinstance(spec, (Range, UniformPrior, TriangularPrior)):
        ends = [("low", spec.low), ("high", spec.high)]
    else:
        ends = []
    where = Path("<point>")
    problems = []
    for key, value in ends:
        candidate = apply_overrides(where, data, [(path, design_value(value, integer))])
        for dotted, message in _scenario_problems(where, candidate):
            detail = message if dotted == path else f"{dotted}: {message}"
            problems.append(f"error: {sweep_path}: sweep.parameters.{path}.{key}: {detail}")
    return problems


def _point_problems(sweep_path: Path, data: dict[str, Any], the_design: Design) -> list[str]:
    """Problems of the design's points, grouped by where they arise: how many points, and the first."""
    where = Path("<point>")
    failures: dict[tuple[str, str], list[int]] = {}
    first: dict[tuple[str, str], str] = {}
    paths = {p.path for p in the_design.parameters}
    for point in the_design.points:
        candidate = apply_overrides(where, data, list(point.overrides))
        for dotted, message in _scenario_problems(where, candidate):
            owners = [p for p in paths if p == dotted or p.startswith(dotted + ".") or dotted.startswith(p + ".")]
            key = f"sweep.parameters.{owners[0]}" if len(owners) == 1 else "sweep.parameters"
            group = (key, dotted if dotted not in paths else "")
            failures.setdefault(group, []).append(point.index)
            first.setdefault(group, message)
    total = len(the_design.points)
    problems = []
    for (key, dotted), indices in failures.items():
        inside = f"{dotted}: " if dotted else ""
        problems.append(f"error: {sweep_path}: {key}: {len(indices)} of {total} points give an invalid scenario, "
                        f"e.g. point {indices[0]}: {inside}{first[(key, dotted)]}")
    return problems


def check_design(sweep_path: Path, base: Scenario, the_design: Design) -> list[str]:
    """Every problem of a design, as ``error: FILE: sweep.parameters.PATH...: message`` lines.

    First each parameter alone at its extreme values (range ends, grid values, bounded supports),
    then every point of the design.
    """
    data = base.model_dump(mode="json")
    problems: list[str] = []
    for p in the_design.parameters:
        problems.extend(_extreme_problems(sweep_path, data, p.path, p.spec, p.integer))
    if problems:
        return list(dict.fromkeys(problems))
    return _point_problems(sweep_path, data, the_design)


@dataclass
class Prepared:
    sweep_file: SweepFile
    name: str
    base: Scenario
    design: Design
    job: PointJob
    start_texts: dict[str, str]


def resolved_sweep_text(sweep_file: SweepFile, name: str, replications: int) -> str:
    data = sweep_file.model_dump(mode="json", exclude_none=True)
    data["name"] = name
    data["sweep"]["replications"] = replications
    data["sweep"]["levels"] = sweep_file.sweep.level_count if sweep_file.sweep.method in ("one_way", "morris") \
        else data["sweep"].get("levels")
    if data["sweep"]["levels"] is None:
        del data["sweep"]["levels"]
    ordered = {k: data[k] for k in ("name", "description", "base", "sweep") if k in data}
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True)


def _load_base(sweep_path: Path, raw: dict[str, Any], parsed: list[tuple[str, Any]],
               extra: list[tuple[str, Any]], problems: list[str]) -> Scenario | None:
    """The base scenario named by a sweep file, with the command line's changes; problems are appended."""
    base_name = raw.get("base")
    if not isinstance(base_name, str) or not base_name:
        return None  # the schema reports it
    base_path = sweep_path.parent / base_name
    if not base_path.is_file():
        problems.append(f"error: {sweep_path}: base: no such scenario file: {base_path}")
        return None
    try:
        return override_and_validate(base_path, read_yaml(base_path), [*extra, *parsed])
    except ScenarioError as err:
        problems.extend(err.problems)
        return None


def _section_problems(sweep_path: Path, raw: dict[str, Any], base: Scenario | None,
                      schema_failed: bool) -> list[str]:
    """Problems of each parameter on its own (path, extreme values) and, when the schema failed, between
    keys, so that one run reports them all."""
    section = raw.get("sweep")
    if not isinstance(section, dict):
        return []
    parameters = section.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    method = section.get("method") if section.get("method") in METHODS else None
    problems: list[str] = []
    specs: dict[str, Any] = {}
    adapter = TypeAdapter(ParameterSpec)
    for path, spec in parameters.items():
        try:
            specs[str(path)] = adapter.validate_python(spec)
        except ValidationError:
            specs[str(path)] = None
    if schema_failed and method is not None:
        kinds = {str(p): spec_kind(v) for p, v in parameters.items()}
        levels, samples = section.get("levels"), section.get("samples")
        listed = section.get("outcomes")
        outcomes = listed if isinstance(listed, list) else []
        problems.extend(f"error: {sweep_path}: sweep.{key}: {message}"
                        for key, message in consistency(method, kinds, levels, samples, outcomes))
    if base is None:
        return problems
    data = base.model_dump(mode="json")
    for path, spec in specs.items():
        problem, value = path_problem(path, data, method)
        if problem is not None:
            problems.append(f"error: {sweep_path}: sweep.parameters.{path}: {problem}")
        elif spec is not None and (method is None or spec_kind(spec) == EXPECTED[method][0]):
            problems.extend(_extreme_problems(sweep_path, data, path, spec, isinstance(value, int)))
    return problems


def prepare(sweep_path: str | Path, overrides: Sequence[str] = (), replications: int | None = None,
            patients: int | None = None, seed: int | None = None) -> Prepared:
    """Read, resolve, expand and check a sweep; raises ScenarioError listing every problem."""
    sweep_path = Path(sweep_path)
    problems: list[str] = []
    for option, value, least in (("--replications", replications, 2), ("--patients", patients, 1),
                                 ("--seed", seed, 0)):
        if value is not None and value < least:
            problems.append(f"error: {sweep_path}: {option}: must be at least {least}, got {value}")
    parsed: list[tuple[str, Any]] = []
    for text in overrides:
        try:
            parsed.append(parse_set_option(text))
        except ScenarioError as err:
            problems.extend(f"error: {sweep_path}: {p}" for p in err.problems)
    raw = read_yaml(sweep_path)  # a missing or unreadable file is the only problem worth reporting
    # ``--set sweep.KEY=VALUE`` changes the sweep file's own block (as ``trial.KEY`` does a trial file's); every
    # other path, the base scenario.
    sweep_sets = [(p, v) for p, v in parsed if p == "sweep" or p.startswith("sweep.")]
    parsed = [(p, v) for p, v in parsed if not (p == "sweep" or p.startswith("sweep."))]
    if sweep_sets:
        try:
            raw = apply_overrides(sweep_path, raw, sweep_sets)
        except ScenarioError as err:
            problems.extend(err.problems)
    sweep_file = None
    try:
        sweep_file = SweepFile.model_validate(raw)
    except ValidationError as err:
        problems.extend(f"error: {sweep_path}: {w}: {m}" for w, m in describe_errors(err, SweepFile))
    extra = [(p, v) for p, v in (("cohort.size", patients), ("seed", seed)) if v is not None and v >= 0]
    base = _load_base(sweep_path, raw, parsed, extra, problems)
    problems.extend(_section_problems(sweep_path, raw, base, sweep_file is None))
    count = 0
    if base is not None and sweep_file is not None:
        count = replications or sweep_file.sweep.replications or base.replications
        if count < 2:
            problems.append(f"error: {sweep_path}: sweep.replications: missing, and the base scenario has {count}; "
                            f"a sweep needs at least 2 per point (the noise of each effect comes from them)")
    problems = list(dict.fromkeys(problems))
    if problems or base is None or sweep_file is None:
        raise ScenarioError(problems)
    base = base.model_copy(update={"replications": count})
    parameters = parameters_of(sweep_file.sweep, base, str(sweep_path))
    the_design = design(sweep_file.sweep, parameters, base.seed)
    design_problems = _point_problems(sweep_path, base.model_dump(mode="json"), the_design)
    if design_problems:
        raise ScenarioError(design_problems)
    name = sweep_file.name or sweep_path.stem
    job = PointJob(base.model_dump(mode="json"), count, job_outcomes(sweep_file.sweep.outcomes, base.economics))
    start_texts = {"scenario.yaml": scenario_yaml(base),
                   "sweep.yaml": resolved_sweep_text(sweep_file, name, count),
                   "design.csv": to_csv_text(the_design.table())}
    return Prepared(sweep_file, name, base, the_design, job, start_texts)
