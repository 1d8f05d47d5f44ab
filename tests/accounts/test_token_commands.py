"""`manage.py create_token` and `manage.py revoke_token`: tokens for REST clients."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.tokens import TOKEN_PREFIX
from tests.conftest import Personas
from tests.factories import UserFactory
from tests.processes import ROOT


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def status_with(raw: str) -> int:
    """What the API answers this token; the schema endpoint needs a member's token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return int(client.get("/api/v1/schema/").status_code)


def test_prints_a_working_token_once_with_a_hint_on_stderr(personas: Personas) -> None:
    out, err = run("create_token", "Manager@Northwind.test", "--name", "BI nightly import")

    raw = out.strip()
    assert raw.startswith(TOKEN_PREFIX)
    assert out.count(raw) == 1
    assert raw not in err
    assert "Authorization: Bearer" in err
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (personas.manager, "BI nightly import")
    assert token.prefix in err
    assert status_with(raw) == 200


def test_default_name_says_where_the_token_came_from(personas: Personas) -> None:
    run("create_token", personas.viewer.email)

    assert ApiToken.objects.get().name == "command line"


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("nobody@northwind.test", "No user has the email 'nobody@northwind.test'"),
        ("gone@northwind.test", "gone@northwind.test is deactivated"),
    ],
)
def test_unknown_or_deactivated_user_gets_a_clear_error_and_no_token(
    db: None, email: str, message: str
) -> None:
    UserFactory(email="gone@northwind.test", is_active=False)

    with pytest.raises(CommandError, match=message):
        run("create_token", email)

    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_bad_name_is_refused(personas: Personas, name: str) -> None:
    with pytest.raises(CommandError, match=r"name of 1 to 100 characters|at most 100 characters"):
        run("create_token", personas.manager.email, "--name", name)

    assert not ApiToken.objects.exists()


def test_user_without_organization_is_warned(db: None) -> None:
    UserFactory(email="new@northwind.test")

    out, err = run("create_token", "new@northwind.test")

    assert out.startswith(TOKEN_PREFIX)
    assert "belongs to no organization" in err


def test_failure_exits_non_zero_from_the_shell(db: None) -> None:
    settings = connection.settings_dict
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}",
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "create_token", "nobody@northwind.test"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert result.stdout == ""
    assert "No user has the email 'nobody@northwind.test'" in result.stderr


@pytest.mark.parametrize("form", ["{prefix}", "tst_{prefix}", "{raw}"])
def test_revoke_by_prefix_stops_the_token(personas: Personas, form: str) -> None:
    out, _ = run("create_token", personas.manager.email, "--name", "old script")
    raw = out.strip()
    prefix = ApiToken.objects.get().prefix
    assert status_with(raw) == 200

    message, _ = run("revoke_token", form.format(prefix=prefix, raw=raw))

    assert f"Revoked token 'old script' ({prefix})" in message
    assert ApiToken.objects.get().revoked_at is not None
    assert status_with(raw) == 401


def test_revoking_twice_says_so_and_leaves_the_first_revocation(personas: Personas) -> None:
    run("create_token", personas.manager.email)
    token = ApiToken.objects.get()
    run("revoke_token", token.prefix)
    token.refresh_from_db()

    message, _ = run("revoke_token", token.prefix)

    assert "already revoked" in message
    assert ApiToken.objects.get().revoked_at == token.revoked_at


def test_revoke_unknown_prefix_is_an_error(personas: Personas) -> None:
    run("create_token", personas.manager.email)

    with pytest.raises(CommandError, match="No token has the prefix 'deadbeef'"):
        run("revoke_token", "deadbeef")

    assert ApiToken.objects.get().revoked_at is None
