"""Sending email: `send_email` for every app that has something to say, and `deliver` for
the Celery task that hands a queued message to the mail server.

A request never waits on the mail server: `send_email` stores the message in the outbox
within the caller's transaction and queues delivery after commit. Delivery retries only
what may succeed later (the server answered 4xx, dropped or refused the connection, timed
out); a 5xx answer or a refused login fails at once, because retrying cannot fix it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.identity import normalised_email
from accounts.models import Organization
from core import broker
from notify.models import EmailStatus, OutboundEmail

log = logging.getLogger("touchstone.email")

# A worker that claimed a message and then died leaves it "sending"; after this long the
# sweep hands it out again (longer than any SMTP timeout).
CLAIM_EXPIRES = timedelta(minutes=10)
# What a header may never hold: a line break would start a header of the sender's choosing.
_HEADER_BREAKS = ("\r", "\n", "\x00", "\u2028", "\u2029", "\x85")


def clean_address(value: str, *, field: str = "email") -> str:
    """`value` as a normalised email address, or ValidationError({field: ...}).

    Refuses line breaks before anything else: an address reaches the To header, and a
    newline there is header injection."""
    if any(ch in value for ch in _HEADER_BREAKS):
        raise ValidationError({field: ["An email address cannot contain line breaks."]})
    address = normalised_email(value)
    if len(address) > 254:
        raise ValidationError({field: ["An email address has at most 254 characters."]})
    try:
        validate_email(address)
    except ValidationError:
        raise ValidationError({field: ["Enter a valid email address."]}) from None
    return address


def header_text(value: str, *, limit: int = 200) -> str:
    """`value` made safe for a header: every line break becomes a space, then trimmed."""
    for ch in _HEADER_BREAKS:
        value = value.replace(ch, " ")
    return " ".join(value.split())[:limit]


def subject_for(organization: Organization | None, subject: str) -> str:
    """The subject line: the organization's name first, so the inbox says who wrote."""
    prefix = f"[{header_text(organization.name, limit=100)}] " if organization else ""
    return prefix + header_text(subject)


def send_email(
    *,
    organization: Organization | None,
    to: str,
    subject: str,
    template: str,
    context: dict[str, Any],
    kind: str,
) -> OutboundEmail:
    """Queue one message to `to`, rendered from `<template>.txt` and `<template>.html`.

    Call inside the transaction that makes the message true (an invitation, a reset):
    if it rolls back, nothing is sent. Delivery starts after commit."""
    address = clean_address(to)
    context = {**context, "organization": organization}
    email = OutboundEmail.objects.create(
        organization=organization,
        to=address,
        subject=subject_for(organization, subject),
        text_body=render_to_string(f"{template}.txt", context),
        html_body=render_to_string(f"{template}.html", context),
        kind=kind,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: queue_delivery(email.pk))
    return email


# Published by name (core.broker): notify.tasks imports this module.
DELIVER_EMAIL = "notify.tasks.deliver_email"


def queue_delivery(email_id: int, *, countdown: float = 0) -> None:
    """Publish the delivery task; a broker that is down costs a sweep interval, not the
    request (the outbox row stays queued)."""
    try:
        broker.send_task(DELIVER_EMAIL, args=(email_id,), countdown=countdown)
    except Exception:
        log.warning("Could not queue email %s; the sweep will send it.", email_id, exc_info=True)


@dataclass(frozen=True)
class Outcome:
    status: str
    retry_in: float | None = None


def deliver(email_id: int) -> Outcome:
    """Send one queued message once: claim it, hand it to the mail server, record the result.
    Returns when to try again (transient failure) or None. Safe to call twice: only the
    caller that claims the row sends it."""
    now = timezone.now()
    claimed = OutboundEmail.objects.filter(pk=email_id, status=EmailStatus.QUEUED).update(
        status=EmailStatus.SENDING, attempts=F("attempts") + 1, claimed_at=now
    )
    if not claimed:
        return Outcome(status="not-queued")
    email = OutboundEmail.objects.get(pk=email_id)
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text_body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to],
        connection=get_connection(fail_silently=False),
    )
    message.attach_alternative(email.html_body, "text/html")
    try:
        message.send()
    except Exception as exc:
        return _record_failure(email, exc)
    OutboundEmail.objects.filter(pk=email.pk).update(
        status=EmailStatus.SENT, finished_at=timezone.now(), text_body="", html_body=""
    )
    return Outcome(status=EmailStatus.SENT)


def _record_failure(email: OutboundEmail, exc: Exception) -> Outcome:
    error = header_text(f"{type(exc).__name__}: {exc}", limit=500)
    if is_transient(exc) and email.attempts < settings.EMAIL_MAX_ATTEMPTS:
        wait = settings.EMAIL_RETRY_SECONDS * 2 ** (email.attempts - 1)
        OutboundEmail.objects.filter(pk=email.pk).update(
            status=EmailStatus.QUEUED,
            last_error=error,
            next_attempt_at=timezone.now() + timedelta(seconds=wait),
        )
        log.warning(
            "Email %s to the mail server failed (%s); retrying in %s s.", email.pk, error, wait
        )
        return Outcome(status=EmailStatus.QUEUED, retry_in=wait)
    OutboundEmail.objects.filter(pk=email.pk).update(
        status=EmailStatus.FAILED,
        last_error=error,
        finished_at=timezone.now(),
        text_body="",
        html_body="",
    )
    log.error(
        "Email %s (%s) could not be delivered after %s attempt(s): %s",
        email.pk,
        email.kind,
        email.attempts,
        error,
        exc_info=not isinstance(exc, smtplib.SMTPException | OSError),
    )
    return Outcome(status=EmailStatus.FAILED)


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same message later may succeed (RFC 5321: 4yz replies are
    transient, 5yz permanent; a connection that failed or dropped may come back)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False  # configuration, not weather
    return isinstance(exc, smtplib.SMTPServerDisconnected | OSError)


def sweep_unsent() -> int:
    """Queue every message that is overdue: its task was lost (broker down or emptied) or
    its worker died while sending. Returns how many were queued."""
    now = timezone.now()
    OutboundEmail.objects.filter(
        status=EmailStatus.SENDING, claimed_at__lt=now - CLAIM_EXPIRES
    ).update(status=EmailStatus.QUEUED)
    # A minute of grace, so a message whose own task is about to run is not sent for twice
    # (harmless anyway: only one claim succeeds).
    due = list(
        OutboundEmail.objects.filter(
            Q(status=EmailStatus.QUEUED), next_attempt_at__lt=now - timedelta(minutes=1)
        ).values_list("pk", flat=True)[:500]
    )
    for pk in due:
        queue_delivery(pk)
    return len(due)
