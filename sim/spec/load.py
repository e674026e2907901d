"""Reading scenario files: YAML, ``--set`` overrides, validation into a Scenario, and the JSON Schema."""

from __future__ import annotations

import copy
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from sim.spec.base import ScenarioError, key_hint
from sim.spec.errors import describe_errors, walk
from sim.spec.paths import NumberLoader, PathError, assign
from sim.spec.scenario import MAX_FOLLOW_UP_WEEKS, Scenario, cross_check, name_check

__all__ = ["MAX_FILE_BYTES", "MAX_FOLLOW_UP_WEEKS", "MAX_NAME_CHARACTERS", "MAX_NESTING", "MAX_NODES",
           "apply_overrides", "created_blocks", "load_scenario", "override_and_validate", "read_yaml",
           "scenario_json_schema", "validate_scenario"]

MAX_FILE_BYTES = 1 << 20
"""The largest scenario, sweep or trial file read (1 MiB; the shipped ones are under 10 KiB)."""

MAX_NESTING = 64
"""The deepest nesting of mappings and lists in a file (a scenario needs about 8)."""

MAX_NODES = 100_000
"""The most values a file may stand for once its aliases (``*name``) are expanded (a scenario has
a few hundred): an "alias bomb" of a few lines standing for billions is refused before it is used."""

MAX_NAME_CHARACTERS = 100
"""The longest name of an arm, therapy, drug, subgroup or adverse event."""

_MESSAGE_CHARACTERS = 300
"""An error line quotes at most this much of a value (a huge value is cut in the middle)."""


class _UniqueKeyLoader(NumberLoader):
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


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def _read_text(path: Path) -> str:
    """A regular file's text, at most ``MAX_FILE_BYTES``; ScenarioError for anything else.

    Opened without blocking and checked before it is read, so that a named pipe (which would wait
    for a writer for ever) or a device such as ``/dev/zero`` (endless) is refused at once.
    """
    def fail(reason: str) -> ScenarioError:
        return ScenarioError([f"error: {path}: {reason}"])

    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise fail("no such file") from None
    except OSError as err:
        raise fail(f"cannot be read ({err.__class__.__name__})") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a file")
            raise fail(f"cannot be read ({kind}, not a YAML file)")
        if info.st_size > MAX_FILE_BYTES:
            raise fail(f"{info.st_size} bytes: larger than the {MAX_FILE_BYTES} a scenario, sweep or trial file may "
                       f"have")
        with os.fdopen(os.dup(descriptor), "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # the file may have grown since it was measured
    except OSError as err:
        raise fail(f"cannot be read ({err.__class__.__name__})") from None
    finally:
        os.close(descriptor)
    if len(data) > MAX_FILE_BYTES:
        raise fail(f"larger than the {MAX_FILE_BYTES} bytes a scenario, sweep or trial file may have")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise fail("cannot be read (UnicodeDecodeError)") from None


def _check_shape(text: str, path: Path) -> None:
    """Refuse a document nested deeper than ``MAX_NESTING`` or standing for more than ``MAX_NODES``
    values once its aliases are expanded, before it is built (the events are read one by one).

    The composer that builds the document recurses once per level (Python's stack ends near 300),
    and an alias costs nothing to build but its whole expansion to validate or to print.
    """
    sizes: dict[str, int] = {}  # values each finished anchor stands for
    open_anchors: set[str] = set()
    stack: list[list[Any]] = [[0, None]]  # per open collection: values so far, its anchor

    def add(count: int, mark: Any) -> None:
        stack[-1][0] += count
        total = sum(entry[0] for entry in stack)
        if total > MAX_NODES:
            line = f"line {mark.line + 1}: " if mark is not None else ""
            raise ScenarioError([f"error: {path}: {line}stands for more than {MAX_NODES} values once its aliases "
                                 f"(*name) are expanded; a scenario needs a few hundred"])

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        mark = event.start_mark
        if isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                sizes[event.anchor] = 1
            add(1, mark)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) > MAX_NESTING:
                raise ScenarioError([f"error: {path}: line {mark.line + 1}: nested more than {MAX_NESTING} levels "
                                     f"deep"])
            if event.anchor is not None:
                open_anchors.add(event.anchor)
            stack.append([1, event.anchor])
        elif isinstance(event, yaml.CollectionEndEvent):
            count, anchor = stack.pop()
            if anchor is not None:
                open_anchors.discard(anchor)
                sizes[anchor] = count
            add(count, mark)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor in open_anchors:
                raise ScenarioError([f"error: {path}: line {mark.line + 1}: the alias *{event.anchor} is inside "
                                     f"the value it names (a value that contains itself)"])
            add(sizes.get(event.anchor, 1), mark)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, or raise ScenarioError naming the file.

    Bounded before anything is built: a regular file of at most ``MAX_FILE_BYTES``, nested at most
    ``MAX_NESTING`` deep, standing for at most ``MAX_NODES`` values with its aliases expanded.
    """
    text = _read_text(path)
    try:
        _check_shape(text, path)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ScenarioError([f"error: {path}: {where}YAML syntax error: {shorten(str(problem))}"]) from None
    if not isinstance(data, dict):
        raise ScenarioError([f"error: {path}: (top level): must be a mapping of keys to values"])
    return data


def shorten(text: str, limit: int = _MESSAGE_CHARACTERS) -> str:
    """``text`` cut in the middle to at most about ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]} ... ({len(text) - 2 * keep} characters left out) ... {text[-keep:]}"


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


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _label_problem(name: Any) -> str | None:
    """Why a name cannot label rows and columns of the tables (None when it can)."""
    if not isinstance(name, str):
        return None  # the schema reports a name that is no text
    if not name:
        return "a name must not be empty"
    if len(name) > MAX_NAME_CHARACTERS:
        return f"a name must have at most {MAX_NAME_CHARACTERS} characters, got {len(name)}"
    if name != name.strip():
        return f"a name must not begin or end with a space, got {name!r}"
    if _CONTROL.search(name):
        return f"a name must not hold a line break, tab or other control character, got {shorten(repr(name), 80)}"
    return None


