"""What one light API request costs the web process, measured so the machine's load does not
move the figure (issue 18 item 2): per request, the CPU time of the process, the SQL
queries and the Redis commands, for GET /healthz, GET /api/v1/ping/ and a journey's
snapshot scores (60 touch points, cached body: the steady state of a polled dashboard).

The requests go straight into the WSGI application (config.wsgi, the production
middleware, DEBUG off) with an environ built once, as gunicorn would hand it over; no
HTTP, no sockets, no client in the same process. Its own database
(touchstone_bench_request_cost) and a private redis-server, so Redis's command counters
(INFO commandstats) count only this process.

With --callgrind the same requests run under valgrind's callgrind, which counts the
instructions of each endpoint's REQUESTS requests exactly (dumped around them with
callgrind_control): the load-independent figure of record.

Writes bench/results/request_cost.json. Usage:
    python bench/request_cost.py [--requests N] [--callgrind]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
DB_NAME = "touchstone_bench_request_cost"
DATABASE_URL = harness.database_url(DB_NAME)
STAGES, TOUCH_POINTS_PER_STAGE = 6, 10
WARM = 50


def environ_for(path: str, token: str | None) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_ACCEPT": "application/json",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if token:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return env


def requester(path: str, token: str | None) -> Callable[[], int]:
    from config.wsgi import application

    base = environ_for(path, token)
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    def one() -> int:
        statuses.clear()
        result = application({**base, "wsgi.input": io.BytesIO(b"")}, start_response)
        try:
            for _ in result:
                pass
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return int(statuses[0].split()[0])

    return one


def prepare() -> dict[str, Any]:
    """An evaluator's token and a scored journey of 60 touch points."""
    from accounts.models import Role
    from scoring import services
    from tests.factories import (
        CriterionFactory,
        JourneyFactory,
        MembershipFactory,
        OrganizationFactory,
        StageFactory,
        TouchPointFactory,
    )
    from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations

    org = OrganizationFactory()
    evaluator = MembershipFactory(organization=org, role=Role.EVALUATOR).user
    journey = JourneyFactory(organization=org, target=75)
    items = []
    for s in range(STAGES):
        stage = StageFactory(journey=journey)
        for t in range(TOUCH_POINTS_PER_STAGE):
            tp = TouchPointFactory(stage=stage, importance=1 + (s + t) % 5)
            scale = CriterionFactory(touch_point=tp, kind="scale", weight=2)
            yes_no = CriterionFactory(touch_point=tp, kind="yes_no")
            items.extend(
                EvaluationInput(
                    touch_point_id=tp.pk,
                    source="supervisor",
                    observed_at=datetime.now(UTC),
                    answers=[AnswerInput(scale.pk, 1 + i % 5), AnswerInput(yes_no.pk, i % 2)],
                )
                for i in range(8)
            )
    submit_evaluations(evaluator=evaluator, organization=org, items=items)
    services.recompute_all(organization_id=org.pk)
    return {"token": harness.api_token(evaluator.pk, "cost"), "journey_id": journey.pk}


@contextmanager
def counting_queries() -> Iterator[list[str]]:
    from django.db import connection

    seen: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen


def redis_commands(client: Any) -> dict[str, int]:
    """Calls so far per Redis command (INFO itself left out)."""
    stats = client.info("commandstats")
    return {
        k.removeprefix("cmdstat_"): int(v["calls"])
        for k, v in stats.items()
        if k.startswith("cmdstat_") and k != "cmdstat_info"
    }


def callgrind_dump(label: str) -> None:
    subprocess.run(
        ["callgrind_control", "--dump=" + label, str(os.getpid())],
        check=True,
        capture_output=True,
    )


