"""API benchmark (issue: REST API).

Starts gunicorn (2 workers; gthread with 4 threads each, or sync) on its own port
against its own database (touchstone_bench_api), then measures in the same run:
  (a) bulk ingest: POST /api/v1/evaluations/ with 500 evaluations a request from CLIENTS
      threads for SECONDS: evaluations stored per second (counted in the database);
  (b) GET /api/v1/journeys/{id}/scores/ on a journey of 60 touch points over 1,000,000
      evaluations, in requests per second, next to two trivial JSON endpoints of the same
      server, same clients, same run:
        - GET /api/v1/ping/: the floor every API request pays (token authentication, the
          organization the request acts in, DRF) and nothing else. The goal is judged
          against this one: the issue asks what the scores read costs next to a trivial
          JSON endpoint, and an API endpoint cannot skip authentication and tenancy.
        - GET /healthz: no authentication, no database, no DRF; reported for scale.
      For scale too, GET /api/v1/journeys/{id}/: one row through the same authentication
      and tenancy. The clients send no If-None-Match: every scores answer is a full body.
      The four reads take turns (5 rounds of 2 s each), so they share the machine's drift.
Goals: (a) >= 2,000 evaluations/s; (b) scores/ping >= 0.5.

The 1M-evaluation journey is generated once with scoring_bench.generate (COPY with the
scores, rollups by the production SQL) and found again through a data marker. Ingest
goes to a separate small organization, so the scored journey stays exactly as generated.

Usage: python bench/api_bench.py [--evaluations N] [--fresh] [--seconds S] [--clients N]
                                 [--worker-class gthread|sync]
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness
import scoring_bench  # sets the scoring bench's environment; ours replaces it just below
from harness import Phase, api_token, ensure_database, free_port, gunicorn, server_name

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DB_NAME = "touchstone_bench_api"
DATABASE_URL = harness.database_url(DB_NAME)
# Not the scoring bench's Redis database: recompute hints queued here name touch points
# of this database, and must never reach a worker of the other one.
BROKER = os.environ.get("BENCH_API_BROKER_URL", "redis://127.0.0.1:6379/13")
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ["CELERY_BROKER_URL"] = BROKER
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# The journey the scores endpoint reads: 6 stages of 10 touch points.
STAGES, TOUCH_POINTS_PER_STAGE = 6, 10
BATCH = 500
INGEST_TOUCH_POINTS = 10
PING_PATH = "/api/v1/ping/"
# Issue 18's figures for main before its changes, printed beside this run's.
PREVIOUS = {
    "b_ping_over_healthz": "0.24 (ping 810/s, healthz 3,321/s)",
    "b_scores_over_healthz": "0.18",
    "a_evaluations_per_second": "3,600-5,200",
}
READ_ROUNDS = 5  # read phases are interleaved in this many turns each (see interleaved)
FLOOR = (
    "the scores read is compared with GET /api/v1/ping/, the trivial JSON endpoint every "
    "API request's floor: the same token authentication, organization resolution and DRF "
    "cycle, nothing else. /healthz skips all three (no token, no database), so it measures "
    "the server, not what an API endpoint can cost at least; it is reported for scale."
)
KINDS = ["scale", "scale", "scale", "yes_no", "numeric"]
SOURCES = scoring_bench.SOURCES


# --- Data ------------------------------------------------------------------------------------


def scored_journey(total: int) -> dict[str, object]:
    """The 60-touch-point journey over `total` evaluations, with fresh snapshots."""
    from journeys.models import Journey
    from scoring import services
    from touchpoints.models import Evaluation, TouchPoint

    # Named to fall under .gitignore's bench/results/.scoring-data-*.json: the same kind of
    # marker, for data the scoring bench's generator made.
    marker = RESULTS / f".scoring-data-api-{total}.json"
    data = json.loads(marker.read_text()) if marker.exists() else None
    if (
        data is not None
        and Evaluation.objects.filter(journey_id=data["journey_id"]).count() == data["evaluations"]
    ):
        return data  # type: ignore[no-any-return]
    print(f"Generating a journey of 60 touch points over {total:,} evaluations...", flush=True)
    data = scoring_bench.generate(
        total, journeys=1, stages=STAGES, touch_points_per_stage=TOUCH_POINTS_PER_STAGE
    )
    journey = Journey.objects.get(organization_id=data["organization_id"])
    started = time.perf_counter()
    services.recompute_all(organization_id=journey.organization_id)
    data.update(
        journey_id=journey.pk,
        touch_points=TouchPoint.objects.filter(journey=journey).count(),
        snapshot_seconds=round(time.perf_counter() - started, 1),
    )
    marker.write_text(json.dumps(data))
    return data


@dataclass
class IngestTarget:
    """A small organization that takes the ingest, so the scored journey stays as generated."""

    organization_id: int
    manager_id: int
    criteria: dict[int, list[tuple[int, str]]]  # touch point id -> [(criterion id, kind)]


def ingest_target() -> IngestTarget:
    """Made once through the production services, found again by its slug."""
    from accounts.models import Organization, Role
    from accounts.services import add_member, create_organization
    from journeys.services import create_journey, create_stage
    from touchpoints.models import Criterion
    from touchpoints.services import create_criterion, create_touch_point

    org = Organization.objects.filter(slug="api-bench-ingest").first()
    if org is None:
        org = create_organization(name="API bench ingest", slug="api-bench-ingest")
        add_member(organization=org, email="ingest@bench.test", role=Role.MANAGER, password=None)
        manager = org.memberships.get().user
        journey = create_journey(actor=manager, organization=org, name="Bulk ingest")
        stage = create_stage(actor=manager, journey=journey, name="Everything")
        for t in range(INGEST_TOUCH_POINTS):
            tp = create_touch_point(actor=manager, stage=stage, name=f"Touch point {t}")
            for c, kind in enumerate(KINDS):
                rubric = {"target_value": 20, "worst_value": 120} if kind == "numeric" else {}
                create_criterion(actor=manager, touch_point=tp, name=f"C{c}", kind=kind, **rubric)
    criteria: dict[int, list[tuple[int, str]]] = {}
    for criterion in Criterion.objects.filter(organization=org).select_related("current_version"):
        criteria.setdefault(criterion.touch_point_id, []).append(
            (criterion.pk, criterion.current_version.kind)
        )
    return IngestTarget(org.pk, org.memberships.get().user_id, criteria)


def batch_bodies(target: IngestTarget, count: int) -> list[bytes]:
    """`count` distinct request bodies of BATCH evaluations each, encoded before timing."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    touch_points = sorted(target.criteria)
    bodies = []
    for _ in range(count):
        items = []
        for _ in range(BATCH):
            tp = rng.choice(touch_points)
            answers = []
            for criterion_id, kind in target.criteria[tp]:
                if kind == "scale":
                    value: float | None = rng.randint(1, 5)
                elif kind == "yes_no":
                    value = rng.randint(0, 1)
                else:
                    value = rng.randint(0, 150)
                answers.append({"criterion": criterion_id, "value": value})
            observed = now - timedelta(minutes=rng.randint(5, 30 * 24 * 60))
            items.append(
                {
                    "touch_point": tp,
                    "source": rng.choice(SOURCES),
                    "observed_at": observed.isoformat(timespec="seconds"),
                    "answers": answers,
                    "comment": "",
                }
            )
        bodies.append(json.dumps(items).encode())
    return bodies


