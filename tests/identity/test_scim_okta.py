"""SCIM over real HTTP with the request shapes Okta documents: a user found by userName,
created, pushed into groups (which give roles through the sso_mapping), deactivated and
reactivated, deleted."""

from __future__ import annotations

import hashlib

import pytest
from django.core.management import call_command
from django.test import Client

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from policies_app.models import DirectoryToken
from policies_app.selectors import role_sources
from policies_app.services.directory_tokens import directory_token_mint
from requests_app.models import AccessRequest
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from tests.identity.scim_support import API, GROUP, SCIMClient, okta_user


def _find(scim: SCIMClient, username: str) -> dict:
    answer = scim.get("Users", params={"filter": f'userName eq "{username}"'})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_user_okta_creates_is_found_by_user_name(okta, user):
    assert _find(okta, "dan@example.com")["totalResults"] == 0

    created = okta.post("Users", okta_user("dan@example.com"))

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["userName"] == "dan@example.com" and body["active"] is True
    assert body["externalId"] == "00u1" and body["name"]["givenName"] == "Dan"
    assert created.headers["Location"].endswith(f"/scim/v2/Users/{body['id']}")
    found = _find(okta, "dan@example.com")
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == body["id"]
    assert okta.get(f"Users/{body['id']}").json()["emails"][0]["value"] == "dan@example.com"
    dan = user("dan@example.com")
    assert not dan.has_usable_password()  # Okta's password is not kept: sign-in is SSO
    event = AuditEvent.objects.get(action="user.scim_created")
    assert event.actor_name == "scim:okta" and event.data["external_id"] == "00u1"


def test_group_push_gives_mapped_roles_and_a_pending_request_gets_the_new_reviewer(
    okta, user, server
):
    pending = access_request_create(requester=user("alice"), roles=["db-admin"], reason="INC-7")
    dan_id = okta.post("Users", okta_user("dan@example.com")).json()["id"]
    dan = API(server, user("dan@example.com"))
    assert dan.get("requests/", scope="needs_review").json()["results"] == []

    group = okta.post("Groups", {"schemas": [GROUP], "displayName": "dba-team",
                                 "externalId": "00g-dba", "members": []})  # fmt: skip
    assert group.status_code == 201, group.text
    gid = group.json()["id"]
    added = okta.patch(
        f"Groups/{gid}",
        {"op": "add", "path": "members", "value": [{"value": dan_id, "display": "dan"}]},
    )
    assert added.status_code == 200, added.text
    assert added.json()["members"] == [{"value": dan_id, "display": "dan@example.com"}]

    # The group's externalId is the mapped claim value: dan reviews now, at once.
    assert role_sources(user("dan@example.com")) == {"reviewer": ["scim:okta"]}
    ids = [r["id"] for r in dan.get("requests/", scope="needs_review").json()["results"]]
    assert ids == [str(pending.id)]

    # Okta's rename repeats the id; the externalId still matches, so the role stays.
    renamed = okta.patch(
        f"Groups/{gid}", {"op": "replace", "value": {"id": gid, "displayName": "DBAs"}}
    )
    assert renamed.status_code == 200 and renamed.json()["displayName"] == "DBAs"
    assert role_sources(user("dan@example.com")) == {"reviewer": ["scim:okta"]}

    removed = okta.patch(f"Groups/{gid}", {"op": "remove", "path": f'members[value eq "{dan_id}"]'})
    assert removed.status_code == 200 and removed.json()["members"] == []
    assert role_sources(user("dan@example.com")) == {}
    assert dan.get("requests/", scope="needs_review").json()["results"] == []
    synced = AuditEvent.objects.filter(action="user.scim_synced").order_by("seq")
    assert [(e.actor_name, e.data["gained"], e.data["lost"]) for e in synced] == [
        ("scim:okta", ["reviewer"], []),
        ("scim:okta", [], ["reviewer"]),
    ]


def test_renaming_a_group_out_of_its_mapping_takes_the_role_away(okta, user):
    dan_id = okta.post("Users", okta_user("dan@example.com")).json()["id"]
    gid = okta.post("Groups", {"schemas": [GROUP], "displayName": "eng-platform",
                               "members": [{"value": dan_id}]}).json()["id"]  # fmt: skip
    assert role_sources(user("dan@example.com")) == {"engineer": ["scim:okta"]}

    okta.patch(f"Groups/{gid}", {"op": "replace", "value": {"id": gid, "displayName": "ops"}})

    assert role_sources(user("dan@example.com")) == {}
    assert okta.get(f"Users/{dan_id}").json()["groups"] == [{"value": gid, "display": "ops"}]


