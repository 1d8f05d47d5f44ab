"""R12: a manager keeps changing a criterion's weight (through update_criterion) while
100 evaluations of its touch point arrive from four threads.

Each answer is scored under the rubric version it was given under, versions that have
answers are never edited afterwards, the snapshots match the reference computed per
version, and nothing is rescored when the rubric moves on.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from accounts.models import Role
from scoring import formulas
from tests.factories import MembershipFactory
from tests.faults.conftest import Stoppable, World
from tests.faults.reference import problems, reference_evaluation_scores, rubric_of
from tests.processes import RedisServer, Worker, wait_for
from touchpoints.models import Answer, Criterion, Evaluation
from touchpoints.services import update_criterion

pytestmark = [pytest.mark.worker, pytest.mark.slow]

CLIENTS = 4
EVALUATIONS = 100


def answers_off_their_version() -> list[str]:
    return [
        f"answer {a.pk} scored {a.score} under {a.criterion_version_id} "
        f"(weight {a.criterion_version.weight})"
        for a in Answer.objects.select_related("criterion_version")
        if a.score != formulas.answer_score(rubric_of(a.criterion_version), a.value)
    ]


def settle(world: World) -> None:
    try:
        wait_for(lambda: not problems(world.journeys), timeout=60, interval=0.5)
    except TimeoutError:
        pytest.fail("\n".join(problems(world.journeys)[:10]))


def test_weight_edits_during_submissions_pin_each_evaluation_to_its_version(
    started: list[Stoppable], broker: RedisServer, world: World
) -> None:
    tp = world.touch_points[0]
    scale = world.criteria[tp.pk][0]
    manager = MembershipFactory(organization=world.org, role=Role.MANAGER).user
    worker = Worker(broker.url)
    started.append(worker)
    worker.start()

    done = threading.Event()
    errors: list[BaseException] = []
    edits: list[float] = []

    def submitter(offset: int) -> None:
        try:
            for i in range(EVALUATIONS // CLIENTS):
                world.submit(tp, 1, seed=offset * 100 + i)
                time.sleep(0.02)  # a client's pace: edits find moments between submissions
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    def editor() -> None:
        try:
            weight = 2.0
            while not done.is_set():
                weight = 1.0 + (weight % 5)
                update_criterion(
                    actor=manager,
                    criterion=Criterion.objects.get(pk=scale.pk),
                    data={"weight": weight},
                )
                edits.append(weight)
                time.sleep(0.01)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    edit_thread = threading.Thread(target=editor)
    edit_thread.start()
    threads = [threading.Thread(target=submitter, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    edit_thread.join()
    assert not errors, errors

    assert Evaluation.objects.count() == EVALUATIONS
    used = set(Answer.objects.filter(criterion=scale).values_list("criterion_version", flat=True))
    assert len(used) > 1, "the edits did not overlap the submissions"
    assert answers_off_their_version() == []
    scores = dict(Evaluation.objects.values_list("pk", "score"))
    reference = reference_evaluation_scores([tp.journey_id])
    assert [pk for pk, score in scores.items() if abs(score - reference[pk]) > 1e-6] == [], (
        "evaluations scored under another rubric than their answers' versions"
    )

    settle(world)
    update_criterion(actor=manager, criterion=scale, data={"weight": 9.5})  # after the fact
    settle(world)

    assert dict(Evaluation.objects.values_list("pk", "score")) == scores, "rescored"
    assert answers_off_their_version() == []
    print(f"\nR12: {len(edits)} weight edits, {len(used)} versions answered")  # noqa: T201
