"""Writes whose results nobody reads, sent to PostgreSQL together instead of one by one.

A submission stores its evaluations and then a string of writes that only have to be
there when its transaction commits: the answers, the scores, the day rollups, the stale
marks, the row naming a feedback link. Sent one statement at a time, each costs a round
trip, and on a loaded machine a round trip costs the server and this process more CPU
than the small statement it carries (each side wakes up, reads, answers, sleeps). Inside
`batched_writes()`:

- an INSERT without RETURNING is held back, in order (not an UPDATE or DELETE: Django
  reads their row count, which a held statement does not have yet);
- any other statement (a SELECT, a RETURNING, a SAVEPOINT, ...) is sent together with
  everything held before it, as one multi-statement query, and the caller reads its own
  result as usual;
- whatever is still held when the block ends is sent then; if the block raises, it is
  dropped, as the transaction it belonged to is rolled back by the atomic block around.

The statements run in the order they were written, in the same transaction, each seeing
the ones before it, exactly as if sent one by one: only the number of round trips falls.
Parameters are merged into a held statement when it is written (a value psycopg cannot
send fails there); an error PostgreSQL finds in it surfaces when it is sent (at the next
statement that is not held, or at the block's end), still inside the block. Django's
query log (assertNumQueries) still counts every statement, but shows a held one with the
text the cursor last sent, and the one that carried it with the whole query.

Multi-statement queries need Django's client-side parameter binding (psycopg's
ClientCursor, the default): with server-side binding PostgreSQL refuses them, loudly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db import connection


def _holdable(sql: str, params: Any, many: bool) -> bool:
    if many or isinstance(params, Mapping):
        return False
    return sql.lstrip()[:6].upper() == "INSERT" and "RETURNING" not in sql.upper()


def _send_held(held: list[str]) -> None:
    """Send what is held, past Django's wrappers (each was logged when it was written)."""
    if not held:
        return
    text = ";\n".join(held)
    held.clear()
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.execute(text)


@contextmanager
def batched_writes() -> Iterator[None]:
    """Hold back this thread's result-less INSERTs on the default connection and send
    them with the next statement that returns something, or when the block ends. Use it
    inside a transaction (the atomic block decides what a failure rolls back). A block
    inside another adds nothing: the outer one holds and sends."""
    if getattr(connection, "_batched_writes", False):
        yield
        return
    held: list[str] = []  # each with its parameters merged in already

    def hold(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        raw = context["cursor"].cursor
        if _holdable(sql, params, many):
            # Merged now, as execute() would merge it: a value that cannot be sent fails
            # here, at the statement that wrote it.
            held.append(raw.mogrify(sql, params))
            return None
        if many or not held:
            _send_held(held)
            return execute(sql, params, many, context)
        count = len(held)
        text = ";\n".join([*held, raw.mogrify(sql, params)])
        held.clear()
        result = execute(text, None, False, context)
        for _ in range(count):
            raw.nextset()  # the caller reads the last result: its own
        return result

    connection._batched_writes = True  # type: ignore[attr-defined]
    try:
        with connection.execute_wrapper(hold):
            yield
            _send_held(held)
    finally:
        connection._batched_writes = False  # type: ignore[attr-defined]
