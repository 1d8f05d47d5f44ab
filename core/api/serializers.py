"""The shape-only parsing of API input every structure endpoint shares.

Serializers describe fields (for the OpenAPI schema and the response bodies) and pick the
writable ones out of a request body. They do not validate values: the services do, so the
API and the browser refuse the same things with the same messages.

One rule for the members of every request body (issue 19), as DRF has it: a member the
endpoint does not read is ignored, whatever it holds, and never stored; the schema says
any JSON may stand there (core.api.schema_hooks). So a client may send back the
representation it read, with the fields the server sets (read-modify-write). What is read
is judged: its text goes through core.text's gate (here for the members passed through to
the services, by DRF's CharField elsewhere), so NUL in a field that is stored is a 400
naming that field, and NUL in a member nobody reads is nobody's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings

from core.text import CONFLICT, is_storable, text_problems

#: Deeper than any member the services read (scale labels are 2 levels); the gate looks no
#: further, and the service refuses such a value for its shape.
MAX_DEPTH = 64


def _field_name(path: tuple[str | int, ...]) -> str:
    """`scale_labels[0]` style, as the evaluations API names fields."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def unstorable_text(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every string (value or key) in the members `values` that PostgreSQL could not
    store, by field."""
    errors: dict[str, list[str]] = {}
    stack: list[tuple[tuple[str | int, ...], Any]] = [((name,), v) for name, v in values.items()]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            continue
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


class ServiceInputSerializer(serializers.ModelSerializer[Any]):
    """Parses a body into the dict a service takes: shape only, no rules.

    Only writable fields are picked, so `id`, `organization`, `position` and any unknown
    key in a body are ignored (mass assignment). Values pass through untouched for the
    service to judge, once their text is known to be storable. A create (or PUT) must carry the required fields; `create_only`
    fields (the parent) may be repeated on an update but not changed.
    """

    create_only: ClassVar[dict[str, str]] = {}  # field name → why it cannot change

    def get_validators(self) -> list[Any]:
        return []  # the service holds the rules, unique names included

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: ["Send a JSON object."]}
            )
        writable = {str(f.field_name): f for f in self._writable_fields}
        values = {name: data[name] for name in writable if name in data}
        errors: dict[str, list[Any]] = {**unstorable_text(values)}
        for name, value in values.items():
            # The schema's nullability is the field's: null where it says non-nullable is
            # refused here, never read as "empty" further down.
            if value is None and not writable[name].allow_null:
                errors[name] = ["May not be null."]
        if not self.partial:
            for name, field in writable.items():
                is_parent_on_update = self.instance is not None and name in self.create_only
                if field.required and name not in data and not is_parent_on_update:
                    errors[name] = ["This field is required."]
        if self.instance is not None:
            for name, reason in self.create_only.items():
                if name in values and values.pop(name) != getattr(self.instance, f"{name}_id"):
                    errors[name] = [ErrorDetail(reason, code=CONFLICT)]
        if errors:
            raise serializers.ValidationError(errors)
        return values


class MoveSerializer(serializers.Serializer[Any]):
    position = serializers.IntegerField(
        help_text="New 0-based position among the active siblings (0 = first)."
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """Pass the position through: the service says what a valid one is."""
        if not isinstance(data, Mapping) or "position" not in data:
            raise serializers.ValidationError({"position": ["This field is required."]})
        return {"position": data["position"]}


class RestoreSerializer(serializers.Serializer[Any]):
    position = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="0-based position to restore at; omitted or null puts it last.",
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: ["Send a JSON object."]}
            )
        position = data.get("position")
        if position is not None and (isinstance(position, bool) or not isinstance(position, int)):
            raise serializers.ValidationError({"position": ["A whole number is required."]})
        return {"position": position}
