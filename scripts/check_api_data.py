"""The demo's real ids as schemathesis dictionaries for scripts/check-api.sh (issue 19),
after adding one of each kind the demo lacks (seed).

A fuzzer draws ids at random, and an id drawn at random names nothing: every detail
operation answers 404 and its logic goes untested ("missing test data"). This prints, as
TOML appended to a copy of schemathesis.toml, the ids of what the demo organization has
(only those of the token's organization: another organization's ids are 404 by design),
and binds them to the path `id` of each collection's operations and to the body and query
fields that name such rows. Drawn values still come in (probability below 1), so a
missing id keeps being tried too.

    .venv/bin/python scripts/check_api_data.py DEMO_MANAGER_EMAIL RUNNER_EMAIL

prints the TOML, after making RUNNER_EMAIL a manager of DEMO_MANAGER_EMAIL's organization
(the token scripts/check-api.sh makes is theirs).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from accounts.models import Membership, Role, User  # noqa: E402
from alerts.models import Action, WebhookDelivery, WebhookEndpoint  # noqa: E402
from feedback.models import FeedbackLink  # noqa: E402
from journeys.models import Journey, Stage  # noqa: E402
from team.models import Invitation  # noqa: E402
from touchpoints.models import Criterion, Evaluation, Site, TouchPoint  # noqa: E402

#: How often a bound value comes from the dictionary rather than being drawn.
PROBABILITY = 0.85
#: At most this many ids per kind (the first ones: the demo's own order).
PER_KIND = 40


#: The membership the run acts through: far from the ids the fuzzer draws or the
#: dictionaries hold, so removing or demoting members (which the run does) rarely removes
#: the run's own access.
RUNNER_MEMBERSHIP_ID = 1_000_000
#: The webhook endpoint that carries the seeded deliveries (see seed).
KEPT_ENDPOINT_ID = 1_000_000
#: A webhook receiver DEBUG accepts (loopback, http); nothing listens there.
RECEIVER = "http://127.0.0.1:9/touchstone"


def runner(demo_manager: str, email: str) -> Membership:
    """A manager of the demo organization for the run to act as (created once)."""
    found = Membership.objects.filter(user__email=email).first()
    if found is not None:
        return found
    organization = Membership.objects.get(user__email=demo_manager).organization
    user = User.objects.create_user(email=email, first_name="Check", last_name="API")
    return Membership.objects.create(
        pk=RUNNER_MEMBERSHIP_ID, user=user, organization=organization, role=Role.MANAGER
    )


def seed(membership: Membership) -> None:
    """What the demo does not make, through the services as a manager would: an
    invitation, an action, a feedback link, webhook endpoints and deliveries, a few more
    members, sites and journeys. Without them their detail operations could only ever answer 404,
    and the run deletes some of what it finds (so there are several of each)."""
    from alerts import delivery
    from alerts import services as alerts
    from feedback import services as feedback
    from journeys import services as journeys
    from team import services as team
    from touchpoints import services as touchpoints

    actor, organization = membership.user, membership.organization
    touch_points = TouchPoint.objects.filter(organization_id=organization.pk).order_by("pk")
    for n in range(3):
        team.invite(
            actor=actor,
            organization=organization,
            email=f"new.colleague.{n}@demo.touchstone.test",
            role="evaluator",
            link_base="http://127.0.0.1/invitations/",
        )
        alerts.open_action(
            actor=actor,
            touch_point=touch_points[n],
            description="Greet returning customers by name",
            owner_id=actor.pk,
        )
        feedback.create_link(actor=actor, touch_point=touch_points[n], label="Counter poster")

    def register() -> WebhookEndpoint:
        endpoint, _secret = delivery.register_endpoint(
            actor=actor,
            organization=organization,
            data={
                "url": RECEIVER,
                "description": "check-api",
                "event_types": ["weak_link.entered"],
            },
        )
        return endpoint

    # The deliveries' endpoint, out of reach of the run's deletes (its id is in no
    # dictionary, and far from drawn ids): deleting an endpoint deletes its deliveries.
    kept = register()
    WebhookEndpoint.objects.filter(pk=kept.pk).update(id=KEPT_ENDPOINT_ID)
    for _ in range(5):
        delivery.send_test(actor=actor, endpoint=WebhookEndpoint.objects.get(pk=KEPT_ENDPOINT_ID))
    # Endpoints the run may change and delete (20 is an organization's limit: 4 stay free
    # for the run's own registrations).
    for _ in range(15):
        register()
    # The demo has 3 sites and 3 journeys; the run archives and deletes some.
    for n in range(12):
        touchpoints.create_site(actor=actor, organization=organization, name=f"Check site {n}")
    for n in range(5):
        journeys.create_journey(actor=actor, organization=organization, name=f"Check journey {n}")
    for n in range(6):
        user = User.objects.create_user(email=f"member.{n}@demo.touchstone.test", first_name="M")
        Membership.objects.create(user=user, organization=organization, role=Role.VIEWER)


def main(demo_manager: str, email: str) -> None:
    membership = runner(demo_manager, email)
    seed(membership)
    org = membership.organization_id
    kinds = {
        # dictionary: (ids, the collection whose {id} they fill)
        "journeys": (Journey.objects.filter(organization_id=org), "journeys"),
        "stages": (Stage.objects.filter(organization_id=org), "stages"),
        "touchpoints": (TouchPoint.objects.filter(organization_id=org), "touchpoints"),
        "criteria": (Criterion.objects.filter(organization_id=org), "criteria"),
        "sites": (Site.objects.filter(organization_id=org), "sites"),
        "evaluations": (Evaluation.objects.filter(organization_id=org), "evaluations"),
        "feedback_links": (FeedbackLink.objects.filter(organization_id=org), "feedback-links"),
        "members": (
            Membership.objects.filter(organization_id=org).exclude(pk=membership.pk),
            "members",
        ),
        "invitations": (Invitation.objects.filter(organization_id=org), "invitations"),
        "actions": (Action.objects.filter(organization_id=org), "actions"),
        "webhook_endpoints": (
            WebhookEndpoint.objects.filter(organization_id=org).exclude(pk=KEPT_ENDPOINT_ID),
            "webhook-endpoints",
        ),
        "webhook_deliveries": (
            WebhookDelivery.objects.filter(organization_id=org),
            "webhook-deliveries",
        ),
    }
    users = list(
        Membership.objects.filter(organization_id=org)
        .exclude(pk=membership.pk)
        .order_by("pk")
        .values_list("user_id", flat=True)
    )
    out: list[str] = ["", "# --- Generated by scripts/check_api_data.py: the demo's ids ---"]
    found: dict[str, list[int]] = {}
    for name, (rows, _collection) in kinds.items():
        ids = list(rows.order_by("pk").values_list("pk", flat=True)[:PER_KIND])
        if ids:
            found[name] = ids
            out += [f"[dictionaries.{name}]", f"values = {json.dumps(ids)}", ""]
    if users:
        found["users"] = users
        out += ["[dictionaries.users]", f"values = {json.dumps(users[:PER_KIND])}", ""]

    def bind(dictionary: str, probability: float = PROBABILITY) -> str:
        return f'{{ dictionary = "{dictionary}", probability = {probability} }}'

    fields = {  # body and query fields that name a row, by the dictionary of its kind
        "journey": "journeys",
        "stage": "stages",
        "touch_point": "touchpoints",
        "criterion": "criteria",
        "site": "sites",
        "owner": "users",
    }
    # If-Match: `*` (any current representation, RFC 9110 13.1.1) half the time. A drawn
    # tag is stale by construction (412), so without it no write of an existing row could
    # ever be served.
    out += ["[dictionaries.any_current]", 'values = ["*"]', ""]
    # X-Organization: the organization's slug half the time (drawn values name none).
    slug = membership.organization.slug
    out += ["[dictionaries.organization]", f"values = {json.dumps([slug])}", ""]
    out += ["[dictionaries.receivers]", f"values = {json.dumps([RECEIVER])}", ""]
    out += [
        "[parameters]",
        f'"header.If-Match" = {bind("any_current", 0.5)}',
        f'"header.X-Organization" = {bind("organization", 0.5)}',
        f'"body.url" = {bind("receivers", 0.5)}',
    ]
    out += [
        f'"{location}.{field}" = {bind(dictionary)}'
        for field, dictionary in fields.items()
        if dictionary in found
        for location in ("body", "query")
    ]
    out += [""]
    for name, (_rows, collection) in kinds.items():
        if name not in found:
            continue
        out += [
            "[[operations]]",
            f'include-path-regex = "^/api/v1/{collection}/\\\\{{id\\\\}}/"',
            f'parameters = {{ "path.id" = {bind(name)} }}',
            "",
        ]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
