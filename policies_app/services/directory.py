"""Directory sync: the groups an identity provider pushes over SCIM, and the standing roles
they give through the provider's `sso_mapping`.

A group is a value of the claim `groups`, by its displayName and by its externalId, so one
mapping serves OIDC group claims and SCIM alike. After any change of membership, name or
activity, each affected user's roles from the source "scim:<provider>" are recomputed from
the groups they are in now (`directory_roles_sync`); a deactivated user gets none. Every
change is audited with the provider as actor ("scim:okta"), the audit head taken last.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.errors import NotFound, ValidationFailed
from accessportal.kernel.locking import retry_on_conflict
from policies_app.documents.sso_mappings import roles_from_claims
from policies_app.models import DirectoryGroup, DirectoryUser, Role, SSOMapping
from policies_app.selectors import directory_users_visible
from policies_app.services.identity import sso_mapping_spec
from policies_app.services.memberships import memberships_set
from policies_app.signals import review_rules_changed

MAX_NAME = 255


def scim_source(provider: str) -> str:
    """The membership source, and the audit actor, of a provider's SCIM pushes."""
    return f"scim:{provider}"


def directory_claims(user: AbstractBaseUser, provider: str) -> dict[str, list[str]]:
    """The user's groups at `provider`, as the claims its mapping reads: {"groups": [...]}."""
    values: set[str] = set()
    for group in DirectoryGroup.objects.filter(provider=provider, members=user):
        values.update(group.claim_values)
    return {"groups": sorted(values)}


def directory_roles_sync(
    users: Iterable[AbstractBaseUser], provider: str, *, spec: dict | None = None
) -> list[AuditEntry]:
    """Give each user exactly the roles their groups map to (none if inactive), through the
    source "scim:<provider>". For a caller inside its own transaction: returns the
    `user.scim_synced` events to record last. Reviewers of pending requests follow.
    `spec`: the mapping to apply (default: the provider's; NoMapping if it has none)."""
    spec = sso_mapping_spec(provider) if spec is None else spec
    source = scim_source(provider)
    entries, changed_ids = [], []
    # Locked and read again: a deactivation racing with a group change must not leave an
    # inactive user holding the group's roles (both lock the user before the memberships).
    ids = [u.pk for u in users]
    locked = get_user_model().objects.select_for_update(no_key=True).filter(pk__in=ids)
    for user in locked.order_by("pk"):
        claims = directory_claims(user, provider)
        wanted = roles_from_claims(spec, claims) if user.is_active else set()
        existing = Role.objects.filter(name__in=wanted).values_list("name", flat=True)
        change = memberships_set(user, existing, source=source, notify=False)
        if change.gained or change.lost:
            changed_ids.append(user.pk)
        if change.changed:
            data = {**change.audit_data(), "groups": claims["groups"]}
            name = user.get_username()
            entries.append(AuditEntry("user.scim_synced", "user", name, source, data))
    if changed_ids:
        review_rules_changed.send(sender=Role, user_ids=changed_ids)
    return entries


def directory_mapping_resync(providers: Iterable[str]) -> list[AuditEntry]:
    """After a policy apply changed or deleted these providers' sso_mappings: the members
    of their groups get the roles the mapping gives now (none once it is gone). For the
    apply's transaction; returns the events to record last."""
    entries: list[AuditEntry] = []
    for provider in sorted(set(providers)):
        row = SSOMapping.objects.filter(name=provider).values_list("spec", flat=True).first()
        users = get_user_model().objects.filter(directory_groups__provider=provider).distinct()
        entries += directory_roles_sync(users, provider, spec=row or {})
    return entries


def directory_link_set(user: AbstractBaseUser, provider: str, external_id: str) -> list[str]:
    """Link `user` to `provider` with its externalId (adopting an unlinked account). For a
    caller inside its own transaction; returns what changed ("linked", "externalId")."""
    link = DirectoryUser.objects.select_for_update().filter(user=user).first()
    if link is None:
        DirectoryUser.objects.create(user=user, provider=provider, external_id=external_id)
        return ["linked"]
    if link.provider != provider:  # callers look users up through directory_users_visible
        raise NotFound("no such user")
    if link.external_id == external_id and link.deleted is None:
        return []
    link.external_id, link.deleted = external_id, None
    link.save(update_fields=["external_id", "deleted", "updated"])
    return ["externalId"]


def _clean_name(display_name: object) -> str:
    if not isinstance(display_name, str) or not display_name.strip():
        raise ValidationFailed("displayName is required", field="displayName")
    if len(display_name) > MAX_NAME:
        raise ValidationFailed(f"displayName: at most {MAX_NAME} characters", field="displayName")
    return display_name.strip()


