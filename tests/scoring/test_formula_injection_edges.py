"""Formula injection at the edges the export tests leave out (RELIABILITY S7): names that
start with a tab or a carriage return, which the services never store (they strip) but the
database can hold from elsewhere, leave `export_scores` neutralised and quoted; a NUL, which
PostgreSQL cannot hold in text at all, is refused at the browser's forms with a message and
a 400, and nothing is stored."""

from __future__ import annotations

import csv
import io
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from core.csv import restore_cell
from journeys.models import Stage
from scoring.services import recompute_journey
from tests.conftest import Personas
from tests.factories import CriterionFactory, JourneyFactory, StageFactory, TouchPointFactory
from touchpoints.models import CriterionKind, Evaluation, TouchPoint

# Every trigger a spreadsheet reads as the start of a formula that a name can start with.
NAMES = ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1", "\t\r@x")


def test_names_starting_with_any_trigger_leave_the_export_quoted_and_neutralised(
    personas: Personas,
) -> None:
    journey = JourneyFactory(organization=personas.org)
    stage = StageFactory(journey=journey)
    for i in range(len(NAMES)):
        TouchPointFactory(stage=stage, name=f"Touch point {i}")
    # Straight to the table: the services strip leading whitespace, an import or a psql
    # session need not.
    for i, name in enumerate(NAMES):
        TouchPoint.objects.filter(stage=stage, name=f"Touch point {i}").update(name=name)
    Stage.objects.filter(pk=stage.pk).update(name="\t-stage")
    recompute_journey(journey.pk)
    out = StringIO()

    call_command("export_scores", "--journey", str(journey.pk), stdout=out, stderr=StringIO())

    text = out.getvalue()
    for name in NAMES:
        quoted = '"' + "'" + name + '"'
        assert f",{quoted}," in text, f"{name!r} is not exported as {quoted!r}"
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    names = [restore_cell(row[header.index("name")]) for row in rows]
    assert names == list(NAMES)
    assert {restore_cell(row[header.index("stage")]) for row in rows} == {"\t-stage"}


@pytest.fixture
def manager(client: Client, personas: Personas) -> Client:
    client.force_login(personas.manager)
    return client


def test_a_name_with_nul_is_refused_by_the_editor_and_nothing_is_stored(
    manager: Client, personas: Personas
) -> None:
    stage = StageFactory(journey__organization=personas.org, name="Sign up")

    response = manager.post(f"/edit/stages/{stage.pk}/", {"name": "\x00=1+1"})

    assert response.status_code == 400
    assert "Must not contain NUL characters." in response.content.decode()
    stage.refresh_from_db()
    assert stage.name == "Sign up"


def test_a_comment_with_nul_is_refused_by_the_evaluation_form_and_nothing_is_stored(
    manager: Client, personas: Personas
) -> None:
    criterion = CriterionFactory(
        touch_point__stage__journey__organization=personas.org, kind=CriterionKind.YES_NO
    )
    post = {
        "touch_point": str(criterion.touch_point_id),
        "source": "supervisor",
        "comment": "\x00=HYPERLINK(1)",
        f"answer_{criterion.pk}": "1",
    }

    response = manager.post("/evaluate/", post)

    assert response.status_code == 400
    assert "Null characters are not allowed." in response.content.decode()  # Django's form
    assert not Evaluation.objects.exists()
