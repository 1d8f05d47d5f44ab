"""The one parser for ids, wherever they arrive: URL paths (the `id` converter), headers
(X-Organization), query strings (filters, pages) and form fields.

An id is ASCII decimal digits only, from 1 to the largest bigint. `str.isdigit()` takes
"²" (which int() refuses: a 500) and int() takes "١٢" and " +12 " (which no client means
as an id); a number past the bigint range fails in PostgreSQL instead of matching
nothing. Every caller gets None (or a 404/400) for all of those.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import register_converter

MAX_ID = 2**63 - 1  # PostgreSQL bigint, the BigAutoField every table uses
MAX_DIGITS = len(str(MAX_ID))


def parse_id(raw: object) -> int | None:
    """`raw` as an id, or None if it is not one (ints pass if they are in range)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 1 <= raw <= MAX_ID else None
    if not isinstance(raw, str) or not raw or len(raw) > MAX_DIGITS:
        return None
    if not (raw.isascii() and raw.isdecimal()):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def parse_positive(raw: object, *, maximum: int = MAX_ID) -> int | None:
    """A whole number from 1 to `maximum` written in ASCII digits (page numbers, sizes)."""
    value = parse_id(raw)
    return value if value is not None and value <= maximum else None


class IdConverter:
    """`<id:name>` in URL patterns: ASCII digits, and a value past the bigint range does
    not match (a 404), where Django's `<int:>` passed it on to fail in the database."""

    regex = "[0-9]{1,%d}" % MAX_DIGITS  # noqa: UP031  (a regex, not a message)

    def to_python(self, value: str) -> int:
        parsed = parse_id(value)
        if parsed is None:
            raise ValueError(value)  # Django treats it as "no match"
        return parsed

    def to_url(self, value: Any) -> str:
        return str(int(value))


register_converter(IdConverter, "id")

ID_MESSAGE = f"Must be an id: a whole number from 1 to {MAX_ID}, in ASCII digits."


class IdFormField(forms.IntegerField):
    """A form (and query filter) field for an id: `parse_id`, or a field error."""

    default_error_messages = {"invalid": ID_MESSAGE}

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        parsed = parse_id(value.strip() if isinstance(value, str) else value)
        if parsed is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed
