"""Proxy trust and client-address counting come from ONE setting, TRUSTED_PROXIES (issue 12,
item 5): production trusted a proxy's X-Forwarded-Proto by default while counting every
client behind it as the proxy's one address, so 100 failed sign-ins from anyone locked
everyone out. A system check warns when the two are set apart by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.settings import api_settings

from core.checks import check_proxy_trust
from tests.conftest import Personas
from tests.factories import PASSWORD
from tests.test_settings import a_secret_key, run

PRINT = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.TRUSTED_PROXIES, s.REST_FRAMEWORK['NUM_PROXIES'], "
    "getattr(s, 'SECURE_PROXY_SSL_HEADER', None)]))"
)


def production(**config: str) -> list[Any]:
    done = run(["-c", PRINT], DEBUG="false", SECRET_KEY=a_secret_key(), **config)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, [1, 1, ["HTTP_X_FORWARDED_PROTO", "https"]]),  # behind one TLS proxy
        ({"TRUSTED_PROXIES": "2"}, [2, 2, ["HTTP_X_FORWARDED_PROTO", "https"]]),
        ({"TRUSTED_PROXIES": "0"}, [0, None, None]),
        ({"API_NUM_PROXIES": "0"}, [0, None, None]),  # the old name still works
    ],
)
def test_one_setting_configures_scheme_and_address_together(
    config: dict[str, str], expected: list[Any]
) -> None:
    assert production(**config) == expected


def test_the_check_is_quiet_when_they_agree(settings: Any) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert check_proxy_trust() == []
    settings.SECURE_PROXY_SSL_HEADER = None
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": None}
    assert check_proxy_trust() == []


def test_the_check_warns_when_they_contradict(settings: Any) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": None}

    warnings = check_proxy_trust()

    assert [w.id for w in warnings] == ["touchstone.W010"]
    assert "TRUSTED_PROXIES" in (warnings[0].hint or "")


def test_behind_a_trusted_proxy_one_clients_failures_do_not_lock_another_out(
    personas: Personas, settings: Any
) -> None:
    """With the proxy counted, the lockout sees the clients' addresses, not the proxy's."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    api_settings.reload()
    try:
        attacker = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
        for i in range(settings.AXES_IP_FAILURE_LIMIT):
            attacker.post("/sign-in/", {"username": f"x{i}@example.com", "password": "guess"})
        colleague = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.20")
        response = colleague.post(
            "/sign-in/", {"username": personas.viewer.email, "password": PASSWORD}
        )
    finally:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": None}
        api_settings.reload()
    assert response.status_code == 302
