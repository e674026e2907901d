"""Pydantic's validation errors as ``(dotted YAML path, message)`` pairs, for any schema of ``sim.spec``."""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError

from sim.spec.base import KeyProblems, key_hint

__all__ = ["describe_errors", "walk"]

_PROBABILITY_KEYS = ("probability", "complete_probability", "retreatment_probability", "discontinue_probability",
                     "irreversible_probability",
                     "share")
_BOUNDS = {"greater_than_equal": ("at least", "ge"), "less_than_equal": ("at most", "le"),
           "greater_than": ("greater than", "gt"), "less_than": ("less than", "lt")}


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional; a union of several types comes back as a tuple of its members."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif get_origin(tp) in (Union, types.UnionType):
            args = tuple(a for a in get_args(tp) if a is not type(None))
            if len(args) != 1:
                return args
            tp = args[0]
        else:
            return tp


def _tag_of(member: Any) -> str | None:
    """The name pydantic puts in an error location for a member of a tagged union, if any."""
    if get_origin(member) is Annotated:
        for extra in get_args(member)[1:]:
            if isinstance(extra, Tag):
                return str(extra.tag)
        member = get_args(member)[0]
    if isinstance(member, type) and issubclass(member, BaseModel) and "distribution" in member.model_fields:
        values = get_args(member.model_fields["distribution"].annotation)
        return str(values[0]) if values else None
    return None


def _tags(members: tuple[Any, ...]) -> list[str]:
    return [t for t in map(_tag_of, members) if t is not None]


def walk(model: type[BaseModel], raw_loc: list[str]) -> tuple[list[str], Any]:
    """Follow a pydantic error location through a schema.

    Returns the dotted YAML path (without the tags pydantic adds inside a tagged union, such as a
    distribution's name or a sweep parameter's form) and the type found there (a model, a union's
    members as a tuple, or None when unknown).
    """
    path: list[str] = []
    current: Any = model
    for part in raw_loc:
        current = _unwrap(current)
        if isinstance(current, tuple):  # a tagged union: a tag picks its member and is no YAML key
            tagged = [m for m in current if _tag_of(m) == part]
            if tagged:
                current = tagged[0]
                continue
            current = None
        path.append(part)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            current = field.annotation if field is not None else None
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        else:
            current = None
    return path, _unwrap(current)


def _literal_choices(model: type[BaseModel], raw_loc: list[str]) -> list[str]:
    """The allowed values of the Literal at a location (empty if it is not one)."""
    _, found = walk(model, raw_loc)
    if get_origin(found) is Literal:
        return [str(v) for v in get_args(found)]
    return []


def describe_errors(err: ValidationError, model: type[BaseModel]) -> list[tuple[str, str]]:
    """Turn pydantic errors of ``model`` into (dotted YAML path, message) pairs, each pair once."""
    out: list[tuple[str, str]] = []
    for e in err.errors(include_url=False):
        raw_loc = [str(p) for p in e["loc"] if not str(p).startswith("function-")]
        loc, _ = walk(model, raw_loc)
        kind = e["type"]
        ctx = e.get("ctx", {})
        items: list[tuple[list[str], str]] = []
        if loc and loc[-1] == "[key]":  # a mapping key that is not a string, e.g. a number
            items.append((loc[:-1], f"names must be text, got {e['input']!r}"))
        elif kind == "extra_forbidden":
            _, parent = walk(model, raw_loc[:-1])
            choices = list(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
            items.append((loc, f"unknown key '{loc[-1]}'{key_hint(loc[-1], choices)}"))
        elif kind == "missing":
            items.append((loc, "missing required key"))
        elif kind == "literal_error":
            choices = _literal_choices(model, raw_loc)
            shown = ", ".join(choices)
            items.append((loc, f"must be one of {shown}, got {e['input']!r}{key_hint(str(e['input']), choices)}"))
        elif kind == "union_tag_invalid":
            _, members = walk(model, raw_loc)
            choices = _tags(members) if isinstance(members, tuple) else []
            tag = str(ctx.get("tag", "?"))
            items.append(([*loc, "distribution"],
                          f"unknown distribution '{tag}'{key_hint(tag, choices)}; one of {', '.join(choices)}"))
        elif kind == "union_tag_not_found":
            items.append((loc, "a distribution needs a 'distribution' key (or give a bare number of weeks)"))
        elif kind in _BOUNDS:
            words, key = _BOUNDS[kind]
            limit = ctx.get(key)
            if isinstance(limit, float) and abs(limit) >= 1e5:  # 1e+12, not 1000000000000.0
                limit = f"{limit:g}"
            bound = f"{words} {limit}"
            if loc and loc[-1] in _PROBABILITY_KEYS:
                bound = "between 0 and 1"
            items.append((loc, f"must be {bound}, got {e['input']!r}"))
        elif kind == "value_error" and isinstance(ctx.get("error"), KeyProblems):
            items.extend(([*loc, *key.split(".")], message) for key, message in ctx["error"].items)
        elif kind == "value_error":
            items.append((loc, str(ctx.get("error", e["msg"]))))
        elif kind == "too_short":
            least = ctx.get("min_length", 1)
            items.append((loc, f"must list at least {least} value{'s' if least != 1 else ''}, got {e['input']!r}"))
        elif kind == "parameter_form":
            items.append((loc, f"{e['msg']}, got {e['input']!r}"))
        else:
            items.append((loc, f"{e['msg'][0].lower()}{e['msg'][1:]}, got {e['input']!r}"))
        for where, message in items:
            item = (".".join(where) or "(top level)", message)
            if item not in out:
                out.append(item)
    return out
