"""The password-checking forms (sign-in, admin sign-in, password change), each counting
its failures under the one throttle identity (accounts.brute_force)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.validators import MaxLengthValidator
from django.http import HttpRequest

from accounts.brute_force import check_password_guarded
from accounts.models import User


def _uncap_identifier(form: AuthenticationForm) -> None:
    """Let an over-long identifier reach authenticate(): Django's form would refuse it by
    length before any password check, so it was never counted. The backend matches no
    account with it (accounts.backends), the failure counts like any other, and the answer
    is the form's usual "enter a correct email and password"."""
    field = form.fields["username"]
    field.max_length = None  # type: ignore[attr-defined]
    field.validators = [v for v in field.validators if not isinstance(v, MaxLengthValidator)]


class SignInForm(AuthenticationForm):
    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        _uncap_identifier(self)


class AdminSignInForm(AdminAuthenticationForm):
    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        _uncap_identifier(self)


class GuardedPasswordChangeForm(PasswordChangeForm):
    """Django's password change, with the old password checked like a sign-in: counted
    against the account's identity from this address, locked at the same limit (the lock
    answers 429 through AxesMiddleware), and each failure logged. A borrowed session can
    no longer guess the password, change it and sign the owner out.

    Also offers to revoke the user's API tokens, which a new password does not end."""

    revoke_tokens = forms.BooleanField(
        required=False,
        initial=True,
        label="Also revoke my API tokens",
        help_text="Clients using them are refused until you give them new tokens.",
    )

    field_order = ["old_password", "new_password1", "new_password2", "revoke_tokens"]

    def __init__(self, user: User, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self) -> str:
        old_password: str = self.cleaned_data["old_password"]
        right = check_password_guarded(
            self.request,
            identifier=self.user.email,
            check=lambda: self.user.check_password(old_password),
            entry_point="password_change",
        )
        if not right:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password
