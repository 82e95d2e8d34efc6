"""Who a user is, as their identity provider says: applied at every sign-in.

The provider's `sso_mapping` (policies_app.documents.sso_mappings) turns the claims of a
verified ID token into the user's email, name, traits and standing roles. Roles the mapping
gives are held through the source "sso:<provider>" (policies_app.services.memberships): a
sign-in never takes away what the policy files give, and never grants a role that no rule of
the mapping names. Traits the mapping names are replaced by the claims' values (a claim that
is absent removes its trait); other traits are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.errors import NotAllowed, ValidationFailed
from accessportal.kernel.locking import retry_on_conflict
from policies_app.documents.sso_mappings import (
    distributed_claims,
    identity_from_claims,
    roles_from_claims,
    traits_from_claims,
)
from policies_app.models import Role, SSOMapping, UserTraits
from policies_app.services.memberships import RolesChange, memberships_set
from policies_app.signals import review_rules_changed


class NoMapping(NotAllowed):
    """A provider without an `sso_mapping` document: nobody signs in through it."""

    code = "sso_not_mapped"


def sso_source(provider: str) -> str:
    return f"sso:{provider}"


def sso_mapping_spec(provider: str) -> dict:
    """The mapping of `provider`; NoMapping if the policy has none (sign-in refused)."""
    spec = SSOMapping.objects.filter(name=provider).values_list("spec", flat=True).first()
    if spec is None:
        raise NoMapping(
            f"the identity provider {provider!r} has no sso_mapping in the policy files; "
            "an administrator must add one before anyone signs in through it"
        )
    return spec


def sso_identity(provider: str, claims: dict) -> dict[str, str]:
    """Username, email and display name that `provider`'s claims give (for finding or
    creating the account before `identity_apply`)."""
    return identity_from_claims(sso_mapping_spec(provider), claims)


@dataclass
class IdentityChange:
    roles: RolesChange
    traits_before: dict
    traits_after: dict
    fields_changed: list[str]

    @property
    def changed(self) -> bool:
        return (
            self.roles.changed
            or self.traits_before != self.traits_after
            or bool(self.fields_changed)
        )


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().partition(" ")
    return first[:150], last.strip()[:150]


@retry_on_conflict
@transaction.atomic
def identity_apply(*, user: AbstractBaseUser, provider: str, claims: dict) -> IdentityChange:
    """Bring `user` up to what `provider`'s claims say: email, name, the traits and the
    standing roles its mapping names. Audited as `user.sso_synced` (source, roles before and
    after, what was gained and lost, traits) when anything changed. Roles named by the
    mapping that no longer exist are skipped (the loader refuses such mappings, but a role
    may be deleted after)."""
    spec = sso_mapping_spec(provider)
    if missing := distributed_claims(spec, claims):
        raise ValidationFailed(
            f"the identity provider {provider!r} did not put {', '.join(missing)} in the "
            "token but referred to another source (a group overage: the user is in more "
            "groups than fit in a token); assign only the groups that matter to the "
            "application, or map app roles instead. Nothing was changed."
        )
    source = sso_source(provider)
    identity = identity_from_claims(spec, claims)
    fields = []
    if identity["email"] and user.email != identity["email"]:
        user.email, fields = identity["email"], [*fields, "email"]
    if identity["name"]:
        first, last = _split_name(identity["name"])
        if (user.first_name, user.last_name) != (first, last):
            user.first_name, user.last_name = first, last
            fields += ["first_name", "last_name"]
    if fields:
        user.save(update_fields=fields)
    row, _ = UserTraits.objects.select_for_update().get_or_create(user=user)
    before = dict(row.traits or {})
    after = {k: v for k, v in before.items() if k not in spec.get("traits", {})}
    after.update(traits_from_claims(spec, claims))
    if after != before:
        row.traits = after
        row.save(update_fields=["traits"])
    wanted = roles_from_claims(spec, claims)
    existing = set(Role.objects.filter(name__in=wanted).values_list("name", flat=True))
    roles = memberships_set(user, existing, source=source, notify=False)
    if roles.gained or roles.lost or after != before:
        # Who may review follows at once (reviewer profiles key on roles and traits).
        review_rules_changed.send(sender=Role, user_ids=[user.pk])
    change = IdentityChange(roles, before, after, fields)
    if change.changed:
        data = {**roles.audit_data(), "traits": after, "traits_before": before}
        if fields:
            data["fields"] = fields
        audit_record_many([AuditEntry("user.sso_synced", "user", user.get_username(), user, data)])
    return change
