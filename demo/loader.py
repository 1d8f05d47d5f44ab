"""The demo organization: three journeys drawn from real service stories, with 120 days of
evaluations that tell a story on the dashboard (weak links, a perception gap, a blind spot).

Everything goes through the same services a manager and an evaluator use, so the demo can
never hold data the product itself would refuse. The random stream is seeded, so every load
draws the same answers; only the calendar days move with the date it is loaded on.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization, Role, User
from accounts.services import add_member, create_organization
from journeys.models import Journey, JourneyStatus
from journeys.services import create_journey, create_stage
from scoring.formulas import INTERNAL_SOURCES
from touchpoints.models import Channel, CriterionKind, Source, TouchPoint
from touchpoints.services import (
    MAX_BATCH,
    AnswerInput,
    EvaluationInput,
    create_criterion,
    create_site,
    create_touch_point,
    submit_evaluations,
)

DEMO_SLUG = "demo"
DEMO_NAME = "Demo: Brightline Services"
SEED = 2026
DAYS = 120
TOTAL_EVALUATIONS = 5000
BLIND_SPOT_EVALUATIONS = 3  # below the default min_n of 5: "too few to judge"

MANAGER = "manager@demo.touchstone.test"
ANA = "ana@demo.touchstone.test"
BEN = "ben@demo.touchstone.test"
VIEWER = "viewer@demo.touchstone.test"
PEOPLE = (
    (MANAGER, Role.MANAGER, "Maria", "Lindqvist"),
    (ANA, Role.EVALUATOR, "Ana", "Ferreira"),
    (BEN, Role.EVALUATOR, "Ben", "Okafor"),
    (VIEWER, Role.VIEWER, "Victor", "Hale"),
)

# Where each journey is observed in person. Sites belong to the organization.
CALL_CENTRE = "North call centre"
CLINIC = "Riverside vet clinic"
AIRPORT = "City Airport, terminal 2"
SITES = ((CALL_CENTRE, "NCC"), (CLINIC, "RVC"), (AIRPORT, "CA-T2"))

SOURCE_WEIGHTS = {
    Source.SELF_CHECK: 20,
    Source.SUPERVISOR: 20,
    Source.MYSTERY_SHOPPER: 15,
    Source.CUSTOMER_SURVEY: 33,
    Source.AUDIT: 12,
}

QUALITY = ("Poor", "Fair", "Good", "Very good", "Excellent")
MANNER = ("Rude", "Curt", "Neutral", "Friendly", "Warm")
CLARITY = ("Confusing", "Unclear", "Acceptable", "Clear", "Crystal clear")
EASE = ("Gave up", "Hard", "Manageable", "Easy", "Effortless")
CLEAN = ("Dirty", "Untidy", "Acceptable", "Clean", "Spotless")


class Writer(Protocol):
    def write(self, msg: str, /) -> Any: ...


@dataclass(frozen=True)
class C:
    """A criterion, and how far its answers sit from its touch point's quality level."""

    name: str
    kind: str
    weight: float = 1.0
    critical: bool = False
    labels: tuple[str, ...] = QUALITY
    unit: str = ""
    target: float | None = None
    worst: float | None = None
    offset: float = 0.0  # added to the touch point's level for this criterion
    na: float = 0.0  # chance of "not applicable"; never on critical criteria


def scale(name: str, labels: tuple[str, ...] = QUALITY, **kw: Any) -> C:
    return C(name, CriterionKind.SCALE, labels=labels, **kw)


def yes_no(name: str, **kw: Any) -> C:
    return C(name, CriterionKind.YES_NO, **kw)


def numeric(name: str, unit: str, target: float, worst: float, **kw: Any) -> C:
    return C(name, CriterionKind.NUMERIC, unit=unit, target=target, worst=worst, **kw)


