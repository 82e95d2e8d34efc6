"""`manage.py export_policies` — the stored policies as YAML, ready for apply_policies."""

from django.core.management.base import BaseCommand

from policies_app.services.export import policies_export


class Command(BaseCommand):
    help = "Print every role, user (with standing roles or traits) and resource as YAML."

    def handle(self, *args, **options):
        self.stdout.write(policies_export(), ending="")
