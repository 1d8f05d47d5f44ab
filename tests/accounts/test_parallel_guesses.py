"""Password guesses sent in parallel (RELIABILITY S9, docs/reliability.md H8): the limits
hold however many guesses arrive together, at every entry point that checks a password.

Each request used to ask "is it locked?" when it arrived and count its failure after the
password check, so fifty guesses released together all saw "not locked" and all had their
password checked, past a limit of ten. Here a real threaded server takes fifty guesses
released by one barrier, and the test counts the password hashes really computed."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import base_user
from django.test import Client, override_settings

from core import throttle
from tests.accounts.test_brute_force import fail, sign_in
from tests.concurrency import all_at_once
from tests.conftest import Personas
from tests.factories import PASSWORD

PARALLEL = 50
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class HashCounter:
    """Password hashes computed: a check against an account's stored hash, or the stand-in
    hash an unknown user costs (accounts.backends). Either is one guess's real work."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.count += 1


@pytest.fixture
def password_hashes(personas: Personas, monkeypatch: pytest.MonkeyPatch) -> Iterator[HashCounter]:
    counter = HashCounter()
    check, make = base_user.check_password, base_user.make_password

    def counted_check(*args: Any, **kwargs: Any) -> bool:
        counter.add()
        return check(*args, **kwargs)

    def counted_make(*args: Any, **kwargs: Any) -> str:
        counter.add()
        return make(*args, **kwargs)

    monkeypatch.setattr(base_user, "check_password", counted_check)
    monkeypatch.setattr(base_user, "make_password", counted_make)
    yield counter


def form_token(session: requests.Session, url: str) -> str:
    """GET the form (which sets the CSRF cookie) and return its token."""
    page = session.get(url, timeout=60)
    match = CSRF_FIELD.search(page.text)
    assert match, page.text[:500]
    return match.group(1)


def session_cookie(user: Any) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


def post_form(
    base: str, path: str, data: dict[str, str], cookies: dict[str, str]
) -> Callable[[], int]:
    """A POST of the form at `path` with a valid CSRF token, to be run later (threads)."""
    session = requests.Session()
    session.cookies.update(cookies)
    token = form_token(session, f"{base}{path}")
    jar = session.cookies.get_dict()

    def post() -> int:
        return requests.post(
            f"{base}{path}",
            data={"csrfmiddlewaretoken": token, **data},
            cookies=jar,
            headers={"Referer": f"{base}{path}"},
            allow_redirects=False,
            timeout=60,
        ).status_code

    return post


def failures_recorded() -> int:
    return sum(AccessAttempt.objects.values_list("failures_since_start", flat=True))


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/sign-in/", "/admin/login/"])
def test_fifty_parallel_sign_in_guesses_check_at_most_the_limit(
    transactional_db: None,
    live_server: Any,
    personas: Personas,
    password_hashes: HashCounter,
    path: str,
) -> None:
    personas.viewer.is_staff = True  # the admin's sign-in page checks the password too
    personas.viewer.save(update_fields=["is_staff"])
    base = str(live_server.url)
    guesses = [
        post_form(base, path, {"username": personas.viewer.email, "password": f"guess {i}"}, {})
        for i in range(PARALLEL)
    ]
    password_hashes.count = 0

    answers = all_at_once(guesses)

    assert password_hashes.count <= settings.AXES_FAILURE_LIMIT, answers
    assert set(answers) <= {200, 429}
    assert answers.count(429) >= PARALLEL - settings.AXES_FAILURE_LIMIT
    # Locked now: the right password is refused unchecked too.
    right = post_form(base, path, {"username": personas.viewer.email, "password": PASSWORD}, {})
    checked = password_hashes.count
    assert right() == 429
    assert password_hashes.count == checked
    assert failures_recorded() >= settings.AXES_FAILURE_LIMIT


