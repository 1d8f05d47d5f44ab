"""Hostile input to POST /api/v1/evaluations/ (RELIABILITY S5, S13).

Each case gets a 4xx with a message naming what is wrong, stores nothing and never
becomes a 5xx; valid Unicode, however exotic, round-trips unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.api.test_evaluations_api import (
    URL,
    Rubric,
    evaluation_body,
    make_rubric,
    post,
    stored,
)
from touchpoints.models import COMMENT_MAX_LENGTH, Evaluation


@pytest.fixture
def rubric(personas: Any) -> Rubric:
    return make_rubric(personas.org)


def send_raw(client: APIClient, raw: bytes | str, content_type: str = "application/json") -> Any:
    """POST bytes exactly as given: the test client would re-encode a Python object."""
    return client.post(URL, raw, content_type=content_type)


def refused_raw(client: APIClient, raw: bytes | str, status: int = 400) -> Any:
    before = stored()
    response = send_raw(client, raw)
    assert response.status_code == status, response.content
    assert stored() == before, "a refused body stored something"
    return response.json()


def with_value(rubric: Rubric, literal: str, *, batch: bool = False) -> str:
    """A good evaluation body whose first answer's value is the raw JSON `literal`."""
    text = json.dumps(evaluation_body(rubric)).replace('"value": 4', f'"value": {literal}', 1)
    return f"[{json.dumps(evaluation_body(rubric))}, {text}]" if batch else text


# --- Numbers JSON does not have ----------------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e309", "-1e309", "1" * 400])
def test_a_non_finite_number_is_refused_at_its_field(
    rubric: Rubric, evaluator_api: APIClient, literal: str
) -> None:
    errors = refused_raw(evaluator_api, with_value(rubric, literal))
    assert errors == {
        "answers[0].value": ["Must be a finite number (NaN, Infinity and 1e309 are not)."]
    }


