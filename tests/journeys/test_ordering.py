"""Ordered children (stages, touch points, criteria) hold positions 0..n-1 after every
service call: moves, inserts, archives and restores, even with two managers at once."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.models import Organization, Role, User
from core import ordering
from journeys.models import Stage
from journeys.services import archive_stage, create_stage, move_stage, restore_stage
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    MembershipFactory,
    StageFactory,
    TouchPointFactory,
    UserFactory,
)
from touchpoints.models import Answer, Criterion, CriterionKind, Evaluation, TouchPoint
from touchpoints.services import (
    AnswerInput,
    archive_criterion,
    archive_touch_point,
    create_criterion,
    create_touch_point,
    move_criterion,
    move_touch_point,
    restore_criterion,
    restore_touch_point,
    submit_evaluation,
)


@dataclass(frozen=True)
class Ordered:
    """One kind of ordered child: how to build a parent with children, and the services
    that create, move, archive and restore a child."""

    label: str
    model: type[models.Model]
    parent_field: str
    make_parent: Callable[[Organization], Any]
    make_child: Callable[[Any], Any]
    create: Callable[[User, Any, Any], Any]
    move: Callable[[User, Any, Any], list[int]]
    archive: Callable[[User, Any], Any]
    restore: Callable[[User, Any, Any], Any]

    def rows(self, parent: Any) -> models.QuerySet[Any]:
        return self.model.objects.filter(**{self.parent_field: parent})

    def order(self, parent: Any) -> list[int]:
        """Active children's ids by position."""
        return list(
            self.rows(parent)
            .filter(archived_at__isnull=True)
            .order_by("position")
            .values_list("pk", flat=True)
        )

    def positions(self, parent: Any) -> list[int]:
        return list(
            self.rows(parent)
            .filter(archived_at__isnull=True)
            .order_by("position")
            .values_list("position", flat=True)
        )


STAGES = Ordered(
    label="stage",
    model=Stage,
    parent_field="journey",
    make_parent=lambda org: JourneyFactory(organization=org),
    make_child=lambda journey: StageFactory(journey=journey),
    create=lambda actor, journey, position: create_stage(
        actor=actor, journey=journey, name="New stage", position=position
    ),
    move=lambda actor, stage, position: move_stage(actor=actor, stage=stage, position=position),
    archive=lambda actor, stage: archive_stage(actor=actor, stage=stage),
    restore=lambda actor, stage, position: restore_stage(
        actor=actor, stage=stage, position=position
    ),
)
TOUCH_POINTS = Ordered(
    label="touch point",
    model=TouchPoint,
    parent_field="stage",
    make_parent=lambda org: StageFactory(journey__organization=org),
    make_child=lambda stage: TouchPointFactory(stage=stage),
    create=lambda actor, stage, position: create_touch_point(
        actor=actor, stage=stage, name="New touch point", position=position
    ),
    move=lambda actor, tp, position: move_touch_point(
        actor=actor, touch_point=tp, position=position
    ),
    archive=lambda actor, tp: archive_touch_point(actor=actor, touch_point=tp),
    restore=lambda actor, tp, position: restore_touch_point(
        actor=actor, touch_point=tp, position=position
    ),
)
CRITERIA = Ordered(
    label="criterion",
    model=Criterion,
    parent_field="touch_point",
    make_parent=lambda org: TouchPointFactory(stage__journey__organization=org),
    make_child=lambda tp: CriterionFactory(touch_point=tp),
    create=lambda actor, tp, position: create_criterion(
        actor=actor, touch_point=tp, name="New criterion", kind="yes_no", position=position
    ),
    move=lambda actor, criterion, position: move_criterion(
        actor=actor, criterion=criterion, position=position
    ),
    archive=lambda actor, criterion: archive_criterion(actor=actor, criterion=criterion),
    restore=lambda actor, criterion, position: restore_criterion(
        actor=actor, criterion=criterion, position=position
    ),
)

N = 4  # children per parent in the tables below


@pytest.fixture(params=[STAGES, TOUCH_POINTS, CRITERIA], ids=lambda kind: kind.label)
def kind(request: pytest.FixtureRequest) -> Ordered:
    return request.param


@pytest.fixture
def family(kind: Ordered, personas: Any) -> tuple[Any, list[Any]]:
    """A parent in personas.org with N active children at positions 0..N-1."""
    parent = kind.make_parent(personas.org)
    children = [kind.make_child(parent) for _ in range(N)]
    assert kind.positions(parent) == list(range(N))
    return parent, children


