"""Users an identity provider creates, changes, deactivates and deletes over SCIM.

The provider owns the account's user name, email, name and externalId, and whether it is
active. Deactivation (`active: false`) and deletion deprovision at once
(`services.deprovision`: access revoked, pending requests withdrawn, API token deleted) and
take away the roles the provider's groups gave; reactivation gives them back from the groups
the user is still in. An account is never deleted: grants and the audit log refer to it.
Everything is audited with the provider as actor ("scim:okta"), the audit head taken last.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.errors import Conflict, NotFound, ValidationFailed
from accessportal.kernel.locking import retry_on_conflict, username_lock
from accessportal.kernel.usernames import username_refusal
from policies_app.models import DirectoryGroup, DirectoryUser
from policies_app.selectors import directory_users_visible
from policies_app.services.directory import (
    directory_link_set,
    directory_roles_sync,
    scim_source,
)
from requests_app.services.deprovision import deprovision_locked
from requests_app.services.provisioning import provisioning_sync


@dataclass
class DirectoryUserAttrs:
    """What a provider says about a user (a whole SCIM User resource, after any PATCH)."""

    username: str
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    external_id: str = ""
    active: bool = True


class UserNameTaken(Conflict):
    code = "uniqueness"  # SCIM's scimType for a duplicate userName


def _check(attrs: DirectoryUserAttrs) -> None:
    if not isinstance(attrs.username, str) or not attrs.username:
        raise ValidationFailed("userName is required", field="userName")
    if refusal := username_refusal(attrs.username):
        raise ValidationFailed(refusal, field="userName")
    try:
        if attrs.email:
            validate_email(attrs.email)
    except ValidationError as e:
        raise ValidationFailed(f"{' '.join(e.messages)}", field="userName") from None
    for name in ("first_name", "last_name", "external_id"):
        if not isinstance(getattr(attrs, name), str) or len(getattr(attrs, name)) > 150:
            raise ValidationFailed(f"{name}: a string of at most 150 characters")


def _user_for_update(provider: str, user_id: object) -> AbstractBaseUser:
    """The user row, locked, if `provider` may manage it; NotFound otherwise."""
    visible = directory_users_visible(provider).filter(pk=user_id)
    user = get_user_model().objects.select_for_update(no_key=True).filter(pk__in=visible)
    found = user.first()
    if found is None:
        raise NotFound("no such user")
    return found


def _taken(username: str, but: object = None) -> None:
    # SCIM's userName is not case-exact (RFC 7643 section 4.1.1): "Dan" and "dan" are one.
    username_lock(username)  # two pushes at once: the second waits, then finds it taken
    if get_user_model().objects.filter(username__iexact=username).exclude(pk=but).exists():
        raise UserNameTaken(f"userName {username!r} is already taken", field="userName")


@retry_on_conflict
@transaction.atomic
def directory_user_save(
    *, provider: str, user_id: object | None, attrs: DirectoryUserAttrs
) -> AbstractBaseUser:
    """Create (`user_id` None) or bring up to date the account `attrs` describe, linked to
    `provider`. UserNameTaken (409) for a user name in use. Turning `active` off
    deprovisions; turning it on reactivates with the roles of the user's groups."""
    _check(attrs)
    source = scim_source(provider)
    audit: list[AuditEntry] = []
    fields = {
        "username": attrs.username,
        "email": attrs.email,
        "first_name": attrs.first_name,
        "last_name": attrs.last_name,
    }
    if user_id is None:
        _taken(attrs.username)
        user = get_user_model()(**fields, is_active=attrs.active)
        user.set_unusable_password()  # signs in through the provider, never by password
        user.save()
        directory_link_set(user, provider, attrs.external_id)
        data = {"provider": provider, **asdict(attrs)}
        audit.append(AuditEntry("user.scim_created", "user", user.get_username(), source, data))
        audit_record_many(audit)
        return user
    user = _user_for_update(provider, user_id)
    if user.username.lower() != attrs.username.lower():
        _taken(attrs.username, but=user.pk)
    changed = [name for name, value in fields.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, fields[name])
    if changed:
        user.save(update_fields=changed)
    changed += directory_link_set(user, provider, attrs.external_id)
    if changed:
        data = {"provider": provider, "changed": changed, **asdict(attrs)}
        audit.append(AuditEntry("user.scim_updated", "user", user.get_username(), source, data))
    if user.is_active and not attrs.active:
        reason = f"deactivated in the identity provider {provider}"
        deprovision_locked(user, actor=source, reason=reason, audit=audit)
        audit += directory_roles_sync([user], provider)
    elif attrs.active and not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
        data = {"provider": provider}
        audit.append(AuditEntry("user.reactivated", "user", user.get_username(), source, data))
        audit += directory_roles_sync([user], provider)
        provisioning_sync([user.pk])  # their standing roles take effect downstream again
    audit_record_many(audit)  # last: it takes the chain head
    return user


@retry_on_conflict
@transaction.atomic
def directory_user_delete(*, provider: str, user_id: object) -> None:
    """The provider deleted the user: deprovision, leave the provider's groups (and so
    their roles), and hide the account from the provider. The account stays, inactive."""
    source = scim_source(provider)
    user = _user_for_update(provider, user_id)
    audit: list[AuditEntry] = []
    reason = f"deleted in the identity provider {provider}"
    deprovision_locked(user, actor=source, reason=reason, audit=audit)
    groups = list(DirectoryGroup.objects.filter(provider=provider, members=user))
    for group in groups:
        group.members.remove(user)
    directory_link_set(user, provider, "")
    DirectoryUser.objects.filter(user=user).update(deleted=timezone.now())
    data = {"provider": provider, "groups": sorted(g.display_name for g in groups)}
    audit.append(AuditEntry("user.scim_deleted", "user", user.get_username(), source, data))
    audit += directory_roles_sync([user], provider)
    audit_record_many(audit)  # last: it takes the chain head
