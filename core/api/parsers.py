"""The API's default JSON parser: what DRF's does, plus the text gate (core.text) on every
string in the body, so text PostgreSQL cannot hold is a 400 naming its field whichever
endpoint receives it, never a UnicodeEncodeError and a 500 at the database."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core.text import is_storable, text_problems

MAX_DEPTH = 64


def _field_name(path: tuple[str | int, ...]) -> str:
    """`answers[0].value` style, as the evaluations API names fields."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "non_field_errors"


def unstorable_text(data: Any) -> dict[str, list[str]]:
    """Every string (value or key) in `data` PostgreSQL could not store, by field."""
    errors: dict[str, list[str]] = {}
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            continue  # depth is the parser's own refusal
        if isinstance(value, str):
            if not is_storable(value):
                errors[_field_name(path)] = text_problems(value)
        elif isinstance(value, dict):
            for key, nested in value.items():
                if isinstance(key, str) and not is_storable(key):
                    errors[_field_name(path)] = [
                        "Field names " + p[0].lower() + p[1:] for p in text_problems(key)
                    ]
                else:
                    stack.append(((*path, key), nested))
        elif isinstance(value, list):
            stack.extend(((*path, i), nested) for i, nested in enumerate(value))
    return errors


class StorableJSONParser(JSONParser):
    """DRF's JSON parser; JSON nested deeper than Python can follow is a 400 (not a
    RecursionError and a 500), and so is any string the database cannot hold."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        errors = unstorable_text(data)
        if errors:
            raise serializers.ValidationError(errors)
        return data