def moved(order: list[int], item: int, position: int) -> list[int]:
    """The order after moving `item` to `position`, as the user sees it."""
    rest = [pk for pk in order if pk != item]
    rest.insert(position, item)
    return rest


# --- Moving --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("from_index", "to_position", "expected"),
    [
        (3, 0, [3, 0, 1, 2]),  # last to first
        (0, 3, [1, 2, 3, 0]),  # first to last
        (0, 2, [1, 2, 0, 3]),  # first to the middle
        (3, 1, [0, 3, 1, 2]),  # last to the middle
        (1, 2, [0, 2, 1, 3]),  # one step down
        (2, 2, [0, 1, 2, 3]),  # where it already is
    ],
)
def test_move_puts_the_child_at_the_position_and_renumbers_0_to_n_minus_1(
    kind: Ordered,
    family: tuple[Any, list[Any]],
    personas: Any,
    from_index: int,
    to_position: int,
    expected: list[int],
) -> None:
    parent, children = family
    returned = kind.move(personas.manager, children[from_index], to_position)

    expected_ids = [children[i].pk for i in expected]
    assert kind.order(parent) == expected_ids
    assert returned == expected_ids
    assert kind.positions(parent) == list(range(N))


@pytest.mark.parametrize(
    "position",
    [N, 99, -1, "1", 1.0, True, False, None, 2**70],
    ids=["n", "99", "negative", "string", "float", "True", "False", "None", "huge"],
)
def test_move_to_a_bad_position_is_refused_and_the_order_is_unchanged(
    kind: Ordered, family: tuple[Any, list[Any]], personas: Any, position: Any
) -> None:
    parent, children = family
    before = kind.order(parent)

    with pytest.raises(ValidationError) as exc:
        kind.move(personas.manager, children[1], position)

    assert set(exc.value.message_dict) == {"position"}
    assert kind.order(parent) == before
    assert kind.positions(parent) == list(range(N))


def test_moving_an_archived_child_is_refused(
    kind: Ordered, family: tuple[Any, list[Any]], personas: Any
) -> None:
    parent, children = family
    kind.archive(personas.manager, children[1])
    before = kind.order(parent)

    with pytest.raises(ValidationError) as exc:
        kind.move(personas.manager, children[1], 0)

    assert "position" in exc.value.message_dict
    assert kind.order(parent) == before
    children[1].refresh_from_db()
    assert children[1].position is None


def test_moves_skip_archived_children(
    kind: Ordered, family: tuple[Any, list[Any]], personas: Any
) -> None:
    parent, children = family
    kind.archive(personas.manager, children[0])

    kind.move(personas.manager, children[3], 0)

    assert kind.order(parent) == [children[3].pk, children[1].pk, children[2].pk]
    assert kind.positions(parent) == [0, 1, 2]
    children[0].refresh_from_db()
    assert children[0].position is None


def test_a_refused_move_by_a_viewer_leaves_the_order_alone(
    kind: Ordered, family: tuple[Any, list[Any]], personas: Any
) -> None:
    parent, children = family
    before = kind.order(parent)

    with pytest.raises(PermissionDenied):
        kind.move(personas.viewer, children[3], 0)

    assert kind.order(parent) == before


# --- Archiving and restoring -------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, N - 1])
def test_archive_closes_the_gap_and_clears_the_position(
    kind: Ordered, family: tuple[Any, list[Any]], personas: Any, index: int
) -> None:
    parent, children = family

    kind.archive(personas.manager, children[index])

    children[index].refresh_from_db()
    assert children[index].archived_at is not None
    assert children[index].position is None
    assert kind.order(parent) == [c.pk for i, c in enumerate(children) if i != index]
    assert kind.positions(parent) == list(range(N - 1))


def test_archiving_twice_changes_nothing_more(
    kind: Ordered, family: tuple[Any, list[Any]], personas: Any
) -> None:
    parent, children = family
    kind.archive(personas.manager, children[1])
    children[1].refresh_from_db()
    archived_at = children[1].archived_at

    kind.archive(personas.manager, children[1])

    children[1].refresh_from_db()
    assert children[1].archived_at == archived_at
    assert kind.positions(parent) == list(range(N - 1))


