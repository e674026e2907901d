"""Text for people: Markdown tables and numbers formatted one way for the terminal and the reports."""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["markdown_table", "significant"]


def markdown_table(frame: pd.DataFrame, index: bool = False) -> str:
    """A table as Markdown; with ``index``, the frame's index is the first column (named by its name)."""
    columns = [str(c) for c in frame.columns]
    rows = [[str(v) for v in row] for row in frame.itertuples(index=False)]
    if index:
        columns = [str(frame.index.name or ""), *columns]
        rows = [[str(i), *row] for i, row in zip(frame.index, rows, strict=True)]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def significant(value: float | None, digits: int = 3) -> str:
    """A number to ``digits`` significant digits; empty for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}g}"
