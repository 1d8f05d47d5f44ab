"""Load benchmark (issue 7; RELIABILITY.md R11).

20 evaluators submit evaluations for SECONDS (60 by default) while 5 readers poll journey
scores, against real parts on 127.0.0.1 only: gunicorn (2 gthread workers, DEBUG off) on a
free port, a Celery worker on the scoring queue with embedded beat (the sweep), a private
redis-server as the broker, and this bench's own database (touchstone_bench_load: two
journeys of 60 touch points over 150,000 generated evaluations, 100,000 of them on one
hot touch point, plus a small journey of 3).

Each evaluator is its own user with its own token; it POSTs one evaluation a request (every
BATCH_EVERY-th request a batch of BATCH_SIZE) with an Idempotency-Key, to random touch
points of the two large journeys. Each reader is a viewer with its own token, and GETs
/api/v1/journeys/{id}/scores/ of both, checking the answer holds all 60 touch points.

Reported: per endpoint, requests, errors by kind (any non-2xx answer or connection error),
p50/p95/p99/max latency and throughput. Then checked:
  - every evaluation answered 201 is in the database with its answers (by the ids the
    answers gave), and the database holds none the clients were not told of;
  - freshness: the time from the last response until no touch point is marked stale and
    every evaluation score and snapshot equals the pure-function reference (scoring.formulas
    over the stored answers) to 1e-6, against the stated bound (FRESHNESS_BOUND_SECONDS);
  - the SQL queries of one scores request, the same for the journey of 3 and of 60.
Exit status 1 on any error, lost or extra evaluation, or scores never correct.

Usage: python bench/load_bench.py [--seconds S] [--evaluations N] [--fresh]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness
import scoring_bench  # sets the scoring bench's environment; ours replaces it just below
from harness import Phase, api_token, ensure_database, free_port, gunicorn, server_name

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# Both overridable, so that people benchmarking side by side on one machine each keep
# their own database, and their servers on their own ports (BENCH_LOAD_PORTS="8140,8141":
# the broker's, then gunicorn's; free ones otherwise).
DB_NAME = os.environ.get("BENCH_LOAD_DATABASE", "touchstone_bench_load")
DATABASE_URL = harness.database_url(DB_NAME)
PORTS = [int(p) for p in os.environ.get("BENCH_LOAD_PORTS", "").split(",") if p.strip()]
# A private redis-server: nothing else's recompute hints, nothing left behind.
BROKER_PORT = PORTS[0] if PORTS else free_port()
BROKER = f"redis://127.0.0.1:{BROKER_PORT}/0"
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"] = BROKER
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

JOURNEYS, STAGES, TOUCH_POINTS_PER_STAGE = 2, 6, 10
SMALL_TOUCH_POINTS = 3  # the small journey of the query-count check
EVALUATORS, READERS = 20, 5
BATCH_EVERY, BATCH_SIZE = 10, 5
WORKER_CONCURRENCY = 2  # docker-compose.yml's default (WORKER_CONCURRENCY)
WORKER_CLASS = "gthread"
FRESHNESS_BOUND_SECONDS = 5.0  # RELIABILITY.md R11, first step
FRESHNESS_TIMEOUT_SECONDS = 120.0
ONE, BATCH, SCORES = (
    "POST /api/v1/evaluations/ (one)",
    f"POST /api/v1/evaluations/ (batch of {BATCH_SIZE})",
    "GET /api/v1/journeys/{id}/scores/",
)


# --- Data ------------------------------------------------------------------------------------


def dataset(total: int) -> dict[str, Any]:
    """Two journeys of 60 touch points over `total` evaluations (the generator puts
    scoring_bench.HOT_EVALUATIONS on the first touch point and spreads the rest evenly), and
    a small journey of SMALL_TOUCH_POINTS, with fresh snapshots. Made once, found again by a marker;
    the evaluations a run adds come from that run's own users, so the generator's stay
    countable."""
    from journeys.models import Journey
    from scoring import services
    from touchpoints.models import Evaluation

    marker = RESULTS / f".scoring-data-load-{total}.json"  # .gitignore'd, like the others
    data = json.loads(marker.read_text()) if marker.exists() else None
    if (
        data is not None
        and Evaluation.objects.filter(evaluator_id=data["generator_id"]).count()
        == data["evaluations"]
    ):
        return data  # type: ignore[no-any-return]
    print(f"Generating {JOURNEYS} journeys of 60 touch points over {total:,} evaluations...")
    data = scoring_bench.generate(
        total, journeys=JOURNEYS, stages=STAGES, touch_points_per_stage=TOUCH_POINTS_PER_STAGE
    )
    org_id = data["organization_id"]
    large = list(Journey.objects.filter(organization_id=org_id).values_list("pk", flat=True))
    data.update(
        generator_id=Evaluation.objects.filter(organization_id=org_id).values("evaluator_id")[0][
            "evaluator_id"
        ],
        large_journey_ids=large,
        small_journey_id=_small_journey(org_id),
    )
    services.recompute_all(organization_id=org_id)
    marker.write_text(json.dumps(data))
    return data


def _small_journey(organization_id: int) -> int:
    """A journey of SMALL_TOUCH_POINTS, one scale criterion each, a few evaluations each,
    made through the production services."""
    from accounts.models import Organization, Role
    from accounts.services import add_member
    from journeys.services import create_journey, create_stage
    from touchpoints.services import (
        AnswerInput,
        EvaluationInput,
        create_criterion,
        create_touch_point,
        submit_evaluations,
    )

    org = Organization.objects.get(pk=organization_id)
    manager = add_member(
        organization=org, email=f"manager-{org.pk}@load.bench.test", role=Role.MANAGER
    ).user
    journey = create_journey(actor=manager, organization=org, name="Small", status="active")
    stage = create_stage(actor=manager, journey=journey, name="Only stage")
    now = datetime.now(UTC)
    for t in range(SMALL_TOUCH_POINTS):
        tp = create_touch_point(actor=manager, stage=stage, name=f"Small {t}")
        criterion = create_criterion(actor=manager, touch_point=tp, name="Overall", kind="scale")
        submit_evaluations(
            evaluator=manager,
            organization=org,
            items=[
                EvaluationInput(
                    touch_point_id=tp.pk,
                    source="supervisor",
                    observed_at=now - timedelta(hours=h + 1),
                    answers=[AnswerInput(criterion.pk, 1 + (t + h) % 5)],
                )
                for h in range(6)
            ],
        )
    return journey.pk


@dataclass
class People:
    """This run's users: evaluators (user id, token) and readers (tokens)."""

    evaluators: list[tuple[int, str]]
    readers: list[str]


