"""`manage.py import_evaluations`: a survey tool's CSV export in, through the one write path,
all or nothing, safe to run twice, every problem named by its line in the file."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line

from accounts.models import Organization
from core.csv import csv_line
from demo.loader import ANA, DEMO_SLUG, load_demo
from scoring.models import StaleMark
from tests.conftest import Personas
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
)
from touchpoints import csv_import
from touchpoints.models import Answer, CriterionKind, Evaluation, Site, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "evaluations.csv"
HEADER = ("key", "touch_point", "source", "observed_at", "site", "comment", "criterion", "value")
WHEN = "2026-03-02T09:30:00+01:00"


@dataclass
class Catalog:
    """One touch point with a criterion of each kind (one critical), and a site."""

    org: Organization
    touch_point: TouchPoint
    friendliness: int  # scale 1..5
    showed_id: int  # yes_no, critical
    seconds: int  # numeric, target 20, worst 120
    site: Site


@pytest.fixture
def catalog(personas: Personas) -> Catalog:
    stage = StageFactory(journey=JourneyFactory(organization=personas.org))
    touch_point = TouchPointFactory(stage=stage, name="Technician arrival")
    return Catalog(
        org=personas.org,
        touch_point=touch_point,
        friendliness=CriterionFactory(touch_point=touch_point, name="Friendliness").pk,
        showed_id=CriterionFactory(
            touch_point=touch_point,
            name="Showed ID",
            kind=CriterionKind.YES_NO,
            scale_size=None,
            critical=True,
        ).pk,
        seconds=CriterionFactory(
            touch_point=touch_point,
            name="Seconds to answer",
            kind=CriterionKind.NUMERIC,
            scale_size=None,
            target_value=20,
            worst_value=120,
        ).pk,
        site=SiteFactory(organization=personas.org, name="North call centre"),
    )


def evaluation_rows(
    c: Catalog,
    key: str,
    *,
    values: tuple[object, object, object] = (4, 1, 35),
    comment: str = "",
    site: object = "",
    source: str = "audit",
    observed_at: str = WHEN,
) -> list[list[object]]:
    """The three rows of one evaluation (friendliness, showed ID, seconds)."""
    return [
        [key, c.touch_point.pk, source, observed_at, site, comment, criterion, value]
        for criterion, value in zip((c.friendliness, c.showed_id, c.seconds), values, strict=True)
    ]


def csv_bytes(rows: list[list[object]], header: tuple[str, ...] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "evaluations.csv"
    path.write_bytes(data)
    return path


def run(path: Path, org: str, evaluator: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(
        "import_evaluations",
        str(path),
        "--organization",
        org,
        "--evaluator",
        evaluator,
        stdout=out,
        stderr=err,
    )
    return out.getvalue(), err.getvalue()


def refused(path: Path, org: str, evaluator: str) -> tuple[str, str]:
    """The CommandError's message, and the problems by line written to stderr before it
    (without the progress bar)."""
    err = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command(
            "import_evaluations",
            str(path),
            "--organization",
            org,
            "--evaluator",
            evaluator,
            stdout=StringIO(),
            stderr=err,
        )
    lines = [line for line in err.getvalue().splitlines() if line.startswith("line ")]
    return str(exc.value), "\n".join(lines)


# --- Importing ------------------------------------------------------------------------------------


def test_valid_file_stores_each_key_as_one_evaluation_with_its_answers(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    rows = [
        *evaluation_rows(catalog, "survey-1", values=(5, 1, 12), site=catalog.site.pk),
        *evaluation_rows(catalog, "survey-2", values=(2, 0, "NA"), comment="Late, no call."),
    ]
    path = write(tmp_path, csv_bytes(rows))

    out, _ = run(path, personas.org.slug, personas.evaluator.email)

    assert "Imported 2 evaluations (6 answers)" in out
    assert "Already imported: 0 evaluations" in out
    first, second = Evaluation.objects.order_by("client_key")
    assert (first.client_key, first.site_id, first.source) == ("survey-1", catalog.site.pk, "audit")
    assert first.observed_at == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert first.evaluator == personas.evaluator
    assert first.organization == personas.org
    assert (second.comment, second.site_id) == ("Late, no call.", None)
    answers = {
        (a.evaluation.client_key, a.criterion_id): a.value
        for a in Answer.objects.select_related("evaluation")
    }
    assert answers == {
        ("survey-1", catalog.friendliness): 5.0,
        ("survey-1", catalog.showed_id): 1.0,
        ("survey-1", catalog.seconds): 12.0,
        ("survey-2", catalog.friendliness): 2.0,
        ("survey-2", catalog.showed_id): 0.0,
        ("survey-2", catalog.seconds): None,  # NA: not applicable
    }
    assert first.score is not None  # scored in SQL by the service, like every evaluation


def test_rows_of_one_key_need_not_be_next_to_each_other(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    a, b = evaluation_rows(catalog, "a"), evaluation_rows(catalog, "b")
    path = write(tmp_path, csv_bytes([a[0], b[0], a[1], b[1], a[2], b[2]]))

    run(path, personas.org.slug, personas.evaluator.email)

    assert sorted(Evaluation.objects.values_list("client_key", flat=True)) == ["a", "b"]
    assert Answer.objects.count() == 6


def test_byte_order_mark_and_columns_in_any_order_are_read(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    """Excel's "CSV UTF-8" starts with a BOM; survey tools order columns as they like;
    site and comment may be left out."""
    header = ("value", "criterion", "observed_at", "source", "touch_point", "key")
    rows = [[r[7], r[6], r[3], r[2], r[1], r[0]] for r in evaluation_rows(catalog, "k")]
    path = write(tmp_path, b"\xef\xbb\xbf" + csv_bytes(rows, header=header))

    out, _ = run(path, personas.org.slug, personas.evaluator.email)

    assert "Imported 1 evaluations (3 answers)" in out


def test_the_import_marks_touch_points_stale_and_asks_for_a_recompute_after_commit(
    personas: Personas,
    catalog: Catalog,
    tmp_path: Path,
    recompute_requests: list[list[int]],
    django_capture_on_commit_callbacks: object,
) -> None:
    """The service runs nested in the import's transaction: its stale marks are written
    with the evaluations and its recompute hint waits for the import to commit."""
    path = write(tmp_path, csv_bytes(evaluation_rows(catalog, "k")))

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        run(path, personas.org.slug, personas.evaluator.email)

    assert StaleMark.objects.filter(touch_point=catalog.touch_point).exists()
    assert recompute_requests == [[catalog.touch_point.pk]]


# --- All or nothing, with every problem by line -----------------------------------------------


def test_three_bad_rows_import_nothing_and_name_each_line(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    rows = [
        *evaluation_rows(catalog, "good-1"),  # lines 2-4
        *evaluation_rows(catalog, "bad-value", values=(7, 1, 35)),  # line 5: scale is 1..5
        *evaluation_rows(catalog, "good-2"),  # lines 8-10
        *evaluation_rows(catalog, "bad-source", source="phone survey"),  # line 11
        *evaluation_rows(catalog, "bad-yes-no", values=(3, 2, 35)),  # line 15: yes/no is 1 or 0
    ]
    path = write(tmp_path, csv_bytes(rows))

    message, err = refused(path, personas.org.slug, personas.evaluator.email)

    assert "Nothing was imported: 3 lines with errors" in message
    assert err.splitlines() == [
        "line 5, value: Friendliness: Must be a whole number from 1 to 5.",
        "line 11, source: Source must be one of self_check, supervisor, mystery_shopper, "
        "customer_survey, audit.",
        "line 15, value: Showed ID: Must be 1 (yes) or 0 (no).",
    ]
    assert not Evaluation.objects.exists()


def test_errors_in_every_chunk_are_reported_and_earlier_chunks_are_rolled_back(
    personas: Personas, catalog: Catalog
) -> None:
    """Chunks go through the service one after another in one transaction: a bad row in
    the last chunk undoes the first, and a bad row in the first does not hide the last's."""
    rows = [
        *evaluation_rows(catalog, "1", values=(9, 1, 35)),  # line 2, chunk 1
        *evaluation_rows(catalog, "2"),
        *evaluation_rows(catalog, "3"),  # chunk 2
        *evaluation_rows(catalog, "4"),
        *evaluation_rows(catalog, "5", values=(3, 1, "fast")),  # line 16, chunk 3
    ]

    with pytest.raises(csv_import.ImportRefusedError) as exc:
        csv_import.import_evaluations(
            csv_bytes(rows),
            organization=personas.org,
            evaluator=personas.evaluator,
            chunk_size=2,
        )

    assert [(e.line, e.column) for e in exc.value.errors] == [(2, "value"), (16, "value")]
    assert not Evaluation.objects.exists()
    assert not StaleMark.objects.exists()


