"""How far behind the scores are: scoring.services.scoring_status, `manage.py
scoring_status` and the admin's "Scoring status" page, against a private redis-server as
the broker (and, for the sweep and heartbeat, a real worker with its embedded beat)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.broker import broker_redis
from scoring import services, tasks
from scoring.models import StaleMark
from tests.factories import TouchPointFactory, UserFactory
from tests.processes import RedisServer, Worker, free_port, publishing_to, wait_for

STATUS_URL = "/admin/scoring/stalemark/status/"


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """Its own port each test: kombu keeps one producer pool per broker URL for the whole
    process, and publishing_to() closes it on the way out."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker(redis_server: RedisServer, db: None) -> Iterator[RedisServer]:
    """The private redis-server as this process's broker, started empty."""
    if redis_server.proc is None:
        redis_server.start()
    with publishing_to(redis_server.url):
        broker_redis().flushdb()
        yield redis_server


@pytest.fixture
def broker_down(redis_server: RedisServer, db: None) -> Iterator[None]:
    redis_server.stop()
    try:
        with publishing_to(redis_server.url):
            yield
    finally:
        redis_server.start()


def mark_stale(*, touch_points: int, marks_each: int, oldest_age: float) -> None:
    """Stale marks on `touch_points` touch points, the very first `oldest_age` s old."""
    for _ in range(touch_points):
        tp = TouchPointFactory()
        for _ in range(marks_each):
            StaleMark.objects.create(touch_point=tp)
    first = StaleMark.objects.order_by("id").first()
    assert first is not None
    StaleMark.objects.filter(pk=first.pk).update(
        marked_at=timezone.now() - timedelta(seconds=oldest_age)
    )


def queue_recomputes(count: int) -> None:
    for pk in range(count):
        tasks.recompute_touch_point.apply_async(args=(pk,))


