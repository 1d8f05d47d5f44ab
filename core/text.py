"""The one gate for text on its way to the database.

PostgreSQL text holds neither NUL nor a lone UTF-16 surrogate (psycopg raises
UnicodeEncodeError, which was a 500), and every column has a length. `text_problem` is
the one judgement of a text; every entry point asks it: the services (`clean_text`,
`raise_if`), the API's JSON parser (core.json), browser form fields (`TextFormField`),
CSV cells (through the services) and management command arguments (`text_argument`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

#: Codes of field errors that are not about the request's shape, so the API answers them
#: with their own status (core.api.errors): a reference to a row that does not exist in the
#: caller's organization (404, as for an id in a path), and a change that the resource's
#: current state refuses, such as a duplicate name or moving an archived item (409).
NOT_FOUND = "not_found"
CONFLICT = "conflict"

NUL_MESSAGE = "Must not contain NUL characters."
SURROGATE_MESSAGE = "Must be valid Unicode text (it has a lone surrogate)."


def is_storable(text: str) -> bool:
    """Whether PostgreSQL can hold `text`: no NUL, nothing UTF-8 cannot encode."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_problems(text: str, *, max_length: int | None = None) -> list[str]:
    """Everything wrong with `text` as a stored value, as messages for its field."""
    problems = []
    if "\x00" in text:
        problems.append(NUL_MESSAGE)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        problems.append(SURROGATE_MESSAGE)
    if max_length is not None and len(text) > max_length:
        problems.append(f"Must be at most {max_length} characters (it has {len(text)}).")
    return problems


def clean_text(
    errors: dict[str, list[str]], field: str, value: Any, *, max_length: int, required: bool = False
) -> str:
    """Validate one text field, adding messages to `errors`; returns the stripped text."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(field, []).append("Must be text.")
        return ""
    text: str = value.strip()
    problems = text_problems(text, max_length=max_length)
    if required and not text:
        problems.insert(0, "This field is required.")
    if problems:
        errors.setdefault(field, []).extend(problems)
    return text


def not_found(message: str) -> ValidationError:
    """A field error for a reference to nothing in the caller's organization."""
    return ValidationError(message, code=NOT_FOUND)


def conflict(message: str) -> ValidationError:
    """A field error for a change the current state refuses (not a malformed value)."""
    return ValidationError(message, code=CONFLICT)


def raise_if(errors: dict[str, list[Any]]) -> None:
    """Raise the collected field errors, if any, as one ValidationError."""
    if errors:
        raise ValidationError(errors)


def validated_text(value: Any, *, field: str, max_length: int, required: bool = False) -> str:
    """One text field checked on its own: the stripped text, or a ValidationError by field."""
    errors: dict[str, list[str]] = {}
    text = clean_text(errors, field, value, max_length=max_length, required=required)
    raise_if(errors)
    return text


@deconstructible
class StorableTextValidator:
    """The gate as a Django validator (form fields); length stays with the field's own."""

    def __call__(self, value: Any) -> None:
        if isinstance(value, str):
            problems = text_problems(value)
            if problems:
                raise ValidationError(problems, code="unstorable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StorableTextValidator)

    def __hash__(self) -> int:
        return hash(StorableTextValidator)


class TextFormField(forms.CharField):
    """The browser forms' text field: Django's CharField (which refuses NUL already) plus
    the gate, so a lone surrogate or an over-long value is a field error, never a 500."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not any(isinstance(v, StorableTextValidator) for v in self.validators):
            self.validators.append(StorableTextValidator())


def text_argument(*, max_length: int) -> Callable[[str], str]:
    """An argparse `type=` for a management command's text argument: bytes that are not
    UTF-8 arrive from the shell as lone surrogates (surrogateescape), NUL cannot arrive
    from a shell but can from a caller of call_command; both are refused with a message."""

    def parse(raw: str) -> str:
        problems = text_problems(str(raw).strip(), max_length=max_length)
        if problems:
            # argparse shows this as "argument NAME: <message>" (CommandError in call_command).
            raise argparse.ArgumentTypeError(" ".join(problems))
        return str(raw).strip()

    parse.__name__ = "text"
    parse.max_length = max_length  # type: ignore[attr-defined]
    return parse
