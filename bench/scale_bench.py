"""Scale benchmark (issue: scale plan, measured): the same figures at 1M and at 10M evaluations.

Each size has its own database (touchstone_bench_1m, touchstone_bench_10m), generated once
by scoring_bench.generate (COPY with the scores computed on the way, a sample checked
against the production SQL) and found again through a data marker; --fresh regenerates.
On it, in one run:
  (a) full recompute of every journey's snapshots (s, median of 3);
  (b) recompute of one touch point holding 100,000 evaluations (ms, median of 7);
  (c) GET /api/v1/journeys/{id}/scores/ against GET /api/v1/ping/ (req/s, interleaved) and
      (d) bulk ingest, 500 evaluations a request, into this big database (evaluations/s):
      gunicorn 2 gthread workers, DEBUG off, as the API bench runs it;
  (e) database size: evaluations and answers with their indexes, rollups, the whole
      database, and per million evaluations;
  (f) EXPLAIN (ANALYZE, BUFFERS) of the SQL the hot paths send, captured as they run:
      a touch point's recompute, on-demand scores with since/until, the evaluation list
      filtered by touch point and observed_at (and unfiltered), the stale sweep. Plans go
      to bench/results/explain-<size>.txt, the index each uses to scale.json.
The load average is recorded before and after each measurement: the machine is shared.
Results: bench/results/scale.json, one entry per size.

Usage: python bench/scale_bench.py [--size 1m|10m|N] [--fresh] [--generate-only]
                                   [--seconds S] [--clients N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import api_bench  # sets the other benches' environment; main() replaces it with ours
import harness
import scoring_bench

from scoring.sql import ROLLUP_TABLES  # on the path once scoring_bench is imported

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# Redis database 13, as the API bench: nothing consumes the recompute hints the ingest
# queues; both benches empty it before and after. Never the scoring bench's (14), whose
# worker would take hints naming touch points of another database.
BROKER = os.environ.get("BENCH_SCALE_BROKER_URL", "redis://127.0.0.1:6379/13")
# Tables whose plans matter: they grow with the evaluations.
# How a plan names the index a node reads: "Index [Only] Scan [Backward] using x", "Bitmap
# Index Scan on x".
INDEX_USE = r"(?:Index (?:Only )?Scan (?:Backward )?using|Bitmap Index Scan on) (\w+)"
BIG = ("touchpoints_evaluation", "touchpoints_answer", *ROLLUP_TABLES)


def parse_size(text: str) -> tuple[str, int]:
    """'1m' -> ('1m', 1_000_000); '250k' and plain numbers too."""
    match = re.fullmatch(r"(\d+)([km]?)", text.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: give a size like 1m, 10m or 250k")
    number, unit = int(match[1]), match[2]
    total = number * {"": 1, "k": 1_000, "m": 1_000_000}[unit]
    if total <= scoring_bench.HOT_EVALUATIONS:
        raise argparse.ArgumentTypeError(f"{text!r}: more than {scoring_bench.HOT_EVALUATIONS:,}")
    return f"{number}{unit}", total


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measured(figures: dict[str, Any], name: str, fn: Callable[[], Any]) -> Any:
    """Run fn, recording the load average before and after it under figures['load'][name]."""
    before = load()
    print(f"{name}: load average {before} ...", flush=True)
    result = fn()
    figures.setdefault("load_average", {})[name] = {"before": before, "after": load()}
    return result


def median_seconds(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# --- Data --------------------------------------------------------------------------------------


def data_for(label: str, total: int) -> dict[str, Any]:
    """The generated organization of this size's database, made if missing."""
    from scoring import services
    from touchpoints.models import Evaluation

    # Named to fall under .gitignore's bench/results/.scoring-data-*.json.
    marker = RESULTS / f".scoring-data-scale-{label}.json"
    data = json.loads(marker.read_text()) if marker.exists() else None
    if (
        data is not None
        and Evaluation.objects.filter(organization_id=data["organization_id"]).count()
        == data["evaluations"]
    ):
        return data  # type: ignore[no-any-return]
    print(f"Generating {total:,} evaluations with COPY...", flush=True)
    data = scoring_bench.generate(total)
    scoring_bench.check_generated_scores(data)
    started = time.perf_counter()
    services.recompute_all(organization_id=data["organization_id"])
    data["snapshot_seconds"] = round(time.perf_counter() - started, 1)
    marker.write_text(json.dumps(data))
    return data


