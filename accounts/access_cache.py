"""A per-process cache of what an API token resolves to (its user and the user's
memberships), so an authenticated API request needs no database query to know who is
asking and where (issue 18 item 2).

Correctness comes from one shared **access epoch** in Redis: a random value, replaced
after every committed change that can alter what a token reaches (a token created or
revoked, a user changed or deactivated, a membership added, re-roled or removed, an
organization renamed). Each request reads the epoch (one Redis GET, no database) and uses
a cached resolution only if it was made under the same epoch; so a revocation, a role
change or a removal takes effect on the very next request in every process.

Why it stays safe:
- The epoch is read *before* the database when a resolution is made, and stored with it:
  a resolution read from the database just before a change commits carries the old epoch
  and is never used after the change replaced it.
- Redis away or slow (0.25 s timeouts) means no cache: the request resolves from the
  database, as before; nothing on the request path needs Redis. After a failure this
  process leaves Redis alone for RETRY_SECONDS, so a frozen Redis costs one timeout, not
  one per request. A Redis restart that lost its data has no epoch: a new one is chosen,
  which matches nothing cached.
- Only if Redis cannot be reached at the moment a change commits (and can again at the
  next request) can an old resolution live on; it is never used longer than TTL_SECONDS.

The change hooks: every save and delete of these four models sends a signal
(connected in accounts/apps.py), whoever makes it, the admin included; and their
QuerySet's update() and bulk_create(), which send none, call bump() themselves
(accounts.models.AccessQuerySet). This module imports no models, so models.py can use it.
"""

from __future__ import annotations

import copy
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from django.db import transaction

if TYPE_CHECKING:
    from accounts.models import ApiToken, Membership

log = logging.getLogger(__name__)

EPOCH_KEY = "touchstone:access-epoch"
TTL_SECONDS = 60.0
RETRY_SECONDS = 5.0
MAX_ENTRIES = 10_000
# Writes of only these fields change nothing a token reaches (sign-in, token use).
HARMLESS_FIELDS = frozenset({"last_login", "last_used_at"})


@dataclass(frozen=True)
class Resolution:
    """A token as resolved under one epoch: copies are handed out per request."""

    epoch: str
    made_at: float
    token: ApiToken  # with .user loaded
    memberships: tuple[Membership, ...]  # with .organization loaded


_entries: dict[str, Resolution] = {}
_lock = threading.Lock()
_client: redis.Redis | None = None
_redis_down_until = 0.0


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=0.25, socket_connect_timeout=0.25
        )
    return _client


def current_epoch() -> str | None:
    """The shared epoch (creating one if Redis has none), or None if Redis is away."""
    global _redis_down_until
    if time.monotonic() < _redis_down_until:
        return None
    try:
        client = _redis()
        raw = client.get(EPOCH_KEY)
        if raw is None:
            client.set(EPOCH_KEY, secrets.token_hex(8), nx=True)
            raw = client.get(EPOCH_KEY)
    except redis.RedisError:
        _redis_down_until = time.monotonic() + RETRY_SECONDS
        log.warning("Access cache: Redis did not answer; resolving from the database.")
        return None
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def lookup(prefix: str, secret_hash: str, epoch: str | None) -> Resolution | None:
    """A fresh resolution for this token under `epoch`, with its own copies, or None."""
    if epoch is None:
        return None
    entry = _entries.get(prefix)
    if (
        entry is None
        or entry.epoch != epoch
        or time.monotonic() - entry.made_at > TTL_SECONDS
        or not hmac.compare_digest(entry.token.key_hash, secret_hash)
    ):
        return None
    # Per-request copies: views may set attributes on request.user and friends.
    token = copy.copy(entry.token)
    token.user = copy.copy(entry.token.user)
    return Resolution(
        epoch=epoch,
        made_at=entry.made_at,
        token=token,
        memberships=tuple(copy.copy(m) for m in entry.memberships),
    )


def store(prefix: str, epoch: str | None, token: ApiToken, memberships: list[Membership]) -> None:
    """Remember a resolution read from the database after `epoch` was read."""
    if epoch is None:
        return
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[prefix] = Resolution(
            epoch=epoch,
            made_at=time.monotonic(),
            token=copy.copy(token),
            memberships=tuple(copy.copy(m) for m in memberships),
        )


def touched(prefix: str, when: Any) -> None:
    """The token's last use was just written: keep the cached copy in step."""
    entry = _entries.get(prefix)
    if entry is not None:
        entry.token.last_used_at = when


def clear() -> None:
    """Forget this process's resolutions."""
    with _lock:
        _entries.clear()


def _replace_epoch() -> None:
    try:
        _redis().set(EPOCH_KEY, secrets.token_hex(8))
    except redis.RedisError:
        log.error(
            "Access cache: could not replace the epoch after an access change; cached "
            "resolutions may be used for up to %.0f s.",
            TTL_SECONDS,
            exc_info=True,
        )
    clear()  # this process at least forgets at once


def bump() -> None:
    """Say that what tokens reach has changed: this process forgets at once, and after
    the surrounding transaction commits (at once outside one) every process does."""
    clear()
    transaction.on_commit(_replace_epoch)


def on_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_save / post_delete receiver for the models that decide what a token reaches."""
    fields = kwargs.get("update_fields")
    if fields is not None and set(fields) <= HARMLESS_FIELDS:
        return
    bump()
