"""`manage.py bootstrap_organization`: a self-hoster's first organization and manager."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Membership, Organization, Role, User
from tests.conftest import Personas
from tests.factories import PASSWORD, UserFactory

STRONG = "plum kettle orbit 2026"


def bootstrap(*args: str, **options: str) -> str:
    out = StringIO()
    call_command("bootstrap_organization", *args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def answers(*replies: str) -> Callable[[str], str]:
    """A stand-in for getpass.getpass that gives these replies in turn."""
    it: Iterator[str] = iter(replies)

    def fake_getpass(prompt: str = "") -> str:
        return next(it)

    return fake_getpass


def refuse_prompt(prompt: str = "") -> str:
    raise AssertionError("getpass must not be called")


@pytest.fixture
def no_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("getpass.getpass", refuse_prompt)


def assert_nothing_created() -> None:
    assert not Organization.objects.exists()
    assert not User.objects.exists()


def test_creates_organization_with_manager_and_usable_password(db: None, no_prompt: None) -> None:
    output = bootstrap("Acme Vets", manager="Boss@Acme.test", password=STRONG)

    org = Organization.objects.get()
    assert (org.name, org.slug) == ("Acme Vets", "acme-vets")
    membership = Membership.objects.select_related("user").get(organization=org)
    assert membership.role == Role.MANAGER
    assert membership.user.email == "boss@acme.test"
    assert membership.user.has_usable_password()
    assert membership.user.check_password(STRONG)
    assert "Acme Vets" in output
    assert "boss@acme.test" in output


def test_asks_for_the_password_twice_when_not_given(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getpass", answers(STRONG, STRONG))

    bootstrap("Acme Vets", manager="boss@acme.test")

    assert User.objects.get(email="boss@acme.test").check_password(STRONG)


def test_existing_user_keeps_password_and_becomes_manager(db: None, no_prompt: None) -> None:
    user = UserFactory(email="lead@acme.test")

    output = bootstrap("Acme Vets", manager="lead@acme.test")

    membership = Membership.objects.get(user=user)
    assert membership.role == Role.MANAGER
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert "password unchanged" in output


def test_existing_user_ignores_a_given_password(db: None, no_prompt: None) -> None:
    user = UserFactory(email="lead@acme.test")

    bootstrap("Acme Vets", manager="lead@acme.test", password=STRONG)

    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_outsider_manager_of_another_org_keeps_it_and_gains_the_new_one(
    personas: Personas, no_prompt: None
) -> None:
    bootstrap("Acme Vets", manager=personas.outsider.email)

    roles = dict(
        Membership.objects.filter(user=personas.outsider).values_list("organization__name", "role")
    )
    assert roles == {"Rival Telecom": Role.MANAGER, "Acme Vets": Role.MANAGER}
    # Bootstrapping one organization grants nothing in any other.
    assert not Membership.objects.filter(user=personas.outsider, organization=personas.org).exists()


def test_mismatched_passwords_are_refused_and_nothing_created(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getpass", answers(STRONG, STRONG + "!"))

    with pytest.raises(CommandError, match="do not match"):
        bootstrap("Acme Vets", manager="boss@acme.test")

    assert_nothing_created()


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("password", "too common"),
        ("x7!", "too short"),
        ("83749261530", "entirely numeric"),
        ("boss@acme.test", "too similar"),
    ],
)
def test_weak_prompted_password_is_refused_with_validator_message(
    db: None, monkeypatch: pytest.MonkeyPatch, password: str, message: str
) -> None:
    monkeypatch.setattr("getpass.getpass", answers(password, password))

    with pytest.raises(CommandError, match=message):
        bootstrap("Acme Vets", manager="boss@acme.test")

    assert_nothing_created()


def test_weak_password_option_is_refused(db: None, no_prompt: None) -> None:
    with pytest.raises(CommandError, match="too common"):
        bootstrap("Acme Vets", manager="boss@acme.test", password="password")

    assert_nothing_created()


def test_empty_prompted_password_is_refused(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("getpass.getpass", answers("", ""))

    with pytest.raises(CommandError, match="must not be empty"):
        bootstrap("Acme Vets", manager="boss@acme.test")

    assert_nothing_created()


def test_no_terminal_and_no_password_is_refused(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def end_of_input(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr("getpass.getpass", end_of_input)

    with pytest.raises(CommandError, match="--password"):
        bootstrap("Acme Vets", manager="boss@acme.test")

    assert_nothing_created()


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name_is_refused(db: None, no_prompt: None, name: str) -> None:
    with pytest.raises(CommandError, match="needs a name"):
        bootstrap(name, manager="boss@acme.test", password=STRONG)

    assert_nothing_created()


@pytest.mark.parametrize("email", ["", "boss", "boss@", "@acme.test", "boss at acme.test"])
def test_bad_email_is_refused(db: None, no_prompt: None, email: str) -> None:
    with pytest.raises(CommandError, match="not a valid email"):
        bootstrap("Acme Vets", manager=email, password=STRONG)

    assert_nothing_created()


def test_same_name_twice_gets_a_second_slug(db: None, no_prompt: None) -> None:
    bootstrap("Acme Vets", manager="one@acme.test", password=STRONG)
    bootstrap("Acme Vets", manager="two@acme.test", password=STRONG)

    assert sorted(Organization.objects.values_list("slug", flat=True)) == [
        "acme-vets",
        "acme-vets-2",
    ]
