"""Portal forms. They collect input and keep what the user typed; the domain services decide.

Choice fields accept any posted value on purpose: whether a role or resource may be
requested is the service's question, and its answer (e.g. "you may not request the role
'x'") is shown on the form in place of a generic "select a valid choice".
"""

from __future__ import annotations

from django import forms

from accessportal.kernel.errors import DomainError
from policies_app.catalog import parse_label_filter

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class OpenMultipleChoiceField(forms.MultipleChoiceField):
    """Checkboxes whose posted values are passed on as they are, for the service to judge."""

    def valid_value(self, value: str) -> bool:
        return True


def _capfirst(text: str) -> str:
    return text[:1].upper() + text[1:]


def add_domain_error(form: forms.Form, err: DomainError, *, fields: dict | None = None) -> None:
    """Show a service's refusal on the form: under the field it names, else at the top.
    A message that opens with the API's field name ("max_duration may be at most 14d")
    names the field as the form labels it ("“For how long” may be at most 14d")."""
    field = (fields or {}).get(err.field, err.field)
    message = err.message
    if field in form.fields:
        label = form.fields[field].label or field
        for name in dict.fromkeys([err.field, field]):
            if name and message.startswith(name):
                message = f"“{label}”{message[len(name) :]}"
                break
        form.add_error(field, _capfirst(message))
    else:
        form.add_error(None, _capfirst(message))


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format=DATETIME_LOCAL, **kwargs)


class AccessFieldsMixin(forms.Form):
    """Reason, duration and suggested reviewers: what every request and extension asks."""

    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=4096,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    max_duration = forms.CharField(
        label="For how long",
        required=False,
        max_length=32,
        widget=forms.TextInput(
            attrs={"placeholder": "e.g. 4h", "list": "duration-suggestions", "inputmode": "text"}
        ),
    )
    suggested_reviewers = forms.CharField(
        label="Suggested reviewers",
        required=False,
        max_length=500,
        help_text="Optional. User names, separated by commas.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. bob, carol", "autocomplete": "off"}),
    )

    def cleaned_reviewers(self) -> list[str]:
        text = self.cleaned_data.get("suggested_reviewers") or ""
        return [name.strip() for name in text.split(",") if name.strip()]


class RequestForm(AccessFieldsMixin):
    """Ask for roles and/or resources; the resource search fields ride along in the form so
    a search (with or without JavaScript) never loses what was typed."""

    roles = OpenMultipleChoiceField(
        label="Roles", required=False, widget=forms.CheckboxSelectMultiple
    )
    resources = OpenMultipleChoiceField(
        label="Resources", required=False, widget=forms.CheckboxSelectMultiple
    )
    resource_kind = forms.ChoiceField(label="Kind", required=False)
    resource_search = forms.CharField(
        label="Name contains",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "e.g. db-prod"}),
    )
    resource_labels = forms.CharField(
        label="Labels",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "e.g. env=prod team=pay"}),
    )
    assume_start_time = forms.DateTimeField(
        label="Start at",
        required=False,
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=DateTimeLocalInput(),
        help_text="Optional. Leave empty to start as soon as it is approved; at most 7 days ahead.",
    )

    field_order = [
        "roles",
        "resource_kind",
        "resource_search",
        "resource_labels",
        "resources",
        "reason",
        "max_duration",
        "assume_start_time",
        "suggested_reviewers",
    ]

    def __init__(self, *args, roles=(), kinds=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["roles"].choices = [(r.name, r.name) for r in roles]
        self.fields["resource_kind"].choices = [("", "Any kind")] + [(k, k) for k in kinds]

    def clean_resource_labels(self) -> dict[str, str]:
        try:
            return parse_label_filter(self.cleaned_data.get("resource_labels") or "")
        except ValueError as err:
            raise forms.ValidationError(str(err)) from None

    def search_filters(self) -> dict:
        """The resource search as entered; valid parts only when the form has errors."""
        data = getattr(self, "cleaned_data", {})
        return {
            "kind": data.get("resource_kind") or "",
            "search": (data.get("resource_search") or "").strip(),
            "labels": data.get("resource_labels") or {},
        }

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "roles": data.get("roles") or [],
            "resources": data.get("resources") or [],
            "reason": data.get("reason") or "",
            "max_duration": (data.get("max_duration") or "").strip() or None,
            "assume_start_time": data.get("assume_start_time"),
            "suggested_reviewers": self.cleaned_reviewers(),
        }


class ResourceSearchForm(forms.Form):
    """The resource search alone (the htmx fragment), with the resources already ticked."""

    resource_kind = forms.CharField(required=False, max_length=64)
    resource_search = forms.CharField(required=False, max_length=100)
    resource_labels = forms.CharField(required=False, max_length=200)
    resources = OpenMultipleChoiceField(required=False)

    def clean_resource_labels(self) -> dict[str, str]:
        try:
            return parse_label_filter(self.cleaned_data.get("resource_labels") or "")
        except ValueError as err:
            raise forms.ValidationError(str(err)) from None


class ExtendForm(AccessFieldsMixin):
    """More time on access one has: the same items, a reason and a duration."""

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "reason": data.get("reason") or "",
            "max_duration": (data.get("max_duration") or "").strip() or None,
            "suggested_reviewers": self.cleaned_reviewers(),
        }


class ReviewForm(forms.Form):
    """A reviewer's verdict; the verdict comes from the button pressed."""

    state = forms.ChoiceField(
        label="Verdict", choices=[("APPROVED", "Approve"), ("DENIED", "Deny")]
    )
    reason = forms.CharField(
        label="Reason for your review",
        required=False,
        max_length=4096,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, reason_required: bool = False, **kwargs) -> None:
        # Mirrors `services.reviews.review_reason_required` to mark the field; the service
        # refuses a missing reason, and its message is shown under the field.
        super().__init__(*args, **kwargs)
        self.reason_required = reason_required
        if reason_required:
            self.fields["reason"].widget.attrs["required"] = True


class EndAccessForm(forms.Form):
    reason = forms.CharField(
        label="Why end it now?",
        required=False,
        max_length=4096,
        widget=forms.TextInput(attrs={"placeholder": "e.g. work done"}),
    )


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label="Why withdraw it?",
        required=False,
        max_length=4096,
        widget=forms.TextInput(attrs={"placeholder": "Optional"}),
    )


class RequestFilterForm(forms.Form):
    STATES = [
        ("", "Any state"),
        ("PENDING", "Pending"),
        ("APPROVED", "Approved"),
        ("DENIED", "Denied"),
        ("EXPIRED", "Expired"),
        ("WITHDRAWN", "Withdrawn"),
        ("REVOKED", "Revoked"),
    ]
    state = forms.ChoiceField(label="State", choices=STATES, required=False)
    q = forms.CharField(
        label="Role or resource",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "e.g. db-admin"}),
    )


class RatifyForm(forms.Form):
    """An eligible reviewer's verdict on a break-glass use; the button pressed is the verdict.
    The reason is required by `break_glass_decide`, whose message shows under the field."""

    verdict = forms.ChoiceField(
        label="Verdict", choices=[("ratify", "Ratify"), ("reject", "Reject")]
    )
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=4096,
        widget=forms.Textarea(attrs={"rows": 2, "required": True}),
    )
