"""The dashboard's questions: filters (period, site, source) and the comparison with the
previous period on the overview, the map and the touch point page, through the same
selectors as the API; the sites benchmark; CSV downloads of what each page shows; and the
pictures (sparklines, colour against target, the score line). Another organization's
journeys, touch points and sites are 404s or refused filters."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import Organization, Role, User
from journeys.models import Journey
from scoring import selectors
from scoring.services import recompute_journey
from tests.conftest import Personas
from tests.factories import (
    CriterionFactory,
    JourneyFactory,
    MembershipFactory,
    SiteFactory,
    StageFactory,
    TouchPointFactory,
)
from touchpoints.models import Criterion, Site, Source, TouchPoint
from touchpoints.services import AnswerInput, EvaluationInput, submit_evaluations
from web import charts

FORMULA = '=HYPERLINK("http://evil.test")'


@dataclass
class Shop:
    journey: Journey
    welcome: TouchPoint
    bill: TouchPoint
    quiet: TouchPoint  # too few evaluations anywhere: a blind spot
    criteria: dict[str, Criterion]
    oslo: Site
    bergen: Site
    rival_site: Site
    rival_journey: Journey


def evaluate(
    user: User,
    org: Organization,
    criterion: Criterion,
    values: list[float | None],
    *,
    days_ago: float,
    site: Site | None = None,
    source: str = Source.SUPERVISOR,
    comment: str = "",
) -> None:
    now = timezone.now()
    submit_evaluations(
        evaluator=user,
        organization=org,
        items=[
            EvaluationInput(
                touch_point_id=criterion.touch_point_id,
                source=source,
                observed_at=now - timedelta(days=days_ago, minutes=i),
                site_id=site.pk if site else None,
                answers=[AnswerInput(criterion.pk, value)],
                comment=comment,
            )
            for i, value in enumerate(values)
        ],
    )


@pytest.fixture
def shop(personas: Personas) -> Shop:
    org = personas.org
    journey = JourneyFactory(organization=org, name="Vet visit", target=80.0)
    arrive = StageFactory(journey=journey, name="Arrive")
    pay = StageFactory(journey=journey, name="Pay")
    welcome = TouchPointFactory(stage=arrive, name="Welcome", importance=5)
    quiet = TouchPointFactory(stage=arrive, name="Waiting room", importance=2)
    bill = TouchPointFactory(stage=pay, name=FORMULA, importance=4)
    criteria = {
        "welcome": CriterionFactory(touch_point=welcome, name="Warm"),
        "bill": CriterionFactory(touch_point=bill, name="Clear bill"),
        "quiet": CriterionFactory(touch_point=quiet, name="Clean"),
    }
    oslo = SiteFactory(organization=org, name="Oslo")
    bergen = SiteFactory(organization=org, name="Bergen")
    e = personas.evaluator
    # Last 30 days: Oslo welcomes well, Bergen badly; mystery shoppers at Bergen worst.
    evaluate(e, org, criteria["welcome"], [5, 5, 5, 4, 5, 5], days_ago=3, site=oslo)
    evaluate(e, org, criteria["welcome"], [2, 2, 1, 2, 2, 2], days_ago=4, site=bergen)
    evaluate(
        e,
        org,
        criteria["welcome"],
        [1, 1, 1, 1, 1],
        days_ago=5,
        site=bergen,
        source=Source.MYSTERY_SHOPPER,
        comment="-2+3 rude",
    )
    evaluate(e, org, criteria["bill"], [4, 4, 5, 4, 4, None], days_ago=6, site=oslo)
    evaluate(e, org, criteria["bill"], [3, 3, 3, 3, 3], days_ago=6, site=bergen)
    evaluate(e, org, criteria["quiet"], [3], days_ago=2, site=oslo)
    # 31–60 days ago: the welcome was poor everywhere (the comparison's previous period).
    evaluate(e, org, criteria["welcome"], [2, 2, 2, 2, 2, 2], days_ago=45, site=oslo)
    recompute_journey(journey.pk)
    rival_journey = JourneyFactory(organization=personas.other_org, name="Rival")
    return Shop(
        journey,
        welcome,
        bill,
        quiet,
        criteria,
        oslo,
        bergen,
        SiteFactory(organization=personas.other_org, name="Rival site"),
        rival_journey,
    )


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def rows_of(response: object) -> list[list[str]]:
    content = getattr(response, "streaming_content", None)
    body = b"".join(content) if content is not None else response.content  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(body.decode())))


# --- Filters --------------------------------------------------------------------------------


def test_filtered_map_shows_what_the_api_selectors_compute_for_the_same_question(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.manager)  # a manager: the page links to the download too
    response = client.get(
        f"/journeys/{shop.journey.pk}/",
        {"period": "30", "site": shop.bergen.pk, "source": Source.SUPERVISOR},
    )
    assert response.status_code == 200
    scores = response.context["scores"]
    assert scores.basis == selectors.ON_DEMAND
    assert (scores.site_id, scores.source) == (shop.bergen.pk, Source.SUPERVISOR)
    assert scores.window.until - scores.window.since == timedelta(days=30)
    # The API's read, over the very window the page used.
    expected = selectors.journey_scores(
        shop.journey, window=scores.window, site=shop.bergen, source=Source.SUPERVISOR
    )
    assert [r.smoothed_score for r in scores.touch_points] == [
        r.smoothed_score for r in expected.touch_points
    ]
    assert scores.score == expected.score
    welcome = next(r for r in scores.touch_points if r.id == shop.welcome.pk)
    assert welcome.n == 6  # Bergen's supervisor evaluations only: no mystery shopper, no Oslo
    body = response.content.decode()
    # The filters stay in the URL of every part the page fetches or links to.
    query = f"?period=30&amp;site={shop.bergen.pk}&amp;source=supervisor"
    assert f'hx-get="/journeys/{shop.journey.pk}/map/{query}"' in body
    assert f'href="/touch-points/{shop.welcome.pk}/{query}"' in body
    assert f'href="/journeys/{shop.journey.pk}/scores.csv{query}"' in body
    assert "site Bergen" in body


def test_without_filters_the_pages_read_the_snapshot(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.viewer)
    assert client.get(f"/journeys/{shop.journey.pk}/").context["scores"].basis == "snapshot"
    assert client.get(f"/touch-points/{shop.welcome.pk}/").context["scores"].basis == "snapshot"


def test_the_pages_name_today_as_the_windows_last_day_not_tomorrow(
    personas: Personas, shop: Shop, client: Client
) -> None:
    """The snapshot's window is whole UTC days, ending at tomorrow's midnight (exclusive):
    the map and the touch point page said "– <tomorrow>"."""
    signed_in(client, personas.viewer)
    today = timezone.now().astimezone(timezone.get_current_timezone()).date()
    tomorrow = today + timedelta(days=1)
    for url in (f"/journeys/{shop.journey.pk}/", f"/touch-points/{shop.welcome.pk}/"):
        page = client.get(url).content.decode()
        assert f"– {today:%-d %b %Y}" in page or f"{today:%-d %b %Y}</time>" in page, url
        assert f"{tomorrow:%-d %b %Y}" not in page, url


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"period": "7"}, "period", "Choose one of the periods offered."),
        ({"period": "custom", "since": "yesterday"}, "since", "Enter a date as YYYY-MM-DD."),
        ({"period": "custom"}, "since", "Choose a start or an end date"),
        (
            {"period": "custom", "since": "2026-03-01", "until": "2026-02-01"},
            "until",
            "Must be later than since.",
        ),
        ({"period": "custom", "since": "2020-01-01", "until": "2026-01-01"}, "since", "366"),
        ({"source": "gossip"}, "source", "Choose one of the sources offered."),
        ({"site": "²"}, "site", "No such site."),
    ],
)
def test_a_bad_filter_is_named_and_the_usual_figures_shown(
    personas: Personas, shop: Shop, client: Client, query: dict[str, str], field: str, message: str
) -> None:
    signed_in(client, personas.viewer)
    for url in ("/", f"/journeys/{shop.journey.pk}/", f"/touch-points/{shop.welcome.pk}/"):
        response = client.get(url, query)
        assert response.status_code == 200, url
        assert message in response.context["filters"].errors[field][0], url
        assert "These filters were not applied" in response.content.decode()
        assert not response.context["filters"].active


def test_another_organizations_site_is_no_such_site(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.manager)
    response = client.get(f"/journeys/{shop.journey.pk}/", {"site": shop.rival_site.pk})
    assert response.context["filters"].errors == {"site": ["No such site."]}
    assert "Rival site" not in response.content.decode()


def test_the_outsider_gets_404_on_the_benchmark_and_every_download(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.outsider)
    for url in (
        f"/journeys/{shop.journey.pk}/sites/",
        f"/journeys/{shop.journey.pk}/sites.csv",
        f"/journeys/{shop.journey.pk}/scores.csv",
        f"/touch-points/{shop.welcome.pk}/evaluations.csv",
    ):
        assert client.get(url).status_code == 404, url
    rows = rows_of(client.get("/overview.csv"))
    assert not any("Vet visit" in cell for row in rows for cell in row)


def test_comparison_shows_the_change_against_the_previous_period_of_the_same_length(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.viewer)
    query = {"period": "30", "site": shop.oslo.pk, "compare": "1"}
    response = client.get(f"/journeys/{shop.journey.pk}/", query)
    previous = response.context["previous"]
    window = response.context["scores"].window
    assert previous.window.until == window.since
    assert previous.window.until - previous.window.since == timedelta(days=30)
    card = next(
        c
        for _, cards in response.context["columns"]
        for c in cards
        if c["row"].id == shop.welcome.pk
    )
    assert card["change"].direction == "up"  # poor welcomes 45 days ago, good ones now
    assert card["change"].change > 0
    assert "vs previous period" in response.content.decode()

    detail = client.get(f"/touch-points/{shop.welcome.pk}/", query)
    assert detail.context["changes"]["mean"].change == pytest.approx(
        detail.context["scores"].touch_point.mean - detail.context["previous"].touch_point.mean,
        abs=0.051,
    )
    overview = client.get("/", query)
    (card,) = overview.context["journeys"]
    assert card["change"] is not None and card["change"].previous is not None


def test_the_touch_point_list_of_evaluations_honours_the_filters(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.viewer)
    response = client.get(
        f"/touch-points/{shop.welcome.pk}/",
        {"period": "30", "site": shop.bergen.pk, "source": Source.MYSTERY_SHOPPER},
    )
    page = response.context["evaluations"]
    assert page.paginator.count == 5
    assert {e.source for e in page} == {Source.MYSTERY_SHOPPER}
    assert "5 evaluations over" in response.content.decode()


# --- Pictures -------------------------------------------------------------------------------


def test_overview_cards_have_a_12_week_sparkline_and_the_score_coloured_against_target(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.viewer)
    response = client.get("/")
    (card,) = response.context["journeys"]
    weeks = selectors.journeys_weeks([shop.journey])[shop.journey.pk]
    assert len(weeks) == 12
    assert sum(w.n for w in weeks) == 34  # every scored evaluation of the last 12 weeks
    assert card["against_target"] == charts.against_target(
        card["scores"].score, shop.journey.target
    )
    body = response.content.decode()
    assert f"journey-item--{card['against_target']}" in body
    assert '<svg class="spark"' in body
    assert "12 weeks: Weekly mean over 12 weeks" in body  # the text alternative, visible
    assert "Priority = points below target" in body


def test_the_score_line_numbers_points_and_keeps_too_few_evaluations_off_the_axis() -> None:
    line = charts.journey_line(
        [
            charts.LinePoint("A", "S", 90.0, 80.0, "meets"),
            charts.LinePoint("B", "S", None, 80.0, "insufficient_data"),
            charts.LinePoint("C", "T", 40.0, 80.0, "weak_link"),
            charts.LinePoint("D", "T", 60.0, 80.0, "insufficient_data"),
        ]
    )
    assert [d.number for d in line.dots] == [1, 2, 3, 4]
    zero = line.y_for(0)
    unscored = [d for d in line.dots if d.css == "insufficient_data"]
    assert {d.y for d in unscored} == {line.unscored_y}
    assert line.unscored_y > zero  # below the axis, never on it
    assert line.weakest_x == line.dots[2].x  # C: 40 points short
    assert "too few evaluations to call" in line.dots[3].title
    # Narrow steps: a journey of 8 touch points fits a phone's width without scrolling.
    assert charts.journey_line([charts.LinePoint("x", "S", 50.0, 80.0, "meets")] * 8).width <= 368


# --- Sites benchmark ------------------------------------------------------------------------


def test_sites_benchmark_marks_the_best_site_each_sites_gap_and_greys_blind_spots(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.evaluator)
    response = client.get(f"/journeys/{shop.journey.pk}/sites/", {"period": "30"})
    assert response.status_code == 200
    table = response.context["table"]
    assert [s.name for s in table.sites] == ["Bergen", "Oslo"]
    welcome = next(r for r in table.rows if r.touch_point.id == shop.welcome.pk)
    bergen, oslo = welcome.cells
    assert oslo.best and not bergen.best
    assert bergen.gap == pytest.approx(round(oslo.score - bergen.score, 1))
    direct = selectors.journey_scores(
        shop.journey, window=response.context["filters"].window, site=shop.bergen
    )
    assert (
        bergen.score
        == next(r for r in direct.touch_points if r.id == shop.welcome.pk).smoothed_score
    )
    quiet = next(r for r in table.rows if r.touch_point.id == shop.quiet.pk)
    assert all(c.blind and c.gap is None and not c.best for c in quiet.cells)
    body = response.content.decode()
    assert "heat__cell--blind" in body and "★</span> best" in body

    by_bergen = client.get(
        f"/journeys/{shop.journey.pk}/sites/", {"sort": f"site-{shop.bergen.pk}"}
    )
    order = [r.touch_point.id for r in by_bergen.context["table"].rows]
    assert order[0] == shop.welcome.pk and order[-1] == shop.quiet.pk  # weakest first, blind last
    assert 'aria-sort="ascending"' in by_bergen.content.decode()


# --- Downloads ------------------------------------------------------------------------------


def test_the_map_download_is_the_filtered_map_with_formulas_neutralised(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.manager)
    response = client.get(
        f"/journeys/{shop.journey.pk}/scores.csv", {"period": "30", "site": shop.oslo.pk}
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="vet-visit-scores.csv"'
    rows = rows_of(response)
    assert rows[0][0] == "filters" and "site Oslo" in rows[0][1]
    header, *records = rows[1:]
    assert header[:3] == ["stage", "touch_point_id", "name"]
    bill = next(r for r in records if r[1] == str(shop.bill.pk))
    assert bill[2] == "'" + FORMULA
    page = client.get(f"/journeys/{shop.journey.pk}/", {"period": "30", "site": shop.oslo.pk})
    row = next(r for r in page.context["scores"].touch_points if r.id == shop.bill.pk)
    assert int(bill[header.index("n")]) == row.n


def test_the_evaluations_download_streams_every_answer_the_page_lists(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.manager)
    response = client.get(
        f"/touch-points/{shop.welcome.pk}/evaluations.csv",
        {"period": "30", "site": shop.bergen.pk},
    )
    assert response.streaming
    assert response["X-Export-Rows"] == "11"  # what the page's progress bar counts up to
    assert not response.has_header("Content-Length")
    rows = rows_of(response)
    header, *records = rows[1:]
    assert header[-1] == "Warm"
    assert len(records) == 11  # Bergen's 6 supervisor and 5 mystery shopper evaluations
    assert {r[header.index("site")] for r in records} == {"Bergen"}
    assert "'-2+3 rude" in {r[header.index("comment")] for r in records}
    bill = client.get(f"/touch-points/{shop.bill.pk}/evaluations.csv", {"site": shop.oslo.pk})
    answers = [r[-1] for r in rows_of(bill)[2:]]
    assert sorted(answers) == ["4.0", "4.0", "4.0", "4.0", "5.0", "n/a"]


def test_the_overview_download_lists_journeys_and_weakest_links(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.manager)
    rows = rows_of(client.get("/overview.csv", {"period": "90"}))
    assert rows[1][:2] == ["journey_id", "journey"]
    assert rows[2][1] == "Vet visit"
    weak_header = rows.index(
        [
            "rank",
            "journey",
            "stage",
            "touch_point_id",
            "touch_point",
            "smoothed_score",
            "target",
            "gap",
            "importance",
            "is_last",
            "priority",
        ]
    )
    assert weak_header > 2


# --- The journey report ---------------------------------------------------------------------


def test_the_journey_report_is_a_printable_page_and_a_pdf_with_the_filters(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.manager)
    query = {"period": "30", "compare": "1"}
    page = client.get(f"/journeys/{shop.journey.pk}/report/", query)
    assert page.status_code == 200
    body = page.content.decode()
    for section in ("The map", "Weak links, most urgent first", "Sites against the best site"):
        assert section in body
    assert "vs previous period" in body  # the comparison
    assert 'media="print"' in body  # the print stylesheet
    assert f'href="/journeys/{shop.journey.pk}/report.pdf?period=30&amp;compare=1"' in body

    pdf = client.get(f"/journeys/{shop.journey.pk}/report.pdf", query)
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="vet-visit-report.pdf"'
    assert pdf.content.startswith(b"%PDF-")
    assert len(pdf.content) > 5_000


def test_the_outsider_gets_404_for_the_report(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.outsider)
    assert client.get(f"/journeys/{shop.journey.pk}/report/").status_code == 404
    assert client.get(f"/journeys/{shop.journey.pk}/report.pdf").status_code == 404


# --- Who may download, and how often (RELIABILITY S13) ---------------------------------------


def downloads(shop: Shop) -> list[str]:
    return [
        "/overview.csv",
        f"/journeys/{shop.journey.pk}/scores.csv",
        f"/journeys/{shop.journey.pk}/sites.csv",
        f"/journeys/{shop.journey.pk}/report.pdf",
        f"/touch-points/{shop.welcome.pk}/evaluations.csv",
    ]


def pages(shop: Shop) -> list[str]:
    return [
        "/",
        f"/journeys/{shop.journey.pk}/",
        f"/journeys/{shop.journey.pk}/sites/",
        f"/journeys/{shop.journey.pk}/report/",
        f"/touch-points/{shop.welcome.pk}/",
    ]


@pytest.mark.parametrize("role", ["viewer", "evaluator"])
def test_downloads_are_for_managers_and_other_roles_see_no_links_to_them(
    personas: Personas, shop: Shop, client: Client, role: str
) -> None:
    signed_in(client, getattr(personas, role))
    for url in downloads(shop):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Exports are for managers" in response.content.decode()
    for url in pages(shop):
        body = client.get(url).content.decode()
        assert "data-export" not in body, url
        assert not any(f'href="{d}' in body for d in downloads(shop)), url
    # The report page stays theirs, to print.
    report = client.get(f"/journeys/{shop.journey.pk}/report/").content.decode()
    assert "Print this page" in report


def test_a_manager_sees_every_download_link(personas: Personas, shop: Shop, client: Client) -> None:
    signed_in(client, personas.manager)
    linked = "".join(client.get(url).content.decode() for url in pages(shop))
    for url in downloads(shop):
        assert f'href="{url}' in linked, url


@override_settings(EXPORTS_PER_ORGANIZATION=3, EXPORTS_WINDOW_SECONDS=600)
def test_downloads_are_counted_per_organization_and_the_next_is_a_429_with_retry_after(
    personas: Personas, shop: Shop, client: Client
) -> None:
    signed_in(client, personas.evaluator)
    for _ in range(5):  # refused roles use up nothing
        assert client.get("/overview.csv").status_code == 403
    signed_in(client, personas.outsider)  # nor do other organizations' ids
    assert client.get(f"/journeys/{shop.journey.pk}/scores.csv").status_code == 404

    signed_in(client, personas.manager)
    for url in downloads(shop)[:3]:
        assert client.get(url).status_code == 200, url
    page = client.get("/overview.csv", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status_code == 429
    assert 0 < int(page["Retry-After"]) <= 600
    assert "Too many exports just now" in page.content.decode()
    assert f"next one can start in {page['Retry-After']} seconds" in page.content.decode()
    script = client.get(f"/journeys/{shop.journey.pk}/scores.csv")
    assert script.status_code == 429 and script["Content-Type"] == "application/json"
    assert script.json()["retry_after"] == int(script["Retry-After"])
    assert "3 exports in the last 600 seconds" in script.json()["detail"]

    # Another organization's manager is counted apart.
    other = MembershipFactory(organization=personas.other_org, role=Role.MANAGER).user
    signed_in(client, other)
    assert client.get("/overview.csv").status_code == 200
