"""The portal's log-in, on both databases: a session cookie (HttpOnly, SameSite=Lax, Secure
outside development), CSRF on every form, log-out, idle and absolute expiry, and a dashboard
that shows only the caller's organisations and jobs."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from aifactory.db.tables import WebSession
from aifactory.services.ids import utcnow
from tests.conftest import Platform, build_platform, job_spec

PASSWORD = "correct horse battery"


def browser(p: Platform) -> TestClient:
    """A client of its own (its own cookie jar), as another browser."""
    return TestClient(p.client.app, follow_redirects=False, raise_server_exceptions=False)


def log_in(b: TestClient, email: str, password: str = PASSWORD) -> Any:
    form = b.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf, form.text
    return b.post("/login", data={"email": email, "password": password, "csrf": csrf.group(1)})


def test_log_in_gives_a_safe_cookie_and_the_dashboard_shows_only_my_tenant(
    platform: Platform,
) -> None:
    ada = platform.user("ada")
    org = platform.org(ada, "Ada Labs")
    project = platform.project(ada, org["id"], "triage", gpu_hours=None)
    assert ada.post("/jobs", job_spec(project["id"], name="ada-job")).status_code == 201
    bob = platform.user("bob")
    platform.org(bob, "Bob Corp")
    b = browser(platform)
    assert b.get("/").headers["location"] == "/login"
    r = log_in(b, ada.email)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = next(
        v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("aif_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    page = b.get("/")
    assert page.status_code == 200
    assert "Ada Labs" in page.text and "triage" in page.text and "ada-job" in page.text
    assert "Bob Corp" not in page.text
    # bob, in another browser, sees his own and nothing of ada's
    other = browser(platform)
    log_in(other, bob.email)
    assert "Bob Corp" in other.get("/").text and "Ada Labs" not in other.get("/").text


def test_a_wrong_password_or_a_forged_form_logs_nobody_in(platform: Platform) -> None:
    ada = platform.user("ada")
    b = browser(platform)
    r = log_in(b, ada.email, "wrong password")
    assert r.status_code == 401 and "e-mail or password is wrong" in r.text
    assert ada.email in r.text  # the form keeps what was typed, never the password
    assert "wrong password" not in r.text
    forged = browser(platform).post(
        "/login", data={"email": ada.email, "password": PASSWORD, "csrf": "guess"}
    )
    assert forged.status_code == 403 and "aif_session" not in forged.headers.get("set-cookie", "")


def test_log_out_needs_the_sessions_csrf_token_and_ends_the_session(platform: Platform) -> None:
    ada = platform.user("ada")
    b = browser(platform)
    log_in(b, ada.email)
    page = b.get("/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    refused = b.post("/logout", data={"csrf": "not it"})
    assert refused.status_code == 403 and b.get("/").status_code == 200
    kept = b.cookies["aif_session"]
    done = b.post("/logout", data={"csrf": csrf.group(1)})
    assert done.status_code == 303 and done.headers["location"] == "/login"
    # The old cookie no longer works even if a browser kept it.
    replay = browser(platform)
    replay.cookies.set("aif_session", kept)
    assert replay.get("/").headers["location"] == "/login"
    events = platform.admin.get("/audit/events", params={"limit": 20}).json()["items"]
    assert {"session.open", "session.end"} <= {e["action"] for e in events}


def test_an_idle_or_too_old_session_ends(platform: Platform) -> None:
    ada = platform.user("ada")
    b = browser(platform)
    log_in(b, ada.email)
    assert b.get("/").status_code == 200
    with platform.runtime.db.write() as s:
        s.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=61)))
    assert b.get("/").headers["location"] == "/login"
    log_in(b, ada.email)
    with platform.runtime.db.write() as s:
        s.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert b.get("/").headers["location"] == "/login"


def test_outside_development_the_cookie_is_secure(tmp_path: Path, db_url: str) -> None:
    p = build_platform(
        tmp_path, db_url, mode="production", secret_key="x" * 40, master_keys="k1:" + "A" * 43 + "="
    )
    with p.client:
        p.client.post(
            "/api/v1/users",
            json={"email": "ada@example.eu", "name": "Ada", "password": PASSWORD},
            headers={"Authorization": f"Bearer {p.admin.token}"},
        )
        b = TestClient(p.client.app, follow_redirects=False, base_url="https://testserver")
        r = log_in(b, "ada@example.eu")
        assert r.status_code == 303, r.text
        cookie = next(
            v
            for k, v in r.headers.multi_items()
            if k == "set-cookie" and v.startswith("aif_session=")
        )
        assert "Secure" in cookie and "HttpOnly" in cookie
        assert b.get("/").status_code == 200
    p.runtime.close()


def test_a_browser_gets_friendly_404_and_500_pages_the_api_keeps_its_problems(
    platform: Platform, monkeypatch: Any
) -> None:
    html = {"Accept": "text/html,application/xhtml+xml"}
    r = platform.client.get("/no-such-page", headers=html)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Page not found" in r.text
    api = platform.client.get("/api/v1/no-such-thing", headers=html)
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
    plain = platform.client.get("/no-such-page")
    assert plain.headers["content-type"] == "application/problem+json"

    ada = platform.user("ada")
    b = browser(platform)
    log_in(b, ada.email)
    from aifactory.services import tenancy

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals /etc/aifactory")

    monkeypatch.setattr(tenancy, "list_orgs", broken)
    r = b.get("/", headers=html)
    assert r.status_code == 500 and "Something went wrong" in r.text
    assert "secret internals" not in r.text and "Traceback" not in r.text