def people(organization_id: int, run: str) -> People:
    from accounts.models import Organization, Role
    from accounts.services import add_member

    org = Organization.objects.get(pk=organization_id)

    def member(kind: str, i: int, role: Role) -> int:
        email = f"{kind}-{run}-{i}@load.bench.test"
        return add_member(organization=org, email=email, role=role).user_id

    evaluators = [member("evaluator", i, Role.EVALUATOR) for i in range(EVALUATORS)]
    readers = [member("reader", i, Role.VIEWER) for i in range(READERS)]
    return People(
        evaluators=[(pk, api_token(pk, "load bench")) for pk in evaluators],
        readers=[api_token(pk, "load bench") for pk in readers],
    )


def criteria_of(journey_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    """Touch point id -> [(criterion id, kind)] for the journeys the evaluators submit to."""
    from touchpoints.models import Criterion

    criteria: dict[int, list[tuple[int, str]]] = {}
    for criterion in Criterion.objects.filter(
        touch_point__journey_id__in=journey_ids
    ).select_related("current_version"):
        criteria.setdefault(criterion.touch_point_id, []).append(
            (criterion.pk, criterion.current_version.kind)
        )
    return criteria


def evaluation(rng: random.Random, criteria: dict[int, list[tuple[int, str]]]) -> dict[str, Any]:
    tp = rng.choice(sorted(criteria))
    answers = []
    for criterion_id, kind in criteria[tp]:
        if kind == "scale":
            value = rng.randint(1, 5)
        elif kind == "yes_no":
            value = rng.randint(0, 1)
        else:
            value = rng.randint(0, 150)
        answers.append({"criterion": criterion_id, "value": value})
    observed = datetime.now(UTC) - timedelta(minutes=rng.randint(5, 14 * 24 * 60))
    return {
        "touch_point": tp,
        "source": rng.choice(scoring_bench.SOURCES),
        "observed_at": observed.isoformat(timespec="seconds"),
        "answers": answers,
    }


# --- Load ------------------------------------------------------------------------------------


@dataclass
class Recorder:
    """What every client saw, by endpoint; shared by the client threads under one lock."""

    phases: dict[str, Phase] = field(
        default_factory=lambda: {e: Phase() for e in (ONE, BATCH, SCORES)}
    )
    samples: dict[str, list[str]] = field(default_factory=dict)  # error kind -> a few bodies
    accepted: list[int] = field(default_factory=list)  # evaluation ids answered 201
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, endpoint: str, status: str, elapsed: float, sample: str = "") -> None:
        with self.lock:
            phase = self.phases[endpoint]
            phase.latencies.append(elapsed)
            phase.statuses[status] = phase.statuses.get(status, 0) + 1
            if not status.startswith("2"):
                kind = f"{endpoint}: {status}"
                kept = self.samples.setdefault(kind, [])
                if len(kept) < 3:
                    kept.append(sample[:300])


