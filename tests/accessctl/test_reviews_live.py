"""`accessctl reviews` against a live server: list, keep/remove, report as CSV and PDF."""

from __future__ import annotations

import pytest

from requests_app.services.access_reviews import campaign_start
from tests.requests_app.access_reviews.conftest import review_policy

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("_server_idle_at_teardown"),
]


@pytest.fixture
def review_run(apply_yaml, as_user, user):
    apply_yaml(review_policy())
    return campaign_start(review_name="reviewers-recert", actor=user("sam"))


def test_reviews_ls_keep_remove_and_report(run, as_user, review_run, tmp_path):
    carol = as_user("carol")
    listed = run("reviews", "ls", env=carol)
    assert listed.code == 0 and "bob" in listed.out and "reviewer" in listed.out
    item = review_run.items.get(user__username="bob")
    no_reason = run("reviews", "keep", str(item.pk), "--reason", "", env=carol)
    assert no_reason.code != 0 and "--reason" in no_reason.err
    own = run("reviews", "keep", str(item.pk), "--reason", "me", env=as_user("bob"))
    assert own.code != 0 and "own" in own.err
    kept = run("reviews", "keep", str(item.pk), "--reason", "still reviews", env=carol)
    assert kept.code == 0 and "kept: bob / reviewer" in kept.out
    again = run("reviews", "remove", str(item.pk), "--reason", "x", env=carol)
    assert again.code != 0 and "already decided" in again.err
    unseen = run("reviews", "keep", str(item.pk), "--reason", "x", env=as_user("mallory"))
    assert unseen.code != 0 and "not found" in unseen.err
    auditor = as_user("ada")
    csv_out = run("reviews", "report", str(review_run.pk), "--csv", env=auditor)
    assert csv_out.code == 0 and "bob,reviewer" in csv_out.out and "carol" in csv_out.out
    pdf = tmp_path / "r.pdf"
    made = run("reviews", "report", str(review_run.pk), "--pdf", "--file", str(pdf), env=auditor)
    assert made.code == 0 and pdf.read_bytes().startswith(b"%PDF")
    denied = run("reviews", "report", str(review_run.pk), env=carol)
    assert denied.code != 0 and "not found" in denied.err
