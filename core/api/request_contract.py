"""What the schema promises about requests, stated once for every operation (issue 19).

drf-spectacular describes each parameter from the view that declares it; what is true of
*every* parameter of a kind is stated here, in one post-processing hook, so a new
endpoint cannot forget it and the schema never promises more than the server accepts:

- every integer in a path or query string is an id, a page, a page size or a count, and
  the server refuses anything below 1 (core.ids): `minimum: 1`; ids are PostgreSQL
  bigints (`maximum`);
- a header the server reads cannot be empty or blank (an empty If-Match is a missing one,
  428; an empty X-Organization names no organization, 400): `minLength: 1` and a
  non-blank pattern; the Idempotency-Key's own pattern is core.api.idempotency's;
- create operations carry OpenAPI links to read, update (with the ETag the read returns,
  in If-Match), archive and delete what they created, so a stateful client or fuzzer can
  chain them.
"""

from __future__ import annotations

from typing import Any

from core.api.idempotency import IDEMPOTENCY_HEADER, KEY_MAX_LENGTH
from core.ids import MAX_ID

NOT_BLANK = r"\S"
#: Printable ASCII that core.api.idempotency.clean_key keeps as it is: no blank ends (they
#: are stripped) and no leading quote (a quoted key loses its quotes).
IDEMPOTENCY_KEY_PATTERN = rf"^[!#-~](?:[ -~]{{0,{KEY_MAX_LENGTH - 2}}}[!-~])?$"
#: Integer parameters that name rows: they are bigints.
ID_PARAMETERS = {"id", "journey", "stage", "touch_point", "criterion", "site", "link"}


def _state_parameter(parameter: dict[str, Any]) -> None:
    schema = parameter.setdefault("schema", {})
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
