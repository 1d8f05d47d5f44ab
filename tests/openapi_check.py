"""Every /api/v1/ response the test client produces is checked against the OpenAPI schema
the API publishes (/api/v1/schema/), by an independent validator (openapi-core), so a
response that breaks the published contract fails the test that produced it, in whatever
state it was produced (empty journeys, nothing computed yet, archived objects, errors).

The schema is generated once per test session, by the generator behind /api/v1/schema/.
Paths or methods the schema does not describe (the JSON 404 for unknown paths, 405s) have
no contract to check and are let through; a documented operation answering a status it
does not document, or a body its schema does not allow, fails.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse

API_PREFIX = "/api/v1/"
#: The schema itself and the docs page are HTML or YAML about the API, not answers in it.
NOT_CHECKED = ("/api/v1/schema/", "/api/v1/docs/")


@cache
def schema() -> dict[str, Any]:
    """/api/v1/schema/ as plain JSON, generated once."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return dict(json.loads(OpenApiJsonRenderer().render(generated)))


@cache
def openapi() -> OpenAPI:
    """The validator, without openapi-core's check that the document itself is valid
    OpenAPI (most of a second in every test process): tests/api/test_schema_document.py
    makes that check once."""
    return OpenAPI.from_dict(schema(), config=Config(spec_validator_cls=None))


def _body(response: HttpResponse | StreamingHttpResponse) -> bytes:
    if isinstance(response, StreamingHttpResponse):
        body = b"".join(response.streaming_content)  # type: ignore[arg-type]
        response.streaming_content = [body]  # the test still reads it
        return body
    return bytes(response.content)


def check(response: Any) -> None:
    """Raise AssertionError if `response` (from django.test.Client) breaks the schema."""
    request = response.wsgi_request
    check_raw(
        method=request.method,
        path=request.path,
        query=dict(request.GET.items()),
        request_headers=dict(request.headers),
        status=response.status_code,
        headers=dict(response.items()),
        body=_body(response) if response.status_code != 304 else b"",
        shown_as=request.get_full_path(),
    )


def check_raw(
    *,
    method: str,
    path: str,
    query: dict[str, str],
    request_headers: dict[str, str],
    status: int,
    headers: dict[str, str],
    body: bytes,
    shown_as: str = "",
) -> None:
    """The check itself, for any HTTP client (the generated one uses httpx)."""
    if not path.startswith(API_PREFIX) or path.startswith(NOT_CHECKED):
        return
    content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    mock_request = MockRequest(
        "http://testserver", method.lower(), path, args=query, headers=request_headers
    )
    mock_response = MockResponse(
        body,
        status_code=status,
        headers=headers,
        content_type=content_type.split(";")[0].strip() if status != 304 else "",
    )
    try:
        openapi().validate_response(mock_request, mock_response)
    except (PathNotFound, OperationNotFound):
        return
    except Exception as error:  # every other OpenAPIError is a broken contract
        detail = getattr(error, "__cause__", None) or error
        raise AssertionError(
            f"{method} {shown_as or path} answered {status}, which breaks /api/v1/schema/: "
            f"{error!r} ({detail!r})\nbody: {body[:500]!r}"
        ) from error
