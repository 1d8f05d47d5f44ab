"""Sign-in brute force (RELIABILITY S9) and password rules: django-axes locks a username at an
address out after AXES_FAILURE_LIMIT failures, and accounts.brute_force locks an address out
after AXES_IP_FAILURE_LIMIT failures across usernames; while locked, the right password is
refused too. An unknown user and a wrong password get the same answer. (API token guessing:
tests/api/test_auth.py.)"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client

from tests.conftest import Personas
from tests.factories import PASSWORD

CSRF_MASK = re.compile(rb"\b[A-Za-z0-9]{64}\b")  # a fresh mask of the CSRF token each render


def sign_in(
    client: Client, email: str, password: str, ip: str = "203.0.113.7", **extra: Any
) -> Any:
    return client.post(
        "/sign-in/", {"username": email, "password": password}, REMOTE_ADDR=ip, **extra
    )


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail(client: Client, email: str, times: int, ip: str = "203.0.113.7", **extra: Any) -> None:
    for _ in range(times):
        sign_in(client, email, "not the password", ip, **extra)


def test_the_right_password_signs_in_after_fewer_failures_than_the_limit(
    personas: Personas, client: Client
) -> None:
    fail(client, personas.viewer.email, settings.AXES_FAILURE_LIMIT - 1)

    response = sign_in(client, personas.viewer.email, PASSWORD)

    assert response.status_code == 302 and signed_in(client)
    assert not AccessAttempt.objects.exists()  # success forgives the earlier typos


def test_after_the_limit_the_right_password_is_refused_too_until_the_cool_off(
    personas: Personas, client: Client
) -> None:
    fail(client, personas.viewer.email, settings.AXES_FAILURE_LIMIT)

    locked = sign_in(client, personas.viewer.email, PASSWORD)

    assert locked.status_code == 429
    assert not signed_in(client)
    assert "Too many failed sign-ins" in locked.content.decode()
    assert int(locked["Retry-After"]) == 3600
    # The cool-off over, the right password works again.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(hours=1, minutes=1)
    )
    assert sign_in(client, personas.viewer.email, PASSWORD).status_code == 302
    assert signed_in(client)


def test_one_users_lockout_locks_neither_other_users_nor_other_addresses(
    personas: Personas,
) -> None:
    fail(Client(), personas.viewer.email, settings.AXES_FAILURE_LIMIT)

    colleague = Client()
    assert sign_in(colleague, personas.evaluator.email, PASSWORD).status_code == 302
    elsewhere = Client()
    assert sign_in(elsewhere, personas.viewer.email, PASSWORD, ip="198.51.100.9").status_code == 302


def test_100_failures_across_users_lock_the_address_out(personas: Personas) -> None:
    """A password sprayed at many accounts, never reaching any one account's limit."""
    per_user = settings.AXES_FAILURE_LIMIT - 1
    users = -(-settings.AXES_IP_FAILURE_LIMIT // per_user)  # enough to reach the address limit
    attacker = Client()
    for i in range(users):
        fail(attacker, f"someone{i}@northwind.test", per_user)
    assert AccessAttempt.objects.filter(ip_address="203.0.113.7").count() == users

    victim = Client()
    refused = sign_in(victim, personas.manager.email, PASSWORD)
    elsewhere = Client()
    welcomed = sign_in(elsewhere, personas.manager.email, PASSWORD, ip="198.51.100.9")

    assert refused.status_code == 429 and not signed_in(victim)
    assert welcomed.status_code == 302 and signed_in(elsewhere)


def test_a_forged_forwarded_for_header_does_not_escape_the_lockout(
    personas: Personas, client: Client
) -> None:
    for i in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, personas.viewer.email, "guess", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")

    response = sign_in(client, personas.viewer.email, PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9")

    assert response.status_code == 429 and not signed_in(client)


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(
    personas: Personas,
) -> None:
    def answer(email: str) -> tuple[int, bytes]:
        response = sign_in(Client(), email, "not the password")
        return response.status_code, CSRF_MASK.sub(b"", response.content).replace(
            email.encode(), b"<email>"
        )

    assert answer("nobody@northwind.test") == answer(personas.viewer.email)
    assert answer("nobody@northwind.test")[0] == 200

    # And the same lockout, so a lockout does not reveal that an account exists either.
    def locked(email: str) -> tuple[int, bytes]:
        client = Client()
        fail(client, email, settings.AXES_FAILURE_LIMIT, ip="192.0.2.1")
        response = sign_in(client, email, "anything", ip="192.0.2.1")
        return response.status_code, CSRF_MASK.sub(b"", response.content)

    assert locked("nobody@northwind.test") == locked(personas.evaluator.email)
    assert locked("ghost@northwind.test")[0] == 429


def test_failed_sign_ins_are_logged_with_the_address(
    personas: Personas, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="axes"):
        fail(client, personas.viewer.email, 2)

    messages = [r.getMessage() for r in caplog.records if r.name.startswith("axes")]
    assert any("login failure" in m and "203.0.113.7" in m for m in messages)
    assert PASSWORD not in " ".join(messages) and "not the password" not in " ".join(messages)


# --- Passwords ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("83920174628", "entirely numeric"),
        ("viewer@northwind.test", "too similar"),
    ],
)
def test_the_password_change_page_refuses_a_weak_password(
    personas: Personas, client: Client, new: str, message: str
) -> None:
    client.force_login(personas.viewer)

    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    personas.viewer.refresh_from_db()
    assert personas.viewer.check_password(PASSWORD)
