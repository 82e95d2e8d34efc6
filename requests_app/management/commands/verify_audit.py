"""`manage.py verify_audit` — walk the hash chain and report the first broken link."""

from django.core.management.base import BaseCommand, CommandError

from requests_app.services.audit import audit_verify


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain and sequence numbers; exit 1 at the first broken link."
    )

    def handle(self, *args, **options):
        report = audit_verify()
        if not report.ok:
            raise CommandError(
                f"audit chain BROKEN after {report.checked} good event(s): {report.problem}"
            )
        newest = f"; newest #{report.checked} sha256 {report.last_hash}" if report.checked else ""
        self.stdout.write(f"audit chain intact: {report.checked} event(s) verified{newest}")
