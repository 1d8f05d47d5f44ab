"""drf-spectacular postprocessing: answers every operation can give that no view declares,
so the published schema describes every response the API really sends (tests check each
one against it, tests/openapi_check.py).

And what the schema promises about requests (issue 19):
drf-spectacular describes each parameter from the view that declares it; what is true of
*every* parameter of a kind is stated here, in one post-processing hook, so a new
endpoint cannot forget it and the schema never promises more than the server accepts:

- the scores' `since` and `until` are a date or a date-time (scoring.selectors.parse_instant);
- every integer in a path or query string is an id, a page, a page size or a count, and
  the server refuses anything below 1 (core.ids): `minimum: 1`; ids are PostgreSQL
  bigints (`maximum`);
- a header the server reads cannot be empty or blank (an empty If-Match is a missing one,
  428; an empty X-Organization names no organization, 400): `minLength: 1` and a
  non-blank pattern; the Idempotency-Key's own pattern is core.api.idempotency's;
- a member of a request body that the endpoint does not read is ignored, whatever it
  holds (core.api.serializers), so every body object says so: `additionalProperties: {}`,
  any JSON; every text member it reads is text PostgreSQL can hold (the services' and
  DRF's text gate, core.text): a pattern without NUL (and a required text field, which is
  stripped, must not be blank);
- create operations carry OpenAPI links to read, update (with the ETag the read returns,
  in If-Match), archive and delete what they created, so a stateful client or fuzzer can
  chain them.
"""

from __future__ import annotations

from typing import Any

from core.api.idempotency import IDEMPOTENCY_HEADER, KEY_MAX_LENGTH
from core.ids import MAX_ID

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}

#: Added to every operation: the database went away mid-request (config.database_unavailable).
UNAVAILABLE = {
    "description": "The database is unavailable for a moment; retry after Retry-After seconds.",
    "content": _ERROR,
}
#: Added to every operation with a body: DRF's parsers refuse a body that is not JSON.
UNSUPPORTED_MEDIA_TYPE = {
    "description": "The body is not JSON (send Content-Type: application/json).",
    "content": _ERROR,
}
#: Added to every write: a body over DATA_UPLOAD_MAX_MEMORY_SIZE (core.api.errors).
TOO_LARGE = {"description": "The body is larger than 1 MB.", "content": _ERROR}
WRITES = {"post", "put", "patch", "delete"}


def add_common_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses.setdefault("503", UNAVAILABLE)
            if method in WRITES:
                responses.setdefault("413", TOO_LARGE)
            if "requestBody" in operation:
                responses.setdefault("415", UNSUPPORTED_MEDIA_TYPE)
    return result


NOT_BLANK = r"\S"
#: Printable ASCII that core.api.idempotency.clean_key keeps as it is: no blank ends (they
#: are stripped) and no leading quote (a quoted key loses its quotes).
IDEMPOTENCY_KEY_PATTERN = rf"^[!#-~](?:[ -~]{{0,{KEY_MAX_LENGTH - 2}}}[!-~])?$"
#: Integer parameters that name rows: they are bigints.
ID_PARAMETERS = {"id", "journey", "stage", "touch_point", "criterion", "site", "link"}


#: The scores' window bounds: scoring.selectors.parse_instant reads a YYYY-MM-DD date or an
#: ISO 8601 date-time (every RFC 3339 one included).
WINDOW_PARAMETERS = {"since", "until"}
DATE_OR_DATE_TIME = [{"format": "date"}, {"format": "date-time"}]


def _state_parameter(parameter: dict[str, Any]) -> None:
    schema = parameter.setdefault("schema", {})
    if (
        parameter["in"] == "query"
        and parameter["name"] in WINDOW_PARAMETERS
        and schema.get("type") == "string"
    ):
        schema.setdefault("anyOf", DATE_OR_DATE_TIME)
    if parameter["in"] in {"path", "query"} and schema.get("type") == "integer":
        schema.setdefault("minimum", 1)
        if parameter["name"] in ID_PARAMETERS:
            schema.setdefault("maximum", MAX_ID)
    if parameter["in"] == "header" and schema.get("type") == "string":
        if parameter["name"] == IDEMPOTENCY_HEADER:
            schema.setdefault("pattern", IDEMPOTENCY_KEY_PATTERN)
        elif parameter["name"] == "If-None-Match":
            # Any value is accepted: a tag (or nothing) that matches no current ETag simply
            # gets the full answer, so the schema must not claim an empty one is refused.
            pass
        else:
            schema.setdefault("minLength", 1)
            schema.setdefault("pattern", NOT_BLANK)


