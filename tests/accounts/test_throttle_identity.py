"""One throttle identity per account (issue 12, item 1): every password check — sign-in,
admin sign-in, password change — counts its failures under the identifier authentication
looks the account up by (NFKC, case-folded, length-capped), so no spelling and no entry
point gets tries of its own."""

from __future__ import annotations

import logging
import sys
import unicodedata
from functools import cache
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.identity import IDENTIFIER_MAX_LENGTH, account_identifier
from accounts.models import ApiToken
from accounts.tokens import create_token
from tests.accounts.test_brute_force import fail, sign_in, signed_in
from tests.conftest import Personas
from tests.factories import PASSWORD

NEW_PASSWORD = "a-much-better-passphrase-7"


@cache
def spellings_of() -> dict[str, list[str]]:
    """Every character whose NFKC form is one ASCII character (upper or lower case), by
    the lower-case character it stands for: full-width letters, mathematical letters,
    the full-width @, circled letters..."""
    found: dict[str, list[str]] = {}
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        normal = unicodedata.normalize("NFKC", chr(code))
        if len(normal) == 1 and normal.isascii():
            found.setdefault(normal.lower(), []).append(chr(code))
    return found


def spelling(email: str) -> st.SearchStrategy[str]:
    """Any NFKC-equivalent (or case-different) spelling of `email`."""
    table = spellings_of()
    return st.tuples(*(st.sampled_from(sorted(table.get(c, [c]))) for c in email)).map("".join)


def change_password(client: Client, old: str, ip: str = "203.0.113.7", **extra: Any) -> Any:
    return client.post(
        "/account/password/",
        {
            "old_password": old,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
            **extra,
        },
        REMOTE_ADDR=ip,
    )


def test_the_identifier_is_the_normalised_email() -> None:
    assert account_identifier("  ＶＩＥＷＥＲ＠Northwind.test ") == "viewer@northwind.test"
    assert account_identifier("𝐯𝐢𝐞𝐰𝐞𝐫@northwind.test") == "viewer@northwind.test"
    assert len(account_identifier("a" * 10_000)) == IDENTIFIER_MAX_LENGTH


def test_a_look_alike_spelling_signs_into_the_same_account(
    personas: Personas, client: Client
) -> None:
    response = sign_in(client, "ＶＩＥＷＥＲ＠ｎｏｒｔｈｗｉｎｄ.test", PASSWORD)

    assert response.status_code == 302 and signed_in(client)
    assert client.session["_auth_user_id"] == str(personas.viewer.pk)


def test_failures_under_many_spellings_count_as_one_account(
    personas: Personas, client: Client
) -> None:
    spellings = ["VIEWER@northwind.test", "ｖiewer@northwind.test", "𝐯iewer＠northwind.test"]
    for i in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, spellings[i % len(spellings)], "not the password")

    assert list(AccessAttempt.objects.values_list("username", flat=True)) == [personas.viewer.email]
    assert sign_in(client, personas.viewer.email, PASSWORD).status_code == 429
    assert not signed_in(client)


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_nfkc_equivalent_spelling_of_a_locked_email_is_refused(
    personas: Personas, data: st.DataObject
) -> None:
    if not AccessAttempt.objects.exists():
        fail(Client(), personas.viewer.email, settings.AXES_FAILURE_LIMIT)
    typed = data.draw(spelling(personas.viewer.email), label="typed")
    client = Client()

    response = sign_in(client, typed, PASSWORD)

    assert response.status_code == 429, typed
    assert not signed_in(client)


def test_an_over_long_identifier_is_a_form_error_and_is_counted(
    personas: Personas, client: Client
) -> None:
    typed = personas.viewer.email + "x" * 5000

    response = sign_in(client, typed, PASSWORD)

    assert response.status_code == 200 and not signed_in(client)
    assert "correct email address and password" in response.content.decode().replace("\n", " ")
    attempt = AccessAttempt.objects.get()
    assert attempt.username == account_identifier(typed)
    assert attempt.failures_since_start == 1


