"""The pages' filters: a period (last 30/90/365 days or custom dates), a site and a source,
kept in the URL so a filtered page can be shared and the back button works, plus a
comparison with the period of the same length just before.

Parsing ends in scoring.selectors.score_filters, the very check the API's scores endpoints
use, and the figures come from the same selectors with the same arguments: a page and the
API asked the same question give the same numbers. Without any filter the pages read the
workers' snapshot, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from accounts.models import Organization
from scoring import selectors
from touchpoints.models import Site, Source

PRESETS = (30, 90, 365)
CUSTOM = "custom"
#: The query parameters the filters own; everything else in the URL is left alone.
PARAMETERS = ("period", "since", "until", "site", "source", "compare")


@dataclass
class PageFilters:
    """What a page was asked to show, checked; `errors` holds what was refused (the page then
    shows the unfiltered figures and says why)."""

    period: str = ""  # "", "30", "90", "365" or CUSTOM
    since_text: str = ""
    until_text: str = ""
    site_id: int | None = None
    source: str = ""
    compare: bool = False
    checked: selectors.ScoreFilters = field(default_factory=selectors.ScoreFilters)
    errors: dict[str, list[str]] = field(default_factory=dict)
    sites: list[Site] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return not self.checked.is_default

    @property
    def window(self) -> selectors.Period | None:
        return self.checked.window

    @property
    def site(self) -> Site | None:
        return self.checked.site

    def selector_args(self) -> dict[str, Any]:
        """Keyword arguments for scoring.selectors' journey/touch point/weak-link reads."""
        return {"window": self.window, "site": self.site, "source": self.checked.source}

    def previous_args(self, current: selectors.Period | None) -> dict[str, Any] | None:
        """The same question over the period of the same length just before `current` (the
        window the figures were computed over), or None without a window to compare."""
        if not self.compare or current is None:
            return None
        span = current.until - current.since
        return {
            "window": selectors.Period(current.since - span, current.since),
            "site": self.site,
            "source": self.checked.source,
        }

    @property
    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.period:
            out["period"] = self.period
        if self.period == CUSTOM:
            out.update(
                {k: v for k, v in (("since", self.since_text), ("until", self.until_text)) if v}
            )
        if self.site_id is not None:
            out["site"] = str(self.site_id)
        if self.source:
            out["source"] = self.source
        if self.compare:
            out["compare"] = "1"
        return out

    @property
    def query(self) -> str:
        """ "?period=30&site=2…" to append to a page's own URLs (htmx refreshes, links to
        the touch point, downloads), or "" without filters."""
        query = QueryDict(mutable=True)
        query.update(self.params)
        encoded = query.urlencode()
        return f"?{encoded}" if encoded else ""

    @property
    def source_label(self) -> str:
        return str(Source(self.source).label) if self.source in Source.values else ""

    @property
    def description(self) -> str:
        """One line saying what the figures cover, for headings, captions and reports."""
        parts = []
        if self.window is not None:
            parts.append(f"{self.window.since:%-d %b %Y} – {self.window.last_instant:%-d %b %Y}")
        else:
            parts.append("the scoring window")
        if self.site is not None:
            parts.append(f"site {self.site.name}")
        if self.source:
            parts.append(f"source {self.source_label}")
        return ", ".join(parts)


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdecimal() and len(text) < 12 else None


def page_filters(
    request: HttpRequest, organization: Organization, *, now: datetime | None = None
) -> PageFilters:
    """The filters in `request`'s query string, checked by selectors.score_filters. An htmx
    POST (an edit on the map) has none of its own: the page's are in HX-Current-URL."""
    get = request.GET
    if request.method != "GET":
        get = QueryDict(urlsplit(request.headers.get("HX-Current-URL", "")).query)
    found = PageFilters(
        period=get.get("period", "").strip(),
        since_text=get.get("since", "").strip()[:32],
        until_text=get.get("until", "").strip()[:32],
        source=get.get("source", "").strip()[:32],
        compare=get.get("compare", "") in {"1", "on", "true"},
        sites=list(Site.objects.for_organization(organization).order_by("name", "id")),
    )
    errors: dict[str, list[str]] = {}
    now = now or timezone.now()
    since = until = None
    if found.period in {str(days) for days in PRESETS}:
        since, until = now - timedelta(days=int(found.period)), now
    elif found.period == CUSTOM:
        for name, text in (("since", found.since_text), ("until", found.until_text)):
            if not text:
                continue
            try:
                moment = selectors.parse_instant(text, end_of_day=name == "until")
            except ValueError:
                errors[name] = ["Enter a date as YYYY-MM-DD."]
                continue
            if name == "since":
                since = moment
            else:
                until = moment
        if since is None and until is None and not errors:
            errors["since"] = ["Choose a start or an end date for a custom period."]
    elif found.period:
        errors["period"] = ["Choose one of the periods offered."]
        found.period = ""
    site_text = get.get("site", "").strip()
    if site_text:
        found.site_id = _int(site_text)
        if found.site_id is None:
            errors["site"] = ["No such site."]
    if found.source and found.source not in Source.values:
        errors["source"] = ["Choose one of the sources offered."]
    if not errors:
        try:
            found.checked = selectors.score_filters(
                organization,
                since=since,
                until=until,
                site_id=found.site_id,
                source=found.source or None,
                now=now,
            )
        except ValidationError as error:
            errors = error.message_dict
    found.errors = errors
    return found


def source_choices() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in Source.choices]
