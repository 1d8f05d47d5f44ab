"""Downloads of what the pages show, with the same filters: the map's scores, the overview's
journeys and weak links, a touch point's evaluations with their answers, and the sites
benchmark. Every record goes through core.csv.csv_line, which neutralises formula
triggers (RELIABILITY S7). The evaluations download streams: it writes rows as it reads them,
a thousand at a time, so a touch point with 100,000 evaluations starts downloading at once
and never sits in memory whole; it says how many records are coming (X-Export-Rows), so
the page's export links (static/js/app.js) draw a progress bar while it arrives, and a
"preparing" state while the PDF is made.

Who and how often (RELIABILITY S13, docs/permissions.md): exports are for managers (any
other role gets a 403, and the pages show them no export links), and each organization
may start EXPORTS_PER_ORGANIZATION of them in any EXPORTS_WINDOW_SECONDS (counted in
Redis, shared by every process, one atomic acquire: fifty started at once still start at
most that many); the next one is a 429 with Retry-After, as a page for a
browser and as JSON for a script. Redis away means no count (core.throttle fails open).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from weasyprint import CSS, HTML

from accounts.models import Membership
from core.csv import Cell, csv_line
from core.throttle import SlidingWindow
from journeys.models import Journey, JourneyStatus
from scoring import export, selectors
from touchpoints.models import Answer, Criterion, Evaluation
from web import benchmark
from web.context import journey_for_member, require_membership, touch_point_for_member
from web.filters import PageFilters, page_filters
from web.views import filtered_evaluations, map_context, member_page

CHUNK = 1000
#: The header saying how many records a streamed export will hold (the progress bar's max).
ROWS_HEADER = "X-Export-Rows"


def may_export(membership: Membership | None) -> bool:
    """Exports are for managers (RELIABILITY S13); the pages show the links to them only."""
    return membership is not None and membership.can_edit_structure


def _window() -> SlidingWindow:
    return SlidingWindow(
        "exports",
        limit=settings.EXPORTS_PER_ORGANIZATION,
        window=settings.EXPORTS_WINDOW_SECONDS,
    )


def _throttled(request: HttpRequest, retry_after: int) -> HttpResponse:
    limit, window = settings.EXPORTS_PER_ORGANIZATION, settings.EXPORTS_WINDOW_SECONDS
    message = (
        f"Your organization has started {limit} export{'' if limit == 1 else 's'} "
        f"in the last {window} seconds, "
        f"the most it may. The next one can start in {retry_after} seconds."
    )
    response: HttpResponse
    if "text/html" in request.headers.get("Accept", ""):
        context = {"message": message, "retry_after": retry_after, "back": _back(request)}
        response = render(request, "web/export_throttled.html", context, status=429)
    else:
        response = JsonResponse({"detail": message, "retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _back(request: HttpRequest) -> str:
    """The page the export link was on, if it is one of ours (Django's own open-redirect
    check: scheme, host, no `javascript:`), else the start page."""
    referer = request.headers.get("Referer", "")
    ours = url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return referer if ours else "/"


def refuse_export(request: HttpRequest, membership: Membership) -> HttpResponse | None:
    """None if this member may export and the organization may start one more export now
    (then it is counted); else the 429 to send. Not a manager: 403. Every export view asks
    after its tenancy check, so another organization's object stays a 404 for everyone."""
    if not may_export(membership):
        raise PermissionDenied("Exports are for managers of this organization.")
    if wait := _window().acquire(str(membership.organization_id)):  # 0: counted, go on
        return _throttled(request, wait)
    return None


def _attachment(response: HttpResponse | StreamingHttpResponse, name: str) -> None:
    stem = slugify(name)[:60] or "export"
    response["Content-Disposition"] = f'attachment; filename="{stem}.csv"'


def _filter_cells(filters: PageFilters) -> list[Cell]:
    """A first record saying what the figures cover, so a file away from its page says so."""
    return ["filters", filters.description]


def _csv(lines: Iterable[Iterable[Cell]]) -> str:
    return "".join(csv_line(cells) for cells in lines)


@member_page
def journey_map_csv(request: HttpRequest, journey_id: int) -> HttpResponse:
    """The map's touch points with their scores, as the map shows them (filters included)."""
    journey, membership = journey_for_member(request, journey_id)
    if refused := refuse_export(request, membership):
        return refused
    filters = page_filters(request, journey.organization)
    scores = selectors.journey_scores(journey, **filters.selector_args())
    body = _csv([_filter_cells(filters)]) + export.journey_csv(scores)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    _attachment(response, f"{journey.name} scores")
    return response


OVERVIEW_COLUMNS = ("journey_id", "journey", "status", "score", "target", "touch_points")
WEAK_COLUMNS = (
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
)


@member_page
def overview_csv(request: HttpRequest) -> HttpResponse:
    """The overview's journeys with their scores, then its weakest links, filters included."""
    membership = require_membership(request)
    if refused := refuse_export(request, membership):
        return refused
    organization = membership.organization
    filters = page_filters(request, organization)
    journeys = list(
        Journey.objects.for_organization(organization)
        .exclude(status=JourneyStatus.ARCHIVED)
        .select_related("organization")
        .order_by("name", "id")
    )
    lines: list[Iterable[Cell]] = [_filter_cells(filters), OVERVIEW_COLUMNS]
    for journey in journeys:
        s = selectors.journey_scores(journey, **filters.selector_args())
        lines.append(
            [journey.pk, journey.name, journey.status, s.score, journey.target, len(s.touch_points)]
        )
    weakest = selectors.organization_weak_links(organization, limit=5, **filters.selector_args())
    lines += [[], WEAK_COLUMNS]
    lines += [
        [
            w.rank,
            w.journey.name,
            w.stage.name,
            w.touch_point_id,
            w.name,
            w.smoothed_score,
            w.target,
            w.gap,
            w.importance,
            "yes" if w.is_last else "no",
            w.weighted_gap,
        ]
        for w in weakest.weak_links
    ]
    response = HttpResponse(_csv(lines), content_type="text/csv; charset=utf-8")
    _attachment(response, f"{organization.name} overview")
    return response


