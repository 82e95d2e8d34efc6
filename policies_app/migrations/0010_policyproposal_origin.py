from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("policies_app", "0009_policy_proposals")]

    operations = [
        migrations.AddField(
            model_name="policyproposal",
            name="origin",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
    ]
