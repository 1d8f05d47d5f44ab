"""The public page on the open internet: rate limits per client address and per link (in
Redis, failing open), the honeypot, the body size limit, one answer per device per
interval, a flood, and a corpus of hostile input. Nothing hostile is ever stored."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django_ratelimit.core import _get_window, _split_rate

from feedback import services
from feedback.models import FeedbackResponse
from tests.conftest import Personas
from tests.feedback.conftest import Setup
from touchpoints.models import Evaluation

pytestmark = pytest.mark.django_db


def url(setup: Setup, link: Any = None) -> str:
    return reverse("feedback-answer", args=[(link or setup.link).token])


def valid(setup: Setup, **extra: str) -> dict[str, str]:
    return {f"q{setup.scale.pk}": "2", f"q{setup.yes_no.pk}": "0", "website": "", **extra}


def from_address(address: str, **headers: str) -> Client:
    """A new device (no cookies) at `address`."""
    return Client(REMOTE_ADDR=address, **headers)


@override_settings(FEEDBACK_ADDRESS_RATE="3/h", FEEDBACK_LINK_RATE="1000/h")
def test_one_address_gets_at_most_its_limit_then_429(setup: Setup) -> None:
    answers = [from_address("203.0.113.7").post(url(setup), valid(setup)) for _ in range(6)]
    assert [r.status_code for r in answers] == [303, 303, 303, 429, 429, 429]
    assert answers[-1]["Retry-After"] == "60"
    assert Evaluation.objects.count() == 3
    # Another address is not affected.
    assert from_address("198.51.100.1").post(url(setup), valid(setup)).status_code == 303


@override_settings(FEEDBACK_ADDRESS_RATE="1000/h", FEEDBACK_LINK_RATE="2/h")
def test_one_link_gets_at_most_its_limit_from_any_number_of_addresses(
    personas: Personas, setup: Setup
) -> None:
    codes = [
        from_address(f"192.0.2.{i}").post(url(setup), valid(setup)).status_code for i in range(5)
    ]
    assert codes == [303, 303, 429, 429, 429]
    other = services.create_link(actor=personas.manager, touch_point=setup.touch_point)
    assert from_address("192.0.2.99").post(url(setup, other), valid(setup)).status_code == 303
    assert Evaluation.objects.count() == 3


@override_settings(FEEDBACK_ADDRESS_RATE="2/h")
def test_forwarded_for_counts_only_behind_the_configured_proxies(
    setup: Setup, settings: Any
) -> None:
    """Sign-in's rule (accounts.brute_force.client_ip): X-Forwarded-For is the client's
    address only when API_NUM_PROXIES trusted proxies are configured."""
    spoofed = [
        from_address("203.0.113.9", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").post(
            url(setup), valid(setup)
        )
        for i in range(3)
    ]
    assert [r.status_code for r in spoofed] == [303, 303, 429]  # one socket address
    # The addresses behind the proxy are new ones, so nothing needs forgetting: clearing
    # the throttle cache (FLUSHDB) would also wipe a parallel test process's counters.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    behind_proxy = [
        from_address("10.1.1.1", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").post(
            url(setup), valid(setup)
        )
        for i in range(3)
    ]
    assert [r.status_code for r in behind_proxy] == [303, 303, 303]  # three clients


@override_settings(
    CACHES={
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        },
    },
    FEEDBACK_ADDRESS_RATE="1/h",
)
def test_limits_fail_open_when_redis_is_away(setup: Setup) -> None:
    for _ in range(2):
        assert from_address("203.0.113.5").post(url(setup), valid(setup)).status_code == 303
    assert Evaluation.objects.count() == 2


def test_honeypot_gets_the_thank_you_page_and_stores_nothing(setup: Setup) -> None:
    response = Client().post(url(setup), valid(setup, website="http://spam.example"))
    assert response.status_code == 303
    assert response["Location"] == reverse("feedback-thanks", args=[setup.link.token])
    assert Evaluation.objects.count() == 0


@override_settings(FEEDBACK_MAX_BODY_BYTES=2048)
def test_a_body_over_the_size_limit_is_413_before_parsing(setup: Setup) -> None:
    response = Client().post(url(setup), valid(setup, comment="x" * 3000))
    assert response.status_code == 413
    assert Evaluation.objects.count() == 0


def test_the_same_device_answering_again_gets_thanks_and_stores_nothing(setup: Setup) -> None:
    device = Client()
    assert device.post(url(setup), valid(setup)).status_code == 303
    again = device.post(url(setup), valid(setup))
    assert again.status_code == 200 and b"already have your answer" in again.content
    assert device.get(url(setup)).content.count(b"<form") == 0
    assert Evaluation.objects.count() == 1
    # A forged cookie is worth nothing: the signature is checked.
    forger = Client()
    forger.cookies[f"tsfb{setup.link.pk}"] = "1"
    assert forger.post(url(setup), valid(setup)).status_code == 303
    assert Evaluation.objects.count() == 2


@override_settings(FEEDBACK_REPEAT_SECONDS=1)
def test_the_repeat_interval_is_configurable(setup: Setup) -> None:
    device = Client()
    assert device.post(url(setup), valid(setup)).status_code == 303
    time.sleep(2.1)  # past the configured interval (signatures carry whole seconds)
    assert device.post(url(setup), valid(setup)).status_code == 303
    assert Evaluation.objects.count() == 2


HOSTILE: list[tuple[str, Any]] = [
    ("NaN", lambda s: {f"q{s.scale.pk}": "NaN"}),
    ("infinity", lambda s: {f"q{s.scale.pk}": "inf"}),
    ("huge exponent", lambda s: {f"q{s.scale.pk}": "1e309"}),
    ("out of scale", lambda s: {f"q{s.scale.pk}": "6"}),
    ("zero on a 1-5 scale", lambda s: {f"q{s.scale.pk}": "0"}),
    ("negative", lambda s: {f"q{s.scale.pk}": "-1"}),
    ("decimal", lambda s: {f"q{s.scale.pk}": "4.0"}),
    ("padded", lambda s: {f"q{s.scale.pk}": " 4"}),
    ("arabic-indic digit", lambda s: {f"q{s.scale.pk}": "٣"}),
    ("superscript", lambda s: {f"q{s.scale.pk}": "²"}),
    ("yes/no as 2", lambda s: {f"q{s.yes_no.pk}": "2"}),
    ("yes/no as word", lambda s: {f"q{s.yes_no.pk}": "true"}),
    ("html", lambda s: {f"q{s.scale.pk}": "<script>alert(1)</script>"}),
    ("two values for one question", lambda s: {f"q{s.scale.pk}": ["1", "5"]}),
    ("a criterion not asked", lambda s: {f"q{s.numeric.pk}": "60"}),
    ("nothing answered", lambda s: {"comment": "hello"}),
    ("comment too long", lambda s: {f"q{s.scale.pk}": "4", "comment": "é" * 1001}),
    ("comment with NUL", lambda s: {f"q{s.scale.pk}": "4", "comment": "a\x00b"}),
    ("two comments", lambda s: {f"q{s.scale.pk}": "4", "comment": ["a", "b"]}),
    ("a huge value", lambda s: {f"q{s.scale.pk}": "9" * 5000}),
]


@pytest.mark.parametrize(("name", "body"), HOSTILE, ids=[n for n, _ in HOSTILE])
def test_hostile_form_input_is_a_form_error_and_stores_nothing(
    setup: Setup, name: str, body: Any
) -> None:
    response = Client().post(url(setup), body(setup))
    assert 400 <= response.status_code < 500, (name, response.status_code)
    assert b"<script>alert" not in response.content
    assert Evaluation.objects.count() == 0


RAW_BODIES = [
    ("json", "application/json", b'{"q1": 4}'),
    ("malformed urlencoding", "application/x-www-form-urlencoded", b"q%ZZ=%%%&&=="),
    # Bytes no UTF-8 decoder accepts (an encoded lone surrogate among them) decode to
    # U+FFFD, which is no question's choice.
    ("invalid utf-8", "application/x-www-form-urlencoded", b"comment=\xff\xfe&website="),
    ("encoded surrogate", "application/x-www-form-urlencoded", b"q1=%ED%A0%80&comment=%ED%A0%80"),
    ("xml", "application/xml", b"<a>1</a>"),
    ("multipart without boundary", "multipart/form-data", b"--x\r\n"),
]


@pytest.mark.parametrize(
    ("name", "content_type", "raw"), RAW_BODIES, ids=[n for n, *_ in RAW_BODIES]
)
def test_malformed_bodies_answer_4xx_and_store_nothing(
    setup: Setup, name: str, content_type: str, raw: bytes
) -> None:
    response = Client().generic("POST", url(setup), raw, content_type=content_type)
    assert 400 <= response.status_code < 500, (name, response.status_code)
    assert Evaluation.objects.count() == 0


@pytest.mark.slow
def test_a_flood_from_one_address_stores_at_most_the_limit_and_others_keep_answering(
    personas: Personas, setup: Setup, settings: Any
) -> None:
    """1,000 POSTs in (well under) a minute from one address to one link, each a new
    "device" without cookies; meanwhile other links and pages answer normally."""
    rate = settings.FEEDBACK_ADDRESS_RATE  # the configured default, not a test value
    limit, period = _split_rate(rate)
    other = services.create_link(actor=personas.manager, touch_point=setup.touch_point)
    attacker = "203.0.113.66"
    windows = {_get_window(attacker, period)}
    started = time.monotonic()
    codes: dict[int, int] = {}
    for i in range(1000):
        code = Client(REMOTE_ADDR=attacker).post(url(setup), valid(setup)).status_code
        codes[code] = codes.get(code, 0) + 1
        if i % 100 == 0:
            bystander = from_address(f"198.51.100.{i // 100 + 1}")
            assert bystander.get(url(setup, other)).status_code == 200
            assert bystander.post(url(setup, other), valid(setup)).status_code == 303
            assert from_address("198.51.100.200").get(url(setup)).status_code == 200
    windows.add(_get_window(attacker, period))
    assert time.monotonic() - started < 60, "the flood took over a minute: not the scenario"
    flood = FeedbackResponse.objects.filter(link=setup.link).count()
    assert flood <= limit * len(windows), (flood, codes)
    assert codes.get(429, 0) >= 1000 - limit * len(windows)
    assert FeedbackResponse.objects.filter(link=other).count() == 10
    # Every stored response is a real one: exactly the answers posted.
    for evaluation in Evaluation.objects.prefetch_related("answers"):
        assert {a.criterion_id: a.value for a in evaluation.answers.all()} == {
            setup.scale.pk: 2.0,
            setup.yes_no.pk: 0.0,
        }
