"""Optimistic concurrency for API writes on one resource: `ETag` out, `If-Match` in.

A manager reads a touch point, edits it for a minute, saves; meanwhile a colleague saved
a different change. Without a precondition the second save silently overwrites the first
(a lost update). So every detail response carries an `ETag`, and every write on a detail
(PUT, PATCH, DELETE and the move/archive/restore actions) must send it back in `If-Match`:

- no `If-Match` → 428 Precondition Required;
- a tag that is not the resource's current one → 412 Precondition Failed, nothing stored;
- the current tag → the write proceeds and the response carries the new tag.

The tag is a strong validator: a SHA-256 of the resource's JSON representation (the body a
GET returns), so it changes exactly when what the client saw changes, for every model alike,
whether or not it has an `updated_at` column. The comparison runs inside the write's
transaction on a row locked FOR NO KEY UPDATE, so of two writers holding the same tag the
second waits for the first to commit, then sees the new tag and gets 412.

Deliberate leniencies: `If-Match: *` matches any existing resource (RFC 9110: the client
says it means to overwrite), and a `W/` prefix added by a proxy that re-encodes bodies is
ignored: the tag names the content, which re-encoding does not change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model, QuerySet
from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.request import Request

from core.api.errors import ErrorSerializer

IF_MATCH_HEADER = "If-Match"


class PreconditionRequired(exceptions.APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = (
        "Send the If-Match header with the ETag of this resource (from a GET), so a change "
        "made since you read it is not overwritten."
    )
    default_code = "precondition_required"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = (
        "This resource was changed since you read it: nothing was stored. GET it again for "
        "the current state and ETag, then retry your change."
    )
    default_code = "precondition_failed"


def etag_for(representation: Mapping[str, Any]) -> str:
    """A strong entity tag naming this exact representation."""
    payload = json.dumps(
        representation, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder
    )
    return '"' + hashlib.sha256(payload.encode()).hexdigest()[:32] + '"'


def if_match_tags(request: Request) -> frozenset[str] | None:
    """The tags If-Match names (a `W/` prefix dropped), or None for `*` (any current
    representation); 428 without If-Match. For a service that compares them itself, on the
    row it locks, so the caller need not read the resource first."""
    header = request.headers.get(IF_MATCH_HEADER, "").strip()
    if not header:
        raise PreconditionRequired()
    tags = parse_etags(header)
    if "*" in tags:
        return None
    return frozenset(tag.removeprefix("W/") for tag in tags)


def check_if_match(request: Request, current_etag: str) -> None:
    """Raise 428 without If-Match, 412 unless one of its tags is `current_etag`."""
    tags = if_match_tags(request)
    if tags is not None and current_etag not in tags:
        raise PreconditionFailed()


def lock_rows(rows: Iterable[tuple[type[Model], int]]) -> None:
    """Lock rows FOR NO KEY UPDATE, in the order given, for the rest of the transaction.

    Callers lock parents before children, the order the services lock in, so a guarded
    write and a service call can never wait on each other in a cycle. FOR NO KEY UPDATE
    still lets evaluations be inserted that reference the locked rows.
    """
    for model, pk in rows:
        list(model._default_manager.select_for_update(no_key=True).filter(pk=pk).values("pk"))


def lock_one(queryset: QuerySet[Any], pk: int) -> Any:
    """The row `pk` of `queryset`, locked FOR NO KEY UPDATE; 404 if it is gone."""
    row = queryset.select_for_update(no_key=True, of=("self",)).filter(pk=pk).first()
    if row is None:
        raise exceptions.NotFound()
    return row


# --- OpenAPI --------------------------------------------------------------------------------


IF_MATCH_PARAMETER = OpenApiParameter(
    name=IF_MATCH_HEADER,
    type=str,
    location=OpenApiParameter.HEADER,
    required=True,
    description=(
        "The ETag from your last read of this resource (a GET, or the response to your "
        "last write). Missing → 428; no longer current → 412 and nothing is stored. "
        "`*` overwrites whatever is there."
    ),
)

ETAG_HEADER = OpenApiParameter(
    name="ETag",
    type=str,
    location=OpenApiParameter.HEADER,
    response=[200, 201],
    description=(
        "Strong entity tag of the returned resource (a hash of its representation). "
        "Send it back in If-Match to change or delete the resource."
    ),
)

PRECONDITION_RESPONSES = {
    412: OpenApiResponse(
        ErrorSerializer,
        description="If-Match is not the current ETag: someone changed the resource. Nothing stored.",
    ),
    428: OpenApiResponse(ErrorSerializer, description="If-Match is missing. Nothing stored."),
}
