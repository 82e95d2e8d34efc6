"""Policy reads: which resources a user may request."""

from __future__ import annotations

from policies_app.models import Resource
from policies_app.selectors import resources_requestable_by


def test_requestable_resources_are_those_a_search_as_role_reaches(requester, reviewer):
    ids = [r.resource_id for r in resources_requestable_by(requester)]
    assert ids == ["node/db-prod-1"]  # prod-access: prod nodes, not the dev node or the db
    assert resources_requestable_by(reviewer) == []  # no search-as roles


def test_requestable_resources_narrow_a_given_queryset(requester):
    none = resources_requestable_by(requester, Resource.objects.filter(kind="db"))
    assert none == []
