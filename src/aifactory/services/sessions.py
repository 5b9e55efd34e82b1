"""Portal log-ins: a session per browser, with an idle expiry (no request for a while) and an
absolute one (hours after log-in, whatever happens), ended at log-out. The cookie's value is
random (256 bits) and only its SHA-256 is stored; each session has its CSRF token."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.db.tables import User, WebSession
from aifactory.services import audit, identity
from aifactory.services.identity import Principal
from aifactory.services.ids import as_utc, new_id, utcnow

# last_seen_at is written at most this often: a page view costs no write every time.
_TOUCH = timedelta(seconds=60)


@dataclass(frozen=True)
class Opened:
    cookie: str  # the browser's, never stored
    csrf: str


@dataclass(frozen=True)
class Current:
    principal: Principal
    name: str
    csrf: str
    session_id: str


def open_session(session: Session, user: User, absolute: timedelta) -> Opened:
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(
        id=new_id("ses"),
        user_id=user.id,
        token_hash=identity.hash_token(cookie),
        csrf=csrf,
        created_at=now,
        last_seen_at=now,
        expires_at=now + absolute,
    )
    session.add(row)
    audit.append(
        session,
        actor=user.id,
        action="session.open",
        object_type="user",
        object_id=user.id,
        data={"session_id": row.id},
    )
    return Opened(cookie, csrf)


def current(session: Session, cookie: str, idle: timedelta) -> Current | None:
    """The session's user, or None (unknown, ended, expired, idle too long, user disabled)."""
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == identity.hash_token(cookie))
    ).first()
    if row is None:
        return None
    ws, user = row
    now = utcnow()
    if (
        ws.ended_at is not None
        or as_utc(ws.expires_at) <= now
        or as_utc(ws.last_seen_at) + idle <= now
        or user.disabled
    ):
        return None
    if now - as_utc(ws.last_seen_at) >= _TOUCH:
        ws.last_seen_at = now
    return Current(identity.principal_for_user(session, user), user.name, ws.csrf, ws.id)


def csrf_ok(expected: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def end(session: Session, session_id: str, actor: str) -> None:
    ws = session.get(WebSession, session_id)
    if ws is not None and ws.ended_at is None:
        ws.ended_at = utcnow()
        audit.append(
            session,
            actor=actor,
            action="session.end",
            object_type="user",
            object_id=ws.user_id,
            data={"session_id": ws.id},
        )
