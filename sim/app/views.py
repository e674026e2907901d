"""Showing results folders on the page: tables, figures, report and zip download; two side by side; any folder opened.

Every view reads the folder's files (as ``run.py`` wrote them), so a run from the page, from the
command line or from the Python API looks the same, and a folder that cannot be read is a message.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from sim.app.folders import FolderView, differences, find_folders, read_folder, read_table, report_parts, zip_folder
from sim.app.runs import results
from sim.outputs.folders import FolderError, folder_kind

__all__ = ["compare_tab", "open_tab", "show_folder"]


def _read(path: Path) -> FolderView | None:
    try:
        return read_folder(path)
    except (FolderError, OSError) as err:
        st.error(f"error: {err}")
        return None


def _headline(view: FolderView) -> None:
    for note in view.notes:
        st.info(note)
    for title, table in view.headline.items():
        st.markdown(f"**{title}**")
        if isinstance(table.index, pd.RangeIndex) and len(table.columns) > 1:
            table = table.set_index(table.columns[0])  # row numbers mean nothing to a reader
        st.table(table)


def _figures(view: FolderView, columns: int = 2) -> None:
    if not view.figures:
        st.caption("No figures in this folder (run with figures to draw them, or `python run.py plot FOLDER`).")
        return
    slots = st.columns(columns)
    for index, figure in enumerate(view.figures):
        with slots[index % columns]:
            st.image(str(figure), caption=figure.name, width="stretch")


def _report(view: FolderView) -> None:
    if not view.report:
        st.caption("No report.md in this folder.")
        return
    for kind, part in report_parts(view.report, view.path):
        if kind == "image":
            st.image(part, width=700)
        else:
            st.markdown(part)


def _tables(view: FolderView, key: str) -> None:
    name = st.selectbox("Table", view.tables, key=f"{key}-table")
    if not name:
        return
    try:
        frame, more = read_table(view.path, name)
    except FolderError as err:
        st.error(f"error: {err}")
        return
    if more:
        st.caption(f"The first {len(frame):,} rows; the whole table is in the zip.")
    st.dataframe(frame, hide_index=True)


def show_folder(path: Path, key: str) -> None:
    """A results folder: headline tables, a zip of the folder, then its figures, report and every table."""
    view = _read(path)
    if view is None:
        return
    st.markdown(f"**{view.kind.capitalize()}** results in `{view.path}`")
    _headline(view)
    st.download_button("Download the results folder (zip)", data=lambda: zip_folder(view.path),
                       file_name=f"{view.path.name}.zip", mime="application/zip", key=f"{key}-zip",
                       on_click="ignore")
    parts = {"Figures": _figures, "Report": _report, "Tables": lambda v: _tables(v, key)}
    for tab, draw in zip(st.tabs(list(parts), key=f"{key}-parts", on_change="rerun"), parts.values(), strict=True):
        if tab.open:
            with tab:
                draw(view)


def _kind(folder: Path) -> str | None:
    try:
        return folder_kind(folder)
    except (FolderError, OSError):
        return None


def _choices(root: Path, kind: str | None = None) -> dict[str, Path]:
    """Folders to pick (of one kind, if given): this tab's results first, newest first, then every finished
    folder under the results root."""
    options: dict[str, Path] = {}
    for item in reversed(results()):
        if kind is None or item["kind"] == kind:
            options[f"this tab: {item['label']} ({Path(item['folder']).name})"] = Path(item["folder"])
    known = set(options.values())
    for folder in find_folders(root):
        if folder not in known and (kind is None or _kind(folder) == kind):
            try:
                shown = str(folder.relative_to(root))
            except ValueError:
                shown = str(folder)
            options[shown] = folder
    return options


def compare_tab(root: Path) -> None:
    """Two results folders side by side: what differs in their scenarios, their tables, and one figure of each."""
    options = _choices(root, "run")
    if len(options) < 2:
        st.info("Two results are needed: run a scenario twice (e.g. with a value changed), or open folders "
                f"written by the command line under {root}.")
        return
    names = list(options)
    pick_first, pick_second = st.columns(2)
    first = pick_first.selectbox("First", names, index=1, key="compare-first")
    second = pick_second.selectbox("Second", names, index=0, key="compare-second")
    views = [_read(options[first]), _read(options[second])]
    if views[0] is not None and views[1] is not None:
        changed = differences(views[0].path, views[1].path)
        st.markdown("**What differs in the scenarios**")
        if len(changed):
            st.table(changed.set_index("value"))
        else:
            st.caption("The two scenarios are the same.")
    left, right = st.columns(2)
    for column, view in zip((left, right), views, strict=True):
        with column:
            if view is None:
                continue
            st.markdown(f"`{view.path}`")
            _headline(view)
    shared = [f.name for f in views[0].figures] if views[0] is not None else []
    shared = [n for n in shared if views[1] is not None and n in {f.name for f in views[1].figures}]
    if shared:
        figure = st.selectbox("Figure", shared, key="compare-figure")
        for column, view in zip(st.columns(2), views, strict=True):
            if view is not None:
                column.image(str(next(f for f in view.figures if f.name == figure)), width="stretch")


def open_tab(root: Path) -> None:
    """Any results folder (run, sweep, trial or validation): picked from those found, or typed as a path."""
    options = _choices(root)
    typed = st.text_input("Folder path", key="open-path",
                          placeholder=f"a folder written by run.py, e.g. {root}/low_dose/RUN_ID",
                          help="Leave empty to pick one found under the results folder below.")
    if typed.strip():
        show_folder(Path(typed.strip()).expanduser(), key="open-typed")
        return
    if not options:
        st.info(f"No finished results folders under {root} yet.")
        return
    name = st.selectbox(f"Results found under {root}", list(options), key="open-choice")
    if name:
        show_folder(options[name], key="open-found")