@pytest.mark.parametrize(
    ("row_change", "expected"),
    [
        ({1: 999999}, "line 2, touch_point: No such touch point."),
        ({1: "Technician arrival"}, "line 2, touch_point: No such touch point."),
        ({4: 999999}, "line 2, site: No such site."),
        ({6: 999999}, "line 2, criterion: Not an active criterion of this touch point."),
        ({3: "2026-03-02 09:30"}, "line 2, observed_at: Give the time with its time zone"),
        ({3: "02/03/2026"}, "line 2, observed_at: Give the date and time in ISO 8601"),
        (
            {3: "2999-01-01T00:00:00Z"},
            "line 2, observed_at: The observation cannot be in the future.",
        ),
        ({7: "1,5"}, "line 2, value: Must be a number like 4 or 12.5, or empty or NA"),
        ({7: "nan"}, "line 2, value: Must be a number like 4 or 12.5"),
        ({7: "1e999"}, "line 2, value: Friendliness: Must be a finite number."),
        ({7: "9" * 5000}, "line 2, value: Friendliness: Must be a finite number."),
        ({0: "k" * 201}, "line 2, key: Must be text of 1 to 200 characters."),
        ({5: "x" * 5001}, "line 2, comment: Must be at most 5000 characters"),
    ],
)
def test_a_bad_cell_is_named_by_line_and_column_in_the_services_words(
    personas: Personas,
    catalog: Catalog,
    tmp_path: Path,
    row_change: dict[int, object],
    expected: str,
) -> None:
    rows = evaluation_rows(catalog, "k")
    for row in rows:
        for index, value in row_change.items():
            # Evaluation cells (key to comment) repeat on every row; an answer is one row.
            if index <= 5 or row is rows[0]:
                row[index] = value
    path = write(tmp_path, csv_bytes(rows))

    _, err = refused(path, personas.org.slug, personas.evaluator.email)

    assert err.startswith(expected), err
    assert not Evaluation.objects.exists()