@dataclass(frozen=True)
class TP:
    """A touch point and the story its evaluations tell.

    `level` is the quality (0–1) it is delivered at, so roughly its mean score / 100;
    `gap` lifts internal sources and lowers customers' eyes by half of it each;
    `drift` moves the level from 120 days ago to today (a trend);
    `volume` is its share of the evaluations; `at_site` whether it happens at the site.
    """

    name: str
    channel: str
    team: str
    importance: int
    criteria: tuple[C, ...]
    level: float
    target: float | None = None
    gap: float = 0.0
    drift: float = 0.0
    volume: float = 1.0
    at_site: bool = False
    fixed_count: int | None = None
    good: tuple[str, ...] = ()
    bad: tuple[str, ...] = ()


@dataclass(frozen=True)
class JourneySpec:
    name: str
    persona: str
    description: str
    target: float
    site: str
    stages: tuple[tuple[str, tuple[TP, ...]], ...]


BROADBAND = JourneySpec(
    name="New broadband customer",
    persona="Household switching provider, both adults working from home",
    description=(
        "From checking coverage to the first bill. The install is where promises meet "
        "reality, and a fault in the first month decides whether they stay."
    ),
    target=80.0,
    site=CALL_CENTRE,
    stages=(
        (
            "Discover",
            (
                TP(
                    "Coverage check on the website",
                    Channel.WEB,
                    "Digital",
                    3,
                    (
                        yes_no("Address found first time"),
                        scale("Speeds shown clearly", CLARITY),
                        numeric("Seconds to get a result", "s", 5, 30),
                    ),
                    level=0.86,
                    volume=0.8,
                ),
            ),
        ),
        (
            "Sign up",
            (
                TP(
                    "Sign-up call",
                    Channel.PHONE,
                    "Sales",
                    4,
                    (
                        numeric("Seconds to answer the phone", "s", 20, 120),
                        yes_no("Explained contract length and yearly price rise", weight=2.0),
                        yes_no("Used the customer's name", na=0.05),
                        scale("Friendliness", MANNER),
                    ),
                    level=0.8,
                    at_site=True,
                    good=("Clear about the price rise in April, appreciated that.",),
                    bad=("Pushy about the TV bundle, I said no three times.",),
                ),
                TP(
                    "Order confirmation email",
                    Channel.EMAIL,
                    "Digital",
                    2,
                    (
                        yes_no("Arrived within 5 minutes"),
                        yes_no("Install date and slot stated", critical=True),
                        scale("Easy to understand", CLARITY),
                    ),
                    level=0.9,
                    target=75.0,
                    volume=0.7,
                ),
            ),
        ),
        (
            "Install",
            (
                TP(
                    "Install slot booking",
                    Channel.WEB,
                    "Field scheduling",
                    3,
                    (
                        yes_no("Slot within 7 days offered"),
                        yes_no("Morning or afternoon choice", na=0.08),
                        numeric("Days until the first free slot", "days", 3, 21),
                    ),
                    level=0.77,
                ),
                TP(
                    "Technician arrival",
                    Channel.IN_PERSON,
                    "Field operations",
                    5,
                    (
                        numeric("Minutes late", "min", 0, 60, weight=2.0, offset=-0.1),
                        yes_no("Called ahead when running late", offset=-0.1, na=0.15),
                        yes_no("Showed ID at the door", critical=True, offset=0.4),
                        scale("Courtesy at the door", MANNER, offset=0.3),
                    ),
                    level=0.46,
                    drift=-0.08,
                    volume=1.3,
                    good=("On time and polite, no complaints.",),
                    bad=(
                        "Technician turned up two hours late, no call. I had taken the day off.",
                        "Slot was 8–12, he came at 14:30. Nobody told us anything.",
                        "Late again. Third time this quarter we see this on the north route.",
                    ),
                ),
                TP(
                    "Installation at home",
                    Channel.IN_PERSON,
                    "Field operations",
                    4,
                    (
                        yes_no("Router placed where the customer asked"),
                        numeric("Speed measured at the router", "Mbps", 900, 300),
                        yes_no("Speed test shown to the customer", na=0.05),
                        scale("Left the place tidy", CLEAN),
                    ),
                    level=0.82,
                ),
                TP(
                    "Post-install satisfaction SMS",
                    Channel.OTHER,
                    "Customer insight",
                    2,
                    (
                        yes_no("Sent within 24 hours"),
                        yes_no("Link worked"),
                        scale("Questions short and relevant", CLARITY),
                    ),
                    level=0.7,
                    fixed_count=BLIND_SPOT_EVALUATIONS,
                ),
            ),
        ),
        (
            "Get help",
            (
                TP(
                    "Support call",
                    Channel.PHONE,
                    "Customer support",
                    5,
                    (
                        numeric("Seconds to answer the phone", "s", 20, 120, offset=0.1),
                        yes_no("Did not have to repeat the story", weight=2.0, offset=-0.3),
                        yes_no("One person owned the problem", offset=-0.15),
                        yes_no("Fixed on first contact", na=0.1),
                        scale("Empathy", MANNER, offset=0.15),
                    ),
                    level=0.55,
                    volume=1.6,
                    at_site=True,
                    good=("Agent had the whole history on screen, sorted in one call.",),
                    bad=(
                        "Fourth call about the same fault and I had to tell the whole story again!!",
                        "Transferred three times, each one asked for my account number and the story.",
                        "Nobody owns anything. Promised a call back that never came.",
                    ),
                ),
                TP(
                    "Live chat",
                    Channel.CHAT,
                    "Customer support",
                    3,
                    (
                        numeric("Minutes to first reply", "min", 1, 10),
                        yes_no("Agent could see earlier contacts", offset=-0.1),
                        scale("Clear next steps", CLARITY),
                    ),
                    level=0.76,
                    at_site=True,
                ),
                TP(
                    "Fault status notification",
                    Channel.APP,
                    "Network operations",
                    2,
                    (
                        yes_no("Told before the customer noticed"),
                        yes_no("Estimated fix time given"),
                        yes_no("Estimate kept", na=0.1),
                    ),
                    level=0.75,
                    volume=0.7,
                ),
            ),
        ),
        (
            "Pay",
            (
                TP(
                    "First bill",
                    Channel.EMAIL,
                    "Billing",
                    4,
                    (
                        yes_no("Amount matches what was sold", critical=True, offset=0.15),
                        yes_no("Part-month charges explained", offset=-0.1),
                        scale("Easy to read", CLARITY),
                    ),
                    level=0.76,
                    good=("Bill was exactly what the salesperson said.",),
                    bad=("Charged for a full month I did not have. Why?",),
                ),
                TP(
                    "Direct debit set-up",
                    Channel.WEB,
                    "Billing",
                    2,
                    (
                        yes_no("Completed online without calling"),
                        yes_no("Confirmation received"),
                        numeric("Steps to complete", "steps", 3, 10),
                    ),
                    level=0.88,
                    volume=0.6,
                ),
            ),
        ),
    ),
)

