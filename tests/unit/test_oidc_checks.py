"""The checks of an OpenID Connect log-in that no honest provider would fail: an ID token
signed by another key, for another client, from another issuer, for another log-in (nonce),
expired; and the flow's signed cookie changed, or too old."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from aifactory.services import oidc
from aifactory.settings import load_settings

ISSUER = "https://idp.example.eu"
CLIENT = "aifactory"
NONCE = "n-0123456789"
KEY = RSAKey.generate_key(2048, parameters={"kid": "good"})
OTHER = RSAKey.generate_key(2048, parameters={"kid": "good"})  # same kid, not the provider's
JWKS = {"keys": [KEY.as_dict(private=False)]}


def _token(key: RSAKey = KEY, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "s-1", "aud": CLIENT, "iat": now, "exp": now + 300}
    claims["nonce"] = NONCE
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": "good"}, claims, key)


def _check(token: str) -> dict[str, Any]:
    return oidc.check_id_token(token, JWKS, issuer=ISSUER, client_id=CLIENT, nonce=NONCE)


def test_a_right_token_gives_its_claims() -> None:
    assert _check(_token(email="a@example.eu"))["email"] == "a@example.eu"
    assert _check(_token(aud=[CLIENT]))["sub"] == "s-1"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(_token(OTHER), id="signed by another key"),
        pytest.param(_token(iss="https://evil.example"), id="another issuer"),
        pytest.param(_token(aud="someone-else"), id="another audience"),
        pytest.param(_token(nonce="replayed"), id="another nonce"),
        pytest.param(_token(nonce=None), id="no nonce"),
        pytest.param(_token(exp=int(time.time()) - 3600), id="expired"),
        pytest.param(_token(sub=None), id="no subject"),
    ],
)
def test_a_wrong_token_is_refused(token: str) -> None:
    with pytest.raises(oidc.OidcFailed) as caught:
        _check(token)
    assert caught.value.status == 401


def test_an_unsigned_token_is_refused() -> None:
    header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    body = _token().split(".")[1]
    with pytest.raises(oidc.OidcFailed):
        _check(f"{header}.{body}.")


def test_the_flow_cookie_is_refused_when_changed_forged_or_old() -> None:
    settings = load_settings()
    pending = oidc.Pending("st", "no", "ver", "/next", time.time())
    sealed = oidc.seal(settings, pending)
    assert oidc.unseal(settings, sealed) == pending
    body, _, mac = sealed.partition(".")
    forged = oidc.seal(settings, replace(pending, next="/elsewhere")).partition(".")[0]
    assert oidc.unseal(settings, f"{forged}.{mac}") is None
    assert oidc.unseal(settings, body) is None
    other_key = load_settings(secret_key="another secret key of this platform")
    assert oidc.unseal(other_key, sealed) is None
    assert oidc.unseal(settings, sealed, now=time.time() + oidc.PENDING_TTL_S + 1) is None


def test_the_settings_refuse_a_provider_without_tls_or_a_client() -> None:
    with pytest.raises(ValueError, match="https"):
        load_settings(oidc_issuer="http://idp.example.eu", oidc_client_id="c")
    with pytest.raises(ValueError, match="oidc_client_id"):
        load_settings(oidc_issuer=ISSUER)
    with pytest.raises(ValueError, match="openid"):
        load_settings(oidc_scopes="email profile")
    ok = load_settings(oidc_issuer="http://127.0.0.1:9", oidc_client_id="c")
    assert ok.oidc_enabled and "s3cr3t" not in repr(load_settings(oidc_client_secret="s3cr3t"))
