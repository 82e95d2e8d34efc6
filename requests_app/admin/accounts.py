"""Django's stock User and Group admin, audited: every privilege it hands out or takes away
(superuser, staff and active flags, groups, user and group permissions, passwords) is an
audit event in the same transaction, with the admin as actor (services/accounts.py).
Unticking "active" deprovisions the person (services/deprovision.py). The user page also
shows the standing roles with what gives each (policy, sso:<provider>, scim:<provider>)
and the traits."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import router, transaction
from django.utils.html import format_html_join

from policies_app.selectors import role_sources, user_traits
from requests_app.services.accounts import (
    account_changes_audit,
    account_state_for_update,
    accounts_delete_audited,
    group_changes_audit,
    group_state_for_update,
    groups_delete_audited,
)
from requests_app.services.deprovision import user_deprovision
from requests_app.services.visibility import accounts_profiles_sync

# Where save_model leaves the locked "before" snapshot for save_related, on this request.
# ModelAdmin instances are shared by every request, so the request carries it.
_BEFORE = "_accessportal_audit_before"


class AuditedUserAdmin(UserAdmin):
    """Django's own admin runs the add and change forms in one transaction: the snapshot is
    taken (and the row locked) before the save, the event written after the groups and
    permissions are saved."""

    def save_model(self, request, obj, form, change):
        setattr(request, _BEFORE, account_state_for_update(obj.pk) if change else None)
        super().save_model(request, obj, form, change)

    readonly_fields = ["access_roles", "access_traits", "last_login", "date_joined"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [
            *fieldsets,
            ("Access Portal", {"fields": ["access_roles", "access_traits"]}),
        ]

    @admin.display(description="standing roles (and what gives each)")
    def access_roles(self, obj) -> str:
        rows = role_sources(obj).items()
        if not rows:
            return "—"
        return format_html_join(
            ", ", "{} ({})", ((name, ", ".join(sources)) for name, sources in rows)
        )

    @admin.display(description="traits")
    def access_traits(self, obj) -> str:
        traits = user_traits(obj)
        if not traits:
            return "—"
        return format_html_join(
            "; ", "{}: {}", ((k, ", ".join(v)) for k, v in sorted(traits.items()))
        )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            # Reviewer profile groups follow roles and traits; nobody picks them by hand.
            kwargs["queryset"] = Group.objects.filter(reviewer_profile__isnull=True)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        before = getattr(request, _BEFORE)
        if before is not None and before.is_active and not form.instance.is_active:
            # Before the account event: both append to the audit chain, whose head is
            # taken last, and deprovisioning locks the person's requests first.
            user_deprovision(
                user_id=form.instance.pk, actor=request.user, reason="account deactivated"
            )
        # The form rewrote the group list without profile groups, and may have changed the
        # active flag: recompute the account's reviewer profile before the audit append.
        accounts_profiles_sync(user_ids=[form.instance.pk])
        account_changes_audit(actor=request.user, user_id=form.instance.pk, before=before)

    def user_change_password(self, request, id, form_url=""):
        # Django's password view has no transaction of its own: give it one, so the new
        # password and its event commit together.
        with transaction.atomic(using=router.db_for_write(self.model)):
            pk = unquote(id)
            before = account_state_for_update(pk) if request.method == "POST" else None
            response = super().user_change_password(request, id, form_url)
            if before is not None:
                account_changes_audit(actor=request.user, user_id=pk, before=before)
        return response

    def delete_model(self, request, obj):
        accounts_delete_audited(
            actor=request.user,
            user_ids=[obj.pk],
            delete=lambda: super(AuditedUserAdmin, self).delete_model(request, obj),
        )

    def delete_queryset(self, request, queryset):
        accounts_delete_audited(
            actor=request.user,
            user_ids=list(queryset.values_list("pk", flat=True)),
            delete=lambda: super(AuditedUserAdmin, self).delete_queryset(request, queryset),
        )


class AuditedGroupAdmin(GroupAdmin):
    def get_queryset(self, request):
        # Reviewer profile groups are a projection of roles and traits (policies_app), not
        # edited here: their object permissions on requests show on each request's page.
        return super().get_queryset(request).filter(reviewer_profile__isnull=True)

    def save_model(self, request, obj, form, change):
        setattr(request, _BEFORE, group_state_for_update(obj.pk) if change else None)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        group_changes_audit(
            actor=request.user, group_id=form.instance.pk, before=getattr(request, _BEFORE)
        )

    def delete_model(self, request, obj):
        groups_delete_audited(
            actor=request.user,
            group_ids=[obj.pk],
            delete=lambda: super(AuditedGroupAdmin, self).delete_model(request, obj),
        )

    def delete_queryset(self, request, queryset):
        groups_delete_audited(
            actor=request.user,
            group_ids=list(queryset.values_list("pk", flat=True)),
            delete=lambda: super(AuditedGroupAdmin, self).delete_queryset(request, queryset),
        )


for model, model_admin in ((get_user_model(), AuditedUserAdmin), (Group, AuditedGroupAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
