"""Real processes for integration tests: a private redis-server and Celery workers,
started on their own ports and stopped (or killed) by their own PIDs."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import kombu.pools
from django.db import connection

from config.celery import WORKER_FLAGS
from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], object], *, timeout: float, interval: float = 0.2) -> object:
    """Poll until `condition()` is truthy; returns its value or raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


def stop_group(proc: subprocess.Popen[bytes] | None, *, grace: float) -> None:
    """SIGTERM a process group started with start_new_session, SIGKILL it after `grace`
    seconds; nothing if it never started or has already exited."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class RedisServer:
    """A throwaway redis-server on its own port, keeping nothing on disk."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


class PostgresCluster:
    """A private PostgreSQL cluster (initdb into a temporary directory) on its own port, for
    tests that stop the database server itself; the shared one on 5432 must stay up.

    fsync stays on: crash tests are about durability. PostgreSQL refuses to run as root,
    so under root (CI, this machine) the server runs as the `postgres` user.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pgcluster-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            self._as_owner = ["runuser", "-u", "postgres", "--"]

    @staticmethod
    def find_bin_dir() -> Path | None:
        """Debian's newest server binaries (/usr/lib/postgresql/<version>/bin), if any."""
        found = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"),
            key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        )
        return found[-1].parent if found else None

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [*self._as_owner, str(self.bin_dir / program), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def init(self) -> None:
        # --no-sync only skips flushing initdb's own files; the server runs with fsync on.
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        """Start (or restart after a crash: recovery replays the WAL) and wait until ready."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.root} -c shared_buffers=16MB "
            "-c max_connections=40 -c fsync=on -c synchronous_commit=on"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl -m immediate` is a crash: backends are killed, nothing is checkpointed."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def pid(self) -> int | None:
        """The postmaster's PID while it runs (first line of postmaster.pid)."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def clone(self, source: dict[str, object], database: str) -> None:
        """Create `database` here as a copy (schema and rows) of the Django database whose
        settings_dict is `source`: pg_dump piped into psql."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", database)
        dump = subprocess.Popen(
            [
                str(self.bin_dir / "pg_dump"),
                "--no-owner",
                "--no-privileges",
                "-h",
                str(source["HOST"] or "127.0.0.1"),
                "-p",
                str(source["PORT"] or 5432),
                "-U",
                str(source["USER"]),
                str(source["NAME"]),
            ],
            stdout=subprocess.PIPE,
        )
        restore = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
            ],
            stdin=dump.stdout,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert dump.stdout is not None
        dump.stdout.close()
        if dump.wait(timeout=60) != 0 or restore.returncode != 0:
            raise RuntimeError(f"cloning {source['NAME']} failed: {restore.stderr.decode()}")

    def destroy(self) -> None:
        """Stop the server whatever its state (killing its postmaster by PID if pg_ctl
        cannot) and delete the cluster."""
        pid = self.pid()
        if pid is not None:
            try:
                self.stop("immediate")
            except (subprocess.SubprocessError, OSError):
                # Only our own postmaster: a stale postmaster.pid may name a reused PID.
                with suppress(OSError):
                    if str(self.data) in Path(f"/proc/{pid}/cmdline").read_text():
                        os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


def _celery_env(broker_url: str, **extra: str) -> dict[str, str]:
    """What a worker or beat under test runs with: the test database, a private broker."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DEBUG": "true",
        "LOG_JSON": "false",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker_url,
        "SCORING_SWEEP_SECONDS": "2",
        "SCORING_DEBOUNCE_SECONDS": "0.2",
        "DATABASE_CONN_MAX_AGE": "0",
        **extra,
    }


