"""/healthz and /readyz against a real database, a private redis-server as the broker and,
for the heartbeat, a real Celery worker."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client

from core.broker import broker_redis
from scoring import heartbeat
from tests.processes import RedisServer, Worker, free_port, publishing_to, wait_for


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker(redis_server: RedisServer, db: None) -> Iterator[RedisServer]:
    """The private redis-server as this process's broker, started empty."""
    if redis_server.proc is None:
        redis_server.start()
    with publishing_to(redis_server.url):
        broker_redis().flushdb()
        yield redis_server


def checks(response: object) -> dict[str, dict[str, object]]:
    return response.json()["checks"]  # type: ignore[attr-defined, no-any-return]


def test_healthz_answers_ok_without_touching_the_database(
    client: Client, db: None, django_assert_num_queries: object
) -> None:
    with django_assert_num_queries(0):  # type: ignore[operator]
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_health_probes_refuse_writes(client: Client, db: None) -> None:
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405


def test_readyz_is_ready_with_a_fresh_heartbeat_and_writes_nothing(
    client: Client, broker: RedisServer, django_assert_num_queries: object
) -> None:
    heartbeat.record_heartbeat()

    with django_assert_num_queries(1) as captured:  # type: ignore[operator]
        response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert checks(response)["database"] == {"status": "ok"}
    assert checks(response)["broker"] == {"status": "ok"}
    assert checks(response)["worker"]["status"] == "ok"
    assert 0 <= checks(response)["worker"]["age_seconds"] < 5  # type: ignore[operator]
    assert captured.captured_queries[0]["sql"] == "SELECT 1"


def test_readyz_is_unavailable_without_any_heartbeat(client: Client, broker: RedisServer) -> None:
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert checks(response)["database"] == {"status": "ok"}
    assert checks(response)["broker"] == {"status": "ok"}
    assert checks(response)["worker"] == {
        "status": "fail",
        "detail": "No worker heartbeat recorded.",
    }


@pytest.mark.parametrize(("age", "ready"), [(25, True), (31, False), (3600, False)])
def test_readyz_needs_a_heartbeat_at_most_30_seconds_old(
    client: Client, broker: RedisServer, age: int, ready: bool
) -> None:
    broker_redis().set(heartbeat.HEARTBEAT_KEY, repr(time.time() - age))

    response = client.get("/readyz")

    assert response.status_code == (200 if ready else 503)
    worker = checks(response)["worker"]
    assert worker["status"] == ("ok" if ready else "fail")
    assert age <= worker["age_seconds"] < age + 5  # type: ignore[operator]


def test_readyz_is_unavailable_quickly_when_the_broker_is_down(
    client: Client, db: None, redis_server: RedisServer
) -> None:
    redis_server.stop()
    try:
        with publishing_to(redis_server.url):
            started = time.monotonic()
            response = client.get("/readyz")
            elapsed = time.monotonic() - started
    finally:
        redis_server.start()

    assert response.status_code == 503
    assert elapsed < 3
    assert checks(response)["database"] == {"status": "ok"}
    assert checks(response)["broker"] == {"status": "fail", "detail": "The broker did not answer."}
    assert checks(response)["worker"]["status"] == "fail"


@pytest.mark.django_db(transaction=True)
def test_readyz_is_unavailable_when_the_database_does_not_answer(
    client: Client, broker: RedisServer
) -> None:
    """A real connection attempt to a port nobody listens on."""
    heartbeat.record_heartbeat()
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(free_port())
    try:
        response = client.get("/readyz")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port

    assert response.status_code == 503
    assert checks(response)["database"] == {
        "status": "fail",
        "detail": "The database did not answer.",
    }
    assert checks(response)["broker"] == {"status": "ok"}
    assert checks(response)["worker"]["status"] == "ok"
    assert "Traceback" not in response.content.decode()


@pytest.mark.worker
def test_a_running_worker_makes_readyz_ready(client: Client, broker: RedisServer) -> None:
    assert client.get("/readyz").status_code == 503
    worker = Worker(broker.url)
    worker.start()
    try:
        wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30)
    finally:
        worker.stop()
    assert checks(client.get("/readyz"))["worker"]["status"] == "ok"


@pytest.mark.worker
@pytest.mark.slow
def test_readyz_reports_a_killed_worker_missing_within_60_seconds(
    client: Client, broker: RedisServer
) -> None:
    worker = Worker(broker.url)
    worker.start()
    try:
        wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30)
    finally:
        worker.kill()  # SIGKILL by PID, pool child and main process: no goodbye
    died = time.monotonic()

    response = wait_for(
        lambda: (r := client.get("/readyz")).status_code == 503 and r, timeout=60, interval=1
    )

    assert time.monotonic() - died <= 60
    assert checks(response)["worker"]["status"] == "fail"  # type: ignore[arg-type]
    assert checks(response)["database"]["status"] == "ok"  # type: ignore[arg-type]
    assert checks(response)["broker"]["status"] == "ok"  # type: ignore[arg-type]