def test_deactivation_ends_access_on_the_next_check_and_reactivation_restores_roles(
    okta, user, server
):
    alice = user("alice")  # a local account Okta adopts by userName (import matching)
    live = access_request_create(requester=alice, roles=["db-admin"], reason="INC-1")
    review_submit(request_id=live.id, reviewer=user("bob"), state="APPROVED")
    waiting = access_request_create(requester=alice, roles=["dev-admin"], reason="INC-2")
    gate, alice_api = API(server, user("gate")), API(server, alice)
    check = {"user": "alice", "role": "db-admin"}
    assert gate.get("access/check/", **check).json()["allowed"] is True
    found = _find(okta, "alice")["Resources"]
    assert len(found) == 1
    alice_id = found[0]["id"]
    gid = okta.post("Groups", {"schemas": [GROUP], "displayName": "eng-core",
                               "members": [{"value": alice_id}]}).json()["id"]  # fmt: skip
    assert role_sources(alice)["engineer"] == ["policy", "scim:okta"]

    off = okta.patch(f"Users/{alice_id}", {"op": "replace", "value": {"active": False}})

    assert off.status_code == 200 and off.json()["active"] is False
    assert gate.get("access/check/", **check).json()["allowed"] is False
    assert alice_api.get("me/").status_code == 401
    assert AccessRequest.objects.get(pk=waiting.pk).state == RequestState.WITHDRAWN
    assert AccessRequest.objects.get(pk=live.pk).state == RequestState.REVOKED
    assert role_sources(alice)["engineer"] == ["policy"]  # the group's part is gone
    event = AuditEvent.objects.get(action="user.deprovisioned")
    assert event.actor_name == "scim:okta" and event.data["withdrawn"] == [str(waiting.pk)]
    # Still in the group at Okta: reactivation gives its roles back.
    assert okta.get(f"Groups/{gid}").json()["members"][0]["value"] == alice_id

    on = okta.patch(f"Users/{alice_id}", {"op": "replace", "value": {"active": True}})

    assert on.status_code == 200 and on.json()["active"] is True
    assert role_sources(user("alice"))["engineer"] == ["policy", "scim:okta"]
    assert AuditEvent.objects.get(action="user.reactivated").actor_name == "scim:okta"
    assert gate.get("access/check/", **check).json()["allowed"] is False  # revoked stays so


def test_put_with_active_false_deprovisions_too(okta, user, server):
    body = okta_user("dan@example.com")
    dan_id = okta.post("Users", body).json()["id"]

    answer = okta.put(f"Users/{dan_id}", {**body, "active": False, "name": {"givenName": "D"}})

    assert answer.status_code == 200, answer.text
    dan = user("dan@example.com")
    assert not dan.is_active and dan.first_name == "D" and dan.last_name == ""
    assert AuditEvent.objects.filter(action="user.deprovisioned").count() == 1


def test_delete_deprovisions_and_hides_the_account_but_keeps_it(okta, user):
    dan_id = okta.post("Users", okta_user("dan@example.com")).json()["id"]
    okta.post(
        "Groups", {"schemas": [GROUP], "displayName": "eng-x", "members": [{"value": dan_id}]}
    )

    assert okta.delete(f"Users/{dan_id}").status_code == 204

    assert okta.get(f"Users/{dan_id}").status_code == 404
    assert _find(okta, "dan@example.com")["totalResults"] == 0
    dan = user("dan@example.com")
    assert not dan.is_active and role_sources(dan) == {}
    assert AuditEvent.objects.get(action="user.scim_deleted").data["groups"] == ["eng-x"]
    again = okta.post("Users", okta_user("dan@example.com"))
    assert again.status_code == 409 and again.json()["scimType"] == "uniqueness"


def test_each_provider_sees_only_its_own_users_and_groups_and_never_a_superuser(okta, entra, admin):
    dan_id = okta.post("Users", okta_user("dan@example.com")).json()["id"]
    gid = okta.post("Groups", {"schemas": [GROUP], "displayName": "eng-a"}).json()["id"]

    assert entra.get(f"Users/{dan_id}").status_code == 404
    assert (
        entra.patch(f"Users/{dan_id}", {"op": "replace", "value": {"active": False}}).status_code
        == 404
    )
    assert entra.get(f"Groups/{gid}").status_code == 404
    assert _find(entra, "dan@example.com")["totalResults"] == 0
    assert _find(okta, "root")["totalResults"] == 0
    assert okta.get(f"Users/{admin.pk}").status_code == 404
    listed = {u["userName"] for u in okta.get("Users").json()["Resources"]}
    assert "dan@example.com" in listed and "root" not in listed


