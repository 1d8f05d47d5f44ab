"""R1: Redis (the broker) killed, then 20 clients POST 500 evaluations to gunicorn.

Every request is answered 201 without waiting on the dead broker, everything is stored
once with its idempotency record, and after Redis comes back (empty: it keeps nothing on
disk) the sweep brings every score to the reference with no stale mark left.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
import uuid
from typing import Any

import pytest

from accounts.models import IdempotencyRecord
from accounts.tokens import create_token
from tests.faults.conftest import Stoppable, World
from tests.faults.reference import problems
from tests.processes import Gunicorn, RedisServer, Worker, start_all, wait_for
from touchpoints.models import Answer, Evaluation

pytestmark = [pytest.mark.worker, pytest.mark.slow]

CLIENTS = 20
EVALUATIONS = 500
# A request that waited on the dead broker would take seconds (the connect timeouts);
# past this the client gives up and the test fails with a timeout, never hangs.
CLIENT_TIMEOUT = 15


def body(world: World, i: int) -> bytes:
    item = world.item(world.touch_points[i % len(world.touch_points)], i)
    return json.dumps(
        {
            "touch_point": item.touch_point_id,
            "source": item.source,
            "observed_at": item.observed_at.isoformat(),
            "answers": [{"criterion": a.criterion_id, "value": a.value} for a in item.answers],
        }
    ).encode()


def post_all(
    server: Gunicorn, token: str, bodies: list[bytes], clients: int = CLIENTS
) -> list[tuple[int, float, str]]:
    """POST every body once, from CLIENTS threads with keep-alive connections; returns
    (status, seconds, key) per request. A connection error counts as status 0."""
    results: list[tuple[int, float, str]] = []
    lock = threading.Lock()
    pending = list(enumerate(bodies))

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=CLIENT_TIMEOUT)
        while True:
            with lock:
                if not pending:
                    break
                _, payload = pending.pop()
            key = str(uuid.uuid4())
            started = time.monotonic()
            try:
                conn.request(
                    "POST",
                    "/api/v1/evaluations/",
                    body=payload,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                        "Idempotency-Key": key,
                    },
                )
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = 0
                conn.close()
            with lock:
                results.append((status, time.monotonic() - started, key))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=CLIENT_TIMEOUT * EVALUATIONS)
    return results


def test_ingest_through_the_api_while_the_broker_is_dead_stores_everything_and_scores_catch_up(
    started: list[Stoppable], broker: RedisServer, world: World
) -> None:
    world_journeys = world.journeys
    _, token = create_token(user=world.evaluator, name="fault test client")
    worker = Worker(broker.url)
    started.append(worker)
    worker.start()
    server = Gunicorn(broker.url)
    started.append(server)
    server.start()

    broker.stop()  # SIGKILL: connections to its port are refused from now on
    results = post_all(server, token, [body(world, i) for i in range(EVALUATIONS)])

    statuses = sorted({status for status, _, _ in results})
    latencies = sorted(seconds for _, seconds, _ in results)
    p99 = latencies[int(0.99 * len(latencies)) - 1]
    assert len(results) == EVALUATIONS
    assert statuses == [201], f"statuses {statuses}; see {server.log_path}"
    assert Evaluation.objects.count() == EVALUATIONS
    assert Answer.objects.count() == 2 * EVALUATIONS
    assert set(IdempotencyRecord.objects.values_list("key", flat=True)) == {
        key for _, _, key in results
    }
    assert problems(world_journeys), "scores cannot be current while the broker is down"

    broker.start()  # same port, empty: the worker and its beat reconnect by themselves
    try:
        wait_for(lambda: not problems(world_journeys), timeout=60, interval=1)
    except TimeoutError:
        pytest.fail(f"{problems(world_journeys)[:5]}; worker log {worker.log_path}")
    _report(p99=p99, latencies=latencies)


def test_a_frozen_broker_slows_each_request_by_its_timeout_not_more(
    started: list[Stoppable], broker: RedisServer, world: World
) -> None:
    """SIGSTOP: the port still accepts connections but nothing answers, the case where an
    unbounded publish hangs (celery/celery#4296). Each request waits out the 1 s Redis
    timeouts of request_recompute at most once, and still answers 201."""
    _, token = create_token(user=world.evaluator, name="fault test client")
    worker = Worker(broker.url)
    server = Gunicorn(broker.url)
    started.extend([worker, server])
    start_all(worker, server)

    assert broker.proc is not None
    os.kill(broker.proc.pid, signal.SIGSTOP)
    try:
        results = post_all(server, token, [body(world, i) for i in range(40)], clients=8)
    finally:
        os.kill(broker.proc.pid, signal.SIGCONT)

    assert sorted({status for status, _, _ in results}) == [201]
    assert Evaluation.objects.count() == 40
    assert "Could not queue a recompute" in server.log()
    wait_for(lambda: not problems(world.journeys), timeout=60, interval=1)
    latencies = sorted(seconds for _, seconds, _ in results)
    print(  # noqa: T201
        f"\nR1 (SIGSTOP): 40 POSTs, 8 clients: p50 {latencies[20] * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms"
    )


def _report(**figures: Any) -> None:
    """Figures for docs/reliability.md, shown with `pytest -s`."""
    p99, latencies = figures["p99"], figures["latencies"]
    print(  # noqa: T201
        f"\nR1: {len(latencies)} POSTs with the broker dead: p50 "
        f"{latencies[len(latencies) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms"
    )
