"""Proposals carry every kind of policy document: a kind the loader learns but the
proposal's table lacks would be dropped from proposals (and shown as deleted by a prune)."""

from dataclasses import fields

from policies_app.loader import PolicyPlan
from policies_app.services.export import _SPEC_EXPORTS, PLAN_KINDS


def test_every_kind_the_loader_reads_is_one_a_proposal_carries():
    assert {attr for _, attr in PLAN_KINDS} == {f.name for f in fields(PolicyPlan)}


def test_every_named_kind_a_proposal_carries_has_an_export():
    named = {kind for kind, _ in PLAN_KINDS} - {"user", "resource"}
    assert named == set(_SPEC_EXPORTS)
