"""A journey's scores as CSV or JSON files for spreadsheets and BI tools (export_scores).

The figures are scoring.selectors.journey_scores' as they are; this module only shapes
them. Its CSV records are written by core.csv, which neutralises every text cell a
spreadsheet could run as a formula (RELIABILITY S7).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from core.csv import Cell, csv_line
from scoring import selectors

__all__ = [
    "COLUMNS",
    "ExportRow",
    "export_rows",
    "journey_csv",
    "journey_json",
]

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