@pytest.mark.slow
def test_fifty_parallel_guesses_across_accounts_check_at_most_the_address_limit(
    transactional_db: None,
    live_server: Any,
    personas: Personas,
    password_hashes: HashCounter,
    settings: Any,
) -> None:
    """A password sprayed over many accounts at once, none reaching its own limit."""
    settings.AXES_IP_FAILURE_LIMIT = 20
    base = str(live_server.url)
    guesses = [
        post_form(
            base, "/sign-in/", {"username": f"someone{i}@northwind.test", "password": "x"}, {}
        )
        for i in range(PARALLEL)
    ]
    password_hashes.count = 0

    answers = all_at_once(guesses)

    assert password_hashes.count <= settings.AXES_IP_FAILURE_LIMIT, answers
    assert answers.count(429) >= PARALLEL - settings.AXES_IP_FAILURE_LIMIT
    right = post_form(
        base, "/sign-in/", {"username": personas.manager.email, "password": PASSWORD}, {}
    )
    assert right() == 429


@pytest.mark.slow
def test_fifty_parallel_password_change_guesses_check_at_most_the_limit(
    transactional_db: None,
    live_server: Any,
    personas: Personas,
    password_hashes: HashCounter,
) -> None:
    """A borrowed session guessing the old password (accounts.brute_force
    .check_password_guarded), fifty guesses at once."""
    base = str(live_server.url)
    cookies = session_cookie(personas.viewer)
    new = "a-much-better-passphrase-7"
    guesses = [
        post_form(
            base,
            "/account/password/",
            {"old_password": f"guess {i}", "new_password1": new, "new_password2": new},
            cookies,
        )
        for i in range(PARALLEL)
    ]
    password_hashes.count = 0

    answers = all_at_once(guesses)

    assert password_hashes.count <= settings.AXES_FAILURE_LIMIT, answers
    assert answers.count(429) >= PARALLEL - settings.AXES_FAILURE_LIMIT
    right = post_form(
        base,
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
        cookies,
    )
    assert right() == 429
    personas.viewer.refresh_from_db()
    assert personas.viewer.check_password(PASSWORD)  # unchanged


# --- The slots hold only checks in flight: axes alone decides a lockout's length -----------


def test_once_axes_forgets_the_failures_the_right_password_works_at_once(
    personas: Personas,
) -> None:
    """An administrator's `axes_reset` (or the cool-off) unlocks the account: no slot is
    left behind to keep it locked for longer than axes says."""
    client = Client()
    fail(client, personas.viewer.email, settings.AXES_FAILURE_LIMIT)
    assert sign_in(client, personas.viewer.email, PASSWORD).status_code == 429

    AccessAttempt.objects.all().delete()

    assert sign_in(client, personas.viewer.email, PASSWORD).status_code == 302


def test_a_right_password_gives_its_slot_back(personas: Personas) -> None:
    """Twice the limit of sign-ins in a row, each after limit - 1 typos: never locked."""
    for _ in range(2):
        client = Client()
        fail(client, personas.viewer.email, settings.AXES_FAILURE_LIMIT - 1)
        assert sign_in(client, personas.viewer.email, PASSWORD).status_code == 302
    for _ in range(2 * settings.AXES_FAILURE_LIMIT):
        assert sign_in(Client(), personas.viewer.email, PASSWORD).status_code == 302


def test_without_redis_sign_in_works_and_axes_still_locks(personas: Personas) -> None:
    caches = {**settings.CACHES}
    caches["throttle"] = {**caches["throttle"], "LOCATION": "redis://127.0.0.1:1/0"}
    throttle.reset_circuit()
    try:
        with override_settings(CACHES=caches):
            assert sign_in(Client(), personas.viewer.email, PASSWORD).status_code == 302
            client = Client()
            fail(client, personas.viewer.email, settings.AXES_FAILURE_LIMIT)
            assert sign_in(client, personas.viewer.email, PASSWORD).status_code == 429
    finally:
        throttle.reset_circuit()
