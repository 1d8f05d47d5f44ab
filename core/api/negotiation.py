"""Content negotiation for an API that answers JSON only.

DRF's DefaultContentNegotiation parses the Accept header into media types and matches
each against each renderer on every request. With JSON as the only renderer, an Accept
header that JSON satisfies as written (none, */*, application/*, application/json) has
one answer; those skip the matching. Anything else (text/html, a list, parameters, a
?format= override, a view with several renderers) is negotiated by DRF as before, so what
JSON cannot satisfy is still 406.

DRF reads this class from settings while rest_framework.views is loading, so this module
must not import rest_framework.views (nor anything that does).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

JSON_SATISFIES = frozenset({"", "*/*", "application/*", "application/json"})


class JSONFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str] | Any:
        renderers = list(renderers)  # DRF hands over a list
        if (
            len(renderers) == 1
            and renderers[0].media_type == "application/json"
            and not format_suffix
            and request.META.get("HTTP_ACCEPT", "").strip() in JSON_SATISFIES
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