def test_restore_appends_at_the_end(
    kind: Ordered, family: tuple[Any, list[Any]], personas: Any
) -> None:
    parent, children = family
    kind.archive(personas.manager, children[0])

    kind.restore(personas.manager, children[0], None)

    children[0].refresh_from_db()
    assert children[0].archived_at is None
    assert kind.order(parent) == [c.pk for c in children[1:]] + [children[0].pk]
    assert kind.positions(parent) == list(range(N))


@pytest.mark.parametrize("position", [0, 1, N - 1])
def test_restore_at_a_position_inserts_there(
    kind: Ordered, family: tuple[Any, list[Any]], personas: Any, position: int
) -> None:
    parent, children = family
    kind.archive(personas.manager, children[2])
    others = [c.pk for i, c in enumerate(children) if i != 2]

    kind.restore(personas.manager, children[2], position)

    assert kind.order(parent) == moved(others, children[2].pk, position)
    assert kind.positions(parent) == list(range(N))


@pytest.mark.parametrize("position", [N, -1, "0", True])
def test_restore_at_a_bad_position_is_refused_and_it_stays_archived(
    kind: Ordered, family: tuple[Any, list[Any]], personas: Any, position: Any
) -> None:
    parent, children = family
    kind.archive(personas.manager, children[2])
    before = kind.order(parent)

    with pytest.raises(ValidationError) as exc:
        kind.restore(personas.manager, children[2], position)

    assert set(exc.value.message_dict) == {"position"}
    children[2].refresh_from_db()
    assert children[2].archived_at is not None
    assert children[2].position is None
    assert kind.order(parent) == before


# --- Creating ----------------------------------------------------------------------------


def test_create_without_a_position_appends(
    kind: Ordered, family: tuple[Any, list[Any]], personas: Any
) -> None:
    parent, children = family

    child = kind.create(personas.manager, parent, None)

    assert child.position == N
    assert kind.order(parent) == [c.pk for c in children] + [child.pk]
    assert kind.positions(parent) == list(range(N + 1))


@pytest.mark.parametrize("position", [0, 2, N])
def test_create_with_a_position_inserts_there(
    kind: Ordered, family: tuple[Any, list[Any]], personas: Any, position: int
) -> None:
    parent, children = family

    child = kind.create(personas.manager, parent, position)

    assert child.position == position
    assert kind.order(parent) == moved([c.pk for c in children], child.pk, position)
    assert kind.positions(parent) == list(range(N + 1))


@pytest.mark.parametrize("position", [N + 1, -1, "0", 0.0, True])
def test_create_at_a_bad_position_is_refused_and_creates_nothing(
    kind: Ordered, family: tuple[Any, list[Any]], personas: Any, position: Any
) -> None:
    parent, children = family
    count = kind.model.objects.count()

    with pytest.raises(ValidationError) as exc:
        kind.create(personas.manager, parent, position)

    assert set(exc.value.message_dict) == {"position"}
    assert kind.model.objects.count() == count
    assert kind.order(parent) == [c.pk for c in children]


def test_create_into_an_empty_parent_starts_at_0(kind: Ordered, personas: Any) -> None:
    parent = kind.make_parent(personas.org)

    first = kind.create(personas.manager, parent, None)
    second = kind.create(personas.manager, parent, 0)

    assert kind.order(parent) == [second.pk, first.pk]
    assert kind.positions(parent) == [0, 1]


# --- Touch points across stages ---------------------------------------------------------


@pytest.fixture
def two_stages(personas: Any) -> tuple[Stage, list[TouchPoint], Stage, list[TouchPoint]]:
    journey = JourneyFactory(organization=personas.org)
    first, second = StageFactory(journey=journey), StageFactory(journey=journey)
    return (
        first,
        [TouchPointFactory(stage=first) for _ in range(3)],
        second,
        [TouchPointFactory(stage=second) for _ in range(2)],
    )


@pytest.mark.parametrize("position", [0, 1, 2])
def test_moving_a_touch_point_into_another_stage_renumbers_both_stages(
    personas: Any, two_stages: tuple[Stage, list[TouchPoint], Stage, list[TouchPoint]], position
) -> None:
    first, in_first, second, in_second = two_stages

    returned = move_touch_point(
        actor=personas.manager, touch_point=in_first[0], position=position, stage=second
    )

    expected = moved([tp.pk for tp in in_second], in_first[0].pk, position)
    assert TOUCH_POINTS.order(second) == expected == returned
    assert TOUCH_POINTS.positions(second) == [0, 1, 2]
    assert TOUCH_POINTS.order(first) == [in_first[1].pk, in_first[2].pk]
    assert TOUCH_POINTS.positions(first) == [0, 1]
    in_first[0].refresh_from_db()
    assert in_first[0].stage_id == second.pk
    assert in_first[0].journey_id == second.journey_id


