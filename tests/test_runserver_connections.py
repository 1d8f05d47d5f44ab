"""The development server keeps no database connection per request.

runserver answers each request on a new thread; with DATABASE_CONN_MAX_AGE > 0 every
thread kept its own connection open, and after about 15 minutes of browsing under
`make run` PostgreSQL refused new clients. A real `manage.py runserver` (with the
production setting of 60 s in its environment, as `make run` had it) answers 300
authenticated API requests; the database's connection count stays bounded.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.db import connection

from accounts.models import Role
from accounts.tokens import create_token
from tests.factories import MembershipFactory
from tests.processes import ROOT, free_port, stop_group, wait_for

pytestmark = pytest.mark.slow

REQUESTS = 300
#: The server's connections at any moment: the request in flight, at most a straggler
#: closing, and the autoreloader-free main thread's checks. Nothing that grows with requests.
BOUND = 5


def _connections(database: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        )
        return int(cursor.fetchone()[0])


@pytest.fixture
def runserver(transactional_db: None) -> Iterator[int]:
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "true",
        "LOG_JSON": "false",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DATABASE_CONN_MAX_AGE": "60",  # what production runs with: runserver must ignore it
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def answers() -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    try:
        wait_for(answers, timeout=60)
        yield port
    finally:
        stop_group(proc, grace=10)


def test_300_requests_to_the_development_server_leave_no_connections_behind(
    runserver: int,
) -> None:
    manager = MembershipFactory(role=Role.MANAGER).user
    _, raw = create_token(user=manager, name="browser")
    database = connection.settings_dict["NAME"]
    most = 0
    for i in range(REQUESTS):
        conn = http.client.HTTPConnection("127.0.0.1", runserver, timeout=30)
        conn.request("GET", "/api/v1/journeys/", headers={"Authorization": f"Bearer {raw}"})
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 200, f"request {i}: {response.status}"
        if i % 25 == 0 or i == REQUESTS - 1:
            most = max(most, _connections(database))
    assert most <= BOUND, f"{most} connections open after {REQUESTS} requests"