def test_a_non_finite_number_in_a_batch_is_named_by_item_index(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    errors = refused_raw(evaluator_api, with_value(rubric, "NaN", batch=True))
    assert errors["errors"] == [
        {
            "index": 1,
            "fields": {
                "answers[0].value": ["Must be a finite number (NaN, Infinity and 1e309 are not)."]
            },
        }
    ]


def test_a_non_finite_number_anywhere_is_refused(evaluator_api: APIClient) -> None:
    assert refused_raw(evaluator_api, '{"comment": NaN}') == {
        "comment": ["Must be a finite number (NaN, Infinity and 1e309 are not)."]
    }
    assert "non_field_errors" in refused_raw(evaluator_api, "NaN")


def test_an_integer_too_long_to_parse_is_refused(evaluator_api: APIClient) -> None:
    errors = refused_raw(evaluator_api, '{"touch_point": ' + "9" * 5000 + "}")
    assert "not valid JSON" in errors["non_field_errors"][0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"touch_point": 2**63}, "touch_point"),
        ({"touch_point": -1}, "touch_point"),
        ({"touch_point": 1.5}, "touch_point"),
        ({"touch_point": "12"}, "touch_point"),
        ({"touch_point": True}, "touch_point"),
        ({"touch_point": [1]}, "touch_point"),
        ({"site": 2**64}, "site"),
        ({"site": {"id": 1}}, "site"),
        ({"source": 5}, "source"),
        ({"source": ["audit"]}, "source"),
        ({"comment": 5}, "comment"),
        ({"comment": {"text": "hi"}}, "comment"),
        ({"client_key": 5}, "client_key"),
        ({"client_key": ""}, "client_key"),
        ({"observed_at": 1714567800}, "observed_at"),
        ({"observed_at": "9999-99-99T99:99:99Z"}, "observed_at"),
        ({"observed_at": "2026-05-01T14:30:00+99:00"}, "observed_at"),
        ({"answers": {"0": 4}}, "answers"),
        ({"answers": None}, "answers"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_at_its_field(
    rubric: Rubric, evaluator_api: APIClient, change: dict[str, Any], field: str
) -> None:
    body = json.dumps(evaluation_body(rubric, **change))
    errors = refused_raw(evaluator_api, body)
    assert field in errors, errors


@pytest.mark.parametrize(
    "value", ['"4"', "true", "[4]", '{"v": 4}', "4.5", "0", "6", "-3", "1e300", str(10**30)]
)
def test_an_answer_value_that_does_not_fit_a_scale_is_refused(
    rubric: Rubric, evaluator_api: APIClient, value: str
) -> None:
    errors = refused_raw(evaluator_api, with_value(rubric, value))
    assert list(errors) == ["answers[0].value"], errors


def test_a_huge_but_finite_measurement_is_scored_not_crashed(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    body = evaluation_body(rubric)
    body["answers"][2]["value"] = 1e300  # the numeric criterion: far past its worst value
    response = post(evaluator_api, body)
    assert response.status_code == 201
    assert response.json()["answers"][2]["score"] == 0.0


# --- Structure and size ------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [50, 10_000, 100_000])
def test_deeply_nested_json_is_refused(
    rubric: Rubric, evaluator_api: APIClient, depth: int
) -> None:
    nested = "[" * depth + "]" * depth
    body = json.dumps(evaluation_body(rubric, comment="PLACEHOLDER")).replace(
        '"PLACEHOLDER"', nested
    )
    errors = refused_raw(evaluator_api, body)
    if depth < 1000:  # the parser got through it; the field is known
        assert errors == {"comment": ["Nested deeper than 20 levels."]}
    else:
        assert errors == {"non_field_errors": ["JSON nested deeper than 20 levels."]}


def test_a_million_character_comment_is_refused_by_length(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    errors = refused_raw(
        evaluator_api, json.dumps(evaluation_body(rubric, comment="a" * 1_000_000))
    )
    assert errors == {
        "comment": [f"Must be at most {COMMENT_MAX_LENGTH} characters (it has 1000000)."]
    }


@pytest.mark.parametrize("size", [1_048_577, 20 * 1024 * 1024])
def test_a_body_over_1_mb_is_413(rubric: Rubric, evaluator_api: APIClient, size: int) -> None:
    padding = size - len(json.dumps(evaluation_body(rubric, comment="")))
    body = json.dumps(evaluation_body(rubric, comment="a" * padding))
    assert len(body) >= size

    errors = refused_raw(evaluator_api, body, status=413)

    assert errors == {"detail": "The request body is too large (limit 1 MB)."}


def test_a_batch_of_100000_is_refused_without_storing(evaluator_api: APIClient) -> None:
    # Empty objects: the smallest batch items there are, still within 1 MB.
    errors = refused_raw(evaluator_api, json.dumps([{}] * 100_000), status=413)
    assert "At most 500" in errors["detail"]


# --- Text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("comment", "before\x00after"), ("client_key", "key\x00"), ("source", "audit\x00")],
)
def test_a_nul_character_is_refused_at_its_field(
    rubric: Rubric, evaluator_api: APIClient, field: str, value: str
) -> None:
    errors = refused_raw(evaluator_api, json.dumps(evaluation_body(rubric, **{field: value})))
    assert list(errors) == [field]


def test_a_nul_in_the_name_of_a_member_nobody_reads_is_ignored(
    rubric: Rubric, evaluator_api: APIClient
) -> None:
    """Members the endpoint does not read are ignored whatever they hold, as the schema
    says (core.api.serializers); nothing of them is stored."""
    response = evaluator_api.post(
        "/api/v1/evaluations/",
        json.dumps({**evaluation_body(rubric), "\x00": "\x00"}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert "\\u0000" not in response.content.decode()  # how JSON would carry it


@pytest.mark.parametrize(
    "raw",
    [
        b'{"comment": "\xff\xfe"}',
        b'{"comment": "caf\xe9"}',  # Latin-1, not UTF-8
        b"\xef\xbb\xbf{}",  # a byte order mark
    ],
)
def test_a_body_that_is_not_utf8_json_is_refused(evaluator_api: APIClient, raw: bytes) -> None:
    errors = refused_raw(evaluator_api, raw)
    assert "non_field_errors" in errors


def test_a_lone_surrogate_is_refused_not_stored(rubric: Rubric, evaluator_api: APIClient) -> None:
    body = json.dumps(evaluation_body(rubric, comment="half a pair: \ud83d"))
    errors = refused_raw(evaluator_api, body)
    assert errors == {"comment": ["Must be valid Unicode text (it has a lone surrogate)."]}


@pytest.mark.parametrize(
    "raw",
    ["", "{", '{"touch_point": 1,}', "[1, 2", "'single quotes'", '{"a": 1} {"b": 2}'],
)
def test_malformed_json_is_refused(evaluator_api: APIClient, raw: str) -> None:
    refused_raw(evaluator_api, raw)


def test_a_body_that_is_not_json_is_415(rubric: Rubric, evaluator_api: APIClient) -> None:
    before = stored()
    response = evaluator_api.post(
        URL, "touch_point=1", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert stored() == before


@pytest.mark.parametrize(
    "comment",
    [
        "مرحبا، كانت الخدمة ممتازة",  # Arabic, right to left
        "שלום \u202eevil\u202c עולם",  # Hebrew with a right-to-left override
        "Great 👍🏽 service 👨‍👩‍👧 🇳🇴",  # emoji with skin tone, ZWJ family, flag
        "e\u0301 vs \u00e9",  # combining accent vs precomposed: not normalised
        "tab\tand\nnew line inside",
    ],
)
def test_valid_unicode_round_trips_unchanged(
    rubric: Rubric, evaluator_api: APIClient, comment: str
) -> None:
    response = post(
        evaluator_api, evaluation_body(rubric, comment=comment, client_key=comment[:20])
    )

    assert response.status_code == 201, response.content
    assert response.json()["comment"] == comment
    evaluation = Evaluation.objects.get()
    assert evaluation.comment == comment
    assert evaluator_api.get(f"{URL}{evaluation.pk}/").json()["comment"] == comment


# --- The alerts endpoints (actions, webhook endpoints, notification settings) -------------------

ALERT_CASES = [
    ("description", "before\x00after"),
    ("description", "half a pair: \ud83d"),
    ("description", "a" * 1_000_000),
    ("description", ["a list"]),
    ("owner", "NaN"),
    ("owner", 1e309),
    ("owner", True),
    ("due", "2026-02-30"),
    ("due", 20260101),
    ("touch_point", {"id": 1}),
    ("url", "https://example.com/\x00"),
    ("url", "javascript:alert(1)"),
    ("url", "http://[::1"),
    ("url", "https://" + "a" * 600 + ".example/"),
    ("event_types", "weak_link.entered"),
    ("event_types", ["weak_link.entered\x00"]),
    ("event_types", [["nested"]]),
    ("mode", "digest\x00"),
    ("journey", -1),
]


@pytest.mark.parametrize(("field", "value"), ALERT_CASES, ids=lambda v: repr(v)[:30])
def test_hostile_values_to_the_alerts_endpoints_are_refused_at_their_field(
    personas: Any, manager_api: APIClient, field: str, value: Any
) -> None:
    from alerts.models import Action, NotificationSetting, WebhookEndpoint
    from tests.alerts.helpers import make_spot

    spot = make_spot(personas.org)
    bodies = {
        "/api/v1/actions/": {
            "touch_point": spot.touch_point.pk,
            "description": "Fix it",
            "owner": personas.manager.pk,
            "due": "2030-01-01",
        },
        "/api/v1/webhook-endpoints/": {
            "url": "http://127.0.0.1:9/",
            "event_types": ["weak_link.entered"],
        },
        "/api/v1/notification-settings/": {"journey": spot.journey.pk, "mode": "digest"},
    }
    tried = 0
    for url, body in bodies.items():
        if field not in body:
            continue
        tried += 1
        raw = json.dumps({**body, field: value})  # \ud83d and Infinity as JSON spells them
        response = manager_api.post(url, raw, content_type="application/json")
        assert response.status_code in (400, 413), (url, response.status_code, response.content)
        named = [key for key in response.json() if key == field or key.startswith(f"{field}[")]
        # A value JSON cannot hold (Infinity) makes the body unreadable: the parser's
        # refusal names the whole body.
        assert named or "non_field_errors" in response.json(), response.json()
    assert tried
    assert not Action.objects.exists()
    assert not WebhookEndpoint.objects.exists()
    assert not NotificationSetting.objects.exists()


@pytest.mark.parametrize("depth", [50, 100_000])
def test_deeply_nested_json_to_the_alerts_endpoints_is_refused(
    manager_api: APIClient, depth: int
) -> None:
    nested = "[" * depth + "]" * depth
    for url, field in (
        ("/api/v1/actions/", "description"),
        ("/api/v1/webhook-endpoints/", "event_types"),
        ("/api/v1/notifications/read/", "ids"),
    ):
        response = manager_api.post(
            url, f'{{"{field}": {nested}}}', content_type="application/json"
        )
        assert response.status_code == 400, (url, response.content)
