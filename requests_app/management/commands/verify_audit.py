"""`manage.py verify_audit` — prove the audit log whole: the hash chain, every request and
grant's events, and, given anchors, that the chain still holds each anchored event."""

from django.core.management.base import BaseCommand, CommandError

from accessportal.kernel.audit import audit_verify
from requests_app.services.audit_anchors import AnchorError, anchor_parse, anchors_read
from requests_app.services.audit_completeness import audit_completeness
from requests_app.services.heartbeats import audit_verification_record

SHOWN = 50  # missing events listed one by one; the rest are counted


class Command(BaseCommand):
    help = (
        "Verify the audit log: its hash chain and sequence numbers, that every request and "
        "grant has its events, and that the chain still holds the given anchors. Exit 1 on "
        "any problem."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor",
            action="append",
            default=[],
            metavar="SEQ:HASH",
            help="an anchored event: the chain must still hold event SEQ with hash HASH",
        )
        parser.add_argument(
            "--anchors",
            action="append",
            default=[],
            metavar="FILE",
            help="an anchor file (AUDIT_ANCHOR_FILE): check each signature, then each anchor",
        )

    def handle(self, *args, **options):
        problems: list[str] = []
        anchors: dict[int, str] = {}
        try:
            given = [anchor_parse(text) for text in options["anchor"]]
            for path in options["anchors"]:
                read, bad = anchors_read(path)
                problems += bad
                given += [(a.seq, a.hash) for a in read]
        except AnchorError as err:
            raise CommandError(str(err)) from None
        for seq, digest in given:
            if anchors.setdefault(seq, digest) != digest:
                problems.append(f"two anchors of #{seq} disagree: the anchors were tampered with")

        report = audit_verify(anchors=anchors)
        if report.ok:
            newest = (
                f"; newest #{report.checked} sha256 {report.last_hash}" if report.checked else ""
            )
            self.stdout.write(f"audit chain intact: {report.checked} event(s) verified{newest}")
            if report.anchors_checked:
                self.stdout.write(f"anchors held: {report.anchors_checked} anchored event(s) found")
        else:
            problems.insert(
                0, f"audit chain BROKEN after {report.checked} good event(s): {report.problem}"
            )

        complete = audit_completeness()
        self.stdout.write(
            f"audit completeness: {complete.requests} request(s) and {complete.grants} grant(s) "
            f"checked, {len(complete.missing)} missing event(s)"
        )
        for missing in complete.missing[:SHOWN]:
            self.stdout.write(f"  missing: {missing}")
        if len(complete.missing) > SHOWN:
            self.stdout.write(f"  ... and {len(complete.missing) - SHOWN} more")
        if complete.missing:
            problems.append(f"{len(complete.missing)} audit event(s) missing (listed above)")

        audit_verification_record(ok=not problems)  # the metrics' last verification result
        if problems:
            raise CommandError("\n".join(problems))