class Client:
    """One keep-alive connection; a connection error is recorded as its exception's name
    and the connection opened again."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[str, bytes, float]:
        started = time.monotonic()
        try:
            self.conn.request(method, path, body=body, headers={**self.headers, **(headers or {})})
            response = self.conn.getresponse()
            payload = response.read()
            status = str(response.status)
        except (OSError, http.client.HTTPException) as exc:
            status, payload = type(exc).__name__, str(exc).encode()
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        return status, payload, time.monotonic() - started

    def close(self) -> None:
        self.conn.close()


def evaluator(
    client: Client,
    seed: int,
    criteria: dict[int, list[tuple[int, str]]],
    deadline: float,
    out: Recorder,
) -> None:
    rng = random.Random(seed)
    sent = 0
    while time.monotonic() < deadline:
        sent += 1
        batch = sent % BATCH_EVERY == 0
        items = [evaluation(rng, criteria) for _ in range(BATCH_SIZE if batch else 1)]
        body = json.dumps(items if batch else items[0]).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
        status, payload, elapsed = client.send("POST", "/api/v1/evaluations/", body, headers)
        endpoint = BATCH if batch else ONE
        if status == "201":
            stored = json.loads(payload)
            ids = [e["id"] for e in stored] if batch else [stored["id"]]
            with out.lock:
                out.accepted.extend(ids)
        out.record(endpoint, status, elapsed, payload.decode(errors="replace"))
    client.close()


def reader(client: Client, journeys: list[tuple[int, int]], deadline: float, out: Recorder) -> None:
    """GETs the journeys' scores in turn; an answer without all the journey's touch points
    counts as an error too."""
    turn = 0
    while time.monotonic() < deadline:
        journey_id, touch_points = journeys[turn % len(journeys)]
        turn += 1
        status, payload, elapsed = client.send("GET", f"/api/v1/journeys/{journey_id}/scores/")
        if status == "200":
            shown = len(json.loads(payload).get("touch_points", []))
            if shown != touch_points:
                status = f"200 with {shown} of {touch_points} touch points"
        out.record(SCORES, status, elapsed, payload.decode(errors="replace"))
    client.close()


def run_load(
    port: int,
    seconds: float,
    people: People,
    criteria: dict[int, list[tuple[int, str]]],
    journeys: list[tuple[int, int]],
) -> Recorder:
    """All clients start together and stop sending at the same deadline; returns once the
    last response is in."""
    out = Recorder()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=evaluator, args=(Client(port, token), i, criteria, deadline, out))
        for i, (_, token) in enumerate(people.evaluators)
    ] + [
        threading.Thread(target=reader, args=(Client(port, token), journeys, deadline, out))
        for token in people.readers
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    for phase in out.phases.values():
        phase.seconds = elapsed
    return out


def endpoint_summary(phase: Phase) -> dict[str, Any]:
    errors = {s: n for s, n in phase.statuses.items() if not s.startswith("2")}
    if not phase.latencies:
        return {"requests": 0, "errors": sum(errors.values()), "errors_by_kind": errors}
    return {
        "requests": phase.requests,
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "p50_ms": phase.percentile_ms(0.5),
        "p95_ms": phase.percentile_ms(0.95),
        "p99_ms": phase.percentile_ms(0.99),
        "max_ms": round(max(phase.latencies) * 1000, 1),
        "per_second": round(phase.per_second, 1),
        "statuses": phase.statuses,
    }


# --- Checks after the load -------------------------------------------------------------------


def accounting(accepted: list[int], evaluator_ids: list[int]) -> dict[str, Any]:
    """Every evaluation answered 201 is stored with its answers; nothing else was stored."""
    from django.db.models import Count

    from touchpoints.models import Evaluation

    stored = dict(
        Evaluation.objects.filter(evaluator_id__in=evaluator_ids)
        .annotate(answers_count=Count("answers"))
        .values_list("pk", "answers_count")
    )
    told = set(accepted)
    return {
        "evaluations_answered_201": len(accepted),
        "duplicate_ids_in_answers": len(accepted) - len(told),
        "evaluations_stored": len(stored),
        "lost": sorted(told - set(stored))[:20],
        "lost_count": len(told - set(stored)),
        "extra_count": len(set(stored) - told),
        "stored_without_answers": sum(1 for n in stored.values() if n == 0),
    }


def freshness(journey_ids: list[int], stopped: float) -> dict[str, Any]:
    """Seconds from `stopped` (the last response) until no touch point of the journeys is
    marked stale (polled every 0.1 s) and then their evaluation scores and snapshots equal
    the pure-function reference of the fault tests (tests/faults/reference.py: scoring.formulas
    over the stored answers, to 1e-6). A snapshot is written in the transaction that deletes
    the marks it covers, so the first reference check after the marks are gone should pass;
    its own run time (seconds on this data) is not counted."""
    from journeys.models import Journey
    from scoring.models import StaleMark
    from tests.faults.reference import problems as reference_problems

    journeys = list(Journey.objects.filter(pk__in=journey_ids).select_related("organization"))
    marks = StaleMark.objects.filter(touch_point__journey_id__in=journey_ids)
    stale_at_stop = marks.values("touch_point_id").distinct().count()
    checks = 0
    problems: list[str] = []
    while time.monotonic() - stopped < FRESHNESS_TIMEOUT_SECONDS:
        seen = time.monotonic()
        if not marks.exists():
            checks += 1
            problems = reference_problems(journeys)
            if not problems:
                return {
                    "seconds": round(seen - stopped, 2),
                    "stale_touch_points_at_stop": stale_at_stop,
                    "reference_checks": checks,
                    "reference_check_seconds": round(time.monotonic() - seen, 1),
                    "correct": True,
                }
        time.sleep(0.1)
    return {
        "seconds": None,
        "stale_touch_points_at_stop": stale_at_stop,
        "stale_touch_points_at_timeout": marks.values("touch_point_id").distinct().count(),
        "reference_checks": checks,
        "correct": False,
        "differences": problems[:10],
    }


def scores_query_counts(token: str, journeys: dict[str, int]) -> dict[str, Any]:
    """SQL queries of one GET scores request per journey, in this process (Django's test
    client on the bench database): rendered (cold cache) and from the cached answer."""
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    from scoring.api import journey_snapshots

    client = DjangoClient(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")

    def count(journey_id: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/v1/journeys/{journey_id}/scores/")
        if response.status_code != 200:
            raise RuntimeError(f"scores of journey {journey_id} answered {response.status_code}")
        return len(queries)

    for journey_id in journeys.values():
        count(journey_id)  # the token's last_used_at is touched at most once a minute
    journey_snapshots.clear()
    cold = {label: count(pk) for label, pk in journeys.items()}
    cached = {label: count(pk) for label, pk in journeys.items()}
    return {
        "rendered": cold,
        "cached": cached,
        "constant": len(set(cold.values())) == 1 and len(set(cached.values())) == 1,
    }


def log_problems(text: str) -> int:
    return sum(1 for line in text.splitlines() if "Traceback" in line or " ERROR" in line)


TASK_LINE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*"
    r"Task scoring\.tasks\.(\w+)\[[^]]+\] succeeded in ([0-9.e-]+)s: (\S+)"
)


def _log_time(text: str) -> float:
    # The worker logs local time, which Django sets to TIME_ZONE (UTC).
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC).timestamp()


def worker_tasks(log: str, load: tuple[float, float]) -> dict[str, Any]:
    """Per task (and what it returned), from the worker's INFO log: how often it ran and
    for how long; and the worker's busy fraction during the load (`load`: its start and
    end, Unix time): task seconds inside it over the pool's seconds (processes x length).
    Tells how much room the worker had left beside the web server on the same cores."""
    runs: dict[str, list[float]] = {}
    busy = 0.0
    for when, name, seconds, returned in TASK_LINE.findall(log):
        runs.setdefault(f"{name} -> {returned}", []).append(float(seconds))
        done = _log_time(when)
        busy += max(0.0, min(done, load[1]) - max(done - float(seconds), load[0]))
    return {
        "busy_fraction_during_load": round(busy / (WORKER_CONCURRENCY * (load[1] - load[0])), 3),
        "tasks": {
            task: {
                "runs": len(times),
                "mean_s": round(statistics.fmean(times), 3),
                "total_s": round(sum(times), 1),
            }
            for task, times in sorted(runs.items())
        },
    }


def group_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (gunicorn's workers, the
    Celery pool), read from /proc: independent of how busy the shared machine is."""
    import subprocess

    children = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    total = 0.0
    for each in [pid, *map(int, children)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def cpu_per_unit(
    spent: dict[str, float], endpoints: dict[str, Any], tasks: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """The servers' CPU during the load, per request (gunicorn: every endpoint together),
    per task and per recompute that found work (the worker: all its CPU over those), in ms,
    and the worker's CPU over its processes' time. PostgreSQL's share is not in these."""
    requests = sum(e["requests"] for e in endpoints.values())
    recomputes = tasks["tasks"].get("recompute_touch_point -> True", {}).get("runs", 0)
    runs = sum(task["runs"] for task in tasks["tasks"].values())
    return {
        "gunicorn_seconds": round(spent["gunicorn"], 2),
        "gunicorn_ms_per_request": round(1000 * spent["gunicorn"] / requests, 2)
        if requests
        else None,
        "worker_seconds": round(spent["worker"], 2),
        "worker_ms_per_recompute": round(1000 * spent["worker"] / recomputes, 1)
        if recomputes
        else None,
        "worker_ms_per_task": round(1000 * spent["worker"] / runs, 1) if runs else None,
        "worker_cpu_fraction": round(spent["worker"] / (WORKER_CONCURRENCY * seconds), 3),
    }


# --- Main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60, help="length of the load")
    parser.add_argument(
        "--evaluations", type=int, default=150_000, help="generated evaluations (> 100,000)"
    )
    parser.add_argument("--fresh", action="store_true", help="drop this bench's database first")
    args = parser.parse_args()
    begun = time.monotonic()

    ensure_database(DB_NAME, fresh=args.fresh)
    import django

    django.setup()
    from django.conf import settings

    from scoring import services
    from scoring.models import StaleMark
    from tests.processes import RedisServer, Worker

    broker = RedisServer(BROKER_PORT)
    broker.start()
    worker: Worker | None = None
    try:
        data = dataset(args.evaluations)
        org_id = data["organization_id"]
        large, small = data["large_journey_ids"], data["small_journey_id"]
        print(f"Data: {data}", flush=True)
        if StaleMark.objects.filter(touch_point__organization_id=org_id).exists():
            services.recompute_all(organization_id=org_id)  # a stopped run's leftovers
        run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        crowd = people(org_id, run)
        criteria = criteria_of(large)
        journeys = [(pk, STAGES * TOUCH_POINTS_PER_STAGE) for pk in large]

        # The production worker settings (sweep, debounce, connection age) unless the
        # environment sets them; DEBUG off like the web server.
        production = harness.production_env(database_url=DATABASE_URL, broker_url=BROKER)
        worker = Worker(
            BROKER,
            concurrency=WORKER_CONCURRENCY,
            **{
                **{k: production[k] for k in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_URL")},
                "SCORING_SWEEP_SECONDS": str(settings.SCORING_SWEEP_SECONDS),
                "SCORING_DEBOUNCE_SECONDS": str(settings.SCORING_DEBOUNCE_SECONDS),
                "DATABASE_CONN_MAX_AGE": os.environ.get("DATABASE_CONN_MAX_AGE", "60"),
            },
        )
        worker.start(timeout=120)

        port = PORTS[1] if len(PORTS) > 1 else free_port()
        log_path = Path(tempfile.mkstemp(prefix="load-bench-gunicorn-", suffix=".log")[1])
        with gunicorn(
            port, log_path, WORKER_CLASS, database_url=DATABASE_URL, broker_url=BROKER
        ) as server:
            for token in crowd.readers:  # each worker's first request pays its imports
                warm = Client(port, token)
                for pk, _ in journeys:
                    warm.send("GET", f"/api/v1/journeys/{pk}/scores/")
                warm.close()
            load_before = os.getloadavg()  # a shared machine: say how busy it was
            print(
                f"Load: {EVALUATORS} evaluators and {READERS} readers for {args.seconds:g} s...",
                flush=True,
            )
            assert worker.proc is not None  # noqa: S101  (started above)
            servers = {"gunicorn": server.pid, "worker": worker.proc.pid}
            cpu_before = {name: group_cpu(pid) for name, pid in servers.items()}
            load_began = time.time()
            out = run_load(port, args.seconds, crowd, criteria, journeys)
            load_ended = time.time()
            cpu_spent = {name: group_cpu(pid) - cpu_before[name] for name, pid in servers.items()}
            stopped = time.monotonic()
            load_after = os.getloadavg()
            fresh = freshness([*large, small], stopped)
            gunicorn_problems = log_problems(log_path.read_text(errors="replace"))
        accounts = accounting(out.accepted, [pk for pk, _ in crowd.evaluators])
        queries = scores_query_counts(
            crowd.readers[0],
            {f"{SMALL_TOUCH_POINTS} touch points": small, "60 touch points": large[0]},
        )
        worker_log = worker.log()
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()

    endpoints = {name: endpoint_summary(phase) for name, phase in out.phases.items()}
    tasks = worker_tasks(worker_log, (load_began, load_ended))
    errors = sum(e["errors"] for e in endpoints.values())
    met = fresh["correct"] and fresh["seconds"] <= FRESHNESS_BOUND_SECONDS
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "server": server_name(WORKER_CLASS),
        "worker": (
            f"celery, {WORKER_CONCURRENCY} processes, embedded beat; sweep every "
            f"{settings.SCORING_SWEEP_SECONDS} s, debounce {settings.SCORING_DEBOUNCE_SECONDS} s"
        ),
        "broker": "private redis-server",
        "evaluators": EVALUATORS,
        "readers": READERS,
        "seconds": round(out.phases[SCORES].seconds, 2),
        "every_nth_post_a_batch": [BATCH_EVERY, BATCH_SIZE],
        **{f"data_{k}": v for k, v in data.items()},
        "endpoints": endpoints,
        "errors": errors,
        "error_samples": out.samples,
        "evaluations": accounts,
        "freshness": {
            **fresh,
            "bound_seconds": FRESHNESS_BOUND_SECONDS,
            "within_bound": met,
        },
        "scores_queries": queries,
        "worker_tasks": tasks,
        "cpu_during_load": cpu_per_unit(cpu_spent, endpoints, tasks, load_ended - load_began),
        "log_problem_lines": {"gunicorn": gunicorn_problems, "worker": log_problems(worker_log)},
        "goals": {
            "one_evaluation_post_p99_ms": "< 300 (issue 18; 770 before it)",
            "readers_p99_ms": "< 200 (issue 18)",
            "errors": "0",
            "lost": "0",
            "worker_busy_fraction": "reported: below 1 means idle time left",
        },
        "run_seconds_including_setup": round(time.monotonic() - begun, 1),
    }
    (RESULTS / "load.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"gunicorn log: {log_path}\nworker log: {worker.log_path}")

    print(f"\n{results['server']}; {results['worker']}")
    print(f"{EVALUATORS} evaluators, {READERS} readers, {results['seconds']} s")
    print(
        f"{'endpoint':<44}{'requests':>9}{'errors':>7}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'req/s':>8}"
    )
    for name, e in endpoints.items():
        print(
            f"{name:<44}{e['requests']:>9}{e['errors']:>7}{e.get('p50_ms', '-'):>8}"
            f"{e.get('p95_ms', '-'):>8}{e.get('p99_ms', '-'):>8}{e.get('max_ms', '-'):>8}"
            f"{e.get('per_second', '-'):>8}"
        )
    print("(latencies in ms)")
    for kind, bodies in out.samples.items():
        print(f"  error {kind}: e.g. {bodies[0]!r}")
    print(
        f"Evaluations answered 201: {accounts['evaluations_answered_201']:,}; stored: "
        f"{accounts['evaluations_stored']:,}; lost: {accounts['lost_count']}; extra: "
        f"{accounts['extra_count']}; stored without answers: {accounts['stored_without_answers']}"
    )
    if fresh["correct"]:
        verdict = "within" if met else "NOT within"
        print(
            f"Freshness: scores correct {fresh['seconds']} s after the load stopped "
            f"({fresh['stale_touch_points_at_stop']} touch points stale then): {verdict} the "
            f"{FRESHNESS_BOUND_SECONDS:g} s bound."
        )
    else:
        print(
            f"Freshness: scores NOT correct {FRESHNESS_TIMEOUT_SECONDS:g} s after the load "
            f"stopped: {fresh.get('differences')}"
        )
    print(
        f"Queries per scores request: rendered {queries['rendered']}, cached {queries['cached']}"
        f" ({'constant' if queries['constant'] else 'NOT constant'})"
    )
    worked = results["worker_tasks"]["tasks"].get("recompute_touch_point -> True", {})
    print(
        f"Worker: {worked.get('runs', 0)} recomputes that found stale touch points, "
        f"{worked.get('total_s', 0)} s of work in all ({worked.get('mean_s', '-')} s each); "
        f"busy {results['worker_tasks']['busy_fraction_during_load']:.0%} of its "
        f"{WORKER_CONCURRENCY} processes' time during the load"
    )
    cpu = results["cpu_during_load"]
    print(
        f"CPU during the load: gunicorn {cpu['gunicorn_seconds']} s "
        f"({cpu['gunicorn_ms_per_request']} ms a request), worker {cpu['worker_seconds']} s "
        f"({cpu['worker_ms_per_task']} ms a task, {cpu['worker_ms_per_recompute']} ms a "
        f"recompute that found work; {cpu['worker_cpu_fraction']:.0%} of its processes' time)"
    )
    one = endpoints.get(ONE, {})
    print(
        f"Goals (issue 18): one evaluation's POST p99 {one.get('p99_ms')} ms (< 300), readers' "
        f"p99 {endpoints[SCORES].get('p99_ms')} ms (< 200), errors {errors} (0), lost "
        f"{accounts['lost_count']} (0)"
    )
    print(
        f"Load average before / after: {results['load_average_before']} / "
        f"{results['load_average_after']}"
    )
    failed = errors or accounts["lost_count"] or accounts["extra_count"] or not fresh["correct"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