# --- Load ------------------------------------------------------------------------------------

Request = tuple[str, str, bytes | None, dict[str, str]]


def hammer(port: int, clients: int, seconds: float, make: Callable[[int], Request]) -> Phase:
    """`clients` threads, each on its own keep-alive connection, send requests from
    `make(n)` until `seconds` have passed; the phase ends with the last response."""
    phase = Phase()
    lock = threading.Lock()
    counter = iter(range(10**9))
    deadline = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.monotonic() < deadline:
            with lock:
                n = next(counter)
            method, path, body, headers = make(n)
            started = time.monotonic()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = str(response.status)
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            with lock:
                phase.latencies.append(time.monotonic() - started)
                phase.statuses[status] = phase.statuses.get(status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.seconds = time.monotonic() - started
    return phase


def interleaved(
    port: int, clients: int, seconds: float, paths: list[str], token: str
) -> dict[str, Phase]:
    """`seconds` of GETs on each path, taken in READ_ROUNDS short turns that take the paths
    in a rotating order. On a shared machine the load drifts; endpoints compared with each
    other must see the same drift, which back-to-back phases of 10 s each did not."""
    reads = {path: Phase() for path in paths}
    for round_ in range(READ_ROUNDS):
        for path in paths[round_ % len(paths) :] + paths[: round_ % len(paths)]:
            turn = hammer(port, clients, seconds / READ_ROUNDS, get(path, token))
            merged = reads[path]
            merged.latencies += turn.latencies
            merged.seconds += turn.seconds
            for status, count in turn.statuses.items():
                merged.statuses[status] = merged.statuses.get(status, 0) + count
    return reads


def require(phase: Phase, status: str, what: str) -> None:
    """Stop rather than report the speed of errors (say, a route not built yet)."""
    if set(phase.statuses) != {status}:
        sys.exit(f"{what} answered {phase.statuses}, expected only {status}: nothing measured.")


def get(path: str, token: str) -> Callable[[int], Request]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    return lambda n: ("GET", path, None, headers)


def post_batches(bodies: list[bytes], token: str) -> Callable[[int], Request]:
    def make(n: int) -> Request:
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        return "POST", "/api/v1/evaluations/", bodies[n % len(bodies)], headers

    return make


# --- The ingest floors (issue 18 item 6) ------------------------------------------------------


def prepared_rows(target: IngestTarget, bodies: list[bytes]) -> list[list[tuple[Any, list[Any]]]]:
    """The bodies' evaluations as the API would store them, validated and scored up front
    (scoring.formulas, each criterion's current version): per body, (Evaluation, [Answer])
    pairs. Model instances only: the floors below time nothing but the writing."""
    from accounts.models import User
    from scoring import formulas
    from touchpoints.models import Answer, Criterion, Evaluation, TouchPoint

    evaluator = User.objects.get(pk=target.manager_id)
    tps = {tp.pk: tp for tp in TouchPoint.objects.filter(pk__in=list(target.criteria))}
    versions = {
        c.pk: c.current_version
        for c in Criterion.objects.filter(organization_id=target.organization_id).select_related(
            "current_version"
        )
    }
    rubric = {
        pk: formulas.Rubric(
            kind=v.kind,
            weight=v.weight,
            critical=v.critical,
            scale_size=v.scale_size or 5,
            target=v.target_value,
            worst=v.worst_value,
        )
        for pk, v in versions.items()
    }
    now = datetime.now(UTC)
    batches = []
    for body in bodies:
        batch = []
        for item in json.loads(body):
            tp = tps[item["touch_point"]]
            pairs = [(rubric[a["criterion"]], a["value"]) for a in item["answers"]]
            evaluation = Evaluation(
                organization_id=target.organization_id,
                journey_id=tp.journey_id,
                touch_point_id=tp.pk,
                evaluator=evaluator,
                source=item["source"],
                observed_at=datetime.fromisoformat(item["observed_at"]),
                submitted_at=now,
                rubric_version=tp.rubric_version,
                score=formulas.evaluation_score(pairs),
            )
            answers = [
                Answer(
                    criterion_id=a["criterion"],
                    criterion_version_id=versions[a["criterion"]].pk,
                    value=a["value"],
                    score=formulas.answer_score(r, v),
                )
                for a, (r, v) in zip(item["answers"], pairs, strict=True)
            ]
            batch.append((evaluation, answers))
        batches.append(batch)
    return batches


def _fresh(batch: list[tuple[Any, list[Any]]]) -> tuple[list[Any], list[list[Any]]]:
    """Unsaved copies (a write sets primary keys), made before the clock starts."""
    evaluations = [copy.copy(e) for e, _ in batch]
    answers = [[copy.copy(a) for a in answers] for _, answers in batch]
    return evaluations, answers


def orm_floor(batches: list[list[tuple[Any, list[Any]]]], seconds: float) -> dict[str, Any]:
    """bulk_create of the same rows, a transaction per batch, for `seconds`."""
    from django.db import transaction

    from touchpoints.models import Answer, Evaluation

    stored, began = 0, time.perf_counter()
    n = 0
    while time.perf_counter() - began < seconds:
        evaluations, answers = _fresh(batches[n % len(batches)])
        n += 1
        with transaction.atomic():
            Evaluation.objects.bulk_create(evaluations)
            for evaluation, its_answers in zip(evaluations, answers, strict=True):
                for answer in its_answers:
                    answer.evaluation_id = evaluation.pk
            Answer.objects.bulk_create([a for group in answers for a in group])
        stored += len(evaluations)
    elapsed = time.perf_counter() - began
    return {
        "evaluations": stored,
        "seconds": round(elapsed, 2),
        "per_second": round(stored / elapsed),
    }


def copy_floor(batches: list[list[tuple[Any, list[Any]]]], seconds: float) -> dict[str, Any]:
    """COPY of the same rows (ids drawn from the sequences first), a transaction per
    batch, for `seconds`: the physical limit of writing them."""
    from django.db import connection, transaction

    from touchpoints.models import Answer, Evaluation

    def columns(model: Any) -> list[Any]:
        return [f for f in model._meta.concrete_fields if not f.primary_key]

    ev_fields, an_fields = columns(Evaluation), columns(Answer)
    ev_sql = "COPY touchpoints_evaluation (id, {}) FROM STDIN".format(
        ", ".join(f.column for f in ev_fields)
    )
    an_sql = "COPY touchpoints_answer ({}) FROM STDIN".format(
        ", ".join(f.column for f in an_fields)
    )
    stored, began, n = 0, time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        evaluations, answers = _fresh(batches[n % len(batches)])
        n += 1
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('touchpoints_evaluation', 'id')) "
                "FROM generate_series(1, %s)",
                [len(evaluations)],
            )
            ids = [row[0] for row in cursor.fetchall()]
            raw = cursor.cursor  # psycopg's own cursor, for COPY
            with raw.copy(ev_sql) as out:
                for pk, e in zip(ids, evaluations, strict=True):
                    out.write_row([pk, *(getattr(e, f.attname) for f in ev_fields)])
            with raw.copy(an_sql) as out:
                for pk, group in zip(ids, answers, strict=True):
                    for a in group:
                        a.evaluation_id = pk
                        out.write_row([getattr(a, f.attname) for f in an_fields])
        stored += len(evaluations)
    elapsed = time.perf_counter() - began
    return {
        "evaluations": stored,
        "seconds": round(elapsed, 2),
        "per_second": round(stored / elapsed),
    }


