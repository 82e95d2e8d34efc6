"""`manage.py demo_setup` — load the demo policies and give the demo users a password."""

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

DEMO_PASSWORD = "demo-password"
DEMO_USERS = ["alice", "bob", "carol", "dave", "erin"]


class Command(BaseCommand):
    help = "Development only: apply examples/demo.yaml, set demo passwords, create an admin."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("demo_setup only runs with DEBUG on: it sets known passwords")
        call_command("apply_policies", str(Path(settings.BASE_DIR) / "examples" / "demo.yaml"))
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
