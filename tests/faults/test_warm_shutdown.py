"""R4: SIGTERM a worker in the middle of a backlog of 200 recomputes, then start another.

A warm shutdown finishes the running tasks and hands the reserved, unacknowledged ones
back to the queue, so every queued recompute runs (at least once), the worker exits by
itself, and the final scores are the reference with no stale mark left.
"""

from __future__ import annotations

import os
import signal

import pytest
import redis
from django.conf import settings

from scoring import tasks
from tests.faults.conftest import Stoppable, build_world, executions
from tests.faults.reference import problems
from tests.processes import RedisServer, Worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]

BACKLOG = 200
DRAIN_GUARD = 180  # seconds; a guard against hanging, not a bound of R4


def test_a_worker_stopped_mid_backlog_loses_no_recompute(
    started: list[Stoppable], broker: RedisServer
) -> None:
    world = build_world(journeys=4, touch_points=2)
    for n, tp in enumerate(world.touch_points):
        world.submit(tp, 2 + n % 3, seed=n)
    client = redis.Redis.from_url(broker.url)
    client.flushall()  # only the backlog below
    # Every tenth a full journey recompute (slow, bumps every generation), the rest touch
    # point recomputes (the first per journey does the stale work, the others find none).
    sent = {"recompute_journey": 0, "recompute_touch_point": 0}
    for i in range(BACKLOG):
        if i % 10 == 0:
            tasks.recompute_journey.delay(world.journeys[i // 10 % 4].pk, full=True)
            sent["recompute_journey"] += 1
        else:
            tasks.recompute_touch_point.delay(world.touch_points[i % 8].pk)
            sent["recompute_touch_point"] += 1
    queue = settings.CELERY_TASK_DEFAULT_QUEUE

    def ran(*workers: Worker) -> dict[str, int]:
        return {task: executions(list(workers), task) for task in sent}

    env = {"SCORING_SWEEP_SECONDS": "3600"}  # nothing but the backlog runs
    draining = Worker(broker.url, concurrency=2, **env)
    started.append(draining)
    draining.start()
    wait_for(lambda: client.llen(queue) <= BACKLOG * 2 // 3, timeout=DRAIN_GUARD, interval=0.1)
    assert draining.proc is not None
    # To the main process only, as `docker stop` does (PID 1 of the worker container). A
    # SIGTERM to the whole process group would also kill the pool children mid-task
    # (WorkerLostError; the task is then requeued and the sweep covers it).
    os.kill(draining.proc.pid, signal.SIGTERM)
    exit_code = draining.proc.wait(timeout=60)  # no SIGKILL needed: a warm shutdown
    ran_before = sum(ran(draining).values())
    assert exit_code == 0, draining.log()[-2000:]
    assert 0 < ran_before < BACKLOG, "the SIGTERM did not land mid-drain"
    assert "lost" not in draining.log().lower()
    assert client.llen(queue) + ran_before >= BACKLOG, "messages vanished from the queue"

    for n, tp in enumerate(world.touch_points[:3]):  # new work while no worker runs
        world.submit(tp, 2, seed=50 + n)
    assert problems(world.journeys)

    restarted = Worker(broker.url, concurrency=2, **env)
    started.append(restarted)
    restarted.start()

    def drained() -> bool:
        done = ran(draining, restarted)
        return all(done[task] >= sent[task] for task in sent)

    # How long the drain takes is not the promise (R4: nothing lost, scores right, the worker
    # exits by itself, bounded above); these bounds only keep a broken drain from hanging,
    # with room for the rest of `make test` sharing the two cores.
    wait_for(drained, timeout=DRAIN_GUARD, interval=0.3)
    wait_for(lambda: client.llen(queue) == 0 and not problems(world.journeys), timeout=DRAIN_GUARD)
    total = sum(ran(draining, restarted).values())
    assert "lost" not in restarted.log().lower()
    print(  # noqa: T201
        f"\nR4: SIGTERM after {ran_before} of {BACKLOG}; worker exited {exit_code}; "
        f"{total} runs in all for {BACKLOG} queued and 3 new submissions"
    )
