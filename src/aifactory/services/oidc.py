"""OpenID Connect log-in (how EuroHPC users arrive through a federated identity such as
MyAccessID): the authorization-code flow with PKCE, state and nonce through Authlib, the ID
token checked (signature by the provider's JWKS, issuer, audience, nonce, expiry), and the
person linked to an account.

Linking: an identity is the provider's (issuer, subject), never an e-mail. The first log-in
links it to the account with the same e-mail only when the provider says the address is
verified (or creates a verified account without a password); an unverified address is refused,
so nobody takes over an account by claiming its address at some provider. Later log-ins find
the account by (issuer, subject), whatever e-mail the provider says then.

The browser keeps the flow's secrets between the two requests in a signed, short-lived cookie
(``seal``/``unseal``): no server-side state, and a forged or replayed one is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.db.tables import OidcIdentity, User
from aifactory.services import accounts, audit, identity
from aifactory.services.errors import Forbidden
from aifactory.services.ids import new_id, utcnow
from aifactory.settings import Settings

with warnings.catch_warnings():
    # Authlib would prefer httpx2; the platform's client is httpx, which Authlib still
    # speaks (and whose errors are caught below).
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.integrations.httpx_client import OAuthError as AuthlibOAuthError

PENDING_TTL_S = 600  # the user has ten minutes at the provider
_METADATA_TTL_S = 3600.0
_TIMEOUT_S = 10.0
_LEEWAY_S = 120  # clock skew between the provider and us


class OidcFailed(Exception):
    """The log-in did not work; ``message`` says why in words a user can act on."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Pending:
    """What the callback must match: kept in the browser, signed, between the two requests."""

    state: str
    nonce: str
    verifier: str  # the PKCE code verifier
    next: str
    at: float  # when the flow started (unix seconds)


@dataclass(frozen=True)
class Claims:
    """Who the provider says logged in (from the checked ID token, and userinfo)."""

    issuer: str
    subject: str
    email: str
    email_verified: bool
    name: str


@dataclass(frozen=True)
class Outcome:
    user: User
    how: str  # "returning", "linked" (an existing account) or "created"


# --- the signed cookie ------------------------------------------------------------------


def _key(settings: Settings) -> bytes:
    # A key of its own, derived from the platform's secret: a value signed for this purpose
    # is worth nothing anywhere else.
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, b"aifactory oidc pending v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(settings: Settings, pending: Pending) -> str:
    body = _b64(json.dumps(asdict(pending), separators=(",", ":")).encode())
    mac = _b64(hmac.new(_key(settings), body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def unseal(settings: Settings, value: str, now: float | None = None) -> Pending | None:
    """The pending flow, or None when the value is not ours, was changed, or is too old."""
    body, _, mac = value.partition(".")
    want = _b64(hmac.new(_key(settings), body.encode(), hashlib.sha256).digest())
    if not mac or not hmac.compare_digest(mac, want):
        return None
    try:
        pending = Pending(**json.loads(_unb64(body)))
    except (ValueError, TypeError):
        return None
    if not 0 <= (now or time.time()) - pending.at <= PENDING_TTL_S:
        return None
    return pending


# --- the provider -----------------------------------------------------------------------

_metadata: dict[str, tuple[float, dict[str, Any]]] = {}
_metadata_lock = threading.Lock()


def _client(settings: Settings, redirect_uri: str, metadata: dict[str, Any]) -> OAuth2Client:
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    return OAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value() or None,
        token_endpoint_auth_method=method,
        scope=settings.oidc_scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=_TIMEOUT_S,
    )


def _unreachable(settings: Settings) -> OidcFailed:
    return OidcFailed(f"{settings.oidc_name} could not be reached; try again later", 502)


def provider_metadata(settings: Settings, *, force: bool = False) -> dict[str, Any]:
    """The provider's discovery document, kept an hour."""
    issuer = settings.oidc_issuer.rstrip("/")
    with _metadata_lock:
        cached = _metadata.get(issuer)
    if cached and not force and time.monotonic() - cached[0] < _METADATA_TTL_S:
        return cached[1]
    try:
        r = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=_TIMEOUT_S)
        r.raise_for_status()
        doc = r.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise _unreachable(settings) from exc
    needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    # Discovery must name the issuer we trust, or its tokens would not match it anyway.
    if not isinstance(doc, dict) or any(k not in doc for k in needed) or doc["issuer"] != issuer:
        words = "is not set up correctly here; tell an operator"
        raise OidcFailed(f"{settings.oidc_name} {words}", 502)
    with _metadata_lock:
        _metadata[issuer] = (time.monotonic(), doc)
    return doc


def begin(settings: Settings, redirect_uri: str, next_path: str) -> tuple[str, Pending]:
    """Where to send the browser, and what the callback must then match."""
    metadata = provider_metadata(settings)
    pending = Pending(
        state=secrets.token_urlsafe(24),
        nonce=secrets.token_urlsafe(24),
        verifier=secrets.token_urlsafe(48),
        next=next_path,
        at=time.time(),
    )
    with _client(settings, redirect_uri, metadata) as client:
        url, _state = client.create_authorization_url(
            metadata["authorization_endpoint"],
            state=pending.state,
            code_verifier=pending.verifier,
            nonce=pending.nonce,
        )
    return str(url), pending