VET = JourneySpec(
    name="Vet clinic visit",
    persona="Dog owner with a first puppy",
    description=(
        "From booking a consultation to the follow-up call. Owners arrive anxious; "
        "being known by name and understanding the bill matter as much as the medicine."
    ),
    target=80.0,
    site=CLINIC,
    stages=(
        (
            "Book",
            (
                TP(
                    "Online booking",
                    Channel.WEB,
                    "Digital",
                    4,
                    (
                        yes_no("Slot available within 48 hours"),
                        numeric("Minutes to book", "min", 3, 15),
                        yes_no("Pet's details filled in already"),
                        scale("Ease of booking", EASE),
                    ),
                    level=0.95,
                    drift=0.05,
                    volume=1.3,
                    good=("Booked in two minutes at 11 pm, brilliant.",),
                ),
                TP(
                    "Phone booking",
                    Channel.PHONE,
                    "Reception",
                    3,
                    (
                        numeric("Seconds to answer the phone", "s", 20, 120),
                        yes_no("Asked the reason for the visit"),
                        scale("Friendliness", MANNER),
                    ),
                    level=0.8,
                    at_site=True,
                ),
            ),
        ),
        (
            "Remind",
            (
                TP(
                    "Appointment reminder",
                    Channel.EMAIL,
                    "Practice management",
                    2,
                    (
                        yes_no("Sent the day before"),
                        yes_no("Said what to bring", na=0.05),
                        yes_no("Reschedule link worked", na=0.2),
                    ),
                    level=0.9,
                    volume=0.8,
                ),
            ),
        ),
        (
            "Arrive",
            (
                TP(
                    "Welcome at reception",
                    Channel.IN_PERSON,
                    "Reception",
                    4,
                    (
                        yes_no("Greeted within a minute"),
                        yes_no("Used the pet's name"),
                        numeric("Minutes waited past the appointment time", "min", 0, 30),
                        scale("Warmth", MANNER),
                    ),
                    level=0.8,
                    gap=0.24,
                    at_site=True,
                    good=("Très bien — merci 👍", "They remembered Biscuit's name!"),
                    bad=("Stood at the desk for five minutes while two staff chatted.",),
                ),
                TP(
                    "Waiting room",
                    Channel.PHYSICAL,
                    "Facilities",
                    2,
                    (
                        scale("Floor and seats clean", CLEAN),
                        yes_no("Separate areas for cats and dogs"),
                        yes_no("Water bowl filled", na=0.1),
                    ),
                    level=0.78,
                    volume=0.7,
                    at_site=True,
                ),
            ),
        ),
        (
            "Consult",
            (
                TP(
                    "Consultation",
                    Channel.IN_PERSON,
                    "Veterinary team",
                    5,
                    (
                        scale("Findings explained in plain words", CLARITY),
                        yes_no("Asked about the owner's worries"),
                        scale("Handled the pet gently", QUALITY, weight=2.0),
                        yes_no("Treatment options given with prices", offset=-0.12),
                        yes_no("Right medicine and dose", critical=True, offset=0.12),
                    ),
                    level=0.86,
                    target=85.0,
                    volume=1.4,
                    at_site=True,
                    good=("Dr Patel was so gentle with our puppy. Thank you!",),
                    bad=("Rushed, and nobody mentioned the cost until the desk.",),
                ),
                TP(
                    "Online records",
                    Channel.APP,
                    "Digital",
                    3,
                    (
                        yes_no("Notes visible within 24 hours"),
                        yes_no("Vaccination dates correct", critical=True),
                        scale("Easy to find", EASE),
                    ),
                    level=0.93,
                    volume=0.8,
                    good=("Love having the vaccination card in the app.",),
                ),
            ),
        ),
        (
            "Pay",
            (
                TP(
                    "The bill",
                    Channel.IN_PERSON,
                    "Reception",
                    4,
                    (
                        yes_no("Matched the estimate", offset=-0.1),
                        scale("Each item explained", CLARITY),
                        numeric("Minutes to pay", "min", 2, 10),
                    ),
                    level=0.74,
                    at_site=True,
                    bad=("€40 more than the estimate and no one could say why.",),
                ),
            ),
        ),
        (
            "Follow up",
            (
                TP(
                    "Follow-up call",
                    Channel.PHONE,
                    "Veterinary team",
                    3,
                    (
                        yes_no("Called within 48 hours", offset=-0.1),
                        yes_no("Asked how the pet is recovering"),
                        scale("Caring tone", MANNER),
                    ),
                    level=0.76,
                    at_site=True,
                ),
                TP(
                    "Satisfaction survey",
                    Channel.EMAIL,
                    "Practice management",
                    1,
                    (
                        yes_no("Takes under 2 minutes"),
                        yes_no("Room for own words"),
                        scale("Relevant questions", CLARITY),
                    ),
                    level=0.8,
                    volume=0.5,
                ),
            ),
        ),
    ),
)

