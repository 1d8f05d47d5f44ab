"""R2: the broker loses every queued recompute (FLUSHALL) while no worker runs.

The stale marks in PostgreSQL are the record, the messages only hints: a worker started
afterwards is driven by its beat's sweep alone, and every score reaches the reference.
"""

from __future__ import annotations

import pytest
import redis
from django.conf import settings

from scoring import tasks
from scoring.models import StaleMark
from tests.faults.conftest import Stoppable, build_world
from tests.faults.reference import problems
from tests.processes import RedisServer, Worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]

QUEUED = 200


def test_a_flushed_broker_loses_no_recompute_the_sweep_redrives_every_stale_touch_point(
    started: list[Stoppable], broker: RedisServer
) -> None:
    world = build_world(journeys=2, touch_points=3)
    for n, tp in enumerate(world.touch_points):
        world.submit(tp, 4 + n, seed=n)
    for i in range(QUEUED - len(world.touch_points)):
        tasks.recompute_touch_point.delay(world.touch_points[i % len(world.touch_points)].pk)
    client = redis.Redis.from_url(broker.url)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    assert client.llen(queue) >= QUEUED - len(world.touch_points)
    assert StaleMark.objects.values("touch_point").distinct().count() == len(world.touch_points)

    client.flushall()  # every message, pending marker and beat stamp gone
    assert client.llen(queue) == 0

    worker = Worker(broker.url)
    started.append(worker)
    worker.start()
    try:
        wait_for(lambda: not problems(world.journeys), timeout=60, interval=1)
    except TimeoutError:
        pytest.fail(f"{problems(world.journeys)[:5]}; worker log {worker.log_path}")

    log = worker.log()
    assert "recompute_touch_point[" not in log, "a flushed message was delivered after all"
    assert "recompute_journey[" in log, "the sweep's recomputes did the work"
