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
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Both overridable, so that people benchmarking side by side each keep their own.
DB_NAME = os.environ.get("BENCH_SCORING_DATABASE", "touchstone_bench")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
os.environ["CELERY_BROKER_URL"] = BROKER
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

JOURNEYS, STAGES, TOUCH_POINTS_PER_STAGE, CRITERIA = 4, 5, 10, 5
HOT_EVALUATIONS = 100_000
SOURCES = ["self_check", "supervisor", "mystery_shopper", "customer_survey", "audit"]
COPY_CHUNK = 20_000  # evaluations per COPY
# Numeric answers (say, seconds to answer): 100 at 20 or less, 0 at 120 or more. In
# between only multiples of 6.25 from the target, so every answer score is a multiple of
# 6.25 too: weighted sums of those are exact in any order, and the scores generated here
# can be compared with the SQL's for equality, not within a tolerance.
NUMERIC_TARGET, NUMERIC_WORST = 20.0, 120.0
NUMERIC_VALUES = [
    *(float(v) for v in range(0, 20, 4)),
    *(NUMERIC_TARGET + 6.25 * k for k in range(17)),
    *(float(v) for v in range(125, 151, 5)),
]


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
    """Structure through the ORM (small), evaluations and answers through COPY with their
    scores, day rollups by the production SQL. The journey shape defaults to this bench's;
    the API bench asks for one journey of 60.

    Scores are computed here by scoring.formulas while the rows are made and COPYed with
    them: deriving them afterwards with UPDATEs rewrote every row and every index entry
    once more (16 minutes at 1M). check_generated_scores then holds a sample of them
    against the SQL that submit_evaluations uses."""
    from django.db import connection, transaction

    from accounts.models import Membership, Organization, Role, User
    from journeys.models import Journey, Stage
    from scoring import formulas, sql
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
        rubrics: dict[int, list[tuple[int, int, formulas.Rubric]]] = {}
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
                    target_value=NUMERIC_TARGET if kind == "numeric" else None,
                    worst_value=NUMERIC_WORST if kind == "numeric" else None,
                    weight=rng.choice([1, 1, 2, 3]),
                    critical=(c == 3 and rng.random() < 0.2),
                )
                criterion.current_version = version
                criterion.save(update_fields=["current_version"])
                rubric = formulas.Rubric(
                    kind=kind,
                    weight=version.weight,
                    critical=version.critical,
                    target=version.target_value,
                    worst=version.worst_value,
                )
                rubrics.setdefault(tp.pk, []).append((criterion.pk, version.pk, rubric))

    hot = tps[0]
    # The hot touch point gets about HOT_EVALUATIONS, the others share the rest evenly.
    weights = [HOT_EVALUATIONS] + [(total - HOT_EVALUATIONS) / (len(tps) - 1)] * (len(tps) - 1)
    cum_weights = list(itertools.accumulate(weights))
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM touchpoints_evaluation")
        first_eval = cursor.fetchone()[0] + 1
        cursor.execute("SELECT coalesce(max(id), 0) FROM touchpoints_answer")
        first_answer = cursor.fetchone()[0] + 1
    quality = {tp.pk: rng.uniform(0.3, 0.95) for tp in tps}
    answer_scores: dict[tuple[int, float], float | None] = {}  # (version, value): few distinct

    def rows() -> Iterator[tuple[tuple[object, ...], list[tuple[object, ...]]]]:
        """(evaluation row, its answer rows), ids assigned in order, scores included."""
        eval_id, answer_id = first_eval, first_answer
        # As the product stores them: in the order they arrive, which is roughly the order
        # they were observed in, touch points mixed. (Made touch point by touch point, the
        # table came out clustered by touch point, and the planner read one touch point's
        # rows from a few contiguous pages, which no real table offers.)
        start, step = now - timedelta(days=120), timedelta(days=120) / total
        for i in range(total):
            tp = rng.choices(tps, cum_weights=cum_weights)[0]
            q = quality[tp.pk]
            observed = start + i * step - timedelta(seconds=rng.randint(60, 3600))
            given = []
            answers = []
            for criterion_id, version_id, rubric in rubrics[tp.pk]:
                if rubric.kind == "scale":
                    value = float(
                        min(5, max(1, round(1 + 4 * rng.betavariate(q * 5, (1 - q) * 5))))
                    )
                elif rubric.kind == "yes_no":
                    value = 1.0 if rng.random() < q else 0.0
                else:
                    value = rng.choice(NUMERIC_VALUES)
                key = (version_id, value)
                if key not in answer_scores:
                    answer_scores[key] = formulas.answer_score(rubric, value)
                given.append((rubric, value))
                answers.append(
                    (answer_id, eval_id, criterion_id, version_id, value, answer_scores[key])
                )
                answer_id += 1
            evaluation = (
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
                formulas.evaluation_score(given),
            )
            yield evaluation, answers
            eval_id += 1

    started = time.perf_counter()
    made = answers_made = 0
    raw = connection.connection  # the psycopg connection under Django's
    with transaction.atomic(), raw.cursor() as cur:
        # Bulk-load technique: the generated rows reference rows we just made, so skip the
        # per-row foreign-key triggers for this transaction only.
        cur.execute("SET LOCAL session_replication_role = replica")
        generated = rows()
        while chunk := list(itertools.islice(generated, COPY_CHUNK)):
            # One COPY per table per chunk: the rows of a chunk are all the memory held.
            with cur.copy(
                "COPY touchpoints_evaluation (id, organization_id, journey_id, touch_point_id, "
                "evaluator_id, source, site_id, observed_at, submitted_at, comment, client_key, "
                "rubric_version, score) FROM STDIN"
            ) as copy:
                for evaluation, _ in chunk:
                    copy.write_row(evaluation)
            with cur.copy(
                "COPY touchpoints_answer "
                "(id, evaluation_id, criterion_id, criterion_version_id, value, score) FROM STDIN"
            ) as copy:
                for _, answers in chunk:
                    for answer in answers:
                        copy.write_row(answer)
                    answers_made += len(answers)
            made += len(chunk)
            if made % (COPY_CHUNK * 25) == 0:
                elapsed = time.perf_counter() - started
                print(f"  {made:,} evaluations in {elapsed:.0f} s", flush=True)
        cur.execute("SELECT setval('touchpoints_evaluation_id_seq', %s)", [first_eval + made])
        cur.execute("SELECT setval('touchpoints_answer_id_seq', %s)", [first_answer + answers_made])
    copy_seconds = time.perf_counter() - started

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE touchpoints_evaluation")
        cursor.execute("ANALYZE touchpoints_answer")
    # The day rollups, built by the production SQL from the stored scores.
    started = time.perf_counter()
    with transaction.atomic():
        sql.roll_up("e.organization_id = %s", [org.pk])
    rollup_seconds = time.perf_counter() - started
    started = time.perf_counter()
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
        "hot_touch_point_evaluations": TouchPoint.objects.get(pk=hot.pk).evaluations.count(),
        "evaluations": made,
        "answers": answers_made,
        "first_evaluation_id": first_eval,
        "copy_seconds": round(copy_seconds, 1),
        "rollup_seconds": round(rollup_seconds, 1),
        "vacuum_seconds": round(time.perf_counter() - started, 1),
    }


