"""Failed authentication is throttled without refusing valid credentials (issue 19, item 3).

One misconfigured client behind an office NAT used to lock every other client of that
office out: once an address had 30 failed token checks a minute, even valid tokens got
429. Now a token that has worked from that address, and any signed-in session, is still
served; guesses (tokens that never worked from there) are still refused unchecked, so
guessing is exactly as slow as before. The count lives in Redis (the "throttle" cache),
so every process sees it; when Redis is away the API keeps answering (fail open).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.test import Client, override_settings
from redis.connection import AbstractConnection
from rest_framework.test import APIClient

from accounts.tokens import create_token
from core import throttle
from core.api.authentication import AuthFailureThrottle
from tests.api.test_auth import bearer, random_token
from tests.conftest import Personas
from tests.processes import RedisServer

JOURNEYS = "/api/v1/journeys/"


def fail(times: int, ip: str = "127.0.0.1") -> list[int]:
    return [bearer(random_token()).get(JOURNEYS, REMOTE_ADDR=ip).status_code for _ in range(times)]


@pytest.fixture(autouse=True)
def _fresh_circuit() -> None:
    throttle.reset_circuit()


def test_a_token_that_worked_from_a_throttled_address_still_works(
    personas: Personas, settings: pytest.FixtureRequest
) -> None:
    settings.AUTH_FAILURE_RATE = "5/min"
    _, colleague = create_token(user=personas.manager, name="office BI tool")
    assert bearer(colleague).get(JOURNEYS).status_code == 200  # worked before the noise

    noise = fail(8)  # another client of the same office, misconfigured

    assert noise == [401] * 5 + [429] * 3
    assert bearer(colleague).get(JOURNEYS).status_code == 200
    assert fail(1) == [429]  # guessing is still throttled


def test_guessing_stays_as_slow_as_the_limit(
    personas: Personas, settings: pytest.FixtureRequest
) -> None:
    """A guesser's tokens never worked from its address: after the limit every guess is a
    429, a right one included, so guesses per window stay at the limit."""
    settings.AUTH_FAILURE_RATE = "5/min"
    _, victim = create_token(user=personas.manager, name="victim's script")
    bearer(victim).get(JOURNEYS, REMOTE_ADDR="198.51.100.1")  # works elsewhere

    statuses = fail(50, ip="203.0.113.66")
    right_guess = bearer(victim).get(JOURNEYS, REMOTE_ADDR="203.0.113.66")

    assert statuses.count(401) == 5 and statuses.count(429) == 45
    assert right_guess.status_code == 429


def test_a_valid_token_new_to_a_throttled_address_waits_like_a_guesser(
    personas: Personas, settings: pytest.FixtureRequest
) -> None:
    """Only a token that has worked from that very address passes the throttle: a right
    token first seen from a throttled address is refused unchecked, with the same wait as a
    guess (so a guesser cannot tell a right guess), and still works from anywhere else."""
    settings.AUTH_FAILURE_RATE = "5/min"
    _, fresh = create_token(user=personas.manager, name="new laptop")  # never used yet
    fail(5, ip="203.0.113.7")

    refused = bearer(fresh).get(JOURNEYS, REMOTE_ADDR="203.0.113.7")
    guess = bearer(random_token()).get(JOURNEYS, REMOTE_ADDR="203.0.113.7")
    elsewhere = bearer(fresh).get(JOURNEYS, REMOTE_ADDR="198.51.100.9")
    still_refused = bearer(fresh).get(JOURNEYS, REMOTE_ADDR="203.0.113.7")

    assert (refused.status_code, guess.status_code) == (429, 429)
    assert refused.json() == guess.json()
    assert 1 <= int(refused["Retry-After"]) <= 61 and int(guess["Retry-After"]) <= 61
    assert elsewhere.status_code == 200
    assert still_refused.status_code == 429  # working elsewhere is not working here
    # Refusals unchecked are not failures: the address is free again when its 5 age out.
    assert len(AuthFailureThrottle().window.times("203.0.113.7")) == 5


def test_a_wrong_secret_for_a_known_prefix_is_still_counted_and_refused(
    personas: Personas, settings: pytest.FixtureRequest
) -> None:
    settings.AUTH_FAILURE_RATE = "3/min"
    _, raw = create_token(user=personas.manager, name="script")
    assert bearer(raw).get(JOURNEYS).status_code == 200
    fail(3)

    forged = raw[: raw.index("_", 4) + 1] + "x" * 43

    assert bearer(forged).get(JOURNEYS).status_code == 429
    assert bearer(raw).get(JOURNEYS).status_code == 200


def test_a_signed_in_session_from_a_throttled_address_still_works(
    personas: Personas, settings: pytest.FixtureRequest
) -> None:
    settings.AUTH_FAILURE_RATE = "3/min"
    fail(5)
    browser = Client()
    browser.force_login(personas.viewer)

    assert browser.get(JOURNEYS).status_code == 200


def test_the_count_is_shared_by_every_process(
    personas: Personas, settings: pytest.FixtureRequest
) -> None:
    """Failures recorded by another process (as another gunicorn worker would) count here."""
    settings.AUTH_FAILURE_RATE = "4/min"
    prefix = caches["throttle"].key_prefix  # the test session's own (tests/conftest.py)
    code = (
        "from django.core.cache import caches\n"
        f"caches['throttle'].key_prefix = {prefix!r}\n"
        "from core.api.authentication import AuthFailureThrottle as T\n"
        "[T().record_failure('192.0.2.44') for _ in range(4)]\n"
    )
    env = {**os.environ, "AUTH_FAILURE_RATE": "4/min", "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        check=True,
        env=env,
        cwd=django_settings.BASE_DIR,
        timeout=60,
    )

    assert fail(1, ip="192.0.2.44") == [429]
    assert fail(1, ip="192.0.2.45") == [401]


def _answers_with_redis_away(personas: Personas) -> None:
    _, raw = create_token(user=personas.manager, name="script")
    assert bearer(raw).get(JOURNEYS).status_code == 200
    assert fail(12) == [401] * 12  # nothing counted: fail open, never a 500
    assert bearer(raw).get(JOURNEYS).status_code == 200


def _throttle_cache_at(url: str) -> dict[str, object]:
    caches = {**django_settings.CACHES}
    caches["throttle"] = {**caches["throttle"], "LOCATION": url}
    return caches


def test_the_api_answers_when_redis_is_unreachable(
    personas: Personas, settings: pytest.FixtureRequest
) -> None:
    settings.AUTH_FAILURE_RATE = "3/min"
    with override_settings(CACHES=_throttle_cache_at("redis://127.0.0.1:1/0")):
        _answers_with_redis_away(personas)


def test_the_api_answers_when_redis_is_stopped(
    personas: Personas, settings: pytest.FixtureRequest
) -> None:
    """A SIGSTOPped Redis accepts connections and never answers: the short socket timeout,
    then skipping Redis for a few seconds, keep the API answering."""
    settings.AUTH_FAILURE_RATE = "3/min"
    redis = RedisServer()
    redis.start()
    try:
        with override_settings(CACHES=_throttle_cache_at(redis.url)):
            assert fail(3) == [401] * 3 and fail(1) == [429]  # counting while it runs
            assert redis.proc is not None
            os.kill(redis.proc.pid, signal.SIGSTOP)
            try:
                throttle.reset_circuit()
                _answers_with_redis_away(personas)
            finally:
                os.kill(redis.proc.pid, signal.SIGCONT)
    finally:
        redis.stop()


def test_an_outsiders_token_is_served_only_its_own_organization(
    personas: Personas, settings: pytest.FixtureRequest
) -> None:
    settings.AUTH_FAILURE_RATE = "3/min"
    _, raw = create_token(user=personas.outsider, name="rival")
    client: APIClient = bearer(raw)
    assert client.get(JOURNEYS).status_code == 200
    fail(5)
    assert client.get(JOURNEYS).json()["count"] == 0


@pytest.fixture
def redis_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every write to a Redis socket from now on: one per command, or per whole pipeline or
    script (redis-py packs those into one send), so one per round trip."""
    sent: list[str] = []
    send = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        sent.append(repr(command)[:120])
        send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def test_a_failed_token_check_costs_the_throttle_one_redis_round_trip(
    personas: Personas, settings: pytest.FixtureRequest, redis_round_trips: list[str]
) -> None:
    """Counted and judged in one trip (it was two: read the count, then add to it)."""
    settings.AUTH_FAILURE_RATE = "2/min"
    fail(1, ip="192.0.2.80")  # the connection is made (its handshake is no part of a check)
    redis_round_trips.clear()

    assert fail(1, ip="192.0.2.81") == [401]
    # Besides the access cache's epoch, read on every token check (accounts.access_cache).
    throttle_trips = [t for t in redis_round_trips if "access-epoch" not in t]
    assert len(throttle_trips) == 1 and "EVAL" in throttle_trips[0], redis_round_trips
    assert len(redis_round_trips) == 2, redis_round_trips

    fail(1, ip="192.0.2.81")
    redis_round_trips.clear()
    assert fail(1, ip="192.0.2.81") == [429]
    # The count, then whether the token worked from here before (it did not).
    assert len(redis_round_trips) == 2, redis_round_trips
    assert len(AuthFailureThrottle().window.times("192.0.2.81")) == 2  # the 429 not counted


def test_a_right_token_takes_back_the_failure_its_check_counted(
    personas: Personas, settings: pytest.FixtureRequest
) -> None:
    settings.AUTH_FAILURE_RATE = "2/min"
    _, raw = create_token(user=personas.manager, name="script")
    AuthFailureThrottle._remembered_here.clear()  # new to this process too

    assert bearer(raw).get(JOURNEYS, REMOTE_ADDR="192.0.2.90").status_code == 200
    assert AuthFailureThrottle().window.times("192.0.2.90") == []