def test_a_critical_criterion_left_not_applicable_is_refused(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    path = write(tmp_path, csv_bytes(evaluation_rows(catalog, "k", values=(4, "NA", 30))))

    _, err = refused(path, personas.org.slug, personas.evaluator.email)

    assert "line 2, criterion: 'Showed ID' is critical and must be answered" in err


def test_rows_of_one_key_must_agree_on_the_evaluation(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    rows = evaluation_rows(catalog, "k", comment="Polite.")
    rows[2][5] = "Rude."

    path = write(tmp_path, csv_bytes(rows))

    _, err = refused(path, personas.org.slug, personas.evaluator.email)

    assert err.startswith("line 4, comment: Differs from line 2, the first row of key 'k'")
    assert not Evaluation.objects.exists()


def test_row_errors_point_at_the_line_a_row_starts_on_after_multi_line_comments(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    rows = [
        *evaluation_rows(catalog, "a", comment="Late.\nNo call.\nRude."),  # lines 2-4, 5-7, 8-10
        *evaluation_rows(catalog, "b", values=(6, 1, 35)),  # line 11
    ]
    path = write(tmp_path, csv_bytes(rows))

    _, err = refused(path, personas.org.slug, personas.evaluator.email)

    assert err.startswith("line 11, value: Friendliness: Must be a whole number from 1 to 5.")


def test_rows_without_a_key_or_with_the_wrong_number_of_fields_are_named(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    good = evaluation_rows(catalog, "k")
    data = csv_bytes([*good, ["", *good[0][1:]]]) + b"k2,1\r\n"

    _, err = refused(write(tmp_path, data), personas.org.slug, personas.evaluator.email)

    assert err.splitlines() == [
        "line 5, key: Required: the rows of one evaluation share a key.",
        "line 6: Has 2 fields; the header has 8.",
    ]


# --- Safe to run twice ------------------------------------------------------------------------


def test_rerun_skips_keys_already_imported_and_counts_them(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    first = [*evaluation_rows(catalog, "a"), *evaluation_rows(catalog, "b")]
    run(write(tmp_path, csv_bytes(first)), personas.org.slug, personas.evaluator.email)

    # The survey tool's next export holds yesterday's rows too.
    again = [*first, *evaluation_rows(catalog, "c")]
    out, _ = run(write(tmp_path, csv_bytes(again)), personas.org.slug, personas.evaluator.email)

    assert "Imported 1 evaluations (3 answers)" in out
    assert "Already imported: 2 evaluations (6 rows), skipped." in out
    assert sorted(Evaluation.objects.values_list("client_key", flat=True)) == ["a", "b", "c"]
    assert Answer.objects.count() == 9


def test_a_key_sent_through_the_api_counts_as_imported(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    """Keys are the service's client keys: one namespace per organization, whichever way
    the evaluation came in."""
    submit_evaluations(
        evaluator=personas.manager,
        organization=personas.org,
        items=[
            EvaluationInput(
                touch_point_id=catalog.touch_point.pk,
                source="audit",
                observed_at=datetime(2026, 3, 1, tzinfo=UTC),
                answers=[AnswerInput(catalog.showed_id, 1)],
                client_key="k",
            )
        ],
    )

    out, _ = run(
        write(tmp_path, csv_bytes(evaluation_rows(catalog, "k"))),
        personas.org.slug,
        personas.evaluator.email,
    )

    assert "Already imported: 1 evaluations (3 rows), skipped." in out
    assert Evaluation.objects.count() == 1


# --- Tenancy ----------------------------------------------------------------------------------


def test_the_same_key_in_another_organization_is_not_a_reason_to_skip(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    rival = TouchPointFactory(
        stage=StageFactory(journey=JourneyFactory(organization=personas.other_org))
    )
    rival_criterion = CriterionFactory(touch_point=rival)
    submit_evaluations(
        evaluator=personas.outsider,
        organization=personas.other_org,
        items=[
            EvaluationInput(
                touch_point_id=rival.pk,
                source="audit",
                observed_at=datetime(2026, 3, 1, tzinfo=UTC),
                answers=[AnswerInput(rival_criterion.pk, 3)],
                client_key="k",
            )
        ],
    )

    out, _ = run(
        write(tmp_path, csv_bytes(evaluation_rows(catalog, "k"))),
        personas.org.slug,
        personas.evaluator.email,
    )

    assert "Imported 1 evaluations" in out
    assert Evaluation.objects.filter(organization=personas.org, client_key="k").exists()


def test_another_organizations_touch_point_is_no_such_touch_point(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    rival = TouchPointFactory(
        stage=StageFactory(journey=JourneyFactory(organization=personas.other_org))
    )
    rows = evaluation_rows(catalog, "k")
    for row in rows:
        row[1] = rival.pk

    _, err = refused(write(tmp_path, csv_bytes(rows)), personas.org.slug, personas.evaluator.email)

    assert err.startswith("line 2, touch_point: No such touch point.")
    assert not Evaluation.objects.exists()


@pytest.mark.parametrize("who", ["outsider", "viewer"])
def test_only_a_manager_or_evaluator_of_the_organization_can_be_the_evaluator(
    personas: Personas, catalog: Catalog, tmp_path: Path, who: str
) -> None:
    path = write(tmp_path, csv_bytes(evaluation_rows(catalog, "k")))

    message, _ = refused(path, personas.org.slug, getattr(personas, who).email)

    assert "must be a manager or evaluator of this organization" in message
    assert not Evaluation.objects.exists()


@pytest.mark.parametrize(
    ("org", "email", "message"),
    [
        ("nowhere", "evaluator@northwind.test", "No organization has the slug 'nowhere'."),
        (None, "nobody@northwind.test", "No user has the email 'nobody@northwind.test'."),
    ],
)
def test_unknown_organization_or_evaluator_is_a_clear_error(
    personas: Personas, tmp_path: Path, org: str | None, email: str, message: str
) -> None:
    path = write(tmp_path, csv_bytes([]))

    text, _ = refused(path, org or personas.org.slug, email)

    assert text == message


# --- Bad files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            # Read as a stream: the header is judged first, so this one is complete.
            (",".join(HEADER) + "\r\nk,1,audit,2026-03-02,,,1,1\r\nk,caf\xe9\r\n").encode(
                "latin-1"
            ),
            "is not UTF-8 text (byte 0xe9 on line 3)",
        ),
        (b"", "is empty: expected a header line with the columns key, touch_point"),
        (b"\r\n  \r\n", "is empty"),
        (
            b"key,touch_point,source,observed_at,criterion\r\n",
            "lacks the column value (line 1)",
        ),
        (
            b"key,touch_point,source,observed_at,criterion,value,coment\r\n",
            "has unknown columns 'coment'",
        ),
        (
            b"key,touch_point,source,observed_at,criterion,value,value\r\n",
            "repeats the column value",
        ),
        (
            ",".join(HEADER).encode() + b"\r\n",
            "has no rows after the header",
        ),
        (
            ",".join(HEADER).encode() + b'\r\nk,1,"audit"ed,2026-03-02,,,1,1\r\n',
            "cannot be read as CSV in the row that starts on line 2: ',' expected after '\"'",
        ),
        (
            ",".join(HEADER).encode() + b'\r\nk,1,audit,"unclosed\r\n\r\n',
            "cannot be read as CSV in the row that starts on line 2: unexpected end of data",
        ),
    ],
    ids=[
        "latin-1",
        "empty",
        "blank",
        "missing",
        "unknown",
        "repeated",
        "header-only",
        "text-after-quote",
        "unclosed-quote",
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(
    personas: Personas, tmp_path: Path, data: bytes, message: str
) -> None:
    path = write(tmp_path, data)

    text, _ = refused(path, personas.org.slug, personas.evaluator.email)

    assert message in text
    assert text.startswith(str(path))
    assert text.endswith("Nothing was imported.")
    assert not Evaluation.objects.exists()


def test_a_missing_file_is_a_clear_error(personas: Personas, tmp_path: Path) -> None:
    text, _ = refused(tmp_path / "nope.csv", personas.org.slug, personas.evaluator.email)

    assert text == f"Cannot read {tmp_path / 'nope.csv'}: No such file or directory."


def test_a_refused_file_exits_with_status_1_from_the_shell(
    personas: Personas, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, b"key;touch_point;value\r\n")

    with pytest.raises(SystemExit) as exc:
        execute_from_command_line(
            [
                "manage.py",
                "import_evaluations",
                str(path),
                "--organization",
                personas.org.slug,
                "--evaluator",
                personas.evaluator.email,
            ]
        )

    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "has columns separated by semicolons (line 1)" in captured.err


# --- Progress -----------------------------------------------------------------------------------


def test_progress_bar_goes_to_stderr_and_ends_full(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    rows = [row for key in "abc" for row in evaluation_rows(catalog, key)]

    out, err = run(write(tmp_path, csv_bytes(rows)), personas.org.slug, personas.evaluator.email)

    assert err == f"\r[{'#' * 30}] 3/3 evaluations\n"
    assert "[" not in out


def test_progress_is_reported_after_each_chunk(personas: Personas, catalog: Catalog) -> None:
    rows = [row for key in "abcde" for row in evaluation_rows(catalog, key)]
    calls: list[tuple[int, int]] = []

    csv_import.import_evaluations(
        csv_bytes(rows),
        organization=personas.org,
        evaluator=personas.evaluator,
        progress=lambda done, total: calls.append((done, total)),
        chunk_size=2,
    )

    assert calls == [(2, 5), (4, 5), (5, 5)]


# --- Our own export read back (S7) ----------------------------------------------------------


@pytest.mark.parametrize(
    "comment",
    [
        '=HYPERLINK("http://evil.test","click")',
        "+44 20 7946 0000 called back",
        "-- rude at the door",
        "@channel please look",
        "'=1+1",  # someone's own quote before a formula
        "''+x",
        "'quoted' and fine",
        'He said "no" twice, then hung up',
    ],
)
def test_a_cell_neutralised_by_our_export_comes_back_as_the_original_text(
    personas: Personas, catalog: Catalog, tmp_path: Path, comment: str
) -> None:
    data = csv_line(HEADER).encode() + b"".join(
        csv_line(row).encode()  # quotes every text cell and adds ' where a formula could start
        for row in evaluation_rows(catalog, "k", comment=comment)
    )

    run(write(tmp_path, data), personas.org.slug, personas.evaluator.email)

    assert Evaluation.objects.get().comment == comment


def test_a_quote_written_by_a_person_is_kept(
    personas: Personas, catalog: Catalog, tmp_path: Path
) -> None:
    path = write(tmp_path, csv_bytes(evaluation_rows(catalog, "k", comment="'tis fine")))

    run(path, personas.org.slug, personas.evaluator.email)

    assert Evaluation.objects.get().comment == "'tis fine"


# --- The documented example -------------------------------------------------------------------

#: What the ids in docs/examples/evaluations.csv are in a fresh `manage.py load_demo`
#: (docs/import-evaluations.md says so): touch points and sites by name, criteria by
#: touch point and name.
EXAMPLE_TOUCH_POINTS = {2: "Sign-up call", 5: "Technician arrival"}
EXAMPLE_SITES = {1: "North call centre"}
EXAMPLE_CRITERIA = {
    4: ("Sign-up call", "Seconds to answer the phone"),
    5: ("Sign-up call", "Explained contract length and yearly price rise"),
    6: ("Sign-up call", "Used the customer's name"),
    7: ("Sign-up call", "Friendliness"),
    14: ("Technician arrival", "Minutes late"),
    15: ("Technician arrival", "Called ahead when running late"),
    16: ("Technician arrival", "Showed ID at the door"),
    17: ("Technician arrival", "Courtesy at the door"),
}


def _with_demo_ids(org: Organization) -> bytes:
    """The example file with its ids replaced by this database's."""
    touch_points = {
        tp.name: tp
        for tp in TouchPoint.objects.for_organization(org)
        .filter(journey__name="New broadband customer")
        .prefetch_related("criteria")
    }
    sites = {s.name: s.pk for s in Site.objects.for_organization(org)}
    criteria = {(tp.name, c.name): c.pk for tp in touch_points.values() for c in tp.criteria.all()}
    rows = list(csv.DictReader(io.StringIO(EXAMPLE.read_text(encoding="utf-8"), newline="")))
    for row in rows:
        row["touch_point"] = str(touch_points[EXAMPLE_TOUCH_POINTS[int(row["touch_point"])]].pk)
        row["site"] = str(sites[EXAMPLE_SITES[int(row["site"])]]) if row["site"] else ""
        row["criterion"] = str(criteria[EXAMPLE_CRITERIA[int(row["criterion"])]])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def test_documented_example_imports_cleanly_into_the_demo(db: None, tmp_path: Path) -> None:
    org = load_demo()
    assert org is not None
    before = Evaluation.objects.count()

    out, _ = run(write(tmp_path, _with_demo_ids(org)), DEMO_SLUG, ANA)

    assert "Imported 4 evaluations (16 answers)" in out
    imported = Evaluation.objects.filter(client_key__isnull=False).order_by("observed_at")
    assert Evaluation.objects.count() == before + 4
    assert [e.comment for e in imported] == [
        "Clear about the price rise, and friendly.",
        'Pushy about the TV bundle; I said "no" three times.',
        "Arrived 40 minutes late,\nno call ahead.",
        "-- on time and showed ID; no need to call ahead",  # read back without our '
    ]
    assert {e.evaluator.email for e in imported} == {ANA}


def test_a_file_over_the_size_cap_is_refused_unread(
    personas: Personas, tmp_path: Path, settings: pytest.FixtureRequest
) -> None:
    settings.IMPORT_MAX_BYTES = 100
    path = tmp_path / "big.csv"
    path.write_bytes(b"key,touch_point\r\n" + b"x" * 200)

    with pytest.raises(CommandError, match="up to 100 bytes"):
        call_command(
            "import_evaluations",
            str(path),
            "--organization",
            personas.org.slug,
            "--evaluator",
            personas.evaluator.email,
        )
