"""R8: PostgreSQL stopped with `pg_ctl -m immediate` (a crash) while clients POST
evaluations through gunicorn, then restarted.

The server runs on a private cluster the test creates (the shared one must stay up), a copy
of the test database holding the organization, its rubric and the evaluator's token. What
must hold: every request answered 201 is stored with all its answers after crash recovery;
requests during the outage get a 503 (JSON, Retry-After) or a connection error, never
another error and never a hang; and replaying every request each client attempted, with
its own Idempotency-Key and body, leaves exactly one evaluation per intended item, with
the already-answered requests replayed byte for byte.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from django.db import connection

from accounts.models import IdempotencyRecord
from accounts.tokens import create_token
from tests.faults.conftest import Stoppable, World
from tests.faults.test_broker_down_ingest import body
from tests.processes import Gunicorn, PostgresCluster, RedisServer, wait_for
from touchpoints.models import Answer, Evaluation

pytestmark = [pytest.mark.worker, pytest.mark.slow]

CLIENTS = 6
BATCH = 3  # every fourth request carries a batch of this many evaluations
CREATED_BEFORE_STOP = 40  # 201s the clients get before the crash
# No request may hang on the dead database: past this a client records a hang and the
# test fails.
CLIENT_TIMEOUT = 15
HANG = -1
CONNECTION_ERROR = 0
DATABASE = "touchstone"


@dataclass
class Attempt:
    key: str
    payload: bytes
    items: int
    sent_before_stop: bool  # sent before pg_ctl was asked to stop the server
    sent_while_down: bool  # sent after pg_ctl had stopped it
    status: int  # HANG, CONNECTION_ERROR or the HTTP status
    body: bytes
    retry_after: str | None


def post(port: int, token: str, key: str, payload: bytes) -> tuple[int, bytes, dict[str, str]]:
    """One POST on a fresh connection: (status, body, headers); the status is HANG after
    CLIENT_TIMEOUT and CONNECTION_ERROR when the connection fails."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
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
        return response.status, response.read(), dict(response.getheaders())
    except TimeoutError:
        return HANG, b"", {}
    except OSError:
        return CONNECTION_ERROR, b"", {}
    finally:
        conn.close()


def evaluation_ids(response_body: bytes) -> list[int]:
    data = json.loads(response_body)
    return [item["id"] for item in (data if isinstance(data, list) else [data])]


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    bin_dir = PostgresCluster.find_bin_dir()
    if bin_dir is None:
        pytest.skip("no initdb under /usr/lib/postgresql/<version>/bin to make a private cluster")
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def stored(cluster: PostgresCluster) -> dict[int, int]:
    """Evaluation id → its number of answers, read from the private cluster."""
    evaluation, answer = Evaluation._meta.db_table, Answer._meta.db_table
    with psycopg.connect(cluster.url(DATABASE)) as db:
        rows = db.execute(
            f"SELECT e.id, count(a.id) FROM {evaluation} e "  # noqa: S608 (table names)
            f"LEFT JOIN {answer} a ON a.evaluation_id = e.id GROUP BY e.id"
        ).fetchall()
    return dict(rows)


def idempotency_keys(cluster: PostgresCluster) -> list[str]:
    with psycopg.connect(cluster.url(DATABASE)) as db:
        rows = db.execute(f"SELECT key FROM {IdempotencyRecord._meta.db_table}").fetchall()  # noqa: S608
    return [key for (key,) in rows]


