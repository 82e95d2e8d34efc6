from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("policies_app", "0010_accessreview_membershiphold")]

    operations = [
        migrations.AddField(
            model_name="policyproposal",
            name="origin",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
    ]
