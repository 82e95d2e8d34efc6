"""Bulk loading rows straight into tables: COPY on PostgreSQL, executemany elsewhere.

The seeder and the benchmarks that need many rows of a given shape (due grants, pending
requests) write through `load_rows`; rows are tuples in the order of `columns`. Values are
Python objects (UUID, aware datetime, bool, JSON already dumped to text).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from django.core.management.color import no_style
from django.db import connection

from bench.common import chunks


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _sqlite_value(value: object) -> object:
    # What Django's SQLite backend stores: naive UTC text, UUIDs as 32 hex digits.
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, uuid.UUID):
        return value.hex
    return value


def load_rows(table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    """Append `rows` to `table`; returns how many were written."""
    qn = connection.ops.quote_name
    cols = ", ".join(qn(c) for c in columns)
    count = 0
    with connection.cursor() as cursor:
        if is_postgres():
            with cursor.copy(f"COPY {qn(table)} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        marks = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {qn(table)} ({cols}) VALUES ({marks})"
        for batch in chunks(rows, 5000):
            cursor.executemany(sql, [tuple(_sqlite_value(v) for v in row) for row in batch])
            count += len(batch)
    return count


@contextmanager
def foreign_key_checks_off():
    """Skip foreign-key triggers while loading rows that are consistent by construction.

    PostgreSQL superusers only (`session_replication_role = replica`); elsewhere a no-op.
    """
    switched = False
    if is_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            if cursor.fetchone()[0]:
                cursor.execute("SET session_replication_role = replica")
                switched = True
    try:
        yield
    finally:
        if switched:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")


def max_id(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {connection.ops.quote_name(table)}")
        return int(cursor.fetchone()[0])


def reset_sequences(models: Sequence[type]) -> None:
    """Point id sequences past the ids written explicitly."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(models))
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def analyze(tables: Sequence[str]) -> None:
    """Fresh planner statistics after a bulk load (autovacuum would get there, later)."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
