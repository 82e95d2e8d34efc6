"""SCIM over real HTTP with the request shapes Microsoft Entra ID documents ("Develop and
plan provisioning for a SCIM endpoint"): PascalCase ops, `path: members` adds and removes,
the membership probe filter, "False" as a string, enterprise extension attributes."""

from __future__ import annotations

from accessportal.kernel.models import AuditEvent
from policies_app.selectors import role_sources
from requests_app.services.access_requests import access_request_create
from tests.identity.scim_support import API, GROUP, USER, entra_user


def test_entra_creates_a_user_and_finds_it_by_external_id_and_user_name(entra, user):
    assert (
        entra.get("Users", params={"filter": 'externalId eq "eve-0001"'}).json()["totalResults"]
        == 0
    )

    created = entra.post("Users", entra_user("eve@contoso.com", "eve-0001"))

    assert created.status_code == 201, created.text
    uid = created.json()["id"]
    for query in ('externalId eq "eve-0001"', 'userName eq "eve@contoso.com"'):
        found = entra.get("Users", params={"filter": query}).json()
        assert [u["id"] for u in found["Resources"]] == [uid], query
    eve = user("eve@contoso.com")
    assert (eve.first_name, eve.last_name, eve.email) == ("Eve", "Entra", "eve@contoso.com")


def test_entra_patches_user_attributes_and_ignores_the_ones_we_do_not_keep(entra, user):
    uid = entra.post("Users", entra_user("eve@contoso.com", "eve-0001")).json()["id"]

    answer = entra.patch(
        f"Users/{uid}",
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "eve@fabrikam.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Evelyn"},
        {"op": "Add", "path": "externalId", "value": "eve-0002"},
        {"op": "Replace", "path": "displayName", "value": "Evelyn Entra"},
        {
            "op": "Add",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "value": "Finance",
        },
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["externalId"] == "eve-0002"
    eve = user("eve@contoso.com")
    assert (eve.first_name, eve.email) == ("Evelyn", "eve@fabrikam.com")
    assert AuditEvent.objects.filter(action="user.scim_updated").count() == 1


def test_entra_group_members_add_probe_rename_and_remove(entra, user, server):
    pending = access_request_create(requester=user("alice"), roles=["dev-admin"], reason="CHG-9")
    uid = entra.post("Users", entra_user("eve@contoso.com", "eve-0001")).json()["id"]
    assert (
        entra.get("Groups", params={"filter": 'displayName eq "Access Reviewers"'}).json()[
            "totalResults"
        ]
        == 0
    )
    created = entra.post("Groups", {"schemas": [GROUP], "externalId": "8d3f",
                                    "displayName": "Access Reviewers", "members": []})  # fmt: skip
    assert created.status_code == 201, created.text
    gid = created.json()["id"]

    added = entra.patch(
        f"Groups/{gid}", {"op": "Add", "path": "members", "value": [{"value": uid}]}
    )

    assert added.status_code == 200, added.text
    assert role_sources(user("eve@contoso.com")) == {"reviewer": ["scim:entra"]}
    eve = API(server, user("eve@contoso.com"))
    assert [r["id"] for r in eve.get("requests/", scope="needs_review").json()["results"]] == [
        str(pending.id)
    ]
    probe = {"filter": f'id eq "{gid}" and members[value eq "{uid}"]',
             "excludedAttributes": "members"}  # fmt: skip
    assert entra.get("Groups", params=probe).json()["totalResults"] == 1
    found = entra.get("Groups", params={"filter": 'displayName eq "Access Reviewers"'}).json()
    assert [g["id"] for g in found["Resources"]] == [gid]

    renamed = entra.patch(f"Groups/{gid}", {"op": "Replace", "path": "displayName", "value": "Ops"})

    assert renamed.status_code == 200 and renamed.json()["displayName"] == "Ops"
    assert role_sources(user("eve@contoso.com")) == {}  # the mapping names the old name only

    entra.patch(
        f"Groups/{gid}", {"op": "Replace", "path": "displayName", "value": "Access Reviewers"}
    )
    assert role_sources(user("eve@contoso.com")) == {"reviewer": ["scim:entra"]}
    removed = entra.patch(
        f"Groups/{gid}", {"op": "Remove", "path": "members", "value": [{"value": uid}]}
    )
    assert removed.status_code == 200 and removed.json()["members"] == []
    assert role_sources(user("eve@contoso.com")) == {}
    assert entra.get("Groups", params=probe).json()["totalResults"] == 0


def test_entra_deactivates_with_the_string_false(entra, user, server):
    uid = entra.post("Users", entra_user("eve@contoso.com", "eve-0001")).json()["id"]
    members = [{"value": uid}]
    entra.post("Groups", {"schemas": [GROUP], "displayName": "Engineers", "members": members})
    eve = user("eve@contoso.com")
    waiting = access_request_create(requester=eve, roles=["dev-admin"], reason="CHG-1")
    assert API(server, eve).get("me/").status_code == 200
    gate = API(server, user("gate"))
    check = {"user": "eve@contoso.com", "role": "engineer"}  # standing, from the group
    assert gate.get("access/check/", **check).json()["allowed"] is True

    answer = entra.patch(f"Users/{uid}", {"op": "Replace", "path": "active", "value": "False"})

    assert answer.status_code == 200 and answer.json()["active"] is False
    assert gate.get("access/check/", **check).json()["allowed"] is False
    assert API(server, eve).get("me/").status_code == 401
    event = AuditEvent.objects.get(action="user.deprovisioned")
    assert event.actor_name == "scim:entra" and event.data["withdrawn"] == [str(waiting.pk)]
    assert role_sources(user("eve@contoso.com")) == {}


def test_entra_user_schema_with_the_enterprise_extension_is_accepted(entra):
    body = entra_user("eve@contoso.com", "eve-0001")
    assert body["schemas"] == [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]

    assert entra.post("Users", body).status_code == 201
