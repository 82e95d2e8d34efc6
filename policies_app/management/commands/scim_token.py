"""`manage.py scim_token <provider> [--revoke]`: mint (or revoke) the bearer token an
identity provider presents to /scim/v2/. The token is printed once and stored only hashed;
minting again replaces the provider's token."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accessportal.kernel.errors import DomainError
from policies_app.models import SSOMapping
from policies_app.services.directory_tokens import directory_token_mint, directory_token_revoke

ACTOR = "manage.py scim_token"


class Command(BaseCommand):
    help = "Mint (print once) or revoke the SCIM bearer token of an identity provider."

    def add_arguments(self, parser):
        parser.add_argument("provider", help="the provider's name, as its sso_mapping names it")
        parser.add_argument("--revoke", action="store_true", help="delete its token instead")

    def handle(self, *args, provider: str, revoke: bool, **options):
        try:
            if revoke:
                if not directory_token_revoke(provider=provider, actor=ACTOR):
                    raise CommandError(f"{provider!r} has no SCIM token")
                self.stdout.write(f"revoked the SCIM token of {provider}")
                return
            key = directory_token_mint(provider=provider, actor=ACTOR)
        except DomainError as e:
            raise CommandError(e.message) from None
        if not SSOMapping.objects.filter(name=provider).exists():
            self.stderr.write(
                f"warning: {provider!r} has no sso_mapping yet; its SCIM calls get 403 until "
                "the policy files have one"
            )
        self.stdout.write(key)
