"""`manage.py retention_purge` — purge reasons and notification bodies past the retention
period (requests_app/services/retention.py; docs/deploy.md, "Retention")."""

from django.core.management.base import BaseCommand, CommandError

from requests_app.services.retention import retention_purge


class Command(BaseCommand):
    help = (
        "Replace the reasons (request, review, resolve, revoke; in the tables and in v2 audit "
        "events) and notification bodies of requests finished more than DAYS days ago by "
        "purged markers that keep their hashes. Audited; the audit chain still verifies."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="the retention period (default: RETENTION_PURGE_AFTER_DAYS; 0: purge nothing)",
        )
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")

    def handle(self, *args, **options):
        if options["days"] is not None and options["days"] < 0:
            raise CommandError("--days must be 0 or more")
        counts = retention_purge(days=options["days"], dry_run=options["dry_run"])
        if counts.days <= 0:
            self.stdout.write("retention purge is off (RETENTION_PURGE_AFTER_DAYS unset or 0)")
            return
        verb = "would purge" if options["dry_run"] else "purged"
        self.stdout.write(
            f"{verb}: {counts.request_reasons} request reason(s), {counts.review_reasons} "
            f"review reason(s), {counts.notification_bodies} notification body(ies), "
            f"{counts.audit_values} audit value(s), of {counts.requests} request(s) finished "
            f"before {counts.cutoff} ({counts.days} days); kept {counts.audit_v1_values_kept} "
            f"reason(s) in v1 audit events (before the chain's v2 cut-over)"
        )
