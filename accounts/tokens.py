"""API tokens: create (shown once), authenticate, revoke."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, User
from core.text import clean_text, raise_if

TOKEN_PREFIX = "tst_"  # noqa: S105  (a public marker, not a secret)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def create_token(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token; returns it with the full secret, which is never stored or shown again."""
    errors: dict[str, list[str]] = {}
    name = clean_text(errors, "name", name, max_length=100)
    if not name:
        errors.setdefault("name", []).insert(0, "Give the token a name of 1 to 100 characters.")
    raise_if(errors)
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=prefix, key_hash=_hash(secret))
    return token, f"{TOKEN_PREFIX}{prefix}_{secret}"


def authenticate_token(raw: str) -> ApiToken | None:
    """The active token for `raw`, or None. Compares hashes in constant time."""
    if not raw.startswith(TOKEN_PREFIX) or raw.count("_") < 2:
        return None
    prefix, _, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    token = (
        ApiToken.objects.select_related("user")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    # Hash even when nothing matched, so a wrong prefix costs the same as a wrong secret.
    candidate = _hash(secret)
    if token is None or not hmac.compare_digest(candidate, token.key_hash):
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    # Touch last_used_at at most once a minute: not a write per request.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def revoke_token(*, user: User, token_id: int) -> bool:
    return bool(
        ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def revoke_all_tokens(*, user: User) -> int:
    """Revoke every active token of `user` (offered on a password change); returns how many."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