def test_an_immediate_stop_loses_no_201_and_replaying_every_request_stores_each_once(
    cluster: PostgresCluster, started: list[Stoppable], broker: RedisServer, world: World
) -> None:
    _, token = create_token(user=world.evaluator, name="fault test client")
    # The schema, the world and the token, copied into the private cluster.
    cluster.clone(connection.settings_dict, DATABASE)
    server = Gunicorn(broker.url, database_url=cluster.url(DATABASE))
    started.append(server)
    server.start()

    attempts: list[Attempt] = []
    lock = threading.Lock()
    numbers = itertools.count()
    stopping, down = threading.Event(), threading.Event()
    finish, enough = threading.Event(), threading.Event()

    def client() -> None:
        while not finish.is_set():
            with lock:
                n = next(numbers)
            items = BATCH if n % 4 == 3 else 1
            bodies = [body(world, n * BATCH + i) for i in range(items)]
            payload = bodies[0] if items == 1 else b"[" + b",".join(bodies) + b"]"
            key, before, after = str(uuid.uuid4()), not stopping.is_set(), down.is_set()
            status, content, headers = post(server.port, token, key, payload)
            attempt = Attempt(
                key, payload, items, before, after, status, content, headers.get("Retry-After")
            )
            with lock:
                attempts.append(attempt)
                if sum(a.status == 201 for a in attempts) >= CREATED_BEFORE_STOP:
                    enough.set()
            if status != 201:
                finish.wait(0.05)  # a client backing off a little, not spinning

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        assert enough.wait(timeout=60), f"too few 201s before the crash; see {server.log_path}"
        stopping.set()
        cluster.stop("immediate")
        down.set()
        # The clients keep going against the dead database for a while.
        wait_for(
            lambda: sum(a.sent_while_down for a in attempts) >= 3 * CLIENTS,
            timeout=CLIENT_TIMEOUT * 3,
        )
    finally:
        finish.set()
        for thread in threads:
            thread.join(timeout=CLIENT_TIMEOUT + 5)
    cluster.start()  # crash recovery replays the WAL

    statuses = sorted({a.status for a in attempts})
    assert set(statuses) <= {201, 503, CONNECTION_ERROR}, (
        f"statuses {statuses}; see {server.log_path}"
    )
    during = [a for a in attempts if a.sent_while_down]
    assert {a.status for a in during} <= {503, CONNECTION_ERROR}
    refused = [a for a in attempts if a.status == 503]
    in_flight = [a for a in attempts if a.sent_before_stop and a.status != 201]
    # The clients have no think time: those not just answered are mid-request at the crash.
    assert in_flight, "no request was in flight when the server stopped"
    for attempt in refused:
        assert attempt.retry_after, "a 503 must say when to retry"
        assert "database" in json.loads(attempt.body)["detail"]

    # Every 201 survived the crash, each evaluation with all its answers.
    answered = [a for a in attempts if a.status == 201]
    after_restart = stored(cluster)
    for attempt in answered:
        for evaluation_id in evaluation_ids(attempt.body):
            assert after_restart.get(evaluation_id) == 2, f"evaluation {evaluation_id} lost"

    # Replay everything every client attempted, each until it gets its 201.
    final: dict[str, bytes] = {}
    committed_unanswered = 0
    for attempt in attempts:
        for _ in range(20):
            status, content, headers = post(server.port, token, attempt.key, attempt.payload)
            if status == 201:
                break
            assert status in {503, 409, CONNECTION_ERROR}, (status, content)
            finish.wait(0.5)
        assert status == 201, f"replay of {attempt.key} never stored: {status} {content!r}"
        replayed = headers.get("Idempotent-Replayed") == "true"
        if attempt.status == 201:
            assert replayed
            assert content == attempt.body, "a replay must return the first response"
        elif replayed:
            committed_unanswered += 1  # committed, but the answer died with the server
        final[attempt.key] = content

    intended = sum(a.items for a in attempts)
    ids = [i for content in final.values() for i in evaluation_ids(content)]
    in_database = stored(cluster)
    assert len(ids) == len(set(ids)) == intended
    assert set(in_database) == set(ids), "exactly the intended evaluations, no duplicate"
    assert set(in_database.values()) == {2}, "no evaluation without all its answers"
    assert sorted(idempotency_keys(cluster)) == sorted(a.key for a in attempts)
    print(  # noqa: T201
        f"\nR8: {len(attempts)} requests ({intended} evaluations) from {CLIENTS} clients; "
        f"{len(answered)} answered 201, {len(refused)} got 503 "
        f"({len(in_flight)} of them in flight when the stop began), "
        f"{sum(a.status == CONNECTION_ERROR for a in attempts)} a connection error; "
        f"{committed_unanswered} committed but unanswered (their replay returned the stored 201)"
    )
