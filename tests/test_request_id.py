"""X-Request-ID: one id per request, returned to the client, on its log lines, and carried
through a real broker into the Celery task it queues and that task's log lines."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from kombu import Connection
from pythonjsonlogger.json import JsonFormatter

from config import request_id
from scoring import tasks
from tests.processes import RedisServer, Worker, publishing_to, wait_for

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def broker() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    with publishing_to(server.url):
        yield server
    server.stop()


# --- The header ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given", ["abc-123", "Req.7_x-Y", "0" * 64, "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"]
)
def test_a_valid_request_id_comes_back_unchanged(client: Client, given: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": given})

    assert response.status_code == 200
    assert response["X-Request-ID"] == given


@pytest.mark.parametrize(
    "given",
    [
        "",
        "0" * 65,
        "has space",
        "semi;colon",
        "new\nline",
        'quote"d',
        "ünïcode",
        "a/b",
        "<script>",
    ],
)
def test_an_invalid_request_id_is_replaced_by_a_new_one(client: Client, given: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": given})

    assert response["X-Request-ID"] != given
    assert GENERATED.fullmatch(response["X-Request-ID"])


def test_without_a_request_id_each_request_gets_its_own(client: Client) -> None:
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]

    assert GENERATED.fullmatch(first)
    assert GENERATED.fullmatch(second)
    assert first != second


def test_error_responses_carry_the_request_id_too(client: Client, db: None) -> None:
    api = client.get("/api/v1/journeys/", headers={"X-Request-ID": "api-401"})
    page = client.get("/no-such-page/", headers={"X-Request-ID": "page-404"})

    assert api.status_code in (401, 403)
    assert api["X-Request-ID"] == "api-401"
    assert page.status_code == 404
    assert page["X-Request-ID"] == "page-404"


# --- Log records -----------------------------------------------------------------------------


def records_for(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == logger]


def test_log_records_during_a_request_carry_its_id(
    client: Client, db: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Django logs 4xx responses after the middleware chain has returned: the id must
    still be set then, and gone once the response is finished."""
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get("/api/v1/journeys/", headers={"X-Request-ID": "first-request"})
        client.get("/no-such-page/", headers={"X-Request-ID": "second-request"})
    logging.getLogger("django.request").warning("between requests")

    logged = records_for(caplog, "django.request")
    assert [getattr(r, "request_id", "missing") for r in logged] == [
        "first-request",
        "second-request",
        None,
    ]
    assert request_id.current.get() is None


def test_json_log_lines_show_the_request_id(
    client: Client, db: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The production formatter (LOG_JSON) as configured in settings.LOGGING."""
    config = settings.LOGGING["formatters"]["json"]
    formatter = JsonFormatter(config["fmt"])
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get("/no-such-page/", headers={"X-Request-ID": "json-line"})

    line = json.loads(formatter.format(records_for(caplog, "django.request")[0]))

    assert line["request_id"] == "json-line"
    assert line["levelname"] == "WARNING"
    assert line["message"] == "Not Found: /no-such-page/"


def test_the_console_handler_is_the_one_that_adds_the_id() -> None:
    """Celery workers and beat use settings.LOGGING too (config/request_id.py), so this is
    the filter every process's log lines pass through."""
    handler = settings.LOGGING["handlers"]["console"]
    assert handler["filters"] == ["request_id"]
    assert settings.LOGGING["filters"]["request_id"]["()"] == "config.request_id.RequestIdFilter"
    assert "%(request_id)s" in settings.LOGGING["formatters"]["json"]["fmt"]


# --- Into Celery -------------------------------------------------------------------------------


def during_a_request(header: str | None, publish: Any) -> HttpResponse:
    """Run `publish` inside a request that went through the middleware."""

    def view(request: HttpRequest) -> HttpResponse:
        publish()
        return HttpResponse("ok")

    headers = {} if header is None else {"X-Request-ID": header}
    request = RequestFactory().get("/", headers=headers)
    response = request_id.RequestIdMiddleware(view)(request)
    request_id.current.set(None)  # what request_finished does after a real response
    return response


def published_headers(broker_url: str, queue: str) -> dict[str, Any]:
    """Read back, with kombu, the one message a test published to its private queue."""
    with Connection(broker_url) as conn:
        simple = conn.SimpleQueue(queue)
        try:
            message = simple.get(timeout=5)
            message.ack()
            return dict(message.headers)
        finally:
            simple.close()


def test_a_task_queued_during_a_request_carries_its_id(broker: RedisServer) -> None:
    queue = f"test-request-id-{uuid.uuid4().hex}"

    response = during_a_request(
        "queued-by-request",
        lambda: tasks.recompute_touch_point.apply_async(args=(0,), queue=queue),
    )

    headers = published_headers(broker.url, queue)
    assert response["X-Request-ID"] == "queued-by-request"
    assert headers["task"] == "scoring.tasks.recompute_touch_point"
    assert headers["request_id"] == "queued-by-request"


def test_a_task_queued_outside_any_request_has_no_id(broker: RedisServer) -> None:
    queue = f"test-request-id-{uuid.uuid4().hex}"

    tasks.recompute_touch_point.apply_async(args=(0,), queue=queue)

    assert "request_id" not in published_headers(broker.url, queue)


@pytest.mark.worker
@pytest.mark.slow
def test_the_workers_log_lines_for_that_task_carry_the_same_id(
    transactional_db: None, broker: RedisServer
) -> None:
    """A real worker, logging JSON as in production: the task's lines carry the id of the
    request that queued it, and the worker's own lines (no request) carry none."""
    worker = Worker(broker.url, LOG_JSON="true")
    worker.start()
    try:
        response = during_a_request(
            None, lambda: tasks.recompute_touch_point.apply_async(args=(0,))
        )
        rid = response["X-Request-ID"]

        def task_lines() -> list[dict[str, Any]]:
            return [line for line in json_lines(worker.log()) if line.get("request_id") == rid]

        lines = wait_for(task_lines, timeout=30)
    finally:
        worker.stop()

    assert any("recompute_touch_point" in line["message"] for line in lines)  # type: ignore[attr-defined]
    ready = [line for line in json_lines(worker.log()) if line["message"].endswith("ready.")]
    assert ready and ready[0]["request_id"] is None


def json_lines(log: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in log.splitlines() if raw.startswith("{")]
