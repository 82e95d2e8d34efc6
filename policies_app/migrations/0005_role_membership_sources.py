# Role.members gets a through model with the membership's sources, on the existing table
# (Django's "changing a ManyToManyField to use a through model"): the state first, then the
# new column, filled with "policy" for every existing membership.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import policies_app.models


class Migration(migrations.Migration):
    dependencies = [
        ("policies_app", "0004_sso_mappings"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="RoleMembership",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("role", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="memberships", to="policies_app.role")),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="role_memberships", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "policies_app_role_members",
                        "unique_together": {("role", "user")},
                    },
                ),
                migrations.AlterField(
                    model_name="role",
                    name="members",
                    field=models.ManyToManyField(blank=True, help_text="Users who hold this role at all times (standing).", related_name="standing_roles", through="policies_app.RoleMembership", to=settings.AUTH_USER_MODEL),
                ),
            ],
        ),
        migrations.AddField(
            model_name="rolemembership",
            name="sources",
            field=models.JSONField(default=policies_app.models._policy_sources),
        ),
    ]
