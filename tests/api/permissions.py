"""Who may call which API route with which method: the table docs/permissions.md states in
words, as data (RELIABILITY S3, ASVS 8.1.1).

tests/api/test_role_matrix.py sends every cell with a real token of each role and checks
the answer against this table: a role listed for a cell is let through (a 2xx with a valid
body), a role not listed gets 403 and nothing is stored. A route or method the URLconf
serves and this table does not list fails that test, so a new route cannot ship without a
decision here. Keys are URL names as the routers name them (journey-list, stage-move, ...) and
HTTP methods; HEAD and OPTIONS follow GET for every member and are not listed.

Another organization's objects are not in this table: they answer 404 to every role
(tests/api/test_cross_tenant_walk.py).
"""

from __future__ import annotations

from accounts.models import Role

MANAGER, EVALUATOR, VIEWER = Role.MANAGER, Role.EVALUATOR, Role.VIEWER

EVERY_MEMBER = frozenset({MANAGER, EVALUATOR, VIEWER})
WHO_EVALUATES = frozenset({MANAGER, EVALUATOR})
WHO_EDITS_STRUCTURE = frozenset({MANAGER})

PERMISSIONS: dict[tuple[str, str], frozenset[Role]] = {
    # /api/v1/journeys/ and /api/v1/journeys/{id}/
    ("journey-list", "GET"): EVERY_MEMBER,
    ("journey-list", "POST"): WHO_EDITS_STRUCTURE,
    ("journey-detail", "GET"): EVERY_MEMBER,
    ("journey-detail", "PUT"): WHO_EDITS_STRUCTURE,
    ("journey-detail", "PATCH"): WHO_EDITS_STRUCTURE,
    ("journey-detail", "DELETE"): WHO_EDITS_STRUCTURE,
    # /api/v1/stages/...
    ("stage-list", "GET"): EVERY_MEMBER,
    ("stage-list", "POST"): WHO_EDITS_STRUCTURE,
    ("stage-detail", "GET"): EVERY_MEMBER,
    ("stage-detail", "PUT"): WHO_EDITS_STRUCTURE,
    ("stage-detail", "PATCH"): WHO_EDITS_STRUCTURE,
    ("stage-detail", "DELETE"): WHO_EDITS_STRUCTURE,
    ("stage-move", "POST"): WHO_EDITS_STRUCTURE,
    ("stage-archive", "POST"): WHO_EDITS_STRUCTURE,
    ("stage-restore", "POST"): WHO_EDITS_STRUCTURE,
    # /api/v1/touchpoints/...
    ("touchpoint-list", "GET"): EVERY_MEMBER,
    ("touchpoint-list", "POST"): WHO_EDITS_STRUCTURE,
    ("touchpoint-detail", "GET"): EVERY_MEMBER,
    ("touchpoint-detail", "PUT"): WHO_EDITS_STRUCTURE,
    ("touchpoint-detail", "PATCH"): WHO_EDITS_STRUCTURE,
    ("touchpoint-detail", "DELETE"): WHO_EDITS_STRUCTURE,
    ("touchpoint-move", "POST"): WHO_EDITS_STRUCTURE,
    ("touchpoint-archive", "POST"): WHO_EDITS_STRUCTURE,
    ("touchpoint-restore", "POST"): WHO_EDITS_STRUCTURE,
    # /api/v1/criteria/...
    ("criterion-list", "GET"): EVERY_MEMBER,
    ("criterion-list", "POST"): WHO_EDITS_STRUCTURE,
    ("criterion-detail", "GET"): EVERY_MEMBER,
    ("criterion-detail", "PUT"): WHO_EDITS_STRUCTURE,
    ("criterion-detail", "PATCH"): WHO_EDITS_STRUCTURE,
    ("criterion-detail", "DELETE"): WHO_EDITS_STRUCTURE,
    ("criterion-move", "POST"): WHO_EDITS_STRUCTURE,
    ("criterion-archive", "POST"): WHO_EDITS_STRUCTURE,
    ("criterion-restore", "POST"): WHO_EDITS_STRUCTURE,
    # /api/v1/sites/... (archived, never deleted: no DELETE)
    ("site-list", "GET"): EVERY_MEMBER,
    ("site-list", "POST"): WHO_EDITS_STRUCTURE,
    ("site-detail", "GET"): EVERY_MEMBER,
    ("site-detail", "PUT"): WHO_EDITS_STRUCTURE,
    ("site-detail", "PATCH"): WHO_EDITS_STRUCTURE,
    ("site-archive", "POST"): WHO_EDITS_STRUCTURE,
    ("site-restore", "POST"): WHO_EDITS_STRUCTURE,
    # /api/v1/evaluations/ (no PUT, PATCH or DELETE: evaluations are never edited)
    ("evaluation-list", "GET"): EVERY_MEMBER,
    ("evaluation-list", "POST"): WHO_EVALUATES,
    ("evaluation-detail", "GET"): EVERY_MEMBER,
    # The scores, read by every member
    ("journey-scores", "GET"): EVERY_MEMBER,
    ("touchpoint-scores", "GET"): EVERY_MEMBER,
    ("weak-links", "GET"): EVERY_MEMBER,
    # The team, for managers only (reads too): members, their roles, invitations
    ("member-list", "GET"): WHO_EDITS_STRUCTURE,
    ("member-detail", "GET"): WHO_EDITS_STRUCTURE,
    ("member-detail", "PATCH"): WHO_EDITS_STRUCTURE,
    ("member-detail", "DELETE"): WHO_EDITS_STRUCTURE,
    ("invitation-list", "GET"): WHO_EDITS_STRUCTURE,
    ("invitation-list", "POST"): WHO_EDITS_STRUCTURE,
    ("invitation-detail", "GET"): WHO_EDITS_STRUCTURE,
    ("invitation-detail", "DELETE"): WHO_EDITS_STRUCTURE,
    ("invitation-resend", "POST"): WHO_EDITS_STRUCTURE,
    # /api/v1/feedback-links/... (revoked, never changed or deleted)
    ("feedback-link-list", "GET"): EVERY_MEMBER,
    ("feedback-link-list", "POST"): WHO_EDITS_STRUCTURE,
    ("feedback-link-detail", "GET"): EVERY_MEMBER,
    ("feedback-link-revoke", "POST"): WHO_EDITS_STRUCTURE,
    # Who am I acting as: the caller's own organization and role
    ("api-ping", "GET"): EVERY_MEMBER,
    # /api/v1/organization/: the acting organization's settings, managers only
    ("organization", "GET"): WHO_EDITS_STRUCTURE,
    ("organization", "PATCH"): WHO_EDITS_STRUCTURE,
    # The OpenAPI document and Swagger UI describe the API, not any organization's data.
    ("api-schema", "GET"): EVERY_MEMBER,
    ("api-docs", "GET"): EVERY_MEMBER,
    # The loop after the scores (alerts/): each member's own notifications and choices
    ("notification-list", "GET"): EVERY_MEMBER,
    ("notification-read", "POST"): EVERY_MEMBER,
    ("notification-setting-list", "GET"): EVERY_MEMBER,
    ("notification-setting-list", "POST"): EVERY_MEMBER,
    # Actions: any member reads them; managers open them; managers (and the action's owner,
    # whatever their role) mark them done
    ("action-list", "GET"): EVERY_MEMBER,
    ("action-list", "POST"): WHO_EDITS_STRUCTURE,
    ("action-detail", "GET"): EVERY_MEMBER,
    ("action-done", "POST"): WHO_EDITS_STRUCTURE,
    # Webhooks: managers only, reads too
    ("webhook-endpoint-list", "GET"): WHO_EDITS_STRUCTURE,
    ("webhook-endpoint-list", "POST"): WHO_EDITS_STRUCTURE,
    ("webhook-endpoint-detail", "GET"): WHO_EDITS_STRUCTURE,
    ("webhook-endpoint-detail", "PATCH"): WHO_EDITS_STRUCTURE,
    ("webhook-endpoint-detail", "DELETE"): WHO_EDITS_STRUCTURE,
    ("webhook-endpoint-test", "POST"): WHO_EDITS_STRUCTURE,
    ("webhook-delivery-list", "GET"): WHO_EDITS_STRUCTURE,
    ("webhook-delivery-detail", "GET"): WHO_EDITS_STRUCTURE,
    ("webhook-delivery-redeliver", "POST"): WHO_EDITS_STRUCTURE,
}
