"""Dotted paths into nested mappings: reading, assigning, and ``--set PATH=VALUE`` options."""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml

from sim.spec.base import ScenarioError, key_hint

__all__ = ["NumberLoader", "PathError", "assign", "deep_merge", "leaf", "list_index", "parse_set_option"]


class NumberLoader(yaml.SafeLoader):
    """The safe loader, also reading a number in exponent form without a point (``1e10``, ``2E-5``) as a number.

    YAML 1.1 (PyYAML) reads those as text, YAML 1.2 (editors, JSON) as numbers; reading them as numbers
    lets a file mean the same to the loader and to an editor checking it against the JSON Schema.
    """


NumberLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"), list("-+0123456789"))


class PathError(Exception):
    """A dotted path that does not lead where it should; the message says why."""


def assign(tree: dict[str, Any], keys: list[str], value: Any) -> None:
    """Set the value at ``keys`` in a nested mapping, creating mappings on the way."""
    node: Any = tree
    for depth, key in enumerate(keys[:-1]):
        if isinstance(node, list):
            node = node[list_index(key, node)]
            continue
        if not isinstance(node, dict):
            raise PathError(f"'{'.'.join(keys[:depth])}' is not a mapping")
        if key not in node or node[key] is None:
            node[key] = {}
        node = node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[list_index(last, node)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise PathError(f"'{'.'.join(keys[:-1])}' is not a mapping")


def list_index(key: str, node: list[Any]) -> int:
    """The list index a path key names, or PathError."""
    if not key.isdigit() or int(key) >= len(node):
        raise PathError(f"'{key}' is not an index of a list of {len(node)}")
    return int(key)


def parse_set_option(text: str) -> tuple[str, Any]:
    """Split ``PATH=VALUE`` and read VALUE as YAML (numbers, strings, lists, mappings)."""
    path, sep, value = text.partition("=")
    path = path.strip()
    if not sep or not path or not re.fullmatch(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*", path):
        raise ScenarioError([f"--set {text}: expected PATH=VALUE with a dotted PATH, e.g. seed=7"])
    try:
        parsed = yaml.load(value, Loader=NumberLoader) if value.strip() else None  # a safe loader
    except yaml.YAMLError:
        raise ScenarioError([f"--set {text}: VALUE is not valid YAML"]) from None
    if parsed is None:
        raise ScenarioError([f"--set {path}: VALUE is empty"])
    return path, parsed


def leaf(tree: Any, path: str) -> tuple[bool, Any, str]:
    """Follow a dotted path: (found, value, message when not found)."""
    node = tree
    keys = path.split(".")
    for depth, key in enumerate(keys):
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
            continue
        if not isinstance(node, dict):
            return False, None, f"'{'.'.join(keys[:depth])}' is not a mapping"
        if key not in node:
            where = ".".join(keys[:depth]) or "the scenario"
            return False, None, f"{where} has no '{key}'{key_hint(key, [str(k) for k in node])}"
        node = node[key]
    return True, node, ""


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``changes`` merged in, mapping by mapping."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
