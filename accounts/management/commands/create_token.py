"""`manage.py create_token <email> [--name NAME]`: an API token for a REST client.

The token goes to stdout alone, so `TOKEN=$(manage.py create_token …)` captures it; the
hint on how to send it goes to stderr. Only a hash is stored: this is the one time the
token is ever shown.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Membership, User
from accounts.tokens import create_token
from core.text import text_argument


class Command(BaseCommand):
    help = "Create an API token for an active user and print it (shown only once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "email", type=text_argument(max_length=254), help="Email of the user the token acts as."
        )
        parser.add_argument(
            "--name",
            default="command line",
            type=text_argument(max_length=100),
            help="What the token is for, e.g. 'BI nightly import' (1 to 100 characters).",
        )
        parser.add_argument(
            "--expires-days",
            type=int,
            default=None,
            help="Days until the token stops working (default: it never expires).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email = User.objects.normalize_email(options["email"].strip()).lower()
        user = User.objects.filter(email=email).first()
        if user is None:
            raise CommandError(f"No user has the email {email!r}; no token was created.")
        if not user.is_active:
            raise CommandError(
                f"{email} is deactivated: a token would be refused. Reactivate the user "
                "first; no token was created."
            )
        try:
            token, raw = create_token(
                user=user, name=options["name"], expires_in_days=options["expires_days"]
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None

        self.stdout.write(raw)
        self.stderr.write(
            f"Token {token.name!r} (prefix {token.prefix}) for {email}, shown only this once. "
            "Send it as the header  Authorization: Bearer <the token above>"
        )
        if not Membership.objects.filter(user=user).exists():
            self.stderr.write(
                self.style.WARNING(
                    f"{email} belongs to no organization yet: the API answers 403 until they "
                    "are made a member of one."
                )
            )
