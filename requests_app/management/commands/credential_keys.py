"""`manage.py credential_keys rotate|list|retire` — the keys that sign access credentials."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accessportal.kernel.errors import DomainError
from requests_app.credential_models import SigningKeyAlg
from requests_app.selectors.credentials import signing_keys
from requests_app.services.credentials import signing_key_retire, signing_key_rotate

ACTOR = "manage.py credential_keys"


def _when(at) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "-"


class Command(BaseCommand):
    help = (
        "Manage the keys that sign access credentials. `rotate` makes a key that is in the "
        "JWKS at once and signs after CREDENTIAL_KEY_PUBLISH_AHEAD (--now: at once); the key "
        "it replaces stays in the JWKS until its credentials have expired. `retire KID` takes "
        "a key out of the JWKS now (a leaked key). `list` shows every key."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        rotate = actions.add_parser("rotate", help="make a new signing key (with overlap)")
        rotate.add_argument(
            "--alg", choices=list(SigningKeyAlg.values), default=None,
            help="signature algorithm (default CREDENTIAL_ALG, EdDSA)",
        )  # fmt: skip
        rotate.add_argument(
            "--now", action="store_true",
            help="sign with it at once (first key, emergencies): downstream services that "
            "cached the JWKS fetch it again when they meet its key id",
        )  # fmt: skip
        actions.add_parser("list", help="every key: status, signing window, JWKS presence")
        # A key id is a JWK thumbprint (base64url), which starts with "-" one time in 64:
        # this action has no options, so nothing it is given is read as one.
        retire = actions.add_parser(
            "retire", help="take a key out of the JWKS now", prefix_chars="+", add_help=False
        )
        retire.add_argument("kid", metavar="KID")

    def handle(self, *args, **options):
        try:
            getattr(self, f"_{options['action']}")(options)
        except DomainError as err:
            raise CommandError(err.message) from None

    def _rotate(self, options):
        key = signing_key_rotate(alg=options["alg"], immediately=options["now"], actor=ACTOR)
        self.stdout.write(
            f"new {key.alg} key {key.kid}: in the JWKS now, signs from {_when(key.signs_from)}"
        )

    def _retire(self, options):
        key = signing_key_retire(kid=options["kid"], actor=ACTOR)
        self.stdout.write(f"retired {key.kid}: out of the JWKS now")

    def _list(self, options):
        now = timezone.now()
        rows = [("KID", "ALG", "STATUS", "SIGNS FROM", "SIGNS UNTIL", "IN JWKS UNTIL")]
        for key in signing_keys():
            rows.append(
                (key.kid, key.alg, key.status_at(now), _when(key.signs_from),
                 _when(key.signs_until), _when(key.retired_at))
            )  # fmt: skip
        if len(rows) == 1:
            self.stdout.write("no signing key yet (the first credential makes one)")
            return
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
