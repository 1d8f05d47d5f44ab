"""What identifies an account at sign-in: one normalisation for looking it up and for
counting failed password checks against it (accounts.backends, accounts.brute_force)."""

from __future__ import annotations

import unicodedata

# The longest email an account can have (EmailField's 254); also under axes' 255.
IDENTIFIER_MAX_LENGTH = 254


def account_identifier(raw: object) -> str:
    """The one normalisation of a sign-in identifier: NFKC (full-width and mathematical
    letters become plain ones, as Django's sign-in form does), spaces stripped, lower case
    (stored emails are lower case), then NFKC again (lower-casing can leave a composable
    sequence), capped at IDENTIFIER_MAX_LENGTH. Authentication looks accounts up by it and
    the lockout counts under it, so both see one account where a person types many
    spellings. Over-long input is capped, not refused, so that it is counted too."""
    return normalised_email(raw)[:IDENTIFIER_MAX_LENGTH]


def normalised_email(raw: object) -> str:
    """`account_identifier` without the cap: how an account's email is stored."""
    text = unicodedata.normalize("NFKC", str(raw or "")).strip().lower()
    return unicodedata.normalize("NFKC", text)


def is_over_long(raw: object) -> bool:
    """Whether the typed identifier is longer than any account's: it matches none."""
    return len(unicodedata.normalize("NFKC", str(raw or "")).strip()) > IDENTIFIER_MAX_LENGTH
