"""Customer feedback bench (issue 15): the public answer page under load, on 127.0.0.1 only.

Real parts: gunicorn (2 gthread workers x 4 threads, DEBUG off, collected static files) on
a free port, a Celery worker (2 processes, embedded beat) on a private redis-server that is
also the rate limits' Redis, and this bench's own database (touchstone_bench_feedback:
one journey, TOUCH_POINTS touch points with a scale and a yes/no question each, LINKS_PER
links each).

1. GET of a public page: median and p95 latency over the loopback, sequential on one
   keep-alive connection (the server's time plus a loopback round trip), and the bytes of
   the page and of its stylesheet as served.
2. POST throughput: CLIENTS threads, each its own keep-alive connection and CSRF cookie,
   answer random links for SECONDS; every answer a new "device" (the repeat cookie is not
   sent back). The rate limits are lifted (a bench measures the server, not the limits);
   tests/feedback/test_abuse.py proves the limits.
   Every client reads each link's page once before the clock starts; the timed phase is
   POSTs only.
Then checked: every accepted answer (303) is in the database as an evaluation with its link
(the counts equal, per link), and scores are fresh within FRESHNESS_BOUND_SECONDS after the
last answer (no stale mark left, every score equal to the pure-function reference).

Beside the rate, what does not depend on how busy the machine is:
- SQL statements per POST and Django's CPU per POST, in this process with Django's test
  client on the same database (feedback_post_cost.py), before the load;
- SQL round trips per POST (the queries psycopg sends, BEGIN and COMMIT included) and
  the PostgreSQL backend's CPU per POST in that same in-process run;
- CPU time per stored answer of the gunicorn workers, of the PostgreSQL backends serving
  them, of the private redis-server, of the Celery worker and of its backends (from
  /proc, over the load and until the scores are fresh), and what 2 cores could sustain
  at that cost. On a shared machine the rate falls with the load average; the CPU per
  answer moves much less (but does rise with it: caches are shared, and each wake-up of
  a process costs more);
- how often a web backend was found waiting for a lock (hot rollup rows), sampled.

Usage: python bench/feedback_bench.py [--seconds S] [--clients N] [--fresh]
Exit status 1 on a lost or extra answer, an error answer, or scores not fresh in time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
from feedback_post_cost import dataset
from feedback_post_cost import measure as measure_in_process
from harness import ensure_database, free_port, gunicorn, server_name

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project's packages (config, feedback, tests)
RESULTS = ROOT / "bench" / "results"
DB_NAME = "touchstone_bench_feedback"
DATABASE_URL = harness.database_url(DB_NAME)
BROKER_PORT = free_port()
BROKER = f"redis://127.0.0.1:{BROKER_PORT}/0"
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"] = BROKER
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Lifted for the server under test (production_env copies os.environ).
os.environ["FEEDBACK_LINK_RATE"] = os.environ["FEEDBACK_ADDRESS_RATE"] = "100000000/h"

GET_REQUESTS = 300
IN_PROCESS_POSTS = 200
WORKER_CONCURRENCY = 2
WORKER_CLASS = "gthread"
GOAL_PER_SECOND = 300
FRESHNESS_BOUND_SECONDS = 5.0  # RELIABILITY.md R11, as the load bench
FRESHNESS_TIMEOUT_SECONDS = 120.0
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
FIELDS = re.compile(rb'name="(q\d+)" value="(\d+)"')


def expect(condition: bool, why: str) -> None:
    if not condition:
        raise RuntimeError(why)


# --- Clients ---------------------------------------------------------------------------------


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    accepted: dict[int, int] = field(default_factory=dict)  # link id -> 303s
    samples: list[str] = field(default_factory=list)

    def add(self, status: str, seconds: float, link_id: int | None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if link_id is not None:
                self.accepted[link_id] = self.accepted.get(link_id, 0) + 1


class Browser:
    """One keep-alive connection with its own CSRF cookie, like one phone's browser (but
    forgetting the repeat cookie, so every answer counts as a new device)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""
        self.forms: dict[str, tuple[str, list[tuple[str, list[str]]]]] = {}

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, Any]:
        headers = {"Host": "127.0.0.1", "Accept-Language": "en"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read(), response
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def form(self, token: str) -> tuple[str, list[tuple[str, list[str]]]]:
        """The CSRF token and the questions (field, choices) of a link's page, read once."""
        if token not in self.forms:
            status, body, response = self.request("GET", f"/f/{token}/")
            expect(status == 200, f"GET /f/{token}/ answered {status}: {body[:200]!r}")
            for header in response.headers.get_all("Set-Cookie") or []:
                if header.startswith("csrftoken="):
                    self.cookie = header.split(";", 1)[0]
            csrf = CSRF_INPUT.search(body)
            expect(csrf is not None, "no CSRF token on the page")
            assert csrf is not None  # noqa: S101 (for the type checker; expect() raised)
            questions: dict[str, list[str]] = {}
            for name, value in FIELDS.findall(body):
                questions.setdefault(name.decode(), []).append(value.decode())
            self.forms[token] = (csrf.group(1).decode(), list(questions.items()))
        return self.forms[token]


def answer_loop(
    browser: Browser, links: dict[int, str], deadline: float, tally: Tally, seed: int
) -> None:
    rng = random.Random(seed)
    ids = list(links)
    while time.monotonic() < deadline:
        link_id = rng.choice(ids)
        csrf, questions = browser.form(links[link_id])
        fields = [("csrfmiddlewaretoken", csrf), ("website", "")]
        fields += [(name, rng.choice(choices)) for name, choices in questions]
        body = "&".join(f"{k}={v}" for k, v in fields).encode()
        started = time.monotonic()
        try:
            status, content, _ = browser.request("POST", f"/f/{links[link_id]}/", body)
        except (http.client.HTTPException, OSError) as error:
            tally.add(type(error).__name__, time.monotonic() - started, None)
            continue
        tally.add(str(status), time.monotonic() - started, link_id if status == 303 else None)
        if status != 303 and len(tally.samples) < 5:
            tally.samples.append(f"{status} {content[:200]!r}")


def measure_get(port: int, token: str) -> dict[str, Any]:
    browser = Browser(port)
    status, body, _ = browser.request("GET", f"/f/{token}/")
    css_path = re.search(rb'href="([^"]+\.css)"', body)
    expect(status == 200 and css_path is not None, f"the page answered {status}")
    assert css_path is not None  # noqa: S101 (for the type checker; expect() raised)
    css_status, css, css_response = browser.request("GET", css_path.group(1).decode())
    expect(css_status == 200, f"the stylesheet answered {css_status}")
    times = []
    for _ in range(GET_REQUESTS):
        started = time.monotonic()
        status, body, _ = browser.request("GET", f"/f/{token}/")
        times.append(time.monotonic() - started)
        expect(status == 200, f"a GET answered {status}")
    times.sort()
    return {
        "requests": GET_REQUESTS,
        "median_ms": round(statistics.median(times) * 1000, 2),
        "p95_ms": round(times[int(0.95 * len(times))] * 1000, 2),
        "page_bytes": len(body),
        "css_bytes": len(css),
        "total_bytes": len(body) + len(css),
        "budget_bytes": 30_000,
        "css_cache_control": css_response.headers.get("Cache-Control"),
    }


# --- CPU --------------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WEB_APP, WORKER_APP = "feedback-bench-web", "feedback-bench-worker"  # PGAPPNAME of each


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (/proc/PID/stat), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "(comm)": state is field 3
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime: fields 14, 15


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


class CpuMeter:
    """CPU time spent by each group of processes between start() and stop(): the gunicorn
    workers, the PostgreSQL backends serving them, the Celery processes and theirs.

    Load-independent, unlike a rate: a busy machine slows the clock, not the CPU a POST
    costs. Backends are told apart by their application_name (PGAPPNAME of the process
    that opened them) and sampled every SAMPLE_SECONDS, so one that closes early still
    counts up to its last sample; a process first seen after start() counts from 0.
    """

    SAMPLE_SECONDS = 0.25

    def __init__(self, gunicorn_pid: int, worker_pid: int, redis_pid: int) -> None:
        import psycopg

        self.roots = {"gunicorn_workers": gunicorn_pid, "celery_worker": worker_pid}
        self.redis_pid = redis_pid
        # Per sample, the web backends seen and those waiting for a lock (hot rollup rows).
        self.web_backend_samples = 0
        self.web_backends_waiting_on_locks = 0
        self.db = psycopg.connect(DATABASE_URL, autocommit=True, application_name="bench-meter")
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _pids(self) -> list[tuple[str, int]]:
        pids = [(group, pid) for group, root in self.roots.items() for pid in children(root)]
        pids += [("celery_worker", self.roots["celery_worker"]), ("redis", self.redis_pid)]
        rows = self.db.execute(
            "SELECT application_name, pid, wait_event_type FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = ANY(%s)",
            [DB_NAME, [WEB_APP, WORKER_APP]],
        ).fetchall()
        web = [wait for name, _, wait in rows if name == WEB_APP]
        self.web_backend_samples += len(web)
        self.web_backends_waiting_on_locks += sum(1 for wait in web if wait == "Lock")
        names = {WEB_APP: "postgres_for_gunicorn", WORKER_APP: "postgres_for_worker"}
        return pids + [(names[name], pid) for name, pid, _ in rows]

    def _sample(self, *, initial: bool) -> None:
        for key in self._pids():
            seconds = cpu_seconds(key[1])
            if seconds is None:
                continue
            self.first.setdefault(key, seconds if initial else 0.0)
            self.last[key] = seconds

    def _run(self) -> None:
        while not self.done.wait(self.SAMPLE_SECONDS):
            self._sample(initial=False)

    def start(self) -> None:
        self._sample(initial=True)
        self.thread.start()

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.thread.join()
        self._sample(initial=False)
        self.db.close()
        spent: dict[str, float] = {}
        for (group, pid), seconds in self.last.items():
            spent[group] = spent.get(group, 0.0) + seconds - self.first[(group, pid)]
        return spent


def cpu_per_answer(spent: dict[str, float], stored: int, client_seconds: float) -> dict[str, Any]:
    """Milliseconds of CPU per stored answer, by group, and what 2 cores could sustain if
    the web path (gunicorn + its backends) had them to itself. The worker's share is per
    recompute, not per answer (one per touch point per debounce window): it falls as the
    answers per window rise, so it reads high on a slow run."""
    per = {group: round(seconds * 1000 / max(stored, 1), 2) for group, seconds in spent.items()}
    # The private redis-server serves the rate limits and the recompute requests (the web
    # path) and the broker (the worker): counted with the web path.
    web = (
        per.get("gunicorn_workers", 0.0)
        + per.get("postgres_for_gunicorn", 0.0)
        + per.get("redis", 0.0)
    )
    worker = per.get("celery_worker", 0.0) + per.get("postgres_for_worker", 0.0)
    cores = os.cpu_count() or 1
    return {
        "ms_per_stored_answer": per,
        "web_ms_per_answer": round(web, 2),
        "worker_ms_per_answer": round(worker, 2),
        "bench_clients_ms_per_answer": round(client_seconds * 1000 / max(stored, 1), 2),
        "cpu_bound_answers_per_second_web_only": round(cores * 1000 / web, 1) if web else None,
        "cpu_bound_answers_per_second_web_and_worker": (
            round(cores * 1000 / (web + worker), 1) if web + worker else None
        ),
    }


# --- Checks ----------------------------------------------------------------------------------


def accounting(organization_id: int, tally: Tally, before: dict[int, int]) -> dict[str, Any]:
    from django.db.models import Count

    from feedback.models import FeedbackResponse
    from touchpoints.models import Evaluation, Source

    now = dict(
        FeedbackResponse.objects.filter(link__organization_id=organization_id)
        .values("link_id")
        .annotate(n=Count("pk"))
        .values_list("link_id", "n")
    )
    stored = {pk: now.get(pk, 0) - before.get(pk, 0) for pk in now}
    accepted = sum(tally.accepted.values())
    mismatched = {
        pk: (tally.accepted.get(pk, 0), stored.get(pk, 0))
        for pk in set(stored) | set(tally.accepted)
        if tally.accepted.get(pk, 0) != stored.get(pk, 0)
    }
    customer = Evaluation.objects.filter(
        organization_id=organization_id, feedback_response__isnull=False
    )
    return {
        "accepted_303": accepted,
        "stored_this_run": sum(stored.values()),
        "links_whose_counts_differ": mismatched,
        "all_customer_survey_without_user": not customer.exclude(
            source=Source.CUSTOMER_SURVEY, evaluator__isnull=True
        ).exists(),
        "every_accepted_stored": not mismatched,
    }


def freshness(journey_ids: list[int], stopped: float) -> dict[str, Any]:
    """As the load bench: seconds from the last answer until no stale mark is left and
    every score equals the pure-function reference (tests/faults/reference.py)."""
    from journeys.models import Journey
    from scoring.models import StaleMark
    from tests.faults.reference import problems as reference_problems

    journeys = list(Journey.objects.filter(pk__in=journey_ids).select_related("organization"))
    marks = StaleMark.objects.filter(touch_point__journey_id__in=journey_ids)
    problems: list[str] = []
    while time.monotonic() - stopped < FRESHNESS_TIMEOUT_SECONDS:
        seen = time.monotonic()
        if not marks.exists():
            problems = reference_problems(journeys)
            if not problems:
                return {"seconds": round(seen - stopped, 2), "correct": True}
        time.sleep(0.1)
    return {"seconds": None, "correct": False, "differences": problems[:5]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20, help="length of the POST load")
    parser.add_argument("--clients", type=int, default=16, help="client threads")
    parser.add_argument("--fresh", action="store_true", help="drop this bench's database first")
    parser.add_argument("--evaluations", type=int, help="(ignored: run.py passes it to all)")
    args = parser.parse_args()
    begun = time.monotonic()

    ensure_database(DB_NAME, fresh=args.fresh)
    production = harness.production_env(database_url=DATABASE_URL, broker_url=BROKER)
    # DEBUG off serves collected, hashed static files (as the Dockerfile collects them).
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=ROOT,
        check=True,
        env=production,
    )
    import django

    django.setup()
    from django.conf import settings
    from django.db.models import Count

    from feedback.models import FeedbackResponse
    from scoring import services
    from scoring.models import StaleMark
    from tests.processes import RedisServer, Worker

    broker = RedisServer(BROKER_PORT)
    broker.start()
    worker: Worker | None = None
    try:
        data = dataset()
        org_id, links = data["organization_id"], data["links"]
        if StaleMark.objects.filter(touch_point__organization_id=org_id).exists():
            services.recompute_all(organization_id=org_id)
        worker_env: dict[str, Any] = {  # Any: Worker's keyword arguments are its environment
            **{k: production[k] for k in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_URL")},
            "SCORING_SWEEP_SECONDS": str(settings.SCORING_SWEEP_SECONDS),
            "SCORING_DEBOUNCE_SECONDS": str(settings.SCORING_DEBOUNCE_SECONDS),
            # As in production (the settings' default): a connection per process, kept.
            "DATABASE_CONN_MAX_AGE": "60",
            "PGAPPNAME": WORKER_APP,
        }
        worker = Worker(BROKER, concurrency=WORKER_CONCURRENCY, **worker_env)
        worker.start(timeout=180)  # a busy shared machine can take a minute
        # Statements and Django's CPU per POST, in this process (no gunicorn, no load).
        in_process = measure_in_process(list(links.values()), IN_PROCESS_POSTS)
        print(f"In process: {in_process}", flush=True)
        port = free_port()
        log_path = Path(tempfile.mkstemp(prefix="feedback-bench-gunicorn-", suffix=".log")[1])
        os.environ["PGAPPNAME"] = WEB_APP  # production_env() copies it to gunicorn's
        server = gunicorn(
            port, log_path, WORKER_CLASS, database_url=DATABASE_URL, broker_url=BROKER
        )
        with server as gunicorn_proc:
            os.environ.pop("PGAPPNAME")
            first = next(iter(links.values()))
            Browser(port).request("GET", f"/f/{first}/")  # each worker pays its imports once
            Browser(port).request("GET", f"/f/{first}/")
            get = measure_get(port, first)
            print(f"GET: {get}", flush=True)
            # Every client reads each link's page (its CSRF token, the questions) before
            # the clock starts: the timed phase is POSTs only.
            browsers = [Browser(port) for _ in range(args.clients)]
            for browser in browsers:
                for token in links.values():
                    browser.form(token)
            before = dict(
                FeedbackResponse.objects.filter(link__organization_id=org_id)
                .values_list("link_id")
                .annotate(n=Count("pk"))
            )
            tally = Tally()
            load_before = os.getloadavg()
            print(f"POST: {args.clients} clients for {args.seconds:g} s...", flush=True)
            meter = CpuMeter(
                gunicorn_proc.pid,
                worker.proc.pid,  # type: ignore[union-attr]
                broker.proc.pid,  # type: ignore[union-attr]
            )
            meter.start()
            client_cpu = time.process_time()
            start = time.monotonic()
            deadline = start + args.seconds
            threads = [
                threading.Thread(target=answer_loop, args=(browser, links, deadline, tally, i))
                for i, browser in enumerate(browsers)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            stopped = time.monotonic()
            client_cpu = time.process_time() - client_cpu
            load_after = os.getloadavg()
            fresh = freshness(data["journey_ids"], stopped)
            spent = meter.stop()  # after the worker caught up: its recomputes count
            problems = sum(
                1
                for line in log_path.read_text(errors="replace").splitlines()
                if "Traceback" in line or " ERROR " in line
            )
        accounts = accounting(org_id, tally, before)
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()

    seconds = stopped - start
    latencies = sorted(tally.latencies)
    per_second = accounts["stored_this_run"] / seconds
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, shared with other work while measured",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "server": server_name(WORKER_CLASS),
        "worker": f"celery, {WORKER_CONCURRENCY} processes, embedded beat",
        "public_page_get": get,
        "post": {
            "clients": args.clients,
            "seconds": round(seconds, 2),
            "requests": len(latencies),
            "statuses": tally.statuses,
            "stored_per_second": round(per_second, 1),
            "goal_per_second": GOAL_PER_SECOND,
            "goal_met": per_second >= GOAL_PER_SECOND,
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
            "p99_ms": round(latencies[int(0.99 * len(latencies))] * 1000, 1) if latencies else None,
            "error_samples": tally.samples,
        },
        "cost_in_process": in_process,
        "cpu_during_load_and_catch_up": cpu_per_answer(
            spent, accounts["stored_this_run"], client_cpu
        ),
        # pg_stat_activity every 0.25 s: how often a web backend was waiting for a lock
        # (concurrent answers to one touch point queue on its day rollup rows).
        "lock_waits": {
            "web_backend_samples": meter.web_backend_samples,
            "waiting_on_a_lock": meter.web_backends_waiting_on_locks,
            "share": round(
                meter.web_backends_waiting_on_locks / max(meter.web_backend_samples, 1), 3
            ),
        },
        "answers": accounts,
        "freshness": {
            **fresh,
            "bound_seconds": FRESHNESS_BOUND_SECONDS,
            "within_bound": bool(fresh["correct"] and fresh["seconds"] <= FRESHNESS_BOUND_SECONDS),
        },
        "gunicorn_log_problem_lines": problems,
        "run_seconds_including_setup": round(time.monotonic() - begun, 1),
    }
    (RESULTS / "feedback.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    ok = (
        accounts["every_accepted_stored"]
        and set(tally.statuses) <= {"303"}
        and results["freshness"]["within_bound"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
