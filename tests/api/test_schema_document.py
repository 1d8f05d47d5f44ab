"""/api/v1/schema/ is a valid OpenAPI document (openapi-spec-validator), checked once here
rather than in every test process that validates responses against it
(tests/openapi_check.py)."""

from __future__ import annotations

from openapi_spec_validator import validate

from tests import openapi_check


def test_the_published_schema_is_a_valid_openapi_document() -> None:
    validate(openapi_check.schema())  # raises, naming the part that is not valid
