"""Live pages for every role: one cheap "has this journey changed?" check that an open map
or touch point page asks every few seconds.

The answer is a fingerprint of everything those pages show, read in ONE query together
with the tenancy check (a membership of the journey's organization): the journey's snapshot time (a recompute landed), its newest stale
mark (evaluations arrived) and the organization's newest audit event (someone edited the
structure). The page sends the fingerprint it holds as If-None-Match; the same one is a
304 with no body; a new one answers the new fingerprint with an HX-Trigger that refreshes
the page's figures (static/js/app.js holds the refresh while a manager is editing, and
asks nothing while the tab is hidden).

The answer most asks get, "unchanged", costs ONE query and no middleware work:
LiveCheckMiddleware answers it before the session, authentication, CSRF, messages, CSP and
htmx middleware run (no session read or write, no user load, no template). The page holds a
signed watch token (X-Live-Token) naming the user, the journey and a digest of the session
key it was issued for; the one query checks, together with the fingerprint, that this
session still exists and is unexpired, that the user is active and still a member of the
journey's organization. Anything else -- no token, another session's token, a changed
fingerprint, a removed member -- falls through to the ordinary view below, which does the
full checks (a signed-out or removed user gets its redirect or 404 there).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.sessions.models import Session
from django.core import signing
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.access import signed_in_user
from accounts.models import AuditEvent, Membership, User
from core.ids import MAX_DIGITS, MAX_ID, parse_id
from journeys.models import Journey
from scoring.models import JourneyScore, StaleMark
from touchpoints.models import TouchPoint

#: How often an open, visible page asks (seconds): 50 open pages cost 10 tiny requests a
#: second. 5 s is the freshness bound the reliability promises state (R11's first step).
LIVE_SECONDS = 5
#: The request header carrying the page's watch token.
TOKEN_HEADER = "X-Live-Token"  # noqa: S105  (a header name, not a secret)
_SALT = "touchstone.live-watch"


@functools.cache
def _changed_path() -> re.Pattern[str]:
    """The path journey_changed answers at, as the URLconf spells it (reversed once, with a
    marker for the id), so the middleware below cannot drift from the route."""
    marker = str(MAX_ID)
    before, after = reverse("journey-changed", args=[int(marker)]).split(marker)
    return re.compile(rf"^{re.escape(before)}([0-9]{{1,{MAX_DIGITS}}}){re.escape(after)}$")


def _fingerprint(computed: datetime | None, stale: int | None, edited: int | None) -> str:
    return f"{computed.timestamp() if computed else 0:.6f}-{stale or 0}-{edited or 0}"


def _session_digest(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


def watch_token(session_key: str, user_id: int, journey_id: int) -> str:
    """The token a page's watcher sends: signed (SECRET_KEY), bound to one session, user
    and journey. It grants nothing by itself: the check still needs that session's cookie,
    and the session must still exist."""
    value = f"{user_id}.{journey_id}.{_session_digest(session_key)}"
    return signing.Signer(salt=_SALT).sign(value)


def _fingerprint_sql(*, fast_path: bool) -> str:
    """The one definition of what a fingerprint reads: the journey's last computed score,
    its newest stale mark, the organization's newest audited edit, for journeys in an
    organization the user belongs to. The fast path (not_modified) also checks that the
    session exists unexpired and the user is active, which the ordinary view's middleware
    already did. Table names come from the models; every value is a parameter."""
    journey, member = Journey._meta.db_table, Membership._meta.db_table
    score, stale = JourneyScore._meta.db_table, StaleMark._meta.db_table
    audit, user = AuditEvent._meta.db_table, User._meta.db_table
    session, touch_point = Session._meta.db_table, TouchPoint._meta.db_table
    signed_in = f"""
          AND EXISTS (SELECT 1 FROM {user} u WHERE u.id = %(user)s AND u.is_active)
          AND EXISTS (SELECT 1 FROM {session} x
                      WHERE x.session_key = %(session)s AND x.expire_date > now())"""  # noqa: S608
    return f"""
        SELECT
            j.id,
            (SELECT s.computed_at FROM {score} s WHERE s.journey_id = j.id LIMIT 1),
            (SELECT m.id FROM {stale} m JOIN {touch_point} t ON t.id = m.touch_point_id
              WHERE t.journey_id = j.id ORDER BY m.id DESC LIMIT 1),
            (SELECT a.id FROM {audit} a WHERE a.organization_id = j.organization_id
              ORDER BY a.id DESC LIMIT 1)
        FROM {journey} j
        WHERE j.id = ANY(%(journeys)s)
          AND EXISTS (SELECT 1 FROM {member} b
                      WHERE b.user_id = %(user)s AND b.organization_id = j.organization_id)
          {signed_in if fast_path else ""}
    """  # noqa: S608  (table names from the models; every value is a parameter)


_FINGERPRINTS_SQL = _fingerprint_sql(fast_path=False)
_UNCHANGED_SQL = _fingerprint_sql(fast_path=True)


def fingerprints(journeys: list[int], *, user_id: int) -> dict[int, str]:
    """Journey id -> its fingerprint, for those of `journeys` in an organization the user
    belongs to (the tenancy check is part of the same query): one query."""
    with connection.cursor() as cursor:
        cursor.execute(_FINGERPRINTS_SQL, {"journeys": list(journeys), "user": user_id})
        rows = cursor.fetchall()
    return {pk: _fingerprint(computed, stale, edited) for pk, computed, stale, edited in rows}


def _watch(request: HttpRequest, journey_id: int, version: str) -> dict[str, Any]:
    user_id = signed_in_user(request).pk
    session_key = request.session.session_key or ""
    return {
        "journey_id": journey_id,
        "live_version": version,
        "live_seconds": LIVE_SECONDS,
        "live_token": watch_token(session_key, user_id, journey_id) if session_key else "",
    }


def live_context(request: HttpRequest, journey: Journey) -> dict[str, Any]:
    """What a page needs to draw its watcher: the fingerprint of what it shows now and the
    watch token of this session."""
    user_id = signed_in_user(request).pk
    return _watch(request, journey.pk, fingerprints([journey.pk], user_id=user_id)[journey.pk])


def not_modified(request: HttpRequest, journey_id: int) -> HttpResponse | None:
    """A 304 if this session's page already holds the journey's current fingerprint and
    the session may still see it; None when the ordinary view must answer."""
    held = request.headers.get("If-None-Match")
    token = request.headers.get(TOKEN_HEADER)
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not held or not token or not session_key:
        return None
    try:
        user, journey, digest = signing.Signer(salt=_SALT).unsign(token).split(".")
    except (signing.BadSignature, ValueError):
        return None
    if journey != str(journey_id) or not hmac.compare_digest(digest, _session_digest(session_key)):
        return None
    with connection.cursor() as cursor:
        arguments: dict[str, Any] = {
            "journeys": [journey_id],
            "user": int(user),
            "session": session_key,
        }
        cursor.execute(_UNCHANGED_SQL, arguments)
        row = cursor.fetchone()
    if row is None or held != f'"{_fingerprint(*row[1:])}"':
        return None
    response = HttpResponse(status=304)
    response["ETag"] = held
    add_never_cache_headers(response)
    return response


class LiveCheckMiddleware:
    """Answers "unchanged" to an open page's watcher before the session, authentication,
    CSRF, messages, CSP and htmx middleware (placed right after the security, request id
    and database-unavailable ones in settings.MIDDLEWARE); everything else passes on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            match = _changed_path().match(request.path_info)
            journey_id = parse_id(match[1]) if match is not None else None
            if journey_id is not None:
                response = not_modified(request, journey_id)
                if response is not None:
                    return response
        return self.get_response(request)


@never_cache  # the page's own If-None-Match is the cache; the browser must not keep one
@login_required
@require_GET
def journey_changed(request: HttpRequest, journey_id: int) -> HttpResponse:
    """304 while the journey is as the page has it; else the watcher with the new
    fingerprint (ETag) and HX-Trigger: touchstone:scored. Another organization's journey,
    or none, is a 404 like everywhere."""
    current = fingerprints([journey_id], user_id=signed_in_user(request).pk).get(journey_id)
    if current is None:
        raise Http404("No such journey.")
    etag = f'"{current}"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = render(request, "web/_live.html", _watch(request, journey_id, current))
        if "If-None-Match" in request.headers:
            response["HX-Trigger"] = "touchstone:scored"
    response["ETag"] = etag
    return response