def _clean_external_id(external_id: object) -> str:
    if external_id is None:
        return ""
    if not isinstance(external_id, str) or len(external_id) > MAX_NAME:
        raise ValidationFailed(f"externalId: a string of at most {MAX_NAME} characters")
    return external_id


def _members(provider: str, ids: Iterable[int]) -> dict[int, AbstractBaseUser]:
    """The users behind member ids; ValidationFailed names any the provider cannot see."""
    ids = set(ids)
    found = {u.pk: u for u in directory_users_visible(provider).filter(pk__in=ids)}
    unknown = sorted(ids - set(found))
    if unknown:
        raise ValidationFailed(f"no such user: {', '.join(map(str, unknown))}", field="members")
    return found


@dataclass
class MemberOp:
    """One change of a group's members, applied in order: "add", "remove" or "replace"."""

    op: str
    ids: list[int]


def _group_event(action: str, group: DirectoryGroup, source: str, **data) -> AuditEntry:
    data = {
        "provider": group.provider,
        "display_name": group.display_name,
        "external_id": group.external_id,
        **data,
    }
    return AuditEntry(action, "directory_group", str(group.pk), source, data)


@retry_on_conflict
@transaction.atomic
def directory_group_create(
    *, provider: str, display_name: str, external_id: str = "", member_ids: Iterable[int] = ()
) -> DirectoryGroup:
    """A new group of `provider` with its members, who get the roles it maps to."""
    source = scim_source(provider)
    members = _members(provider, member_ids)
    group = DirectoryGroup.objects.create(
        provider=provider,
        display_name=_clean_name(display_name),
        external_id=_clean_external_id(external_id),
    )
    group.members.set(members.values())
    names = sorted(u.get_username() for u in members.values())
    audit = [_group_event("directory_group.created", group, source, members=names)]
    audit += directory_roles_sync(members.values(), provider)
    audit_record_many(audit)  # last: it takes the chain head
    return group


def _group_for_update(provider: str, group_id: object) -> DirectoryGroup:
    group = DirectoryGroup.objects.select_for_update().filter(pk=group_id, provider=provider)
    found = group.first()
    if found is None:
        raise NotFound("no such group")
    return found


@retry_on_conflict
@transaction.atomic
def directory_group_update(
    *,
    provider: str,
    group_id: object,
    display_name: str | None = None,
    external_id: str | None = None,
    member_ops: Iterable[MemberOp] = (),
) -> DirectoryGroup:
    """Rename a group, change its externalId and change its members (in the order given);
    every member whose groups changed (all of them on a rename) gets their roles again."""
    source = scim_source(provider)
    group = _group_for_update(provider, group_id)
    before = {"display_name": group.display_name, "external_id": group.external_id}
    if display_name is not None:
        group.display_name = _clean_name(display_name)
    if external_id is not None:
        group.external_id = _clean_external_id(external_id)
    current = {u.pk: u for u in group.members.all()}
    start = dict(current)
    for op in member_ops:
        users = _members(provider, op.ids)
        if op.op == "replace":
            current = users
        elif op.op == "add":
            current.update(users)
        else:
            for pk in users:
                current.pop(pk, None)
    added = [current[pk] for pk in sorted(set(current) - set(start))]
    removed = [start[pk] for pk in sorted(set(start) - set(current))]
    renamed = before != {"display_name": group.display_name, "external_id": group.external_id}
    if not (renamed or added or removed):
        return group
    group.save()
    group.members.add(*added)
    group.members.remove(*removed)
    data = {
        "added": [u.get_username() for u in added],
        "removed": [u.get_username() for u in removed],
    }
    if renamed:
        data["before"] = before
    audit = [_group_event("directory_group.changed", group, source, **data)]
    affected = list(current.values()) + removed if renamed else added + removed
    audit += directory_roles_sync(affected, provider)
    audit_record_many(audit)  # last: it takes the chain head
    return group


@retry_on_conflict
@transaction.atomic
def directory_group_delete(*, provider: str, group_id: object) -> None:
    """Delete a group of `provider`; its members lose the roles only it gave them."""
    source = scim_source(provider)
    group = _group_for_update(provider, group_id)
    members = list(group.members.all())
    audit = [
        _group_event(
            "directory_group.deleted",
            group,
            source,
            members=sorted(u.get_username() for u in members),
        )
    ]
    group.delete()
    audit += directory_roles_sync(members, provider)
    audit_record_many(audit)  # last: it takes the chain head
