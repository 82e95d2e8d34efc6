"""The Approve / Deny selected actions of the queue and the list of requests.

A confirmation page comes first: it lists the requests that will be reviewed and, apart,
the ones that will be skipped and why (`details.why_not_reviewable`, the review service's
own checks), and asks for one reason, required when one of the requests to review needs
it. Nothing is reviewed until the reviewer confirms; then each request is reviewed in turn
through `review_submit`, which checks everything again under the request lock. A refusal
(bad input, or a request decided meanwhile) shows the page again with the same selection.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accessportal.kernel.choices import ReviewState
from policies_app.engine import PolicySet
from policies_app.selectors import subject_for
from requests_app.admin import display
from requests_app.admin.details import why_not_reviewable
from requests_app.admin.forms import BulkReviewForm
from requests_app.admin.requests.outcomes import review_one
from requests_app.services.reviews import review_reason_required

BULK_TEMPLATE = "admin/requests_app/accessrequest/bulk_review.html"


def _rows(request: HttpRequest, queryset: QuerySet) -> list[dict]:
    """The selected requests the user may see, each with why it would be skipped ("" if not)."""
    subject = subject_for(request.user, PolicySet.load())
    selected = queryset.select_related("user").prefetch_related("reviews").order_by("created")
    return [
        {
            "obj": obj,
            "url": display.request_page_url(obj),
            "items": display.items(obj),
            "reason_required": review_reason_required(obj),
            "progress": display.progress_html(obj, obj.reviews.all()),
            "skip": why_not_reviewable(
                obj, request.user, subject=subject, reviews=obj.reviews.all()
            ),
        }
        for obj in selected
    ]


def _page(modeladmin, request, rows, form, verdict, status) -> TemplateResponse:
    ready = [r for r in rows if not r["skip"]]
    approve = verdict == ReviewState.APPROVED
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"{'Approve' if approve else 'Deny'} {len(ready)} of {len(rows)} selected "
        f"request{'s' if len(rows) != 1 else ''}",
        "opts": modeladmin.model._meta,
        "rows": rows,
        "ready": ready,
        "skipped": [r for r in rows if r["skip"]],
        "form": form,
        "action": "approve_selected" if approve else "deny_selected",
        "approve": approve,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, BULK_TEMPLATE, context, status=status)


def _bulk_review(modeladmin, request: HttpRequest, queryset: QuerySet, verdict: str):
    """Confirm the selection and ask for one reason; then review each request in turn."""
    rows = _rows(request, queryset)
    ready = [r for r in rows if not r["skip"]]
    confirmed = request.POST.get("post") == "yes"
    form = BulkReviewForm(
        request.POST if confirmed else None,
        reason_required=any(r["reason_required"] for r in ready),
    )
    if not confirmed:
        return _page(modeladmin, request, rows, form, verdict, 200)
    if not form.is_valid():
        return _page(modeladmin, request, rows, form, verdict, 400)
    if not ready:
        messages.error(request, "None of the selected requests can be reviewed by you.")
        return _page(modeladmin, request, rows, form, verdict, 409)
    reason = form.cleaned_data["reason"]
    done = sum(review_one(request, row["obj"], verdict, reason) for row in ready)
    skipped = len(rows) - len(ready)
    summary = f"{done} of {len(ready)} requests reviewed."
    if skipped:
        summary += f" {skipped} skipped."
    if done < len(ready):
        # One changed under us (decided meanwhile, policy edited): keep the selection and
        # show it again, now with the fresh reasons to skip.
        messages.warning(request, summary)
        return _page(modeladmin, request, _rows(request, queryset), form, verdict, 409)
    modeladmin.message_user(request, summary, messages.SUCCESS)
    return None


@admin.action(description="Approve selected requests…", permissions=["review"])
def approve_selected(modeladmin, request, queryset):
    return _bulk_review(modeladmin, request, queryset, ReviewState.APPROVED)


@admin.action(description="Deny selected requests…", permissions=["review"])
def deny_selected(modeladmin, request, queryset):
    return _bulk_review(modeladmin, request, queryset, ReviewState.DENIED)
