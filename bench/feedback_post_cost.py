"""What one public feedback answer costs, measured in-process and independent of the load:
SQL statements per POST (Django's CaptureQueriesContext) and this process's CPU time per
POST: Django's WSGI handler with the production middleware stack, called with the environ
gunicorn would pass (not the test client, whose own bookkeeping costs about as much as a
middleware), without gunicorn itself and without PostgreSQL's own CPU, which the load
bench measures on the backends.

Usage: python bench/feedback_post_cost.py [--posts N] [--show-queries] [--profile]
on the database of DATABASE_URL (it makes, once, a small organization with links in it).
The feedback bench runs `measure()` on its own database before its load phase.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

TOUCH_POINTS, LINKS_PER = 5, 4


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


CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FIELDS = re.compile(r'name="(q\d+)" value="(\d+)"')


def _post_body(client: Any, token: str) -> dict[str, str]:
    """GET the page once (its CSRF cookie and token), and a valid answer to every question."""
    page = client.get(f"/f/{token}/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200, page.status_code  # noqa: S101 (a bench's own check)
    html = page.content.decode()
    csrf = CSRF_INPUT.search(html)
    assert csrf is not None  # noqa: S101
    answers: dict[str, str] = {}
    for name, value in FIELDS.findall(html):
        answers.setdefault(name, value)
    return {"csrfmiddlewaretoken": csrf.group(1), "website": "", **answers}


def measure(
    tokens: list[str], posts: int, *, show_queries: bool = False, profiler: Any = None
) -> dict[str, Any]:
    """POST `posts` answers (round robin over the links, each from a new device) through
    Django's full middleware stack; statements and CPU per POST. Every POST must be a 303."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    # The limits lifted, as in the load bench (tests/feedback/test_abuse.py proves them).
    lifted = "100000000/h"
    with override_settings(
        ALLOWED_HOSTS=["testserver"], FEEDBACK_LINK_RATE=lifted, FEEDBACK_ADDRESS_RATE=lifted
    ):
        return _measure(
            Client, CaptureQueriesContext, connection, tokens, posts, show_queries, profiler
        )


def _measure(
    client_class: Any,
    capture: Any,
    connection: Any,
    tokens: list[str],
    posts: int,
    show_queries: bool,
    profiler: Any = None,
) -> dict[str, Any]:
    from urllib.parse import urlencode

    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    clients = [client_class(enforce_csrf_checks=True) for _ in tokens]
    bodies = [urlencode(_post_body(c, t)).encode() for c, t in zip(clients, tokens, strict=True)]
    # The CSRF cookie each page handed its device (kept; the repeat cookie never is, so
    # every POST comes from a new device).
    cookies = [
        "; ".join(f"{m.key}={m.value}" for m in c.cookies.values() if not m.key.startswith("tsfb"))
        for c in clients
    ]

    def post(i: int) -> None:
        k = i % len(tokens)
        status = _wsgi_post(handler, f"/f/{tokens[k]}/", bodies[k], cookies[k])
        assert status.startswith("303"), status  # noqa: S101 (a bench's own check)

    for i in range(min(posts, 20)):  # warm: imports, templates, connections
        post(i)
    # Every statement as written (an outermost execute wrapper sees each, even one that
    # core.write_batch holds back), and every round trip: each query psycopg sends, plus
    # the BEGIN and COMMIT that Django's log shows.
    written: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        written.append(sql)
        return execute(sql, params, many, context)

    with (
        _count_sends(connection) as sends,
        capture(connection) as captured,
        connection.execute_wrapper(record),
    ):
        post(0)
    begin_commit = [q for q in captured.captured_queries if q["sql"] in ("BEGIN", "COMMIT")]
    one = written + [q["sql"] for q in begin_commit]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    started_backend = _cpu_seconds(backend)
    if profiler is not None:
        profiler.enable()
    started_cpu, started = time.process_time(), time.perf_counter()
    for i in range(posts):
        post(i)
    cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
    backend_cpu = _cpu_seconds(backend) - started_backend
    if profiler is not None:
        profiler.disable()
    result = {
        "posts": posts,
        "queries_per_post": len(one),
        "round_trips_per_post": sends[0] + len(begin_commit),
        "statements": dict(Counter(_kind(sql) for sql in one)),
        "django_cpu_ms_per_post": round(cpu / posts * 1000, 3),
        # The PostgreSQL backend serving this process (same machine: its /proc entry).
        "postgres_cpu_ms_per_post": round(backend_cpu / posts * 1000, 3),
        "wall_ms_per_post": round(wall / posts * 1000, 3),
    }
    if show_queries:
        result["queries"] = one
    return result


def _wsgi_post(handler: Any, path: str, body: bytes, cookie: str) -> str:
    """One POST through Django's WSGI handler as gunicorn calls it; its status line."""
    import io

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "testserver",
        "HTTP_COOKIE": cookie,
        "HTTP_ACCEPT_LANGUAGE": "en",
        "HTTP_USER_AGENT": "Mozilla/5.0 (Linux; Android 14) feedback-post-cost",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    status: list[str] = []

    def start_response(line: str, headers: Any, exc_info: Any = None) -> None:
        status.append(line)

    response = handler(environ, start_response)
    try:
        for _chunk in response:
            pass
    finally:
        response.close()
    return status[0]


@contextmanager
def _count_sends(connection: Any) -> Iterator[list[int]]:
    """How many queries psycopg sends on this connection's cursors while the block runs."""
    import psycopg

    # psycopg's own Cursor.execute: Django's cursors and core.prepared's (server-side
    # binding) both go through it.
    cursor_class = psycopg.Cursor
    sent = [0]
    original = cursor_class.execute

    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent[0] += 1
        return original(self, *args, **kwargs)

    cursor_class.execute = execute
    try:
        yield sent
    finally:
        cursor_class.execute = original


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _kind(sql: str) -> str:
    words = sql.split()
    head = words[0].upper() if words else "?"
    if head == "WITH":  # data-modifying CTEs: named by the tables they write
        tables = re.findall(r"INSERT INTO\s+(\w+)", sql)
        return "WITH INSERT " + " + ".join(reversed(tables)) if tables else "WITH"
    if head in {"INSERT", "UPDATE", "DELETE"}:
        into = words[2] if head in {"INSERT", "DELETE"} else words[1]
        return f"{head} {into.strip(chr(34))}"
    if head == "SELECT":
        table = re.search(r'FROM\s+"?(\w+)', sql)
        return f"SELECT {table.group(1) if table else '?'}"
    return head


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--show-queries", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile over the POSTs")
    args = parser.parse_args()
    import django

    django.setup()
    tokens = list(dataset()["links"].values())[:4]
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.process_time)
        result = measure(tokens, args.posts, profiler=profiler)
        stats = pstats.Stats(profiler).strip_dirs().sort_stats("cumulative")
        stats.print_stats(60)
        stats.sort_stats("tottime").print_stats(40)
    else:
        result = measure(tokens, args.posts, show_queries=args.show_queries)
    queries = result.pop("queries", [])
    for sql in queries:
        print(sql[:400])
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
