"""Password reset by email, end to end through a real SMTP server: the same answer for
known and unknown addresses, a link that works once, a rate limit that counts unknown
addresses too and fails open without Redis."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from accounts.models import User
from notify import services as notify_services
from notify.models import OutboundEmail
from tests.conftest import Personas
from tests.factories import PASSWORD
from tests.mail import SmtpServer, bodies
from web import password_reset

NEW_PASSWORD = "a brand new and long passphrase 7"


def ask(client: Client, email: str) -> Any:
    return client.post(reverse("password_reset"), {"email": email})


def deliver_all() -> None:
    for pk in OutboundEmail.objects.filter(status="queued").values_list("pk", flat=True):
        notify_services.deliver(pk)


def test_a_forgotten_password_is_reset_through_the_emailed_link(
    personas: Personas, smtp_server: SmtpServer
) -> None:
    client = Client()
    assert b"Forgot your password?" in client.get(reverse("login")).content
    response = ask(client, "Viewer@Northwind.test")
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")

    deliver_all()
    message = smtp_server.wait_for_message("viewer@northwind.test", timeout=5)
    assert message["Subject"] == "[Northwind Broadband] Reset your Touchstone password"
    text, html = bodies(message)
    link = re.search(r"http://testserver(/password-reset/[^/\s]+/[^/\s]+/)", text)
    assert link and link.group(0) in html

    form = client.get(link.group(1), follow=True)
    assert b"Choose a new password" in form.content
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done.status_code == 302 and done["Location"] == reverse("password_reset_complete")
    user = User.objects.get(email="viewer@northwind.test")
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)
    signed_in = Client().post(
        reverse("login"), {"username": "viewer@northwind.test", "password": NEW_PASSWORD}
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == "/"

    again = Client().get(link.group(1), follow=True)
    assert b"This link cannot be used" in again.content, "the link works once"


def test_known_and_unknown_addresses_get_the_same_answer(
    personas: Personas, smtp_server: SmtpServer
) -> None:
    known = ask(Client(), "viewer@northwind.test")
    unknown = ask(Client(), "nobody@northwind.test")
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    done = Client().get(known["Location"])
    assert b"If an account exists" in done.content
    assert list(OutboundEmail.objects.values_list("to", flat=True)) == ["viewer@northwind.test"]


def test_resets_are_limited_per_address_counting_unknown_ones_alike(personas: Personas) -> None:
    for email in ("viewer@northwind.test", "nobody@northwind.test"):
        answers = [ask(Client(), email).status_code for _ in range(password_reset.PER_ADDRESS + 1)]
        assert answers == [302] * password_reset.PER_ADDRESS + [429], email
    assert OutboundEmail.objects.count() == password_reset.PER_ADDRESS


def test_resets_are_limited_per_client_address(personas: Personas) -> None:
    client = Client(REMOTE_ADDR="203.0.113.9")
    answers = [
        ask(client, f"x{i}@example.test").status_code for i in range(password_reset.PER_CLIENT + 1)
    ]
    assert answers[-1] == 429 and set(answers[:-1]) == {302}
    assert ask(Client(REMOTE_ADDR="203.0.113.10"), "x0@example.test").status_code == 302


def test_without_redis_the_reset_still_works(
    personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("redis is down")

    monkeypatch.setattr(caches["throttle"], "add", broken)
    for _ in range(password_reset.PER_ADDRESS + 2):
        assert ask(Client(), "viewer@northwind.test").status_code == 302


@pytest.mark.parametrize(
    "email",
    ["viewer@northwind.test\r\nBcc: all@example.test", "x" * 10_000 + "@example.test", "no"],
)
def test_malformed_addresses_send_nothing(personas: Personas, email: str) -> None:
    response = ask(Client(), email)
    assert response.status_code in (200, 302)
    assert not OutboundEmail.objects.exists()


def test_a_forged_link_is_refused_and_changes_nothing(personas: Personas) -> None:
    user = User.objects.get(email="viewer@northwind.test")
    page = Client().get(reverse("password_reset_confirm", args=["MQ", "forged-token"]))
    assert page.status_code == 200 and b"This link cannot be used" in page.content
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
