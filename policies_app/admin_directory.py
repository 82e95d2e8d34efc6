"""Directory sync in Django admin, read-only: the providers' SCIM tokens (when minted and
last used, never the key: `manage.py scim_token` mints and revokes them, audited) and the
groups providers pushed, with their members. The providers own this data; nobody edits it
here."""

from __future__ import annotations

from django.contrib import admin

from policies_app.models import DirectoryGroup, DirectoryToken


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Shown, never edited here: the rows are written by services and the provider."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DirectoryToken)
class DirectoryTokenAdmin(ReadOnlyModelAdmin):
    list_display = ["provider", "created", "last_used"]
    fields = ["provider", "created", "last_used"]


@admin.register(DirectoryGroup)
class DirectoryGroupAdmin(ReadOnlyModelAdmin):
    list_display = ["display_name", "provider", "external_id", "member_count"]
    list_filter = ["provider"]
    search_fields = ["display_name", "external_id"]
    fields = ["id", "provider", "display_name", "external_id", "members", "created", "updated"]

    @admin.display(description="members")
    def member_count(self, obj: DirectoryGroup) -> int:
        return obj.members.count()