def sizes() -> dict[str, Any]:
    """What the evaluations cost on disk: tables, indexes, per million evaluations."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM touchpoints_evaluation")
        evaluations = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM touchpoints_answer")
        answers = cursor.fetchone()[0]
        tables = {}
        for table in BIG:
            cursor.execute(
                "SELECT pg_relation_size(%s), pg_indexes_size(%s), pg_total_relation_size(%s)",
                [table, table, table],
            )
            heap, indexes, total = cursor.fetchone()
            tables[table] = {"heap_mb": mb(heap), "indexes_mb": mb(indexes), "total_mb": mb(total)}
        cursor.execute(
            "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
            "WHERE relname IN ('touchpoints_evaluation', 'touchpoints_answer') "
            "ORDER BY relname, indexrelname"
        )
        index_sizes = {name: mb(size) for name, size in cursor.fetchall()}
        cursor.execute("SELECT pg_database_size(current_database())")
        database = cursor.fetchone()[0]
    both = sum(tables[t]["total_mb"] for t in BIG[:2])
    millions = evaluations / 1_000_000
    return {
        "evaluations": evaluations,
        "answers": answers,
        "tables": tables,
        "indexes": index_sizes,
        "evaluations_and_answers_mb": round(both, 1),
        "database_mb": mb(database),
        "evaluations_and_answers_mb_per_million": round(both / millions, 1),
        "database_mb_per_million": round(mb(database) / millions, 1),
    }


def mb(size: int) -> float:
    return round(size / 2**20, 1)


# --- Query plans -------------------------------------------------------------------------------


def explain_hot_paths(data: dict[str, Any], token: str, out: Path) -> dict[str, Any]:
    """Run each hot path once with its queries captured, then EXPLAIN (ANALYZE, BUFFERS)
    every captured SELECT that reads a table growing with the evaluations (the sweep's
    are all shown). Returns per path: its time and, per query, the indexes it used and
    any sequential scan of a big table."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from journeys.models import Journey
    from scoring import selectors, services
    from scoring.models import StaleMark
    from touchpoints.models import TouchPoint

    hot = TouchPoint.objects.get(pk=data["hot_touch_point_id"])
    journey = Journey.objects.select_related("organization").get(pk=hot.journey_id)
    now = datetime.now(UTC)
    # Not on midnights: the partial days at both ends are read from the evaluations.
    since, until = now - timedelta(days=30, hours=5), now - timedelta(hours=3)
    week = (
        f"observed_after={(now - timedelta(days=7)).isoformat()}&observed_before={now.isoformat()}"
    )
    client = Client(SERVER_NAME="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")

    def recompute() -> None:
        StaleMark.objects.create(touch_point_id=hot.pk)
        services.recompute_touch_point(hot.pk)

    def get(path: str) -> Callable[[], None]:
        def call() -> None:
            response = client.get(path.replace("+", "%2B"))
            if response.status_code != 200:
                sys.exit(f"GET {path} answered {response.status_code}: nothing measured.")

        return call

    paths: list[tuple[str, Callable[[], Any], bool]] = [
        ("recompute of one touch point (100k evaluations)", recompute, False),
        (
            "on-demand journey scores, since/until 30 days off midnight",
            lambda: selectors.journey_scores(
                journey, window=selectors.Period(since=since, until=until)
            ),
            False,
        ),
        (
            "evaluation list: touch point + observed_at, 7 days (API, first page)",
            get(f"/api/v1/evaluations/?touch_point={hot.pk}&{week}"),
            False,
        ),
        ("evaluation list, unfiltered (API, first page)", get("/api/v1/evaluations/"), False),
        ("stale sweep", services.sweep_stale, True),
    ]
    report: dict[str, Any] = {}
    lines = [f"EXPLAIN (ANALYZE, BUFFERS) of the hot paths, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"]
    for name, call, every in paths:
        call()  # warm: the first call pays for caches and connections
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            call()
            took = time.perf_counter() - started
        queries = []
        lines.append(f"\n{'=' * 100}\n{name}: {took * 1000:.1f} ms, {len(captured)} queries")
        for query in captured.captured_queries:
            text = query["sql"]
            if not text.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            if not every and not any(table in text for table in BIG):
                continue
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
            queries.append(
                {
                    "sql": " ".join(text.split())[:160],
                    "execution_ms": float(re.findall(r"Execution Time: ([\d.]+) ms", plan)[-1]),
                    "indexes": sorted(set(re.findall(INDEX_USE, plan))),
                    "seq_scans_of_big_tables": sorted(
                        set(re.findall(r"Seq Scan on (\w+)", plan)) & set(BIG)
                    ),
                }
            )
            lines.append(f"\n--- {text}\n{plan}")
        report[name] = {"ms": round(took * 1000, 1), "queries": queries}
    out.write_text("\n".join(lines) + "\n")
    return report


