"""The structure editor in the browser: each change a manager makes goes through the service
and answers with the fresh partial; a bad value is refused beside its field and nothing is
stored; evaluators and viewers are refused (403) and another organization's ids are not
found (404), with nothing changed; moves keep positions 0..n-1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from accounts.models import AuditEvent, User
from journeys.models import Journey, Stage
from tests.conftest import Personas
from tests.factories import CriterionFactory, JourneyFactory, StageFactory, TouchPointFactory
from touchpoints.models import Criterion, CriterionKind, TouchPoint

HTMX = {"HTTP_HX_REQUEST": "true"}


@dataclass
class Map:
    journey: Journey
    arrive: Stage
    pay: Stage
    welcome: TouchPoint
    wait: TouchPoint
    bill: TouchPoint
    criterion: Criterion
    foreign_stage: Stage
    foreign_touch_point: TouchPoint
    foreign_criterion: Criterion


@pytest.fixture
def m(personas: Personas) -> Map:
    journey = JourneyFactory(organization=personas.org, name="Vet visit")
    arrive = StageFactory(journey=journey, name="Arrive")
    pay = StageFactory(journey=journey, name="Pay")
    welcome = TouchPointFactory(stage=arrive, name="Welcome")
    wait = TouchPointFactory(stage=arrive, name="Waiting room")
    bill = TouchPointFactory(stage=pay, name="Bill")
    criterion = CriterionFactory(touch_point=welcome, name="Warmth")
    foreign = TouchPointFactory(stage__journey__organization=personas.other_org, name="Theirs")
    return Map(
        journey=journey,
        arrive=arrive,
        pay=pay,
        welcome=welcome,
        wait=wait,
        bill=bill,
        criterion=criterion,
        foreign_stage=foreign.stage,
        foreign_touch_point=foreign,
        foreign_criterion=CriterionFactory(touch_point=foreign),
    )


def as_user(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def post(client: Client, url: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(url, data or {}, **HTMX)


def names(queryset: Any) -> list[str]:
    return list(queryset.order_by("position").values_list("name", flat=True))


def positions(queryset: Any) -> list[int]:
    return list(queryset.order_by("position").values_list("position", flat=True))


def tp_order(stage: Stage) -> list[str]:
    return names(TouchPoint.objects.filter(stage=stage, archived_at__isnull=True))


def order_on_page(html: str, *names_in_order: str) -> bool:
    found = [html.index(f">{name}</a>") for name in names_in_order]
    return found == sorted(found)


# --- Every change a manager makes -------------------------------------------------------------


def test_manager_creates_a_journey_and_is_sent_to_its_map(
    personas: Personas, client: Client
) -> None:
    response = post(
        as_user(client, personas.manager),
        "/edit/journeys/",
        {"name": "  Adoption  ", "persona": "First-time owner", "target": "75"},
    )
    journey = Journey.objects.get(name="Adoption")
    assert response.status_code == 201
    assert response["HX-Redirect"] == f"/journeys/{journey.pk}/"
    assert (journey.organization, journey.persona, journey.target) == (
        personas.org,
        "First-time owner",
        75.0,
    )
    assert AuditEvent.objects.filter(
        object_type="journey", object_id=journey.pk, action="create"
    ).exists()


def test_new_journey_without_a_name_shows_the_error_beside_the_field(
    personas: Personas, client: Client
) -> None:
    response = post(
        as_user(client, personas.manager), "/edit/journeys/", {"name": " ", "persona": "Kept"}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="new-journey-name-error"' in html and "This field is required." in html
    assert 'value="Kept"' in html  # what was typed survives
    assert not Journey.objects.filter(persona="Kept").exists()


def test_manager_adds_a_stage_and_gets_the_fresh_map(
    personas: Personas, m: Map, client: Client
) -> None:
    response = post(
        as_user(client, personas.manager),
        f"/edit/journeys/{m.journey.pk}/stages/",
        {"name": "Follow-up"},
    )
    assert response.status_code == 200
    assert names(Stage.objects.filter(journey=m.journey)) == ["Arrive", "Pay", "Follow-up"]
    html = response.content.decode()
    assert html.startswith('\n<div id="map-body"') or html.lstrip().startswith('<div id="map-body"')
    assert "Follow-up" in html and "Stage added." in html


def test_manager_renames_a_stage(personas: Personas, m: Map, client: Client) -> None:
    response = post(
        as_user(client, personas.manager), f"/edit/stages/{m.arrive.pk}/", {"name": "Arrival"}
    )
    m.arrive.refresh_from_db()
    assert response.status_code == 200 and m.arrive.name == "Arrival"
    assert "Arrival" in response.content.decode()


@pytest.mark.parametrize("bad", ["", "   ", "x" * 201])
def test_a_bad_stage_name_is_refused_beside_the_field_and_nothing_stored(
    personas: Personas, m: Map, client: Client, bad: str
) -> None:
    response = post(
        as_user(client, personas.manager), f"/edit/stages/{m.arrive.pk}/", {"name": bad}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert response["HX-Retarget"] == f"#stage-{m.arrive.pk}-rename"
    assert f'id="stage-{m.arrive.pk}-name-error"' in html and 'aria-invalid="true"' in html
    m.arrive.refresh_from_db()
    assert m.arrive.name == "Arrive"


def test_a_bad_new_stage_is_refused_beside_the_field(
    personas: Personas, m: Map, client: Client
) -> None:
    response = post(
        as_user(client, personas.manager), f"/edit/journeys/{m.journey.pk}/stages/", {"name": ""}
    )
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#add-stage"
    assert "This field is required." in response.content.decode()
    assert Stage.objects.filter(journey=m.journey).count() == 2


def test_manager_adds_a_touch_point_with_channel_importance_and_target(
    personas: Personas, m: Map, client: Client
) -> None:
    response = post(
        as_user(client, personas.manager),
        f"/edit/stages/{m.pay.pk}/touch-points/",
        {"name": "Card payment", "channel": "in_person", "importance": "5", "target": "85"},
    )
    touch_point = TouchPoint.objects.get(name="Card payment")
    assert response.status_code == 200
    assert (touch_point.stage, touch_point.channel, touch_point.importance, touch_point.target) == (
        m.pay,
        "in_person",
        5,
        85.0,
    )
    assert tp_order(m.pay) == ["Bill", "Card payment"]
    assert f'id="tp-{touch_point.pk}"' in response.content.decode()


def test_the_add_touch_point_form_offers_every_channel_and_importance(
    personas: Personas, m: Map, client: Client
) -> None:
    html = as_user(client, personas.manager).get(f"/edit/stages/{m.pay.pk}/touch-points/", **HTMX)
    text = html.content.decode()
    assert html.status_code == 200 and f'id="stage-{m.pay.pk}-add"' in text
    assert '<option value="physical">Physical environment</option>' in text
    assert '<option value="3" selected>3</option>' in text


def test_a_touch_point_without_a_target_takes_the_journeys(
    personas: Personas, m: Map, client: Client
) -> None:
    post(
        as_user(client, personas.manager),
        f"/edit/stages/{m.pay.pk}/touch-points/",
        {"name": "Receipt", "channel": "mail", "importance": "2", "target": ""},
    )
    assert TouchPoint.objects.get(name="Receipt").target is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "This field is required."),
        ("importance", "9", "Importance must be a whole number from 1 to 5."),
        ("importance", "lots", "Importance must be a whole number from 1 to 5."),
        ("target", "120", "Must be a number from 0 to 100."),
        ("target", "high", "Must be a number from 0 to 100."),
        ("channel", "pigeon", "Channel must be one of"),
    ],
)
def test_a_bad_new_touch_point_is_refused_with_the_services_message(
    personas: Personas, m: Map, client: Client, field: str, value: str, message: str
) -> None:
    data = {"name": "Receipt", "channel": "mail", "importance": "3", "target": "", field: value}
    response = post(
        as_user(client, personas.manager), f"/edit/stages/{m.pay.pk}/touch-points/", data
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert response["HX-Retarget"] == f"#stage-{m.pay.pk}-add"
    assert f'id="add-tp-{m.pay.pk}-{field}-error"' in html and message in html
    assert tp_order(m.pay) == ["Bill"]


def test_manager_loads_and_saves_the_touch_point_form(
    personas: Personas, m: Map, client: Client
) -> None:
    client = as_user(client, personas.manager)
    form = client.get(f"/edit/touch-points/{m.wait.pk}/", **HTMX)
    assert form.status_code == 200 and 'value="Waiting room"' in form.content.decode()
    response = post(
        client,
        f"/edit/touch-points/{m.wait.pk}/",
        {
            "name": "Waiting area",
            "channel": "physical",
            "importance": "4",
            "target": "70",
            "owner_team": "Front desk",
            "description": "",
        },
    )
    m.wait.refresh_from_db()
    assert response.status_code == 200
    assert (m.wait.name, m.wait.channel, m.wait.importance, m.wait.target, m.wait.owner_team) == (
        "Waiting area",
        "physical",
        4,
        70.0,
        "Front desk",
    )
    assert "Waiting area" in response.content.decode()


def test_a_bad_touch_point_edit_is_refused_beside_the_field(
    personas: Personas, m: Map, client: Client
) -> None:
    response = post(
        as_user(client, personas.manager),
        f"/edit/touch-points/{m.wait.pk}/",
        {"name": "", "channel": "web", "importance": "3", "target": ""},
    )
    assert response.status_code == 400
    assert response["HX-Retarget"] == f"#tp-{m.wait.pk}-edit"
    assert f'id="edit-tp-{m.wait.pk}-name-error"' in response.content.decode()
    m.wait.refresh_from_db()
    assert (m.wait.name, m.wait.channel) == ("Waiting room", "other")


# --- Moves: positions stay 0..n-1, the page shows the database's order ------------------------


def test_dropping_a_touch_point_at_a_position_reorders_its_stage(
    personas: Personas, m: Map, client: Client
) -> None:
    extra = TouchPointFactory(stage=m.arrive, name="Check-in")
    response = post(
        as_user(client, personas.manager), f"/edit/touch-points/{extra.pk}/move/", {"position": "0"}
    )
    assert response.status_code == 200
    assert tp_order(m.arrive) == ["Check-in", "Welcome", "Waiting room"]
    assert positions(TouchPoint.objects.filter(stage=m.arrive)) == [0, 1, 2]
    assert order_on_page(response.content.decode(), "Check-in", "Welcome", "Waiting room")


def test_dropping_a_touch_point_into_another_stage_moves_it_there(
    personas: Personas, m: Map, client: Client
) -> None:
    response = post(
        as_user(client, personas.manager),
        f"/edit/touch-points/{m.welcome.pk}/move/",
        {"position": "1", "stage": str(m.pay.pk)},
    )
    assert response.status_code == 200
    assert tp_order(m.arrive) == ["Waiting room"] and tp_order(m.pay) == ["Bill", "Welcome"]
    assert positions(TouchPoint.objects.filter(stage=m.arrive)) == [0]
    assert positions(TouchPoint.objects.filter(stage=m.pay)) == [0, 1]


@pytest.mark.parametrize(
    ("direction", "arrive", "pay"),
    [
        ("down", ["Waiting room", "Welcome"], ["Bill"]),
        ("next_stage", ["Waiting room"], ["Bill", "Welcome"]),
    ],
)
def test_keyboard_moves_count_from_the_fresh_order(
    personas: Personas, m: Map, client: Client, direction: str, arrive: list[str], pay: list[str]
) -> None:
    response = post(
        as_user(client, personas.manager),
        f"/edit/touch-points/{m.welcome.pk}/move/",
        {"direction": direction},
    )
    assert response.status_code == 200
    assert (tp_order(m.arrive), tp_order(m.pay)) == (arrive, pay)
    html = response.content.decode()
    assert (
        f'data-editor-key="tp-{m.welcome.pk}" open' in html
    )  # its menu stays open for the next key


def test_a_keyboard_move_past_the_end_is_refused_and_changes_nothing(
    personas: Personas, m: Map, client: Client
) -> None:
    client = as_user(client, personas.manager)
    for url, data in [
        (f"/edit/touch-points/{m.wait.pk}/move/", {"direction": "down"}),
        (f"/edit/touch-points/{m.welcome.pk}/move/", {"direction": "previous_stage"}),
        (f"/edit/touch-points/{m.welcome.pk}/move/", {"position": "7"}),
        (f"/edit/touch-points/{m.welcome.pk}/move/", {"position": "first"}),
        (
            f"/edit/touch-points/{m.welcome.pk}/move/",
            {"position": "0", "stage": str(m.foreign_stage.pk)},
        ),
    ]:
        response = post(client, url, data)
        assert response.status_code == 409, data
        assert "editor-message--error" in response.content.decode()
    assert tp_order(m.arrive) == ["Welcome", "Waiting room"] and tp_order(m.pay) == ["Bill"]


def test_stages_move_by_drop_and_by_keyboard(personas: Personas, m: Map, client: Client) -> None:
    client = as_user(client, personas.manager)
    third = StageFactory(journey=m.journey, name="Follow-up")
    post(client, f"/edit/stages/{third.pk}/move/", {"position": "0"})
    assert names(Stage.objects.filter(journey=m.journey)) == ["Follow-up", "Arrive", "Pay"]
    response = post(client, f"/edit/stages/{m.pay.pk}/move/", {"direction": "up"})
    assert names(Stage.objects.filter(journey=m.journey)) == ["Follow-up", "Pay", "Arrive"]
    assert positions(Stage.objects.filter(journey=m.journey)) == [0, 1, 2]
    html = response.content.decode()
    assert html.index(">Follow-up</h2>") < html.index(">Pay</h2>") < html.index(">Arrive</h2>")


def test_the_page_shows_another_managers_change_after_your_own(
    personas: Personas, m: Map, client: Client
) -> None:
    """Another manager moved a stage since this page was drawn: the response to our move
    shows the order the database holds after both."""
    third = StageFactory(journey=m.journey, name="Follow-up")
    post(as_user(Client(), personas.manager), f"/edit/stages/{third.pk}/move/", {"position": "0"})
    response = post(
        as_user(client, personas.manager),
        f"/edit/touch-points/{m.welcome.pk}/move/",
        {"direction": "down"},
    )
    html = response.content.decode()
    assert html.index(">Follow-up</h2>") < html.index(">Arrive</h2>")
    assert order_on_page(html, "Waiting room", "Welcome")


# --- Archive and restore -------------------------------------------------------------------------


def test_archived_touch_point_leaves_the_map_and_comes_back(
    personas: Personas, m: Map, client: Client
) -> None:
    client = as_user(client, personas.manager)
    response = post(client, f"/edit/touch-points/{m.welcome.pk}/archive/")
    m.welcome.refresh_from_db()
    assert response.status_code == 200 and m.welcome.is_archived
    assert f'id="tp-{m.welcome.pk}"' not in response.content.decode()
    assert positions(TouchPoint.objects.filter(stage=m.arrive, archived_at__isnull=True)) == [0]
    archived = client.get(f"/edit/journeys/{m.journey.pk}/archived/", **HTMX).content.decode()
    assert "Welcome" in archived and f"/edit/touch-points/{m.welcome.pk}/restore/" in archived
    response = post(client, f"/edit/touch-points/{m.welcome.pk}/restore/")
    assert f'id="tp-{m.welcome.pk}"' in response.content.decode()
    assert tp_order(m.arrive) == ["Waiting room", "Welcome"]


def test_archived_stage_is_listed_with_restore(personas: Personas, m: Map, client: Client) -> None:
    client = as_user(client, personas.manager)
    post(client, f"/edit/stages/{m.arrive.pk}/archive/")
    assert names(Stage.objects.filter(journey=m.journey, archived_at__isnull=True)) == ["Pay"]
    archived = client.get(f"/edit/journeys/{m.journey.pk}/archived/", **HTMX).content.decode()
    assert f"/edit/stages/{m.arrive.pk}/restore/" in archived
    post(client, f"/edit/stages/{m.arrive.pk}/restore/")
    assert names(Stage.objects.filter(journey=m.journey)) == ["Pay", "Arrive"]


# --- Criteria ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {
                "name": "Greeting",
                "kind": "scale",
                "scale_size": "3",
                "scale_labels": "Cold\nPolite\nWarm",
                "weight": "2",
            },
            {
                "kind": "scale",
                "scale_size": 3,
                "scale_labels": ["Cold", "Polite", "Warm"],
                "weight": 2.0,
                "critical": False,
            },
        ),
        (
            {"name": "Pet greeted", "kind": "yes_no", "critical": "1", "weight": ""},
            {"kind": "yes_no", "scale_size": None, "weight": 1.0, "critical": True},
        ),
        (
            {
                "name": "Wait",
                "kind": "numeric",
                "target_value": "60",
                "worst_value": "600",
                "unit": "seconds",
                "weight": "1.5",
            },
            {
                "kind": "numeric",
                "target_value": 60.0,
                "worst_value": 600.0,
                "unit": "seconds",
                "weight": 1.5,
            },
        ),
    ],
)
def test_manager_adds_criteria_of_each_kind(
    personas: Personas, m: Map, client: Client, data: dict[str, str], expected: dict[str, Any]
) -> None:
    response = post(
        as_user(client, personas.manager), f"/edit/touch-points/{m.welcome.pk}/criteria/", data
    )
    assert response.status_code == 200
    criterion = Criterion.objects.get(touch_point=m.welcome, name=data["name"])
    rubric = criterion.rubric
    assert {key: getattr(rubric, key) for key in expected} == expected
    assert criterion.position == 1
    assert 'id="criteria-editor"' in response.content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "kind": "yes_no"}, "name", "This field is required."),
        (
            {"name": "Wait", "kind": "numeric", "target_value": "60", "worst_value": "60"},
            "worst_value",
            "The worst value must differ from the target.",
        ),
        (
            {"name": "Wait", "kind": "numeric", "target_value": "soon", "worst_value": "600"},
            "target_value",
            "A numeric criterion needs a target value.",
        ),
        (
            {"name": "Greeting", "kind": "scale", "scale_size": "20"},
            "scale_size",
            "Scale size must be a whole number from 2 to 11.",
        ),
        (
            {"name": "Greeting", "kind": "scale", "scale_size": "3", "scale_labels": "a\nb"},
            "scale_labels",
            "Give one label per scale point (3), or none.",
        ),
        (
            {"name": "Greeting", "kind": "scale", "weight": "0"},
            "weight",
            "Weight must be a number from 0.001 to 1000.",
        ),
    ],
)
def test_a_bad_criterion_is_refused_beside_the_field_and_nothing_stored(
    personas: Personas, m: Map, client: Client, data: dict[str, str], field: str, message: str
) -> None:
    response = post(
        as_user(client, personas.manager), f"/edit/touch-points/{m.welcome.pk}/criteria/", data
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert f'id="new-criterion-{field.replace("_", "-")}-error"' in html and message in html
    assert Criterion.objects.filter(touch_point=m.welcome).count() == 1


def test_manager_edits_reorders_archives_and_restores_a_criterion(
    personas: Personas, m: Map, client: Client
) -> None:
    client = as_user(client, personas.manager)
    second = CriterionFactory(touch_point=m.welcome, name="Speed", kind=CriterionKind.YES_NO)
    response = post(
        client,
        f"/edit/criteria/{m.criterion.pk}/",
        {
            "name": "Warmth of welcome",
            "kind": "scale",
            "scale_size": "4",
            "weight": "3",
            "critical": "1",
        },
    )
    assert response.status_code == 200
    m.criterion.refresh_from_db()
    assert (
        m.criterion.name,
        m.criterion.rubric.scale_size,
        m.criterion.rubric.weight,
        m.criterion.rubric.critical,
    ) == ("Warmth of welcome", 4, 3.0, True)
    post(client, f"/edit/criteria/{second.pk}/move/", {"direction": "up"})
    assert names(Criterion.objects.filter(touch_point=m.welcome)) == ["Speed", "Warmth of welcome"]
    response = post(client, f"/edit/criteria/{second.pk}/move/", {"position": "1"})
    assert names(Criterion.objects.filter(touch_point=m.welcome)) == ["Warmth of welcome", "Speed"]
    assert positions(Criterion.objects.filter(touch_point=m.welcome)) == [0, 1]
    post(client, f"/edit/criteria/{second.pk}/archive/")
    html = client.get(f"/edit/touch-points/{m.welcome.pk}/criteria/", **HTMX).content.decode()
    assert "Archived criteria (1)" in html and f"/edit/criteria/{second.pk}/restore/" in html
    post(client, f"/edit/criteria/{second.pk}/restore/")
    assert names(Criterion.objects.filter(touch_point=m.welcome, archived_at__isnull=True)) == [
        "Warmth of welcome",
        "Speed",
    ]


def test_a_bad_criterion_edit_keeps_what_was_typed(
    personas: Personas, m: Map, client: Client
) -> None:
    response = post(
        as_user(client, personas.manager),
        f"/edit/criteria/{m.criterion.pk}/",
        {"name": "Renamed", "kind": "scale", "scale_size": "1"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert f'id="criterion-{m.criterion.pk}-scale-size-error"' in html and 'value="Renamed"' in html
    m.criterion.refresh_from_db()
    assert m.criterion.name == "Warmth"


# --- Who may edit -----------------------------------------------------------------------------


def edits(m: Map) -> list[tuple[str, str, dict[str, str]]]:
    """(method, url, data) of every editor route, on objects of our organization."""
    return [
        ("post", "/edit/journeys/", {"name": "Sneaky"}),
        ("post", f"/edit/journeys/{m.journey.pk}/stages/", {"name": "Sneaky"}),
        ("get", f"/edit/journeys/{m.journey.pk}/archived/", {}),
        ("post", f"/edit/stages/{m.arrive.pk}/", {"name": "Sneaky"}),
        ("post", f"/edit/stages/{m.arrive.pk}/move/", {"position": "1"}),
        ("post", f"/edit/stages/{m.arrive.pk}/archive/", {}),
        ("post", f"/edit/stages/{m.arrive.pk}/restore/", {}),
        ("get", f"/edit/stages/{m.arrive.pk}/touch-points/", {}),
        ("post", f"/edit/stages/{m.arrive.pk}/touch-points/", {"name": "Sneaky"}),
        ("get", f"/edit/touch-points/{m.welcome.pk}/", {}),
        ("post", f"/edit/touch-points/{m.welcome.pk}/", {"name": "Sneaky"}),
        ("post", f"/edit/touch-points/{m.welcome.pk}/move/", {"position": "1"}),
        ("post", f"/edit/touch-points/{m.welcome.pk}/archive/", {}),
        ("post", f"/edit/touch-points/{m.welcome.pk}/restore/", {}),
        ("get", f"/edit/touch-points/{m.welcome.pk}/criteria/", {}),
        (
            "post",
            f"/edit/touch-points/{m.welcome.pk}/criteria/",
            {"name": "Sneaky", "kind": "yes_no"},
        ),
        ("post", f"/edit/criteria/{m.criterion.pk}/", {"name": "Sneaky"}),
        ("post", f"/edit/criteria/{m.criterion.pk}/move/", {"position": "0"}),
        ("post", f"/edit/criteria/{m.criterion.pk}/archive/", {}),
        ("post", f"/edit/criteria/{m.criterion.pk}/restore/", {}),
    ]


def structure(m: Map) -> list[Any]:
    return [
        list(Journey.objects.order_by("id").values_list("name", "status")),
        list(Stage.objects.order_by("id").values_list("name", "position", "archived_at")),
        list(
            TouchPoint.objects.order_by("id").values_list(
                "name", "stage_id", "position", "archived_at"
            )
        ),
        list(Criterion.objects.order_by("id").values_list("name", "position", "archived_at")),
        AuditEvent.objects.count(),
    ]


@pytest.mark.parametrize("role", ["evaluator", "viewer"])
def test_evaluators_and_viewers_are_refused_every_edit(
    personas: Personas, m: Map, client: Client, role: str
) -> None:
    client = as_user(client, getattr(personas, role))
    before = structure(m)
    for method, url, data in edits(m):
        response = getattr(client, method)(url, data, **HTMX)
        assert response.status_code == 403, (method, url)
    assert structure(m) == before


def test_other_organizations_ids_are_not_found(personas: Personas, m: Map, client: Client) -> None:
    """The outsider manages their own organization; ours does not exist for them."""
    client = as_user(client, personas.outsider)
    before = structure(m)
    for method, url, data in edits(m)[1:]:
        assert getattr(client, method)(url, data, **HTMX).status_code == 404, (method, url)
    assert structure(m) == before


def test_our_manager_cannot_reach_the_other_organizations_objects(
    personas: Personas, m: Map, client: Client
) -> None:
    client = as_user(client, personas.manager)
    before = structure(m)
    for url in (
        f"/edit/journeys/{m.foreign_stage.journey_id}/stages/",
        f"/edit/stages/{m.foreign_stage.pk}/",
        f"/edit/stages/{m.foreign_stage.pk}/archive/",
        f"/edit/touch-points/{m.foreign_touch_point.pk}/",
        f"/edit/touch-points/{m.foreign_touch_point.pk}/move/",
        f"/edit/criteria/{m.foreign_criterion.pk}/",
        f"/edit/criteria/{m.foreign_criterion.pk}/archive/",
    ):
        assert post(client, url, {"name": "Mine now", "position": "0"}).status_code == 404, url
    assert structure(m) == before


def test_edits_need_a_post_with_a_csrf_token(personas: Personas, m: Map) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.manager)
    assert client.get(f"/edit/stages/{m.arrive.pk}/archive/").status_code == 405
    assert client.post(f"/edit/stages/{m.arrive.pk}/archive/").status_code == 403
    m.arrive.refresh_from_db()
    assert not m.arrive.is_archived


def test_without_javascript_a_change_goes_back_to_the_map(
    personas: Personas, m: Map, client: Client
) -> None:
    response = as_user(client, personas.manager).post(
        f"/edit/stages/{m.arrive.pk}/", {"name": "Arrival"}
    )
    assert response.status_code == 302 and response["Location"] == f"/journeys/{m.journey.pk}/"
    page = client.get(f"/edit/touch-points/{m.welcome.pk}/criteria/")
    assert page.status_code == 200 and "<h1>Welcome</h1>" in page.content.decode()


# --- The map and its refresh --------------------------------------------------------------------


def test_managers_map_carries_the_editor_and_no_inline_code(
    personas: Personas, m: Map, client: Client
) -> None:
    html = as_user(client, personas.manager).get(f"/journeys/{m.journey.pk}/").content.decode()
    assert "vendor/Sortable.min.js" in html and "js/editor.js" in html
    assert f"/edit/touch-points/{m.welcome.pk}/move/" in html and 'id="add-stage"' in html
    assert " style=" not in html and "<script>" not in html


@pytest.mark.parametrize("role", ["evaluator", "viewer"])
def test_others_get_no_editor_on_any_page(
    personas: Personas, m: Map, client: Client, role: str
) -> None:
    client = as_user(client, getattr(personas, role))
    for url in (
        "/",
        f"/journeys/{m.journey.pk}/",
        f"/journeys/{m.journey.pk}/map/",
        f"/touch-points/{m.welcome.pk}/",
    ):
        html = client.get(url).content.decode()
        assert "/edit/" not in html and "editor.js" not in html, url


def test_criteria_are_edited_from_the_map_and_every_section_showing_them_refreshes(
    personas: Personas, m: Map, client: Client
) -> None:
    """The map's card offers its criteria editor in place; an add answers the editor with
    the page's refresh trigger, and the touch point page's Criteria section then lists it
    (it used to say "No criteria yet" until a reload)."""
    client = as_user(client, personas.manager)
    page = client.get(f"/journeys/{m.journey.pk}/").content.decode()
    assert f'hx-get="/edit/touch-points/{m.bill.pk}/criteria/"' in page
    assert f'hx-target="#tp-{m.bill.pk}-criteria-slot"' in page
    before = client.get(f"/touch-points/{m.bill.pk}/scores/", **HTMX).content.decode()
    assert "No criteria yet" in before

    added = post(
        client,
        f"/edit/touch-points/{m.bill.pk}/criteria/",
        {"name": "Bill explained", "kind": "yes_no", "weight": "1"},
    )

    assert added.status_code == 200
    assert added["HX-Trigger"] == "touchstone:scored"
    assert "Bill explained" in added.content.decode()
    after = client.get(f"/touch-points/{m.bill.pk}/scores/", **HTMX).content.decode()
    assert "No criteria yet" not in after and "Bill explained" in after
    refused = post(client, f"/edit/touch-points/{m.bill.pk}/criteria/", {"name": ""})
    assert "HX-Trigger" not in refused
