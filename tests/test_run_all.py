"""`make run` (scripts/run-all.sh) supervises: a worker or beat that exits is started again
with a message, and only Ctrl-C stops everything. Real processes: the script itself, its
runserver, worker and beat, against the test database and a private redis-server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.db import connection

from tests.processes import ROOT, RedisServer, free_port, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def started_pids(log: str, name: str) -> list[int]:
    return [int(pid) for pid in re.findall(rf"run-all: {name} started \(pid (\d+)\)", log)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive: it has exited and waits for its parent to reap it.
    return "zombie" not in Path(f"/proc/{pid}/status").read_text(errors="replace").lower()


def kill_with_children(pid: int) -> None:
    """SIGKILL a process and its children (the worker's pool): a crash, not a stop."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    for child in [*(int(c) for c in out.stdout.split()), pid]:
        os.kill(child, signal.SIGKILL)


def test_make_run_restarts_a_worker_or_beat_that_exits_and_stops_everything_on_ctrl_c(
    transactional_db: None, broker: RedisServer
) -> None:
    db = connection.settings_dict
    log_path = Path(tempfile.mkstemp(prefix="run-all-", suffix=".log")[1])
    env = {
        **os.environ,
        "DEBUG": "true",
        "LOG_JSON": "false",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DATABASE_CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": broker.url,
        "REDIS_URL": broker.url,
        "PORT": str(free_port()),
        "BEAT_SCHEDULE": str(Path(tempfile.mkdtemp()) / "beat-schedule"),
        "RESTART_DELAY": "1",
    }
    with log_path.open("ab") as log_file:
        script = subprocess.Popen(
            [str(ROOT / "scripts" / "run-all.sh")],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log() -> str:
        return log_path.read_text(errors="replace")

    everything: set[int] = set()
    try:
        wait_for(lambda: "Touchstone is running" in log(), timeout=90)
        for name in ("worker", "beat"):
            (first,) = started_pids(log(), name)
            kill_with_children(first)

            wait_for(lambda name=name: len(started_pids(log(), name)) == 2, timeout=60)
            assert re.search(rf"run-all: {name} exited \(status \d+\); restarting it in 1 s", log())
            second = started_pids(log(), name)[1]
            assert second != first
            assert alive(second)
            assert script.poll() is None  # the rest kept running
        everything = {
            pid for name in ("web", "worker", "beat") for pid in started_pids(log(), name)
        }

        script.send_signal(signal.SIGINT)  # Ctrl-C
        assert script.wait(timeout=60) == 130
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait(timeout=10)

    assert "stopping web, worker and beat" in log()
    assert [pid for pid in everything if alive(pid)] == []