#: A string without NUL (PostgreSQL text cannot hold it; core.text.is_storable).
NO_NUL = r"^[^\x00]*$"
#: ...that is not blank either once stripped, as core.text.clean_text requires of required
#: text (Python's str.strip() and re's \s agree on what whitespace is).
NO_NUL_NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"


def _state_body_text(schema: dict[str, Any], components: dict[str, Any], seen: set[str]) -> None:
    """Walk a request body's schema (and the components it names) stating NUL-free text
    and, on every object that lists its members, that any other member is any JSON."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[-1]
        if name not in seen and name in components:
            seen.add(name)
            _state_body_text(components[name], components, seen)
        return
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "string" in types and not {"pattern", "format", "enum"} & schema.keys():
        schema["pattern"] = NO_NUL_NOT_BLANK if schema.get("minLength", 0) >= 1 else NO_NUL
    if "object" in types and "properties" in schema:
        schema.setdefault("additionalProperties", {})
    for key in ("properties",):
        for nested in schema.get(key, {}).values():
            _state_body_text(nested, components, seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _state_body_text(schema[key], components, seen)
    for key in ("oneOf", "anyOf", "allOf"):
        for nested in schema.get(key, []):
            _state_body_text(nested, components, seen)


def _state_request_bodies(result: dict[str, Any]) -> None:
    components = result.setdefault("components", {}).setdefault("schemas", {})
    seen: set[str] = set()
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            for media in operation["requestBody"].get("content", {}).values():
                if isinstance(media.get("schema"), dict):
                    _state_body_text(media["schema"], components, seen)


def _detail_operations(paths: dict[str, Any], collection: str) -> dict[str, Any]:
    """The operations on `collection`'s members: GET/PATCH/DELETE /x/{id}/, POST /x/{id}/archive/."""
    detail = f"{collection}{{id}}/"
    found: dict[str, Any] = {
        method: operation
        for method, operation in paths.get(detail, {}).items()
        if isinstance(operation, dict)
    }
    archive = paths.get(f"{detail}archive/", {}).get("post")
    if archive:
        found["archive"] = archive
    return found


def _links_for(paths: dict[str, Any], collection: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(links from the create's 201, links from the detail GET's 200)."""
    operations = _detail_operations(paths, collection)
    read = operations.get("get")
    if read is None:
        return {}, {}
    created: dict[str, Any] = {
        "Read": {
            "operationId": read["operationId"],
            "parameters": {"id": "$response.body#/id"},
            "description": "Read what was created (its ETag is what writes send back).",
        }
    }
    from_read: dict[str, Any] = {}
    for name, method in (("Update", "patch"), ("Archive", "archive"), ("Delete", "delete")):
        operation = operations.get(method)
        if operation is None:
            continue
        from_read[name] = {
            "operationId": operation["operationId"],
            "parameters": {"id": "$request.path.id", "header.If-Match": "$response.header.ETag"},
            "description": f"{name} the resource just read, with its ETag in If-Match.",
        }
    return created, from_read


def state_request_contract(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry (after its own enum hook)."""
    paths: dict[str, Any] = result.get("paths", {})
    _state_request_bodies(result)
    for operations in paths.values():
        for operation in operations.values():
            if isinstance(operation, dict):
                for parameter in operation.get("parameters", []):
                    _state_parameter(parameter)
    for path, operations in paths.items():
        create = operations.get("post")
        if not create or "{" in path or "201" not in create.get("responses", {}):
            continue
        created, from_read = _links_for(paths, path)
        if created:
            create["responses"]["201"].setdefault("links", {}).update(created)
        read = paths.get(f"{path}{{id}}/", {}).get("get")
        if read and from_read and "200" in read.get("responses", {}):
            read["responses"]["200"].setdefault("links", {}).update(from_read)
    return result
