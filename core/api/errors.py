"""The API's error format: JSON for every refusal, the exception handler that makes it so,
and the OpenAPI description of the refusals any operation can give.

- A refusal without field errors: `{"detail": "..."}` (ErrorSerializer).
- Field errors: `{"field": ["message", ...]}`; service ValidationErrors become 400 with
  their fields (404 when every one is a reference to nothing, 409 when every one is a
  conflict with the current state: core.text's codes), oversized bodies 413, a lost
  database 503 with Retry-After.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.database_unavailable import RETRY_AFTER_SECONDS, database_unavailable
from core.text import CONFLICT, NOT_FOUND


class ErrorSerializer(serializers.Serializer[Any]):
    """The body of a refusal without field errors (401, 403, 404, 412, 428, ...)."""

    detail = serializers.CharField()


# Every 400 of the API is this shape: field errors, or a `detail` for a body that could not
# be read at all (a JSON parse error), or both (the 404/409 of _field_errors below).
FIELD_ERRORS_SCHEMA = {
    "type": "object",
    "description": (
        'Messages by field: {"field": ["message", ...]}; a body that is not JSON at all: '
        '{"detail": "message"}.'
    ),
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
# What any operation can refuse before its own code runs: the token check
# (BearerTokenAuthentication, AuthFailureThrottle) and request_membership.
ACCESS_REFUSALS: dict[int, tuple[Any, str]] = {
    400: (
        FIELD_ERRORS_SCHEMA,
        "X-Organization is missing and you belong to several organizations.",
    ),
    401: (ErrorSerializer, "Missing, invalid or revoked token."),
    403: (ErrorSerializer, "You are not a member of any organization."),
    404: (ErrorSerializer, "X-Organization names none of your organizations."),
    429: (
        ErrorSerializer,
        "Too many failed token checks from your address; retry after Retry-After seconds.",
    ),
}


def with_access_refusals(responses: dict[int, Any]) -> dict[int, Any]:
    """An operation's documented responses plus the refusals every operation can give
    (ACCESS_REFUSALS): a status the operation documents itself keeps its body and
    examples, and its description gains the access reason."""
    merged = dict(responses)
    for code, (body, reason) in ACCESS_REFUSALS.items():
        own = merged.get(code)
        if own is None:
            merged[code] = OpenApiResponse(body, description=reason)
        elif isinstance(own, OpenApiResponse):
            merged[code] = OpenApiResponse(
                own.response, description=f"{own.description} Or: {reason}", examples=own.examples
            )
        else:
            raise TypeError(f"Document {code} as an OpenApiResponse, with its description.")
    return merged


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """JSON errors everywhere: service ValidationErrors become 400 with their fields,
    oversized bodies 413, a lost database 503 with Retry-After."""
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "The request body is too large (limit 1 MB)."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, DjangoValidationError):
        # Messages of no field go under non_field_errors, as DRF's own do: `detail` is a
        # string everywhere (ErrorSerializer), never a list.
        detail: Any = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        if "__all__" in detail:
            detail["non_field_errors"] = detail.pop("__all__")
        codes = (
            {error.code for error in exc.error_list}
            if not hasattr(exc, "error_dict")
            else {error.code for errors in exc.error_dict.values() for error in errors}
        )
        return _field_errors(detail, codes)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if database_unavailable(exc):
        # Not "nothing was stored": a connection lost during COMMIT may follow a durable
        # commit (seen in the R8 crash test). The key's replay tells the client which.
        return Response(
            {
                "detail": (
                    "The database is unavailable. Retry shortly with the same "
                    "Idempotency-Key: a request that was stored is then answered, not "
                    "stored twice."
                )
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        return _field_errors(response.data, set(_leaf_codes(exc.get_codes())))
    return response


def _leaf_codes(codes: Any) -> Iterator[str | None]:
    if isinstance(codes, dict):
        for value in codes.values():
            yield from _leaf_codes(value)
    elif isinstance(codes, list):
        for value in codes:
            yield from _leaf_codes(value)
    else:
        yield codes


#: Field errors that all say one of these are answered with its status, not 400 (core.text).
STATUS_OF_CODE = {NOT_FOUND: status.HTTP_404_NOT_FOUND, CONFLICT: status.HTTP_409_CONFLICT}


def _field_errors(detail: Any, codes: set[str | None]) -> Response:
    """400 with the field errors, unless every one of them is a reference to nothing (404)
    or a conflict with the current state (409): the request was well formed, so a client
    (or a schema fuzzer) must not be told it was malformed. The body keeps the fields and
    gains a `detail` line, so it is both a field-error and an ErrorSerializer body."""
    answer: int = status.HTTP_400_BAD_REQUEST
    if len(codes) == 1 and (code := next(iter(codes))) in STATUS_OF_CODE:
        answer = STATUS_OF_CODE[code]
        if isinstance(detail, dict) and "detail" not in detail:
            first = next(iter(detail.values()), [""])
            detail = {
                "detail": str(first[0] if isinstance(first, list) and first else first),
                **detail,
            }
    return Response(detail, status=answer)
