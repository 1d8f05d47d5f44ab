"""`Idempotency-Key` for API writes: a retried request gets the first one's response.

Semantics (Stripe's, and the IETF httpapi Idempotency-Key draft's):

- Keys belong to an organization: another tenant using the same key gets its own record
  and never sees this one's response.
- The first request with a key runs; its response (status and JSON text) is stored in
  the SAME transaction as whatever the request wrote. If the connection drops or the
  process dies before commit, neither exists and a retry runs afresh, storing once.
- The same key with the same request (caller, method, path and JSON body, compared by a
  SHA-256 fingerprint) replays the stored response byte for byte; nothing runs again.
- The same key with a different request → 409 (`idempotency_key_reused`).
- The same key while its first request is still running → 409
  (`idempotency_key_in_flight`) with `Retry-After`: the first holds a transaction-scoped
  advisory lock on (organization, key), which the second tries without waiting.
- A request that fails (any exception, e.g. a 400 from validation) records nothing, so
  the key can be sent again with a corrected body.
- Records are kept for 24 hours. An older record no longer counts (its key runs afresh),
  and `purge_expired_records()` deletes them; the beat schedule calls it.

Call `run_idempotent` outside any transaction: its transaction must be the one that
commits the request's writes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer

from accounts.models import IdempotencyRecord

IDEMPOTENCY_HEADER = "Idempotency-Key"
KEY_MAX_LENGTH = 200
RECORD_TTL = timedelta(hours=24)
# Printable ASCII, as the draft's sf-string allows; a UUID is the usual choice.
_KEY_PATTERN = re.compile(rf"[\x20-\x7e]{{1,{KEY_MAX_LENGTH}}}")


class KeyInFlight(exceptions.APIException):
    status_code = 409
    default_detail = (
        "A request with this Idempotency-Key is still being processed. Retry shortly to "
        "receive its response."
    )
    default_code = "idempotency_key_in_flight"
    wait = 1  # DRF's exception handler turns this into a Retry-After header


class KeyReused(exceptions.APIException):
    status_code = 409
    default_detail = (
        "This Idempotency-Key was already used with a different request (caller, method, "
        "path or body). Use a new key for a new request."
    )
    default_code = "idempotency_key_reused"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str  # JSON text
    replayed: bool


def clean_key(raw: str | None) -> str | None:
    """The key from the header value, or None without one; 400 for a malformed key.

    A structured-field string's quotes (`"abc"`) are not part of the key.
    """
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not _KEY_PATTERN.fullmatch(key):
        raise exceptions.ValidationError(
            {
                IDEMPOTENCY_HEADER: [
                    f"Must be 1 to {KEY_MAX_LENGTH} printable ASCII characters "
                    "(a UUID is a good choice)."
                ]
            }
        )
    return key


def fingerprint(*, user_id: int, method: str, path: str, body: Any) -> str:
    """SHA-256 of who sent what where; the body canonicalised, so key order and
    whitespace do not make a retry look like a different request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(f"{user_id}\n{method}\n{path}\n{canonical}".encode()).hexdigest()


def _lock_id(organization_id: int, key: str) -> int:
    """A signed 64-bit id for pg_try_advisory_xact_lock(bigint).

    The one-bigint form is a lock space of its own in PostgreSQL, apart from the
    (int, int) locks scoring takes. Two keys sharing a hash would only make one of
    two simultaneous first requests answer 409, and the retry then succeeds.
    """
    digest = hashlib.sha256(f"{organization_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _try_lock(organization_id: int, key: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_lock_id(organization_id, key)])
        row = cursor.fetchone()
    return bool(row and row[0])


def run_idempotent(
    *,
    organization_id: int,
    key: str,
    fingerprint: str,
    action: Callable[[], tuple[int, Any]],
) -> StoredResponse:
    """Replay the stored response for this key, or run `action` (→ status, JSON data)
    and store its response in the same transaction as its writes."""
    with transaction.atomic():
        if not _try_lock(organization_id, key):
            raise KeyInFlight()
        record = IdempotencyRecord.objects.filter(organization_id=organization_id, key=key).first()
        if record is not None and record.created_at <= timezone.now() - RECORD_TTL:
            record.delete()
            record = None
        if record is not None:
            if not hmac.compare_digest(record.fingerprint, fingerprint):
                raise KeyReused()
            return StoredResponse(record.response_status, record.response_body, replayed=True)
        status, data = action()
        body = JSONRenderer().render(data).decode("utf-8")
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(
                    organization_id=organization_id,
                    key=key,
                    fingerprint=fingerprint,
                    response_status=status,
                    response_body=body,
                )
        except IntegrityError:
            # Unreachable while the lock holds; should it not, refuse rather than
            # commit the request's writes a second time.
            raise KeyInFlight() from None
        return StoredResponse(status, body, replayed=False)


def purge_expired_records(*, now: datetime | None = None) -> int:
    """Delete records older than RECORD_TTL; returns how many. Safe to run at any time:
    expired records are already ignored."""
    cutoff = (now or timezone.now()) - RECORD_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lte=cutoff).delete()
    return deleted
