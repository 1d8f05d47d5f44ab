"""The API clients of tests/api/ (a token per persona), for the alerts API tests."""

from tests.api.conftest import client_for, evaluator_api, manager_api, viewer_api

__all__ = ["client_for", "evaluator_api", "manager_api", "viewer_api"]
