"""Scoring benchmark (issues: scoring engine; 18 item 4, recompute at the limit).

Generates 1,000,000 evaluations with 5,000,000 answers over 200 touch points with COPY
in its own database (touchstone_bench, or $BENCH_SCORING_DATABASE), then measures in the
same run:
  (a) the floor: one plain SQL GROUP BY touch point averaging answers;
  (b) the full recompute of all snapshots;
  (c) the recompute of one stale touch point holding 100,000 evaluations, by the
      per-touch-point path the worker takes (services.recompute_touch_points), and for
      comparison its journey from scratch (what every stale touch point cost before);
  (d) the peak memory (VmHWM) of a real Celery worker doing the full recompute.
Goals: (b) <= 1.0x (a); (c) under 30 ms; (d) under 250 MB. Each figure is printed beside
its goal and the previous run's (bench/results/scoring.json, which this run replaces).
Beside the wall clock, the CPU time of this process and its PostgreSQL backend (the floor's
on one core), and EXPLAIN (ANALYZE, BUFFERS) of every SELECT of (c)
(bench/results/explain-scoring.txt): both independent of the machine's load.

Usage: python bench/scoring_bench.py [--evaluations N] [--fresh] [--generate-only]
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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
        for table in ("touchpoints_evaluation", "touchpoints_answer", *sql.ROLLUP_TABLES):
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
    the SQL that submit_evaluations derives them with (touchpoints.answer_scores), run
    in a transaction that is rolled back. Any difference stops the bench: figures measured
    on data the product would have scored otherwise would mean nothing."""
    from django.db import connection, transaction

    from touchpoints import answer_scores

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
        answer_scores.score_evaluations(ids)
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
    from touchpoints.models import Evaluation, TouchPoint

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
            cursor.execute(FLOOR_SQL, [org_id])
            cursor.fetchall()

    def serial_floor() -> None:
        """The floor on one core: what its CPU time is compared with (the recompute's
        queries run on one core too; a parallel scan spreads the floor's)."""
        with connection.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")
        try:
            floor()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET max_parallel_workers_per_gather")

    hot = data["hot_touch_point_id"]

    def one() -> None:
        StaleMark.objects.create(touch_point_id=hot)
        result = services.recompute_touch_points([hot])
        assert result.touch_points == [hot], result  # noqa: S101  (the per-touch-point path)

    hot_journey = TouchPoint.objects.get(pk=hot).journey_id
    cpu = Cpu(connection)
    loads: dict[str, dict[str, list[float]]] = {}

    backend_ms: dict[str, float] = {}

    def measure(name: str, fn: Callable[[], None], repeat: int) -> tuple[float, float]:
        before = load()
        fn()  # warm: caches, connections
        wall, spent, backend = cpu.timed(fn, repeat)
        loads[name] = {"before": before, "after": load()}
        backend_ms[name] = round(backend * 1000, 1)
        print(
            f"  {name}: {wall * 1000:.1f} ms wall, {spent * 1000:.1f} ms CPU "
            f"({backend * 1000:.1f} ms of it PostgreSQL's)",
            flush=True,
        )
        return wall, spent

    services.recompute_all(organization_id=org_id)  # snapshots exist: the path is incremental
    # Every recompute rewrites its journey's snapshot rows, and runs of this bench add up
    # to thousands of dead versions where autovacuum is off (it is on this project's
    # machine): vacuum what a deployment's autovacuum would, so (c) reads live rows.
    with connection.cursor() as cursor:
        for table in SNAPSHOT_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    a, _ = measure("floor", floor, 3)
    _, a_cpu = measure("floor_one_core", serial_floor, 3)
    b, b_cpu = measure("full_recompute", lambda: services.recompute_all(organization_id=org_id), 3)
    c, c_cpu = measure("one_touch_point", one, 7)
    j, j_cpu = measure(
        "journey_from_scratch", lambda: services.recompute_journey(hot_journey, full=True), 3
    )
    explain = explain_one(one, ROOT / "bench" / "results" / "explain-scoring.txt")
    peak_mb = worker_peak_memory(org_id)

    out = ROOT / "bench" / "results" / "scoring.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        **data,
        "a_floor_group_by_seconds": round(a, 3),
        "b_full_recompute_seconds": round(b, 3),
        "b_over_a": round(b / a, 2),
        "c_one_touch_point_100k_ms": round(c * 1000, 1),
        "d_worker_peak_mb": round(peak_mb, 1),
        # Load-independent beside the wall clock: CPU seconds of this process and of its
        # PostgreSQL backend (/proc schedstat), the floor's taken on one core.
        "cpu": {
            "a_floor_one_core_seconds": round(a_cpu, 3),
            "b_full_recompute_seconds": round(b_cpu, 3),
            "b_over_a": round(b_cpu / a_cpu, 2),
            "c_one_touch_point_ms": round(c_cpu * 1000, 1),
            "c_one_touch_point_postgresql_ms": backend_ms["one_touch_point"],
            "journey_from_scratch_ms": round(j_cpu * 1000, 1),
        },
        "journey_from_scratch_ms": round(j * 1000, 1),
        "one_touch_point_queries": explain,
        "load_average": loads,
        "goals": GOALS,
    }
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    rows = [
        (
            "(a) floor: GROUP BY over every answer, s",
            a,
            None,
            previous.get("a_floor_group_by_seconds"),
        ),
        ("(b) full recompute, s", b, None, previous.get("b_full_recompute_seconds")),
        ("    (b) / (a)", b / a, GOALS["b_over_a"], previous.get("b_over_a")),
        (
            "    same by CPU time (floor on one core)",
            b_cpu / a_cpu,
            GOALS["b_over_a"],
            previous.get("cpu", {}).get("b_over_a"),
        ),
        (
            "(c) one touch point, 100k evaluations, ms",
            c * 1000,
            GOALS["c_ms"],
            previous.get("c_one_touch_point_100k_ms"),
        ),
        (
            "    its CPU time, ms",
            c_cpu * 1000,
            GOALS["c_ms"],
            previous.get("cpu", {}).get("c_one_touch_point_ms"),
        ),
        (
            "    its journey from scratch (the old path), ms",
            j * 1000,
            None,
            previous.get("journey_from_scratch_ms"),
        ),
        ("(d) worker peak memory, MB", peak_mb, GOALS["d_mb"], previous.get("d_worker_peak_mb")),
    ]
    print(f"\n{'figure':<48}{'now':>10}  {'goal':<8}{'previous':>10}")
    for name, value, goal, before in rows:
        print(f"{name:<48}{value:>10.2f}  {goal or '':<8}{'' if before is None else before:>10}")
    buffers = sum(q["shared_hit"] + q["shared_read"] for q in explain["queries"])
    print(
        f"(c) reads {buffers:,} buffers in {len(explain['queries'])} SELECTs "
        f"({explain['statements']} statements in all); plans in bench/results/explain-scoring.txt"
    )
    print(f"Load averages (1, 5, 15 min) before/after each: {json.dumps(loads)}")


