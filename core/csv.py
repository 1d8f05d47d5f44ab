"""CSV cells that a spreadsheet shows but never runs, and their way back.

CSV is where formula injection lives (RELIABILITY S7): a spreadsheet runs a cell that
starts with `=`, `+`, `-` or `@` (and some read tab, CR and NUL as a way in), so every such
text cell is written with a leading `'` (`neutralise_cell`), and `restore_cell` takes it
off again when the text comes back (import_evaluations). Any CSV the app writes goes
through `csv_line`.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["FORMULA_TRIGGERS", "NEUTRALISER", "Cell", "csv_line", "neutralise_cell", "restore_cell"]

#: First characters that make a spreadsheet treat a cell as a formula (OWASP "CSV
#: injection"; ASVS 1.2.10).
FORMULA_TRIGGERS = frozenset("=+-@\t\r\x00")
NEUTRALISER = "'"

Cell = str | int | float | None


def _is_formula_like(text: str) -> bool:
    """True if the text, after any leading quotes, starts with a formula trigger.

    Looking past leading quotes is what makes neutralising reversible: "'=1" (someone's
    own quote) is exported as "''=1", so `restore_cell` never mistakes it for ours.
    """
    rest = text.lstrip(NEUTRALISER)
    return bool(rest) and rest[0] in FORMULA_TRIGGERS


def neutralise_cell(text: str) -> str:
    """The text as a spreadsheet will show it but never run it: a leading `'` when needed."""
    return NEUTRALISER + text if _is_formula_like(text) else text


def restore_cell(text: str) -> str:
    """The original text of a cell `neutralise_cell` wrote: restore_cell(neutralise_cell(t))
    is t for every t. A quote in front of anything but a (quoted) trigger is left alone."""
    if text.startswith(NEUTRALISER) and _is_formula_like(text[1:]):
        return text[1:]
    return text


def _csv_cell(value: Cell) -> str:
    """RFC 4180: text always quoted (and neutralised); numbers bare, so -3.2 stays a
    number; no value is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):  # bool is an int; none of our columns is one
        raise TypeError("booleans have no CSV form here")
    if isinstance(value, int | float):
        return repr(value)
    return '"' + neutralise_cell(value).replace('"', '""') + '"'


def csv_line(cells: Iterable[Cell]) -> str:
    """One CSV record, CRLF-terminated as RFC 4180 has it."""
    return ",".join(_csv_cell(cell) for cell in cells) + "\r\n"