def check_generated_scores(data: dict[str, object], sample: int = 300) -> None:
    """Hold the generated scores of `sample` random evaluations (and their answers) against
    the SQL that submit_evaluations derives them with (scoring.sql.score_evaluations), run
    in a transaction that is rolled back. Any difference stops the bench: figures measured
    on data the product would have scored otherwise would mean nothing."""
    from django.db import connection, transaction

    from scoring import sql

    first, count = data["first_evaluation_id"], data["evaluations"]
    assert isinstance(first, int) and isinstance(count, int)  # noqa: S101  (JSON shape)
    ids = sorted(random.Random().sample(range(first, first + count), sample))

    def scores() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, score FROM touchpoints_evaluation WHERE id = ANY(%s) ORDER BY id",
                [ids],
            )
            evaluations = cursor.fetchall()
            cursor.execute(
                "SELECT id, score FROM touchpoints_answer WHERE evaluation_id = ANY(%s) "
                "ORDER BY id",
                [ids],
            )
            return evaluations, cursor.fetchall()

    with transaction.atomic():
        generated = scores()
        sql.score_evaluations(ids)
        production = scores()
        transaction.set_rollback(True)
    wrong = [
        (mine, theirs)
        for kind in (0, 1)
        for mine, theirs in zip(generated[kind], production[kind], strict=True)
        if mine != theirs
    ]
    if wrong or len(generated[0]) != sample:
        sys.exit(
            f"Generated scores differ from the production SQL's for {len(wrong)} rows "
            f"(generated, production), e.g. {wrong[:5]}: fix the generator before measuring."
        )
    print(
        f"Scores of {sample} random evaluations and their {len(generated[1])} answers: "
        "identical to the production SQL's.",
        flush=True,
    )


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
    parser.add_argument(
        "--generate-only", action="store_true", help="make the data, measure nothing"
    )
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
        check_generated_scores(data)
        marker.write_text(json.dumps(data))
    print(f"Data: {data}", flush=True)
    if args.generate_only:
        return
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
