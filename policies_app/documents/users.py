"""`kind: user` documents: a user's standing roles, traits and email."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from accessportal.kernel.usernames import username_refusal
from policies_app.documents.checker import NAME_RE, Checker, Problem

MAX_EMAIL = 254  # the user model's email column


def normalize_user(doc: Any) -> tuple[dict, list[Problem]]:
    """Check a `kind: user` document: {name, roles, traits}."""
    check = Checker()
    doc = check.mapping(doc, "user", {"kind", "name", "roles", "traits", "email", "version"})
    name = doc.get("name")
    if refusal := username_refusal(name):
        check.add("name", refusal)
        name = str(name or "")
    email = check.text(doc.get("email"), "email")
    if email:
        try:
            validate_email(email)
            if len(email) > MAX_EMAIL:
                raise ValidationError("too long")
        except ValidationError:
            check.add("email", f"must be an email address of at most {MAX_EMAIL} characters")
            email = ""
    roles = check.string_list(doc.get("roles"), "roles")
    for i, role in enumerate(roles):
        if not NAME_RE.match(role):
            check.add(f"roles[{i}]", f"{role!r} is not a role name")
    traits = check.labels(doc.get("traits"), "traits", multi=True)
    return {"name": name, "email": email, "roles": roles, "traits": traits}, check.problems
