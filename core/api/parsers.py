"""The API's default JSON parser: what DRF's does, except that JSON nested deeper than
Python can follow is a 400, not a RecursionError and a 500, and that a body it cannot
read is refused in the shape of every other refusal of a body: field errors, under
`non_field_errors` (as the evaluations parser words its own), which is what every write
operation documents for 400 (DRF's `{"detail": ...}` was not: check-api, ST108).

It judges no values. The text gate (core.text) applies to what is read: the members a
serializer passes to a service (core.api.serializers) and DRF's CharFields; a member no
serializer reads is ignored whatever it holds, as the schema says (`additionalProperties:
{}`), so a NUL nested in it at any depth is no reason to refuse the request."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.settings import api_settings


def _refused(message: str) -> ParseError:
    return ParseError({api_settings.NON_FIELD_ERRORS_KEY: [message]})


class NestingSafeJSONParser(JSONParser):
    """DRF's JSON parser; JSON nested deeper than Python can follow is a 400, and every
    refusal names the whole body (non_field_errors)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise _refused("JSON parse error - the body is nested too deeply.") from None
        except ParseError as exc:
            raise _refused(str(exc.detail)) from None