def measure(paths: dict[str, tuple[str, str | None]], requests: int, grind: bool) -> dict[str, Any]:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    figures: dict[str, Any] = {}
    for name, (path, token) in paths.items():
        one = requester(path, token)
        for _ in range(WARM):
            status = one()
        if status != 200:
            sys.exit(f"{path} answered {status}: nothing measured.")
        with counting_queries() as queries:
            one()
        before = redis_commands(client)
        one()
        after = redis_commands(client)
        redis_calls = {k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)}
        if grind:
            callgrind_dump(f"before-{name}")
        cpu = time.process_time()
        for _ in range(requests):
            one()
        cpu = time.process_time() - cpu
        if grind:
            callgrind_dump(f"after-{name}")
        figures[name] = {
            "path": path,
            "cpu_us_per_request": round(cpu / requests * 1e6, 1),
            "sql_queries_per_request": len(queries),
            "sql": queries,
            "redis_commands_per_request": sum(redis_calls.values()),
            "redis_commands": redis_calls,
        }
    return figures


def instructions(out_dir: Path) -> dict[str, int]:
    """Instructions counted between each endpoint's before- and after- dumps."""
    counts: dict[str, int] = {}
    for dump in out_dir.glob("callgrind.out.*"):
        text = dump.read_text(errors="replace")
        trigger = re.search(r"^desc: Trigger: Client Request: after-(\S+)", text, re.M)
        if not trigger:
            trigger = re.search(r"^desc: Trigger: .*after-(\S+)", text, re.M)
        summary = re.search(r"^summary: (\d+)", text, re.M) or re.search(
            r"^totals: (\d+)", text, re.M
        )
        if trigger and summary:
            counts[trigger.group(1)] = int(summary.group(1))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prepared", default="", help=argparse.SUPPRESS)
    parser.add_argument("--broker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.inner:  # the measured process: production settings, data already made
        os.environ.update(harness.production_env(database_url=DATABASE_URL, broker_url=args.broker))
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        import django

        django.setup()
        prepared = json.loads(args.prepared)
        paths = {
            "healthz": ("/healthz", None),
            "ping": ("/api/v1/ping/", prepared["token"]),
            "journey_scores": (
                f"/api/v1/journeys/{prepared['journey_id']}/scores/",
                prepared["token"],
            ),
        }
        print(json.dumps(measure(paths, args.requests, grind=bool(os.environ.get("GRIND")))))
        return 0

    from tests.processes import RedisServer

    broker = RedisServer()
    broker.start()
    os.environ.update(DATABASE_URL=DATABASE_URL, REDIS_URL=broker.url, CELERY_BROKER_URL=broker.url)
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        harness.ensure_database(DB_NAME, fresh=True)
        import django

        django.setup()
        from tests.processes import publishing_to

        with publishing_to(broker.url):
            prepared = prepare()
        inner = [sys.executable, __file__, "--inner", "--prepared", json.dumps(prepared)]
        inner += ["--broker", broker.url, "--requests", str(args.requests)]
        load_before = os.getloadavg()
        run = subprocess.run(inner, check=True, capture_output=True, text=True, cwd=ROOT)
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        if args.callgrind:
            out_dir = Path(tempfile.mkdtemp(prefix="callgrind-"))
            grind = [
                shutil.which("valgrind") or "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out_dir}/callgrind.out.%p",
                "--collect-atstart=yes",
                *inner[:-1],
                str(min(args.requests, 200)),
            ]
            subprocess.run(
                grind,
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
                env={**os.environ, "GRIND": "1"},
            )
            grind_requests = min(args.requests, 200)
            for name, count in instructions(out_dir).items():
                figures[name]["instructions_per_request"] = count // grind_requests
            shutil.rmtree(out_dir, ignore_errors=True)
        load_after = os.getloadavg()
    finally:
        broker.stop()

    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "requests_per_endpoint": args.requests,
        "data": f"1 journey of {STAGES * TOUCH_POINTS_PER_STAGE} touch points, snapshot cached",
        "endpoints": figures,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "request_cost.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"Per request (load {results['load_average_before']}):")
    for name, f in figures.items():
        grind = f.get("instructions_per_request")
        print(
            f"  {name:<15} cpu {f['cpu_us_per_request']:>8} us  sql {f['sql_queries_per_request']}"
            f"  redis {f['redis_commands_per_request']}"
            + (f"  instructions {grind:,}" if grind else "")
            + (f"  ({f['redis_commands']})" if f["redis_commands"] else "")
        )
    for name, f in figures.items():
        for sql in f["sql"]:
            print(f"  {name}: {sql[:150]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
