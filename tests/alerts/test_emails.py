"""Who hears what by email: at once for members who chose it (and managers by default for
weak links and critical failures), one daily digest per member at the organization's
time, never empty, never twice a day; through the mail outbox (notify) to a real SMTP
server the test starts, sent by a real worker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership, Role
from alerts import emails, services
from alerts.models import AlertSettings, EmailMode, Notification, NotificationSetting
from notify.models import OutboundEmail
from tests.alerts.helpers import make_spot, submit
from tests.conftest import Personas
from tests.factories import MembershipFactory
from tests.mail import SmtpServer, bodies
from tests.processes import RedisServer, Worker, publishing_to, wait_for


def _critical_failures(personas: Personas, count: int = 2):  # type: ignore[no-untyped-def]
    spot = make_spot(personas.org, critical=True)
    at = timezone.now() - timedelta(hours=1)
    for _ in range(count):
        submit(spot, personas.evaluator, [5], at=at, critical_value=0)
    return spot


@pytest.mark.django_db
def test_immediate_emails_go_once_to_those_who_hear_at_once(personas: Personas) -> None:
    _critical_failures(personas)
    services.drain_outboxes()
    assert emails.send_immediate() == 2  # the manager, by default, for each failure
    assert emails.send_immediate() == 0
    sent = OutboundEmail.objects.filter(kind="alert")
    assert {e.to for e in sent} == {personas.manager.email}
    assert "failed the critical criterion" in sent[0].subject
    assert sent[0].subject.startswith(f"[{personas.org.name}]")


@pytest.mark.django_db
def test_one_digest_per_member_per_day_never_empty(personas: Personas) -> None:
    spot = _critical_failures(personas)
    NotificationSetting.objects.create(
        membership=personas.membership(personas.evaluator), journey=spot.journey, mode="digest"
    )
    submit(spot, personas.evaluator, [5], at=timezone.now() - timedelta(hours=1), critical_value=0)
    services.drain_outboxes()
    AlertSettings.objects.create(organization=personas.org, digest_time=time(7, 0))
    before_seven = datetime.now(UTC).replace(hour=6, minute=59)
    after_seven = before_seven.replace(hour=7, minute=1)
    assert emails.send_digests(now=before_seven) == 0
    assert emails.send_digests(now=after_seven) == 1  # the evaluator's, listing what it heard
    digest = OutboundEmail.objects.get(kind="alert", to=personas.evaluator.email)
    assert "Daily digest: 3 events" in digest.subject  # all three, in one message
    assert emails.send_digests(now=after_seven + timedelta(hours=1)) == 0  # once a day
    # The next day: nothing new, so nothing sent (never an empty digest).
    assert emails.send_digests(now=after_seven + timedelta(days=1)) == 0
    assert not Notification.objects.filter(email=EmailMode.DIGEST, emailed_at__isnull=True).exists()


# --- With a real worker and SMTP server --------------------------------------------------------


@pytest.fixture
def workers(transactional_db: None, broker: RedisServer) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    with publishing_to(broker.url):
        yield started
    for worker in started:
        worker.stop()


@pytest.mark.worker
@pytest.mark.slow
def test_an_immediate_email_and_one_digest_arrive_at_the_smtp_server(
    workers: list[Worker], broker: RedisServer, smtp_server: SmtpServer
) -> None:
    manager = MembershipFactory(role=Role.MANAGER)
    org = manager.organization
    daily = MembershipFactory(organization=org, role=Role.EVALUATOR)
    quiet = MembershipFactory(organization=org, role=Role.VIEWER)
    spot = make_spot(org, critical=True)
    NotificationSetting.objects.create(membership=daily, journey=spot.journey, mode="digest")
    AlertSettings.objects.create(organization=org, digest_time=time(0, 0))  # due at once
    worker = Worker(broker.url, EMAIL_URL=smtp_server.url, ALERTS_PROCESS_SECONDS="1")
    workers.append(worker)
    worker.start()

    at = timezone.now() - timedelta(hours=1)
    submit(spot, daily.user, [5], at=at, critical_value=0)

    immediate = smtp_server.wait_for_message(manager.user.email, timeout=90)
    text, html = bodies(immediate)
    assert "failed the critical criterion" in str(immediate["Subject"])
    assert f"/touch-points/{spot.touch_point.pk}/" in text and "Door unlocked" in html
    digest = smtp_server.wait_for_message(daily.user.email, timeout=90)
    assert "Daily digest: 1 event" in str(digest["Subject"])
    wait_for(
        lambda: (
            not Notification.objects.filter(
                email__in=["immediate", "digest"], emailed_at__isnull=True
            ).exists()
        ),
        timeout=30,
    )
    to = [str(m["To"]) for m in smtp_server.messages]
    assert to.count(daily.user.email) == 1
    assert quiet.user.email not in to
    assert Membership.objects.filter(organization=org).count() == 3


@pytest.mark.django_db
def test_the_digest_time_has_one_place_the_organization_settings(
    personas: Personas, client
) -> None:  # type: ignore[no-untyped-def]
    make_spot(personas.org)
    AlertSettings.objects.create(organization=personas.org, digest_time=time(7, 0))
    client.force_login(personas.manager)
    page = client.get("/notifications/settings/").content.decode()
    assert "sent at 07:00 UTC" in page and 'href="/settings/"' in page
    assert 'name="digest_time"' not in page  # not a second form for the same value
    client.post("/notifications/settings/", {"digest_time": "18:30"})
    assert AlertSettings.objects.get(organization=personas.org).digest_time == time(7, 0)
    client.force_login(personas.evaluator)
    page = client.get("/notifications/settings/").content.decode()
    assert "sent at 07:00 UTC" in page and 'href="/settings/"' not in page
