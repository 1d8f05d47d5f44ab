"""`manage.py revoke_token <prefix>`: stop an API token working, from its public prefix.

The prefix is the part after `tst_` that lists and the security log show; a whole token
pasted by mistake is accepted too (only its prefix is read).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import ApiToken
from accounts.tokens import TOKEN_PREFIX, revoke_token
from core.text import text_argument


class Command(BaseCommand):
    help = "Revoke an API token by its public prefix (e.g. 1a2b3c4d or tst_1a2b3c4d)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "prefix", type=text_argument(max_length=200), help="The token's public prefix."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        prefix = options["prefix"].strip().removeprefix(TOKEN_PREFIX).partition("_")[0]
        token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
        if not prefix or token is None:
            raise CommandError(f"No token has the prefix {prefix!r}.")
        if not revoke_token(user=token.user, token_id=token.pk):
            token.refresh_from_db(fields=["revoked_at"])
            self.stdout.write(
                f"Token {prefix} was already revoked on {token.revoked_at:%Y-%m-%d %H:%M} UTC."
            )
            return
        self.stdout.write(
            self.style.SUCCESS(f"Revoked token {token.name!r} ({prefix}) of {token.user.email}.")
        )
