"""The API's default JSON parser: what DRF's does, except that JSON nested deeper than
Python can follow is a 400, not a RecursionError and a 500.

It judges no values. The text gate (core.text) applies to what is read: the members a
serializer passes to a service (core.api.serializers) and DRF's CharFields; a member no
serializer reads is ignored whatever it holds, as the schema says (`additionalProperties:
{}`), so a NUL nested in it at any depth is no reason to refuse the request."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class NestingSafeJSONParser(JSONParser):
    """DRF's JSON parser; JSON nested deeper than Python can follow is a 400."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
