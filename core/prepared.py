"""Server-side prepared statements for the few hot reads that run on almost every request.

Django binds parameters on the client (psycopg's ClientCursor), so PostgreSQL parses and
plans every query anew. For a query with a handful of subqueries the planning costs more
than the execution: the journey snapshot's version (scoring.api) took about 3 times as
long unprepared under pgbench. A prepared statement is planned once per connection (and
by PostgreSQL's plan cache after that), which persistent connections (CONN_MAX_AGE) keep.

The cursor goes through Django's wrapping (query logging, execute wrappers, error
translation), so query counts in tests and django-debug tools see it like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import connection


class _PreparedCursor(psycopg.Cursor[Any]):
    """Binds on the server and prepares every statement it executes."""

    def execute(
        self,
        query: Any,
        params: Any = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> _PreparedCursor:
        super().execute(query, params, prepare=True, binary=binary)
        return self


def fetch_one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """The first row of `sql` (with %s placeholders), run as a prepared statement on the
    default connection."""
    # What connection.cursor() does, with our cursor class instead of Django's.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = _PreparedCursor(connection.connection)
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    # django-stubs type the argument as Django's wrapper; Django passes the DB-API cursor.
    with wrap(raw) as cursor:  # type: ignore[arg-type]
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else tuple(row)
