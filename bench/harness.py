"""What the HTTP benchmarks share: their own database, gunicorn in the production shape on a
free port, API tokens, and the latency figures of a timed phase.

Every function takes the database and broker it works on as arguments, so each bench
keeps its own and none patches another's module globals.
"""

from __future__ import annotations

import http.client
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = "postgres://postgres@127.0.0.1:5432"
GUNICORN_WORKERS, GUNICORN_THREADS = 2, 4  # threads: gthread only


# --- Database ----------------------------------------------------------------------------------


def database_url(name: str) -> str:
    return f"{POSTGRES}/{name}"


def ensure_database(name: str, *, fresh: bool) -> None:
    """Create the bench's own database if missing (dropped first with `fresh`), migrated."""
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "DATABASE_URL": database_url(name)},
    )


def api_token(user_id: int, name: str) -> str:
    from accounts.models import User
    from accounts.tokens import create_token

    _, raw = create_token(user=User.objects.get(pk=user_id), name=name)
    return raw


# --- Server --------------------------------------------------------------------------------------


def production_env(*, database_url: str, broker_url: str) -> dict[str, str]:
    """The environment of a production process (DEBUG off) on the bench's database and
    broker. The throttles are lifted: a bench measures the server, not the rate limits in
    front of it."""
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "EMAIL_URL": "console://",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": broker_url,
        "CELERY_BROKER_URL": broker_url,
        "API_EVALUATION_RATE": "1000000/min",
        "API_WRITE_RATE": "1000000/min",
        "LOG_LEVEL": "WARNING",
    }


@contextmanager
def gunicorn(
    port: int,
    log_path: Path,
    worker_class: str,
    *,
    database_url: str,
    broker_url: str,
) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn with GUNICORN_WORKERS workers (gthread: GUNICORN_THREADS threads each) on
    127.0.0.1:`port`, stopped with its workers on leaving."""
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(GUNICORN_WORKERS),
            "--worker-class",
            worker_class,
            *(["--threads", str(GUNICORN_THREADS)] if worker_class == "gthread" else []),
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=production_env(database_url=database_url, broker_url=broker_url),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped with its workers
    )
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start; see {log_path}")
            time.sleep(0.3)
        yield proc
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def server_name(worker_class: str) -> str:
    return (
        f"gunicorn, {GUNICORN_WORKERS} {worker_class} workers"
        + (f" x {GUNICORN_THREADS} threads" if worker_class == "gthread" else "")
        + ", DEBUG off"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False


# --- Figures -------------------------------------------------------------------------------------


@dataclass
class Phase:
    """What the clients saw during one timed phase."""

    statuses: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "per_second": round(self.per_second, 1),
            "p50_ms": self.percentile_ms(0.5),
            "p99_ms": self.percentile_ms(0.99),
            "statuses": self.statuses,
        }
