"""drf-spectacular postprocessing: answers every operation can give that no view declares,
so the published schema describes every response the API really sends (tests check each
one against it, tests/openapi_check.py)."""

from __future__ import annotations

from typing import Any

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}

#: Added to every operation: the database went away mid-request (config.database_unavailable).
UNAVAILABLE = {
    "description": "The database is unavailable for a moment; retry after Retry-After seconds.",
    "content": _ERROR,
}
#: Added to every operation with a body: DRF's parsers refuse a body that is not JSON.
UNSUPPORTED_MEDIA_TYPE = {
    "description": "The body is not JSON (send Content-Type: application/json).",
    "content": _ERROR,
}
#: Added to every write: a body over DATA_UPLOAD_MAX_MEMORY_SIZE (core.api.errors).
TOO_LARGE = {"description": "The body is larger than 1 MB.", "content": _ERROR}
WRITES = {"post", "put", "patch", "delete"}


def add_common_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses.setdefault("503", UNAVAILABLE)
            if method in WRITES:
                responses.setdefault("413", TOO_LARGE)
            if "requestBody" in operation:
                responses.setdefault("415", UNSUPPORTED_MEDIA_TYPE)
    return result
