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
Then checked: every accepted answer (303) is in the database as an evaluation with its link
(the counts equal, per link), and scores are fresh within FRESHNESS_BOUND_SECONDS after the
last answer (no stale mark left, every score equal to the pure-function reference).

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

TOUCH_POINTS, LINKS_PER = 5, 4
GET_REQUESTS = 300
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


# --- Data ------------------------------------------------------------------------------------


def dataset() -> dict[str, Any]:
    """The bench's organization (made once, reused): its journey and links."""
    from accounts.models import Organization, Role
    from accounts.services import add_member, create_organization
    from feedback import services as feedback
    from feedback.models import FeedbackLink
    from journeys.services import create_journey, create_stage
    from touchpoints.services import create_criterion, create_site, create_touch_point

    org = Organization.objects.filter(slug="feedback-bench").first()
    if org is None:
        org = create_organization(name="Feedback bench", slug="feedback-bench")
        manager = add_member(
            organization=org, email="manager@feedback.bench.test", role=Role.MANAGER
        ).user
        journey = create_journey(actor=manager, organization=org, name="In store", status="active")
        stage = create_stage(actor=manager, journey=journey, name="At the counter")
        for t in range(TOUCH_POINTS):
            site = create_site(actor=manager, organization=org, name=f"Store {t}")
            tp = create_touch_point(actor=manager, stage=stage, name=f"Counter {t}")
            scale = create_criterion(actor=manager, touch_point=tp, name="Friendly", kind="scale")
            yes_no = create_criterion(actor=manager, touch_point=tp, name="Found it", kind="yes_no")
            feedback.save_questions(
                actor=manager,
                touch_point=tp,
                questions=[
                    feedback.QuestionInput(scale.pk, "How friendly were we?"),
                    feedback.QuestionInput(yes_no.pk, "Did you find everything?"),
                ],
                ask_comment=True,
            )
            for i in range(LINKS_PER):
                feedback.create_link(
                    actor=manager, touch_point=tp, label=f"Poster {i}", site_id=site.pk
                )
    links = FeedbackLink.objects.filter(organization=org, revoked_at__isnull=True)
    return {
        "organization_id": org.pk,
        "journey_ids": sorted({link.touch_point.journey_id for link in links}),
        "links": {link.pk: link.token for link in links},
    }


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


def answer_loop(port: int, links: dict[int, str], deadline: float, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    browser = Browser(port)
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
        worker = Worker(
            BROKER,
            concurrency=WORKER_CONCURRENCY,
            **{
                **{k: production[k] for k in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_URL")},
                "SCORING_SWEEP_SECONDS": str(settings.SCORING_SWEEP_SECONDS),
                "SCORING_DEBOUNCE_SECONDS": str(settings.SCORING_DEBOUNCE_SECONDS),
            },
        )
        worker.start(timeout=180)  # a busy shared machine can take a minute
        port = free_port()
        log_path = Path(tempfile.mkstemp(prefix="feedback-bench-gunicorn-", suffix=".log")[1])
        with gunicorn(port, log_path, WORKER_CLASS, database_url=DATABASE_URL, broker_url=BROKER):
            first = next(iter(links.values()))
            Browser(port).request("GET", f"/f/{first}/")  # each worker pays its imports once
            Browser(port).request("GET", f"/f/{first}/")
            get = measure_get(port, first)
            print(f"GET: {get}", flush=True)
            before = dict(
                FeedbackResponse.objects.filter(link__organization_id=org_id)
                .values_list("link_id")
                .annotate(n=Count("pk"))
            )
            tally = Tally()
            load_before = os.getloadavg()
            print(f"POST: {args.clients} clients for {args.seconds:g} s...", flush=True)
            start = time.monotonic()
            deadline = start + args.seconds
            threads = [
                threading.Thread(target=answer_loop, args=(port, links, deadline, tally, i))
                for i in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            stopped = time.monotonic()
            load_after = os.getloadavg()
            fresh = freshness(data["journey_ids"], stopped)
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
    results = {
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
