"""Notification rules in Django admin: the spec is edited as YAML, checked exactly like a
policy file, and saved through `notification_rule_save` (policies_app.services.notification_rules,
audited)."""

from __future__ import annotations

import yaml
from django import forms
from django.contrib import admin

from policies_app.admin_proposals import ProposeWhenRequired, named_spec_plan
from policies_app.documents import (
    export_notification_rule_spec,
    normalize_notification_rule,
)
from policies_app.models import NotificationRule
from policies_app.services.notification_rules import (
    notification_rule_delete,
    notification_rule_save,
)

SPEC_HELP = """YAML, as under `spec:` in a policy file, e.g.<br><code>
events: [request.created]<br>
condition: 'contains(request.roles, "db-admin")'<br>
channels:<br>
&nbsp;&nbsp;- {type: email, to: [security@example.com, carol]}<br>
&nbsp;&nbsp;- {type: slack, url_env: SLACK_WEBHOOK_URL}<br>
&nbsp;&nbsp;- {type: webhook, url: https://siem.example.com/hook, secret_env: SIEM_SECRET}</code>"""


class NotificationRuleForm(forms.ModelForm):
    spec_yaml = forms.CharField(
        label="Spec",
        widget=forms.Textarea(attrs={"rows": 14, "cols": 90, "style": "font-family: monospace"}),
        help_text=SPEC_HELP,
    )

    class Meta:
        model = NotificationRule
        fields = ["name", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            spec = export_notification_rule_spec(self.instance.spec)
            self.initial["spec_yaml"] = yaml.safe_dump(spec, sort_keys=False)

    def clean_spec_yaml(self):
        try:
            spec = yaml.safe_load(self.cleaned_data["spec_yaml"])
        except yaml.YAMLError as err:
            raise forms.ValidationError(f"not valid YAML: {err}") from None
        if not isinstance(spec, dict):
            raise forms.ValidationError("the spec is a mapping (events, condition, channels)")
        return spec

    def clean(self):
        """The same checks as a policy file, so every problem shows on the form; the
        service checks again when it saves."""
        cleaned = super().clean()
        if self.errors:
            return cleaned
        doc, problems = normalize_notification_rule(
            {
                "kind": "notification_rule",
                "name": cleaned.get("name"),
                "description": cleaned.get("description") or "",
                "spec": cleaned.get("spec_yaml"),
            }
        )
        for problem in problems:
            field = "name" if problem.field == "name" else "spec_yaml"
            self.add_error(field, str(problem))
        return cleaned

    def save(self, commit=True):
        # NotificationRuleAdmin.save_model saves through the service instead.
        return self.instance

    def save_m2m(self):
        pass  # no many-to-many fields


@admin.register(NotificationRule)
class NotificationRuleAdmin(ProposeWhenRequired, admin.ModelAdmin):
    form = NotificationRuleForm
    list_display = ["name", "events", "channel_types", "condition", "updated"]
    search_fields = ["name", "description"]
    readonly_fields = ["created", "updated"]
    fields = ["name", "description", "spec_yaml", "created", "updated"]

    @admin.display(description="events")
    def events(self, obj):
        return ", ".join(obj.spec.get("events") or []) or "every event"

    @admin.display(description="channels")
    def channel_types(self, obj):
        return ", ".join(c.get("type", "?") for c in obj.spec.get("channels", []))

    @admin.display(description="condition")
    def condition(self, obj):
        return obj.spec.get("condition") or "—"

    def proposal_plan(self, request, obj, form, change):
        return named_spec_plan("notification_rule", form)

    def save_model(self, request, obj, form, change):
        if self.propose_instead(request, obj, form, change):
            return
        rule = notification_rule_save(
            name=form.cleaned_data["name"],
            description=form.cleaned_data.get("description", ""),
            spec=form.cleaned_data["spec_yaml"],
            actor=request.user,
            rule_id=obj.pk if change else None,
        )
        obj.pk, obj.created, obj.updated = rule.pk, rule.created, rule.updated

    def delete_model(self, request, obj):
        notification_rule_delete(rule_id=obj.pk, actor=request.user)

    def delete_queryset(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            notification_rule_delete(rule_id=pk, actor=request.user)
