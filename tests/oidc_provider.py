"""Pytest plugin: a real OpenID Connect provider on loopback (``oidc-provider-mock``, from the
test extra), served by werkzeug in a thread on 127.0.0.1 and a free port, for the session.

    def test_x(oidc_provider: Provider) -> None:
        oidc_provider.set_user("sub-1", {"email": "a@example.eu", "email_verified": True})
        back = oidc_provider.authorize(authorize_url, "sub-1")  # the redirect to our callback

Without the package the tests that use it skip with the reason; ``AIF_REQUIRE_OIDC=1`` (set in
CI) turns the skip into a failure."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

REQUIRE = os.environ.get("AIF_REQUIRE_OIDC") == "1"
CLIENT_ID = "aifactory-tests"
CLIENT_SECRET = "not-a-real-secret"


@dataclass(frozen=True)
class Provider:
    issuer: str

    def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        """What the provider will say about ``sub`` (its ID token's claims)."""
        r = httpx.put(f"{self.issuer}/users/{sub}", json=claims, timeout=10)
        assert r.status_code == 204, r.text

    def authorize(self, authorize_url: str, sub: str, *, deny: bool = False) -> str:
        """Post the provider's authorize form as a browser would: the redirect back."""
        assert authorize_url.startswith(self.issuer + "/"), authorize_url
        form = {"action": "deny"} if deny else {"sub": sub}
        r = httpx.post(authorize_url, data=form, timeout=10, follow_redirects=False)
        assert r.status_code in (302, 303), r.text
        return r.headers["location"]

    def settings(self) -> dict[str, Any]:
        """The platform's settings for this provider."""
        return {
            "oidc_issuer": self.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
            "oidc_name": "MockID",
        }


def _unavailable(why: str) -> None:
    if REQUIRE:
        pytest.fail(f"AIF_REQUIRE_OIDC=1 but {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Provider]:
    try:
        import oidc_provider_mock
        import werkzeug.serving
    except ImportError:
        _unavailable("oidc-provider-mock is not installed (pip install -e '.[test]')")
    # Nonce required: an ID token without ours would be a bug on our side too.
    app = oidc_provider_mock.app(require_nonce=True)
    try:
        server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    except OSError as exc:
        _unavailable(f"the OIDC provider could not listen on loopback: {exc}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    provider = Provider(f"http://127.0.0.1:{server.server_port}")
    try:
        r = httpx.get(provider.issuer + "/.well-known/openid-configuration", timeout=10)
        if r.status_code != 200:
            _unavailable(f"the OIDC provider answered {r.status_code} to discovery")
        yield provider
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
