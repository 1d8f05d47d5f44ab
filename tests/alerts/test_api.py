"""The alerts API: notifications and their read state, email choices, actions, webhook
endpoints and deliveries; the schema's webhooks section; walls (roles, other
organizations 404)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from alerts import delivery, services
from alerts.models import Action, NotificationSetting, WebhookEndpoint
from tests.alerts.helpers import make_spot, rescore, submit
from tests.alerts.receiver import Receiver
from tests.api.test_cross_tenant_walk import openapi_schema
from tests.conftest import Personas

pytestmark = pytest.mark.django_db


def _critical(personas: Personas) -> Any:
    spot = make_spot(personas.org, critical=True)
    submit(spot, personas.evaluator, [5], at=timezone.now() - timedelta(hours=1), critical_value=0)
    services.drain_outboxes()
    return spot


def test_notifications_list_and_mark_read(
    personas: Personas, viewer_api: APIClient, manager_api: APIClient
) -> None:
    _critical(personas)
    listed = viewer_api.get("/api/v1/notifications/").json()
    assert listed["count"] == 1
    entry = listed["results"][0]
    assert entry["event"]["type"] == "evaluation.critical_failure"
    assert entry["event"]["figures"]["criterion_name"] == "Door unlocked"
    assert entry["read_at"] is None and entry["email"] == "none"
    assert viewer_api.post("/api/v1/notifications/read/", {}, format="json").json() == {"marked": 1}
    assert viewer_api.get("/api/v1/notifications/?unread=true").json()["count"] == 0
    # Only the caller's own: the manager's entry is still unread.
    assert manager_api.get("/api/v1/notifications/?unread=true").json()["count"] == 1
    bad = viewer_api.post("/api/v1/notifications/read/", {"ids": ["x"]}, format="json")
    assert bad.status_code == 400


def test_notification_settings(personas: Personas, evaluator_api: APIClient) -> None:
    spot = make_spot(personas.org)
    rows = evaluator_api.get("/api/v1/notification-settings/").json()
    assert rows == [{"journey": spot.journey.pk, "mode": None}]
    body = {"journey": spot.journey.pk, "mode": "digest"}
    assert evaluator_api.post("/api/v1/notification-settings/", body, format="json").json() == body
    assert NotificationSetting.objects.get().mode == "digest"
    reset = {"journey": spot.journey.pk, "mode": None}
    evaluator_api.post("/api/v1/notification-settings/", reset, format="json")
    assert not NotificationSetting.objects.exists()
    refused = evaluator_api.post(
        "/api/v1/notification-settings/",
        {"journey": spot.journey.pk, "mode": "hourly"},
        format="json",
    )
    assert refused.status_code == 400 and "mode" in refused.json()
    unknown = evaluator_api.post(
        "/api/v1/notification-settings/", {"journey": 10**12, "mode": "digest"}, format="json"
    )
    assert unknown.status_code == 404 and "journey" in unknown.json()


def test_actions_open_done_and_read(
    personas: Personas, manager_api: APIClient, evaluator_api: APIClient, client_for
) -> None:  # type: ignore[no-untyped-def]
    spot = make_spot(personas.org)
    submit(spot, personas.manager, [3] * 6, at=timezone.now() - timedelta(days=3))
    rescore(spot)
    created = manager_api.post(
        "/api/v1/actions/",
        {
            "touch_point": spot.touch_point.pk,
            "description": "Greet by name",
            "owner": personas.evaluator.pk,
            "due": "2030-01-31",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    action = created.json()
    assert action["state"] == "opened" and action["baseline_mean"] == pytest.approx(50.0)
    refused = evaluator_api.post(
        "/api/v1/actions/",
        {"touch_point": spot.touch_point.pk, "description": "x", "owner": personas.evaluator.pk},
        format="json",
    )
    assert refused.status_code == 403
    detail = evaluator_api.get(f"/api/v1/actions/{action['id']}/")
    assert detail.status_code == 200 and detail["ETag"]
    done = evaluator_api.post(f"/api/v1/actions/{action['id']}/done/")  # the owner
    assert done.status_code == 200 and done.json()["state"] == "done"
    again = evaluator_api.post(f"/api/v1/actions/{action['id']}/done/")
    assert again.status_code == 409  # a rule of the current state (issue 19)
    outsider = client_for(personas.outsider)
    assert outsider.get(f"/api/v1/actions/{action['id']}/").status_code == 404
    assert outsider.post(f"/api/v1/actions/{action['id']}/done/").status_code == 404
    assert outsider.get("/api/v1/actions/").json()["count"] == 0
    wrong_tp = manager_api.post(
        "/api/v1/actions/",
        {"touch_point": 10**12, "description": "x", "owner": personas.evaluator.pk},
        format="json",
    )
    assert wrong_tp.status_code == 404 and "touch_point" in wrong_tp.json()  # as in a path
    nobody = manager_api.post(
        "/api/v1/actions/",
        {"touch_point": spot.touch_point.pk, "description": "x", "owner": 10**12},
        format="json",
    )
    assert nobody.status_code == 404 and "owner" in nobody.json()
    assert Action.objects.count() == 1


def test_webhook_endpoints_deliveries_test_and_redeliver(
    personas: Personas, manager_api: APIClient, viewer_api: APIClient, client_for
) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver().start()
    try:
        created = manager_api.post(
            "/api/v1/webhook-endpoints/",
            {"url": receiver.url, "event_types": ["weak_link.entered"], "description": "Desk"},
            format="json",
        )
        assert created.status_code == 201, created.content
        endpoint = created.json()
        secret = endpoint["secret"]
        assert secret.startswith("whsec_")
        shown = manager_api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/").json()
        assert "secret" not in shown  # shown once, at creation
        assert viewer_api.get("/api/v1/webhook-endpoints/").status_code == 403
        assert viewer_api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/").status_code == 403
        outsider = client_for(personas.outsider)
        assert outsider.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/").status_code == 404

        test = manager_api.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/test/")
        assert test.status_code == 202
        delivery.deliver_due()
        Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)
        listed = manager_api.get(f"/api/v1/webhook-deliveries/?endpoint={endpoint['id']}").json()
        sent = listed["results"][0]
        assert sent["state"] == "succeeded"
        assert sent["attempt_log"][0]["status_code"] == 200
        assert sent["attempt_log"][0]["latency_ms"] >= 0
        again = manager_api.post(f"/api/v1/webhook-deliveries/{sent['id']}/redeliver/")
        assert again.status_code == 202 and again.json()["state"] == "pending"
        delivery.deliver_due()
        assert (
            receiver.received[1].headers["webhook-id"] == receiver.received[0].headers["webhook-id"]
        )
        assert (
            outsider.post(f"/api/v1/webhook-deliveries/{sent['id']}/redeliver/").status_code == 404
        )

        patched = manager_api.patch(
            f"/api/v1/webhook-endpoints/{endpoint['id']}/", {"enabled": False}, format="json"
        )
        assert patched.status_code == 200 and patched.json()["enabled"] is False
        gone = manager_api.delete(f"/api/v1/webhook-endpoints/{endpoint['id']}/")
        assert gone.status_code == 204
        assert not WebhookEndpoint.objects.exists()
    finally:
        receiver.stop()


def test_private_urls_are_refused_by_the_api_outside_debug(
    personas: Personas,
    manager_api: APIClient,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOK_ALLOW_HTTP = False
    for url in ("https://127.0.0.1/", "https://169.254.169.254/", "http://example.com/"):
        refused = manager_api.post(
            "/api/v1/webhook-endpoints/",
            {"url": url, "event_types": ["weak_link.entered"]},
            format="json",
        )
        assert refused.status_code == 400 and "url" in refused.json(), url
    assert not WebhookEndpoint.objects.exists()


def test_the_schema_documents_every_webhook_with_an_example() -> None:
    schema = openapi_schema()
    # The schema is OpenAPI 3.1, whose `webhooks` section holds them (3.0 had none).
    assert schema["openapi"].startswith("3.1")
    hooks = schema["webhooks"]
    assert set(hooks) == {*delivery.EVENT_TYPES, delivery.TEST_EVENT}
    named = {h.rsplit(".", 1)[1] for h in settings.SPECTACULAR_SETTINGS["WEBHOOKS"]}
    assert len(named) == len(hooks)
    for kind, item in hooks.items():
        post = item["post"]
        for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            assert header in post["description"], kind
        examples = post["requestBody"]["content"]["application/json"]["examples"]
        assert next(iter(examples.values()))["value"]["type"] == kind
