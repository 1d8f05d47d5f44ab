"""R5: the same recompute delivered many times at once, and again later after new
evaluations, to two workers with two processes each.

Tasks carry ids only and a recompute works under the journey's advisory lock on what is
stale when it gets the lock, deleting exactly the marks it read: so of concurrent
duplicates one does the work and the rest find nothing to do, and a late duplicate can
only recompute from the current rows, never write an older result over a newer one.
"""

from __future__ import annotations

import pytest
import redis

from scoring import tasks
from scoring.models import TouchPointScore
from tests.faults.conftest import Stoppable, build_world, executed
from tests.faults.reference import problems
from tests.processes import RedisServer, Worker, start_all, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]

DUPLICATES = 8


def snapshot_rows(touch_point_ids: list[int]) -> dict[int, tuple[object, ...]]:
    return {
        s.touch_point_id: (s.generation, s.n, s.smoothed, s.computed_at)
        for s in TouchPointScore.objects.filter(touch_point_id__in=touch_point_ids)
    }


def test_duplicates_do_the_work_once_and_a_late_duplicate_never_overwrites_a_newer_result(
    started: list[Stoppable], broker: RedisServer
) -> None:
    world = build_world(touch_points=2)
    first, second = world.touch_points
    ids = [first.pk, second.pk]
    world.submit(first, 5)
    world.submit(second, 3, seed=2)
    redis.Redis.from_url(broker.url).flushall()  # only the duplicates below are delivered
    # No sweep from the workers' beats: the duplicates themselves must do the work.
    workers = [Worker(broker.url, concurrency=2, SCORING_SWEEP_SECONDS="3600") for _ in range(2)]
    started.extend(workers)
    start_all(*workers)

    sent = [tasks.recompute_touch_point.delay(first.pk).id for _ in range(DUPLICATES)]
    sent += [tasks.recompute_journey.delay(first.journey_id, full=False).id for _ in range(2)]
    generations: list[int] = []

    def settled() -> bool:
        generations.append(snapshot_rows([first.pk]).get(first.pk, (0,))[0])  # type: ignore[arg-type]
        return executed(workers, sent) and not problems(world.journeys)

    wait_for(settled, timeout=60, interval=0.3)
    rows = snapshot_rows(ids)
    assert [rows[pk][0] for pk in ids] == [1, 1], "one duplicate did the work, the rest nothing"
    assert TouchPointScore.objects.filter(touch_point_id__in=ids).count() == 2

    world.submit(first, 4, seed=7)  # newer evaluations, with their own (debounced) recompute
    wait_for(lambda: not problems(world.journeys), timeout=60, interval=0.3)
    newest = snapshot_rows(ids)
    assert newest[first.pk][1] == 9

    late = [tasks.recompute_touch_point.delay(first.pk).id for _ in range(3)]
    late.append(tasks.recompute_journey.delay(first.journey_id, full=False).id)
    wait_for(lambda: executed(workers, late), timeout=60, interval=0.3)

    assert snapshot_rows(ids) == newest, "a late duplicate rewrote the newest snapshot"
    assert not problems(world.journeys)
    generations.append(newest[first.pk][0])  # type: ignore[arg-type]
    assert generations == sorted(generations), "the generation counter went backwards"