FLIGHT = JourneySpec(
    name="Flight from booking to baggage claim",
    persona="Family of four on a summer holiday",
    description=(
        "Everything from the booking site to the bags on the belt. A smooth flight is "
        "forgotten by the fortieth minute at an empty carousel."
    ),
    target=80.0,
    site=AIRPORT,
    stages=(
        (
            "Book",
            (
                TP(
                    "Booking website",
                    Channel.WEB,
                    "Digital commerce",
                    4,
                    (
                        yes_no("Total price shown before payment", critical=True, offset=0.1),
                        yes_no("Family seated together", na=0.1),
                        numeric("Minutes to complete the booking", "min", 8, 30),
                        scale("Ease of booking", EASE),
                    ),
                    level=0.84,
                    volume=1.2,
                ),
                TP(
                    "Booking confirmation email",
                    Channel.EMAIL,
                    "Digital commerce",
                    2,
                    (
                        yes_no("Arrived within 5 minutes"),
                        yes_no("Baggage allowance stated"),
                        scale("Clear layout", CLARITY),
                    ),
                    level=0.9,
                    volume=0.6,
                ),
            ),
        ),
        (
            "Check in",
            (
                TP(
                    "Online check-in",
                    Channel.APP,
                    "Digital commerce",
                    3,
                    (
                        yes_no("Boarding passes added to the phone wallet"),
                        numeric("Minutes to check in the family", "min", 3, 15),
                        scale("Ease of check-in", EASE),
                    ),
                    level=0.88,
                ),
                TP(
                    "Bag drop desk",
                    Channel.IN_PERSON,
                    "Ground handling",
                    4,
                    (
                        numeric("Minutes in the queue", "min", 5, 45),
                        yes_no("Agent greeted and smiled"),
                        yes_no("Bags tagged to the right destination", critical=True, offset=0.2),
                        scale("Helpfulness", MANNER),
                    ),
                    level=0.74,
                    gap=0.26,
                    at_site=True,
                    good=("Quick and friendly, kids got stickers.",),
                    bad=("45 minutes in the queue with two desks open out of eight.",),
                ),
            ),
        ),
        (
            "Depart",
            (
                TP(
                    "Security screening",
                    Channel.IN_PERSON,
                    "Airport partner",
                    3,
                    (
                        numeric("Minutes in the queue", "min", 10, 40),
                        scale("Instructions clear", CLARITY),
                        scale("Staff courteous", MANNER),
                    ),
                    level=0.74,
                    target=70.0,
                    at_site=True,
                ),
                TP(
                    "Boarding gate",
                    Channel.IN_PERSON,
                    "Ground handling",
                    3,
                    (
                        yes_no("Boarding started on time"),
                        scale("Announcements audible and clear", CLARITY),
                        yes_no("Families with small children boarded first", na=0.15),
                    ),
                    level=0.78,
                    at_site=True,
                ),
            ),
        ),
        (
            "Fly",
            (
                TP(
                    "Welcome on board",
                    Channel.IN_PERSON,
                    "Cabin crew",
                    3,
                    (
                        yes_no("Greeted at the door"),
                        yes_no("Helped with bags in the overhead bins", na=0.2),
                        scale("Warmth", MANNER),
                    ),
                    level=0.88,
                ),
                TP(
                    "In-flight service",
                    Channel.IN_PERSON,
                    "Cabin crew",
                    3,
                    (
                        yes_no("Drinks offered within 30 minutes of take-off"),
                        scale("Cabin clean", CLEAN),
                        scale("Crew attentive", MANNER),
                        scale("Toilets clean", CLEAN, offset=-0.1, na=0.1),
                    ),
                    level=0.81,
                    good=("Crew were lovely with the children.",),
                ),
                TP(
                    "Arrival on time",
                    Channel.OTHER,
                    "Flight operations",
                    4,
                    (
                        numeric("Minutes late at the gate", "min", 0, 90, weight=2.0),
                        yes_no("Captain explained any delay", na=0.3),
                        yes_no("Landing time and gate announced"),
                    ),
                    level=0.72,
                    volume=0.9,
                ),
            ),
        ),
        (
            "Arrive",
            (
                TP(
                    "Disembarking",
                    Channel.IN_PERSON,
                    "Ground handling",
                    2,
                    (
                        yes_no("Doors open within 10 minutes of parking"),
                        scale("Signs to baggage claim clear", CLARITY),
                        yes_no("Bus waiting at the aircraft", na=0.4),
                    ),
                    level=0.8,
                    volume=0.7,
                    at_site=True,
                ),
                TP(
                    "Baggage claim",
                    Channel.PHYSICAL,
                    "Ground handling",
                    5,
                    (
                        numeric("Minutes waiting for the first bag", "min", 10, 45, weight=2.0),
                        numeric("Minutes until the last bag", "min", 25, 75),
                        yes_no("All bags arrived", critical=True, offset=0.45),
                        yes_no("Belt number shown on the screens", offset=0.2),
                    ),
                    level=0.45,
                    drift=-0.05,
                    volume=1.5,
                    at_site=True,
                    good=("Bags were on the belt before we got there!",),
                    bad=(
                        "Fifty minutes at the belt with two tired kids. Ruined the start of the holiday.",
                        "Belt changed twice, no announcement. Great flight, awful ending.",
                        "Waited an hour, then told one bag is still in Lisbon.",
                    ),
                ),
            ),
        ),
    ),
)

