"""Password reset by email: Django's own views (token, expiry, one use), Touchstone's
templates, the message sent through the outbox (notify.send_email), and a rate limit.

Every request gets the same answer, whether an account has the address or not ("if an
account exists, we sent a link"), and the limit counts unknown addresses exactly like
known ones, so neither the page nor the throttle tells which addresses have accounts.
The limit (per address and per client address, an hour each) is kept in the shared
"throttle" cache (Redis); if Redis cannot be reached the limit is skipped, not the reset:
someone locked out of their account must still be able to get back in.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse, reverse_lazy

from accounts.brute_force import client_ip
from accounts.identity import account_identifier
from accounts.models import Organization, User
from notify.services import send_email

log = logging.getLogger("touchstone.security")

# Reset emails one address may ask for per hour, and requests one client address may make.
PER_ADDRESS = 3
PER_CLIENT = 20
WINDOW_SECONDS = 3600


class ResetForm(PasswordResetForm):
    """Django's form, sending through the outbox (a Celery task, retries) instead of
    talking SMTP during the request."""

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        user: User = context["user"]
        path = reverse(
            "password_reset_confirm", kwargs={"uidb64": context["uid"], "token": context["token"]}
        )
        organizations = list(Organization.objects.filter(memberships__user=user)[:2])
        send_email(
            # The organization's name heads the subject when the person has just one.
            organization=organizations[0] if len(organizations) == 1 else None,
            to=to_email,
            subject="Reset your Touchstone password",
            template="email/password_reset",
            context={"reset_url": f"{context['protocol']}://{context['domain']}{path}"},
            kind="password_reset",
        )


def over_limit(request: HttpRequest, email: str) -> bool:
    """Count this request; True if the address or the client asked too often this hour.
    Fails open (False) when the throttle cache is unreachable."""
    digest = hashlib.sha256(account_identifier(email).encode()).hexdigest()
    keys = [
        (f"password-reset:address:{digest}", PER_ADDRESS),
        (f"password-reset:client:{client_ip(request) or 'unknown'}", PER_CLIENT),
    ]
    try:
        cache = caches["throttle"]
        over = False
        for key, limit in keys:
            cache.add(key, 0, timeout=WINDOW_SECONDS)
            if cache.incr(key) > limit:
                over = True
        return over
    except Exception:
        log.warning("Password reset throttle unavailable; not limiting.", exc_info=True)
        return False


class ResetView(auth_views.PasswordResetView):
    form_class = ResetForm
    success_url = reverse_lazy("password_reset_done")
    http_method_names = ["get", "post", "head", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if over_limit(request, str(request.POST.get("email", ""))):
            return render(request, "registration/password_reset_throttled.html", status=429)
        return super().post(request, *args, **kwargs)


class ResetConfirmView(auth_views.PasswordResetConfirmView):
    success_url = reverse_lazy("password_reset_complete")
    http_method_names = ["get", "post", "head", "options"]
