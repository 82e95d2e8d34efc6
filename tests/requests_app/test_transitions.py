"""The request state machine: one table, one function, every state change through it."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import IllegalTransition, NotPending
from requests_app.models import AccessRequest
from requests_app.services.access_requests import access_request_create
from requests_app.services.transitions import (
    request_transition_save,
    requests_transition_claim,
)

S = RequestState
# ARCHITECTURE.md, "State machine": these and nothing else.
ALLOWED = {
    (S.PENDING, S.APPROVED),
    (S.PENDING, S.DENIED),
    (S.PENDING, S.EXPIRED),
    (S.PENDING, S.WITHDRAWN),
    (S.APPROVED, S.REVOKED),
}
PAIRS = list(itertools.product(S, S))


def _in_state(request: AccessRequest, state: RequestState) -> AccessRequest:
    AccessRequest.objects.filter(pk=request.pk).update(state=state)  # test setup only
    return AccessRequest.objects.get(pk=request.pk)


def test_every_pair_of_states_goes_through_the_table(requester):
    created = access_request_create(requester=requester, roles=["db-admin"])
    moved, refused = set(), set()
    for source, target in PAIRS:
        request = _in_state(created, source)
        try:
            request_transition_save(request, target, resolve_reason=f"{source}>{target}")
        except IllegalTransition as err:
            refused.add((source, target))
            assert request.state == source and err.status == 409
            stored = AccessRequest.objects.get(pk=created.pk)
            assert (stored.state, stored.resolve_reason) == (source, "")
        else:
            moved.add((source, target))
            stored = AccessRequest.objects.get(pk=created.pk)
            assert (stored.state, stored.resolve_reason) == (target, f"{source}>{target}")
            AccessRequest.objects.filter(pk=created.pk).update(resolve_reason="")
    assert moved == ALLOWED
    assert refused == set(PAIRS) - ALLOWED


def test_a_refused_resolution_names_the_state_it_found(requester):
    request = _in_state(access_request_create(requester=requester, roles=["db-admin"]), S.DENIED)
    with pytest.raises(NotPending, match="this request is denied, no longer pending"):
        request_transition_save(request, S.APPROVED)
    with pytest.raises(IllegalTransition, match="only approved access can be revoked"):
        request_transition_save(request, S.REVOKED)


def _claim(source, target, *, limit=10, returning=("id",), **values):
    return requests_transition_claim(
        AccessRequest.objects.order_by("created", "pk"),
        source=source,
        target=target,
        now=timezone.now(),
        limit=limit,
        returning=returning,
        **values,
    )


@pytest.mark.parametrize("source,target", [p for p in PAIRS if p not in ALLOWED])
def test_claiming_transition_refuses_pairs_outside_the_table(requester, source, target):
    request = _in_state(access_request_create(requester=requester, roles=["db-admin"]), source)
    with pytest.raises(IllegalTransition):
        _claim(source, target)
    assert AccessRequest.objects.get(pk=request.pk).state == source


def _pending(requester, n=2):
    roles = ["db-admin", "dev-admin"]
    return [access_request_create(requester=requester, roles=[roles[i % 2]]) for i in range(n)]


@pytest.mark.parametrize("state", [s for s in S if s != S.PENDING])
def test_claiming_transition_moves_only_rows_still_in_the_source_state(requester, state):
    first, second = _pending(requester)
    _in_state(second, state)  # changed before the sweep took it
    assert _claim(S.PENDING, S.EXPIRED) == [(first.pk,)]
    stored = dict(AccessRequest.objects.values_list("pk", "state"))
    assert stored == {first.pk: S.EXPIRED, second.pk: state}


def test_claiming_transition_returns_the_moved_rows_as_the_orm_reads_them(requester):
    requests = _pending(requester, 3)
    with transaction.atomic():
        rows = _claim(
            S.PENDING,
            S.EXPIRED,
            limit=2,  # the first two in the candidates' order
            returning=("id", "roles", "resources", "state", "resolved_at", "user__username"),
            resolved_at=requests[0].created,
            resolve_reason="late",
        )
    expected = [
        (r.pk, r.roles, [], S.EXPIRED, requests[0].created, requester.username)
        for r in requests[:2]
    ]
    assert sorted(rows, key=str) == sorted(expected, key=str)
    stored = {r.pk: (r.state, r.resolve_reason) for r in AccessRequest.objects.all()}
    assert stored == {
        requests[0].pk: (S.EXPIRED, "late"),
        requests[1].pk: (S.EXPIRED, "late"),
        requests[2].pk: (S.PENDING, ""),
    }


STATE_WRITES = re.compile(
    r"\brequest\w*\.state\s*=(?!=)"  # request.state = ...
    r"|\.state(\s*,\s*[\w.]+)*\s*=(?!=)[^\n]*RequestState"  # x.state, y = RequestState...
    r"|\.update\([^)]*\bstate\s*=\s*RequestState"  # .update(state=RequestState..., over lines
)


def test_no_module_but_the_state_machine_writes_a_request_state():
    root = Path(__file__).resolve().parents[2]
    found = [
        f"{path.relative_to(root)}:{text.count(chr(10), 0, match.start()) + 1}"
        for app in ("requests_app", "policies_app", "accessportal")
        for path in (root / app).rglob("*.py")
        if path.name != "transitions.py" and "migrations" not in path.parts
        for text in [path.read_text()]
        for match in STATE_WRITES.finditer(text)
    ]
    assert found == []
