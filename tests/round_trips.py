"""Counting round trips to PostgreSQL: the queries psycopg sends on the default
connection (a multi-statement query is one), which Django's query log cannot tell apart
from statements since core.write_batch holds some back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


@contextmanager
def sends() -> Iterator[list[str]]:
    """The queries psycopg sends on the default connection's cursors while the block runs
    (BEGIN and COMMIT, which psycopg sends itself, are not among them)."""
    # psycopg's own Cursor.execute: Django's cursors and core.prepared's (server-side
    # binding) both go through it.
    cursor_class = psycopg.Cursor
    original = cursor_class.execute
    sent: list[str] = []

    def execute(self: object, query: str, *args: object, **kwargs: object) -> object:
        sent.append(query)
        return original(self, query, *args, **kwargs)

    cursor_class.execute = execute  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        cursor_class.execute = original  # type: ignore[method-assign]


def besides_transaction(sent: list[str]) -> list[str]:
    """The queries that are not a test's stand-ins for BEGIN and COMMIT (an atomic block
    inside the test's own transaction is a savepoint)."""
    return [q for q in sent if not q.startswith(("SAVEPOINT ", "RELEASE SAVEPOINT "))]
