"""Operators restrict where an organisation's jobs may run (an export-control or compliance
hold): only some sites and/or only sites in some countries, with a reason. On both databases."""

from __future__ import annotations

from typing import Any

import pytest

from aifactory.domain.identity import PlatformRole
from aifactory.scheduling.model import OrgRule
from aifactory.services import tenancy
from aifactory.services.errors import Invalid
from aifactory.services.identity import Principal
from tests.conftest import PROBLEM_JSON, Actor, Platform, quick_user

HOLD = {"sites": ["lumi", "hlrs"], "countries": ["FI", "DE"], "reason": "export-control hold"}


def put(actor: Actor, path: str, body: Any) -> Any:
    headers = {"Authorization": f"Bearer {actor.token}"}
    return actor.client.put(f"/api/v1{path}", json=body, headers=headers)


def events(platform: Platform, org_id: str) -> list[dict[str, Any]]:
    """The organisation's audit events, newest first."""
    items = platform.admin.get("/audit/events?limit=1000").json()["items"]
    return [e for e in items if e["object_id"] == org_id]


def rules(platform: Platform, *org_ids: str) -> dict[str, OrgRule]:
    with platform.runtime.db.read() as session:
        return tenancy.org_rules(session, org_ids)


def test_an_operator_restricts_an_organisation_and_lifts_it(platform: Platform) -> None:
    owner, org, _project = platform.tenant()
    oid = org["id"]
    member = quick_user(platform, "mem")
    assert owner.post(f"/orgs/{oid}/members", {"email": member.email}).status_code == 201
    operator = quick_user(platform, "op", ("operator",))
    _other_owner, other_org, _p = platform.tenant()
    assert org["restriction"] is None

    for who in (owner, member):  # their own organisation, but only operators restrict
        r = put(who, f"/orgs/{oid}/restriction", HOLD)
        assert r.status_code == 403, r.text
        assert who.delete(f"/orgs/{oid}/restriction").status_code == 403
    assert owner.get(f"/orgs/{oid}").json()["restriction"] is None

    r = put(operator, f"/orgs/{oid}/restriction", HOLD)
    assert r.status_code == 200, r.text
    restriction = r.json()["restriction"]
    assert restriction["sites"] == ["hlrs", "lumi"]
    assert restriction["countries"] == ["DE", "FI"]
    assert restriction["reason"] == "export-control hold"
    assert restriction["restricted_at"]
    # The organisation's own users see it, in the organisation and in the list.
    assert owner.get(f"/orgs/{oid}").json()["restriction"] == restriction
    assert member.get("/orgs").json()[0]["restriction"] == restriction
    event = events(platform, oid)[0]
    assert event["action"] == "organisation.restrict"
    assert event["actor"] == operator.user_id
    assert event["data"] == {
        "sites": ["hlrs", "lumi"],
        "countries": ["DE", "FI"],
        "reason": "export-control hold",
    }
    assert rules(platform, oid, other_org["id"]) == {
        oid: OrgRule(
            "export-control hold",
            countries=frozenset({"DE", "FI"}),
            sites=frozenset({"hlrs", "lumi"}),
        )
    }

    # A new restriction replaces the one in force; countries alone leave the sites open.
    r = put(operator, f"/orgs/{oid}/restriction", {"countries": ["LU"], "reason": "audit"})
    assert r.status_code == 200, r.text
    assert r.json()["restriction"]["sites"] == []
    assert rules(platform, oid) == {oid: OrgRule("audit", countries=frozenset({"LU"}))}

    r = operator.delete(f"/orgs/{oid}/restriction")
    assert r.status_code == 200, r.text
    assert r.json()["restriction"] is None
    assert owner.get(f"/orgs/{oid}").json()["restriction"] is None
    assert rules(platform, oid) == {}
    again = operator.delete(f"/orgs/{oid}/restriction")
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM_JSON
    assert "is not restricted" in again.json()["detail"]
    actions = [e["action"] for e in events(platform, oid)]
    assert actions[:3] == [
        "organisation.unrestrict",
        "organisation.restrict",
        "organisation.restrict",
    ]  # newest first
    assert events(platform, oid)[0]["data"] == {"sites": [], "countries": ["LU"], "reason": "audit"}


