"""CLI sign-in codes under concurrency (PostgreSQL): a code buys one token, however many
tabs or CLIs race to trade it."""

from __future__ import annotations

import pytest

from accessportal.kernel.audit import audit_verify
from accessportal.kernel.errors import ValidationFailed
from accessportal.kernel.models import AuditEvent
from requests_app.models import ApiToken
from requests_app.services.cli_login import (
    cli_code_exchange,
    cli_login_approve,
    device_authorization_start,
    device_code_decide,
    device_token_poll,
)
from tests.concurrency import run_together
from tests.requests_app.test_cli_login import VERIFIER, challenge

pytestmark = pytest.mark.postgres


@pytest.fixture
def alice(transactional_db, base_policy, user):
    return user("alice")


def test_two_exchanges_of_one_code_at_once_mint_one_token(alice):
    code = cli_login_approve(user=alice, port=40000, code_challenge=challenge())
    outcomes = run_together(
        *[lambda: cli_code_exchange(code=code, code_verifier=VERIFIER) for _ in range(4)]
    )
    assert sum(o.ok for o in outcomes) == 1
    assert all(isinstance(o.error, ValidationFailed) for o in outcomes if not o.ok)
    assert ApiToken.objects.count() == 1
    assert AuditEvent.objects.filter(action="api_token.created").count() == 1
    assert audit_verify().ok


def test_two_polls_of_an_approved_device_code_at_once_mint_one_token(alice):
    started = device_authorization_start()
    device_code_decide(user=alice, user_code=started.user_code, approve=True)
    outcomes = run_together(
        *[lambda: device_token_poll(device_code=started.device_code) for _ in range(4)]
    )
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert sum(o.value.token is not None for o in outcomes) == 1
    assert ApiToken.objects.count() == 1
    assert audit_verify().ok
