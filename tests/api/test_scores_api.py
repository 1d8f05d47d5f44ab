"""The scores API: what a journey, a touch point and the organization's weak links answer,
that the numbers are the method's, that filters are checked, and that nobody outside the
organization learns anything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from django.utils import timezone
from rest_framework.test import APIClient

from journeys.models import Journey
from scoring import formulas
from scoring.api import JourneyScoresView, TouchPointScoresView
from scoring.models import JourneyScore, TouchPointScore
from scoring.services import recompute_journey
from tests.api.conftest import ClientFor
from tests.conftest import Personas
from tests.factories import JourneyFactory, SiteFactory, StageFactory
from tests.scoring.test_selectors import (
    SCALE_SCORE,
    Given,
    close,
    evaluate,
    expected_stats,
    touch_point_with_criterion,
)
from touchpoints.models import Criterion, Site, Source, TouchPoint
from touchpoints.services import archive_touch_point


@dataclass
class World:
    given: Given
    touch_points: list[TouchPoint]  # map order
    criteria: list[Criterion]
    answers: list[list[int]]
    site: Site

    @property
    def journey(self) -> Journey:
        return self.given.journey


@pytest.fixture
def world(personas: Personas) -> World:
    personas.org.min_n = 3
    personas.org.smoothing_k = 1.0
    personas.org.save(update_fields=["min_n", "smoothing_k"])
    given = Given(
        personas.org,
        personas.manager,
        personas.evaluator,
        JourneyFactory(organization=personas.org, name="New broadband customer", target=80.0),
    )
    sign_up = StageFactory(journey=given.journey, name="Sign up")
    install = StageFactory(journey=given.journey, name="Install")
    made = [
        touch_point_with_criterion(sign_up, name="Welcome call", importance=2),
        touch_point_with_criterion(sign_up, name="Hold time", importance=3, target=60.0),
        touch_point_with_criterion(install, name="Technician visit", importance=5),
        touch_point_with_criterion(install, name="First bill", importance=4),
    ]
    answers = [[5, 5, 4, 5], [1, 2], [2, 3, 2, 3, 2, 2], [3, 2, 3, 3]]
    for (_, criterion), values in zip(made, answers, strict=True):
        evaluate(given, criterion, values)
    recompute_journey(given.journey.pk)
    return World(
        given,
        [tp for tp, _ in made],
        [c for _, c in made],
        answers,
        SiteFactory(organization=personas.org, name="Leeds depot"),
    )


def journey_url(journey: Journey | int) -> str:
    return f"/api/v1/journeys/{getattr(journey, 'pk', journey)}/scores/"


def touch_point_url(touch_point: TouchPoint | int) -> str:
    return f"/api/v1/touchpoints/{getattr(touch_point, 'pk', touch_point)}/scores/"


WEAK_LINKS_URL = "/api/v1/weak-links/"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------
# Journey
# ---------------------------------------------------------------------------

ROW_FIELDS = {
    "id",
    "name",
    "channel",
    "importance",
    "stage",
    "evaluations",
    "n",
    "n_unscored",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "smoothed_score",
    "target",
    "status",
    "priority",
    "is_last",
    "trend",
    "latest_submitted_at",
    "pending",
}
FIGURES_FIELDS = {"basis", "window", "site", "source", "computed_at", "pending"}


def test_journey_scores_list_every_touch_point_in_map_order_with_the_methods_numbers(
    world: World, viewer_api: APIClient
) -> None:
    response = viewer_api.get(journey_url(world.journey))

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == FIGURES_FIELDS | {
        "journey",
        "score",
        "n",
        "prior",
        "evaluations",
        "latest_submitted_at",
        "status_counts",
        "touch_points",
        "weak_links",
        "blind_spots",
    }
    snapshot = JourneyScore.objects.get(journey=world.journey)
    assert body["basis"] == "snapshot" and body["pending"] is False
    assert body["computed_at"] == iso(snapshot.computed_at)
    assert body["window"] == {
        "since": iso(snapshot.window_start),
        "until": iso(snapshot.window_end),
    }
    assert body["journey"] == {"id": world.journey.pk, "name": "New broadband customer"}

    rows = body["touch_points"]
    assert [row["id"] for row in rows] == [tp.pk for tp in world.touch_points]
    assert all(set(row) == ROW_FIELDS for row in rows)
    assert [row["stage"]["name"] for row in rows] == ["Sign up"] * 2 + ["Install"] * 2
    everyone = [v for values in world.answers for v in values]
    for row, answers in zip(rows, world.answers, strict=True):
        stats = expected_stats(answers, everyone, world.given.org)
        assert row["n"] == stats.n
        for field, value in [
            ("mean", stats.mean),
            ("sd", stats.sd),
            ("ci_low", stats.ci_low),
            ("ci_high", stats.ci_high),
            ("smoothed_score", stats.smoothed),
        ]:
            assert close(row[field], value), field
        assert row["status"] == formulas.status(
            n=stats.n, smoothed=stats.smoothed, target=row["target"], min_n=3
        )
        assert row["pending"] is False
    statuses = [row["status"] for row in rows]
    assert statuses == ["meets", "insufficient_data", "weak_link", "weak_link"]
    assert close(
        body["score"],
        formulas.journey_score([(row["smoothed_score"], row["importance"]) for row in rows]),
    )
    assert body["n"] == body["evaluations"] == len(everyone)
    assert body["status_counts"] == {
        "meets": 1,
        "at_risk": 0,
        "weak_link": 2,
        "insufficient_data": 1,
    }

    # Weak links ranked by weighted gap; the last touch point (the bill) counts 1.5 times.
    by_id = {row["id"]: row for row in rows}
    expected = sorted(
        (
            formulas.priority(
                target=80.0,
                smoothed=by_id[tp.pk]["smoothed_score"],
                importance=tp.importance,
                is_last=tp == world.touch_points[-1],
            ),
            tp.pk,
        )
        for tp in world.touch_points[2:]
    )[::-1]
    assert [(w["rank"], w["touch_point_id"]) for w in body["weak_links"]] == [
        (1, expected[0][1]),
        (2, expected[1][1]),
    ]
    for link, (weighted, pk) in zip(body["weak_links"], expected, strict=True):
        assert close(link["weighted_gap"], weighted)
        assert close(link["gap"], 80.0 - by_id[pk]["smoothed_score"])
    assert [b["touch_point_id"] for b in body["blind_spots"]] == [world.touch_points[1].pk]


@pytest.mark.parametrize("role", ["manager", "evaluator", "viewer"])
def test_every_member_may_read_scores(
    world: World, personas: Personas, client_for: ClientFor, role: str
) -> None:
    client = client_for(getattr(personas, role))
    assert client.get(journey_url(world.journey)).status_code == 200
    assert client.get(touch_point_url(world.touch_points[0])).status_code == 200
    assert client.get(WEAK_LINKS_URL).status_code == 200


def test_anonymous_callers_are_refused(world: World) -> None:
    anonymous = APIClient()
    for url in (journey_url(world.journey), touch_point_url(world.touch_points[0]), WEAK_LINKS_URL):
        assert anonymous.get(url).status_code == 401


def test_outsider_gets_404_as_if_the_journey_did_not_exist(
    world: World, outsider_api: APIClient
) -> None:
    missing = outsider_api.get(journey_url(10**9))
    theirs = outsider_api.get(journey_url(world.journey))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()

    missing = outsider_api.get(touch_point_url(10**9))
    theirs = outsider_api.get(touch_point_url(world.touch_points[0]))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    # Even with query parameters that would be refused: existence is not leaked by a 400.
    assert outsider_api.get(journey_url(world.journey), {"source": "x"}).status_code == 404


def test_outsiders_weak_links_hold_none_of_the_organizations(
    world: World, outsider_api: APIClient
) -> None:
    response = outsider_api.get(WEAK_LINKS_URL)
    assert response.status_code == 200
    assert response.json()["weak_links"] == []


@pytest.mark.parametrize("pk", ["abc", "0", "-1", "99999999999999999999999"])
def test_malformed_ids_are_a_json_404(world: World, viewer_api: APIClient, pk: str) -> None:
    for url in (f"/api/v1/journeys/{pk}/scores/", f"/api/v1/touchpoints/{pk}/scores/"):
        response = viewer_api.get(url)
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")


def test_a_pending_recompute_is_reported(world: World, viewer_api: APIClient) -> None:
    evaluate(world.given, world.criteria[3], [5])
    body = viewer_api.get(journey_url(world.journey)).json()
    assert body["pending"] is True
    assert [row["pending"] for row in body["touch_points"]] == [False, False, False, True]
    assert viewer_api.get(touch_point_url(world.touch_points[3])).json()["pending"] is True


# ---------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------


def test_the_snapshot_window_asked_for_on_demand_gives_the_snapshots_numbers(
    world: World, viewer_api: APIClient
) -> None:
    stored = viewer_api.get(journey_url(world.journey)).json()
    live = viewer_api.get(journey_url(world.journey), stored["window"])

    assert live.status_code == 200, live.json()
    live_body = live.json()
    assert live_body["basis"] == "on_demand" and live_body["window"] == stored["window"]
    for got, want in zip(live_body["touch_points"], stored["touch_points"], strict=True):
        for field in ("mean", "sd", "ci_low", "ci_high", "smoothed_score", "priority"):
            assert close(got[field], want[field]), field
        assert (got["n"], got["status"], got["pending"]) == (want["n"], want["status"], False)
    assert close(live_body["score"], stored["score"])
    assert [w["touch_point_id"] for w in live_body["weak_links"]] == [
        w["touch_point_id"] for w in stored["weak_links"]
    ]


def test_site_and_source_filters_count_only_matching_evaluations(
    world: World, viewer_api: APIClient
) -> None:
    evaluate(world.given, world.criteria[2], [5, 4], site=world.site)
    evaluate(world.given, world.criteria[0], [3], site=world.site, source=Source.MYSTERY_SHOPPER)

    body = viewer_api.get(journey_url(world.journey), {"site": world.site.pk}).json()
    assert body["site"] == world.site.pk and body["basis"] == "on_demand"
    assert [row["n"] for row in body["touch_points"]] == [1, 0, 2, 0]
    stats = expected_stats([5, 4], [5, 4, 3], world.given.org)
    assert close(body["touch_points"][2]["smoothed_score"], stats.smoothed)

    body = viewer_api.get(
        journey_url(world.journey), {"source": "mystery_shopper", "site": world.site.pk}
    ).json()
    assert body["source"] == "mystery_shopper"
    assert [row["n"] for row in body["touch_points"]] == [1, 0, 0, 0]
    assert close(body["score"], SCALE_SCORE[3])


def test_since_and_until_bound_the_window_and_a_date_until_includes_its_day(
    world: World, viewer_api: APIClient
) -> None:
    # Observed at noon UTC twelve days ago.
    noon = (timezone.now() - timedelta(days=12)).replace(hour=12, minute=0, second=0)
    evaluate(world.given, world.criteria[3], [5, 5], age=timezone.now() - noon)
    day = noon.date().isoformat()

    body = viewer_api.get(journey_url(world.journey), {"since": day, "until": day}).json()
    assert body["window"] == {
        "since": f"{day}T00:00:00Z",
        "until": iso(datetime.combine(noon.date() + timedelta(days=1), datetime.min.time(), UTC)),
    }
    assert [row["n"] for row in body["touch_points"]] == [0, 0, 0, 2]

    before_noon = viewer_api.get(
        journey_url(world.journey), {"since": day, "until": f"{day}T11:59:59Z"}
    ).json()
    assert before_noon["n"] == 0
    # An offset sent without percent-encoding its "+" still reads as an offset.
    with_offset = viewer_api.get(
        journey_url(world.journey), {"since": day, "until": f"{day}T14:00:00+02:00"}
    ).json()
    assert with_offset["window"]["until"] == f"{day}T12:00:00Z"
    assert with_offset["n"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": ""}, "since"),
        ({"until": "2026-02-30"}, "until"),
        ({"since": "2026-03-01", "until": "2026-02-01"}, "until"),
        ({"since": "2026-03-01T10:00:00Z", "until": "2026-03-01T10:00:00Z"}, "until"),
        ({"since": "2025-01-01", "until": "2026-01-03"}, "since"),
        ({"site": "abc"}, "site"),
        ({"site": "0"}, "site"),
        ({"source": "twitter"}, "source"),
        ({"since": "0001-01-01"}, "since"),
        ({"until": "9999-12-31"}, "until"),
        ({"since": "2026-01-01T00:00:00+99:00"}, "since"),
    ],
)
def test_bad_filters_are_refused_with_the_field_named(
    world: World, viewer_api: APIClient, params: dict[str, str], field: str
) -> None:
    for url in (journey_url(world.journey), touch_point_url(world.touch_points[0]), WEAK_LINKS_URL):
        response = viewer_api.get(url, params)
        assert response.status_code == 400, (url, response.json())
        assert field in response.json(), response.json()


def test_a_366_day_window_is_accepted(world: World, viewer_api: APIClient) -> None:
    response = viewer_api.get(
        journey_url(world.journey), {"since": "2025-01-01", "until": "2026-01-01T00:00:00Z"}
    )
    assert response.status_code == 200, response.json()


def test_another_organizations_site_is_refused(
    world: World, personas: Personas, viewer_api: APIClient
) -> None:
    theirs = SiteFactory(organization=personas.other_org)
    response = viewer_api.get(journey_url(world.journey), {"site": theirs.pk})
    missing = viewer_api.get(journey_url(world.journey), {"site": "999999999"})
    # A well-formed site id naming nothing here is a 404, the same for another tenant's.
    assert response.status_code == missing.status_code == 404
    assert (
        response.json() == missing.json() == {"detail": "No such site.", "site": ["No such site."]}
    )


# ---------------------------------------------------------------------------
# Touch point
# ---------------------------------------------------------------------------


def test_touch_point_scores_break_down_by_criterion_source_site_and_week(
    world: World, viewer_api: APIClient
) -> None:
    tp, criterion = world.touch_points[2], world.criteria[2]
    evaluate(world.given, criterion, [5, 5, 4], source=Source.CUSTOMER_SURVEY, site=world.site)
    recompute_journey(world.journey.pk)

    response = viewer_api.get(touch_point_url(tp))

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == FIGURES_FIELDS | {
        "journey",
        "touch_point",
        "prior",
        "criteria",
        "by_source",
        "by_site",
        "perception",
        "weeks",
    }
    snapshot = TouchPointScore.objects.get(touch_point=tp)
    row = body["touch_point"]
    assert set(row) == ROW_FIELDS and row["id"] == tp.pk and row["n"] == 9
    assert close(row["smoothed_score"], snapshot.smoothed)
    assert body["criteria"] == [
        {
            "id": criterion.pk,
            "name": criterion.name,
            "version": 1,
            "kind": "scale",
            "weight": 1.0,
            "critical": False,
            "archived": False,
            "n": 9,
            "mean": pytest.approx(
                formulas.mean_or_none(SCALE_SCORE[v] for v in [2, 3, 2, 3, 2, 2, 5, 5, 4])
            ),
        }
    ]
    sources = {s["source"]: s for s in body["by_source"]}
    assert list(sources) == Source.values
    assert (sources["supervisor"]["n"], sources["customer_survey"]["n"]) == (6, 3)
    assert [(s["site"], s["name"], s["n"]) for s in body["by_site"]] == [
        (world.site.pk, "Leeds depot", 3),
        (None, "No site", 6),
    ]
    perception = body["perception"]
    assert (perception["internal_n"], perception["customer_n"], perception["min_n"]) == (6, 3, 3)
    assert close(
        perception["gap"],
        formulas.perception_gap(
            {
                "supervisor": [SCALE_SCORE[v] for v in [2, 3, 2, 3, 2, 2]],
                "customer_survey": [SCALE_SCORE[v] for v in [5, 5, 4]],
            },
            min_n=3,
        ),
    )
    assert len(body["weeks"]) == 12
    assert body["weeks"][-1] == {
        "week_start": formulas.week_start(timezone.now()).isoformat(),
        "n": 9,
        "mean": pytest.approx(row["mean"]),
    }


def test_touch_point_scores_on_demand_for_one_source(world: World, viewer_api: APIClient) -> None:
    tp, criterion = world.touch_points[2], world.criteria[2]
    evaluate(world.given, criterion, [5, 4], source=Source.AUDIT)
    body = viewer_api.get(touch_point_url(tp), {"source": "audit"}).json()
    assert body["basis"] == "on_demand" and body["pending"] is False
    assert body["touch_point"]["n"] == 2 and close(body["touch_point"]["mean"], 87.5)
    assert [s["n"] for s in body["by_source"] if s["source"] != "audit"] == [0, 0, 0, 0]
    assert body["criteria"][0]["n"] == 2
    assert sum(week["n"] for week in body["weeks"]) == 2


def test_an_archived_touch_point_has_no_scores(world: World, viewer_api: APIClient) -> None:
    archive_touch_point(actor=world.given.manager, touch_point=world.touch_points[1])
    response = viewer_api.get(touch_point_url(world.touch_points[1]))
    assert response.status_code == 404
    assert "archived" in response.json()["detail"]


# ---------------------------------------------------------------------------
# Organization
# ---------------------------------------------------------------------------


def test_weak_links_across_the_organization_rank_by_weighted_gap(
    world: World, personas: Personas, viewer_api: APIClient
) -> None:
    vet = JourneyFactory(organization=personas.org, name="Vet visit")
    _, criterion = touch_point_with_criterion(StageFactory(journey=vet), importance=5)
    evaluate(Given(personas.org, personas.manager, personas.evaluator, vet), criterion, [1] * 4)
    recompute_journey(vet.pk)

    body = viewer_api.get(WEAK_LINKS_URL).json()

    assert set(body) == FIGURES_FIELDS | {"weak_links"}
    links = body["weak_links"]
    assert [link["rank"] for link in links] == [1, 2, 3]
    assert links[0]["journey"] == {"id": vet.pk, "name": "Vet visit"}
    weighted = [link["weighted_gap"] for link in links]
    assert weighted == sorted(weighted, reverse=True)
    assert {link["touch_point_id"] for link in links[1:]} == {
        tp.pk for tp in world.touch_points[2:]
    }

    assert len(viewer_api.get(WEAK_LINKS_URL, {"limit": 1}).json()["weak_links"]) == 1
    assert len(viewer_api.get(WEAK_LINKS_URL, {"limit": 10**6}).json()["weak_links"]) == 3
    for bad in ("0", "-3", "many"):
        response = viewer_api.get(WEAK_LINKS_URL, {"limit": bad})
        assert response.status_code == 400 and "limit" in response.json()

    live = viewer_api.get(WEAK_LINKS_URL, {"source": "supervisor"}).json()
    assert live["basis"] == "on_demand"
    assert [link["touch_point_id"] for link in live["weak_links"]] == [
        link["touch_point_id"] for link in links
    ]


# ---------------------------------------------------------------------------
# Cost and routing
# ---------------------------------------------------------------------------


def _journey_of(size: int, personas: Personas) -> Journey:
    given = Given(
        personas.org,
        personas.manager,
        personas.evaluator,
        JourneyFactory(organization=personas.org),
    )
    stages = [StageFactory(journey=given.journey) for _ in range(3)]
    criteria = [touch_point_with_criterion(stages[i % 3])[1] for i in range(size)]
    for criterion in criteria:
        evaluate(given, criterion, [2, 4, 5])
    recompute_journey(given.journey.pk)
    evaluate(given, criteria[-1], [1])  # one touch point pending
    return given.journey


def _queries(client: APIClient, url: str) -> int:
    client.get(url)  # the token's last_used_at is touched at most once a minute
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.json()
    return len(queries)


def test_journey_scores_cost_the_same_queries_for_3_and_60_touch_points(
    personas: Personas, viewer_api: APIClient
) -> None:
    small, large = _journey_of(3, personas), _journey_of(60, personas)
    assert len(viewer_api.get(journey_url(large)).json()["touch_points"]) == 60
    assert _queries(viewer_api, journey_url(small)) == _queries(viewer_api, journey_url(large))
    small_tp = TouchPoint.objects.filter(journey=small).first()
    large_tp = TouchPoint.objects.filter(journey=large).first()
    assert small_tp is not None and large_tp is not None
    assert _queries(viewer_api, touch_point_url(small_tp)) == _queries(
        viewer_api, touch_point_url(large_tp)
    )


def test_scores_routes_live_beside_the_structure_routes() -> None:
    assert resolve("/api/v1/journeys/5/scores/").func.view_class is JourneyScoresView  # type: ignore[attr-defined]
    assert resolve("/api/v1/touchpoints/5/scores/").func.view_class is TouchPointScoresView  # type: ignore[attr-defined]
    for structure in ("/api/v1/journeys/5/", "/api/v1/touchpoints/5/"):
        view: Any = resolve(structure).func
        assert getattr(view, "view_class", None) not in (JourneyScoresView, TouchPointScoresView)
