"""Log-in through a real OpenID Connect provider on loopback (oidc-provider-mock): the browser
goes to the provider, says who it is there, comes back, and has a portal session. Accounts are
linked by (issuer, subject); a first log-in links by e-mail only when the provider says the
address is verified."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from aifactory.db.tables import OidcIdentity, User
from aifactory.web.oidc import PENDING
from aifactory.web.session import COOKIE
from tests.conftest import Databases, Platform, build_platform, quick_user
from tests.oidc_provider import CLIENT_ID, Provider
from tests.web.portal import anonymous


@pytest.fixture
def op(tmp_path: Path, databases: Databases, oidc_provider: Provider) -> Iterator[Platform]:
    p = build_platform(
        tmp_path, databases.sqlite(tmp_path / "data" / "aifactory.db"), **oidc_provider.settings()
    )
    with p.client:
        yield p
    p.runtime.close()


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def start(client: TestClient, next_path: str = "/") -> str:
    """Open /login/oidc: the provider's authorize URL it redirects to."""
    r = client.get("/login/oidc", params={"next": next_path})
    assert r.status_code == 303, r.text
    assert PENDING in r.cookies or client.cookies.get(PENDING)
    return str(r.headers["location"])


def log_in(
    platform: Platform, provider: Provider, sub: str, claims: dict[str, Any], next_path: str = "/"
) -> tuple[TestClient, Any]:
    """The whole flow: the callback's answer, and the browser (with its cookies)."""
    client = anonymous(platform)
    authorize = start(client, next_path)
    provider.set_user(sub, claims)
    back = provider.authorize(authorize, sub)
    return client, client.get(_path(back))


def _identities(platform: Platform) -> list[tuple[str, str, str]]:
    with platform.runtime.db.read() as session:
        rows = session.execute(select(OidcIdentity)).scalars()
        return [(r.issuer, r.subject, r.user_id) for r in rows]


def _user(platform: Platform, email: str) -> User | None:
    with platform.runtime.db.read() as session:
        user = session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is not None:
            session.expunge(user)
        return user


def _actions(platform: Platform) -> list[dict[str, Any]]:
    r = platform.admin.get("/audit/events", params={"limit": 200})
    return list(r.json()["items"])


def test_the_log_in_page_offers_the_provider_by_its_name(op: Platform) -> None:
    html = anonymous(op).get("/login").text
    assert "Log in with MockID" in html
    assert 'action="/login/oidc"' in html


def test_without_a_provider_there_is_no_button_and_no_flow(sqlite_platform: Platform) -> None:
    client = anonymous(sqlite_platform)
    assert "Log in with" not in client.get("/login").text
    assert client.get("/login/oidc").status_code == 404