def command(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("scoring_status", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- The figures -------------------------------------------------------------------------


def test_nothing_behind_on_a_fresh_install(broker: RedisServer) -> None:
    status = services.scoring_status()

    assert status == {
        "stale_touch_points": 0,
        "stale_journeys": 0,
        "oldest_stale_seconds": None,
        "last_computed_at": None,
        "last_computed_seconds": None,
        "queue": "scoring",
        "queue_length": 0,
        "last_sweep_at": None,
        "last_sweep_seconds": None,
        "worker_heartbeat_seconds": None,
        "broker_error": None,
    }


def test_stale_touch_points_are_counted_once_and_the_oldest_mark_is_aged(
    broker: RedisServer,
) -> None:
    mark_stale(touch_points=3, marks_each=2, oldest_age=600)

    status = services.scoring_status()

    assert status["stale_touch_points"] == 3
    assert 600 <= status["oldest_stale_seconds"] < 610


def test_queue_length_counts_messages_waiting_in_the_scoring_queue(broker: RedisServer) -> None:
    queue_recomputes(4)

    assert services.scoring_status()["queue_length"] == 4


def test_a_sweep_records_when_it_ran(broker: RedisServer) -> None:
    before = services.scoring_status()
    started = time.time()

    tasks.sweep_stale()  # the task's body, run here; a real worker runs it below

    after = services.scoring_status()
    assert before["last_sweep_at"] is None
    assert isinstance(after["last_sweep_at"], datetime)
    assert started - 1 <= after["last_sweep_at"].timestamp() <= time.time()
    assert 0 <= after["last_sweep_seconds"] < 5


def test_with_the_broker_down_its_figures_are_unknown_and_the_rest_still_come(
    broker_down: None,
) -> None:
    mark_stale(touch_points=1, marks_each=1, oldest_age=30)
    started = time.monotonic()

    status = services.scoring_status()

    assert time.monotonic() - started < 3
    assert status["broker_error"] == "The broker did not answer."
    assert status["queue_length"] is None
    assert status["last_sweep_at"] is None
    assert status["worker_heartbeat_seconds"] is None
    assert status["stale_touch_points"] == 1


@pytest.mark.worker
@pytest.mark.slow
def test_a_running_worker_and_beat_show_as_a_recent_sweep_and_heartbeat(
    transactional_db: None, redis_server: RedisServer
) -> None:
    mark_stale(touch_points=1, marks_each=1, oldest_age=600)  # for the sweep to recompute
    with publishing_to(redis_server.url):
        broker_redis().flushdb()
        worker = Worker(redis_server.url)  # sweeps every 2 s
        worker.start()
        try:
            status = wait_for(
                lambda: (s := services.scoring_status())["last_sweep_at"] and s, timeout=30
            )
            status = wait_for(
                lambda: (
                    (s := services.scoring_status())["worker_heartbeat_seconds"] is not None
                    and s["last_computed_at"] is not None
                    and s
                ),
                timeout=30,
            )
        finally:
            worker.stop()
    out, _ = command()

    assert status["last_sweep_seconds"] < 10  # type: ignore[index]
    assert status["worker_heartbeat_seconds"] < 10  # type: ignore[index]
    assert status["last_computed_seconds"] < 30  # type: ignore[index]
    assert "Last recompute:" in out
    assert "s ago)" in out.split("Last recompute:")[1].splitlines()[0]


# --- manage.py scoring_status ----------------------------------------------------------------


def test_command_prints_one_line_per_figure(broker: RedisServer) -> None:
    mark_stale(touch_points=2, marks_each=1, oldest_age=90)
    queue_recomputes(3)
    tasks.sweep_stale()

    out, err = command()

    rows = {
        label: value.strip() for label, value in (line.split(":", 1) for line in out.splitlines())
    }
    assert rows["Stale touch points"] == "2"
    assert rows["Oldest stale mark"].endswith("s ago")
    assert 90 <= float(rows["Oldest stale mark"].split()[0]) < 100
    # The three, and the sweep's recompute of the journey whose mark is past its grace.
    assert rows['Queue "scoring"'] == "4 waiting"
    assert rows["Last sweep"].endswith("s ago)")
    assert rows["Worker heartbeat"] == "never"
    assert rows["Last recompute"] == "never"
    assert err == ""


def test_command_json_is_one_object_for_scripts(broker: RedisServer) -> None:
    mark_stale(touch_points=1, marks_each=3, oldest_age=5)
    tasks.sweep_stale()

    out, _ = command("--json")

    status = json.loads(out)
    assert status["stale_touch_points"] == 1
    assert status["queue"] == "scoring"
    assert status["queue_length"] == 0  # the mark is younger than the sweep's grace
    assert datetime.fromisoformat(status["last_sweep_at"]).tzinfo is not None
    assert status["broker_error"] is None
    assert set(status) == set(services.scoring_status())


def test_command_says_what_is_unknown_when_the_broker_is_down(broker_down: None) -> None:
    out, err = command()

    rows = {
        label: value.strip() for label, value in (line.split(":", 1) for line in out.splitlines())
    }
    unknown = "unknown (The broker did not answer.)"
    assert rows['Queue "scoring"'] == rows["Last sweep"] == rows["Worker heartbeat"] == unknown
    assert rows["Stale touch points"] == "0"
    assert "The broker did not answer." in err

    status = json.loads(command("--json")[0])
    assert status["queue_length"] is None
    assert status["broker_error"] == "The broker did not answer."


@pytest.mark.django_db(transaction=True)
def test_command_fails_cleanly_when_the_database_does_not_answer() -> None:
    """A real connection attempt to a port nobody listens on: an error line, no traceback."""
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(free_port())
    try:
        with pytest.raises(CommandError, match=r"^The database did not answer"):
            command()
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port


# --- The admin page ----------------------------------------------------------------------------


def staff(*, can_view_stale_marks: bool) -> Client:
    user = UserFactory(is_staff=True)
    if can_view_stale_marks:
        user.user_permissions.add(Permission.objects.get(codename="view_stalemark"))
    client = Client()
    client.force_login(user)
    return client


def test_url_is_the_admin_route_the_index_links_to() -> None:
    assert reverse("admin:scoring_status") == STATUS_URL


def test_the_admin_index_links_to_the_status_page(
    admin_client: Client, broker: RedisServer
) -> None:
    index = admin_client.get("/admin/")

    assert index.status_code == 200
    assert f'href="{STATUS_URL}"' in index.content.decode()


def test_the_status_page_shows_the_same_figures(admin_client: Client, broker: RedisServer) -> None:
    mark_stale(touch_points=2, marks_each=1, oldest_age=90)
    queue_recomputes(3)

    response = admin_client.get(STATUS_URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert '<th scope="row">Stale touch points</th><td>2</td>' in page
    assert '<th scope="row">Queue &quot;scoring&quot;</th><td>3 waiting</td>' in page
    assert '<th scope="row">Last sweep</th><td>never</td>' in page
    assert "did not answer" not in page


def test_the_status_page_says_when_the_broker_is_down(
    admin_client: Client, broker_down: None
) -> None:
    response = admin_client.get(STATUS_URL)

    assert response.status_code == 200
    assert "The broker did not answer." in response.content.decode()


def test_staff_who_may_view_stale_marks_see_the_page(broker: RedisServer) -> None:
    client = staff(can_view_stale_marks=True)

    assert client.get(STATUS_URL).status_code == 200
    assert STATUS_URL in client.get("/admin/").content.decode()


def test_other_staff_get_403_and_no_link(broker: RedisServer) -> None:
    client = staff(can_view_stale_marks=False)

    assert client.get(STATUS_URL).status_code == 403
    assert STATUS_URL not in client.get("/admin/").content.decode()


def test_someone_signed_out_is_sent_to_the_admin_login(client: Client, db: None) -> None:
    response = client.get(STATUS_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
