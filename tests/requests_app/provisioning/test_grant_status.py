"""What the surfaces show for a grant: per-target rows and "revoking" until removal is
confirmed (the selectors they call)."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.utils import timezone

from requests_app.models import Grant
from requests_app.selectors.provisioning import grant_status, grants_provisioning
from requests_app.services.grants import access_request_revoke
from tests.requests_app.provisioning.conftest import db_admin_provisioning


def test_a_revoked_grant_is_revoking_until_every_target_confirms(
    apply_yaml, base_policy, groups, approve, requester, work, django_assert_max_num_queries
):
    ok, down = groups("ok"), groups("down")
    apply_yaml(db_admin_provisioning(ok.yaml(), down.yaml()))
    request = approve("db-admin", "dev-admin")
    work()
    down.mode("fail")
    access_request_revoke(request_id=request.id, actor=requester, reason="done")
    work()
    grants = list(Grant.objects.filter(request=request).order_by("role"))
    now = timezone.now()
    with django_assert_max_num_queries(6):
        shown = grants_provisioning(grants, now=now)
    db_admin, dev_admin = grants  # ordered by role
    rows = {r["target"]: r for r in shown[db_admin.pk].rows}
    assert rows["group ok"]["state"] == "removed"
    assert rows["group down"]["state"] == "revoking"
    assert "group down refused" in rows["group down"]["error"]
    assert grant_status(db_admin, shown[db_admin.pk], now) == "revoking"
    assert shown[dev_admin.pk].rows == [] and not shown[dev_admin.pk].revoking
    assert grant_status(dev_admin, shown[dev_admin.pk], now) == "revoked"
    down.mode("")
    with time_machine.travel(now + timedelta(hours=2)):
        work()
        shown = grants_provisioning(grants, now=timezone.now())
    assert grant_status(db_admin, shown[db_admin.pk], now) == "revoked"
