"""Forms of the review desk. They only read input; the services decide."""

from __future__ import annotations

from django import forms

from accessportal.kernel.choices import ReviewState
from requests_app.services.access_requests import MAX_REASON


def _reason_field(*, required: bool, label: str = "Reason") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=MAX_REASON,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "class": "ap-reason"}),
        error_messages={"required": "A reason is required for this request."},
    )


class ReviewForm(forms.Form):
    """Approve or deny one request; which button was pressed is the decision."""

    decision = forms.ChoiceField(choices=ReviewState.choices)

    def __init__(self, *args, reason_required: bool = False, **kwargs) -> None:
        # `reason_required` mirrors `services.reviews.review_reason_required`, which
        # `review_submit` enforces; the form only marks the field.
        super().__init__(*args, **kwargs)
        self.reason_required = reason_required
        self.fields["reason"] = _reason_field(required=reason_required)
        self.fields["reason"].widget.attrs["placeholder"] = (
            "Required: why you approve or deny" if reason_required else "Optional"
        )


class BulkReviewForm(forms.Form):
    """One reason for several reviews; each request still applies its own rules.

    `reason_required`: whether one of the requests to review needs a reason
    (`services.reviews.review_reason_required`), so a missing one is refused before anything
    is reviewed rather than request by request after."""

    def __init__(self, *args, reason_required: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reason_required = reason_required
        self.fields["reason"] = _reason_field(
            required=reason_required, label="Reason (for every selected request)"
        )
        self.fields["reason"].error_messages["required"] = (
            "A reason is required: some of these requests need one."
        )


class RevokeForm(forms.Form):
    """Ending approved access early always needs a reason."""

    reason = forms.CharField(
        label="Reason",
        max_length=MAX_REASON,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "class": "ap-reason"}),
        error_messages={"required": "A reason is required to revoke access."},
    )


class RatifyForm(forms.Form):
    """Ratifying or rejecting break-glass access always needs a reason."""

    reason = forms.CharField(
        label="Reason",
        max_length=MAX_REASON,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "class": "ap-reason"}),
        error_messages={"required": "A reason is required to ratify or reject break-glass access."},
    )