# --- Main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluations", type=int, default=1_000_000)
    parser.add_argument(
        "--fresh", action="store_true", help="drop this bench's database and regenerate"
    )
    parser.add_argument("--seconds", type=float, default=20, help="length of the ingest phase")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--worker-class", choices=["gthread", "sync"], default="gthread")
    parser.add_argument(
        "--reads-only",
        action="store_true",
        help="(b) only: the cached scores read does not depend on the evaluation count",
    )
    args = parser.parse_args()

    ensure_database(DB_NAME, fresh=args.fresh)
    import django

    django.setup()
    import redis

    from touchpoints.models import Evaluation

    data = scored_journey(args.evaluations)
    print(f"Data: {data}", flush=True)
    target = ingest_target()
    bodies = batch_bodies(target, 40)
    reader = api_token(_member_of(data["organization_id"]), "api bench")
    writer = api_token(target.manager_id, "api bench")
    scores_path = f"/api/v1/journeys/{data['journey_id']}/scores/"
    journey_path = f"/api/v1/journeys/{data['journey_id']}/"
    broker = redis.Redis.from_url(BROKER)
    broker.flushdb()  # this bench's own Redis database: last run's recompute hints

    port = free_port()
    load_before = os.getloadavg()  # a shared machine: say how busy it was
    log_path = Path(tempfile.mkstemp(prefix="api-bench-gunicorn-", suffix=".log")[1])
    read_seconds = min(args.seconds, 10)
    with gunicorn(port, log_path, args.worker_class, database_url=DATABASE_URL, broker_url=BROKER):
        paths = [scores_path, PING_PATH, "/healthz", journey_path]
        for path in paths:
            # Warm both workers' caches and connections the same way for every endpoint.
            require(hammer(port, args.clients, 2, get(path, reader)), "200", path)
        reads = interleaved(port, args.clients, read_seconds, paths, reader)
        scores, ping, health = reads[scores_path], reads[PING_PATH], reads["/healthz"]
        journey = reads[journey_path]
        if args.reads_only:
            print_reads(scores, ping, health, journey)
            return

        before = Evaluation.objects.filter(organization_id=target.organization_id).count()
        ingest = hammer(port, args.clients, args.seconds, post_batches(bodies, writer))
        require(ingest, "201", "POST /api/v1/evaluations/")
        stored = Evaluation.objects.filter(organization_id=target.organization_id).count() - before
    broker.flushdb()
    # The floors, right after, on the same rows (the server is stopped: each has the
    # machine the API had, minus the HTTP clients).
    rows = prepared_rows(target, bodies)
    orm = orm_floor(rows, min(args.seconds, 10))
    copied = copy_floor(rows, min(args.seconds, 10))

    server = server_name(args.worker_class)
    created = ingest.statuses.get("201", 0)
    stored_per_second = stored / ingest.seconds
    ratio = scores.per_second / ping.per_second
    ratio_healthz = scores.per_second / health.per_second
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "server": server,
        "clients": args.clients,
        "read_rounds": READ_ROUNDS,
        **{f"data_{k}": v for k, v in data.items()},
        "a_ingest": {**ingest.summary(), "batch": BATCH, "evaluations_stored": stored},
        "a_evaluations_stored_per_second": round(stored_per_second),
        "b_scores": scores.summary(),
        "b_ping": ping.summary(),
        "b_healthz": health.summary(),
        "b_scores_over_ping": round(ratio, 2),
        "b_scores_over_healthz": round(ratio_healthz, 2),
        "b_journey_detail": journey.summary(),
        "b_floor": FLOOR,
        "b_ping_over_healthz": round(ping.per_second / health.per_second, 2),
        "c_orm_bulk_create": orm,
        "c_copy": copied,
        "c_api_over_orm_bulk_create": round(stored_per_second / orm["per_second"], 2),
        "c_api_over_copy": round(stored_per_second / copied["per_second"], 2),
        "goals": {
            "a_evaluations_per_second": ">= 2000",
            "b_scores_over_ping": ">= 0.5",
            "b_ping_over_healthz": ">= 0.5 (issue 18)",
            "b_scores_over_healthz": ">= 0.4 (issue 18)",
            "c_api_over_orm_bulk_create": ">= 0.5 (issue 18)",
        },
        "previous": PREVIOUS,
    }
    (RESULTS / "api.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"gunicorn log: {log_path}")
    if stored != created * BATCH:
        print(f"\nWARNING: {created} batches answered 201 but {stored:,} evaluations stored.")
    rows = [
        ("(a) bulk ingest, evaluations stored/s", f"{stored_per_second:,.0f}", ">= 2,000"),
        (
            "    POST p50 / p99 per 500",
            f"{ingest.percentile_ms(0.5):,.0f} / {ingest.percentile_ms(0.99):,.0f} ms",
            "",
        ),
        ("(b) GET journey scores, requests/s", f"{scores.per_second:,.0f}", ""),
        ("    p50 / p99", f"{scores.percentile_ms(0.5)} / {scores.percentile_ms(0.99)} ms", ""),
        ("    GET /api/v1/ping/, requests/s", f"{ping.per_second:,.0f}", ""),
        ("    scores / ping  (the goal)", f"{ratio:.2f}", ">= 0.5"),
        ("    GET /healthz, requests/s", f"{health.per_second:,.0f}", ""),
        ("    scores / healthz", f"{ratio_healthz:.2f}", ">= 0.4"),
        ("    ping / healthz", f"{results['b_ping_over_healthz']:.2f}", ">= 0.5"),
        ("    GET journey detail, requests/s", f"{journey.per_second:,.0f}", ""),
        ("(c) ORM bulk_create, evaluations/s", f"{orm['per_second']:,}", ""),
        ("    COPY (the physical limit)", f"{copied['per_second']:,}", ""),
        ("    API / bulk_create", f"{results['c_api_over_orm_bulk_create']:.2f}", ">= 0.5"),
        ("    API / COPY", f"{results['c_api_over_copy']:.2f}", ""),
    ]
    print(f"\n{server}, {args.clients} clients")
    print(f"{'figure':<42}{'measured':>22}{'goal':>12}")
    for name, measured, goal in rows:
        print(f"{name:<42}{measured:>22}{goal:>12}")
    print(f"\n(b) is judged against /api/v1/ping/: {FLOOR}")
    print(f"Before issue 18: {PREVIOUS}")
    print(
        f"Load average before / after: {results['load_average_before']} / "
        f"{results['load_average_after']}"
    )


def print_reads(scores: Phase, ping: Phase, health: Phase, journey: Phase) -> None:
    """(b) alone, printed and not written to the results (a partial run)."""
    for name, phase in [
        ("journey scores", scores),
        ("ping", ping),
        ("healthz", health),
        ("journey detail", journey),
    ]:
        print(f"{name:<16} {phase.per_second:>8,.0f}/s  p50 {phase.percentile_ms(0.5)} ms")
    print(
        f"scores / healthz {scores.per_second / health.per_second:.2f} (goal >= 0.4), "
        f"ping / healthz {ping.per_second / health.per_second:.2f} (goal >= 0.5), "
        f"scores / ping {scores.per_second / ping.per_second:.2f}; load {os.getloadavg()}"
    )


def _member_of(organization_id: object) -> int:
    """The generated organization's one member (an evaluator): reads need no more."""
    from accounts.models import Membership

    return Membership.objects.filter(organization_id=organization_id).values_list(
        "user_id", flat=True
    )[0]


if __name__ == "__main__":
    main()
