"""What the calling provider sees, hooked into django-scim2's getters: users it manages or
may adopt (policies_app.selectors.directory_users_visible), its own groups; anything else
is 404. Also the base URL of `location`s: the host the provider called."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest

from accessportal.scim.errors import SCIMError
from policies_app.models import DirectoryGroup
from policies_app.selectors import directory_users_visible


def users_of(request: HttpRequest) -> QuerySet:
    """With each user's link and groups at this provider (`provider_groups`), for listing
    without a query per user."""
    provider = request.scim_provider
    groups = Prefetch(
        "directory_groups",
        queryset=DirectoryGroup.objects.filter(provider=provider),
        to_attr="provider_groups",
    )
    visible = directory_users_visible(provider)
    return visible.select_related("directory_link").prefetch_related(groups).order_by("pk")


def groups_of(request: HttpRequest) -> QuerySet:
    groups = DirectoryGroup.objects.filter(provider=request.scim_provider)
    return groups.prefetch_related("members").order_by("pk")


def _is_group(model) -> bool:
    return model is DirectoryGroup


def base_location(request: HttpRequest | None = None, *args, **kwargs) -> str:
    return f"{request.scheme}://{request.get_host()}" if request is not None else ""


def extra_filter_kwargs_getter(model):
    """Refuse an id that is not of the model's form before the lookup (a text id on the
    integer user key would otherwise fail in the database)."""

    def get_extra_filter_kwargs(request, uuid=None, *args, **kwargs) -> dict:
        text = str(uuid)
        if uuid is not None and not _is_group(model) and not (text.isdigit() and len(text) < 18):
            raise SCIMError(404, f"Resource {uuid} not found")
        return {}

    return get_extra_filter_kwargs


def object_post_processor_getter(model):
    def get_object_post_processor(request, obj, *args, **kwargs):
        scoped = groups_of(request) if _is_group(model) else users_of(request)
        found = scoped.filter(pk=obj.pk).first()
        if found is None:
            raise SCIMError(404, f"Resource {obj.pk} not found")
        return found

    return get_object_post_processor


def queryset_post_processor_getter(model):
    def get_queryset_post_processor(request, qs, *args, **kwargs):
        scoped = groups_of(request) if _is_group(model) else users_of(request)
        return scoped.filter(pk__in=qs.values("pk"))

    return get_queryset_post_processor