def limit_check(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Names of arms, therapies, drugs, subgroups and adverse events that cannot label table rows.

    Any printable text is a name (commas and quotes are quoted in the CSV files); empty names,
    surrounding spaces, line breaks and other control characters, and names over
    ``MAX_NAME_CHARACTERS`` are refused: they would be lost or ambiguous in a table, a figure or
    a report line.
    """
    problems: list[tuple[str, str]] = []

    def keys(where: str, mapping: Any) -> None:
        if isinstance(mapping, dict):
            for key in mapping:
                problem = _label_problem(key)
                if problem is not None:
                    shown = _CONTROL.sub(lambda m: repr(m.group())[1:-1], shorten(str(key), 40))
                    problems.append((f"{where}.{shown}", problem))

    keys("arms", data.get("arms"))
    therapies = data.get("therapies")
    keys("therapies", therapies)
    for name, spec in (therapies.items() if isinstance(therapies, dict) else []):
        if isinstance(spec, dict):
            problem = _label_problem(spec.get("drug"))
            if problem is not None:
                problems.append((f"therapies.{shorten(str(name), 40)}.drug", problem))
            keys(f"therapies.{shorten(str(name), 40)}.adverse_events", spec.get("adverse_events"))
    cohort = data.get("cohort")
    keys("cohort.subgroups", cohort.get("subgroups") if isinstance(cohort, dict) else None)
    return problems


def created_blocks(raw: dict[str, Any], overrides: Sequence[tuple[str, Any]]) -> dict[str, str]:
    """The blocks (dotted paths) the scenario does not have that ``--set`` overrides would create from one of their
    keys, each with the first override that does (overrides are applied in order, so a block given whole by an
    earlier one is not created by a later one)."""
    data = copy.deepcopy(raw)
    created: dict[str, str] = {}
    for dotted, value in overrides:
        keys = dotted.split(".")
        node: Any = data
        for depth, key in enumerate(keys[:-1]):
            if isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
                continue
            if not isinstance(node, dict):
                break
            if node.get(key) is None:
                created.setdefault(".".join(keys[:depth + 1]), dotted)
                break
            node = node[key]
        try:
            assign(data, keys, value)
        except PathError:
            pass
    return created


def _block_needs(block: str) -> str:
    """What a block must hold, in words: its required keys."""
    _, kind = walk(Scenario, block.split("."))
    if isinstance(kind, tuple):  # an optional block of several forms (a distribution)
        return "a whole distribution, e.g. {distribution: fixed, value: 4}"
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        required = [name for name, field in kind.model_fields.items() if field.is_required()]
        if required:
            return "its keys " + ", ".join(required)
    return "its values"


def _created_problem(path: Path, block: str, dotted: str) -> str:
    """Why a ``--set`` into a block the scenario does not have cannot be used, naming the cause."""
    if block == "cohort.subgroups":
        return (f"error: {path}: --set {dotted}: the scenario has no subgroups (cohort.subgroups) whose share could "
                f"be set; add them to the file, each with its share")
    parent, _, key = block.rpartition(".")
    where = parent or "the scenario"
    return (f"error: {path}: --set {dotted}: {where} has no {key} to change; give the whole block with "
            f"{_block_needs(block)}: --set '{block}={{...}}'")


def validate_scenario(path: Path, data: dict[str, Any], set_paths: Sequence[str] = (),
                      created: dict[str, str] | None = None) -> Scenario:
    """Validate a raw mapping into a Scenario, or raise ScenarioError with one line per problem.

    ``created``: the blocks ``--set`` made from one of their keys (:func:`created_blocks`); a problem inside one is
    reported as that cause, once, and a cohort's subgroups are never made that way.
    """
    created = created or {}

    def lines(problems: list[tuple[str, str]]) -> list[str]:
        out: list[str] = []
        for dotted, message in problems:
            block = next((b for b in created if dotted == b or dotted.startswith(b + ".")), None)
            text = _created_problem(path, block, created[block]) if block is not None else line(dotted, message)
            if text not in out:
                out.append(text)
        return out

    def line(dotted: str, message: str) -> str:
        origin = " (from --set)" if any(dotted == p or dotted.startswith(p + ".") for p in set_paths) else ""
        return f"error: {path}: {shorten(dotted, 120)}{origin}: {shorten(message)}"

    names = name_check(data) + limit_check(data)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(lines([*describe_errors(err, Scenario), *names])) from None
    problems = names + cross_check(scenario)
    if "cohort.subgroups" in created:
        problems.append(("cohort.subgroups", "made by --set"))
    if scenario.follow_up_weeks > MAX_FOLLOW_UP_WEEKS:
        problems.append(("follow_up_weeks", f"must be at most {MAX_FOLLOW_UP_WEEKS:g} weeks (100 years), "
                                            f"got {scenario.follow_up_weeks:g}"))
    if problems:
        raise ScenarioError(lines(problems))
    return scenario


def override_and_validate(path: Path, raw: dict[str, Any], overrides: Sequence[tuple[str, Any]]) -> Scenario:
    """A raw scenario mapping with ``--set`` overrides applied, validated (problems name their ``--set``)."""
    data = apply_overrides(path, raw, list(overrides))
    return validate_scenario(path, data, [p for p, _ in overrides], created_blocks(raw, overrides))


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
    return override_and_validate(path, read_yaml(path), overrides)


UNITS = ("Times are in weeks (from enrolment, or from the start of a course or dose level where a key says so), "
         "hazards (keys ending in _per_year) are constant rates per year (0.1 a year: about 10% within the first "
         "year), probabilities and shares are from 0 to 1, doses are in mg/day. A time is a distribution "
         "{distribution: NAME, ...} or a bare number of weeks (a fixed time). Every key is described with its unit "
         "(x-unit) and what each allowed value means; a key left out takes its default.")


def scenario_json_schema() -> dict[str, Any]:
    """The scenario format as JSON Schema, every key described."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "CLE treatment-strategy scenario"
    schema["description"] = ("A scenario: the cohort, the arms (ordered lines of therapies), the therapies, the "
                             "horizon and the seed. " + UNITS)
    return schema
