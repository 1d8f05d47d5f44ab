"""core.write_batch: result-less INSERTs travel together with the next statement that
returns something (or at the block's end), in order, in the same transaction; fewer
round trips, the same effects, the same errors."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from core.write_batch import batched_writes
from tests.round_trips import sends

pytestmark = pytest.mark.django_db


@pytest.fixture
def table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE wb (id serial PRIMARY KEY, v int UNIQUE, t text) ON COMMIT DROP"
        )


def rows() -> list[tuple[int, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT v, t FROM wb ORDER BY id")
        return list(cursor.fetchall())


def test_inserts_travel_with_the_next_select_which_sees_them(table: None) -> None:
    with transaction.atomic(), sends() as sent, batched_writes(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO wb (v, t) VALUES (%s, %s)", [1, "a"])
        cursor.execute("INSERT INTO wb (v, t) VALUES (%s, %s)", [2, "b"])
        assert sent == []
        cursor.execute("SELECT count(*), max(v) FROM wb WHERE t <> %s", ["z"])
        assert cursor.fetchone() == (2, 2)
    assert len(sent) == 1


def test_a_returning_statement_reads_its_own_rows_after_the_held_ones(table: None) -> None:
    with transaction.atomic(), sends() as sent, batched_writes(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO wb (v, t) VALUES (%s, %s)", [1, "a"])
        cursor.execute("INSERT INTO wb (v, t) VALUES (%s, %s) RETURNING v, t", [2, "b"])
        assert cursor.fetchall() == [(2, "b")]
    assert len(sent) == 1


def test_what_is_held_at_the_end_is_sent_in_order(table: None) -> None:
    with transaction.atomic():
        with sends() as sent, batched_writes(), connection.cursor() as cursor:
            for v in (3, 1, 2):
                cursor.execute("INSERT INTO wb (v, t) VALUES (%s, %s)", [v, f"n{v}"])
            # Literal percent signs, with and without parameters, stay literal.
            cursor.execute("INSERT INTO wb (v, t) VALUES (4, '100%')")
            cursor.execute("INSERT INTO wb (v, t) VALUES (%s, '50%%')", [5])
        assert len(sent) == 1
        assert rows() == [(3, "n3"), (1, "n1"), (2, "n2"), (4, "100%"), (5, "50%")]


def test_updates_are_not_held_so_their_row_count_is_right(table: None) -> None:
    with transaction.atomic(), batched_writes(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO wb (v, t) VALUES (1, 'a'), (2, 'b')")
        cursor.execute("UPDATE wb SET t = 'c' WHERE v <= %s", [2])
        assert cursor.rowcount == 2


def test_an_error_in_a_held_insert_is_raised_inside_the_block(table: None) -> None:
    with transaction.atomic():
        with (
            pytest.raises(IntegrityError),
            transaction.atomic(),
            batched_writes(),
            connection.cursor() as cursor,
        ):
            cursor.execute("INSERT INTO wb (v, t) VALUES (1, 'a')")
            cursor.execute("INSERT INTO wb (v, t) VALUES (1, 'again')")
        assert rows() == []


def test_a_block_that_raises_sends_nothing_it_held(table: None) -> None:
    with transaction.atomic():
        with pytest.raises(RuntimeError), sends() as sent, batched_writes():
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO wb (v, t) VALUES (1, 'a')")
            raise RuntimeError
        assert sent == []
        assert rows() == []


def test_outside_the_block_every_statement_goes_at_once(table: None) -> None:
    with transaction.atomic(), sends() as sent, connection.cursor() as cursor:
        cursor.execute("INSERT INTO wb (v, t) VALUES (1, 'a')")
        assert len(sent) == 1


def test_a_block_inside_another_leaves_the_holding_to_the_outer_one(table: None) -> None:
    with transaction.atomic(), sends() as sent, batched_writes(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO wb (v, t) VALUES (1, 'a')")
        with batched_writes():
            cursor.execute("INSERT INTO wb (v, t) VALUES (2, 'b')")
        cursor.execute("INSERT INTO wb (v, t) VALUES (3, 'c') RETURNING v")
        assert cursor.fetchall() == [(3,)]
        assert rows() == [(1, "a"), (2, "b"), (3, "c")]
    assert len(sent) == 2
