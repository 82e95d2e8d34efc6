"""Review rules and on-call schedules in Django admin: the spec is edited as YAML, checked
exactly like a policy file, and saved through `review_document_save`
(policies_app.services.review_rules, audited)."""

from __future__ import annotations

import yaml
from django import forms
from django.contrib import admin, messages

from accessportal.kernel.errors import ValidationFailed
from policies_app.admin_proposals import ProposeWhenRequired, named_spec_plan
from policies_app.documents import export_oncall_schedule_spec, export_review_rule_spec
from policies_app.models import OncallSchedule, ReviewRule
from policies_app.services.review_rules import (
    review_document_check,
    review_document_delete,
    review_document_save,
)

RULE_HELP = """YAML, as under `spec:` in a policy file, e.g.<br><code>
roles: [ssh-prod]   # it reviews only requests whose every item is in roles/resources<br>
when: 'oncall("payments")'<br>
timezone: Europe/Berlin<br>
review: {state: APPROVED, reason: "on call for payments"}</code>"""
SCHEDULE_HELP = """YAML, one source, e.g.<br><code>pagerduty: {schedule_id: PABC123}</code>
or <code>opsgenie: {schedule: payments}</code> or <code>static: [alice, bob]</code>
(user names, not emails)"""


class _SpecForm(forms.ModelForm):
    kind = ""
    export = staticmethod(dict)
    spec_yaml = forms.CharField(
        label="Spec",
        widget=forms.Textarea(attrs={"rows": 10, "cols": 90, "style": "font-family: monospace"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            spec = self.export(self.instance.spec)
            self.initial["spec_yaml"] = yaml.safe_dump(spec, sort_keys=False)

    def clean_spec_yaml(self):
        try:
            spec = yaml.safe_load(self.cleaned_data["spec_yaml"])
        except yaml.YAMLError as err:
            raise forms.ValidationError(f"not valid YAML: {err}") from None
        if not isinstance(spec, dict):
            raise forms.ValidationError("the spec is a mapping")
        return spec

    def clean(self):
        """The same checks as a policy file; the service checks again when it saves."""
        cleaned = super().clean()
        if self.errors:
            return cleaned
        _, problems = review_document_check(
            kind=self.kind,
            name=cleaned.get("name"),
            description=cleaned.get("description") or "",
            spec=cleaned.get("spec_yaml"),
        )
        for problem in problems:
            self.add_error("name" if problem.startswith("name:") else "spec_yaml", problem)
        return cleaned

    def save(self, commit=True):
        return self.instance  # the admin saves through the service

    def save_m2m(self):
        pass


class ReviewRuleForm(_SpecForm):
    kind = "review_rule"
    export = staticmethod(export_review_rule_spec)

    class Meta:
        model = ReviewRule
        fields = ["name", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["spec_yaml"].help_text = RULE_HELP


class OncallScheduleForm(_SpecForm):
    kind = "oncall_schedule"
    export = staticmethod(export_oncall_schedule_spec)

    class Meta:
        model = OncallSchedule
        fields = ["name", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["spec_yaml"].help_text = SCHEDULE_HELP


class _SpecAdmin(ProposeWhenRequired, admin.ModelAdmin):
    kind = ""
    search_fields = ["name", "description"]
    readonly_fields = ["created", "updated"]
    fields = ["name", "description", "spec_yaml", "created", "updated"]

    def proposal_plan(self, request, obj, form, change):
        return named_spec_plan(self.kind, form)

    def save_model(self, request, obj, form, change):
        if self.propose_instead(request, obj, form, change):
            return
        row = review_document_save(
            kind=self.kind,
            name=form.cleaned_data["name"],
            description=form.cleaned_data.get("description", ""),
            spec=form.cleaned_data["spec_yaml"],
            actor=request.user,
            row_id=obj.pk if change else None,
        )
        obj.pk, obj.created, obj.updated = row.pk, row.created, row.updated

    def _delete(self, request, pk) -> None:
        try:
            review_document_delete(kind=self.kind, row_id=pk, actor=request.user)
        except ValidationFailed as err:
            messages.error(request, f"not deleted: {err}")

    def delete_model(self, request, obj):
        self._delete(request, obj.pk)

    def delete_queryset(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            self._delete(request, pk)


@admin.register(ReviewRule)
class ReviewRuleAdmin(_SpecAdmin):
    kind = "review_rule"
    form = ReviewRuleForm
    list_display = ["name", "when", "review", "updated"]

    @admin.display(description="when")
    def when(self, obj):
        return obj.spec.get("when", "")

    @admin.display(description="review")
    def review(self, obj):
        review = obj.spec.get("review", {})
        return f"{review.get('state', '?')}: {review.get('reason', '')}"


@admin.register(OncallSchedule)
class OncallScheduleAdmin(_SpecAdmin):
    kind = "oncall_schedule"
    form = OncallScheduleForm
    list_display = ["name", "source", "updated"]

    @admin.display(description="source")
    def source(self, obj):
        return ", ".join(f"{k}: {v}" for k, v in obj.spec.items())
