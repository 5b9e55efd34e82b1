"""Builders for portal tests: a logged-in browser (a TestClient with its own cookie jar and the
session's CSRF token) without typing a password (no argon2 rounds; log-in has its own tests)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from aifactory.db.tables import User
from aifactory.services import sessions
from aifactory.web.session import COOKIE
from tests.conftest import Actor, Platform

HTML = {"accept": "text/html"}


@dataclass
class Browser:
    client: TestClient
    csrf: str

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        """A form as the browser sends it, with the session's CSRF token."""
        return self.client.post(path, data={"csrf": self.csrf, **(data or {})}, **kw)


def anonymous(platform: Platform) -> TestClient:
    return TestClient(
        platform.client.app, follow_redirects=False, raise_server_exceptions=False, headers=HTML
    )


def browser_of(platform: Platform, actor: Actor) -> Browser:
    with platform.runtime.db.write() as session:
        user = session.get(User, actor.user_id)
        assert user is not None
        opened = sessions.open_session(session, user, timedelta(hours=1))
    client = anonymous(platform)
    client.cookies.set(COOKIE, opened.cookie)
    return Browser(client, opened.csrf)


def routes_of(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves. FastAPI 0.165 keeps included routers as
    lazy entries in ``app.routes``; ``iter_route_contexts`` flattens them (with prefixes)."""
    try:
        from fastapi.routing import iter_route_contexts  # type: ignore[attr-defined]
    except ImportError:  # older FastAPI: app.routes is already flat
        flat: Any = app.routes
    else:
        flat = iter_route_contexts(app.routes)
    return {(m, r.path) for r in flat for m in (getattr(r, "methods", None) or ())}


def field_error(html: str, field: str) -> str:
    """The error shown beside a form's field (``<p class="error" id="<field>-error">``)."""
    found = re.search(rf'id="{re.escape(field)}-error"[^>]*>([^<]*)<', html)
    return found.group(1).strip() if found else ""
