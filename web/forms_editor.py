"""The structure editor's forms: what the browser posted, shaped into the services' input.

Shape only. A number field that holds a number becomes one; anything else is handed to the
service as typed, so the service refuses it with the same message the API gives. Every rule
(required names, lengths, ranges, what each criterion kind needs) lives in
`journeys.services` and `touchpoints.services`, never here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.http import QueryDict

JOURNEY_FIELDS = ("name", "persona", "description")
STAGE_FIELDS = ("name", "description")
TOUCH_POINT_TEXT_FIELDS = ("name", "description", "channel", "owner_team")
CRITERION_TEXT_FIELDS = ("name", "description", "kind", "unit")
MOVES = ("up", "down", "previous_stage", "next_stage")


@dataclass
class FormState:
    """A form as the template draws it: the values to show and the errors beside them."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def general(self) -> list[str]:
        """Errors about the whole form (templates cannot read `__all__`)."""
        return self.errors.get("__all__", [])

    @classmethod
    def refused(cls, post: QueryDict, error: ValidationError) -> FormState:
        """The typed values kept, the service's messages by field (non-field ones as __all__)."""
        values: dict[str, Any] = {
            key: post.get(key, "") for key in post if key != "csrfmiddlewaretoken"
        }
        if "scale_labels" in post:
            values["scale_labels"] = post.get("scale_labels", "")
        values["critical"] = bool(post.get("critical"))
        errors = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
        return cls(values=values, errors=errors)


def _text(post: QueryDict, name: str) -> str:
    return post.get(name, "")


def whole_number(text: str) -> int | str | None:
    """An int if the text is one; blank is None (not given); anything else stays text."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def number(text: str) -> float | str | None:
    """A finite number if the text is one; blank is None; anything else stays text."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    # "nan", "inf": left as typed, so the service says what a number must be.
    return value if math.isfinite(value) else text


def journey_data(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {name: _text(post, name) for name in JOURNEY_FIELDS}
    target = number(_text(post, "target"))
    if target is not None:
        data["target"] = target
    return data


def stage_data(post: QueryDict) -> dict[str, Any]:
    """Only the fields the form sent: the rename form has no description."""
    return {name: _text(post, name) for name in STAGE_FIELDS if name in post}


def touch_point_data(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {
        name: _text(post, name) for name in TOUCH_POINT_TEXT_FIELDS if name in post
    }
    if "importance" in post:
        data["importance"] = whole_number(_text(post, "importance"))
    if "target" in post:  # blank: no target of its own, the journey's applies
        data["target"] = number(_text(post, "target"))
    return data


def scale_labels(text: str) -> list[str]:
    """One label per line; blank lines are not labels."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def criterion_data(post: QueryDict) -> dict[str, Any]:
    data: dict[str, Any] = {
        name: _text(post, name) for name in CRITERION_TEXT_FIELDS if name in post
    }
    data["scale_size"] = whole_number(_text(post, "scale_size"))
    data["scale_labels"] = scale_labels(_text(post, "scale_labels"))
    data["target_value"] = number(_text(post, "target_value"))
    data["worst_value"] = number(_text(post, "worst_value"))
    weight = number(_text(post, "weight"))
    data["weight"] = 1.0 if weight is None else weight
    data["critical"] = bool(post.get("critical"))
    return data


def position(post: QueryDict) -> int | str | None:
    return whole_number(_text(post, "position"))


def move_direction(post: QueryDict) -> str | None:
    """A keyboard move (one of MOVES), or None when the form names a position instead."""
    direction = post.get("direction", "")
    return direction if direction in MOVES else None
