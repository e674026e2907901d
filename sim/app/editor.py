"""The generated form on the page: one widget per field, grouped as the file is, with its meaning, unit and range.

Widgets are keyed by the field's path (``PREFIX`` + the path with ``__`` for dots), so each has a
stable CSS class ``st-key-...`` and keeps its value while the same file is shown; the prefix names
the file, so another file starts with its own values.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from itertools import groupby

import streamlit as st

from sim.app.forms import Field, flow_text

__all__ = ["render_form", "widget_key"]

LONG_TEXT = 60
"""A string field longer than this is edited in a text area."""


def widget_key(prefix: str, path: str) -> str:
    """The widget key of a field: its path, with characters that are safe in a CSS class."""
    return prefix + path.replace(".", "__")


def caption(item: Field) -> str:
    """What the field means, its range and, when the file leaves it out, its default (the label gives the unit)."""
    parts = [item.description, item.unit if item.kind == "distribution" else ""]
    if item.limits:
        parts.append(f"range: {item.limits}")
    if not item.present and item.kind == "text":
        parts.append("not in the file: " + (f"default {flow_text(item.default)}" if item.default is not None
                                            else "empty means not set"))
    return " · ".join(p for p in parts if p)


def _render(item: Field, prefix: str, entered: MutableMapping[str, str]) -> None:
    key = widget_key(prefix, item.path)
    if item.kind == "distribution":
        current = str(item.value.get("distribution"))
        kind = st.selectbox(f"{item.key}: distribution", item.choices, index=item.choices.index(current), key=key,
                            help=item.description or None)
        entered[item.path] = kind
        st.caption(caption(item))
        params = item.variants.get(kind, ())
        for column, param in zip(st.columns(max(1, len(params))), params, strict=False):
            with column:
                _render(param, prefix, entered)
        return
    label = item.key + (f" ({item.unit})" if item.unit else "")
    if item.kind == "choice":
        options = list(item.choices)
        index = options.index(item.text) if item.text in options else 0
        entered[item.path] = str(st.selectbox(label, options, index=index, key=key, help=item.description or None))
    elif item.string and len(item.text) > LONG_TEXT:
        entered[item.path] = st.text_area(label, value=item.text, key=key, help=item.description or None)
    else:
        entered[item.path] = st.text_input(label, value=item.text, key=key, help=item.description or None) or ""
    st.caption(caption(item))


def _section(path: str, depth_three: bool) -> str:
    keys = path.split(".")
    return ".".join(keys[:2]) if depth_three and len(keys) > 2 else keys[0]


def render_form(fields: Iterable[Field], prefix: str, *, open_sections: Iterable[str] = ("general",),
                titles: dict[str, str] | None = None) -> dict[str, str]:
    """Draw the fields in sections (top-level keys; a mapping of named blocks, e.g. therapies, one section per
    name) and return what each shows, by path (a distribution's kind under its own path)."""
    items = list(fields)
    titles = titles or {}
    deep = {f.path.split(".")[0] for f in items if len(f.path.split(".")) > 2}
    deep = {top for top in deep if all(len(f.path.split(".")) > 2 for f in items if f.path.split(".")[0] == top)}
    entered: dict[str, str] = {}

    def section_of(item: Field) -> str:
        if "." not in item.path:
            return "general"
        return _section(item.path, item.path.split(".")[0] in deep)

    order: list[str] = []
    members: dict[str, list[Field]] = {}
    for item in items:
        name = section_of(item)
        if name not in members:
            order.append(name)
            members[name] = []
        members[name].append(item)
    for name in order:
        top, _, own = name.partition(".")
        title = titles.get(top, top.replace("_", " ").capitalize()) + (f": {own}" if own else "")
        with st.expander(title, expanded=name in open_sections, key=f"{prefix}section-{name.replace('.', '__')}"):
            for group, grouped in groupby(members[name], key=lambda f: f.group):
                heading = group[len(name) + 1:] if group.startswith(name + ".") else ""
                if heading:
                    st.markdown(f"**{heading.replace('.', ' › ')}**")
                plain = [f for f in grouped]
                flat = [f for f in plain if f.kind != "distribution"]
                columns = st.columns(3)
                for index, item in enumerate(flat):
                    with columns[index % 3]:
                        _render(item, prefix, entered)
                for item in plain:
                    if item.kind == "distribution":
                        _render(item, prefix, entered)
    return entered
