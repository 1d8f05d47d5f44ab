"""API tokens: create (shown once), authenticate, revoke."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts import access_cache
from accounts.models import ApiToken, Membership, User
from core.text import clean_text, raise_if

MAX_EXPIRY_DAYS = 3650
# What the account page offers; the service takes any number of days up to the maximum.
EXPIRY_CHOICES = ((None, "Never"), (30, "30 days"), (90, "90 days"), (365, "1 year"))
TOKEN_PREFIX = "tst_"  # noqa: S105  (a public marker, not a secret)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def create_token(
    *, user: User, name: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a token (expiring after `expires_in_days`, or never); returns it with the
    full secret, which is never stored or shown again."""
    errors: dict[str, list[str]] = {}
    name = clean_text(errors, "name", name, max_length=100)
    if not name:
        errors.setdefault("name", []).insert(0, "Give the token a name of 1 to 100 characters.")
    if expires_in_days is not None and (
        isinstance(expires_in_days, bool)
        or not isinstance(expires_in_days, int)
        or not 1 <= expires_in_days <= MAX_EXPIRY_DAYS
    ):
        errors["expires_in_days"] = [f"Give a whole number of days from 1 to {MAX_EXPIRY_DAYS}."]
    raise_if(errors)
    expires_at = (
        timezone.now() + timedelta(days=expires_in_days) if expires_in_days is not None else None
    )
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=prefix, key_hash=_hash(secret), expires_at=expires_at
    )
    return token, f"{TOKEN_PREFIX}{prefix}_{secret}"


def authenticate_token(raw: str) -> ApiToken | None:
    """The active token for `raw` with its user and `memberships` loaded, or None.
    Compares hashes in constant time. A token resolved before under the current access
    epoch comes from this process's cache without a query (accounts.access_cache)."""
    if not raw.startswith(TOKEN_PREFIX) or raw.count("_") < 2:
        return None
    prefix, _, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    candidate = _hash(secret)
    epoch = access_cache.current_epoch()  # before the database: see access_cache
    cached = access_cache.lookup(prefix, candidate, epoch)
    if cached is not None:
        token = cached.token
        token.memberships = cached.memberships
    else:
        found = (
            ApiToken.objects.select_related("user")
            .filter(prefix=prefix, revoked_at__isnull=True)
            .first()
        )
        # Hashed even when nothing matched, so a wrong prefix costs what a wrong secret does.
        if found is None or not hmac.compare_digest(candidate, found.key_hash):
            return None
        if not found.user.is_active:
            return None
        token = found
        memberships = list(
            Membership.objects.select_related("organization").filter(user_id=token.user_id)
        )
        access_cache.store(prefix, epoch, token, memberships)
        token.memberships = tuple(memberships)
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    # Touch last_used_at at most once a minute: not a write per request.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        access_cache.touched(prefix, now)
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
