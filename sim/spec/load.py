"""Reading scenario files: YAML, ``--set`` overrides, validation into a Scenario, and the JSON Schema."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_origin

import yaml
from pydantic import ValidationError

from sim.spec.base import ScenarioError, key_hint
from sim.spec.errors import describe_errors, walk
from sim.spec.paths import PathError, assign
from sim.spec.scenario import Scenario, cross_check, name_check

__all__ = ["apply_overrides", "load_scenario", "read_yaml", "scenario_json_schema", "validate_scenario"]


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, or raise ScenarioError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([f"error: {path}: no such file"]) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as err:
        raise ScenarioError([f"error: {path}: cannot be read ({err.__class__.__name__})"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ScenarioError([f"error: {path}: {where}YAML syntax error: {problem}"]) from None
    if not isinstance(data, dict):
        raise ScenarioError([f"error: {path}: (top level): must be a mapping of keys to values"])
    return data


def _check_named_entries(data: dict[str, Any], keys: list[str]) -> None:
    """Refuse a path that goes through a therapy, arm, adverse event ... that does not exist.

    ``--set`` may add a leaf, or a sub-mapping of a fixed schema (``taper.weeks``), but a misspelt
    name in a mapping of free names (``therapies.lenalidomid_5.max_courses``) would otherwise
    create a new, half-empty entry and be reported as a list of missing keys.
    """
    node: Any = data
    for depth, key in enumerate(keys[:-1]):
        if not isinstance(node, dict):
            return
        if key not in node:
            _, kind = walk(Scenario, keys[:depth])
            if get_origin(kind) is dict:
                where = ".".join(keys[:depth])
                hint = key_hint(key, [str(k) for k in node])
                raise PathError(f"{where} has no '{key}'{hint}")
            return
        node = node[key]


def apply_overrides(path: Path, raw: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a raw scenario mapping, returning a new mapping."""
    data = copy.deepcopy(raw)
    problems: list[str] = []
    for dotted, value in overrides:
        try:
            _check_named_entries(data, dotted.split("."))
            assign(data, dotted.split("."), value)
        except PathError as err:
            problems.append(f"error: {path}: --set {dotted}: {err}")
    if problems:
        raise ScenarioError(problems)
    _rescale_shares(data, [dotted for dotted, _ in overrides])
    return data


def _rescale_shares(data: dict[str, Any], set_paths: list[str]) -> None:
    """After ``--set cohort.subgroups.G.share=v``, scale the other subgroups' shares to fill 1 - v.

    The shares not set keep their proportions to each other, so a sweep can vary one subgroup's
    share and the case mix stays a mixture. Values that are not numbers are left to validation.
    """
    groups = data.get("cohort", {}).get("subgroups") if isinstance(data.get("cohort"), dict) else None
    if not isinstance(groups, dict):
        return
    fixed = {m.group(1) for p in set_paths if (m := re.fullmatch(r"cohort\.subgroups\.([^.]+)\.share", p))}
    if not fixed:
        return
    shares: dict[str, float] = {}
    for g, spec in groups.items():
        share = spec.get("share") if isinstance(spec, dict) else None
        if not isinstance(share, (int, float)) or isinstance(share, bool):
            return
        shares[g] = share
    others = [g for g in groups if g not in fixed]
    rest = sum(shares[g] for g in others)
    room = 1.0 - sum(shares[g] for g in fixed if g in shares)
    if rest > 0 and room >= 0:
        for g in others:
            groups[g]["share"] = shares[g] * room / rest


def validate_scenario(path: Path, data: dict[str, Any], set_paths: Sequence[str] = ()) -> Scenario:
    """Validate a raw mapping into a Scenario, or raise ScenarioError with one line per problem."""

    def line(dotted: str, message: str) -> str:
        origin = " (from --set)" if any(dotted == p or dotted.startswith(p + ".") for p in set_paths) else ""
        return f"error: {path}: {dotted}{origin}: {message}"

    names = name_check(data)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError([line(p, m) for p, m in [*describe_errors(err, Scenario), *names]]) from None
    problems = names + cross_check(scenario)
    if problems:
        raise ScenarioError([line(p, m) for p, m in problems])
    return scenario


def load_scenario(path: str | Path, overrides: Sequence[tuple[str, Any]] = ()) -> Scenario:
    """Load, override and validate a scenario file.

    Parameters
    ----------
    path:
        The YAML file.
    overrides:
        ``(dotted path, value)`` pairs applied before validation, as from ``--set``.

    Raises
    ------
    ScenarioError
        With one ``error: FILE: PATH: message`` line per problem.
    """
    path = Path(path)
    raw = read_yaml(path)
    data = apply_overrides(path, raw, list(overrides))
    return validate_scenario(path, data, [p for p, _ in overrides])


def scenario_json_schema() -> dict[str, Any]:
    """The scenario format as JSON Schema."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "CLE treatment-strategy scenario"
    return schema