def test_the_authorize_request_carries_state_nonce_and_pkce(
    op: Platform, oidc_provider: Provider
) -> None:
    url = start(anonymous(op))
    assert url.startswith(oidc_provider.issuer + "/oauth2/authorize?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["client_id"] == CLIENT_ID
    assert query["response_type"] == "code"
    assert query["scope"] == "openid email profile"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert len(query["state"]) >= 24 and len(query["nonce"]) >= 24
    assert query["redirect_uri"] == op.settings.base_url + "/login/oidc/callback"


def test_a_first_log_in_with_a_verified_address_creates_the_account(
    op: Platform, oidc_provider: Provider
) -> None:
    claims = {"email": "Nora@Example.eu", "email_verified": True, "name": "Nora Nordic"}
    client, r = log_in(op, oidc_provider, "nora-sub", claims, next_path="/?from=sso")
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/?from=sso"
    assert client.cookies.get(COOKIE)
    dashboard = client.get("/")
    assert dashboard.status_code == 200 and "Nora Nordic" in dashboard.text
    user = _user(op, "nora@example.eu")
    assert user is not None
    assert user.password_hash is None and user.email_verified_at is not None
    assert _identities(op) == [(oidc_provider.issuer, "nora-sub", user.id)]
    events = _actions(op)
    link = next(e for e in events if e["action"] == "oidc.link")
    assert link["object_id"] == user.id
    assert link["data"] == {
        "issuer": oidc_provider.issuer,
        "subject": "nora-sub",
        "account": "created",
    }
    assert {"user.create", "login.oidc", "session.open"} <= {e["action"] for e in events}
    assert op.admin.get("/audit/verify").json()["ok"] is True


def test_an_existing_account_is_linked_by_its_verified_address(
    op: Platform, oidc_provider: Provider
) -> None:
    ada = quick_user(op, "ada")
    client, r = log_in(
        op, oidc_provider, "ada-at-idp", {"email": "ada@example.eu", "email_verified": True}
    )
    assert r.status_code == 303, r.text
    assert "ada" in client.get("/").text
    assert _identities(op) == [(oidc_provider.issuer, "ada-at-idp", ada.user_id)]
    link = next(e for e in _actions(op) if e["action"] == "oidc.link")
    assert link["actor"] == ada.user_id and link["data"]["account"] == "linked"


def test_a_signed_up_but_unverified_account_is_verified_by_the_provider(
    op: Platform, oidc_provider: Provider
) -> None:
    r = op.client.post(
        "/api/v1/auth/signup",
        json={"email": "una@example.eu", "name": "Una", "password": "a long enough passphrase"},
    )
    assert r.status_code == 202, r.text
    user = _user(op, "una@example.eu")
    assert user is not None and user.email_verified_at is None
    _, r = log_in(op, oidc_provider, "una-sub", {"email": "una@example.eu", "email_verified": True})
    assert r.status_code == 303, r.text
    after = _user(op, "una@example.eu")
    assert after is not None and after.id == user.id and after.email_verified_at is not None


@pytest.mark.parametrize("verified", [False, "false", None])
def test_an_unverified_address_is_refused_and_links_nothing(
    op: Platform, oidc_provider: Provider, verified: Any
) -> None:
    quick_user(op, "vic")
    claims: dict[str, Any] = {"email": "vic@example.eu"}
    if verified is not None:
        claims["email_verified"] = verified
    client, r = log_in(op, oidc_provider, f"mallory-{verified}", claims)
    assert r.status_code == 403
    assert "e-mail address is verified" in r.text and "Back to the log-in page" in r.text
    assert not client.cookies.get(COOKIE)
    assert _identities(op) == []
    refused = [e for e in _actions(op) if e["action"] == "login.oidc.refused"]
    assert refused and refused[0]["data"]["reason"] == "email not verified"


def test_a_new_address_is_refused_while_sign_up_is_closed(
    tmp_path: Path, databases: Databases, oidc_provider: Provider
) -> None:
    p = build_platform(
        tmp_path,
        databases.sqlite(tmp_path / "data" / "aifactory.db"),
        signup=False,
        **oidc_provider.settings(),
    )
    with p.client:
        claims = {"email": "new@example.eu", "email_verified": True}
        _, r = log_in(p, oidc_provider, "newbie", claims)
        assert r.status_code == 403 and "sign-up is closed" in r.text
        assert _user(p, "new@example.eu") is None
    p.runtime.close()


def test_a_second_log_in_finds_the_account_by_subject_even_with_a_new_address(
    op: Platform, oidc_provider: Provider
) -> None:
    first = {"email": "sam@example.eu", "email_verified": True, "name": "Sam"}
    _, r = log_in(op, oidc_provider, "sam-sub", first)
    assert r.status_code == 303
    user = _user(op, "sam@example.eu")
    assert user is not None
    # The provider now says another address, not even verified: the subject decides.
    client, r = log_in(op, oidc_provider, "sam-sub", {"email": "samuel@example.eu"})
    assert r.status_code == 303, r.text
    assert "Sam" in client.get("/").text
    assert _user(op, "samuel@example.eu") is None
    assert _identities(op) == [(oidc_provider.issuer, "sam-sub", user.id)]
    events = _actions(op)
    assert [e["action"] for e in events].count("oidc.link") == 1
    assert [e["action"] for e in events].count("login.oidc") == 2


def test_a_disabled_account_is_refused(op: Platform, oidc_provider: Provider) -> None:
    dora = quick_user(op, "dora")
    with op.runtime.db.write() as session:
        user = session.get(User, dora.user_id)
        assert user is not None
        user.disabled = True
    _, r = log_in(op, oidc_provider, "dora-sub", {"email": dora.email, "email_verified": True})
    assert r.status_code == 403 and "disabled" in r.text


def _tampered(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return parts.path + "?" + urlencode(query)


def test_a_changed_state_is_refused(op: Platform, oidc_provider: Provider) -> None:
    client = anonymous(op)
    oidc_provider.set_user("eve", {"email": "eve@example.eu", "email_verified": True})
    back = oidc_provider.authorize(start(client), "eve")
    r = client.get(_tampered(back, state="forged-state-value"))
    assert r.status_code == 400 and "state does not match" in r.text
    assert not client.cookies.get(COOKIE)
    assert _user(op, "eve@example.eu") is None


def test_a_callback_without_the_flow_cookie_or_with_a_forged_one_is_refused(
    op: Platform, oidc_provider: Provider
) -> None:
    client = anonymous(op)
    oidc_provider.set_user("eve2", {"email": "eve2@example.eu", "email_verified": True})
    back = oidc_provider.authorize(start(client), "eve2")
    # Another browser (an attacker's link) has no cookie of this flow.
    assert anonymous(op).get(_path(back)).status_code == 400
    sealed = client.cookies.get(PENDING)
    assert sealed
    body, _, mac = sealed.partition(".")
    client.cookies.set(PENDING, body[:-2] + "xx." + mac, path="/login/oidc")
    r = client.get(_path(back))
    assert r.status_code == 400 and "start again from the log-in page" in r.text
    assert _user(op, "eve2@example.eu") is None


def test_the_providers_refusal_is_a_clear_page(op: Platform, oidc_provider: Provider) -> None:
    client = anonymous(op)
    back = oidc_provider.authorize(start(client), "", deny=True)
    assert "error=access_denied" in back
    r = client.get(_path(back))
    assert r.status_code == 401
    assert "Log-in with MockID did not work" in r.text
    assert "MockID did not log you in (access_denied)" in r.text
    forged = anonymous(op).get("/login/oidc/callback?error=x&error_description=call+555-0100")
    assert forged.status_code == 401 and "555" not in forged.text  # no words of a stranger's


def test_a_replayed_code_does_not_log_in_twice(op: Platform, oidc_provider: Provider) -> None:
    client = anonymous(op)
    oidc_provider.set_user("rita", {"email": "rita@example.eu", "email_verified": True})
    back = oidc_provider.authorize(start(client), "rita")
    assert client.get(_path(back)).status_code == 303
    again = anonymous(op)
    again.cookies.set(PENDING, "", path="/login/oidc")
    assert again.get(_path(back)).status_code == 400  # the flow's cookie is gone with it


def test_an_unreachable_provider_is_a_page_not_an_error(
    tmp_path: Path, databases: Databases
) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = build_platform(
        tmp_path,
        databases.sqlite(tmp_path / "data" / "aifactory.db"),
        oidc_issuer=f"http://127.0.0.1:{port}",
        oidc_client_id="c",
        oidc_name="GoneID",
    )
    with p.client:
        r = anonymous(p).get("/login/oidc")
        assert r.status_code == 502
        assert "GoneID could not be reached; try again later" in r.text
    p.runtime.close()
