"""Who may call which browser route with which method: the "browser, route by route" table
of docs/permissions.md as data (RELIABILITY S3, ASVS 8.1.1).

tests/web/test_web_walls.py sends every cell as a signed-in viewer, evaluator and manager
and checks the answer against this table: a role listed for a cell is let through (a 2xx,
or the redirect a form without JavaScript gets), a role not listed gets 403 and nothing is
stored. The methods listed are the only ones a route accepts: any other of GET, POST, PUT,
PATCH and DELETE answers 405. A route the URLconf serves that this table does not list
fails that test. Keys are URL names (journey-map, editor-stage-move, ...) and methods.

Another organization's objects are not in this table: they answer 404 to every role, like
ids that do not exist (the tenancy walk in the same test module).
"""

from __future__ import annotations

from accounts.models import Role

MANAGER, EVALUATOR, VIEWER = Role.MANAGER, Role.EVALUATOR, Role.VIEWER

EVERY_MEMBER = frozenset({MANAGER, EVALUATOR, VIEWER})
WHO_EVALUATES = frozenset({MANAGER, EVALUATOR})
WHO_EDITS_STRUCTURE = frozenset({MANAGER})
WHO_EXPORTS = frozenset({MANAGER})

BROWSER_PERMISSIONS: dict[tuple[str, str], frozenset[Role]] = {
    # Reading: the overview, the map, the touch-point page and the parts htmx polls
    ("overview", "GET"): EVERY_MEMBER,
    ("favicon", "GET"): EVERY_MEMBER,  # and anonymous visitors: browsers ask for it unbidden
    ("journey-map", "GET"): EVERY_MEMBER,
    ("journey-map-body", "GET"): EVERY_MEMBER,
    ("touch-point", "GET"): EVERY_MEMBER,
    ("touch-point-card", "GET"): EVERY_MEMBER,
    ("touch-point-scores", "GET"): EVERY_MEMBER,
    # The sites benchmark, the report page, and the open pages' "changed since" check
    ("journey-sites", "GET"): EVERY_MEMBER,
    ("journey-changed", "GET"): EVERY_MEMBER,
    ("journey-report", "GET"): EVERY_MEMBER,
    # The downloads (CSV, PDF): managers only, counted per organization (RELIABILITY S13)
    ("journey-report-pdf", "GET"): WHO_EXPORTS,
    ("journey-sites-csv", "GET"): WHO_EXPORTS,
    ("journey-map-csv", "GET"): WHO_EXPORTS,
    ("overview-csv", "GET"): WHO_EXPORTS,
    ("touch-point-csv", "GET"): WHO_EXPORTS,
    # The person's own session, account and tokens
    ("choose-organization", "POST"): EVERY_MEMBER,
    ("account", "GET"): EVERY_MEMBER,
    ("token-create", "POST"): EVERY_MEMBER,
    ("token-revoke", "POST"): EVERY_MEMBER,
    ("login", "GET"): EVERY_MEMBER,
    ("login", "POST"): EVERY_MEMBER,
    ("logout", "POST"): EVERY_MEMBER,
    ("password_change", "GET"): EVERY_MEMBER,
    ("password_change", "POST"): EVERY_MEMBER,
    ("password_change_done", "GET"): EVERY_MEMBER,
    # The audit log: who changed the structure, for those who can change it
    ("journey-history", "GET"): WHO_EDITS_STRUCTURE,
    ("activity", "GET"): WHO_EDITS_STRUCTURE,
    # The evaluation form and its confirmation
    ("evaluate", "GET"): WHO_EVALUATES,
    ("evaluate", "POST"): WHO_EVALUATES,
    ("evaluate-done", "GET"): WHO_EVALUATES,
    # The structure editor: its forms and lists too, not only its changes
    ("editor-journey-create", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-archived", "GET"): WHO_EDITS_STRUCTURE,
    ("editor-stage-create", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-stage-update", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-stage-move", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-stage-archive", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-stage-restore", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-touch-point-create", "GET"): WHO_EDITS_STRUCTURE,
    ("editor-touch-point-create", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-touch-point", "GET"): WHO_EDITS_STRUCTURE,
    ("editor-touch-point", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-touch-point-move", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-touch-point-archive", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-touch-point-restore", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-criteria", "GET"): WHO_EDITS_STRUCTURE,
    ("editor-criteria", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-criterion", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-criterion-move", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-criterion-archive", "POST"): WHO_EDITS_STRUCTURE,
    ("editor-criterion-restore", "POST"): WHO_EDITS_STRUCTURE,
    # Notifications: each member's own feed and email choices
    ("alerts-feed", "GET"): EVERY_MEMBER,
    ("alerts-read", "POST"): EVERY_MEMBER,
    ("alerts-settings", "GET"): EVERY_MEMBER,
    ("alerts-settings", "POST"): EVERY_MEMBER,
    # Actions: managers open them; managers (and the action's owner, whatever their role)
    # mark them done
    ("action-open", "POST"): WHO_EDITS_STRUCTURE,
    ("action-done", "POST"): WHO_EDITS_STRUCTURE,
    # Webhooks: managers only
    ("alerts-webhooks", "GET"): WHO_EDITS_STRUCTURE,
    ("alerts-webhooks", "POST"): WHO_EDITS_STRUCTURE,
    ("alerts-webhook", "GET"): WHO_EDITS_STRUCTURE,
    ("alerts-webhook-test", "POST"): WHO_EDITS_STRUCTURE,
    ("alerts-webhook-toggle", "POST"): WHO_EDITS_STRUCTURE,
    ("alerts-webhook-delete", "POST"): WHO_EDITS_STRUCTURE,
    ("alerts-redeliver", "POST"): WHO_EDITS_STRUCTURE,
    # Customer feedback: questions, links and posters (the public /f/ pages are not here:
    # they answer anyone holding a link's token, see tests/feedback/)
    ("feedback-setup", "GET"): WHO_EDITS_STRUCTURE,
    ("feedback-setup", "POST"): WHO_EDITS_STRUCTURE,
    ("feedback-link-create", "POST"): WHO_EDITS_STRUCTURE,
    ("feedback-link-revoke", "POST"): WHO_EDITS_STRUCTURE,
    ("feedback-poster", "GET"): WHO_EDITS_STRUCTURE,
    # A journey's settings (name, persona, description, target, status)
    ("journey-settings", "GET"): WHO_EDITS_STRUCTURE,
    ("journey-settings", "POST"): WHO_EDITS_STRUCTURE,
    # Sites: create, rename, re-code, archive, restore
    ("sites", "GET"): WHO_EDITS_STRUCTURE,
    ("site-create", "POST"): WHO_EDITS_STRUCTURE,
    ("site-update", "POST"): WHO_EDITS_STRUCTURE,
    ("site-archive", "POST"): WHO_EDITS_STRUCTURE,
    ("site-restore", "POST"): WHO_EDITS_STRUCTURE,
    # The organization's settings: name, default target, scoring method, digest time
    ("organization-settings", "GET"): WHO_EDITS_STRUCTURE,
    ("organization-settings", "POST"): WHO_EDITS_STRUCTURE,
    # The team: members, invitations, roles, removal
    ("team", "GET"): WHO_EDITS_STRUCTURE,
    ("team-invite", "POST"): WHO_EDITS_STRUCTURE,
    ("team-invitation-resend", "POST"): WHO_EDITS_STRUCTURE,
    ("team-invitation-revoke", "POST"): WHO_EDITS_STRUCTURE,
    ("team-member-role", "POST"): WHO_EDITS_STRUCTURE,
    ("team-member-remove", "GET"): WHO_EDITS_STRUCTURE,
    ("team-member-remove", "POST"): WHO_EDITS_STRUCTURE,
    # Password reset: for anyone, signed in or not (the emailed link is the credential)
    ("password_reset", "GET"): EVERY_MEMBER,
    ("password_reset", "POST"): EVERY_MEMBER,
    ("password_reset_done", "GET"): EVERY_MEMBER,
    ("password_reset_confirm", "GET"): EVERY_MEMBER,
    ("password_reset_confirm", "POST"): EVERY_MEMBER,
    ("password_reset_complete", "GET"): EVERY_MEMBER,
    # An invitation link from an email: anyone holding it (the link is the credential)
    ("team-join", "GET"): EVERY_MEMBER,
    ("team-join", "POST"): EVERY_MEMBER,
}
