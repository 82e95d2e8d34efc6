"""Schema operations that keep the service writable while they run (docs/deploy.md,
"Upgrades"): on PostgreSQL an index is built or dropped CONCURRENTLY, so inserts and
updates of the table go on meanwhile; on SQLite (development, one writer) as usual.

A migration using them sets `atomic = False` (PostgreSQL cannot build an index
concurrently inside a transaction) and holds no other operation, so a failure leaves
nothing half-done but an invalid index, which running `migrate` again replaces.
"""

from __future__ import annotations

from django.db import migrations


def _concurrently(schema_editor) -> dict:
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


class AddIndexOnline(migrations.AddIndex):
    """migrations.AddIndex, built CONCURRENTLY on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, **_concurrently(schema_editor))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, **_concurrently(schema_editor))

    def describe(self):
        return f"{super().describe()} (concurrently on PostgreSQL)"
