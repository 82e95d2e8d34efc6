"""The Approve / Deny selected actions of the queue and the list of requests.

One confirmation page asks for one reason; each request is then reviewed in turn through
`review_submit`, so each applies its own rules (reason required, the caller's right).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accessportal.kernel.choices import ReviewState
from requests_app.admin import display
from requests_app.admin.forms import BulkReviewForm
from requests_app.admin.requests.outcomes import review_one
from requests_app.services.reviews import review_reason_required

BULK_TEMPLATE = "admin/requests_app/accessrequest/bulk_review.html"


def _bulk_review(modeladmin, request: HttpRequest, queryset: QuerySet, verdict: str):
    """Confirm the selection and ask for one reason; then review each request in turn."""
    queryset = queryset.select_related("user").prefetch_related("reviews").order_by("created")
    action = "approve_selected" if verdict == ReviewState.APPROVED else "deny_selected"
    if request.POST.get("post") == "yes":
        form = BulkReviewForm(request.POST)
        if form.is_valid():
            done = sum(
                review_one(request, obj, verdict, form.cleaned_data["reason"]) for obj in queryset
            )
            total = queryset.count()
            level = messages.SUCCESS if done == total else messages.WARNING
            modeladmin.message_user(request, f"{done} of {total} requests reviewed.", level)
            return None
    else:
        form = BulkReviewForm()
    rows = [
        {
            "obj": obj,
            "url": display.request_page_url(obj),
            "items": display.items(obj),
            "reason_required": review_reason_required(obj),
            "progress": display.progress_html(obj, obj.reviews.all()),
        }
        for obj in queryset
    ]
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"{'Approve' if verdict == ReviewState.APPROVED else 'Deny'} "
        f"{len(rows)} request{'s' if len(rows) != 1 else ''}",
        "opts": modeladmin.model._meta,
        "rows": rows,
        "form": form,
        "action": action,
        "verdict": verdict,
        "approve": verdict == ReviewState.APPROVED,
        "any_reason_required": any(r["reason_required"] for r in rows),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, BULK_TEMPLATE, context, status=400 if form.is_bound else 200)


@admin.action(description="Approve selected requests…")
def approve_selected(modeladmin, request, queryset):
    return _bulk_review(modeladmin, request, queryset, ReviewState.APPROVED)


@admin.action(description="Deny selected requests…")
def deny_selected(modeladmin, request, queryset):
    return _bulk_review(modeladmin, request, queryset, ReviewState.DENIED)