def check_id_token(
    id_token: str,
    jwks: dict[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    access_token: str | None = None,
    algorithms: list[str] | None = None,
) -> dict[str, Any]:
    """The ID token's claims, once its signature (by a key of ``jwks``), issuer, audience,
    nonce, expiry and access-token hash are right; else OidcFailed."""
    try:
        token = jwt.decode(
            id_token,
            KeySet.import_key_set(jwks),  # type: ignore[arg-type]
            registry=JWSRegistry(algorithms=algorithms or ["RS256"], strict_check_header=False),
        )
        params: dict[str, Any] = {"nonce": nonce, "client_id": client_id}
        if access_token:
            params["access_token"] = access_token
        claims = CodeIDToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": client_id},
                "sub": {"essential": True},
            },
            params,
        )
        # An absent nonce would pass Authlib's check: ours was sent, so it must come back.
        if claims.get("nonce") != nonce:
            raise OidcFailed("the provider's answer is not for this log-in (nonce)", 401)
        claims.validate(leeway=_LEEWAY_S)
    except (JoseError, ValueError) as exc:
        raise OidcFailed(f"the provider's ID token was refused ({exc})", 401) from exc
    return dict(claims)


def _bool(value: Any) -> bool:
    # Some providers send "true" as a string.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def finish(settings: Settings, redirect_uri: str, pending: Pending, code: str) -> Claims:
    """Exchange the code (with the PKCE verifier) and check the ID token."""
    metadata = provider_metadata(settings)
    issuer = settings.oidc_issuer.rstrip("/")
    name = settings.oidc_name
    try:
        with _client(settings, redirect_uri, metadata) as client:
            token = client.fetch_token(
                metadata["token_endpoint"], code=code, code_verifier=pending.verifier
            )
            if "id_token" not in token:
                raise OidcFailed(f"{name} sent no ID token", 502)
            r = client.request("GET", metadata["jwks_uri"], withhold_token=True)
            r.raise_for_status()
            claims = check_id_token(
                token["id_token"],
                r.json(),
                issuer=issuer,
                client_id=settings.oidc_client_id,
                nonce=pending.nonce,
                access_token=token.get("access_token"),
                algorithms=metadata.get("id_token_signing_alg_values_supported"),
            )
            if "email" not in claims and metadata.get("userinfo_endpoint"):
                # Many providers put the profile in userinfo only.
                info = client.get(metadata["userinfo_endpoint"]).json()
                if isinstance(info, dict) and info.get("sub") == claims["sub"]:
                    claims = {**info, **claims}
    except AuthlibOAuthError as exc:
        raise OidcFailed(f"{name} refused the log-in ({exc.error})", 401) from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise _unreachable(settings) from exc
    email = str(claims.get("email") or "").strip().lower()
    full_name = str(
        claims.get("name")
        or " ".join(str(claims.get(k, "")) for k in ("given_name", "family_name")).strip()
        or email.partition("@")[0]
    )
    return Claims(
        issuer=issuer,
        subject=str(claims["sub"])[:255],
        email=email[:254],
        email_verified=_bool(claims.get("email_verified")),
        name=full_name[:200],
    )


# --- linking ----------------------------------------------------------------------------


class Refused(Forbidden):
    """No account can be had for this person; ``reason`` is the audit event's."""

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


def record_refusal(session: Session, claims: Claims, reason: str) -> None:
    """In its own transaction: the refused one is rolled back."""
    audit.append(
        session,
        actor="anonymous",
        action="login.oidc.refused",
        object_type="oidc_identity",
        object_id=claims.subject[:64],
        data={"issuer": claims.issuer, "email": claims.email, "reason": reason},
    )


def _account_for_first_login(session: Session, claims: Claims, allow_signup: bool) -> Outcome:
    if not claims.email or not claims.email_verified:
        raise Refused(
            "the provider did not confirm that your e-mail address is verified, so it cannot "
            "be linked to an account here; verify it at the provider, or log in with your "
            "password",
            "email not verified",
        )
    user = session.execute(select(User).where(User.email == claims.email)).scalar_one_or_none()
    if user is not None:
        if user.disabled:
            raise Refused("this account is disabled; ask an operator of this platform", "disabled")
        accounts.mark_verified(session, user, by=claims.issuer)  # the provider vouched
        return Outcome(user, "linked")
    if not allow_signup:
        raise Refused(
            f"no account here has the address {claims.email}, and sign-up is closed; ask an "
            "operator of this platform for an account",
            "sign-up closed",
        )
    user = identity.create_user(
        session,
        email=claims.email,
        name=claims.name or claims.email,
        password=None,
        actor="anonymous",
        verified=True,
    )
    return Outcome(user, "created")


def sign_in(session: Session, claims: Claims, *, allow_signup: bool) -> Outcome:
    """The account of this person: found by (issuer, subject), or on the first log-in linked
    by verified e-mail or created. Refused (nothing changed) when none can be."""
    now = utcnow()
    found = session.execute(
        select(OidcIdentity, User)
        .join(User, User.id == OidcIdentity.user_id)
        .where(OidcIdentity.issuer == claims.issuer, OidcIdentity.subject == claims.subject)
    ).first()
    if found is not None:
        link, user = found
        if user.disabled:
            raise Refused("this account is disabled; ask an operator of this platform", "disabled")
        link.last_login_at = now
        link.email = claims.email or link.email
        outcome = Outcome(user, "returning")
    else:
        outcome = _account_for_first_login(session, claims, allow_signup)
        link = OidcIdentity(
            id=new_id("oid"),
            user_id=outcome.user.id,
            issuer=claims.issuer,
            subject=claims.subject,
            email=claims.email,
            created_at=now,
            last_login_at=now,
        )
        session.add(link)
        session.flush()
        linked = {"issuer": claims.issuer, "subject": claims.subject, "account": outcome.how}
        _event(session, outcome.user, "oidc.link", linked)
    _event(session, outcome.user, "login.oidc", {"issuer": claims.issuer, "identity": link.id})
    return outcome


def _event(session: Session, user: User, action: str, data: dict[str, str]) -> None:
    audit.append(
        session, actor=user.id, action=action, object_type="user", object_id=user.id, data=data
    )
