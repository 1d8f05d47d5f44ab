"""core.csp.CSPMiddleware keeps django-csp's headers while building them once: every case
below must carry exactly what django-csp's own middleware would set."""

from __future__ import annotations

from typing import Any

import pytest
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.test import RequestFactory, override_settings

from core.csp import CSPMiddleware

STRICT = {"DIRECTIVES": {"default-src": ["'self'"], "object-src": ["'none'"]}}


def headers(
    middleware_class: Any, response: HttpResponse, *, path: str = "/f/abc/", nonce: bool = False
) -> dict[str, str]:
    request = RequestFactory().get(path)
    middleware = middleware_class(lambda r: response)
    middleware.process_request(request)
    if nonce:
        str(request.csp_nonce)  # a template that used the nonce
    out = middleware.process_response(request, response)
    return {h: out[h] for h in (HEADER, HEADER_REPORT_ONLY) if h in out}


def both(make: Any, **kwargs: Any) -> tuple[dict[str, str], dict[str, str]]:
    return headers(CSPMiddleware, make(), **kwargs), headers(DjangoCSPMiddleware, make(), **kwargs)


def updated() -> HttpResponse:
    response = HttpResponse("page")
    response._csp_update = {"img-src": ["https://example.com"]}  # type: ignore[attr-defined]
    return response


def exempt() -> HttpResponse:
    response = HttpResponse("page")
    response._csp_exempt = True  # type: ignore[attr-defined]
    return response


@pytest.mark.parametrize(
    ("make", "kwargs"),
    [
        (lambda: HttpResponse("page"), {}),
        (lambda: HttpResponseRedirect("/f/abc/thanks/", status=303), {}),
        (lambda: HttpResponse("gone", status=410), {}),
        (updated, {}),
        (exempt, {}),
        (lambda: HttpResponse("page"), {"nonce": True}),
    ],
    ids=["page", "redirect", "410", "csp_update", "csp_exempt", "nonce"],
)
def test_headers_are_django_csps(make: Any, kwargs: dict[str, Any]) -> None:
    ours, theirs = both(make, **kwargs)
    assert ours == theirs
    assert HEADER in ours or make is exempt


def test_the_project_policy_is_set_on_a_plain_response() -> None:
    ours, _ = both(lambda: HttpResponse("page"))
    assert "default-src 'self'" in ours[HEADER] and "frame-ancestors 'none'" in ours[HEADER]


def test_changed_settings_change_the_headers() -> None:
    middleware = CSPMiddleware(lambda r: HttpResponse())

    def policy(path: str = "/") -> dict[str, str]:
        request: HttpRequest = RequestFactory().get(path)
        middleware.process_request(request)
        out = middleware.process_response(request, HttpResponse())
        return {h: out[h] for h in (HEADER, HEADER_REPORT_ONLY) if h in out}

    before = policy()
    with override_settings(
        CONTENT_SECURITY_POLICY={**STRICT, "EXCLUDE_URL_PREFIXES": ["/static/"]},
        CONTENT_SECURITY_POLICY_REPORT_ONLY={"DIRECTIVES": {"script-src": ["'self'"]}},
    ):
        during = policy()
        assert during == headers(DjangoCSPMiddleware, HttpResponse(), path="/")
        assert "object-src 'none'" in during[HEADER] and "frame-ancestors" not in during[HEADER]
        assert "script-src 'self'" in during[HEADER_REPORT_ONLY]
        assert set(policy("/static/x.css")) == {HEADER_REPORT_ONLY}
    assert policy() == before != during


def test_a_nonce_read_after_the_header_is_written_is_refused() -> None:
    request = RequestFactory().get("/")
    middleware = CSPMiddleware(lambda r: HttpResponse())
    middleware.process_request(request)
    middleware.process_response(request, HttpResponse())
    with pytest.raises(Exception, match="not available after the CSP header"):
        str(request.csp_nonce)
