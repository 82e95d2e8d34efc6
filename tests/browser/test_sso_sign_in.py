"""Single sign-on through a real OpenID provider (node's oidc-provider on loopback,
tests/identity/oidc_op.py), driven in chromium: what a person signing in sees.

One provider process for the module; each test gets a fresh browser context and resets the
provider's misbehaviour mode. Two portal providers point at it: `testop` (with an
sso_mapping) and `second` (without one).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model

from accessportal.kernel.models import AuditEvent
from accessportal.sso.config import form_action_origins, oidc_apps
from policies_app.selectors import role_sources, user_traits
from tests.identity.oidc_op import CLIENT_ID, CLIENT_SECRET, OpenIDProvider
from tests.identity.sso_policy import sso_policy

ALICE = {"email": "alice@example.test", "name": "Alice Adams", "groups": ["eng-platform"],
         "department": "pay"}  # fmt: skip


@pytest.fixture(scope="module")
def op(live_server, tmp_path_factory):
    callbacks = [f"{live_server.url}/sso/oidc/{p}/login/callback/" for p in ("testop", "second")]
    provider = OpenIDProvider.start(
        redirect_uris=callbacks,
        users=tmp_path_factory.mktemp("op") / "users.json",
        accounts={"alice": ALICE},
    )
    yield provider
    provider.stop()


def configure(settings, *entries) -> None:
    """What ACCESSPORTAL_OIDC_PROVIDERS set to `entries` gives (settings.py)."""
    apps = oidc_apps(json.dumps(list(entries)), production=False)
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {**settings.SOCIALACCOUNT_PROVIDERS["openid_connect"], "APPS": apps}
    }
    csp = settings.CONTENT_SECURITY_POLICY
    directives = {**csp["DIRECTIVES"], "form-action": ["'self'", *form_action_origins(apps)]}
    settings.CONTENT_SECURITY_POLICY = {**csp, "DIRECTIVES": directives}


def _entry(provider_id, name, issuer) -> dict:
    scopes = ["openid", "profile", "email", "groups", "traits"]
    return {"id": provider_id, "name": name, "issuer": issuer, "client_id": CLIENT_ID,
            "secret": CLIENT_SECRET, "scopes": scopes}  # fmt: skip


@pytest.fixture
def sso(op, settings, apply_yaml, transactional_db):
    """The portal configured with both providers, the policy applied, the OP behaving."""
    op.mode("normal")
    op.set_user("alice", ALICE)
    configure(
        settings, _entry("testop", "Test OP", op.issuer), _entry("second", "Second OP", op.issuer)
    )
    apply_yaml(sso_policy("testop"))
    return op


def sso_sign_in(page, provider: str = "testop", username: str = "alice", *, mode=None, op=None):
    """Click the provider's button on the portal login page and sign in at the provider;
    `mode` makes the provider misbehave at the token step only."""
    page.goto("/accounts/login/")
    portal = urlsplit(page.url).netloc
    page.click(f"#sso-{provider}")
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", "any password: the test OP takes it")
    if mode:
        op.mode(mode)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: urlsplit(url).netloc == portal)  # back from the provider


def assert_nobody_signed_in(page) -> None:
    page.goto("/")
    assert "/accounts/login/" in page.url


def test_first_sign_in_creates_the_user_with_traits_and_mapped_roles(sso, page):
    sso_sign_in(page)
    page.wait_for_selector("#roles-title")
    assert page.locator("h1").inner_text() == "Hello, Alice"
    assert page.locator(".chip-standing").all_inner_texts() == ["engineer"]
    alice = get_user_model().objects.get(username="alice")
    assert alice.email == "alice@example.test" and not alice.has_usable_password()
    assert user_traits(alice) == {"team": ["pay"]}
    assert role_sources(alice) == {"engineer": ["sso:testop"]}
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions[-2:] == ["user.sso_synced", "user.sso_created"]


def test_a_changed_group_changes_roles_at_the_next_sign_in(sso, page, browser, live_server):
    sso_sign_in(page)
    page.wait_for_selector(".chip-standing")
    sso.set_user("alice", {**ALICE, "groups": ["dba"], "department": "data"})
    context = browser.new_context(base_url=live_server.url)
    again = context.new_page()
    sso_sign_in(again)
    again.wait_for_selector(".chip-standing")
    assert again.locator(".chip-standing").all_inner_texts() == ["dba"]
    alice = get_user_model().objects.get(username="alice")
    assert role_sources(alice) == {"dba": ["sso:testop"]}
    assert user_traits(alice) == {"team": ["data"]}
    context.close()


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("tamper", "Signature verification failed"),
        ("expired", "Signature has expired"),
        ("wrong_aud", "Audience doesn't match"),
        ("wrong_iss", "Invalid issuer"),
        ("token_down", "Error retrieving access token"),
    ],
)
def test_a_bad_id_token_or_token_endpoint_gives_an_error_page_and_signs_nobody_in(
    sso, page, mode, message
):
    sso_sign_in(page, mode=mode, op=sso)
    assert page.locator("#sso-error").inner_text() == "Sign-in failed"
    assert message in page.locator("#sso-error-detail").inner_text()
    assert not get_user_model().objects.filter(username="alice").exists()
    assert_nobody_signed_in(page)


def test_a_replayed_id_token_is_refused_by_its_nonce(sso, page, browser, live_server):
    sso_sign_in(page)  # the provider keeps this sign-in's ID token
    page.wait_for_selector(".chip-standing")
    context = browser.new_context(base_url=live_server.url)
    other = context.new_page()
    sso_sign_in(other, mode="replay", op=sso)
    assert (
        "nonce does not belong to this sign-in" in other.locator("#sso-error-detail").inner_text()
    )
    assert_nobody_signed_in(other)
    context.close()


def test_a_provider_that_is_not_running_gives_an_error_page(sso, page, settings):
    stopped = OpenIDProvider.start(
        redirect_uris=["http://127.0.0.1:1/unused/"], users=sso.users.with_name("u2.json"),
        accounts={},
    )  # fmt: skip
    stopped.stop()
    configure(settings, _entry("testop", "Test OP", stopped.issuer))
    page.goto("/accounts/login/")
    page.click("#sso-testop")
    assert "identity provider is unreachable" in page.locator("#sso-error-detail").inner_text()
    assert_nobody_signed_in(page)


def test_a_provider_without_sso_mapping_signs_nobody_in(sso, page):
    sso_sign_in(page, "second")
    assert "has no sso_mapping" in page.locator("#sso-error-detail").inner_text()
    assert not get_user_model().objects.filter(username="alice").exists()
    assert_nobody_signed_in(page)


def test_two_providers_each_have_a_button_on_both_login_pages(sso, page):
    for url in ("/accounts/login/", "/admin/login/"):
        page.goto(url)
        assert page.locator("#sso-testop").count() == 1
        assert page.locator("#sso-second").count() == 1
    assert "Test OP" in page.locator("#sso-testop").get_attribute("value")


def test_local_login_off_refuses_a_users_password_but_lets_break_glass_in(sso, page, settings):
    settings.ACCESSPORTAL_LOCAL_LOGIN = False
    users = get_user_model().objects
    users.create_user("carol", password="carol-password-1")
    users.create_superuser("root", password="root-password-1")
    page.goto("/accounts/login/")
    assert page.locator("#sso-testop").is_visible()
    page.click("summary")
    page.fill("#id_username", "carol")
    page.fill("#id_password", "carol-password-1")
    page.click("text=Sign in with a password")
    assert page.locator(".alert-error").is_visible()
    assert_nobody_signed_in(page)
    page.goto("/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-password-1")
    page.click("input[type=submit][value='Log in']")
    page.wait_for_url("**/admin/")


def test_a_local_account_with_a_password_is_not_taken_over(sso, page):
    get_user_model().objects.create_user("alice", password="alice-local-password-1")
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if "/callback/" in r.url else None)
    sso_sign_in(page)
    assert "'alice' already exists" in page.locator("#sso-error-detail").inner_text()
    assert statuses == [409]
    assert_nobody_signed_in(page)


def test_a_disabled_account_is_refused(sso, page, browser, live_server):
    sso_sign_in(page)
    page.wait_for_selector(".chip-standing")
    get_user_model().objects.filter(username="alice").update(is_active=False)
    page.goto("/")
    assert "/accounts/login/" in page.url  # the open session ends too
    context = browser.new_context(base_url=live_server.url)
    other = context.new_page()
    sso_sign_in(other)
    assert "is disabled" in other.locator("#sso-error-detail").inner_text()
    assert_nobody_signed_in(other)
    context.close()


def test_discovery_is_cached_so_a_provider_blip_does_not_refetch_it(sso):
    from allauth.socialaccount.providers.oauth2.client import OAuth2Error

    from accessportal.sso.oidc.provider import _cached_json

    url = f"{sso.issuer}/.well-known/openid-configuration"
    first = _cached_json(url)
    sso.mode("down")
    assert _cached_json(url) == first  # from Django's cache, while the provider answers 503
    with pytest.raises(OAuth2Error, match="unreachable"):
        _cached_json(url, refresh=True)


def test_a_staff_member_signs_in_to_the_admin_with_the_providers_button(
    sso, page, browser, live_server
):
    sso_sign_in(page)  # first sign-in creates alice; an administrator then makes her staff
    page.wait_for_selector(".chip-standing")
    get_user_model().objects.filter(username="alice").update(is_staff=True)
    context = browser.new_context(base_url=live_server.url)
    desk = context.new_page()
    desk.goto("/admin/login/?next=/admin/")
    desk.click("#sso-testop")
    desk.fill("input[name=login]", "alice")
    desk.fill("input[name=password]", "any")
    desk.click("button[type=submit]")
    desk.wait_for_url(f"{live_server.url}/admin/")
    assert "Site administration" in desk.content() or desk.locator("#user-tools").count() == 1
    context.close()
