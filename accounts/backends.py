"""Sign-in by email, looked up by the same identifier the lockout counts under."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.identity import account_identifier, is_over_long
from accounts.models import User
from core.text import is_storable


class EmailBackend(ModelBackend):
    """Django's ModelBackend with the typed email normalised by `account_identifier`, so
    "ＡＮＮ@example.com" and "ann@example.com" are one account both to authentication and
    to the lockout (which counts under the same identifier). An identifier longer than any
    email (or one PostgreSQL cannot hold) matches nobody: it costs a password hash like an unknown user, then fails, and
    the failure is counted (authenticate() sends user_login_failed)."""

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
        if is_over_long(username) or not is_storable(str(username)):
            User().set_password(password)  # the time an unknown user's check takes
            return None
        return super().authenticate(
            request, username=account_identifier(username), password=password
        )
