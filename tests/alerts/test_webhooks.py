"""Webhooks in one process: Standard Webhooks signatures (checked with the reference
library), the address guard at registration and at delivery, retries with the same
webhook-id, the attempt log, disabling after a day of failures, test and redeliver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone
from standardwebhooks import Webhook

from alerts import delivery, services, webhooks
from alerts.models import (
    DeliveryState,
    Event,
    EventKind,
    Notification,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.alerts.helpers import make_spot, submit
from tests.alerts.receiver import Receiver
from tests.conftest import Personas

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(answers=[200]).start()
    yield r
    r.stop()


def _register(
    personas: Personas, url: str, types: list[str] | None = None
) -> tuple[WebhookEndpoint, str]:
    return delivery.register_endpoint(
        actor=personas.manager,
        organization=personas.org,
        data={"url": url, "event_types": types or ["evaluation.critical_failure"]},
    )


def _critical_event(personas: Personas) -> None:
    spot = make_spot(personas.org, critical=True)
    submit(spot, personas.evaluator, [5], at=timezone.now() - timedelta(hours=1), critical_value=0)
    services.drain_outboxes()


def test_signature_follows_standard_webhooks() -> None:
    secret = webhooks.new_secret()
    body = json.dumps({"type": "weak_link.entered", "data": {"name": "Ünïcode ✓"}})
    headers = webhooks.signed_headers(secret, "msg_1", body)
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers)["type"] == "weak_link.entered"
    with pytest.raises(Exception, match="signature"):
        Webhook(webhooks.new_secret()).verify(body, headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(body + " ", headers)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://localhost:9/",
        "http://[::1]:9/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_private_addresses_are_refused_outside_debug(url: str, settings) -> None:  # type: ignore[no-untyped-def]
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(ValidationError) as refused:
        webhooks.resolve(url)
    assert "private network" in str(refused.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "https"),
        ("https://user:pw@example.com/", "user name"),
        ("https:///nohost", "no host"),
        ("https://example.com:99999/", "port"),
        ("http://[::1", "not a valid address"),
    ],
)
def test_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        webhooks.check_url(url)


def test_plain_http_only_when_allowed(settings) -> None:  # type: ignore[no-untyped-def]
    settings.WEBHOOK_ALLOW_HTTP = False
    with pytest.raises(ValidationError, match="https"):
        webhooks.check_url("http://example.com/")
    webhooks.check_url("https://example.com/")


def test_only_managers_register_and_the_secret_is_returned_once(
    personas: Personas, receiver: Receiver
) -> None:
    with pytest.raises(PermissionDenied):
        delivery.register_endpoint(
            actor=personas.evaluator,
            organization=personas.org,
            data={"url": receiver.url, "event_types": ["weak_link.entered"]},
        )
    with pytest.raises(ValidationError) as refused:
        delivery.register_endpoint(
            actor=personas.manager,
            organization=personas.org,
            data={"url": receiver.url, "event_types": ["nope"]},
        )
    assert "event_types" in refused.value.message_dict
    endpoint, secret = _register(personas, receiver.url)
    assert secret.startswith("whsec_") and endpoint.secret == secret


def test_a_delivery_is_signed_retried_with_the_same_id_and_logged(
    personas: Personas, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0, 0]
    failing = Receiver(answers=[500, 500, 200]).start()
    try:
        endpoint, secret = _register(personas, failing.url)
        _critical_event(personas)
        for _ in range(3):
            delivery.deliver_due()
        assert [r.path for r in failing.received] == ["/hooks/touchstone"] * 3
        ids = {r.headers["webhook-id"] for r in failing.received}
        assert len(ids) == 1
        for r in failing.received:
            payload = Webhook(secret).verify(r.body, r.headers)
            assert payload["type"] == "evaluation.critical_failure"
            assert payload["data"]["figures"]["criterion_name"] == "Door unlocked"
        sent = WebhookDelivery.objects.get(endpoint=endpoint)
        assert sent.state == DeliveryState.SUCCEEDED
        assert sent.attempts == 3
        log = list(
            WebhookAttempt.objects.filter(delivery=sent).values_list("status_code", flat=True)
        )
        assert log == [500, 500, 200]
        endpoint.refresh_from_db()
        assert endpoint.failing_since is None  # the success reset the clock
    finally:
        failing.stop()


def test_gives_up_after_the_schedule(personas: Personas, settings) -> None:  # type: ignore[no-untyped-def]
    settings.WEBHOOK_RETRY_SCHEDULE = [0]
    down = Receiver(answers=[503]).start()
    try:
        endpoint, _ = _register(personas, down.url)
        _critical_event(personas)
        delivery.deliver_due()
        delivery.deliver_due()
        delivery.deliver_due()
        sent = WebhookDelivery.objects.get(endpoint=endpoint)
        assert sent.state == DeliveryState.FAILED
        assert sent.attempts == 2
        assert len(down.received) == 2
    finally:
        down.stop()


def test_an_endpoint_failing_for_a_day_is_disabled_and_managers_are_told(
    personas: Personas, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.WEBHOOK_RETRY_SCHEDULE = [3600, 3600, 3600]
    down = Receiver(answers=[500]).start()
    try:
        endpoint, _ = _register(personas, down.url)
        _critical_event(personas)
        delivery.deliver_due()
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            failing_since=timezone.now() - timedelta(hours=24, seconds=1)
        )
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())  # the retry is due
        delivery.deliver_due()
        endpoint.refresh_from_db()
        assert not endpoint.enabled
        assert "24 hours" in endpoint.disabled_reason
        told = Event.objects.get(kind=EventKind.ENDPOINT_DISABLED)
        assert set(Notification.objects.filter(event=told).values_list("user_id", flat=True)) == {
            personas.manager.pk
        }
        assert not WebhookDelivery.objects.filter(event=told).exists()
        before = len(down.received)
        delivery.deliver_due()  # a disabled endpoint gets nothing more
        assert len(down.received) == before
        # Enabling again clears the clock and lets the pending retry go out.
        delivery.update_endpoint(actor=personas.manager, endpoint=endpoint, data={"enabled": True})
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())
        delivery.deliver_due()
        assert len(down.received) == before + 1
    finally:
        down.stop()


def test_the_address_is_checked_again_at_delivery(
    personas: Personas, receiver: Receiver, settings
) -> None:  # type: ignore[no-untyped-def]
    """Registered while allowed (or before its DNS changed): refused when sending, and the
    receiver on the loopback address never hears from us."""
    _endpoint, _ = _register(personas, receiver.url)
    _critical_event(personas)
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    delivery.deliver_due()
    assert receiver.received == []
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None
    assert "private network" in attempt.error


def test_send_test_and_redeliver(personas: Personas, receiver: Receiver) -> None:
    endpoint, secret = _register(personas, receiver.url)
    sent = delivery.send_test(actor=personas.manager, endpoint=endpoint)
    delivery.deliver_due()
    assert (
        Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)["type"]
        == "webhook.test"
    )
    delivery.redeliver(actor=personas.manager, delivery=sent)
    delivery.deliver_due()
    assert len(receiver.received) == 2
    assert receiver.received[1].headers["webhook-id"] == receiver.received[0].headers["webhook-id"]
    with pytest.raises(PermissionDenied):
        delivery.redeliver(actor=personas.viewer, delivery=sent)
    with pytest.raises(PermissionDenied):
        delivery.send_test(actor=personas.outsider, endpoint=endpoint)


def test_webhook_pages_show_attempts_to_managers_only(
    personas: Personas, receiver: Receiver, client: Client
) -> None:
    client.force_login(personas.manager)
    created = client.post(
        "/webhooks/", {"url": receiver.url, "event_types": ["weak_link.entered", "action.verified"]}
    )
    assert created.status_code == 201
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in created.content.decode()  # shown this once
    assert endpoint.secret not in client.get("/webhooks/").content.decode()
    client.post(f"/webhooks/{endpoint.pk}/test/")
    delivery.deliver_due()
    page = client.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert "webhook.test" in page and ": 200," in page
    client.force_login(personas.evaluator)
    assert client.get(f"/webhooks/{endpoint.pk}/").status_code == 403
    client.force_login(personas.outsider)
    assert client.get(f"/webhooks/{endpoint.pk}/").status_code == 404
    assert endpoint.url not in client.get("/webhooks/").content.decode()
