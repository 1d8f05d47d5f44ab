"""Polling benchmark (issue 17 item 5): what 50 open maps asking "changed since?" cost an
idle server.

Real parts on 127.0.0.1 only: gunicorn in the production shape (harness.gunicorn, DEBUG
off) on this bench's own database (touchstone_bench_polling: one journey of 12 touch
points with evaluations, scored). 50 sessions sign in through the real form; then:

1. idle: nothing asks for IDLE seconds;
2. polling: each session asks GET /journeys/{id}/changed/ every LIVE_SECONDS (the page's
   poll interval, 5 s, read from web.live) with the fingerprint and the watch token its
   page holds (If-None-Match, X-Live-Token), as the page's watcher does, for POLL
   seconds: every answer should be a 304 (answered by web.live.LiveCheckMiddleware).

CPU is the user+system time of the server's processes -- the gunicorn master and workers
plus the PostgreSQL backends connected to the bench's database (connections are kept, so
their pids hold) -- read from /proc before and after each phase. That is CPU time the
server spent, not wall time: other work on a shared machine does not add to it (it can
slow each request's instructions a little through shared caches; the load average is
written beside the figures). "Added" is the polling phase's CPU minus the idle phases'
mean, as a fraction of ONE core (the goal: < 5%) and of ALL the machine's cores; and per
request (CPU ms spent by the server per 304).

Writes bench/results/polling.json. Usage: python bench/polling_bench.py [--clients N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
DB_NAME = "touchstone_bench_polling"
DATABASE_URL = harness.database_url(DB_NAME)
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
PORT = int(os.environ.get("POLLING_BENCH_PORT", "8171"))
EMAIL, PASSWORD = "viewer@polling.bench", "polling-bench-password"
CLIENTS, IDLE, POLL = 50, 30.0, 60.0
GOAL_PERCENT = 5.0
TICKS = os.sysconf("SC_CLK_TCK")


def setup() -> int:
    """The bench's organization, a viewer, and a scored journey; returns the journey's id."""
    import django

    django.setup()
    from accounts.models import Membership, Organization, Role, User
    from journeys.models import Journey
    from journeys.services import create_journey, create_stage
    from scoring.services import recompute_journey
    from touchpoints.models import Criterion
    from touchpoints.services import (
        AnswerInput,
        EvaluationInput,
        create_criterion,
        create_touch_point,
        submit_evaluations,
    )

    organization, _ = Organization.objects.get_or_create(
        slug="polling-bench", defaults={"name": "Polling bench"}
    )
    user = User.objects.filter(email=EMAIL).first()
    if user is None:
        user = User.objects.create_user(email=EMAIL, password=PASSWORD)
    # A manager, who can also build the journey; the check costs every role the same.
    Membership.objects.get_or_create(
        user=user, organization=organization, defaults={"role": Role.MANAGER}
    )
    journey = Journey.objects.filter(organization=organization).first()
    if journey is not None:
        return journey.pk
    journey = create_journey(actor=user, organization=organization, name="Polled journey")
    for s in range(3):
        stage = create_stage(actor=user, journey=journey, name=f"Stage {s}")
        for t in range(4):
            tp = create_touch_point(actor=user, stage=stage, name=f"Touch point {s}.{t}")
            create_criterion(actor=user, touch_point=tp, name="Done well", kind="scale")
    now = datetime.now(UTC)
    items = [
        EvaluationInput(
            touch_point_id=c.touch_point_id,
            source="audit",
            observed_at=now - timedelta(hours=i + 1),
            answers=[AnswerInput(c.pk, 1 + i % 5)],
        )
        for c in Criterion.objects.filter(touch_point__journey=journey)
        for i in range(20)
    ]
    submit_evaluations(evaluator=user, organization=organization, items=items)
    recompute_journey(journey.pk)
    return journey.pk


class Session:
    """One signed-in browser: its cookies, and the fingerprint its page holds."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        self.version = ""
        self.token = ""

    def request(
        self, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        sent = {
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            **(headers or {}),
        }
        if body:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def sign_in(self) -> None:
        status, _, page = self.request("GET", "/sign-in/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or token is None:
            raise RuntimeError(f"sign-in page answered {status}")
        form = f"csrfmiddlewaretoken={token.group(1).decode()}&username={EMAIL}&password={PASSWORD}"
        status, headers, _ = self.request(
            "POST", "/sign-in/", form, {"Referer": f"http://127.0.0.1:{PORT}/sign-in/"}
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"sign-in failed: {status} {headers}")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICKS


def server_pids(gunicorn_pid: int, *, postgres: bool = True) -> list[int]:
    """The gunicorn master, its workers, and the PostgreSQL backends on the bench's database."""
    pids = [gunicorn_pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdecimal():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
            if ppid == gunicorn_pid:
                pids.append(int(entry.name))
    if not postgres:
        return pids
    import psycopg

    with psycopg.connect(f"{harness.POSTGRES}/postgres") as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [DB_NAME],
        ).fetchall()
    return pids + [int(r[0]) for r in rows]


def measure(
    gunicorn_pid: int, seconds: float, during: Any = None
) -> tuple[float, float, list[int]]:
    """CPU of the server (gunicorn and its database backends) during the phase, as a share
    of one core, and the gunicorn part of it."""
    web = server_pids(gunicorn_pid, postgres=False)
    pids = server_pids(gunicorn_pid)
    before, web_before = cpu_seconds(pids), cpu_seconds(web)
    started = time.monotonic()
    if during is not None:
        during(seconds)
    else:
        time.sleep(seconds)
    elapsed = time.monotonic() - started
    pids = sorted(set(pids) | set(server_pids(gunicorn_pid)))
    total = (cpu_seconds(pids) - before) / elapsed * 100
    return total, (cpu_seconds(web) - web_before) / elapsed * 100, pids


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--evaluations", type=int, default=0, help="(ignored: run.py passes it)")
    args = parser.parse_args()
    harness.ensure_database(DB_NAME, fresh=args.fresh)
    journey_id = setup()
    url = f"/journeys/{journey_id}/changed/"
    # The pages the sessions sign in through use the production static files (manifest);
    # collected again only when a static file is newer than the manifest.
    manifest = ROOT / "staticfiles" / "staticfiles.json"
    newest = max(p.stat().st_mtime for p in (ROOT / "static").rglob("*") if p.is_file())
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
            cwd=ROOT,
            check=True,
            env=harness.production_env(database_url=DATABASE_URL, broker_url="redis://127.0.0.1:1"),
        )
    load_before = os.getloadavg()
    log = RESULTS / "polling-gunicorn.log"
    RESULTS.mkdir(exist_ok=True)
    with harness.gunicorn(
        PORT,
        log,
        "gthread",
        database_url=DATABASE_URL,
        broker_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    ) as server:
        sessions = [Session() for _ in range(args.clients)]
        for session in sessions:
            session.sign_in()
            status, headers, body = session.request("GET", url)
            token = re.search(rb'"X-Live-Token": "([^"]+)"', body)
            if status != 200 or token is None:
                raise RuntimeError(f"the first check answered {status} without a watch token")
            session.version = headers["etag"]
            session.token = token.group(1).decode()
        statuses: dict[int, int] = {}
        lock = threading.Lock()

        def poll(seconds: float) -> None:
            stop = time.monotonic() + seconds

            def client(index: int, session: Session) -> None:
                # Spread over the interval, as pages opened at different moments are.
                time.sleep(harness_live_seconds() * index / len(sessions))
                while time.monotonic() < stop:
                    status, _, _ = session.request(
                        "GET",
                        url,
                        headers={
                            "If-None-Match": session.version,
                            "X-Live-Token": session.token,
                            "HX-Request": "true",
                        },
                    )
                    with lock:
                        statuses[status] = statuses.get(status, 0) + 1
                    time.sleep(harness_live_seconds())

            threads = [threading.Thread(target=client, args=(i, s)) for i, s in enumerate(sessions)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        time.sleep(5)  # let the sign-ins' work settle
        idle, _, _ = measure(server.pid, IDLE)
        polling, polling_web, pids = measure(server.pid, POLL, poll)
        idle_after, _, _ = measure(server.pid, IDLE)
    load_after = os.getloadavg()
    baseline = (idle + idle_after) / 2
    added = polling - baseline
    cores = os.cpu_count() or 1
    requests = max(1, sum(statuses.values()))
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "server": harness.server_name("gthread"),
        "clients": args.clients,
        "poll_interval_s": harness_live_seconds(),
        "measured_as": "CPU time (user+system) of gunicorn and its PostgreSQL backends",
        "added_cpu_fraction_of_one_core": round(added / 100, 4),
        "added_cpu_fraction_of_all_cores": round(added / 100 / cores, 4),
        "server_cpu_ms_per_check": round(added / 100 * POLL * 1000 / requests, 3),
        "requests": sum(statuses.values()),
        "requests_per_s": round(sum(statuses.values()) / POLL, 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "cpu_percent_of_one_core": {
            "idle_before": round(idle, 2),
            "polling": round(polling, 2),
            "idle_after": round(idle_after, 2),
            "added_by_polling": round(added, 2),
            "of_which_gunicorn": round(polling_web, 2),
            "added_share_of_the_machine": round(added / cores, 2),
        },
        "cpu_ms_per_request_gunicorn": round(polling_web / 100 * POLL * 1000 / requests, 3),
        "processes_measured": len(pids),
        "goal": f"added < {GOAL_PERCENT}% of one core",
        "met": added < GOAL_PERCENT,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "cores": os.cpu_count(),
    }
    (RESULTS / "polling.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["met"] and set(statuses) == {304} else 1


def harness_live_seconds() -> float:
    from web.live import LIVE_SECONDS

    return float(LIVE_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