JOURNEYS = (BROADBAND, VET, FLIGHT)

GENERIC_GOOD = (
    "Excellent, nothing to add.",
    "Really pleasant, thank you.",
    "Smooth and quick.",
    "Staff went out of their way to help.",
)
GENERIC_MIXED = (
    "Fine, but slower than last time.",
    "OK overall. Small things add up though.",
    "Acceptable, nothing special.",
)
GENERIC_BAD = (
    "Not good enough. Nobody seemed to care.",
    "Really disappointing.",
    "Waited far too long, will think twice next time.",
    "Terrible. I want to speak to a manager.",
)
COMMENT_RATE = 0.15
OPENS_AT_HOUR = 7  # UTC; evaluations are observed between 07:00 and 21:00
OPEN_MINUTES = 14 * 60


@dataclass
class _Built:
    """A created touch point with what the generator needs to evaluate it."""

    spec: TP
    pk: int
    site_id: int | None
    criteria: list[tuple[int, C]]


def load_demo(*, stdout: Writer | None = None) -> Organization | None:
    """Create the demo organization, or do nothing if it exists already.

    Returns the new organization, or None when the demo was already loaded.
    """
    started = time.monotonic()
    if Organization.objects.filter(slug=DEMO_SLUG).exists():
        if stdout is not None:
            stdout.write(
                f"The demo organization ({DEMO_SLUG!r}) is already loaded; nothing to do.\n"
            )
        return None
    rng = random.Random(SEED)  # noqa: S311  (demo data, not cryptography)
    # One transaction: a failure half-way leaves no half demo behind. The batches below
    # become savepoints, and their recompute requests go out once it all commits.
    with transaction.atomic():
        organization = create_organization(name=DEMO_NAME, slug=DEMO_SLUG)
        users = _create_people(organization)
        manager = users[MANAGER]
        sites = {
            name: create_site(actor=manager, organization=organization, name=name, code=code).pk
            for name, code in SITES
        }
        built: list[tuple[Journey, list[_Built]]] = [
            _create_journey(
                spec, actor=manager, organization=organization, site_id=sites[spec.site]
            )
            for spec in JOURNEYS
        ]
        touch_points = [tp for _, tps in built for tp in tps]
        items = _generate(touch_points, rng=rng, now=timezone.now())
        evaluators = {email: users[email] for email in (MANAGER, ANA, BEN)}
        for email, batch in _batches(items):
            submit_evaluations(evaluator=evaluators[email], organization=organization, items=batch)
    if stdout is not None:
        criteria = sum(len(tp.criteria) for tp in touch_points)
        stdout.write(
            f"Loaded {DEMO_NAME!r}: {len(built)} journeys, {len(touch_points)} touch points, "
            f"{criteria} criteria, {len(items):,} evaluations "
            f"in {time.monotonic() - started:.1f} s.\n"
        )
    return organization


