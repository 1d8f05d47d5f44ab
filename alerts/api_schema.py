"""The webhooks section of the OpenAPI schema: what Touchstone posts to an endpoint, one
entry per event type, with the Standard Webhooks headers and an example body."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers

from alerts.delivery import EVENT_TYPES, TEST_EVENT
from alerts.models import EventKind

# drf-spectacular's webhook entries take no parameters: the headers are in the description.
SIGNING = (
    "Headers (Standard Webhooks): `webhook-id`, the message id, the same on every retry of "
    "one message (deduplicate on it); `webhook-timestamp`, Unix seconds of this attempt; "
    "`webhook-signature`, `v1,<base64 HMAC-SHA256 of '{webhook-id}.{webhook-timestamp}.{body}' "
    "keyed with the endpoint's secret (whsec_…, base64)>`. Verify with any Standard Webhooks "
    "library and refuse timestamps more than 5 minutes off."
)

Payload = inline_serializer(
    "WebhookPayload",
    {
        "type": serializers.ChoiceField(choices=[*EVENT_TYPES, TEST_EVENT]),
        "timestamp": serializers.DateTimeField(),
        "data": inline_serializer(
            "WebhookPayloadData",
            {
                "event_id": serializers.IntegerField(),
                "organization": serializers.CharField(help_text="The organization's slug."),
                "summary": serializers.CharField(),
                "journey": serializers.DictField(allow_null=True, help_text="id and name"),
                "touch_point": serializers.DictField(allow_null=True, help_text="id and name"),
                "action_id": serializers.IntegerField(allow_null=True),
                "figures": serializers.DictField(
                    help_text="The figures at that moment; keys depend on the type."
                ),
            },
        ),
    },
)

_FIGURES: dict[str, dict[str, Any]] = {
    EventKind.WEAK_LINK_ENTERED: {
        "status_before": "at_risk",
        "status": "weak_link",
        "n": 23,
        "mean": 58.9,
        "smoothed": 61.3,
        "ci_low": 50.1,
        "ci_high": 67.7,
        "target": 85.0,
        "priority": 118.5,
        "journey_score": 77.2,
    },
    EventKind.WEAK_LINK_LEFT: {
        "status_before": "weak_link",
        "status": "at_risk",
        "n": 31,
        "mean": 79.0,
        "smoothed": 78.1,
        "ci_low": 72.4,
        "ci_high": 85.6,
        "target": 85.0,
        "priority": 34.5,
        "journey_score": 80.4,
    },
    EventKind.BLIND_SPOT_SCORED: {
        "status_before": "insufficient_data",
        "status": "meets",
        "n": 5,
        "mean": 90.0,
        "smoothed": 86.2,
        "ci_low": 81.2,
        "ci_high": 98.8,
        "target": 80.0,
        "priority": -6.2,
        "journey_score": 81.0,
    },
    EventKind.JOURNEY_TARGET_CROSSED: {
        "direction": "up",
        "score_before": 79.4,
        "score": 80.3,
        "target": 80.0,
        "n": 412,
    },
    EventKind.CRITICAL_FAILURE: {
        "evaluation_id": 90211,
        "criterion_id": 77,
        "criterion_name": "Door unlocked at opening time",
        "source": "mystery_shopper",
        "site_id": 3,
        "observed_at": "2026-06-01T07:58:00+00:00",
        "score": 0.0,
    },
}
_ACTION_FIGURES = {
    "action_id": 18,
    "description": "Greet returning customers by name",
    "state": "verified",
    "owner_id": 7,
    "due": "2026-06-30",
    "done_at": "2026-06-02T16:00:00+00:00",
    "review_days": 30,
    "baseline": {"n": 40, "mean": 61.0, "smoothed": 62.3, "ci_low": 55.2, "ci_high": 66.8},
    "evidence": {"n": 12, "mean": 81.5, "sd": 9.1, "ci_low": 76.4},
}


def _example(kind: str) -> dict[str, Any]:
    figures = _FIGURES.get(kind) or {**_ACTION_FIGURES, "state": kind.split(".", 1)[1]}
    return {
        "type": kind,
        "timestamp": "2026-06-01T08:15:02.118000+00:00",
        "data": {
            "event_id": 4411,
            "organization": "northwind",
            "summary": f"An example of {kind}.",
            "journey": None if kind == TEST_EVENT else {"id": 12, "name": "New broadband customer"},
            "touch_point": None
            if kind in (TEST_EVENT, EventKind.JOURNEY_TARGET_CROSSED)
            else {"id": 101, "name": "Technician arrives"},
            "action_id": 18 if kind.startswith("action.") else None,
            "figures": figures,
        },
    }


def _webhook(kind: str) -> Any:
    from drf_spectacular.utils import OpenApiWebhook

    return OpenApiWebhook(
        name=kind,
        decorator=extend_schema(
            summary=f"{kind}: {EventKind(kind).label}"
            if kind in EventKind.values
            else "webhook.test: a test from the endpoint's page",
            description=(
                "POSTed to every enabled endpoint that asked for this type. Answer 2xx within "
                "the timeout (5 s); anything else is retried for about a day with the same "
                "webhook-id. " + SIGNING
            ),
            request=Payload,  # the example is added by add_webhook_examples
            responses={
                200: OpenApiResponse(description="Received (any 2xx)."),
                500: OpenApiResponse(description="Not received: retried."),
            },
        ),
    )


def setting_name(kind: str) -> str:
    return kind.replace(".", "_").upper()


# One module attribute per type: SPECTACULAR_SETTINGS["WEBHOOKS"] names each by import path.
for _kind in [*EVENT_TYPES, TEST_EVENT]:
    globals()[setting_name(_kind)] = _webhook(_kind)


def add_webhook_examples(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Schema post-processing hook: an example body on every webhook entry (drf-spectacular
    drops extend_schema's examples there), and, while the document is OpenAPI 3.0 (which
    has no `webhooks` section: 3.1 added it), the section under `x-webhooks`, the
    extension Redoc reads, so the document stays valid 3.0. Moving the schema to 3.1 only
    needs the rename dropped."""
    hooks = result.get("webhooks", {})
    for kind, item in hooks.items():
        content = item.get("post", {}).get("requestBody", {}).get("content", {})
        if "application/json" in content:
            content["application/json"]["examples"] = {
                kind.replace(".", "_"): {"summary": kind, "value": _example(kind)}
            }
    if hooks and str(result.get("openapi", "")).startswith("3.0"):
        result["x-webhooks"] = result.pop("webhooks")
    return result
