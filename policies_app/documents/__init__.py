"""Validation and normalization of policy documents (role, user, resource,
notification_rule, sso_mapping, review_rule,
oncall_schedule, access_review).

Pure functions: a document in, a normalized dict and a list of problems out. The loader,
the admin forms and the tests all go through these, so a policy is checked the same way
wherever it comes from. Unknown keys are errors: a typo in a security policy must not pass.
"""

from policies_app.documents.access_reviews import (
    export_access_review_spec,
    normalize_access_review,
)
from policies_app.documents.checker import NAME_RE, Problem
from policies_app.documents.notification_rules import (
    export_notification_rule_spec,
    normalize_notification_rule,
)
from policies_app.documents.resources import (
    KIND_RE,
    RESOURCE_NAME_RE,
    normalize_resource,
    parse_resource_id,
)
from policies_app.documents.review_rules import (
    export_oncall_schedule_spec,
    export_review_rule_spec,
    normalize_oncall_schedule,
    normalize_review_rule,
    rule_schedules,
)
from policies_app.documents.roles import export_role_spec, normalize_role
from policies_app.documents.sso_mappings import export_sso_mapping_spec, normalize_sso_mapping
from policies_app.documents.users import normalize_user

__all__ = [
    "KIND_RE",
    "NAME_RE",
    "RESOURCE_NAME_RE",
    "Problem",
    "export_access_review_spec",
    "export_notification_rule_spec",
    "export_oncall_schedule_spec",
    "export_review_rule_spec",
    "export_role_spec",
    "export_sso_mapping_spec",
    "normalize_access_review",
    "normalize_notification_rule",
    "normalize_oncall_schedule",
    "normalize_resource",
    "normalize_review_rule",
    "normalize_role",
    "normalize_sso_mapping",
    "normalize_user",
    "parse_resource_id",
    "rule_schedules",
]
