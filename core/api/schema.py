"""The OpenAPI document at /api/v1/schema/: built once per process and API version, and
throttled. It was rebuilt on every request (~150 ms of a worker each) for anyone, signed
in or not, so a loop of anonymous requests could keep every worker busy. Its content does
not depend on who asks (it is the public schema), so one copy per version serves all;
a deploy (new code, new process) builds it afresh."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from django.conf import settings
from django.urls import get_urlconf
from drf_spectacular.views import SpectacularAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle


class SchemaThrottle(ScopedRateThrottle):
    """The "schema" scope's rate, or 60/min where a configuration leaves it out."""

    def get_rate(self) -> str | None:
        return self.THROTTLE_RATES.get(self.scope or "schema") or "60/min"


class CachedSchemaView(SpectacularAPIView):
    throttle_classes = (SchemaThrottle,)
    throttle_scope = "schema"

    _built: ClassVar[dict[Any, dict[str, Any]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def _get_schema_response(self, request: Request) -> Response:
        version = self.api_version or request.version or self._get_version_parameter(request)  # type: ignore[no-untyped-call]  # drf-spectacular ships no types
        key = (version, self.serve_public, self.urlconf or get_urlconf() or settings.ROOT_URLCONF)
        schema = self._built.get(key)
        if schema is None:
            with self._lock:  # one build per process, even under concurrent first requests
                schema = self._built.get(key)
                if schema is None:
                    generator = self.generator_class(
                        urlconf=self.urlconf, api_version=version, patterns=self.patterns
                    )
                    schema = generator.get_schema(request=None, public=self.serve_public)  # type: ignore[no-untyped-call]  # drf-spectacular ships no types
                    self._built[key] = schema
        return Response(
            data=schema,
            headers={
                "Content-Disposition": (
                    f'inline; filename="{self._get_filename(request, version)}"'  # type: ignore[no-untyped-call]
                )
            },
        )

    @classmethod
    def forget(cls) -> None:
        """Drop the built documents (tests that change the URLconf)."""
        with cls._lock:
            cls._built.clear()
