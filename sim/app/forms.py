"""Form fields generated from a file format's JSON Schema and a file's values, and the ``--set`` edits they make.

The walk follows the schema (``$ref``, optional values, mappings of free names, discriminated
unions of distributions) beside the file's data, so a key added to the format appears in the form
without a change here. Each field is edited as the text ``--set PATH=VALUE`` would take (read as
YAML), so the page validates, and reports problems, exactly as the command line does.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["NOT_SET", "Field", "command_line", "edits_from", "fields_of", "flow_text", "limits_text"]

NOT_SET = "(not set)"
"""The choice of an optional field that is left out of the file."""


@dataclass(frozen=True)
class Field:
    """One editable value: where it is (a dotted path, as ``--set`` takes it), what it means, and its value in the file.

    ``kind`` is ``text`` (any value, typed as YAML), ``choice`` (one of ``choices``) or
    ``distribution`` (a discriminated union: ``choices`` are its kinds, ``variants`` the parameter
    fields of each).
    """

    path: str
    group: str
    key: str
    kind: str
    value: Any
    present: bool
    description: str = ""
    unit: str = ""
    limits: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    string: bool = False
    variants: Mapping[str, tuple[Field, ...]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The value as it is typed into the form ('' when not in the file and without a default); a string as it is."""
        if self.string and isinstance(self.value, str):
            return self.value
        if self.present:
            return flow_text(self.value)
        return "" if self.default is None else flow_text(self.default)


def flow_text(value: Any) -> str:
    """A value as one line of YAML, which ``--set PATH=VALUE`` reads back as the same value."""
    if isinstance(value, str) and yaml.safe_load(value) == value and "\n" not in value:
        return value
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def limits_text(node: Mapping[str, Any]) -> str:
    """The range a number must lie in, in words ('0 to 1', 'above 0'), from the schema."""
    low = next(((f"{node[k]:g}", k) for k in ("minimum", "exclusiveMinimum") if k in node), None)
    high = next(((f"{node[k]:g}", k) for k in ("maximum", "exclusiveMaximum") if k in node), None)
    if low and high:
        if low[1] == "minimum" and high[1] == "maximum":
            return f"{low[0]} to {high[0]}"
        return f"{'at least' if low[1] == 'minimum' else 'above'} {low[0]}, " \
               f"{'at most' if high[1] == 'maximum' else 'below'} {high[0]}"
    if low:
        return f"{'at least' if low[1] == 'minimum' else 'above'} {low[0]}"
    if high:
        return f"{'at most' if high[1] == 'maximum' else 'below'} {high[0]}"
    return ""


