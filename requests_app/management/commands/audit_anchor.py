"""`manage.py audit_anchor` — sign an anchor of the audit chain now and send it out."""

from django.core.management.base import BaseCommand, CommandError

from requests_app.services.audit_anchors import AnchorError, audit_anchor_take


class Command(BaseCommand):
    help = (
        "Sign an anchor (sequence, hash, time) of the audit chain head and write it to "
        "AUDIT_ANCHOR_FILE and AUDIT_ANCHOR_WEBHOOK_URL; exit 1 if any destination failed."
    )

    def handle(self, *args, **options):
        try:
            result = audit_anchor_take()
        except AnchorError as err:
            raise CommandError(str(err)) from None
        anchor = result.anchor
        for destination in result.delivered:
            self.stdout.write(
                f"anchor #{anchor.seq} sha256 {anchor.hash} at {anchor.time} -> {destination}"
            )
        if result.failures:
            raise CommandError("anchor not delivered to " + "; ".join(result.failures))
