"""A header probe of the production shape (RELIABILITY S11; `check --deploy` itself is
tests/test_settings.py): with DEBUG off, a fresh interpreter signs in and fetches a page, API
answers and error pages, and the test checks what a browser or client would get: HTTPS
redirect, HSTS for a year, Secure/HttpOnly/SameSite cookies, the strict CSP, nosniff on JSON,
no stack trace on a 404 or a 500, the admin closed to anonymous visitors and the OpenAPI
document public as docs/permissions.md says."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.test_settings import a_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
DOCS = BASE_DIR / "docs" / "permissions.md"

# Runs in the production-configured interpreter, against the test database.
PROBE = r"""
import json
import django

django.setup()
from django.conf import settings

# Pages link their CSS through the manifest storage, which needs `collectstatic`; serving
# static files is not what this probe is about, so use the plain storage.
settings.STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"

from django.db import transaction
from django.test import Client

from accounts.models import Membership, Organization, User
from scoring import selectors

# Everything below runs in one transaction that is rolled back: the test database keeps
# nothing of the probe (the requests share this process's connection, as in a TestCase).
atomic = transaction.atomic()
atomic.__enter__()
PASSWORD = "a long probe passphrase 42"
org = Organization.objects.create(name="Probe", slug="probe")
user = User.objects.create_user(email="probe@example.com", password=PASSWORD)
Membership.objects.create(user=user, organization=org, role="manager")
out = {}


def probe(name, response):
    out[name] = {
        "status": response.status_code,
        "headers": {k.lower(): v for k, v in response.headers.items()},
        "cookies": {
            key: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"]), "samesite": m["samesite"]}
            for key, m in response.cookies.items()
        },
        "body": response.content.decode(errors="replace"),
    }


anonymous = Client(HTTP_HOST="example.com")
browser = Client(HTTP_HOST="example.com", raise_request_exception=False)
probe("plain http", anonymous.get("/sign-in/"))
probe("plain http probe", anonymous.get("/healthz"))
probe("sign-in page", browser.get("/sign-in/", secure=True))
probe("sign in", browser.post("/sign-in/", {"username": user.email, "password": PASSWORD}, secure=True))
probe("page", browser.get("/account/", secure=True))
probe("session api", browser.get("/api/v1/ping/", secure=True))
probe("anonymous api", anonymous.get("/api/v1/journeys/", secure=True))
probe("api 404", anonymous.get("/api/v1/no-such-thing/", secure=True))
probe("404", browser.get("/no-such-page/", secure=True))
probe("anonymous admin", anonymous.get("/admin/", secure=True))
probe("anonymous schema", anonymous.get("/api/v1/schema/", secure=True))


def broken(*args, **kwargs):
    raise RuntimeError("PROBE-SECRET-IN-TRACEBACK")


selectors.organization_weak_links = broken
probe("500", browser.get("/", secure=True))
transaction.set_rollback(True)
atomic.__exit__(None, None, None)
print(json.dumps(out))
"""


@functools.cache
def probe(database: str) -> dict[str, dict[str, Any]]:
    """Every probed answer, from one production-configured interpreter (once per run)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY=a_secret_key(50),
        ALLOWED_HOSTS="example.com",
        EMAIL_URL="console://",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}",
        LOG_LEVEL="CRITICAL",
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def answers(django_db_setup: None) -> dict[str, dict[str, Any]]:
    # The test database's name is known once it is set up; the probe rolls back all it
    # wrote, so every test can share its one run. A module fixture also keeps the module on
    # one xdist worker (tests/conftest.py): one probe per run, not one per worker.
    return probe(connection.settings_dict["NAME"])


def test_plain_http_is_redirected_to_https_except_the_health_probes(
    answers: dict[str, Any],
) -> None:
    assert answers["plain http"]["status"] == 301
    assert answers["plain http"]["headers"]["location"] == "https://example.com/sign-in/"
    assert answers["plain http probe"]["status"] in (200, 503)  # answered, not redirected


@pytest.mark.parametrize("name", ["sign-in page", "page", "session api", "anonymous api", "404"])
def test_every_answer_carries_hsts_for_a_year_and_the_security_headers(
    answers: dict[str, Any], name: str
) -> None:
    headers = answers[name]["headers"]
    hsts = dict(
        part.strip().partition("=")[::2] for part in headers["strict-transport-security"].split(";")
    )
    assert int(hsts["max-age"]) >= 31_536_000
    assert "includeSubDomains" in hsts
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("name", ["sign-in page", "page", "404"])
def test_pages_carry_the_strict_csp_and_refuse_framing(answers: dict[str, Any], name: str) -> None:
    headers = answers[name]["headers"]
    policy = {
        d.strip().split(" ")[0]: d.strip().split(" ")[1:]
        for d in headers["content-security-policy"].split(";")
    }
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert headers["x-frame-options"] == "DENY"


def test_session_and_csrf_cookies_are_secure_and_same_site(answers: dict[str, Any]) -> None:
    signed_in = answers["sign in"]
    assert signed_in["status"] == 302
    session = signed_in["cookies"]["sessionid"]
    csrf = answers["sign-in page"]["cookies"]["csrftoken"]

    assert session == {"secure": True, "httponly": True, "samesite": "Lax"}
    assert csrf["secure"] is True and csrf["samesite"] == "Lax"
    assert answers["page"]["status"] == 200  # and the session works over HTTPS


@pytest.mark.parametrize("name", ["session api", "anonymous api", "api 404"])
def test_api_answers_are_json_with_nosniff(answers: dict[str, Any], name: str) -> None:
    headers = answers[name]["headers"]
    assert headers["content-type"].startswith("application/json")
    assert headers["x-content-type-options"] == "nosniff"
    json.loads(answers[name]["body"])
    assert answers["anonymous api"]["status"] == 401
    assert answers["api 404"]["status"] == 404


@pytest.mark.parametrize(
    ("name", "status", "heading"),
    [("404", 404, "We can’t find that page"), ("500", 500, "Something went wrong on our side")],
)
def test_error_pages_show_no_stack_trace_or_settings(
    answers: dict[str, Any], name: str, status: int, heading: str
) -> None:
    page = answers[name]
    assert page["status"] == status
    assert heading in page["body"]  # the site's own page, not Django's technical one
    assert page["headers"]["content-type"].startswith("text/html")
    for leak in ("Traceback", "PROBE-SECRET-IN-TRACEBACK", "DEBUG = True", "URLconf", "SECRET_KEY"):
        assert leak not in page["body"]


def test_admin_is_closed_and_the_schema_open_as_documented(answers: dict[str, Any]) -> None:
    admin = answers["anonymous admin"]
    assert admin["status"] == 302
    assert admin["headers"]["location"].startswith("/admin/login/")
    assert answers["anonymous schema"]["status"] == 200
    assert "`/api/v1/schema/`) and the Swagger UI (`/api/v1/docs/`) are public" in " ".join(
        DOCS.read_text().split()
    )
