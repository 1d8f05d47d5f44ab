"""Managers set up customer feedback: questions per touch point, links, posters, the API.
Every change is audit-logged; another organization's touch points and links are 404."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from feedback import services
from feedback.models import FeedbackLink, FeedbackQuestion
from tests.conftest import Personas
from tests.feedback.conftest import Setup

pytestmark = pytest.mark.django_db


def test_links_have_unguessable_distinct_tokens(personas: Personas, setup: Setup) -> None:
    other = services.create_link(actor=personas.manager, touch_point=setup.touch_point)
    assert setup.link.token != other.token
    for token in (setup.link.token, other.token):
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token)  # 128 random bits


def test_questions_only_for_scale_and_yes_no_criteria_at_most_two(
    personas: Personas, setup: Setup
) -> None:
    with pytest.raises(ValidationError) as numeric:
        services.save_questions(
            actor=personas.manager,
            touch_point=setup.touch_point,
            questions=[services.QuestionInput(setup.numeric.pk, "How long did you wait?")],
            ask_comment=False,
        )
    assert "questions[0].criterion" in numeric.value.message_dict
    with pytest.raises(ValidationError) as three:
        services.save_questions(
            actor=personas.manager,
            touch_point=setup.touch_point,
            questions=[
                services.QuestionInput(setup.scale.pk, "a"),
                services.QuestionInput(setup.yes_no.pk, "b"),
                services.QuestionInput(setup.yes_no.pk, "c"),
            ],
            ask_comment=False,
        )
    assert "questions" in three.value.message_dict
    with pytest.raises(ValidationError):
        services.save_questions(
            actor=personas.manager,
            touch_point=setup.touch_point,
            questions=[services.QuestionInput(setup.scale.pk, "   ")],
            ask_comment=False,
        )
    assert [q.text for q in FeedbackQuestion.objects.filter(touch_point=setup.touch_point)] == [
        "How friendly were we?",
        "Did you find everything?",
    ]


def test_every_change_is_audit_logged(personas: Personas, setup: Setup) -> None:
    services.revoke_link(actor=personas.manager, link=setup.link)
    services.revoke_link(actor=personas.manager, link=setup.link)  # again: no second row
    actions = list(
        AuditEvent.objects.filter(organization=personas.org)
        .order_by("id")
        .values_list("action", "object_type")
    )
    assert actions == [
        ("update", "feedbacksetup"),
        ("create", "feedbacklink"),
        ("revoke", "feedbacklink"),
    ]
    event = AuditEvent.objects.get(object_type="feedbacksetup")
    assert event.journey_id == setup.touch_point.journey_id
    assert event.changes["ask_comment"] == [False, True]


def test_only_managers_change_the_set_up(personas: Personas, setup: Setup) -> None:
    for person in (personas.evaluator, personas.viewer, personas.outsider):
        with pytest.raises(PermissionDenied):
            services.create_link(actor=person, touch_point=setup.touch_point)
        with pytest.raises(PermissionDenied):
            services.revoke_link(actor=person, link=setup.link)


def test_link_refuses_a_site_of_another_organization_and_a_past_expiry(
    personas: Personas, setup: Setup
) -> None:
    from tests.factories import SiteFactory

    theirs = SiteFactory(organization=personas.other_org)
    with pytest.raises(ValidationError) as error:
        services.create_link(
            actor=personas.manager,
            touch_point=setup.touch_point,
            site_id=theirs.pk,
            expires_at=timezone.now() - timedelta(minutes=1),
            language="xx",
        )
    assert set(error.value.message_dict) == {"site", "expires_at", "language"}


def _signed_in(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def test_manager_sets_up_questions_and_links_in_the_browser(
    personas: Personas, setup: Setup
) -> None:
    client = _signed_in(personas.manager)
    url = reverse("feedback-setup", args=[setup.touch_point.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert b"How friendly were we?" in page.content
    response = client.post(
        url,
        {"ask": [str(setup.yes_no.pk)], f"text_{setup.yes_no.pk}": "Was the queue short?"},
    )
    assert response.status_code == 302
    assert [q.text for q in FeedbackQuestion.objects.filter(touch_point=setup.touch_point)] == [
        "Was the queue short?"
    ]
    created = client.post(
        reverse("feedback-link-create", args=[setup.touch_point.pk]),
        {"label": "Receipt", "site": "", "language": "de", "expires_on": "2099-01-31"},
    )
    assert created.status_code == 302
    receipt = FeedbackLink.objects.get(label="Receipt")
    assert receipt.language == "de"
    assert receipt.expires_at is not None and receipt.expires_at.date().isoformat() == "2099-02-01"
    refused = client.post(
        reverse("feedback-link-create", args=[setup.touch_point.pk]),
        {"label": "x" * 81, "site": "12abc"},
    )
    assert refused.status_code == 400
    assert b"No link was created" in refused.content
    revoked = client.post(reverse("feedback-link-revoke", args=[receipt.pk]))
    assert revoked.status_code == 302
    receipt.refresh_from_db()
    assert receipt.is_revoked


def test_poster_has_a_server_drawn_qr_code_and_the_short_url(
    personas: Personas, setup: Setup
) -> None:
    client = _signed_in(personas.manager)
    for size in ("a4", "a6"):
        page = client.get(reverse("feedback-poster", args=[setup.link.pk]), {"size": size})
        assert page.status_code == 200
        html = page.content.decode()
        assert '<svg viewBox="0 0' in html and 'class="qr"' in html
        assert f"testserver/f/{setup.link.token}/" in html
        assert f"poster-page--{size}" in html
        assert "<script" not in html and "style=" not in html


def test_evaluators_and_viewers_get_403_outsiders_404(personas: Personas, setup: Setup) -> None:
    pages = [
        ("get", reverse("feedback-setup", args=[setup.touch_point.pk])),
        ("post", reverse("feedback-link-create", args=[setup.touch_point.pk])),
        ("get", reverse("feedback-poster", args=[setup.link.pk])),
        ("post", reverse("feedback-link-revoke", args=[setup.link.pk])),
    ]
    for person, status in (
        (personas.evaluator, 403),
        (personas.viewer, 403),
        (personas.outsider, 404),
    ):
        client = _signed_in(person)
        for method, url in pages:
            assert getattr(client, method)(url).status_code == status, (person, url)
    setup.link.refresh_from_db()
    assert setup.link.is_open
    assert FeedbackLink.objects.count() == 1


# --- API ------------------------------------------------------------------------------------


def test_api_lists_creates_and_revokes_links(
    personas: Personas, setup: Setup, manager_api: object, outsider_api: object, viewer_api: object
) -> None:
    api = manager_api
    listed = api.get("/api/v1/feedback-links/", {"touch_point": setup.touch_point.pk})  # type: ignore[attr-defined]
    assert listed.status_code == 200
    (row,) = listed.json()["results"]
    assert row["url"] == f"http://testserver/f/{setup.link.token}/"
    assert row["is_open"] is True and row["site"] == setup.site.pk

    created = api.post(  # type: ignore[attr-defined]
        "/api/v1/feedback-links/",
        {
            "touch_point": setup.touch_point.pk,
            "label": "Delivery note",
            "language": "de",
            "expires_at": "2099-01-01T00:00:00Z",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    new_id = created.json()["id"]
    refused = api.post(  # type: ignore[attr-defined]
        "/api/v1/feedback-links/",
        {"touch_point": setup.touch_point.pk, "expires_at": "soon"},
        format="json",
    )
    assert refused.status_code == 400
    assert "expires_at" in refused.json()

    etag = api.get(f"/api/v1/feedback-links/{new_id}/")["ETag"]  # type: ignore[attr-defined]
    revoked = api.post(f"/api/v1/feedback-links/{new_id}/revoke/", HTTP_IF_MATCH=etag)  # type: ignore[attr-defined]
    assert revoked.status_code == 200, revoked.content
    assert revoked.json()["is_open"] is False and revoked.json()["revoked_at"]

    assert outsider_api.get(f"/api/v1/feedback-links/{new_id}/").status_code == 404  # type: ignore[attr-defined]
    assert outsider_api.get("/api/v1/feedback-links/").json()["results"] == []  # type: ignore[attr-defined]
    links_before = FeedbackLink.objects.count()
    outsider_create = outsider_api.post(  # type: ignore[attr-defined]
        "/api/v1/feedback-links/", {"touch_point": setup.touch_point.pk}, format="json"
    )
    # Another organization's touch point is answered like a missing one: 404, nothing stored.
    assert outsider_create.status_code == 404
    assert FeedbackLink.objects.count() == links_before
    assert (
        viewer_api.post(  # type: ignore[attr-defined]
            "/api/v1/feedback-links/", {"touch_point": setup.touch_point.pk}, format="json"
        ).status_code
        == 403
    )
    assert FeedbackLink.objects.count() == 2


def test_api_shows_a_customer_answer_with_no_evaluator_as_the_schema_allows(
    personas: Personas, setup: Setup, manager_api: object
) -> None:
    from django.db import IntegrityError, transaction

    from tests.factories import EvaluationFactory

    evaluation = services.submit_response(link=setup.link, answers={setup.scale.pk: 4.0})
    body = manager_api.get(f"/api/v1/evaluations/{evaluation.pk}/").json()  # type: ignore[attr-defined]
    assert body["evaluator"] is None and body["source"] == "customer_survey"
    schema = manager_api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()  # type: ignore[attr-defined]
    evaluator = schema["components"]["schemas"]["Evaluation"]["properties"]["evaluator"]
    assert "null" in evaluator["type"]  # OpenAPI 3.1: nullable is a type of its own
    # Only a customer survey may lack a user: the database refuses any other.
    with pytest.raises(IntegrityError), transaction.atomic():
        EvaluationFactory(touch_point=setup.touch_point, evaluator=None, source="supervisor")
