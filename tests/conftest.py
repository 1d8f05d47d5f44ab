"""Personas every test module can call on: a manager, an evaluator and a viewer of one
organization, and an outsider who manages a different organization; and `broker`, a
private redis-server for the tests that run real workers."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache, caches
from django.db import transaction
from django.test import Client, override_settings

from accounts import access_cache
from accounts.models import Membership, Organization, Role, User
from tests import openapi_check
from tests.concurrency import room_for_everyone_at_once
from tests.databases import django_db_setup, pytest_configure_node, pytest_sessionfinish
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.mail import SmtpServer
from tests.processes import RedisServer

room_for_everyone_at_once()

# Test databases: migrated once, copied per xdist worker (tests/databases.py).
__all__ = ["django_db_setup", "pytest_configure_node", "pytest_sessionfinish"]

# --- Scheduling for pytest-xdist (`make test`: -n N --dist loadgroup) ---------------------


def _shares_a_module_fixture(item: pytest.Item) -> bool:
    """Whether the test uses a module-scoped fixture of this suite (a Celery worker, the
    demo, Chromium, a world of two organizations built once)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        definition.scope == "module" and definition.baseid.startswith("tests")
        for definitions in info.name2fixturedefs.values()
        for definition in definitions
    )


@pytest.hookimpl(tryfirst=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_groups(items: list[pytest.Item]) -> None:
    """Work units for `--dist loadgroup`:

    - the fault tests (tests/faults/) are one group: they run one at a time, on one worker,
      beside the rest of the suite rather than after it; each starts its own brokers,
      workers, gunicorn or PostgreSQL, and none competes with another for them;
    - a module whose tests share a module-scoped fixture runs on one worker, which builds
      it once; spread over every worker, each would build (and tear down) its own.
    """
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        path = item.nodeid.split("::")[0]
        if path.startswith("tests/faults/"):
            item.add_marker(pytest.mark.xdist_group("faults"))
        elif _shares_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(path))


def _tier(item: pytest.Item) -> int:
    if item.get_closest_marker("slow"):
        return 0
    if item.get_closest_marker("worker") or item.get_closest_marker("browser"):
        return 1
    return 2


@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_order(items: list[pytest.Item]) -> None:
    """Slow tests first, then those that start workers or Chromium, then the rest (each in
    the order pytest-django left them): xdist hands tests out in this order, so the long
    ones start at once and the quick ones fill the gaps, instead of one long test finishing
    last on its own. (Groups of several tests go first anyway, biggest first.)"""
    items.sort(key=_tier)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """PBKDF2 at Django's full strength takes most of a second a user on this hardware,
    and every test makes four; tests need a password that works, not one that resists."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _own_throttle_keys(worker_id: str) -> Iterator[None]:
    """Parallel test processes (pytest-xdist) share one Redis database: each keeps its
    throttle counters under its own key prefix, so one process's counters never throttle,
    or get cleared under, another's test."""
    configured = copy.deepcopy(django_settings.CACHES)
    configured["throttle"]["KEY_PREFIX"] = f"throttle-test-{worker_id}"
    with override_settings(CACHES=configured):
        yield


@pytest.fixture(autouse=True)
def _api_responses_match_the_schema(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every /api/v1/ response the test client produces must conform to /api/v1/schema/
    (tests/openapi_check.py). A test that breaks the app on purpose to see how it fails
    opts out with @pytest.mark.breaks_the_schema_on_purpose."""
    if request.node.get_closest_marker("breaks_the_schema_on_purpose"):
        return
    original = Client.request

    def checked(self: Client, **kwargs: Any) -> Any:
        response = original(self, **kwargs)
        openapi_check.check(response)
        return response

    monkeypatch.setattr(Client, "request", checked)


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    """Throttle counters live in the caches; one test's requests must not throttle the next.
    Only this process's keys go: a FLUSHDB would wipe a parallel process's counters too.
    Nor may a token resolution cached by one test serve the next (accounts.access_cache)."""
    access_cache.clear()
    cache.clear()
    shared = caches["throttle"]
    try:
        client = shared._cache.get_client(write=True)  # type: ignore[attr-defined]
        keys = list(client.scan_iter(match=f"{shared.key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.exceptions.ConnectionError:
        pass  # a test that stopped Redis on purpose; nothing was counted there either


@dataclass
class Personas:
    org: Organization
    manager: User
    evaluator: User
    viewer: User
    other_org: Organization
    outsider: User  # manages other_org, belongs nowhere near org

    def membership(self, user: User) -> Membership:
        return Membership.objects.get(user=user, organization=self.org)


def make_personas() -> Personas:
    org = OrganizationFactory(name="Northwind Broadband")
    other = OrganizationFactory(name="Rival Telecom")
    people = {}
    for role in (Role.MANAGER, Role.EVALUATOR, Role.VIEWER):
        people[role] = UserFactory(email=f"{role}@northwind.test")
        MembershipFactory(user=people[role], organization=org, role=role)
    outsider = UserFactory(email="manager@rival.test")
    MembershipFactory(user=outsider, organization=other, role=Role.MANAGER)
    return Personas(
        org=org,
        manager=people[Role.MANAGER],
        evaluator=people[Role.EVALUATOR],
        viewer=people[Role.VIEWER],
        other_org=other,
        outsider=outsider,
    )


@pytest.fixture
def personas(db: None) -> Personas:
    return make_personas()


@contextmanager
def rows_for_the_module(django_db_blocker: Any) -> Iterator[None]:
    """For a module-scoped fixture that builds rows once for the whole module: inside, the
    database is open and rows written stay until the module ends, when they are rolled
    back. Each test's own `db` transaction nests inside as a savepoint, so whatever a test
    writes is gone before the next one starts, as with rows built per test. (Passwords are
    hashed with the fast hasher conftest gives every test, which a module fixture precedes.)
    """
    fast_hasher = override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
    )
    with django_db_blocker.unblock(), fast_hasher, transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture
def recompute_requests(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Keep the after-commit recompute hints off the real broker and record them instead.

    For tests that commit (transaction=True) but are not about the worker: their touch
    points are gone after the test, and a worker must not be sent after them.
    """
    sent: list[list[int]] = []
    monkeypatch.setattr("scoring.services.request_recompute", lambda ids: sent.append(sorted(ids)))
    # Journey recomputes (the map-changed hook) are kept off the broker too, unrecorded.
    monkeypatch.setattr("core.map_changes.request_journey_recompute", lambda ids: None)
    return sent


@pytest.fixture
def broker() -> Iterator[RedisServer]:
    """A throwaway redis-server on its own port, for a test's workers and publishing."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[SmtpServer]:
    """A real SMTP server on a free port (aiosmtpd), with Django's mail settings pointed at
    it; read what arrived from `smtp_server.messages`."""
    server = SmtpServer()
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()
