"""`manage.py demo_setup` — load the demo policies and give the demo users a password."""

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from policies_app.loader import plan_from_files
from policies_app.services.apply import policies_apply

DEMO_PASSWORD = "demo-password"
DEMO_USERS = ["alice", "bob", "carol", "dave", "erin"]


class Command(BaseCommand):
    help = "Development only: apply examples/demo.yaml, set demo passwords, create an admin."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("demo_setup only runs with DEBUG on: it sets known passwords")
        # The service, not the `apply_policies` surface: the demo loads under the two-person
        # rule too (POLICY_CHANGES_REQUIRE_APPROVAL guards surfaces, README).
        plan = plan_from_files([str(Path(settings.BASE_DIR) / "examples" / "demo.yaml")])
        for line in policies_apply(plan=plan).lines():
            self.stdout.write(line)
        User = get_user_model()
        for name in DEMO_USERS:
            user = User.objects.get(username=name)
            user.set_password(DEMO_PASSWORD)
            user.is_staff = name in {"bob", "carol", "erin"}
            user.save(update_fields=["password", "is_staff"])
        admin, _ = User.objects.get_or_create(
            username="admin", defaults={"email": "admin@example.com"}
        )
        admin.is_staff = admin.is_superuser = True
        admin.set_password(DEMO_PASSWORD)
        admin.save()
        self.stdout.write(
            f"demo users {', '.join(DEMO_USERS)} and admin, password {DEMO_PASSWORD!r}"
        )
