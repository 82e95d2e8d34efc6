"""Admin forms for roles and resources: friendly fields in, one policy document out.

The form only reshapes input; every rule is checked by the loader's own normalizers
(`policies_app.documents` through `services.role_document_check`), and each problem is put
back on the field it came from, with the predicate parser's position and caret.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from django import forms
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from policies_app.documents import KIND_RE, Problem, export_role_spec
from policies_app.durations import format_duration
from policies_app.models import POLICY_SOURCE, Resource, Role
from policies_app.selectors import members_from
from policies_app.services.roles_resources import resource_document_check, role_document_check

_ITEM = re.compile(r"^\[(\d+)\]")


class LinesField(forms.CharField):
    """A list of strings, one per line (patterns may hold commas, so lines it is)."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 48, "class": "ap-code"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "One per line.")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class YamlField(forms.CharField):
    """A small YAML value (a list or a mapping), for thresholds, labels and annotations."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 60, "class": "ap-code"})

    def __init__(self, *, shape: type, **kwargs: Any) -> None:
        self.shape = shape
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | dict):
            if not value:
                return ""
            return yaml.safe_dump(
                value, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1000
            ).strip()
        return value

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value) or ""
        if not text.strip():
            return self.shape()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(err, "problem", None) or "cannot be read"
            raise ValidationError(f"not valid YAML{where}: {problem}") from None
        if data is None:
            return self.shape()
        if not isinstance(data, self.shape):
            wanted = "a list (lines starting with '- ')" if self.shape is list else "a mapping"
            raise ValidationError(f"must be {wanted}")
        return data


def _problem_message(prefix: str, problem: Problem) -> str:
    """The part of the problem's path below the field, made readable: `[1].filter` ->
    `threshold 2, filter`; `[0]` -> `line 1`."""
    rest = problem.field[len(prefix) :]
    match = _ITEM.match(rest)
    if match:
        n = int(match.group(1)) + 1
        tail = rest[match.end() :].lstrip(".")
        where = f"item {n}" + (f", {tail}" if tail else "")
        return f"{where}: {problem.message}"
    rest = rest.lstrip(".")
    return f"{rest}: {problem.message}" if rest else problem.message


class _DocumentForm(forms.ModelForm):
    """Maps each problem's dotted path to the form field it came from (longest prefix)."""

    field_paths: dict[str, str] = {}

    def _add_problems(self, problems: list[Problem]) -> None:
        for problem in problems:
            prefix = max(
                (p for p in self.field_paths if problem.field == p or _below(problem.field, p)),
                key=len,
                default=None,
            )
            name = self.field_paths.get(prefix) if prefix else None
            if name and name in self.fields and not self.has_error(name, code=problem.field):
                self.add_error(
                    name, ValidationError(_problem_message(prefix, problem), code=problem.field)
                )
            else:
                self.add_error(None, str(problem))


def _below(path: str, prefix: str) -> bool:
    return path.startswith(prefix + ".") or path.startswith(prefix + "[")