def test_admin_sign_in_shares_the_accounts_count(personas: Personas) -> None:
    personas.manager.is_staff = True
    personas.manager.save(update_fields=["is_staff"])
    client = Client()
    fail(client, personas.manager.email.upper(), settings.AXES_FAILURE_LIMIT - 1)

    client.post(
        "/admin/login/",
        {"username": "ｍanager@northwind.test", "password": "guess"},
        REMOTE_ADDR="203.0.113.7",
    )
    locked = client.post(
        "/admin/login/",
        {"username": personas.manager.email, "password": PASSWORD},
        REMOTE_ADDR="203.0.113.7",
    )

    assert locked.status_code == 429 and not signed_in(client)


def test_admin_sign_in_with_an_over_long_identifier_is_refused_and_counted(
    personas: Personas, client: Client
) -> None:
    response = client.post(
        "/admin/login/", {"username": "a" * 3000, "password": "guess"}, REMOTE_ADDR="203.0.113.7"
    )

    assert response.status_code == 200 and not signed_in(client)
    assert AccessAttempt.objects.get().failures_since_start == 1


# --- Password change ----------------------------------------------------------------------


def test_password_change_locks_after_the_same_limit_and_logs_each_failure(
    personas: Personas, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    client.force_login(personas.viewer)

    with caplog.at_level(logging.WARNING, logger="touchstone.security"):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert change_password(client, "guess").status_code == 200
        last = change_password(client, "guess")
    right = change_password(client, PASSWORD)

    assert last.status_code == 429 and right.status_code == 429
    personas.viewer.refresh_from_db()
    assert personas.viewer.check_password(PASSWORD)  # unchanged
    logged = [r for r in caplog.records if getattr(r, "event", "") == "password_check_failed"]
    assert len(logged) == settings.AXES_FAILURE_LIMIT
    assert all(r.entry_point == "password_change" for r in logged)  # type: ignore[attr-defined]
    assert "guess" not in caplog.text


def test_sign_in_and_password_change_failures_add_up(personas: Personas, client: Client) -> None:
    fail(Client(), "Viewer@Northwind.test", settings.AXES_FAILURE_LIMIT - 1)
    client.force_login(personas.viewer)

    assert change_password(client, "guess").status_code == 429
    assert sign_in(Client(), personas.viewer.email, PASSWORD).status_code == 429


def test_password_change_from_another_address_is_not_locked(
    personas: Personas, client: Client
) -> None:
    fail(Client(), personas.viewer.email, settings.AXES_FAILURE_LIMIT)
    client.force_login(personas.viewer)

    response = change_password(client, PASSWORD, ip="198.51.100.9")

    assert response.status_code == 302
    personas.viewer.refresh_from_db()
    assert personas.viewer.check_password(NEW_PASSWORD)


def test_password_change_revokes_the_api_tokens_when_asked(
    personas: Personas, client: Client
) -> None:
    create_token(user=personas.viewer, name="BI tool")
    create_token(user=personas.evaluator, name="someone else's")
    client.force_login(personas.viewer)

    response = change_password(client, PASSWORD, revoke_tokens="on")

    assert response.status_code == 302
    assert not ApiToken.objects.filter(user=personas.viewer, revoked_at__isnull=True).exists()
    assert ApiToken.objects.filter(user=personas.evaluator, revoked_at__isnull=True).exists()


def test_password_change_keeps_the_api_tokens_when_not_asked(
    personas: Personas, client: Client
) -> None:
    create_token(user=personas.viewer, name="BI tool")
    client.force_login(personas.viewer)

    page = client.get("/account/password/").content.decode()
    response = change_password(client, PASSWORD)

    assert 'name="revoke_tokens"' in page and "checked" in page
    assert response.status_code == 302
    assert ApiToken.objects.filter(user=personas.viewer, revoked_at__isnull=True).exists()


def test_an_outsider_cannot_change_anyone_elses_password(
    personas: Personas, client: Client
) -> None:
    """The page acts on the signed-in user only: the outsider changes their own."""
    client.force_login(personas.outsider)

    change_password(client, PASSWORD)

    personas.viewer.refresh_from_db()
    assert personas.viewer.check_password(PASSWORD)
