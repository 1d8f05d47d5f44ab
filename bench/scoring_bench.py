"""Scoring benchmark (issue: scoring engine).

Generates 1,000,000 evaluations with 5,000,000 answers over 200 touch points with COPY
in its own database (touchstone_bench), then measures in the same run:
  (a) the floor: one plain SQL GROUP BY touch point averaging answers;
  (b) the full recompute of all snapshots;
  (c) the recompute of one touch point holding 100,000 evaluations;
  (d) the peak memory (VmHWM) of a real Celery worker doing the full recompute.
Goals: (b) within 3x of (a); (c) under 100 ms; (d) under 250 MB.

Usage: python bench/scoring_bench.py [--evaluations N] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "touchstone_bench"
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
os.environ["CELERY_BROKER_URL"] = BROKER
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

JOURNEYS, STAGES, TOUCH_POINTS_PER_STAGE, CRITERIA = 4, 5, 10, 5
HOT_EVALUATIONS = 100_000
SOURCES = ["self_check", "supervisor", "mystery_shopper", "customer_survey", "audit"]


def ensure_database() -> None:
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, check=True
    )


def timed(fn, repeat: int = 1) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def generate(
    total: int,
    *,
    journeys: int = JOURNEYS,
    stages: int = STAGES,
    touch_points_per_stage: int = TOUCH_POINTS_PER_STAGE,
) -> dict[str, object]:
    """Structure through the ORM (small), evaluations and answers through COPY. The
    journey shape defaults to this bench's; the API bench asks for one journey of 60."""
    from django.db import connection, transaction

    from accounts.models import Membership, Organization, Role, User
    from journeys.models import Journey, Stage
    from scoring import sql
    from touchpoints.models import Criterion, CriterionVersion, TouchPoint

    rng = random.Random(1)
    with transaction.atomic():
        org = Organization.objects.create(name="Bench", slug=f"bench-{int(time.time())}")
        user = User.objects.create_user(email=f"bench{org.pk}@bench.test")
        Membership.objects.create(user=user, organization=org, role=Role.EVALUATOR)
        tps: list[TouchPoint] = []
        for j in range(journeys):
            journey = Journey.objects.create(organization=org, name=f"Journey {j}", status="active")
            for s in range(stages):
                stage = Stage.objects.create(
                    organization=org, journey=journey, name=f"S{s}", position=s
                )
                tps.extend(
                    TouchPoint.objects.create(
                        organization=org,
                        journey=journey,
                        stage=stage,
                        name=f"TP {j}.{s}.{t}",
                        position=t,
                        importance=rng.randint(1, 5),
                    )
                    for t in range(touch_points_per_stage)
                )
        versions: dict[int, list[tuple[int, int, str]]] = {}
        for tp in tps:
            for c in range(CRITERIA):
                criterion = Criterion.objects.create(
                    organization=org, touch_point=tp, name=f"C{c}", position=c
                )
                kind = ["scale", "scale", "scale", "yes_no", "numeric"][c]
                version = CriterionVersion.objects.create(
                    criterion=criterion,
                    number=1,
                    kind=kind,
                    scale_size=5 if kind == "scale" else None,
                    target_value=20 if kind == "numeric" else None,
                    worst_value=120 if kind == "numeric" else None,
                    weight=rng.choice([1, 1, 2, 3]),
                    critical=(c == 3 and rng.random() < 0.2),
                )
                criterion.current_version = version
                criterion.save(update_fields=["current_version"])
                versions.setdefault(tp.pk, []).append((criterion.pk, version.pk, kind))

    hot = tps[0]
    rest = tps[1:]
    per_rest = (total - HOT_EVALUATIONS) // len(rest)
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM touchpoints_evaluation")
        first_eval = cursor.fetchone()[0] + 1
        cursor.execute("SELECT coalesce(max(id), 0) FROM touchpoints_answer")
        answer_id = cursor.fetchone()[0] + 1
    quality = {tp.pk: rng.uniform(0.3, 0.95) for tp in tps}

    started = time.perf_counter()
    eval_id = first_eval
    raw = connection.connection  # the psycopg connection under Django's
    with transaction.atomic(), raw.cursor() as cur:
        # Bulk-load technique: the generated rows reference rows we just made, so skip the
        # per-row foreign-key triggers for this transaction only.
        cur.execute("SET LOCAL session_replication_role = replica")
        with cur.copy(
            "COPY touchpoints_evaluation (id, organization_id, journey_id, touch_point_id, "
            "evaluator_id, source, site_id, observed_at, submitted_at, comment, client_key, "
            "rubric_version) FROM STDIN"
        ) as copy_e:
            plan = [(hot, HOT_EVALUATIONS)] + [(tp, per_rest) for tp in rest]
            answers_plan = []
            for tp, count in plan:
                for _ in range(count):
                    observed = now - timedelta(seconds=rng.randint(60, 120 * 86400))
                    copy_e.write_row(
                        (
                            eval_id,
                            org.pk,
                            tp.journey_id,
                            tp.pk,
                            user.pk,
                            rng.choice(SOURCES),
                            None,
                            observed,
                            observed + timedelta(minutes=5),
                            "",
                            None,
                            1,
                        )
                    )
                    answers_plan.append((eval_id, tp.pk))
                    eval_id += 1
        with cur.copy(
            "COPY touchpoints_answer (id, evaluation_id, criterion_id, criterion_version_id, value) "
            "FROM STDIN"
        ) as copy_a:
            for evaluation_id, tp_id in answers_plan:
                q = quality[tp_id]
                for criterion_id, version_id, kind in versions[tp_id]:
                    if kind == "scale":
                        value = float(
                            min(5, max(1, round(1 + 4 * rng.betavariate(q * 5, (1 - q) * 5))))
                        )
                    elif kind == "yes_no":
                        value = 1.0 if rng.random() < q else 0.0
                    else:
                        value = float(rng.randint(0, 150))
                    copy_a.write_row((answer_id, evaluation_id, criterion_id, version_id, value))
                    answer_id += 1
        cur.execute("SELECT setval('touchpoints_evaluation_id_seq', %s)", [eval_id])
        cur.execute("SELECT setval('touchpoints_answer_id_seq', %s)", [answer_id])
    copy_seconds = time.perf_counter() - started

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE touchpoints_evaluation")
        cursor.execute("ANALYZE touchpoints_answer")
    # Answer and evaluation scores and the day rollups, derived by the production SQL.
    started = time.perf_counter()
    with transaction.atomic():
        for journey_id in sorted({tp.journey_id for tp in tps}):
            sql.rescore_journey(journey_id)
    rescore_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        for table in (
            "touchpoints_evaluation",
            "touchpoints_answer",
            "scoring_dayrollup",
            "scoring_criteriondayrollup",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {
        "organization_id": org.pk,
        "hot_touch_point_id": hot.pk,
        "evaluations": eval_id - first_eval,
        "answers": answer_id - 1,
        "copy_seconds": round(copy_seconds, 1),
        "derive_scores_seconds": round(rescore_seconds, 1),
    }


def worker_peak_memory(organization_id: int) -> float:
    """Run the full recompute in a real Celery worker; return its peak RSS in MB."""
    from scoring import tasks
    from scoring.models import JourneyScore

    env = {**os.environ, "LOG_JSON": "false"}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "config",
            "worker",
            "-Q",
            "scoring",
            "--concurrency",
            "1",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        time.sleep(4)
        child = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        started = datetime.now(UTC)
        tasks.recompute_all.delay(organization_id)
        expected = JourneyScore.objects.filter(organization_id=organization_id).count()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = JourneyScore.objects.filter(
                organization_id=organization_id, computed_at__gte=started
            ).count()
            if done >= expected:
                break
            time.sleep(0.5)
        peaks = []
        for pid in [str(proc.pid), *child]:
            status = Path(f"/proc/{pid}/status").read_text()
            peaks.append(
                int(
                    next(
                        line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")
                    )
                )
            )
        return max(peaks) / 1024
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluations", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="drop and regenerate the data")
    args = parser.parse_args()

    if args.fresh:
        import psycopg

        with psycopg.connect(
            "postgres://postgres@127.0.0.1:5432/postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    ensure_database()
    import django

    django.setup()
    from django.db import connection

    from scoring import services
    from scoring.models import StaleMark
    from touchpoints.models import Evaluation

    marker = ROOT / "bench" / "results" / f".scoring-data-{args.evaluations}.json"
    data = json.loads(marker.read_text()) if marker.exists() else None
    if (
        data is None
        or Evaluation.objects.filter(organization_id=data["organization_id"]).count()
        != data["evaluations"]
    ):
        print(f"Generating {args.evaluations:,} evaluations with COPY...", flush=True)
        data = generate(args.evaluations)
        marker.write_text(json.dumps(data))
    print(f"Data: {data}", flush=True)
    org_id = data["organization_id"]

    def floor() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT e.touch_point_id, avg(a.value) FROM touchpoints_answer a "
                "JOIN touchpoints_evaluation e ON e.id = a.evaluation_id "
                "WHERE e.organization_id = %s GROUP BY e.touch_point_id",
                [org_id],
            )
            cursor.fetchall()

    floor()  # warm the cache the same way for both
    floor_times = timed(floor, 3)
    full_times = timed(lambda: services.recompute_all(organization_id=org_id), 3)

    hot = data["hot_touch_point_id"]

    def one() -> None:
        StaleMark.objects.create(touch_point_id=hot)
        services.recompute_touch_point(hot)

    one()
    one_times = timed(one, 7)
    peak_mb = worker_peak_memory(org_id)

    a, b, c = (
        statistics.median(floor_times),
        statistics.median(full_times),
        statistics.median(one_times),
    )
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        **data,
        "a_floor_group_by_seconds": round(a, 3),
        "b_full_recompute_seconds": round(b, 3),
        "b_over_a": round(b / a, 2),
        "c_one_touch_point_100k_ms": round(c * 1000, 1),
        "d_worker_peak_mb": round(peak_mb, 1),
        "goals": {"b_over_a": "<= 3", "c_ms": "< 100", "d_mb": "< 250"},
    }
    out = ROOT / "bench" / "results" / "scoring.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(
        f"\n(a) floor GROUP BY: {a:.3f} s   (b) full recompute: {b:.3f} s = {b / a:.2f}x floor (goal <= 3x)"
        f"\n(c) one touch point with 100k evaluations: {c * 1000:.1f} ms (goal < 100 ms)"
        f"\n(d) worker peak memory: {peak_mb:.0f} MB (goal < 250 MB)"
    )


if __name__ == "__main__":
    main()
