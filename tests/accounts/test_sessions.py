"""Session lifecycle (RELIABILITY S10), the browser side: deactivating an account ends its
sessions at once (ASVS 7.4.2), so they do not come back if it is reactivated; after signing
out, replaying the old session cookie (the back button, or a copied cookie) shows no data.
(Tokens: revoked or deactivated → 401 and the table holds only hashes, tests/api/test_auth.py.)"""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.test import Client

from accounts.models import User
from accounts.services import end_sessions
from tests.conftest import Personas
from tests.factories import PASSWORD, JourneyFactory, UserFactory
from tests.test_admin import change_form_data


def browser_signed_in_as(user: User) -> Client:
    client = Client()
    response = client.post("/sign-in/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302 and client.get("/").status_code == 200
    return client


def user_change_form(admin: Client, user: User, **changes: object) -> dict[str, object]:
    """The admin's change form for `user` as a browser posts it back (the date joined is a
    split date and time widget)."""
    form = change_form_data(admin.get(f"/admin/accounts/user/{user.pk}/change/"), **changes)
    joined = form.pop("date_joined")
    form.update(
        date_joined_0=joined.strftime("%Y-%m-%d"), date_joined_1=joined.strftime("%H:%M:%S")
    )
    return form


def sessions_of(user: User) -> int:
    return sum(
        1 for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)
    )


def test_deactivating_a_user_in_the_admin_ends_all_their_sessions(personas: Personas) -> None:
    laptop = browser_signed_in_as(personas.evaluator)
    phone = browser_signed_in_as(personas.evaluator)
    colleague = browser_signed_in_as(personas.viewer)
    staff = UserFactory(email="support@touchstone.test", is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(staff)
    url = f"/admin/accounts/user/{personas.evaluator.pk}/change/"
    form = user_change_form(admin, personas.evaluator)
    form.pop("is_active")  # an unticked checkbox is not sent

    assert admin.post(url, form).status_code == 302

    personas.evaluator.refresh_from_db()
    assert not personas.evaluator.is_active
    assert sessions_of(personas.evaluator) == 0
    for browser in (laptop, phone):
        response = browser.get("/")
        assert response.status_code == 302 and response["Location"].startswith("/sign-in/")
    assert colleague.get("/").status_code == 200  # nobody else is signed out
    # Reactivated later, the account's old sessions stay ended: it signs in afresh.
    personas.evaluator.is_active = True
    personas.evaluator.save(update_fields=["is_active"])
    assert laptop.get("/").status_code == 302


def test_saving_an_active_user_in_the_admin_signs_nobody_out(personas: Personas) -> None:
    browser = browser_signed_in_as(personas.evaluator)
    staff = UserFactory(email="support@touchstone.test", is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(staff)
    url = f"/admin/accounts/user/{personas.evaluator.pk}/change/"

    assert (
        admin.post(url, user_change_form(admin, personas.evaluator, first_name="Eve")).status_code
        == 302
    )

    assert browser.get("/").status_code == 200


def test_end_sessions_ends_only_that_users_sessions(personas: Personas) -> None:
    browser_signed_in_as(personas.evaluator)
    browser_signed_in_as(personas.evaluator)
    browser_signed_in_as(personas.viewer)
    Client().get("/sign-in/")  # an anonymous visitor's session, if one was made

    assert end_sessions(user=personas.evaluator) == 2

    assert sessions_of(personas.evaluator) == 0
    assert sessions_of(personas.viewer) == 1


def test_after_sign_out_the_old_session_cookie_shows_no_data(personas: Personas) -> None:
    journey = JourneyFactory(organization=personas.org, name="Confidential journey")
    browser = browser_signed_in_as(personas.viewer)
    page = f"/journeys/{journey.pk}/"
    assert "Confidential journey" in browser.get(page).content.decode()
    old_cookie = browser.cookies["sessionid"].value

    assert browser.post("/sign-out/").status_code == 302
    # The back button, or someone who copied the cookie, sends the old session again.
    replay = Client()
    replay.cookies["sessionid"] = old_cookie
    for url in (page, "/", "/account/", f"/journeys/{journey.pk}/history/"):
        response = replay.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/sign-in/")
        assert "Confidential journey" not in response.content.decode()
    assert not Session.objects.filter(session_key=old_cookie).exists()
