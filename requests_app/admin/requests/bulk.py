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
# At most this many requests at a time: the confirmation page posts one field per request,
# and Django refuses a POST of more than DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000) with a bare 400.
MAX_BULK = 200


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


def _form(request: HttpRequest, ready: list[dict], confirmed: bool) -> BulkReviewForm:
    """The reason form for these rows: required when one of the requests to review needs it."""
    return BulkReviewForm(
        request.POST if confirmed else None,
        reason_required=any(r["reason_required"] for r in ready),
    )


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
    selected = queryset.count()
    if selected > MAX_BULK:  # back to the list, before building a row per request
        modeladmin.message_user(
            request,
            f"{selected} requests selected: review at most {MAX_BULK} at a time "
            "(narrow the list with its filters or search).",
            messages.ERROR,
        )
        return None
    rows = _rows(request, queryset)
    ready = [r for r in rows if not r["skip"]]
    confirmed = request.POST.get("post") == "yes"
    form = _form(request, ready, confirmed)
    if not confirmed:
        return _page(modeladmin, request, rows, form, verdict, 200)
    if not form.is_valid():
        return _page(modeladmin, request, rows, form, verdict, 400)
    if not ready:  # the page says so ("None of the selected requests can be reviewed…")
        return _page(modeladmin, request, rows, form, verdict, 409)
    reason = form.cleaned_data["reason"]
    done = sum(review_one(request, row["obj"], verdict, reason) for row in ready)
    skipped = len(rows) - len(ready)
    summary = f"{done} of {len(ready)} requests reviewed."
    if skipped:
        summary += f" {skipped} skipped."
    if done < len(ready):
        # One changed under us (decided meanwhile, policy edited): keep the selection and
        # show it again, now with the fresh reasons to skip and a form for what is left.
        messages.warning(request, summary)
        # The same selection, read again: not the list's queryset, which on the queue no
        # longer holds what was just reviewed or decided.
        again = queryset.model.objects.visible_to(request.user)
        rows = _rows(request, again.filter(pk__in=[r["obj"].pk for r in rows]))
        form = _form(request, [r for r in rows if not r["skip"]], confirmed)
        return _page(modeladmin, request, rows, form, verdict, 409)
    modeladmin.message_user(request, summary, messages.SUCCESS)
    return None


@admin.action(description="Approve selected requests…", permissions=["review"])
def approve_selected(modeladmin, request, queryset):
    return _bulk_review(modeladmin, request, queryset, ReviewState.APPROVED)


@admin.action(description="Deny selected requests…", permissions=["review"])
def deny_selected(modeladmin, request, queryset):
    return _bulk_review(modeladmin, request, queryset, ReviewState.DENIED)
