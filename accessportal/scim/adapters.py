"""django-scim2 adapters: a SCIM User is a Django account (plus its link to the provider),
a SCIM Group is a DirectoryGroup. Reading is the library's; every write (POST, PUT, PATCH,
DELETE) reads the request into what a domain service takes and calls it once."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django_scim.adapters import SCIMGroup, SCIMUser

from accessportal.scim.errors import bad_request, domain_errors
from accessportal.scim.patch import (
    group_change,
    member_ids,
    primary_email,
    truthy,
    user_apply_operations,
)
from policies_app.models import DirectoryGroup
from policies_app.services.directory import (
    MemberOp,
    directory_group_create,
    directory_group_delete,
    directory_group_update,
)
from requests_app.services.directory_users import (
    DirectoryUserAttrs,
    directory_user_delete,
    directory_user_save,
)


def _external_id(user) -> str:
    link = getattr(user, "directory_link", None) if user.pk else None
    return link.external_id if link is not None else ""


class PortalSCIMUser(SCIMUser):
    id_field = "id"  # the account's primary key

    def __init__(self, obj, request=None):
        super().__init__(obj, request)
        obj.scim_external_id = _external_id(obj)

    @property
    def groups(self) -> list[dict]:
        if not self.obj.pk:
            return []
        groups = getattr(self.obj, "provider_groups", None)  # prefetched by scoping.users_of
        if groups is None:
            provider = self.request.scim_provider
            groups = DirectoryGroup.objects.filter(provider=provider, members=self.obj)
        return [{"value": g.pk, "display": g.display_name} for g in groups]

    def current_attrs(self) -> DirectoryUserAttrs:
        return DirectoryUserAttrs(
            username=self.obj.username,
            email=self.obj.email,
            first_name=self.obj.first_name,
            last_name=self.obj.last_name,
            external_id=_external_id(self.obj),
            active=self.obj.is_active,
        )

    def validate_dict(self, d: dict) -> None:
        if "active" in d:
            truthy(d["active"])

    def from_dict(self, d: dict) -> None:
        """POST and PUT: the whole resource (a PUT without `active` keeps it)."""
        name = d.get("name") or {}
        if not isinstance(name, dict):
            raise bad_request("name must be an object")
        username = d.get("userName")
        if not isinstance(username, str) or not username.strip():
            raise bad_request("userName is required")
        keep = self.obj.is_active or not self.obj.pk
        self.attrs = DirectoryUserAttrs(
            username=username.strip(),
            email=primary_email(d.get("emails")),
            first_name=name.get("givenName") or "",
            last_name=name.get("familyName") or "",
            external_id=d.get("externalId") or "",
            active=truthy(d["active"]) if "active" in d else keep,
        )

    def save(self) -> None:
        with domain_errors():
            user = directory_user_save(
                provider=self.request.scim_provider, user_id=self.obj.pk, attrs=self.attrs
            )
        self.obj = get_user_model().objects.select_related("directory_link").get(pk=user.pk)
        self.obj.scim_external_id = _external_id(self.obj)

    def handle_operations(self, operations: list[dict]) -> None:
        self.attrs = user_apply_operations(self.current_attrs(), operations)
        self.save()

    def delete(self) -> None:
        with domain_errors():
            directory_user_delete(provider=self.request.scim_provider, user_id=self.obj.pk)


class PortalSCIMGroup(SCIMGroup):
    id_field = "id"

    def __init__(self, obj, request=None):
        super().__init__(obj, request)
        obj.scim_external_id = obj.external_id

    @property
    def display_name(self) -> str:
        return self.obj.display_name

    @property
    def members(self) -> list[dict]:
        if not self.obj.pk:
            return []
        return [
            {"value": str(u.pk), "display": u.get_username()}
            for u in sorted(self.obj.members.all(), key=lambda u: u.pk)
        ]

    def from_dict(self, d: dict) -> None:
        self.payload = {
            "display_name": d.get("displayName"),
            "external_id": d.get("externalId") or "",
            "member_ids": member_ids(d.get("members")),
        }

    def save(self) -> None:
        provider = self.request.scim_provider
        with domain_errors():
            if DirectoryGroup.objects.filter(pk=self.obj.pk).exists():  # PUT
                p = self.payload
                self.obj = directory_group_update(
                    provider=provider,
                    group_id=self.obj.pk,
                    display_name=p["display_name"],
                    external_id=p["external_id"],
                    member_ops=[MemberOp("replace", p["member_ids"])],
                )
            else:
                self.obj = directory_group_create(provider=provider, **self.payload)
        self.obj.scim_external_id = self.obj.external_id

    def handle_operations(self, operations: list[dict]) -> None:
        change = group_change(operations)
        with domain_errors():
            self.obj = directory_group_update(
                provider=self.request.scim_provider,
                group_id=self.obj.pk,
                display_name=change.display_name,
                external_id=change.external_id,
                member_ops=change.member_ops,
            )
        self.obj.scim_external_id = self.obj.external_id

    def delete(self) -> None:
        with domain_errors():
            directory_group_delete(provider=self.request.scim_provider, group_id=self.obj.pk)