def test_another_tenants_organisation_is_not_found(platform: Platform) -> None:
    _owner, org, _project = platform.tenant()
    stranger, _o, _p = platform.tenant()
    operator = quick_user(platform, "op2", ("operator",))
    oid = org["id"]
    r = put(stranger, f"/orgs/{oid}/restriction", HOLD)
    assert r.status_code == 404, r.text
    assert stranger.delete(f"/orgs/{oid}/restriction").status_code == 404
    assert put(operator, "/orgs/org-nope/restriction", HOLD).status_code == 404
    assert operator.delete("/orgs/org-nope/restriction").status_code == 404
    assert platform.admin.get(f"/orgs/{oid}").json()["restriction"] is None
    assert [e["action"] for e in events(platform, oid)] == ["organisation.create"]


SITE_IDS = ["lumi", "hlrs", "daedalus", "leonardo", "meluxina", "marenostrum5", "mimer", "local"]
COUNTRIES = ["DE", "ES", "FI", "GR", "IT", "LU", "SE"]

# body -> (the field the 422 names, the allowed values it lists or None)
BAD: list[tuple[dict[str, Any], str, list[str] | None]] = [
    ({"sites": ["atlantis"], "reason": "r"}, "sites[0]", SITE_IDS),
    ({"sites": ["lumi", "LUMI"], "reason": "r"}, "sites[1]", SITE_IDS),
    ({"countries": ["fi"], "reason": "r"}, "countries[0]", COUNTRIES),
    ({"countries": ["FR"], "reason": "r"}, "countries[0]", COUNTRIES),  # no site in France
    ({"countries": ["FIN"], "reason": "r"}, "countries[0]", COUNTRIES),
    ({"sites": [], "countries": [], "reason": "r"}, "sites", None),
    ({"reason": "r"}, "sites", None),
    ({"sites": ["lumi"], "countries": ["DE"], "reason": "r"}, "sites[0]", ["hlrs"]),
    ({"sites": ["lumi"], "reason": ""}, "reason", None),
    ({"sites": ["lumi"], "reason": "   "}, "reason", None),
    ({"sites": ["lumi"], "reason": "x" * 501}, "reason", None),
    ({"sites": ["lumi"]}, "reason", None),
    ({"sites": ["lumi"], "reason": "r", "extra": 1}, "extra", None),
    ({"sites": "lumi", "reason": "r"}, "sites", None),
    ({"sites": [7], "reason": "r"}, "sites[0]", None),
]


def test_bad_input_names_the_field_and_writes_nothing(platform: Platform) -> None:
    _owner, org, _project = platform.tenant()
    oid = org["id"]
    operator = quick_user(platform, "op3", ("operator",))
    assert sorted(SITE_IDS) == sorted(s.id for s in platform.runtime.catalog.sites)
    # A restriction in force: a partial write of a refused one would show.
    r = put(operator, f"/orgs/{oid}/restriction", {"sites": ["local"], "reason": "in force"})
    assert r.status_code == 200, r.text
    before = operator.get(f"/orgs/{oid}").json()
    audit_before = events(platform, oid)
    for body, field, allowed in BAD:
        r = put(operator, f"/orgs/{oid}/restriction", body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == PROBLEM_JSON
        errors = r.json()["errors"]
        assert errors[0]["field"] == field, (body, errors)
        if allowed is not None:
            assert errors[0]["allowed"] == allowed, (body, errors)
        assert operator.get(f"/orgs/{oid}").json() == before, body
    assert events(platform, oid) == audit_before


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"sites": ["lumi"], "countries": [], "reason": " \t"}, "reason"),
        ({"sites": ["lumi"], "countries": [], "reason": "x" * 501}, "reason"),
        ({"sites": ["lumi"], "countries": [], "reason": "a\x00b"}, "reason"),
        ({"sites": [], "countries": [], "reason": "r"}, "sites"),
    ],
)
def test_the_service_checks_what_the_api_schema_also_checks(
    platform: Platform, kw: dict[str, Any], field: str
) -> None:
    """Callers other than the API (web pages, scripts) get the same answers."""
    _owner, org, _project = platform.tenant()
    operator = Principal(
        platform.admin.user_id, "op@example.eu", frozenset({PlatformRole.OPERATOR})
    )
    with platform.runtime.db.read() as session, pytest.raises(Invalid) as exc:
        tenancy.restrict_org(session, operator, org["id"], catalog=platform.runtime.catalog, **kw)
    assert exc.value.problems[0].field == field
