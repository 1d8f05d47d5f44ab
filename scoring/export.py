"""A journey's scores as CSV or JSON files for spreadsheets and BI tools (export_scores).

The figures are scoring.selectors.journey_scores' as they are; this module only shapes
them. CSV is where formula injection lives (RELIABILITY S7): a spreadsheet runs a cell
that starts with `=`, `+`, `-` or `@` (and some read tab, CR and NUL as a way in), so every
such text cell leaves here with a leading `'`, and `restore_cell` takes it off again when
the text comes back through import_evaluations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from scoring import selectors

__all__ = [
    "COLUMNS",
    "FORMULA_TRIGGERS",
    "ExportRow",
    "csv_line",
    "export_rows",
    "journey_csv",
    "journey_json",
    "neutralise_cell",
    "restore_cell",
]

#: First characters that make a spreadsheet treat a cell as a formula (OWASP "CSV
#: injection"; ASVS 1.2.10).
FORMULA_TRIGGERS = frozenset("=+-@\t\r\x00")
NEUTRALISER = "'"

COLUMNS = (
    "stage",
    "touch_point_id",
    "name",
    "n",
    "mean",
    "smoothed_score",
    "ci_low",
    "ci_high",
    "target",
    "status",
    "trend",
    "weak_link_rank",
)

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


@dataclass(frozen=True)
class ExportRow:
    """One touch point of the map, in COLUMNS order."""

    stage: str
    touch_point_id: int
    name: str
    n: int
    mean: float | None
    smoothed_score: float | None
    ci_low: float | None
    ci_high: float | None
    target: float
    status: str
    trend: float | None  # change against the previous window, in score points
    weak_link_rank: int | None  # 1 = the weakest link; None when not a weak link

    def cells(self) -> tuple[Cell, ...]:
        return tuple(getattr(self, column) for column in COLUMNS)


def export_rows(scores: selectors.JourneyScores) -> list[ExportRow]:
    """The map's touch points in map order, each with its rank among the weak links."""
    ranks = {link.touch_point_id: link.rank for link in scores.weak_links}
    return [
        ExportRow(
            stage=row.stage.name,
            touch_point_id=row.id,
            name=row.name,
            n=row.n,
            mean=row.mean,
            smoothed_score=row.smoothed_score,
            ci_low=row.ci_low,
            ci_high=row.ci_high,
            target=row.target,
            status=row.status,
            trend=row.trend.change,
            weak_link_rank=ranks.get(row.id),
        )
        for row in scores.touch_points
    ]


def journey_csv(scores: selectors.JourneyScores) -> str:
    """A header and one record per touch point."""
    rows: Sequence[Iterable[Cell]] = [COLUMNS, *(row.cells() for row in export_rows(scores))]
    return "".join(csv_line(cells) for cells in rows)


def journey_json(scores: selectors.JourneyScores) -> str:
    """The journey score, where the figures come from, and the same rows as the CSV.

    JSON is not opened by spreadsheets, so its text is left exactly as stored.
    """
    body: dict[str, Any] = {
        "journey": {"id": scores.journey.id, "name": scores.journey.name},
        "score": scores.score,
        "n": scores.n,
        "basis": scores.basis,
        "window": (
            {
                "since": scores.window.since.isoformat(),
                "until": scores.window.until.isoformat(),
            }
            if scores.window
            else None
        ),
        "computed_at": scores.computed_at.isoformat() if scores.computed_at else None,
        "pending": scores.pending,
        "touch_points": [
            dict(zip(COLUMNS, row.cells(), strict=True)) for row in export_rows(scores)
        ],
    }
    return json.dumps(body, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
