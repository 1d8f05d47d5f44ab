"""The sites benchmark of a journey: every site against the best site of the same
organization, touch point by touch point.

Each site's column is scoring.selectors.journey_scores with that site as the filter: the
same on-demand read the API answers `?site=` with, so a cell here equals the API's figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from journeys.models import Journey
from scoring import formulas, selectors
from touchpoints.models import Site
from web.context import journey_for_member
from web.filters import PageFilters, page_filters, source_choices
from web.views import member_page


@dataclass
class Cell:
    site: Site
    score: float | None  # smoothed
    n: int
    status: str
    best: bool = False
    gap: float | None = None  # best score minus this one; None for a blind spot

    @property
    def blind(self) -> bool:
        return self.status == formulas.INSUFFICIENT_DATA or self.score is None


@dataclass
class Row:
    number: int
    touch_point: selectors.TouchPointRow
    cells: list[Cell] = field(default_factory=list)

    @property
    def best(self) -> Cell | None:
        return next((c for c in self.cells if c.best), None)

    def cell_for(self, site_id: int) -> Cell | None:
        return next((c for c in self.cells if c.site.pk == site_id), None)


@dataclass
class SiteTable:
    sites: list[Site]
    rows: list[Row]
    sort: str  # "map", "gap" or "site-<id>"

    @property
    def columns(self) -> list[tuple[Site, str]]:
        """Each site with the sort key of its column."""
        return [(site, f"site-{site.pk}") for site in self.sites]


def site_table(journey: Journey, filters: PageFilters, sort: str = "map") -> SiteTable:
    """Touch points (rows, map order unless sorted) × sites (columns, by name)."""
    sites = list(filters.sites)
    args = filters.selector_args()
    per_site = {
        site.pk: selectors.journey_scores(
            journey, window=args["window"], site=site, source=args["source"]
        )
        for site in sites
    }
    all_sites = selectors.journey_scores(journey, **args)
    rows = []
    for number, tp in enumerate(all_sites.touch_points, start=1):
        row = Row(number, tp)
        for site in sites:
            found = next((r for r in per_site[site.pk].touch_points if r.id == tp.id), None)
            row.cells.append(
                Cell(
                    site=site,
                    score=found.smoothed_score if found else None,
                    n=found.n if found else 0,
                    status=found.status if found else formulas.INSUFFICIENT_DATA,
                )
            )
        called = [c for c in row.cells if not c.blind]
        if called:
            best = max(called, key=lambda c: c.score or 0.0)
            best.best = True
            for c in called:
                c.gap = round((best.score or 0.0) - (c.score or 0.0), 1)
        rows.append(row)
    if sort.startswith("site-") and sort[5:].isdecimal():
        site_id = int(sort[5:])
        if any(s.pk == site_id for s in sites):

            def weakest_first(row: Row) -> tuple[int, float]:
                cell = row.cell_for(site_id)
                if cell is None or cell.blind:
                    return (1, 0.0)  # blind spots last
                return (0, cell.score or 0.0)

            rows.sort(key=weakest_first)
        else:
            sort = "map"
    elif sort == "gap":
        rows.sort(key=lambda r: -max((c.gap or 0.0) for c in r.cells) if r.cells else 0.0)
    else:
        sort = "map"
    return SiteTable(sites=sites, rows=rows, sort=sort)


@member_page
def journey_sites(request: HttpRequest, journey_id: int) -> HttpResponse:
    """The heat table page: sortable by the URL (?sort=site-<id>, ?sort=gap), filters kept."""
    journey, membership = journey_for_member(request, journey_id)
    filters = page_filters(request, journey.organization)
    table = site_table(journey, filters, sort=request.GET.get("sort", "map")[:20])
    context = {
        "journey": journey,
        "membership": membership,
        "table": table,
        "filters": filters,
        "sources": source_choices(),
    }
    return render(request, "web/journey_sites.html", context)
