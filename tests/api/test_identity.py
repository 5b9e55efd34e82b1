"""Log-in, API tokens, secrets at rest and the audit trail, on both databases."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from tests.conftest import PROBLEM_JSON, Actor, Platform, job_spec, run_until_final

PASSWORD = "correct horse battery"


def _login(platform: Platform, email: str, password: str = PASSWORD) -> Any:
    return platform.client.post("/api/v1/auth/login", json={"email": email, "password": password})


def _events(platform: Platform) -> list[dict[str, Any]]:
    r = platform.admin.get("/audit/events", params={"limit": 1000})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == len(page["items"])
    return list(page["items"])


def _rows(platform: Platform, table: str) -> list[dict[str, Any]]:
    with platform.runtime.db.read() as session:
        return [dict(r._mapping) for r in session.execute(text(f"SELECT * FROM {table}"))]


def _as(actor: Actor, token: str) -> Actor:
    return Actor(actor.user_id, actor.email, token, actor.client)


# -- log-in --------------------------------------------------------------------------------
def test_login_gives_a_token_that_works(platform: Platform) -> None:
    user = platform.user("erin")

    r = _login(platform, "Erin@Example.EU")  # e-mail addresses are not case-sensitive

    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token"].startswith("aif_") and body["prefix"] == body["token"][:10]
    expires = datetime.fromisoformat(body["expires_at"])
    expected = datetime.now(UTC) + timedelta(days=platform.settings.token_ttl_days)
    assert abs((expires - expected).total_seconds()) < 60
    me = _as(user, body["token"]).get("/users/me")
    assert me.status_code == 200, me.text
    assert (me.json()["id"], me.json()["email"]) == (user.user_id, "erin@example.eu")
    logins = [e for e in _events(platform) if e["action"] == "login"]
    assert [e["actor"] for e in logins] == [user.user_id, user.user_id]  # platform.user + ours


def test_a_wrong_password_is_refused_and_audited(platform: Platform) -> None:
    user = platform.user("erin")
    before = len(_events(platform))

    wrong = _login(platform, user.email, "not the password")
    unknown = _login(platform, "nobody@example.eu", "not the password")

    for r in (wrong, unknown):
        assert r.status_code == 401, r.text
        assert r.headers["content-type"] == PROBLEM_JSON
        assert r.headers["www-authenticate"] == "Bearer"
        assert "token" not in r.json()
    # The same answer for an unknown e-mail: log-in does not tell who has an account.
    assert wrong.json() == unknown.json()
    events = _events(platform)
    failed = [e for e in events[: len(events) - before] if e["action"] == "login.failed"]
    assert sorted(e["object_id"] for e in failed) == ["erin@example.eu", "nobody@example.eu"]
    assert {e["actor"] for e in failed} == {"anonymous"}
    # ... and no token came of it.
    assert len(_rows(platform, "api_tokens")) == 2  # the admin's and erin's own login


def test_a_failed_login_takes_as_long_for_an_unknown_email(platform: Platform) -> None:
    user = platform.user("erin")

    def median_s(email: str) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            assert _login(platform, email, "not the password").status_code == 401
            times.append(time.perf_counter() - started)
        return sorted(times)[1]

    known, unknown = median_s(user.email), median_s("nobody@example.eu")

    assert unknown > known / 4, (known, unknown)


def test_a_user_without_a_password_cannot_log_in(platform: Platform) -> None:
    r = platform.admin.post("/users", {"email": "sso@example.eu", "name": "sso"})
    assert r.status_code == 201, r.text

    for password in ("x", PASSWORD):
        assert _login(platform, "sso@example.eu", password).status_code == 401


def test_an_email_is_one_account_whatever_its_case(platform: Platform) -> None:
    platform.user("erin")

    r = platform.admin.post(
        "/users", {"email": "ERIN@example.eu", "name": "erin2", "password": PASSWORD}
    )

    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == PROBLEM_JSON


# -- tokens --------------------------------------------------------------------------------
def test_a_token_is_shown_once_and_listed_by_prefix_only(platform: Platform) -> None:
    user = platform.user("erin")

    r = user.post("/tokens", {"name": "laptop", "ttl_days": 1})

    assert r.status_code == 201, r.text
    created = r.json()
    plain = created["token"]
    assert created["prefix"] == plain[:10]
    expires = datetime.fromisoformat(created["expires_at"])
    assert abs((expires - datetime.now(UTC) - timedelta(days=1)).total_seconds()) < 60
    listed = user.get("/tokens")
    assert listed.status_code == 200
    assert plain not in listed.text and user.token not in listed.text
    assert all("token" not in t for t in listed.json())
    mine = {t["id"]: t for t in listed.json()}
    assert mine[created["id"]]["prefix"] == plain[:10]
    assert mine[created["id"]]["name"] == "laptop"
    assert {t["name"] for t in listed.json()} == {"login", "laptop"}
    assert _as(user, plain).get("/users/me").status_code == 200


def test_a_revoked_token_stops_working_and_the_others_do_not(platform: Platform) -> None:
    user = platform.user("erin")
    laptop = user.post("/tokens", {"name": "laptop"}).json()
    phone = user.post("/tokens", {"name": "phone"}).json()
    assert _as(user, laptop["token"]).get("/users/me").status_code == 200

    r = user.delete(f"/tokens/{laptop['id']}")

    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None
    dead = _as(user, laptop["token"]).get("/users/me")
    assert dead.status_code == 401
    assert "revoked" in dead.json()["detail"]
    assert _as(user, phone["token"]).get("/users/me").status_code == 200
    assert user.get("/users/me").status_code == 200  # the login token
    listed = {t["id"]: t for t in user.get("/tokens").json()}
    assert listed[laptop["id"]]["revoked_at"] == r.json()["revoked_at"]
    assert listed[phone["id"]]["revoked_at"] is None
    # Revoking again changes nothing and is not audited twice.
    again = user.delete(f"/tokens/{laptop['id']}")
    assert again.status_code == 200
    assert again.json()["revoked_at"] == r.json()["revoked_at"]
    revokes = [e for e in _events(platform) if e["action"] == "token.revoke"]
    assert [e["object_id"] for e in revokes] == [laptop["id"]]


def test_a_token_can_revoke_itself(platform: Platform) -> None:
    user = platform.user("erin")
    me = next(t for t in user.get("/tokens").json() if t["name"] == "login")

    assert user.delete(f"/tokens/{me['id']}").status_code == 200

    assert user.get("/users/me").status_code == 401


# -- secrets at rest -----------------------------------------------------------------------
def test_tokens_are_stored_hashed(platform: Platform) -> None:
    user = platform.user("erin")
    extra = user.post("/tokens", {"name": "ci"}).json()["token"]
    plains = [platform.admin.token, user.token, extra]

    rows = _rows(platform, "api_tokens")

    assert len(rows) == 3
    for row in rows:
        for column, value in row.items():
            for plain in plains:
                assert value != plain, f"api_tokens.{column} holds a token in clear"
                if isinstance(value, str) and column != "prefix":
                    assert plain[10:] not in value, f"api_tokens.{column} holds part of a token"


def test_passwords_are_stored_as_argon2_hashes(platform: Platform) -> None:
    platform.user("erin")
    platform.user("frank")

    rows = [r for r in _rows(platform, "users") if r["email"] != platform.admin.email]

    assert len(rows) == 2
    for row in rows:
        assert row["password_hash"].startswith("$argon2id$"), row["password_hash"][:12]
        assert PASSWORD not in str(row)
    assert rows[0]["password_hash"] != rows[1]["password_hash"]  # salted


# -- the audit trail -----------------------------------------------------------------------


def test_every_security_relevant_action_is_audited_in_an_intact_chain(
    platform: Platform,
) -> None:
    alice, org, project = platform.tenant("alice")
    bob = platform.user("bob")
    assert _login(platform, alice.email, "wrong password").status_code == 401
    token = alice.post("/tokens", {"name": "ci"}).json()
    assert alice.delete(f"/tokens/{token['id']}").status_code == 200
    r = alice.post(f"/orgs/{org['id']}/members", {"email": bob.email, "role": "member"})
    assert r.status_code == 201, r.text
    r = alice.post(f"/projects/{project['id']}/members", {"email": bob.email})
    assert r.status_code == 201, r.text
    assert alice.delete(f"/orgs/{org['id']}/members/{bob.user_id}").status_code == 204
    ran = alice.post("/jobs", job_spec(project["id"], "true", name="ran")).json()["id"]
    assert run_until_final(platform, ran, alice)["state"] == "completed"
    dropped = alice.post("/jobs", job_spec(project["id"], "true", name="dropped")).json()["id"]
    assert alice.post(f"/jobs/{dropped}/cancel").status_code == 200

    events = _events(platform)

    by_action: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_action.setdefault(e["action"], []).append(e)
    expected = {
        "user.create": ("user", None),
        "login": ("user", None),
        "login.failed": ("user", None),
        "token.create": ("token", None),
        "token.revoke": ("token", None),
        "organisation.create": ("organisation", org["id"]),
        "membership.set": ("organisation", org["id"]),
        "membership.remove": ("organisation", org["id"]),
        "project.create": ("project", org["id"]),
        "project.member.add": ("project", org["id"]),
        "job.submit": ("job", org["id"]),
        "job.placement": ("job", org["id"]),
        "job.cancel": ("job", org["id"]),
    }
    missing = set(expected) - set(by_action)
    assert not missing, f"no audit event for {sorted(missing)}"
    for action, (object_type, org_id) in expected.items():
        for e in by_action[action]:
            assert e["object_type"] == object_type, e
            if org_id is not None:
                assert e["org_id"] == org_id, e
    assert by_action["token.revoke"][0]["object_id"] == token["id"]
    assert by_action["token.revoke"][0]["actor"] == alice.user_id
    assert by_action["membership.set"][0]["data"]["user_id"] == bob.user_id
    assert by_action["membership.remove"][0]["data"]["user_id"] == bob.user_id
    assert {e["object_id"] for e in by_action["job.submit"]} == {ran, dropped}
    assert [e["object_id"] for e in by_action["job.placement"]] == [ran]
    assert [e["object_id"] for e in by_action["job.cancel"]] == [dropped]
    assert all(e["actor"] == alice.user_id for e in by_action["job.cancel"])
    # Newest first, one link per event, no gaps.
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(len(events), 0, -1))
    # No secret ever goes into the trail.
    trail = platform.admin.get("/audit/events", params={"limit": 1000}).text
    for secret in (PASSWORD, "wrong password", alice.token, bob.token, token["token"]):
        assert secret not in trail

    verify = platform.admin.get("/audit/verify")

    assert verify.status_code == 200, verify.text
    assert verify.json() == {
        "ok": True,
        "checked": len(events),
        "broken_seq": None,
        "problem": verify.json()["problem"],
    }


def test_audit_events_page_newest_first(platform: Platform) -> None:
    for i in range(3):
        platform.org(platform.admin, f"Org {i}")
    everything = _events(platform)

    page = platform.admin.get("/audit/events", params={"limit": 2, "offset": 1}).json()

    assert page["total"] == len(everything)
    assert [e["seq"] for e in page["items"]] == [e["seq"] for e in everything[1:3]]