GOALS = {"b_over_a": "<= 1.0", "c_ms": "< 30", "d_mb": "< 250"}
SNAPSHOT_TABLES = (
    "scoring_touchpointscore",
    "scoring_weeklyscore",
    "scoring_journeyscore",
    "scoring_stalemark",
)
FLOOR_SQL = (
    "SELECT e.touch_point_id, avg(a.value) FROM touchpoints_answer a "
    "JOIN touchpoints_evaluation e ON e.id = a.evaluation_id "
    "WHERE e.organization_id = %s GROUP BY e.touch_point_id"
)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Cpu:
    """Wall and CPU time of a call: this process's plus its PostgreSQL backend's. The
    backend's is read from /proc/<pid>/schedstat, in nanoseconds: /proc/<pid>/stat counts
    whole clock ticks (10 ms), which rounded a 10 ms recompute's share to 0 or 10."""

    def __init__(self, connection: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.backend = Path(f"/proc/{cursor.fetchone()[0]}/schedstat")

    def backend_seconds(self) -> float:
        return int(self.backend.read_text().split()[0]) / 1e9

    def timed(self, fn: Callable[[], None], repeat: int) -> tuple[float, float, float]:
        """Medians of `repeat` calls: (wall seconds, CPU seconds, of which the backend's)."""
        walls, cpus, backends = [], [], []
        for _ in range(repeat):
            backend, mine, started = (
                self.backend_seconds(),
                time.process_time(),
                time.perf_counter(),
            )
            fn()
            walls.append(time.perf_counter() - started)
            backends.append(self.backend_seconds() - backend)
            cpus.append(backends[-1] + time.process_time() - mine)
        return statistics.median(walls), statistics.median(cpus), statistics.median(backends)


def explain_one(call: Callable[[], None], out: Path) -> dict[str, Any]:
    """Run the per-touch-point recompute once with its SQL captured, then EXPLAIN (ANALYZE,
    BUFFERS) each SELECT it sent: buffers do not depend on the machine's load."""
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    lines = [
        f"EXPLAIN (ANALYZE, BUFFERS) of one touch point's recompute, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    ]
    queries = []
    for query in captured.captured_queries:
        text = query["sql"]
        if not text.lstrip().upper().startswith(("SELECT", "WITH")) or "pg_advisory" in text:
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        top = next((line for line in plan.splitlines() if "Buffers:" in line), "")
        queries.append(
            {
                "sql": " ".join(text.split())[:120],
                "execution_ms": float(re.findall(r"Execution Time: ([\d.]+) ms", plan)[-1]),
                "shared_hit": int((re.findall(r"hit=(\d+)", top) or [0])[0]),
                "shared_read": int((re.findall(r"read=(\d+)", top) or [0])[0]),
            }
        )
        lines.append(f"\n--- {text}\n{plan}")
    out.write_text("\n".join(lines) + "\n")
    return {"statements": len(captured), "queries": queries}


if __name__ == "__main__":
    main()