def test_moving_a_touch_point_into_a_stage_of_another_journey_is_refused(
    personas: Any, two_stages: tuple[Stage, list[TouchPoint], Stage, list[TouchPoint]]
) -> None:
    first, in_first, _, _ = two_stages
    elsewhere = StageFactory(journey__organization=personas.org)
    TouchPointFactory(stage=elsewhere)

    with pytest.raises(ValidationError) as exc:
        move_touch_point(
            actor=personas.manager, touch_point=in_first[0], position=0, stage=elsewhere
        )

    assert "stage" in exc.value.message_dict
    in_first[0].refresh_from_db()
    assert in_first[0].stage_id == first.pk
    assert TOUCH_POINTS.order(first) == [tp.pk for tp in in_first]
    assert TOUCH_POINTS.positions(elsewhere) == [0]


def test_moving_a_touch_point_into_a_stage_of_another_organization_is_refused(
    personas: Any, two_stages: tuple[Stage, list[TouchPoint], Stage, list[TouchPoint]]
) -> None:
    first, in_first, _, _ = two_stages
    foreign = StageFactory(journey__organization=personas.other_org)

    with pytest.raises(ValidationError):
        move_touch_point(actor=personas.manager, touch_point=in_first[0], position=0, stage=foreign)

    in_first[0].refresh_from_db()
    assert in_first[0].stage_id == first.pk
    assert not TouchPoint.objects.filter(stage=foreign).exists()


def test_moving_a_touch_point_into_an_archived_stage_is_refused(
    personas: Any, two_stages: tuple[Stage, list[TouchPoint], Stage, list[TouchPoint]]
) -> None:
    first, in_first, second, _ = two_stages
    archive_stage(actor=personas.manager, stage=second)
    second.refresh_from_db()

    with pytest.raises(ValidationError) as exc:
        move_touch_point(actor=personas.manager, touch_point=in_first[0], position=0, stage=second)

    assert "stage" in exc.value.message_dict
    assert TOUCH_POINTS.order(first) == [tp.pk for tp in in_first]


@pytest.mark.parametrize("position", [3, -1, "0"])
def test_moving_a_touch_point_into_another_stage_at_a_bad_position_changes_neither_stage(
    personas: Any,
    two_stages: tuple[Stage, list[TouchPoint], Stage, list[TouchPoint]],
    position: Any,
) -> None:
    first, in_first, second, in_second = two_stages

    with pytest.raises(ValidationError) as exc:
        move_touch_point(
            actor=personas.manager, touch_point=in_first[0], position=position, stage=second
        )

    assert set(exc.value.message_dict) == {"position"}
    assert TOUCH_POINTS.order(first) == [tp.pk for tp in in_first]
    assert TOUCH_POINTS.order(second) == [tp.pk for tp in in_second]
    in_first[0].refresh_from_db()
    assert in_first[0].stage_id == first.pk


# --- Two managers at once ---------------------------------------------------------------

ROUNDS = 20