# The apps whose admin pages the demo manager may read.
DEMO_ADMIN_APPS = ("accounts", "journeys", "touchpoints", "scoring")


def _create_people(organization: Organization) -> dict[str, User]:
    users: dict[str, User] = {}
    # Hashing is deliberately slow (a third of a second); the four demo users share one
    # publicly known password, so one hash serves them all.
    password_hash = make_password(settings.DEMO_PASSWORD)
    for email, role, first, last in PEOPLE:
        is_new = not User.objects.filter(email=email).exists()
        user = add_member(organization=organization, email=email, role=role).user
        if is_new:
            user.password = password_hash
            user.first_name, user.last_name = first, last
            user.save(update_fields=["password", "first_name", "last_name"])
        users[email] = user
    # Support signs in to /admin/ as the demo manager: staff with view permissions only.
    # Never a superuser: the password is published (README), so on a server that was
    # given the demo it would be a key to everything.
    manager = users[MANAGER]
    if not manager.is_staff or manager.is_superuser:
        manager.is_staff, manager.is_superuser = True, False
        manager.save(update_fields=["is_staff", "is_superuser"])
    manager.user_permissions.add(
        *Permission.objects.filter(
            codename__startswith="view_", content_type__app_label__in=DEMO_ADMIN_APPS
        )
    )
    return users