def test_a_portal_session_is_not_a_scim_credential(server, admin):
    client = Client()
    client.force_login(admin)
    anonymous = SCIMClient(server, None)
    anonymous.http.cookies.set("sessionid", client.cookies["sessionid"].value)

    answer = anonymous.get("Users")

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="scim"'


def test_the_token_command_prints_the_key_once_stores_its_hash_and_revokes(server, capsys):
    call_command("scim_token", "okta")
    key = capsys.readouterr().out.strip()
    row = DirectoryToken.objects.get(provider="okta")
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() and key not in row.key_hash
    assert SCIMClient(server, key).get("Users").status_code == 200
    assert DirectoryToken.objects.get(provider="okta").last_used is not None

    call_command("scim_token", "okta", "--revoke")

    assert SCIMClient(server, key).get("Users").status_code == 401
    actions = list(
        AuditEvent.objects.filter(target_type="scim_token").values_list("action", flat=True)
    )
    assert actions == ["scim_token.minted", "scim_token.revoked"]


def test_a_provider_without_an_sso_mapping_is_refused(server):
    google = SCIMClient(server, directory_token_mint(provider="google", actor="test"))

    answer = google.get("Users")

    assert answer.status_code == 403 and "no sso_mapping" in answer.json()["detail"]


@pytest.mark.parametrize(
    "path", ["ServiceProviderConfig", "ResourceTypes", "Schemas", "ResourceTypes/User"]
)
def test_discovery_endpoints_answer(okta, path):
    answer = okta.get(path)

    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/scim+json")


def test_a_changed_mapping_moves_the_roles_of_pushed_groups_at_once(okta, user, apply_yaml):
    dan_id = okta.post("Users", okta_user("dan@example.com")).json()["id"]
    okta.post("Groups", {"schemas": [GROUP], "displayName": "eng-platform",
                         "members": [{"value": dan_id}]})  # fmt: skip
    assert role_sources(user("dan@example.com")) == {"engineer": ["scim:okta"]}

    apply_yaml(
        """
        kind: sso_mapping
        name: okta
        spec:
          claims_to_roles:
            - {claim: groups, value: "eng-*", roles: [dev-admin]}
        """
    )

    assert role_sources(user("dan@example.com")) == {"dev-admin": ["scim:okta"]}
    event = AuditEvent.objects.filter(action="user.scim_synced").latest("seq")
    assert event.data["gained"] == ["dev-admin"] and event.data["lost"] == ["engineer"]


def test_search_by_post_and_unsupported_endpoints(okta):
    okta.post("Users", okta_user("dan@example.com"))
    search = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
              "filter": 'userName eq "dan@example.com"'}  # fmt: skip

    found = okta.post("Users/.search", search)

    assert found.status_code == 200, found.text
    assert [u["userName"] for u in found.json()["Resources"]] == ["dan@example.com"]
    assert okta.get("Me").status_code == 501
    assert okta.post("Bulk", {"schemas": ["x"]}).status_code == 501
    assert okta.call("POST", "Bulk", data="not JSON \x00").status_code == 501


def test_a_provider_adopts_only_what_a_first_sign_in_could_link(okta, user, apply_yaml):
    """One rule for SCIM and sign-in (policies_app.selectors.accounts_adoptable_by): staff
    accounts, accounts with a password, and accounts an admin deactivated are not a
    provider's to read, change, reactivate or put in its groups."""
    bob, carol, alice = user("bob"), user("carol"), user("alice")
    bob.is_staff = True
    bob.save()
    carol.set_password("carol-password-1")
    carol.save()
    alice.is_active = False
    alice.save()
    for person in (bob, carol, alice):
        assert okta.get(f"Users/{person.pk}").status_code == 404
        assert _find(okta, person.username)["totalResults"] == 0
        back = okta.patch(f"Users/{person.pk}", {"op": "replace", "value": {"active": True}})
        assert back.status_code == 404
        group = {"schemas": [GROUP], "displayName": "eng-x", "members": [{"value": person.pk}]}
        assert okta.post("Groups", group).status_code == 400
    alice.refresh_from_db()
    assert not alice.is_active
    assert _find(okta, "mallory")["totalResults"] == 1  # a policy-file account: adoptable