def _evaluation_rows(
    evaluations: Iterator[Evaluation], criteria: list[Criterion]
) -> Iterator[list[Cell]]:
    """One record per evaluation, answers in criterion columns, read CHUNK at a time."""
    chunk: list[Evaluation] = []

    def flush() -> Iterator[list[Cell]]:
        answers: dict[int, dict[int, float | None]] = {}
        for evaluation_id, criterion_id, value in Answer.objects.filter(
            evaluation_id__in=[e.pk for e in chunk]
        ).values_list("evaluation_id", "criterion_id", "value"):
            answers.setdefault(evaluation_id, {})[criterion_id] = value
        for e in chunk:
            mine = answers.get(e.pk, {})
            yield [
                e.pk,
                _iso(e.observed_at),
                _iso(e.submitted_at),
                e.source,
                e.site.name if e.site else None,
                str(e.evaluator) if e.evaluator else "a customer, via feedback link",
                e.score,
                e.comment or None,
                *(
                    ("n/a" if mine[c.pk] is None else mine[c.pk]) if c.pk in mine else None
                    for c in criteria
                ),
            ]

    for evaluation in evaluations:
        chunk.append(evaluation)
        if len(chunk) >= CHUNK:
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@member_page
def touch_point_csv(
    request: HttpRequest, touch_point_id: int
) -> StreamingHttpResponse | HttpResponse:
    """The touch point's evaluations the page lists (filters included), with every answer,
    streamed; X-Export-Rows says how many records follow the two header lines."""
    touch_point, membership = touch_point_for_member(request, touch_point_id)
    if refused := refuse_export(request, membership):
        return refused
    filters = page_filters(request, touch_point.organization)
    criteria = list(
        Criterion.objects.filter(touch_point=touch_point).order_by("archived_at", "position", "id")
    )
    evaluations = filtered_evaluations(touch_point, filters)
    header = [
        "evaluation_id",
        "observed_at",
        "submitted_at",
        "source",
        "site",
        "evaluator",
        "score",
        "comment",
        *(c.name for c in criteria),
    ]

    def lines() -> Iterator[str]:
        yield csv_line(_filter_cells(filters))
        yield csv_line(header)
        for row in _evaluation_rows(evaluations.iterator(chunk_size=CHUNK), criteria):
            yield csv_line(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response[ROWS_HEADER] = str(evaluations.count())
    _attachment(response, f"{touch_point.name} evaluations")
    return response


@member_page
def journey_sites_csv(request: HttpRequest, journey_id: int) -> HttpResponse:
    """The sites benchmark table: per touch point and site, score, n, status, gap to the best."""
    journey, membership = journey_for_member(request, journey_id)
    if refused := refuse_export(request, membership):
        return refused
    filters = page_filters(request, journey.organization)
    table = benchmark.site_table(journey, filters)
    lines: list[Iterable[Cell]] = [
        _filter_cells(filters),
        ["touch_point_id", "touch_point", "site", "score", "n", "status", "best", "gap_to_best"],
    ]
    lines += [
        [
            row.touch_point.id,
            row.touch_point.name,
            cell.site.name,
            cell.score,
            cell.n,
            cell.status,
            "yes" if cell.best else "no",
            cell.gap,
        ]
        for row in table.rows
        for cell in row.cells
    ]
    response = HttpResponse(_csv(lines), content_type="text/csv; charset=utf-8")
    _attachment(response, f"{journey.name} sites")
    return response


# --- The journey report (a page to print, and its PDF) -----------------------------------

STATIC = Path(settings.BASE_DIR) / "static"


def _report_context(
    request: HttpRequest, journey: Journey, membership: Membership
) -> dict[str, Any]:
    filters = page_filters(request, journey.organization)
    context = map_context(journey, membership, filters)
    context["sites"] = benchmark.site_table(journey, filters)
    return context


@member_page
def journey_report(request: HttpRequest, journey_id: int) -> HttpResponse:
    """The report as a page: what the PDF holds, with the filters to change it."""
    journey, membership = journey_for_member(request, journey_id)
    context = _report_context(request, journey, membership)
    return render(request, "web/journey_report.html", context)


@member_page
def journey_report_pdf(request: HttpRequest, journey_id: int) -> HttpResponse:
    """The report as a PDF (WeasyPrint, server side): map, score line, weak links, sites and
    the period comparison, with the page's filters. Nothing is fetched over the network:
    the stylesheets are read from static/ and the charts are inline SVG. Managers only,
    counted like every export."""
    journey, membership = journey_for_member(request, journey_id)
    if refused := refuse_export(request, membership):
        return refused
    context = _report_context(request, journey, membership)
    html = render_to_string("web/journey_report_pdf.html", context, request=request)
    pdf = HTML(string=html, base_url=str(STATIC)).write_pdf(
        stylesheets=[CSS(filename=str(STATIC / "css" / name)) for name in REPORT_CSS]
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    stem = slugify(f"{context['journey'].name} report")[:60] or "report"
    response["Content-Disposition"] = f'attachment; filename="{stem}.pdf"'
    return response


REPORT_CSS = ("touchstone.css", "print.css")