# --- API ---------------------------------------------------------------------------------------


def measure_api(
    data: dict[str, Any], database_url: str, reader: str, *, seconds: float, clients: int
) -> dict[str, Any]:
    """The scores read next to the ping floor, then bulk ingest, on this database."""
    import redis

    from touchpoints.models import Evaluation, TouchPoint

    target = api_bench.ingest_target()
    bodies = api_bench.batch_bodies(target, 40)
    writer = harness.api_token(target.manager_id, "scale bench")
    journey_id = TouchPoint.objects.get(pk=data["hot_touch_point_id"]).journey_id
    scores_path = f"/api/v1/journeys/{journey_id}/scores/"
    paths = [scores_path, api_bench.PING_PATH]
    broker = redis.Redis.from_url(BROKER)
    broker.flushdb()
    port = harness.free_port()
    log_path = Path(tempfile.mkstemp(prefix="scale-bench-gunicorn-", suffix=".log")[1])
    figures: dict[str, Any] = {"server": harness.server_name("gthread"), "clients": clients}
    with harness.gunicorn(port, log_path, "gthread", database_url=database_url, broker_url=BROKER):
        for path in paths:
            api_bench.require(
                api_bench.hammer(port, clients, 2, api_bench.get(path, reader)), "200", path
            )
        reads = measured(
            figures,
            "reads",
            lambda: api_bench.interleaved(port, clients, min(seconds, 10), paths, reader),
        )
        before = Evaluation.objects.filter(organization_id=target.organization_id).count()
        ingest = measured(
            figures,
            "ingest",
            lambda: api_bench.hammer(
                port, clients, seconds, api_bench.post_batches(bodies, writer)
            ),
        )
        api_bench.require(ingest, "201", "POST /api/v1/evaluations/")
        stored = Evaluation.objects.filter(organization_id=target.organization_id).count() - before
    broker.flushdb()
    forget_ingest(target.organization_id)
    scores, ping = reads[scores_path], reads[api_bench.PING_PATH]
    figures.update(
        scores=scores.summary(),
        ping=ping.summary(),
        scores_per_second=round(scores.per_second, 1),
        ping_per_second=round(ping.per_second, 1),
        scores_over_ping=round(scores.per_second / ping.per_second, 2),
        ingest={**ingest.summary(), "batch": api_bench.BATCH, "evaluations_stored": stored},
        ingest_evaluations_per_second=round(stored / ingest.seconds),
    )
    return figures