def run_together(*calls: Callable[[], Any]) -> list[BaseException]:
    """Run each call in its own thread and database connection, released together by a
    barrier; returns whatever they raised."""
    barrier = threading.Barrier(len(calls))
    failures: list[BaseException] = []

    def run(call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            call()
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a reorder hung"
    return failures


@pytest.fixture
def two_managers(personas: Any) -> tuple[User, User]:
    second = UserFactory(email="second-manager@northwind.test")
    MembershipFactory(user=second, organization=personas.org, role=Role.MANAGER)
    return personas.manager, second


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", [STAGES, TOUCH_POINTS, CRITERIA], ids=lambda k: k.label)
def test_two_managers_reordering_at_once_are_applied_one_after_the_other(
    kind: Ordered, personas: Any, two_managers: tuple[User, User], recompute_requests: Any
) -> None:
    parent = kind.make_parent(personas.org)
    for _ in range(6):
        kind.make_child(parent)
    rng = random.Random(20260501)

    for round_number in range(ROUNDS):
        before = kind.order(parent)
        a_id, b_id = rng.sample(before, 2)
        a_pos, b_pos = rng.randrange(len(before)), rng.randrange(len(before))
        a_child, b_child = kind.model.objects.get(pk=a_id), kind.model.objects.get(pk=b_id)

        failures = run_together(
            partial(kind.move, two_managers[0], a_child, a_pos),
            partial(kind.move, two_managers[1], b_child, b_pos),
        )

        assert failures == []
        after = kind.order(parent)
        assert kind.positions(parent) == list(range(len(before))), f"round {round_number}"
        assert sorted(after) == sorted(before)
        a_then_b = moved(moved(before, a_id, a_pos), b_id, b_pos)
        b_then_a = moved(moved(before, b_id, b_pos), a_id, a_pos)
        assert after in (a_then_b, b_then_a), f"round {round_number}: a move was lost"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_crossing_touch_point_moves_between_two_stages_neither_deadlock_nor_lose_one(
    personas: Any, two_managers: tuple[User, User], recompute_requests: Any
) -> None:
    journey = JourneyFactory(organization=personas.org)
    left, right = StageFactory(journey=journey), StageFactory(journey=journey)
    for stage in (left, right):
        for _ in range(3):
            TouchPointFactory(stage=stage)
    rng = random.Random(7)

    for round_number in range(ROUNDS):
        from_left = TouchPoint.objects.get(pk=rng.choice(TOUCH_POINTS.order(left)))
        from_right = TouchPoint.objects.get(pk=rng.choice(TOUCH_POINTS.order(right)))

        failures = run_together(
            partial(
                move_touch_point,
                actor=two_managers[0],
                touch_point=from_left,
                position=0,
                stage=right,
            ),
            partial(
                move_touch_point,
                actor=two_managers[1],
                touch_point=from_right,
                position=0,
                stage=left,
            ),
        )

        assert failures == [], f"round {round_number}"
        assert TOUCH_POINTS.positions(left) == [0, 1, 2]
        assert TOUCH_POINTS.positions(right) == [0, 1, 2]
        assert TOUCH_POINTS.order(left)[0] == from_right.pk
        assert TOUCH_POINTS.order(right)[0] == from_left.pk


@pytest.mark.django_db(transaction=True)
def test_the_parent_locks_of_a_reorder_do_not_block_an_evaluation(
    personas: Any, recompute_requests: Any
) -> None:
    """Reorders lock their parent FOR NO KEY UPDATE, which an evaluation insert (taking
    FOR KEY SHARE on its journey and touch point through the foreign keys) does not wait for.

    One transaction takes every parent lock a reorder of the journey's stages, of the
    stage's touch points and of the touch point's criteria takes, renumbers the stages,
    and holds it all while another stores an evaluation under a 3 s lock timeout.
    """
    journey = JourneyFactory(organization=personas.org)
    stage = StageFactory(journey=journey)
    StageFactory(journey=journey)
    touch_point = TouchPointFactory(stage=stage)
    criteria = [
        CriterionFactory(touch_point=touch_point, kind=CriterionKind.YES_NO),
        CriterionFactory(touch_point=touch_point),
    ]
    locks_held, evaluation_done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def reorder_and_hold() -> None:
        try:
            with transaction.atomic():
                move_stage(actor=personas.manager, stage=stage, position=1)
                ordering.lock(Stage, stage.pk)
                ordering.lock(TouchPoint, touch_point.pk)
                locks_held.set()
                evaluation_done.wait(timeout=15)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    def evaluate() -> None:
        try:
            assert locks_held.wait(timeout=10)
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '3s'")
                submit_evaluation(
                    evaluator=personas.evaluator,
                    organization=personas.org,
                    touch_point_id=touch_point.pk,
                    source="supervisor",
                    observed_at=timezone.now() - timedelta(minutes=1),
                    answers=[AnswerInput(c.pk, 1) for c in criteria],
                )
        except BaseException as exc:
            failures.append(exc)
        finally:
            evaluation_done.set()
            connection.close()

    threads = [threading.Thread(target=reorder_and_hold), threading.Thread(target=evaluate)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    assert Evaluation.objects.filter(touch_point=touch_point).count() == 1
    assert Answer.objects.filter(evaluation__touch_point=touch_point).count() == 2
    assert STAGES.order(journey)[1] == stage.pk