def _create_journey(
    spec: JourneySpec, *, actor: User, organization: Organization, site_id: int
) -> tuple[Journey, list[_Built]]:
    journey = create_journey(
        actor=actor,
        organization=organization,
        name=spec.name,
        persona=spec.persona,
        description=spec.description,
        status=JourneyStatus.ACTIVE,
        target=spec.target,
    )
    built: list[_Built] = []
    for stage_name, touch_points in spec.stages:
        stage = create_stage(actor=actor, journey=journey, name=stage_name)
        for tp in touch_points:
            touch_point = create_touch_point(
                actor=actor,
                stage=stage,
                name=tp.name,
                channel=tp.channel,
                owner_team=tp.team,
                importance=tp.importance,
                target=tp.target,
            )
            criteria = [
                (_create_criterion(c, actor=actor, touch_point=touch_point), c) for c in tp.criteria
            ]
            built.append(_Built(tp, touch_point.pk, site_id if tp.at_site else None, criteria))
    return journey, built


def _create_criterion(c: C, *, actor: User, touch_point: TouchPoint) -> int:
    rubric: dict[str, Any] = {"weight": c.weight, "critical": c.critical}
    if c.kind == CriterionKind.SCALE:
        rubric.update(scale_size=len(c.labels), scale_labels=list(c.labels))
    elif c.kind == CriterionKind.NUMERIC:
        rubric.update(unit=c.unit, target_value=c.target, worst_value=c.worst)
    return create_criterion(
        actor=actor, touch_point=touch_point, name=c.name, kind=c.kind, **rubric
    ).pk


# --- The evaluations -------------------------------------------------------------------------


def _counts(touch_points: Sequence[_Built]) -> list[int]:
    """Evaluations per touch point, adding up to TOTAL_EVALUATIONS (largest remainder)."""
    fixed = sum(tp.spec.fixed_count or 0 for tp in touch_points)
    shared = [tp.spec.volume if tp.spec.fixed_count is None else 0.0 for tp in touch_points]
    total = sum(shared)
    exact = [(TOTAL_EVALUATIONS - fixed) * v / total for v in shared]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: TOTAL_EVALUATIONS - fixed - sum(counts)]:
        counts[i] += 1
    return [tp.spec.fixed_count or n for tp, n in zip(touch_points, counts, strict=True)]


def _day_weights(now: datetime) -> list[float]:
    """Weight of each of the last DAYS days: busier lately, and on weekdays."""
    weights = []
    for days_ago in range(DAYS):
        day = now - timedelta(days=days_ago)
        recency = 1.0 + 0.8 * (1 - days_ago / DAYS)
        weights.append(recency * (1.0 if day.weekday() < 5 else 0.55))
    return weights


def _observed_at(now: datetime, days_ago: int, *, minute: int) -> datetime:
    """A time in opening hours `days_ago` days back; today's hours still to come move
    to yesterday, so nothing is observed in the future."""
    day = (now - timedelta(days=days_ago)).replace(hour=0, minute=0, second=0, microsecond=0)
    observed = day + timedelta(hours=OPENS_AT_HOUR, minutes=minute)
    return observed if observed <= now else observed - timedelta(days=1)


def _clip(x: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, x))