class _Walker:
    """Walks a schema beside the data, collecting fields."""

    def __init__(self, schema: Mapping[str, Any], skip: Iterable[str]):
        self.defs: Mapping[str, Any] = schema.get("$defs", {})
        self.skip = set(skip)
        self.fields: list[Field] = []

    def resolve(self, node: Mapping[str, Any]) -> dict[str, Any]:
        """A schema node with its ``$ref`` followed (the referring node's own keys, e.g. description, kept)."""
        out = dict(node)
        while "$ref" in out:
            target = self.defs[str(out.pop("$ref")).rsplit("/", 1)[-1]]
            out = {**target, **{k: v for k, v in out.items() if k not in ("title",)}}
        return out

    def options(self, node: Mapping[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        """The alternatives of a node (``anyOf``) without null, and whether null is allowed."""
        node = self.resolve(node)
        if "anyOf" not in node:
            return [node], False
        alternatives = [self.resolve(o) for o in node["anyOf"]]
        kept = [{**{k: v for k, v in node.items() if k not in ("anyOf",)}, **o} for o in alternatives
                if o.get("type") != "null"]
        return kept, len(kept) < len(alternatives)

    @staticmethod
    def describe(node: Mapping[str, Any], unit: str = "") -> tuple[str, str]:
        """(description, unit) of a property from the schema: its ``description`` and ``x-unit``; a distribution's
        parameter without a unit of its own is in ``unit``, the unit of the quantity it describes."""
        return str(node.get("description", "")), str(node.get("x-unit") or unit)

    def node_for(self, node: Mapping[str, Any], value: Any, present: bool) -> dict[str, Any]:
        """The alternative that fits the value: a mapping for a mapping, otherwise the first scalar one."""
        kept, _ = self.options(node)
        if len(kept) == 1:
            return kept[0]
        structured = [o for o in kept if "oneOf" in o or o.get("type") == "object" or "properties" in o]
        plain = [o for o in kept if o not in structured]
        if isinstance(value, dict) and structured:
            return structured[0]
        return plain[0] if plain else kept[0]

    def walk_object(self, node: Mapping[str, Any], data: Mapping[str, Any], path: list[str]) -> None:
        for key, child in node.get("properties", {}).items():
            present = key in data
            self.walk(child, data.get(key), present, [*path, key])

    def walk(self, node: Mapping[str, Any], value: Any, present: bool, path: list[str], unit: str = "") -> None:
        dotted = ".".join(path)
        if dotted in self.skip:
            return
        _, optional = self.options(node)
        chosen = self.node_for(node, value, present)
        if isinstance(value, dict) or (not present and _is_structured(chosen)):
            if not present or value is None:
                return  # an optional block the file leaves out: added by editing the file
            if "oneOf" in chosen and "discriminator" in chosen:
                self.fields.append(self.distribution(node, chosen, value, path))
                return
            if "properties" in chosen:
                self.walk_object(chosen, value, path)
                return
            extra = chosen.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                for name, item in value.items():
                    self.walk(extra, item, True, [*path, str(name)])
                return
        self.fields.append(self.leaf(node, chosen, value, present, optional, path, unit))

    def leaf(self, node: Mapping[str, Any], chosen: Mapping[str, Any], value: Any, present: bool, optional: bool,
             path: list[str], unit: str = "") -> Field:
        description, unit = self.describe(node, unit)
        default = node.get("default", chosen.get("default"))
        common = {"path": ".".join(path), "group": ".".join(path[:-1]), "key": path[-1], "value": value,
                  "present": present, "description": description, "unit": unit, "limits": limits_text(chosen),
                  "default": default}
        choices = [str(c) for c in chosen.get("enum", [])] or ([str(chosen["const"])] if "const" in chosen else [])
        if choices and (present or default is not None or optional):
            if not present and default is None:
                choices = [NOT_SET, *choices]
            return Field(kind="choice", choices=tuple(choices), **common)
        return Field(kind="text", string=chosen.get("type") == "string", **common)

    def distribution(self, node: Mapping[str, Any], chosen: Mapping[str, Any], value: Mapping[str, Any],
                     path: list[str]) -> Field:
        description, unit = self.describe(node)
        tag = str(chosen["discriminator"]["propertyName"])
        variants: dict[str, tuple[Field, ...]] = {}
        for kind, ref in chosen["discriminator"]["mapping"].items():
            variant = self.resolve({"$ref": ref})
            same = value.get(tag) == kind
            params = []
            for key, child in variant.get("properties", {}).items():
                if key == tag:
                    continue
                outer, self.fields = self.fields, []
                self.walk(child, value.get(key) if same else None, same and key in value, [*path, key], unit)
                params.extend(self.fields)
                self.fields = outer
            variants[str(kind)] = tuple(params)
        return Field(path=".".join(path), group=".".join(path[:-1]), key=path[-1], kind="distribution",
                     value=dict(value), present=True, description=description, unit=unit,
                     choices=tuple(variants), variants=variants)


def _is_structured(node: Mapping[str, Any]) -> bool:
    return "oneOf" in node or "properties" in node or isinstance(node.get("additionalProperties"), dict)


def fields_of(schema: Mapping[str, Any], data: Mapping[str, Any], *, under: str = "",
              skip: Iterable[str] = ()) -> list[Field]:
    """The form fields of a file's data, in schema order.

    ``under`` restricts the form to one top-level section (e.g. ``trial``); ``skip`` leaves out
    paths shown elsewhere (the run's size and seed).
    """
    walker = _Walker(schema, skip)
    root = walker.resolve(schema)
    if under:
        walker.walk(root["properties"][under], data.get(under), under in data, [under])
    else:
        walker.walk_object(root, data, [])
    return walker.fields


def edits_from(fields: Iterable[Field], entered: Mapping[str, str]) -> list[tuple[str, str]]:
    """The ``(PATH, VALUE)`` texts of ``--set`` that turn the file into what the form shows.

    ``entered`` maps a field's path to the text (or choice) in the form; a distribution's kind is
    under its own path and its parameters under theirs. A field whose text is unchanged makes no
    edit; a distribution whose kind changed is replaced whole.
    """
    edits: list[tuple[str, str]] = []
    for item in fields:
        if item.kind == "distribution":
            kind = entered.get(item.path, str(item.value.get("distribution")))
            params = item.variants.get(kind, ())
            if kind == item.value.get("distribution"):
                edits.extend(edits_from(params, entered))
                continue
            parts = [f"distribution: {kind}"]
            parts += [f"{p.key}: {entered.get(p.path, p.text).strip()}" for p in params
                      if entered.get(p.path, p.text).strip()]
            edits.append((item.path, "{" + ", ".join(parts) + "}"))
            continue
        text = entered.get(item.path, item.text if item.kind == "text" else str(item.text or NOT_SET))
        text = text.strip() if isinstance(text, str) else str(text)
        original = item.text if item.present or item.kind == "text" else (item.text or NOT_SET)
        if text == original or text == NOT_SET or (not item.present and text == ""):
            continue
        edits.append((item.path, flow_text(text) if item.string else text))
    return edits


def command_line(file: str, options: Iterable[tuple[str, Any]], edits: Iterable[tuple[str, str]]) -> str:
    """The ``python run.py`` command that runs the same job as the page: options, then one ``--set`` per edit."""
    words = ["python", "run.py", file]
    for option, value in options:
        words += [option, str(value)]
    for path, text in edits:
        words += ["--set", f"{path}={text}"]
    return shlex.join(words)


def as_json(fields: Iterable[Field]) -> str:
    """The fields as JSON (their paths, kinds and texts), for a test or a look at what the form holds."""
    return json.dumps([{"path": f.path, "kind": f.kind, "text": f.text if f.kind != "distribution" else None}
                       for f in fields], indent=1)