class RoleForm(_DocumentForm):
    """A role and its policy, field by field; saved through `services.role_save`."""

    # The memberships the policy gives (source "policy"); those an identity provider gives
    # are its to change and are shown beside this field, not in it.
    policy_members = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.order_by("username"),
        required=False,
        label="Members",
        widget=FilteredSelectMultiple("members", is_stacked=False),
    )

    request_roles = LinesField(
        label="May request roles",
        help_text='One per line: a name, a glob ("db-*") or a ^regex$.',
    )
    search_as_roles = LinesField(
        label="May request resources of roles",
        help_text="Search-as roles, one per line: resources these roles reach may be requested.",
    )
    thresholds = YamlField(
        shape=list,
        help_text=(
            "YAML list, e.g. <code>- {name: uprising, filter: 'contains(reviewer.roles, "
            '"lead")\', approve: 2, deny: 1}</code>. Empty: one approval or one denial decides.'
        ),
    )
    suggested_reviewers = LinesField(help_text="User names, one per line.")
    max_duration = forms.CharField(
        required=False,
        help_text="Cap on access time, e.g. 4h, 2d (at most 14d). Empty: the default 8h.",
        widget=forms.TextInput(attrs={"size": 10, "class": "ap-code"}),
    )
    reason_mode = forms.ChoiceField(
        label="Reason",
        choices=[("optional", "optional"), ("required", "required")],
        initial="optional",
    )
    reason_prompt = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"size": 60}), label="Reason prompt"
    )
    annotations = YamlField(shape=dict, help_text="YAML mapping of names to lists of strings.")
    review_roles = LinesField(
        label="May review requests for roles",
        help_text="One per line: a name, a glob or a ^regex$.",
    )
    review_where = forms.CharField(
        required=False,
        label="Review only where",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60, "class": "ap-code"}),
        help_text='A predicate, e.g. <code>contains(request.annotations["team"], "pay")</code>.',
    )
    resource_kinds = LinesField(label="Reaches resource kinds")
    resource_labels = YamlField(
        shape=dict,
        label="Reaches resources labelled",
        help_text="YAML mapping of label to allowed values, e.g. <code>env: [prod]</code>.",
    )
    permissions = LinesField(
        label="Django permissions",
        help_text="app_label.codename, one per line, e.g. requests_app.check_access.",
    )
    deny_request_roles = LinesField(label="Never request roles")
    deny_search_as_roles = LinesField(label="Never request resources of roles")
    deny_review_roles = LinesField(label="Never review requests for roles")
    deny_review_where = forms.CharField(
        required=False,
        label="Deny review where",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60, "class": "ap-code"}),
    )
    request_access = forms.ChoiceField(
        choices=[("optional", "optional"), ("reason", "reason"), ("always", "always")],
        initial="optional",
        help_text="“reason”: every request by holders of this role needs a reason.",
    )

    field_paths = {
        "name": "name",
        "description": "description",
        "spec.allow.request.roles": "request_roles",
        "spec.allow.request.search_as_roles": "search_as_roles",
        "spec.allow.request.thresholds": "thresholds",
        "spec.allow.request.suggested_reviewers": "suggested_reviewers",
        "spec.allow.request.max_duration": "max_duration",
        "spec.allow.request.reason": "reason_mode",
        "spec.allow.request.reason.prompt": "reason_prompt",
        "spec.allow.request.annotations": "annotations",
        "spec.allow.review_requests.roles": "review_roles",
        "spec.allow.review_requests.where": "review_where",
        "spec.allow.resources.kinds": "resource_kinds",
        "spec.allow.resources.labels": "resource_labels",
        "spec.allow.permissions": "permissions",
        "spec.deny.request.roles": "deny_request_roles",
        "spec.deny.request.search_as_roles": "deny_search_as_roles",
        "spec.deny.review_requests.roles": "deny_review_roles",
        "spec.deny.review_requests.where": "deny_review_where",
        "spec.options.request_access": "request_access",
    }

    class Meta:
        model = Role
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.document: dict | None = None
        if self.instance.pk:
            self.initial.update(self._initial_from_spec(self.instance.spec or {}))
            self.initial["policy_members"] = members_from(self.instance, POLICY_SOURCE)

    @staticmethod
    def _initial_from_spec(spec: dict) -> dict:
        allow, deny = spec.get("allow", {}), spec.get("deny", {})
        request, review = allow.get("request", {}), allow.get("review_requests", {})
        reach = allow.get("resources", {})
        pruned = export_role_spec(spec).get("allow", {}).get("request", {})
        max_duration = request.get("max_duration")
        return {
            "request_roles": request.get("roles", []),
            "search_as_roles": request.get("search_as_roles", []),
            "thresholds": pruned.get("thresholds", []),
            "suggested_reviewers": request.get("suggested_reviewers", []),
            "max_duration": format_duration(max_duration) if max_duration else "",
            "reason_mode": request.get("reason", {}).get("mode", "optional"),
            "reason_prompt": request.get("reason", {}).get("prompt", ""),
            "annotations": request.get("annotations", {}),
            "review_roles": review.get("roles", []),
            "review_where": review.get("where", ""),
            "resource_kinds": reach.get("kinds", []),
            "resource_labels": reach.get("labels", {}),
            "permissions": allow.get("permissions", []),
            "deny_request_roles": deny.get("request", {}).get("roles", []),
            "deny_search_as_roles": deny.get("request", {}).get("search_as_roles", []),
            "deny_review_roles": deny.get("review_requests", {}).get("roles", []),
            "deny_review_where": deny.get("review_requests", {}).get("where", ""),
            "request_access": spec.get("options", {}).get("request_access", "optional"),
        }

    def _document(self, data: dict) -> dict:
        name = data.get("name") or self.instance.name
        return {
            "kind": "role",
            "name": name,
            "description": data.get("description", ""),
            "spec": {
                "allow": {
                    "request": {
                        "roles": data.get("request_roles", []),
                        "search_as_roles": data.get("search_as_roles", []),
                        "thresholds": data.get("thresholds", []),
                        "suggested_reviewers": data.get("suggested_reviewers", []),
                        "max_duration": data.get("max_duration") or None,
                        "reason": {
                            "mode": data.get("reason_mode", "optional"),
                            "prompt": data.get("reason_prompt", ""),
                        },
                        "annotations": data.get("annotations", {}),
                    },
                    "review_requests": {
                        "roles": data.get("review_roles", []),
                        "where": data.get("review_where", ""),
                    },
                    "resources": {
                        "kinds": data.get("resource_kinds", []),
                        "labels": data.get("resource_labels", {}),
                    },
                    "permissions": data.get("permissions", []),
                },
                "deny": {
                    "request": {
                        "roles": data.get("deny_request_roles", []),
                        "search_as_roles": data.get("deny_search_as_roles", []),
                    },
                    "review_requests": {
                        "roles": data.get("deny_review_roles", []),
                        "where": data.get("deny_review_where", ""),
                    },
                },
                "options": {"request_access": data.get("request_access", "optional")},
            },
        }

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            # A field that could not be read (bad YAML) would make the document misleading.
            return data
        document = self._document(data)
        normalized, problems = role_document_check(document)
        self._add_problems(problems)
        if not problems:
            self.document = document
            self.normalized = normalized
        return data


class ResourceForm(_DocumentForm):
    """A resource `kind/name` with labels; saved through `services.resource_save`."""

    labels = YamlField(
        shape=dict,
        help_text="YAML mapping, one label per line, e.g. <code>env: prod</code>.",
    )

    field_paths = {"id": "name", "labels": "labels", "description": "description"}

    class Meta:
        model = Resource
        fields = ["kind", "name", "labels", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.document: dict | None = None

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        kind = data.get("kind") or self.instance.kind
        name = data.get("name") or self.instance.name
        document = {
            "kind": "resource",
            "id": f"{kind}/{name}",
            "labels": data.get("labels") or {},
            "description": data.get("description", ""),
        }
        _, problems = resource_document_check(document)
        if "kind" in self.fields and not KIND_RE.match(kind or ""):
            # The id is kind/name: put its problem on the half that is wrong.
            for problem in [p for p in problems if p.field == "id"]:
                self.add_error("kind", problem.message)
            problems = [p for p in problems if p.field != "id"]
        self._add_problems(problems)
        if not problems:
            self.document = document
        return data
