"""Outgoing email: EMAIL_URL, the outbox, delivery with retries on transient SMTP errors
only, and what managers see of a message that finally failed. Delivery goes to a real
SMTP server the test starts (tests/mail.py) and the test reads the message it received."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.utils import timezone

from config.email_url import parse_email_url
from notify import services, tasks
from notify.models import EmailStatus, OutboundEmail
from notify.selectors import failed_emails
from tests.conftest import Personas
from tests.mail import SmtpServer, bodies
from tests.processes import ROOT, Worker, free_port, publishing_to, wait_for

SMTP = "django.core.mail.backends.smtp.EmailBackend"
CONTEXT = {
    "inviter_name": "Dana Manager",
    "role_label": "Evaluator",
    "accept_url": "http://testserver/team/join/abc/",
    "expires_at": timezone.now(),
}


# --- EMAIL_URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("console://", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        (
            "smtp://user:p%40ss%3Aw%2Frd@mail.example.com:587/?tls=true",
            {
                "EMAIL_BACKEND": SMTP,
                "EMAIL_HOST": "mail.example.com",
                "EMAIL_PORT": 587,
                "EMAIL_HOST_USER": "user",
                "EMAIL_HOST_PASSWORD": "p@ss:w/rd",
                "EMAIL_USE_TLS": True,
                "EMAIL_USE_SSL": False,
                "EMAIL_TIMEOUT": 10.0,
            },
        ),
        (
            "smtps://a%40b.test:secret@smtp.example.com/?timeout=3",
            {
                "EMAIL_BACKEND": SMTP,
                "EMAIL_HOST": "smtp.example.com",
                "EMAIL_PORT": 465,
                "EMAIL_HOST_USER": "a@b.test",
                "EMAIL_HOST_PASSWORD": "secret",
                "EMAIL_USE_TLS": False,
                "EMAIL_USE_SSL": True,
                "EMAIL_TIMEOUT": 3.0,
            },
        ),
        (
            "smtp://mailpit:1025/",
            {"EMAIL_HOST": "mailpit", "EMAIL_PORT": 1025, "EMAIL_USE_TLS": False},
        ),
        ("smtp://relay.internal", {"EMAIL_PORT": 25, "EMAIL_HOST_USER": ""}),
    ],
)
def test_email_url_becomes_djangos_settings(url: str, expected: dict[str, Any]) -> None:
    parsed = parse_email_url(url)
    assert {key: parsed.get(key) for key in expected} == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://mail.example.com", "must start with smtp://"),
        ("smtp://", "no mail server host"),
        ("smtp://mail.example.com/?tsl=true", "unknown parameters"),
        ("smtp://mail.example.com/?tls=maybe", "tls must be true or false"),
        ("smtps://mail.example.com/?tls=true", "already TLS"),
        ("smtp://mail.example.com:port/", "not a number"),
        ("smtp://mail.example.com/?timeout=soon", "not a number"),
    ],
)
def test_a_wrong_email_url_fails_at_start_up_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=reason):
        parse_email_url(url)


def _start(**env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings"}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_to_start_without_email_url_and_says_why() -> None:
    result = _start(DEBUG="false", SECRET_KEY="k" * 50, EMAIL_URL="")
    assert result.returncode != 0
    assert "Set EMAIL_URL" in result.stderr
    assert "invitations and password reset" in result.stderr


def test_development_prints_email_to_the_console_by_default() -> None:
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.EMAIL_BACKEND)",
        ],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.stdout.strip() == "django.core.mail.backends.console.EmailBackend"


# --- Sending ------------------------------------------------------------------------------


def _queue(personas: Personas, to: str = "new.person@example.test", **extra: Any) -> OutboundEmail:
    return services.send_email(
        organization=personas.org,
        to=to,
        subject=extra.pop("subject", "You are invited"),
        template="email/invitation",
        context={**CONTEXT, **extra},
        kind="invitation",
    )


def test_message_arrives_with_both_bodies_and_the_organization_in_the_subject(
    personas: Personas, smtp_server: SmtpServer, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        email = _queue(personas)
    assert len(callbacks) == 1, "delivery is queued after commit, not before"

    outcome = services.deliver(email.pk)

    assert outcome.status == EmailStatus.SENT
    [message] = smtp_server.messages
    assert message["Subject"] == "[Northwind Broadband] You are invited"
    assert message["To"] == "new.person@example.test"
    text, html = bodies(message)
    assert "http://testserver/team/join/abc/" in text
    assert 'href="http://testserver/team/join/abc/"' in html
    email.refresh_from_db()
    assert (email.status, email.attempts, email.text_body, email.html_body) == ("sent", 1, "", "")


def test_a_message_is_sent_once_even_if_its_task_runs_twice(
    personas: Personas, smtp_server: SmtpServer
) -> None:
    email = _queue(personas)
    services.deliver(email.pk)
    assert services.deliver(email.pk).status == "not-queued"
    assert len(smtp_server.messages) == 1


def test_a_4xx_answer_is_retried_with_backoff_then_delivered(
    personas: Personas, smtp_server: SmtpServer
) -> None:
    smtp_server.mailbox.replies = ["451 4.3.0 Try again later"]
    email = _queue(personas)

    first = services.deliver(email.pk)
    email.refresh_from_db()
    assert (first.status, first.retry_in) == (EmailStatus.QUEUED, 30)
    assert email.status == EmailStatus.QUEUED
    assert "451" in email.last_error
    assert email.next_attempt_at > timezone.now() + timedelta(seconds=20)

    second = services.deliver(email.pk)
    assert second.status == EmailStatus.SENT
    assert len(smtp_server.messages) == 1


def test_a_5xx_answer_fails_at_once_is_logged_and_shown_to_managers(
    personas: Personas, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.mailbox.replies = ["550 5.1.1 No such mailbox"]
    email = _queue(personas)

    with caplog.at_level(logging.ERROR, logger="touchstone.email"):
        outcome = services.deliver(email.pk)

    assert outcome.status == EmailStatus.FAILED
    assert smtp_server.messages == []
    email.refresh_from_db()
    assert email.attempts == 1
    assert "550" in email.last_error
    assert (email.text_body, email.html_body) == ("", ""), "links do not outlive the message"
    assert any("could not be delivered" in r.getMessage() for r in caplog.records)
    assert list(failed_emails(personas.org)) == [email]
    assert list(failed_emails(personas.other_org)) == [], "another organization sees nothing"


def test_a_server_that_is_down_is_retried_until_the_attempts_run_out(
    personas: Personas, settings: Any
) -> None:
    settings.EMAIL_BACKEND = SMTP
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.EMAIL_MAX_ATTEMPTS = 3
    email = _queue(personas)

    waits = [services.deliver(email.pk).retry_in for _ in range(3)]

    assert waits == [30, 60, None]
    email.refresh_from_db()
    assert (email.status, email.attempts) == (EmailStatus.FAILED, 3)
    assert "ConnectionRefusedError" in email.last_error


@pytest.mark.parametrize(
    "address",
    [
        "not-an-address",
        "victim@example.test\r\nBcc: everyone@example.test",
        "victim@example.test\nBcc: x@example.test",
        "a" * 250 + "@example.test",
        "",
    ],
)
def test_a_malformed_or_injected_address_is_refused_and_nothing_is_stored(
    personas: Personas, address: str
) -> None:
    with pytest.raises(ValidationError):
        _queue(personas, to=address)
    assert not OutboundEmail.objects.exists()


def test_line_breaks_in_a_subject_or_organization_name_never_start_a_header(
    personas: Personas, smtp_server: SmtpServer
) -> None:
    personas.org.name = "Evil\r\nBcc: all@example.test"
    email = _queue(personas, subject="Hello\nX-Injected: yes")
    services.deliver(email.pk)
    [message] = smtp_server.messages
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert message["Subject"] == "[Evil Bcc: all@example.test] Hello X-Injected: yes"


def test_the_sweep_sends_what_a_lost_task_left_behind(
    personas: Personas, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[int] = []
    monkeypatch.setattr(services, "queue_delivery", lambda pk, countdown=0: queued.append(pk))
    fresh = _queue(personas, to="fresh@example.test")
    lost = _queue(personas, to="lost@example.test")
    OutboundEmail.objects.filter(pk=lost.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=5)
    )

    assert services.sweep_unsent() == 1
    assert queued == [lost.pk], "a message whose own task is due soon is left to it"
    assert fresh.pk not in queued


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_after_commit(
    personas: Personas, smtp_server: SmtpServer, broker: Any, settings: Any
) -> None:
    """The whole path: the request's transaction commits, the task goes through a real
    broker to a real worker, and the message lands on the SMTP server."""
    worker = Worker(broker.url, EMAIL_URL=smtp_server.url)
    worker.start()
    try:
        with publishing_to(broker.url), transaction.atomic():
            _queue(personas, to="worker.path@example.test")
        message = smtp_server.wait_for_message("worker.path@example.test", timeout=60)
        assert message["Subject"].startswith("[Northwind Broadband]")
        wait_for(lambda: OutboundEmail.objects.filter(status=EmailStatus.SENT).exists(), timeout=10)
    finally:
        worker.stop()


def test_the_delivery_task_is_published_under_its_registered_name() -> None:
    """notify.services queues deliveries by task name (core.broker.send_task); a renamed
    task would leave every message unconsumed."""
    assert tasks.deliver_email.name == services.DELIVER_EMAIL