def forget_ingest(organization_id: int) -> None:
    """Delete what the ingest stored, so the database keeps its size from run to run."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM touchpoints_answer a USING touchpoints_evaluation e "
            "WHERE e.id = a.evaluation_id AND e.organization_id = %s",
            [organization_id],
        )
        cursor.execute(
            "DELETE FROM touchpoints_evaluation WHERE organization_id = %s", [organization_id]
        )
        for table in (*ROLLUP_TABLES, "scoring_stalemark"):
            cursor.execute(
                f"DELETE FROM {table} WHERE touch_point_id IN "  # noqa: S608  (constant names)
                "(SELECT id FROM touchpoints_touchpoint WHERE organization_id = %s)",
                [organization_id],
            )
    # Autovacuum may be off (it is on this project's machine): make the space reusable by the
    # next run's ingest, so the database does not grow by a run's worth each time.
    with connection.cursor() as cursor:
        for table in ("touchpoints_answer", "touchpoints_evaluation", *BIG[2:]):
            cursor.execute(f"VACUUM ANALYZE {table}")


# --- Main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=parse_size, default=parse_size("1m"))
    parser.add_argument("--fresh", action="store_true", help="drop this size's database first")
    parser.add_argument(
        "--generate-only", action="store_true", help="make the data, measure nothing"
    )
    parser.add_argument("--seconds", type=float, default=20, help="length of the ingest phase")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    args = parser.parse_args()
    label, total = args.size

    db_name = f"touchstone_bench_{label}"
    database_url = harness.database_url(db_name)
    os.environ["DATABASE_URL"] = database_url
    os.environ["CELERY_BROKER_URL"] = BROKER
    os.environ["REDIS_URL"] = BROKER
    print(f"Disk before: {disk()}", flush=True)
    harness.ensure_database(db_name, fresh=args.fresh)
    import django

    django.setup()
    from scoring import services
    from scoring.models import StaleMark

    data = data_for(label, total)
    print(f"Data: {data}\nDisk after: {disk()}", flush=True)
    if args.generate_only:
        return
    scoring_bench.check_generated_scores(data)
    org_id, hot = data["organization_id"], data["hot_touch_point_id"]
    figures: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "database": db_name,
        "data": data,
    }
    figures["size"] = measured(figures, "size", sizes)
    print(json.dumps(figures["size"], indent=2), flush=True)

    full = measured(
        figures,
        "full_recompute",
        lambda: median_seconds(lambda: services.recompute_all(organization_id=org_id), 3),
    )
    figures["full_recompute_seconds"] = round(full, 2)
    figures["journeys"] = services.recompute_all(organization_id=org_id)

    def one() -> None:
        StaleMark.objects.create(touch_point_id=hot)
        services.recompute_touch_point(hot)

    one()
    single = measured(figures, "one_touch_point", lambda: median_seconds(one, 7))
    figures["one_touch_point_recompute_ms"] = round(single * 1000, 1)
    print(f"full recompute {full:.2f} s, one touch point {single * 1000:.1f} ms", flush=True)

    reader = harness.api_token(member_of(org_id), "scale bench")
    explain_file = RESULTS / f"explain-{label}.txt"
    figures["explain_file"] = str(explain_file.relative_to(ROOT))
    figures["hot_paths"] = measured(
        figures, "explain", lambda: explain_hot_paths(data, reader, explain_file)
    )
    figures["api"] = measure_api(
        data, database_url, reader, seconds=args.seconds, clients=args.clients
    )

    out = RESULTS / "scale.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    results[label] = figures
    out.write_text(json.dumps(results, indent=2) + "\n")
    api, size = figures["api"], figures["size"]
    rows = [
        ("evaluations / answers", f"{size['evaluations']:,} / {size['answers']:,}"),
        ("full recompute, s", f"{full:.2f}"),
        ("one touch point (100k evaluations), ms", f"{single * 1000:.1f}"),
        ("ingest through the API, evaluations/s", f"{api['ingest_evaluations_per_second']:,}"),
        ("scores endpoint, req/s", f"{api['scores_per_second']:,}"),
        ("  over /api/v1/ping/", f"{api['scores_over_ping']}"),
        (
            "evaluations + answers, MB per million",
            f"{size['evaluations_and_answers_mb_per_million']:,}",
        ),
        ("whole database, MB per million", f"{size['database_mb_per_million']:,}"),
    ]
    print(f"\nScale bench at {label} ({db_name}); plans in {figures['explain_file']}")
    for name, value in rows:
        print(f"{name:<44}{value:>24}")
    for name, path in figures["hot_paths"].items():
        used = sorted({i for q in path["queries"] for i in q["indexes"]})
        seq = sorted({t for q in path["queries"] for t in q["seq_scans_of_big_tables"]})
        print(f"  {name}: {path['ms']} ms; indexes {used}" + (f"; SEQ SCAN {seq}" if seq else ""))
    print(f"Load averages: {json.dumps(figures['load_average'])}")


def member_of(organization_id: int) -> int:
    """The generated organization's one member (an evaluator): reads need no more."""
    from accounts.models import Membership

    return Membership.objects.filter(organization_id=organization_id).values_list(
        "user_id", flat=True
    )[0]


def disk() -> str:
    stat = os.statvfs(ROOT)
    return f"{stat.f_bavail * stat.f_frsize / 2**30:.1f} GB free on {ROOT}"


if __name__ == "__main__":
    main()
