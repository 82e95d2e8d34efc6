"""Privileges handed out outside policy files: what Django's stock User and Group admin
change (superuser, staff and active flags, group membership, user and group permissions,
passwords) is recorded in the audit log like every other change, with the admin as actor.

The admin screens take a locked snapshot before they save (`*_state_for_update`) and call
`*_changes_audit` after, inside the admin's own transaction: the change and its event
commit together. A password is recorded as set, changed or disabled, never its hash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction

from accessportal.kernel.audit import AuditEntry, audit_record, audit_record_many


def _perm_names(permissions) -> tuple[str, ...]:
    return tuple(
        sorted(
            f"{app}.{codename}"
            for app, codename in permissions.values_list("content_type__app_label", "codename")
        )
    )


@dataclass(frozen=True)
class AccountState:
    """A user's privileges at one moment. `password` is the hash, compared, never audited."""

    username: str
    is_superuser: bool
    is_staff: bool
    is_active: bool
    groups: tuple[str, ...]
    user_permissions: tuple[str, ...]
    password: str = field(repr=False)

    def recorded(self) -> dict[str, Any]:
        data = _lists(asdict(self))
        data["password"] = "set" if _usable(self.password) else "unusable"
        return data


@dataclass(frozen=True)
class GroupState:
    name: str
    permissions: tuple[str, ...]
    members: tuple[str, ...]

    def recorded(self) -> dict[str, Any]:
        return _lists(asdict(self))


def _lists(data: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _usable(password_hash: str) -> bool:
    return bool(password_hash) and not password_hash.startswith("!")


def account_state_for_update(user_id: object) -> AccountState | None:
    """Lock the account row and read its privileges; None if there is no such user.
    Two admins saving one account at once are serialized here: each diff is against what
    the other committed."""
    user = get_user_model().objects.select_for_update(no_key=True).filter(pk=user_id).first()
    if user is None:
        return None
    return AccountState(
        username=user.get_username(),
        is_superuser=bool(getattr(user, "is_superuser", False)),
        is_staff=bool(getattr(user, "is_staff", False)),
        is_active=bool(user.is_active),
        groups=tuple(sorted(user.groups.values_list("name", flat=True))),
        user_permissions=_perm_names(user.user_permissions),
        password=user.password,
    )


def group_state_for_update(group_id: object) -> GroupState | None:
    group = Group.objects.select_for_update(no_key=True).filter(pk=group_id).first()
    if group is None:
        return None
    members = get_user_model().objects.filter(groups=group)
    return GroupState(
        name=group.name,
        permissions=_perm_names(group.permissions),
        members=tuple(sorted(u.get_username() for u in members)),
    )


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """{field: [old, new]} for values, {field: {"added": [...], "removed": [...]}} for sets."""
    changes: dict[str, Any] = {}
    for name, new in after.items():
        old = before.get(name)
        if old == new:
            continue
        if isinstance(new, (tuple, list)):
            changes[name] = {
                "added": sorted(set(new) - set(old or ())),
                "removed": sorted(set(old or ()) - set(new)),
            }
        else:
            changes[name] = [old, new]
    return changes


def _password_change(before: AccountState, after: AccountState) -> str | None:
    if before.password == after.password:
        return None
    if not _usable(after.password):
        return "disabled"
    return "changed" if _usable(before.password) else "set"


@transaction.atomic
def account_changes_audit(
    *, actor: AbstractBaseUser, user_id: object, before: AccountState | None
) -> bool:
    """Record what an admin changed on an account since `before` (None: they created it):
    one event, or none when nothing privileged changed. False when nothing was recorded."""
    after = account_state_for_update(user_id)
    if after is None:
        return False
    if before is None:
        action, data = "account.created", after.recorded()
    else:
        fields = {k: v for k, v in asdict(after).items() if k != "password"}
        changes = _diff({k: v for k, v in asdict(before).items() if k != "password"}, fields)
        if password := _password_change(before, after):
            changes["password"] = password
        if not changes:
            return False
        action, data = "account.changed", {"user": after.username, "changes": changes}
    audit_record(action=action, target_type="user", target_id=str(user_id), actor=actor, data=data)
    return True


@transaction.atomic
def group_changes_audit(
    *, actor: AbstractBaseUser, group_id: object, before: GroupState | None
) -> bool:
    """Like `account_changes_audit`, for a group's name and permissions."""
    after = group_state_for_update(group_id)
    if after is None:
        return False
    if before is None:
        action, data = "group.created", after.recorded()
    else:
        changes = _diff(before.recorded(), after.recorded())
        if not changes:
            return False
        # Members are listed so the event says whose permissions changed.
        action = "group.changed"
        data = {"group": after.name, "members": list(after.members), "changes": changes}
    audit_record(
        action=action, target_type="group", target_id=str(group_id), actor=actor, data=data
    )
    return True


def _deletion_audited(actor, action, target_type, ids, snapshot, delete) -> None:
    # Snapshots first (each row locked), then the deletion, then the events: the audit
    # chain head is taken last, as by every service (accessportal/kernel/locking.py).
    entries = [
        AuditEntry(action, target_type, str(pk), actor, state.recorded())
        for pk in ids
        if (state := snapshot(pk)) is not None
    ]
    delete()
    audit_record_many(entries)


@transaction.atomic
def accounts_delete_audited(
    *, actor: AbstractBaseUser, user_ids: Iterable[object], delete: Callable[[], object]
) -> None:
    """Delete accounts with `delete()` (the admin's own deletion) and record what each held.
    One transaction: Django's "delete selected" action runs outside any, and a deletion
    that fails must leave no event saying it happened."""
    _deletion_audited(actor, "account.deleted", "user", user_ids, account_state_for_update, delete)


@transaction.atomic
def groups_delete_audited(
    *, actor: AbstractBaseUser, group_ids: Iterable[object], delete: Callable[[], object]
) -> None:
    """Like `accounts_delete_audited`, for groups."""
    _deletion_audited(actor, "group.deleted", "group", group_ids, group_state_for_update, delete)
