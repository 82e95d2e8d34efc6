"""Create the single audit chain-head row that appends lock."""

from django.db import migrations


def create_head(apps, schema_editor):
    AuditChainHead = apps.get_model("requests_app", "AuditChainHead")
    AuditChainHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": "0" * 64})


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0001_initial")]

    operations = [migrations.RunPython(create_head, migrations.RunPython.noop)]
