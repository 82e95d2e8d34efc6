"""Many rows into one table at once, for the sweeps: COPY on PostgreSQL, else executemany.

`bulk_create` prepares every field of every model instance in Python and, on PostgreSQL,
sends each column as an array whose elements psycopg escapes one by one: for the 100k
audit events and notifications of an expiry sweep that was most of the sweep's time
(bench/README.md, "Sweep"). Here callers give plain tuples of values the columns take as
they are, and PostgreSQL reads them with COPY.

Values: what the column's field takes (str, int, None, UUID, aware datetimes), and JSON
columns as JSON text. Nothing is
returned (no primary keys): callers that need the rows back use the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial

from django.db import connection
from django.db.models import JSONField, Model


def insert_rows(model: type[Model], fields: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Insert `rows` (values in the order of `fields`, attribute names) into `model`'s
    table inside the caller's transaction; returns how many."""
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    columns = ", ".join(qn(model._meta.get_field(name).column) for name in fields)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        # Elsewhere each value goes through its field, as the ORM would send it (SQLite
        # stores UUIDs as hex and datetimes as text), except JSON, which is text already.
        to_db = [
            None
            if isinstance(field, JSONField)
            else partial(field.get_db_prep_save, connection=connection)
            for field in (model._meta.get_field(name) for name in fields)
        ]
        prepared = [
            [v if prep is None else prep(v) for prep, v in zip(to_db, row, strict=True)]
            for row in rows
        ]
        placeholders = ", ".join(["%s"] * len(fields))
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", prepared)
        return len(prepared)
