"""`{{ moment|when }}`: a moment as people read it everywhere in the portal and the desk,
"30 Nov 2026, 17:44 UTC" in the active zone (the browser's, once its `tz` cookie is set),
inside a <time> element whose datetime attribute is exact, for machines and screen readers."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()


@register.filter
def when(moment: datetime | None):
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    return format_html(
        '<time datetime="{}">{}</time>',
        local.isoformat(timespec="seconds"),
        date_filter(local, "DATETIME_FORMAT"),
    )
