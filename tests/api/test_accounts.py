"""Self-service accounts through the API and the pages their mails link to, on both
databases, with mail through a real SMTP server on loopback: sign up, follow the mailed link,
log in; reset a forgotten password; single-use, expiring links; no answer that tells whether
an address has an account; attempts limited per client."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from aifactory.db.tables import AccountToken
from aifactory.services import notifications
from aifactory.services.ids import utcnow
from tests.conftest import Platform, build_platform
from tests.mailbox import Mailbox

PASSWORD = "a long enough passphrase"


@pytest.fixture
def mp(mail_platform: Platform) -> Platform:
    return mail_platform


def mails(p: Platform, box: Mailbox, count: int) -> list[str]:
    assert p.runtime.mailer is not None
    notifications.deliver_once(p.runtime.db, p.runtime.mailer)
    return [m.get_content() for m in box.wait_for(count)]


def link(body: str, page: str) -> str:
    m = re.search(rf"https://portal\.example\.eu/{page}\?token=([A-Za-z0-9_-]+)", body)
    assert m, body
    return m.group(1)


def login(p: Platform, email: str, password: str = PASSWORD) -> int:
    r = p.client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return r.status_code


def test_sign_up_follow_the_mailed_link_then_log_in(mp: Platform, smtp_server: Mailbox) -> None:
    r = mp.client.post(
        "/api/v1/auth/signup", json={"email": "Ada@Example.eu", "name": "Ada", "password": PASSWORD}
    )
    assert r.status_code == 202, r.text
    assert login(mp, "ada@example.eu") == 403  # not verified yet
    (body,) = mails(mp, smtp_server, 1)
    assert smtp_server.envelopes[0].rcpt_tos == ("ada@example.eu",)
    token = link(body, "verify-email")
    page = mp.client.get(f"/verify-email?token={token}")
    assert page.status_code == 200 and "ada@example.eu is verified" in page.text
    assert login(mp, "ada@example.eu") == 201
    again = mp.client.get(f"/verify-email?token={token}")  # single use
    assert again.status_code == 400 and "used already" in again.text
    events = mp.admin.get("/audit/events", params={"limit": 50}).json()["items"]
    assert {"user.sign_up", "user.verify_email", "login"} <= {e["action"] for e in events}


def test_signing_up_with_a_taken_address_answers_the_same_and_tells_only_the_owner(
    mp: Platform, smtp_server: Mailbox
) -> None:
    owner = mp.user("olga")
    r = mp.client.post(
        "/api/v1/auth/signup", json={"email": owner.email, "name": "Mallory", "password": PASSWORD}
    )
    assert r.status_code == 202
    fresh = mp.client.post(
        "/api/v1/auth/signup", json={"email": "new@example.eu", "name": "New", "password": PASSWORD}
    )
    assert fresh.json() == r.json()  # no oracle
    bodies = mails(mp, smtp_server, 2)
    assert any("has an account already" in b for b in bodies)
    assert login(mp, owner.email, PASSWORD) == 401  # Mallory's password does not work
    assert login(mp, owner.email, "correct horse battery") == 201


def test_a_forgotten_password_is_reset_through_the_mailed_link_and_old_tokens_die(
    mp: Platform, smtp_server: Mailbox
) -> None:
    ada = mp.user("ada")
    assert ada.get("/users/me").status_code == 200
    unknown = mp.client.post("/api/v1/auth/password-reset", json={"email": "nobody@example.eu"})
    r = mp.client.post("/api/v1/auth/password-reset", json={"email": ada.email})
    assert r.status_code == unknown.status_code == 202 and r.json() == unknown.json()
    (body,) = mails(mp, smtp_server, 1)  # only the account's owner got one
    token = link(body, "reset-password")
    form = mp.client.get(f"/reset-password?token={token}")
    assert form.status_code == 200 and 'name="token"' in form.text
    short = mp.client.post(
        "/reset-password", data={"token": token, "password": "short", "confirm": "short"}
    )
    assert short.status_code == 422 and "at least 12 characters" in short.text
    differ = mp.client.post(
        "/reset-password", data={"token": token, "password": PASSWORD, "confirm": PASSWORD + "!"}
    )
    assert differ.status_code == 422 and "differ" in differ.text
    done = mp.client.post(
        "/reset-password", data={"token": token, "password": PASSWORD, "confirm": PASSWORD}
    )
    assert done.status_code == 200 and "is changed" in done.text
    assert ada.get("/users/me").status_code == 401  # every token of the account is revoked
    assert login(mp, ada.email, "correct horse battery") == 401
    assert login(mp, ada.email, PASSWORD) == 201
    reuse = mp.client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "password": "yet another passphrase"},
    )
    assert reuse.status_code == 422 and reuse.json()["errors"][0]["field"] == "token"


def test_an_expired_link_is_refused_and_a_new_one_replaces_the_old(
    mp: Platform, smtp_server: Mailbox
) -> None:
    ada = mp.user("ada")
    mp.client.post("/api/v1/auth/password-reset", json={"email": ada.email})
    mp.client.post("/api/v1/auth/password-reset", json={"email": ada.email})
    first, second = (link(b, "reset-password") for b in mails(mp, smtp_server, 2))
    body = {"password": PASSWORD}
    r = mp.client.post("/api/v1/auth/password-reset/confirm", json={"token": first, **body})
    assert r.status_code == 422 and "newer one" in r.json()["detail"]
    with mp.runtime.db.write() as s:
        s.execute(update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = mp.client.post("/api/v1/auth/password-reset/confirm", json={"token": second, **body})
    assert r.status_code == 422 and "expired" in r.json()["detail"]


def test_log_in_and_sign_up_are_rate_limited_with_retry_after(tmp_path: Path, db_url: str) -> None:
    p = build_platform(tmp_path, db_url, logins_per_5min=3, signups_per_hour=2)
    with p.client:
        codes = [login(p, "admin@localhost", "wrong password") for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        r = p.client.post(
            "/api/v1/auth/login", json={"email": "admin@localhost", "password": "wrong"}
        )
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        for i in range(2):
            ok = p.client.post(
                "/api/v1/auth/signup",
                json={"email": f"u{i}@example.eu", "name": "U", "password": PASSWORD},
            )
            assert ok.status_code == 202
        over = p.client.post(
            "/api/v1/auth/signup",
            json={"email": "u9@example.eu", "name": "U", "password": PASSWORD},
        )
        assert over.status_code == 429
    p.runtime.close()


def test_sign_up_can_be_closed(tmp_path: Path, db_url: str) -> None:
    p = build_platform(tmp_path, db_url, signup=False)
    with p.client:
        r = p.client.post(
            "/api/v1/auth/signup", json={"email": "x@example.eu", "name": "X", "password": PASSWORD}
        )
        assert r.status_code == 403 and "closed" in r.json()["detail"]
    p.runtime.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-address", "name": "A", "password": PASSWORD}, "email"),
        ({"email": "a@example.eu", "name": "A", "password": "short"}, "password"),
        ({"email": "a@example.eu", "name": "", "password": PASSWORD}, "name"),
    ],
)
def test_a_bad_sign_up_names_the_field_and_creates_nothing(
    mp: Platform, body: dict[str, str], field: str
) -> None:
    before = mp.admin.get("/audit/events", params={"limit": 1}).json()["total"]
    r = mp.client.post("/api/v1/auth/signup", json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
    assert mp.admin.get("/audit/events", params={"limit": 1}).json()["total"] == before


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def test_a_new_user_signs_up_in_the_portal_verifies_and_reaches_the_dashboard(
    mp: Platform, smtp_server: Mailbox
) -> None:
    from fastapi.testclient import TestClient

    b = TestClient(mp.client.app, follow_redirects=False)
    form = b.get("/signup")
    assert form.status_code == 200 and 'for="email"' in form.text
    short = b.post(
        "/signup",
        data={
            "csrf": _csrf(form.text),
            "name": "Grace",
            "email": "grace@example.eu",
            "password": "short",
        },
    )
    assert short.status_code == 422 and "at least 12 characters" in short.text
    assert 'value="grace@example.eu"' in short.text  # kept, the password not
    forged = b.post(
        "/signup",
        data={"csrf": "x", "name": "Grace", "email": "grace@example.eu", "password": PASSWORD},
    )
    assert forged.status_code == 403
    done = b.post(
        "/signup",
        data={
            "csrf": _csrf(forged.text),  # the latest form's: each form gets a fresh one
            "name": "Grace",
            "email": "grace@example.eu",
            "password": PASSWORD,
        },
    )
    assert done.status_code == 200 and "Check your mail" in done.text
    (body,) = mails(mp, smtp_server, 1)
    assert b.get(f"/verify-email?token={link(body, 'verify-email')}").status_code == 200
    login_form = b.get("/login")
    r = b.post(
        "/login",
        data={"csrf": _csrf(login_form.text), "email": "grace@example.eu", "password": PASSWORD},
    )
    assert r.status_code == 303
    assert "Dashboard" in b.get("/").text


def test_before_verifying_the_portal_log_in_says_what_to_do(mp: Platform) -> None:
    from fastapi.testclient import TestClient

    mp.client.post(
        "/api/v1/auth/signup", json={"email": "lin@example.eu", "name": "Lin", "password": PASSWORD}
    )
    b = TestClient(mp.client.app, follow_redirects=False)
    r = b.post(
        "/login",
        data={"csrf": _csrf(b.get("/login").text), "email": "lin@example.eu", "password": PASSWORD},
    )
    assert r.status_code == 401 and "verify your e-mail address first" in r.text
