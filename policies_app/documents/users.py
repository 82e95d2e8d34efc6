"""`kind: user` documents: a user's standing roles, traits and email."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from policies_app.documents.checker import NAME_RE, Checker, Problem

MAX_EMAIL = 254  # the user model's email column


def normalize_user(doc: Any) -> tuple[dict, list[Problem]]:
    """Check a `kind: user` document: {name, roles, traits}."""
    check = Checker()
    doc = check.mapping(doc, "user", {"kind", "name", "roles", "traits", "email", "version"})
    name = doc.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[\w.@+-]{1,150}", name):
        check.add("name", "a user name is 1-150 letters, digits or @ . + - _")
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
