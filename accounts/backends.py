"""Sign-in by email, looked up by the same identifier the lockout counts under."""

from __future__ import annotations

from typing import Any

from axes.exceptions import AxesBackendPermissionDenied
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.brute_force import begin_password_check, end_password_check
from accounts.identity import account_identifier, is_over_long
from accounts.models import User
from core.text import is_storable


class EmailBackend(ModelBackend):
    """Django's ModelBackend with the typed email normalised by `account_identifier`, so
    "ＡＮＮ@example.com" and "ann@example.com" are one account both to authentication and
    to the lockout (which counts under the same identifier). An identifier longer than any
    email (or one PostgreSQL cannot hold) matches nobody: it costs a password hash like an unknown user, then fails, and
    the failure is counted (authenticate() sends user_login_failed). Every check first
    takes its slot (accounts.brute_force.begin_password_check)."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        identifier = account_identifier(username)
        # A slot before the password is checked, so guesses sent in parallel cannot all
        # pass a lockout that counts failures only after their checks (accounts.brute_force).
        # Refused: no hash at all, for a known and an unknown account alike; authenticate()
        # then sends user_login_failed and AxesMiddleware answers with the lockout page.
        if request is not None and not begin_password_check(request, identifier):
            raise AxesBackendPermissionDenied("Too many password checks in flight or failed")
        if is_over_long(username) or not is_storable(str(username)):
            User().set_password(password)  # the time an unknown user's check takes
            return None
        user = super().authenticate(request, username=identifier, password=password)
        if user is not None:
            end_password_check(request)  # right: not a failure, its slot is free again
        return user
