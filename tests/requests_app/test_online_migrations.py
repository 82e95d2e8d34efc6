"""Migrations marked safe online in docs/deploy.md keep the old code working and build their
indexes without blocking writes: CONCURRENTLY on PostgreSQL, outside a transaction (on
SQLite, where the test database itself was migrated through them, plain CREATE INDEX)."""

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


def test_the_escalation_columns_are_added_without_breaking_the_old_code():
    """0019: nullable columns, and `reminders_sent` with a database default that stays, so
    the old code's request INSERTs (which do not name it) keep working during the rollout;
    no index and no CHECK scanning the requests table under its lock."""
    sql = _sql("requests_app", "0019")
    assert 'ADD COLUMN "reminders_sent" smallint DEFAULT 0 NOT NULL;' in sql
    assert "DROP DEFAULT" not in sql and "CHECK" not in sql
    assert "CREATE INDEX" not in sql


def test_the_reminder_sweeps_index_is_built_without_blocking_writes():
    sql = _sql("requests_app", "0022")
    assert 'CREATE INDEX CONCURRENTLY "request_pending_reminder"' in sql
    assert "BEGIN;" not in sql
    sql = _sql("requests_app", "0022", backwards=True)
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "request_pending_reminder"' in sql


def test_the_audit_format_column_is_added_without_rewriting_or_scanning_the_log():
    """0024: `version` with a constant database default that stays (no row rewritten, the
    old code's event INSERTs get 1, a v1 hash) and no CHECK scanning the events under lock."""
    sql = _sql("requests_app", "0024")
    assert 'ADD COLUMN "version" smallint DEFAULT 1 NOT NULL;' in sql
    assert "DROP DEFAULT" not in sql and "CHECK" not in sql
