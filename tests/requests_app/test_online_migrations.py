"""Migrations marked safe online in docs/deploy.md build their indexes without blocking
writes: CONCURRENTLY on PostgreSQL, outside a transaction (on SQLite, where the test
database itself was migrated through them, they are plain CREATE INDEX)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _sql(*args: str, **options) -> str:
    out = io.StringIO()
    call_command("sqlmigrate", *args, stdout=out, **options)
    return out.getvalue()


def test_the_dead_letter_index_is_built_without_blocking_writes():
    sql = _sql("requests_app", "0016")
    assert 'CREATE INDEX CONCURRENTLY "delivery_dead"' in sql
    assert "BEGIN;" not in sql  # atomic = False: CONCURRENTLY refuses a transaction


def test_its_reverse_drops_the_index_the_same_way():
    sql = _sql("requests_app", "0016", backwards=True)
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "delivery_dead"' in sql
