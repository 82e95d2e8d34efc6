"""`manage.py evidence_bundle REQUEST_ID [-o FILE]` — a request's evidence bundle (JSON)."""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accessportal.kernel.errors import DomainError
from requests_app.services.evidence import evidence_bundle_export


class Command(BaseCommand):
    help = (
        "Write a request's evidence bundle (JSON; verify it offline with `accessctl evidence "
        "verify`). Audited (evidence.exported)."
    )

    def add_arguments(self, parser):
        parser.add_argument("request_id", metavar="REQUEST_ID")
        parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
        parser.add_argument(
            "--as",
            dest="username",
            metavar="USER",
            help="export as this auditor (checked: requests_app.view_auditevent and seeing the "
            "request); default: recorded as the operator's command",
        )
        parser.add_argument(
            "--max-links",
            type=int,
            default=None,
            metavar="N",
            help="refuse a proof linking more than N other events (default EVIDENCE_MAX_LINKS; "
            "0: no limit)",
        )

    def handle(self, *args, **options):
        user = None
        if options["username"]:
            user = get_user_model().objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"no user {options['username']!r}")
        try:
            # Run where the anchor key is: signs an anchor when none covers the request yet.
            bundle = evidence_bundle_export(
                request_id=options["request_id"],
                user=user,
                anchor_now=True,
                max_links=options["max_links"],
            )
        except DomainError as err:
            raise CommandError(err.message) from None
        text = json.dumps(bundle, indent=2, ensure_ascii=False)
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as out:
                out.write(text + "\n")
            self.stdout.write(
                f"evidence bundle of {options['request_id']} -> {options['output']} "
                f"({len(bundle['events'])} events, anchored at #{bundle['anchor']['seq']})"
            )
        else:
            self.stdout.write(text)
