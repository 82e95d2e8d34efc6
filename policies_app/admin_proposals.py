"""The two-person rule in the admin desk (README "Two-person rule for policy changes").

`ProposeWhenRequired`: with POLICY_CHANGES_REQUIRE_APPROVAL on, a save of a role, resource,
notification rule, review rule or on-call schedule becomes a proposal (nothing is written to
the policy), and deleting is not offered (a deletion is proposed with `apply_policies
--prune --propose`). `PolicyProposalAdmin`: the list, and the review page (the diff;
approve or reject with a reason; the proposer withdraws), each action one service call.
"""

from __future__ import annotations

import yaml
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accessportal.kernel.errors import DomainError
from policies_app.loader import PolicyFileError, PolicyPlan, plan_from_texts
from policies_app.models import PolicyProposal
from policies_app.services.proposals import (
    approval_required,
    may_approve_policy_changes,
    policy_proposal_approve,
    policy_proposal_create,
    policy_proposal_reject,
    policy_proposal_withdraw,
    proposal_lines,
    proposals_visible_to,
)

_DESK_CSS = {"all": ["requests_app/desk.css"]}


def named_spec_plan(kind: str, form) -> PolicyPlan:
    """One `kind` document (name, description, spec) from a spec-YAML admin form, checked
    by the loader as a file would be."""
    doc = {
        "kind": kind,
        "name": form.cleaned_data["name"],
        "description": form.cleaned_data.get("description", ""),
        "spec": form.cleaned_data["spec_yaml"],
    }
    return plan_from_texts([(f"admin ({kind})", yaml.safe_dump(doc, sort_keys=False))])


class ProposeWhenRequired:
    """Mixed into a policy model's admin, before ModelAdmin. Subclasses say how a valid form
    becomes a plan (`proposal_plan`)."""

    def proposal_plan(self, request, obj, form, change) -> PolicyPlan:
        raise NotImplementedError

    def has_delete_permission(self, request, obj=None):
        return not approval_required() and super().has_delete_permission(request, obj)

    def propose_instead(self, request, obj, form, change) -> bool:
        """Called first by the admin's `save_model`: under the two-person rule, store the
        change as a proposal and answer True (the caller then saves nothing)."""
        if not approval_required():
            return False
        if change and "name" in form.changed_data:
            raise PolicyFileError(["renaming is not proposed: propose a new document instead"])
        plan = self.proposal_plan(request, obj, form, change)
        what = f"{'changed' if change else 'new'} {self.model._meta.verbose_name} {obj}"
        request.policy_proposal = policy_proposal_create(
            plan=plan, proposer=request.user, source="admin", summary=f"admin: {what}"
        )
        return True

    def save_related(self, request, form, formsets, change):
        if not getattr(request, "policy_proposal", None):
            super().save_related(request, form, formsets, change)

    def log_addition(self, request, obj, message):
        if not getattr(request, "policy_proposal", None):
            return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if not getattr(request, "policy_proposal", None):
            return super().log_change(request, obj, message)

    def _proposed(self, request) -> HttpResponse:
        proposal = request.policy_proposal
        self.message_user(
            request,
            f"Nothing was saved yet: your change is proposal {proposal.pk}, which another "
            "person must approve (two-person rule).",
            messages.WARNING,
        )
        url = reverse("admin:policies_app_policyproposal_change", args=[proposal.pk])
        return HttpResponseRedirect(url)

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "policy_proposal", None):
            return self._proposed(request)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "policy_proposal", None):
            return self._proposed(request)
        return super().response_change(request, obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except PolicyFileError as err:
            self.message_user(request, "; ".join(err.problems), messages.ERROR)
        except DomainError as err:  # a proposal that changes nothing
            self.message_user(request, err.message, messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())


class DecisionForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required to reject.",
    )


@admin.register(PolicyProposal)
class PolicyProposalAdmin(admin.ModelAdmin):
    list_display = ["id", "state", "summary", "proposed_by", "created", "decided_by"]
    list_filter = ["state", "source"]
    list_select_related = ["proposed_by", "decided_by"]
    ordering = ["-created", "-id"]

    class Media:
        css = _DESK_CSS

    def get_queryset(self, request):
        return proposals_visible_to(request.user)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "<int:proposal_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="policies_app_policyproposal_decide",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The admin's own lookup: a malformed id ("abc") is None, as is an unseen one.
        proposal = self.get_object(request, unquote(object_id))
        if proposal is None:
            raise Http404("no such policy proposal")
        mine = proposal.proposed_by_id == request.user.pk
        pending = proposal.state == PolicyProposal.State.PENDING
        context = {
            **self.admin_site.each_context(request),
            "title": f"Policy proposal {proposal.pk}",
            "opts": self.model._meta,
            "proposal": proposal,
            "lines": proposal_lines(proposal),
            "form": DecisionForm(),
            "may_decide": pending and not mine and may_approve_policy_changes(request.user),
            "may_withdraw": pending and mine,
            "mine": mine,
            "decide_url": reverse("admin:policies_app_policyproposal_decide", args=[proposal.pk]),
        }
        return TemplateResponse(request, "admin/policies_app/policyproposal/review.html", context)

    def decide_view(self, request: HttpRequest, proposal_id: int) -> HttpResponse:
        if request.method != "POST":
            raise PermissionDenied
        back = reverse("admin:policies_app_policyproposal_change", args=[proposal_id])
        form = DecisionForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        action = request.POST.get("action")
        try:
            if action == "approve":
                summary = policy_proposal_approve(
                    proposal_id=proposal_id, approver=request.user, reason=reason
                )
                self.message_user(request, f"Applied: {summary.lines()[-1]}.", messages.SUCCESS)
            elif action == "reject":
                policy_proposal_reject(
                    proposal_id=proposal_id, approver=request.user, reason=reason
                )
                self.message_user(request, "Rejected; nothing was changed.", messages.SUCCESS)
            elif action == "withdraw":
                policy_proposal_withdraw(proposal_id=proposal_id, user=request.user)
                self.message_user(request, "Withdrawn.", messages.SUCCESS)
            else:
                self.message_user(request, "Unknown action.", messages.ERROR)
        except DomainError as err:
            if err.status == 404:
                raise PermissionDenied from None
            self.message_user(request, err.message, messages.ERROR)
        except PolicyFileError as err:
            self.message_user(request, "; ".join(err.problems), messages.ERROR)
        return HttpResponseRedirect(back)
