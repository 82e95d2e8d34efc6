"""What every admin over requests, reviews, grants and audit events shares: read-only.

Nobody edits these rows by hand, superusers included: no add, change or delete, and no
"delete selected" action. Changes happen only through actions that call domain services.
Rows a user may not see are answered with 404, as everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponseRedirect

from accessportal.kernel.errors import DomainError

DESK_MEDIA_CSS = {"all": ["requests_app/desk.css"]}


class CheckedSelectionMixin:
    """Actions run only on well-formed ids: a posted selection that is not of the model's
    primary key type (a crafted `_selected_action=nope`) is refused with a message and the
    list again, where Django would filter on it and answer 500."""

    def response_action(self, request: HttpRequest, queryset):
        pk = self.model._meta.pk
        try:
            for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
                pk.to_python(value)
        except ValidationError:
            self.message_user(request, "Invalid selection.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


_EXPORTING = "_accessportal_export"


def _no_page(changelist, request: HttpRequest) -> None:
    """An export reads its own rows (keyset pages): no page of results and none of the
    change list's two COUNT(*) over the whole filtered table."""


class ExportChangeListMixin:
    """`export_queryset`: the change list's rows as filtered and searched on screen, built
    by the change list itself (so they always match) but without paginating or counting."""

    def get_changelist(self, request: HttpRequest, **kwargs):
        changelist = super().get_changelist(request, **kwargs)
        if getattr(request, _EXPORTING, False):
            return type(f"Export{changelist.__name__}", (changelist,), {"get_results": _no_page})
        return changelist

    def export_queryset(self, request: HttpRequest):
        """May raise IncorrectLookupParameters (a bad filter), as the change list does."""
        setattr(request, _EXPORTING, True)
        return self.get_changelist_instance(request).get_queryset(request)


class ReadOnlyAdmin(CheckedSelectionMixin, admin.ModelAdmin):
    """A read-only ModelAdmin whose queryset is the caller's visible rows."""

    list_per_page = 50

    class Media:
        css = DESK_MEDIA_CSS

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_module_permission(self, request: HttpRequest) -> bool:
        # Every staff member has some requests of their own; querysets do the restricting.
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_staff

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def visible_object(self, request: HttpRequest, object_id: str):
        """The object if the caller may see it; 404 otherwise (never a hint it exists)."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("no such object, or you may not see it")
        return obj

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self.visible_object(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self.visible_object(request, object_id)
        return super().history_view(request, object_id, extra_context)


def queue_action(
    *,
    description: str,
    permission: str,
    queue: Callable[[Any, Any], int],
    done: str,
    nothing: str | None = None,
) -> Callable:
    """An admin action handing the selected rows' ids and the user to a service that queues
    work (`queue(ids, actor)` returns how many it queued), and saying what it did: the
    service's refusal as an error, `done` (with `{count}`) when it queued something, else
    `nothing` as a warning (or `done` with 0 when there is no such message). Assign it in
    the ModelAdmin's class body; `permission` names its `has_<permission>_permission`."""

    @admin.action(description=description, permissions=[permission])
    def action(model_admin: admin.ModelAdmin, request: HttpRequest, queryset) -> None:
        try:
            count = queue(queryset.values_list("pk", flat=True), request.user)
        except DomainError as err:
            model_admin.message_user(request, err.message, messages.ERROR)
            return
        if count or nothing is None:
            model_admin.message_user(request, done.format(count=count))
        else:
            model_admin.message_user(request, nothing, messages.WARNING)

    return action
