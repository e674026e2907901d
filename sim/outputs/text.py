"""Text for people: numbers rounded one way, and tables as Markdown or as plain text that fits the terminal.

Every number the terminal and the reports show goes through :func:`rounded`: the value's shortest
decimal form (the one the CSV files hold) is scaled exactly and rounded half away from zero, so
0.8435 shows as 84.4% everywhere, as it would be rounded by hand from ``summary.csv``.
"""

from __future__ import annotations

import math
import re
import textwrap
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the tables are handed in: every command's messages use this module, not only those with tables
    import pandas as pd

__all__ = ["WIDTH", "amount", "fixed", "interval", "markdown_table", "measure", "money", "percent", "plural",
           "rounded", "significant", "text_table", "wrap"]

WIDTH = 100
"""The widest line the terminal output has."""


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def rounded(value: float, decimals: int | None = None, scale: float = 1.0, digits: int | None = None) -> Decimal:
    """``scale * value`` rounded half away from zero to ``decimals`` places, or to ``digits`` significant digits.

    The arithmetic is decimal on the shortest form of ``value`` (``repr``), so the result does not
    depend on how the binary float happens to fall near a half.
    """
    exact = Decimal(repr(float(value))) * Decimal(repr(float(scale)))
    if digits is not None:
        if exact == 0:
            return Decimal(0)
        decimals = digits - 1 - exact.adjusted()
    quantum = Decimal(1).scaleb(-(decimals or 0))
    result = exact.quantize(quantum, rounding=ROUND_HALF_UP)
    return result if result != 0 else abs(result)  # never "-0.0"


def fixed(value: float | None, decimals: int = 1, scale: float = 1.0, sign: bool = False) -> str:
    """A number with ``decimals`` places (``+`` before a positive one with ``sign``); empty when missing."""
    if _missing(value):
        return ""
    assert value is not None
    if math.isinf(value):
        return ("+" if sign and value > 0 else "") + ("∞" if value > 0 else "-∞")
    text = f"{rounded(value, decimals, scale):f}"
    return f"+{text}" if sign and not text.startswith("-") and Decimal(text) != 0 else text


def money(value: float | None, decimals: int = 0, sign: bool = False) -> str:
    """An amount with thousands separators, e.g. 42675.4 -> ``42,675`` (``+`` before a positive one with ``sign``);
    empty when missing."""
    if _missing(value) or value is None or math.isinf(value):
        return fixed(value, decimals, sign=sign)
    text = f"{rounded(value, decimals):,f}"
    return f"+{text}" if sign and not text.startswith("-") and Decimal(text.replace(",", "")) != 0 else text


def significant(value: float | None, digits: int = 3, scale: float = 1.0) -> str:
    """A number to ``digits`` significant digits (trailing zeros dropped, as ``%g``); empty when missing."""
    if _missing(value):
        return ""
    assert value is not None
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    number = rounded(value, scale=scale, digits=digits)
    return f"{float(number):.{digits}g}"


def percent(value: float | None, decimals: int = 1, sign: bool = False) -> str:
    """A share as a percentage, e.g. 0.8435 -> ``84.4%``; empty when missing."""
    text = fixed(value, decimals, 100.0, sign)
    return f"{text}%" if text else ""


def interval(centre: float | None, low: float | None, high: float | None, decimals: int = 1, scale: float = 1.0,
             unit: str = "", sign: bool = False) -> str:
    """``centre (low to high)``, each rounded alike, the unit after the centre; the centre alone when the interval
    is missing."""
    if _missing(centre):
        return ""
    text = f"{fixed(centre, decimals, scale, sign)}{unit}"
    if _missing(low) and _missing(high):
        return text
    return f"{text} ({fixed(low, decimals, scale) or '?'} to {fixed(high, decimals, scale) or '?'})"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 arm``, ``3 arms``."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


def measure(number: str, unit: str, many: str | None = None) -> str:
    """A number already formatted and its unit, singular only for exactly one: ``1 week``, ``1.5 weeks``."""
    one = number.lstrip("+-") == "1"
    return f"{number} {unit if one else (many or unit + 's')}"


