"""Review rows exist only while a request may be reviewed: remove those of requests that
left PENDING before `services.visibility.request_review_rows_end` ran on every exit (a
break-glass use keeps its rows for its ratification). View rows stay.

In batches, each its own transaction (the migration is not atomic): the table holds two
rows per reviewer profile per request, a million at company scale.

On PostgreSQL the table also stops being scanned in parallel: the review queue reads a
reviewer's few review rows by index (`selectors.requests_needing_review`), but the
planner cannot tell them from the view rows of the profile's whole history and, expecting
hundreds, started a parallel worker for them: 8-30 ms instead of 0.4 ms at full seed
(bench/README.md, "`needs_review`"). Every read of this table is an index probe."""

from django.db import migrations

BATCH = 20_000


def forwards(apps, schema_editor):
    GroupPerm = apps.get_model("requests_app", "AccessRequestGroupObjectPermission")
    stale = (
        GroupPerm.objects.filter(permission__codename="review_accessrequest")
        .exclude(content_object__state="PENDING")
        .exclude(content_object__policy__has_key="break_glass")
    )
    while True:
        batch = list(stale.values_list("pk", flat=True)[:BATCH])
        if not batch:
            return
        GroupPerm.objects.filter(pk__in=batch).delete()


# Review rows are deleted on every exit from PENDING: a steady stream of dead rows. The
# queue reads a profile's review rows by a bitmap index scan, which visits every dead
# entry of that profile until VACUUM removes them (a bitmap scan never marks them dead in
# the index, as a plain index scan does), so the table is vacuumed after 1% of it changed
# instead of PostgreSQL's default 20% (hundreds of thousands of rows at company scale).
STORAGE = "parallel_workers = 0, autovacuum_vacuum_scale_factor = 0.01"


def no_parallel_scans(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = apps.get_model("requests_app", "AccessRequestGroupObjectPermission")._meta.db_table
        schema_editor.execute(f"ALTER TABLE {table} SET ({STORAGE})")
        # The rows deleted above would otherwise stay in the index until autovacuum came
        # by (measured: a profile's queue read 85,000 dead entries for 20 live ones).
        # Not atomic (`atomic = False`), so VACUUM may run here.
        if not schema_editor.connection.in_atomic_block:
            schema_editor.execute(f"VACUUM ANALYZE {table}")


def parallel_scans(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = apps.get_model("requests_app", "AccessRequestGroupObjectPermission")._meta.db_table
        schema_editor.execute(
            f"ALTER TABLE {table} RESET (parallel_workers, autovacuum_vacuum_scale_factor)"
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("requests_app", "0027_access_review_runs")]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.RunPython(no_parallel_scans, parallel_scans),
    ]