class Worker:
    """`celery -A config worker -B` against the test database and a given broker.

    -B embeds beat, so the periodic sweep runs for real (every SCORING_SWEEP_SECONDS);
    `beat=False` leaves it to a separate Beat. `flags` are the start path's own
    (config.celery.WORKER_FLAGS, as every start path passes them).
    """

    def __init__(
        self,
        broker_url: str,
        *,
        concurrency: int = 1,
        beat: bool = True,
        flags: tuple[str, ...] = WORKER_FLAGS,
        **env: str,
    ) -> None:
        self.broker_url = broker_url
        self.concurrency = concurrency
        self.beat = beat
        self.flags = flags
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="worker-", suffix=".log")[1])
        self.schedule = Path(tempfile.mkdtemp()) / "beat-schedule"

    def start(self, *, timeout: float = 30) -> None:
        embedded_beat = ["-B", "-s", str(self.schedule)] if self.beat else []
        argv = [CELERY, "-A", "config", "worker", *embedded_beat, "-Q", "scoring"]
        argv += ["--concurrency", str(self.concurrency), "--loglevel", "INFO", *self.flags]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=_celery_env(self.broker_url, **self.env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we kill the pool child too
        )
        wait_for(lambda: "ready." in self.log(), timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_idle(self, *, timeout: float = 60, quiet: float = 1.0) -> None:
        """Until every task the worker received has ended (its log says so) and nothing
        new arrived for `quiet` seconds. A test sharing a live worker calls it before the
        database is flushed under it: a recompute still writing snapshots while the flush
        TRUNCATEs their tables deadlocks one of them."""
        received = re.compile(r"Task \S+\[[0-9a-f-]+\] received")
        ended = re.compile(r"Task \S+\[[0-9a-f-]+\] (succeeded|raised|retry|ignored|rejected)")
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            text = self.log()
            if text == last and len(received.findall(text)) <= len(ended.findall(text)):
                return
            last = text
            time.sleep(quiet)
        raise AssertionError(f"the worker was still busy after {timeout} s")

    def children(self) -> list[int]:
        assert self.proc is not None
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)],
            capture_output=True,
            text=True,
            check=False,
        )
        return [int(pid) for pid in out.stdout.split()]

    def kill(self) -> None:
        """SIGKILL the pool children first, then the main process (a crashed host)."""
        if self.proc is None:
            return
        for pid in self.children():
            os.kill(pid, signal.SIGKILL)
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        stop_group(self.proc, grace=20)
        self.proc = None


class Beat:
    """A standalone `celery -A config beat` (as `make run` and compose start it) against
    the test database and a given broker."""

    def __init__(self, broker_url: str, **env: str) -> None:
        self.broker_url = broker_url
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="beat-", suffix=".log")[1])
        self.schedule = Path(tempfile.mkdtemp()) / "beat-schedule"

    def start(self, *, timeout: float = 30) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [CELERY, "-A", "config", "beat", "-s", str(self.schedule), "--loglevel", "INFO"],
            cwd=ROOT,
            env=_celery_env(self.broker_url, **self.env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: "beat: Starting..." in self.log(), timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_group(self.proc, grace=20)
        self.proc = None


class Gunicorn:
    """The production WSGI server (DEBUG off) against the test database and a given broker,
    on its own port. Throttles are lifted: fault tests send hundreds of requests a minute."""

    def __init__(
        self,
        broker_url: str,
        *,
        workers: int = 2,
        threads: int = 4,
        database_url: str | None = None,
    ) -> None:
        self.broker_url = broker_url
        self.workers = workers
        self.threads = threads
        self.database_url = database_url  # None: the test database
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 60) -> None:
        db = connection.settings_dict
        database_url = self.database_url or (
            f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        )
        env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": "fault-tests-" + "x" * 50,
            "EMAIL_URL": "console://",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_JSON": "false",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": database_url,
            "DATABASE_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": self.broker_url,
            "API_EVALUATION_RATE": "1000000/min",
            "API_WRITE_RATE": "1000000/min",
            # Its own throttle counters: failed tokens counted by one test's server (or an
            # earlier run's, within the window) must not throttle the next one's.
            "THROTTLE_KEY_PREFIX": f"throttle-gunicorn-{uuid.uuid4().hex}",
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(self.threads),
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its workers
        )
        wait_for(self._healthy, timeout=timeout, interval=0.3)

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {self.log_path}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_group(self.proc, grace=30)
        self.proc = None


def start_all(*processes: Worker | Beat | Gunicorn) -> None:
    """Start processes side by side (each takes seconds to get ready) and wait for all."""
    errors: list[BaseException] = []

    def start(process: Worker | Beat | Gunicorn) -> None:
        try:
            process.start()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start, args=(p,)) for p in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@contextmanager
def publishing_to(broker_url: str) -> Iterator[None]:
    """Point this process's Celery producer at `broker_url` (the worker's private broker)."""
    old = celery_app.conf.broker_url

    def reset(url: str) -> None:
        celery_app.conf.broker_url = url
        if celery_app._pool is not None:
            celery_app._pool.force_close_all()
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        # kombu keeps one producer pool per broker URL for the whole process; the pool just
        # closed above would be handed out again on the next publish to the same URL.
        kombu.pools.reset()

    reset(broker_url)
    try:
        yield
    finally:
        reset(old)