def _answer(c: C, level: float, rng: random.Random) -> tuple[float | None, float | None]:
    """An answer value drawn around `level`, and its rough 0–1 goodness (None if n/a)."""
    if rng.random() < c.na and not c.critical:
        return None, None
    quality = _clip(level + c.offset + rng.gauss(0, 0.13))
    if c.kind == CriterionKind.SCALE:
        size = len(c.labels)
        point = 1 + round((size - 1) * quality)
        return float(point), (point - 1) / (size - 1)
    if c.kind == CriterionKind.YES_NO:
        # Critical criteria fail rarely: when they do, the whole evaluation scores 0.
        p_yes = 1 - (1 - level - c.offset) * 0.25 if c.critical else level + c.offset
        yes = rng.random() < p_yes
        return (1.0 if yes else 0.0), (1.0 if yes else 0.0)
    if c.target is None or c.worst is None:
        raise ValueError(f"Numeric criterion {c.name!r} needs a target and a worst value.")
    # Allow results a little better than the target, but nothing below zero.
    spread = 1 - quality + rng.gauss(0, 0.08) - 0.05
    value = float(round(max(0.0, c.target + (c.worst - c.target) * spread)))
    goodness = _clip((value - c.worst) / (c.target - c.worst))
    return value, goodness


def _comment(tp: TP, goodness: float, rng: random.Random) -> str:
    if goodness >= 0.75:
        pool = tp.good + GENERIC_GOOD
    elif goodness < 0.5:
        # Angry customers repeat the touch point's own story more often than not.
        pool = tp.bad * 3 + GENERIC_BAD if tp.bad else GENERIC_BAD
    else:
        pool = GENERIC_MIXED
    return rng.choice(pool)


def _generate(
    touch_points: Sequence[_Built], *, rng: random.Random, now: datetime
) -> list[tuple[str, EvaluationInput]]:
    """(evaluator email, evaluation) pairs for every touch point, in a fixed order."""
    day_weights = _day_weights(now)
    days = list(range(DAYS))
    sources = list(SOURCE_WEIGHTS)
    source_weights = list(SOURCE_WEIGHTS.values())
    items: list[tuple[str, EvaluationInput]] = []
    for tp, count in zip(touch_points, _counts(touch_points), strict=True):
        spec = tp.spec
        for _ in range(count):
            days_ago = rng.choices(days, weights=day_weights)[0]
            observed_at = _observed_at(now, days_ago, minute=rng.randint(0, OPEN_MINUTES))
            source = rng.choices(sources, weights=source_weights)[0]
            # Internal eyes see the touch point kinder than customers do (the gap), and
            # the level slides from 120 days ago to today (the trend).
            level = spec.level + spec.drift * (0.5 - days_ago / DAYS)
            level += spec.gap / 2 if source in INTERNAL_SOURCES else -spec.gap / 2
            level += rng.gauss(0, 0.06)  # a good day or a bad day
            answers = []
            goodness = []
            for criterion_id, c in tp.criteria:
                value, good = _answer(c, level, rng)
                answers.append(AnswerInput(criterion_id=criterion_id, value=value))
                if good is not None:
                    goodness.append(good)
            comment = ""
            if rng.random() < COMMENT_RATE:
                mean = sum(goodness) / len(goodness) if goodness else 0.5
                comment = _comment(spec, mean, rng)
            if source == Source.AUDIT:
                email = MANAGER if rng.random() < 0.5 else rng.choice((ANA, BEN))
            else:
                email = rng.choices((ANA, BEN, MANAGER), weights=(47, 47, 6))[0]
            items.append(
                (
                    email,
                    EvaluationInput(
                        touch_point_id=tp.pk,
                        source=source,
                        observed_at=observed_at,
                        answers=tuple(answers),
                        site_id=tp.site_id,
                        comment=comment,
                    ),
                )
            )
    return items


def _batches(
    items: Sequence[tuple[str, EvaluationInput]],
) -> list[tuple[str, list[EvaluationInput]]]:
    """Batches of at most MAX_BATCH, one evaluator each. Items stay grouped by touch point,
    so each batch marks few touch points stale and few recompute messages are queued."""
    by_evaluator: dict[str, list[EvaluationInput]] = defaultdict(list)
    for email, item in items:
        by_evaluator[email].append(item)
    return [
        (email, evaluations[start : start + MAX_BATCH])
        for email, evaluations in sorted(by_evaluator.items())
        for start in range(0, len(evaluations), MAX_BATCH)
    ]
