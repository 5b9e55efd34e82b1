"""API tokens page: a new token is shown once, on the answer to the form (no redirect, not
cached, never again on the list), works on the API, and once revoked fails there at once."""

from __future__ import annotations

import re

from aifactory.services import identity
from tests.conftest import Actor, Platform, quick_user
from tests.web.portal import browser_of, field_error


def _value(html: str) -> str:
    found = re.search(r'id="token-value"[^>]*value="(aif_[\w-]+)"', html)
    assert found, html
    return found.group(1)


def test_a_token_is_shown_once_works_and_fails_at_once_when_revoked(
    sqlite_platform: Platform,
) -> None:
    p = sqlite_platform
    ada = quick_user(p, "ada")
    web = browser_of(p, ada)
    bad = web.post("/tokens", {"name": "ci", "ttl_days": "forever"})
    assert bad.status_code == 422 and field_error(bad.text, "ttl_days")
    assert 'value="ci"' in bad.text and "token-value" not in bad.text
    assert web.post("/tokens", {"name": "", "ttl_days": "30"}).status_code == 422

    r = web.post("/tokens", {"name": "ci runner", "ttl_days": "30"})
    assert r.status_code == 200 and "location" not in r.headers
    assert r.headers["cache-control"] == "no-store"
    plain = _value(r.text)
    assert "shown only this once" in r.text
    with p.runtime.db.read() as session:  # only the hash is kept
        (tok,) = [
            t for t in identity.list_tokens(session, _principal(p, ada)) if t.name == "ci runner"
        ]
        assert tok.token_hash == identity.hash_token(plain) and plain not in (tok.prefix, tok.name)
    api = {"Authorization": f"Bearer {plain}"}
    assert p.client.get("/api/v1/users/me", headers=api).json()["email"] == ada.email

    listed = web.get("/tokens")
    assert plain not in listed.text and "ci runner" in listed.text and tok.prefix in listed.text
    r = web.post(f"/tokens/{tok.id}/revoke")
    assert r.status_code == 303 and r.headers["location"] == "/tokens"
    refused = p.client.get("/api/v1/users/me", headers=api)
    assert refused.status_code == 401 and "revoked" in refused.text
    row = re.search(r"<th scope=\"row\">ci runner</th>(.*?)</tr>", web.get("/tokens").text, re.S)
    assert row and "revoked" in row.group(1) and "Revoke" not in row.group(1)
    assert ada.get("/users/me").status_code == 200  # her other token still works


def test_a_forged_revoke_and_another_users_token_change_nothing(sqlite_platform: Platform) -> None:
    p = sqlite_platform
    ada, bob = quick_user(p, "ada"), quick_user(p, "bob")
    with p.runtime.db.read() as session:
        (tok,) = identity.list_tokens(session, _principal(p, ada))
    forged = browser_of(p, ada).client.post(f"/tokens/{tok.id}/revoke", data={"csrf": "x"})
    assert forged.status_code == 403
    other = browser_of(p, bob).post(f"/tokens/{tok.id}/revoke")
    assert other.status_code == 404 and "Page not found" in other.text
    assert ada.get("/users/me").status_code == 200


def _principal(p: Platform, actor: Actor) -> identity.Principal:
    with p.runtime.db.read() as session:
        return identity.authenticate(session, actor.token)
