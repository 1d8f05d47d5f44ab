"""django-csp's middleware, with the policy built once instead of for every response.

django-csp 4.0 builds both headers (enforced and report-only) anew for each response:
dataclasses.asdict deep-copies the policy settings, then build_policy joins them. That was
about 4% of a public feedback POST's Python, more than the session, auth and messages
middleware together. Touchstone's policy is the same for every response (no nonce, no
csp_* decorator), so a response that asks for nothing of its own gets the headers django-csp
built from the current settings, kept until those settings change. Anything else (a nonce
read, a decorator's config, update, replace or exemption on the response) goes through
django-csp itself, and so do the debug exemption and the excluded prefixes.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, PolicyParts
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

# What django-csp's decorators put on a response: such a response gets its own policy.
_OWN_POLICY = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_exempt",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
    "_csp_exempt_ro",
)


class CSPMiddleware(DjangoCSPMiddleware):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (enforced settings, report-only settings, their headers): rebuilt when either
        # settings object is replaced (override_settings in tests).
        self._built: tuple[Any, Any, str, str] | None = None

    def _headers(self) -> tuple[str, str]:
        enforced = getattr(settings, "CONTENT_SECURITY_POLICY", None)
        report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
        built = self._built
        if built is None or built[0] is not enforced or built[1] is not report_only:
            parts = asdict(PolicyParts())
            built = (
                enforced,
                report_only,
                build_policy(**parts),
                build_policy(**parts, report_only=True),
            )
            self._built = built
        return built[2], built[3]

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        plain = getattr(request, "_csp_nonce", None) is None and not any(
            hasattr(response, name) for name in _OWN_POLICY
        )
        if not plain or settings.DEBUG:
            return super().process_response(request, response)
        enforced, report_only = self._headers()
        for header, value, setting in (
            (HEADER, enforced, "CONTENT_SECURITY_POLICY"),
            (HEADER_REPORT_ONLY, report_only, "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
        ):
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
            if (
                value
                and header not in response
                and not request.path_info.startswith(tuple(prefixes))
            ):
                response[header] = value
        # As django-csp does: a nonce asked for after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response