_SINGULAR = {"weeks": "week", "points": "point", "patients": "patient", "events": "event", "years": "year",
             "replications": "replication"}


def amount(number: str, unit: str) -> str:
    """A number already formatted and a unit given in the plural (``percentage points``, ``weeks``), made singular
    for exactly one: ``1 percentage point``, ``1 week``, ``2 weeks``; other units as they are."""
    if number.lstrip("+-") != "1":
        return f"{number} {unit}"
    words = unit.split(" ")
    for i, word in enumerate(words):
        if word in _SINGULAR:
            words[i] = _SINGULAR[word]
            break
    return f"{number} {' '.join(words)}"


def wrap(text: str, width: int = WIDTH, indent: str = "", hanging: str = "") -> str:
    """A paragraph wrapped to ``width`` columns (``hanging``: the indent of lines after the first); a word longer
    than a line (a path) is kept whole."""
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=hanging or indent,
                         break_on_hyphens=False, break_long_words=False)


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


class _PathWrapper(textwrap.TextWrapper):
    """Wraps at spaces and, in a word too long for its line, after a dot before a letter: a YAML path
    (``therapies.lenalidomide_5.response.probability``) breaks between its keys, never inside a key
    or a number."""

    wordsep_re = re.compile(r"(\s+)|(?<=\.)(?=[A-Za-z_])")


def _lines(text: str, width: int) -> list[str]:
    return _PathWrapper(width, break_on_hyphens=True).wrap(text) or [""]


def text_table(frame: pd.DataFrame, index: bool = True, width: int = WIDTH, gap: int = 2) -> str:
    """A table as aligned plain text at most ``width`` columns wide.

    Headers wrap over several lines to the width of their column's cells; the first column (the
    index with ``index``) is left-aligned, the others right-aligned. When the columns do not fit
    side by side, they are split into blocks one under the other, each repeating the first column;
    a cell wider than the room left wraps.
    """
    columns = [str(c) for c in frame.columns]
    cells = [[str(v) for v in row] for row in frame.itertuples(index=False)]
    if index:
        columns = [str(frame.index.name or ""), *columns]
        cells = [[str(i), *row] for i, row in zip(frame.index, cells, strict=True)]
    if not columns:
        return ""

    def natural(k: int) -> int:
        longest_word = max((len(w) for w in columns[k].split()), default=0)
        return max([len(row[k]) for row in cells] + [longest_word, 1])

    widths = [natural(k) for k in range(len(columns))]
    first = min(widths[0], max(12, width // 3))  # a very long first column wraps rather than leaving no room
    room_left = width - first - gap
    widths = [first] + [min(w, room_left) for w in widths[1:]]
    blocks: list[list[int]] = []
    rest = list(range(1, len(columns)))
    while rest:
        used, block = first, list[int]()
        for k in rest:
            if block and used + gap + widths[k] > width:
                break
            block.append(k)
            used += gap + widths[k]
        blocks.append(block)
        rest = rest[len(block):]
    out: list[str] = []
    joint = " " * gap
    for number, block in enumerate(blocks or [[]]):
        if number:
            out.append("")
        chosen = [0, *block]
        headers = [_lines(columns[k], widths[k]) for k in chosen]
        height = max(len(h) for h in headers)
        for line in range(height):  # headers sit on their last line
            parts = []
            for i, k in enumerate(chosen):
                shift = line - (height - len(headers[i]))
                text = headers[i][shift] if shift >= 0 else ""
                parts.append(text.ljust(widths[k]) if i == 0 else text.rjust(widths[k]))
            out.append(joint.join(parts).rstrip())
        out.append(joint.join("-" * widths[k] for k in chosen))
        for row in cells:
            wrapped = [_lines(row[k], widths[k]) for k in chosen]
            for line in range(max(len(w) for w in wrapped)):
                parts = []
                for i, k in enumerate(chosen):
                    text = wrapped[i][line] if line < len(wrapped[i]) else ""
                    parts.append(text.ljust(widths[k]) if i == 0 else text.rjust(widths[k]))
                out.append(joint.join(parts).rstrip())
    return "\n".join(out)
