"""Users, API tokens, the caller (principal) and password log-in."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import literal, select, union_all
from sqlalchemy.orm import Session

from aifactory.db.tables import ApiToken, Membership, ProjectMember, User
from aifactory.domain.identity import MembershipRole, PlatformRole
from aifactory.services import audit
from aifactory.services.errors import Conflict, NotFound, Unauthenticated, Unverified
from aifactory.services.ids import as_utc, new_id, utcnow

TOKEN_PREFIX = "aif_"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: who, their platform roles, and their organisations."""

    user_id: str
    email: str
    roles: frozenset[PlatformRole]
    orgs: dict[str, MembershipRole] = field(default_factory=dict)
    projects: frozenset[str] = frozenset()
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return PlatformRole.ADMIN in self.roles

    @property
    def sees_all_tenants(self) -> bool:
        # Admins and operators run the federation; everyone else sees their organisations only.
        return bool(self.roles & {PlatformRole.ADMIN, PlatformRole.OPERATOR})

    @property
    def is_operator(self) -> bool:
        """Runs calls and allocations: operators and admins."""
        return bool(self.roles & {PlatformRole.ADMIN, PlatformRole.OPERATOR})

    @property
    def is_reviewer(self) -> bool:
        return PlatformRole.REVIEWER in self.roles

    @property
    def is_compliance_officer(self) -> bool:
        """Compliance officers and admins: they read the audit trail, review every project's
        use case and close compliance cases."""
        return bool(self.roles & {PlatformRole.ADMIN, PlatformRole.COMPLIANCE})

    def can_read_org(self, org_id: str) -> bool:
        return self.sees_all_tenants or org_id in self.orgs

    def owns_org(self, org_id: str) -> bool:
        return self.is_admin or self.orgs.get(org_id) is MembershipRole.OWNER


@functools.cache
def _dummy_hash() -> str:
    return PasswordHasher().hash(secrets.token_urlsafe(16))


def hash_token(token: str) -> str:
    # API tokens carry 256 bits of randomness, so a fast hash is safe here and keeps each
    # request cheap; passwords (low entropy) get argon2.
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str | None,
    roles: frozenset[PlatformRole] = frozenset(),
    actor: str = audit.SYSTEM_ACTOR,
    verified: bool = True,
) -> User:
    email = email.strip().lower()
    if session.execute(select(User.id).where(User.email == email)).first():
        raise Conflict(f"a user with email {email!r} already exists")
    user = User(
        id=new_id("usr"),
        email=email,
        name=name,
        password_hash=PasswordHasher().hash(password) if password else None,
        platform_roles=sorted(r.value for r in roles),
        created_at=utcnow(),
        disabled=False,
        email_verified_at=utcnow() if verified else None,
    )
    session.add(user)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="user.create",
        object_type="user",
        object_id=user.id,
        data={"email": email, "roles": user.platform_roles},
    )
    return user


def issue_token(
    session: Session, *, user_id: str, name: str, ttl: timedelta, actor: str
) -> tuple[ApiToken, str]:
    """Create a token; the plain value is returned once and never stored."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        id=new_id("tok"),
        user_id=user_id,
        name=name,
        token_hash=hash_token(plain),
        prefix=plain[:10],
        created_at=now,
        expires_at=now + ttl,
        revoked_at=None,
    )
    session.add(token)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="token.create",
        object_type="token",
        object_id=token.id,
        data={"user_id": user_id, "name": name, "expires_at": token.expires_at.isoformat()},
    )
    return token, plain


def revoke_token(session: Session, principal: Principal, token_id: str) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != principal.user_id and not principal.is_admin):
        raise NotFound("token", token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.append(
            session,
            actor=principal.user_id,
            action="token.revoke",
            object_type="token",
            object_id=token.id,
            data={"user_id": token.user_id},
        )
    return token


def list_tokens(session: Session, principal: Principal) -> list[ApiToken]:
    return list(
        session.execute(
            select(ApiToken)
            .where(ApiToken.user_id == principal.user_id)
            .order_by(ApiToken.created_at)
        ).scalars()
    )


def principal_for_user(session: Session, user: User, token_id: str | None = None) -> Principal:
    # One round trip for both kinds of membership: this runs on every request.
    rows = session.execute(
        union_all(
            select(literal("org"), Membership.org_id, Membership.role).where(
                Membership.user_id == user.id
            ),
            select(literal("project"), ProjectMember.project_id, literal("")).where(
                ProjectMember.user_id == user.id
            ),
        )
    ).all()
    orgs = {ident: MembershipRole(role) for kind, ident, role in rows if kind == "org"}
    projects = frozenset(ident for kind, ident, _ in rows if kind == "project")
    return Principal(
        user_id=user.id,
        email=user.email,
        roles=frozenset(PlatformRole(r) for r in user.platform_roles),
        orgs=orgs,
        projects=projects,
        token_id=token_id,
    )


def authenticate(session: Session, plain_token: str, now: datetime | None = None) -> Principal:
    now = now or utcnow()
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(plain_token))
    ).first()
    if row is None:
        raise Unauthenticated("the API token is not valid")
    token, user = row
    if token.revoked_at is not None:
        raise Unauthenticated("the API token was revoked")
    if as_utc(token.expires_at) <= now:
        raise Unauthenticated("the API token has expired")
    if user.disabled:
        raise Unauthenticated("the user is disabled")
    return principal_for_user(session, user, token.id)


def login(session: Session, *, email: str, password: str, ttl: timedelta) -> tuple[ApiToken, str]:
    """Exchange e-mail and password for a new API token; failures are audited too."""
    user = check_password(session, email=email, password=password)
    return issue_token(session, user_id=user.id, name="login", ttl=ttl, actor=user.id)


def check_password(session: Session, *, email: str, password: str) -> User:
    """The user whose e-mail and password these are (verified, not disabled)."""
    user = session.execute(
        select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()
    usable = user is not None and bool(user.password_hash) and not user.disabled
    # Without a usable account, verify against a dummy hash anyway: answering faster for an
    # unknown e-mail would tell an attacker which accounts exist.
    stored = user.password_hash if usable and user is not None else _dummy_hash()
    try:
        ok = PasswordHasher().verify(stored or "", password) and usable
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        raise Unauthenticated("e-mail or password is wrong")
    if user.email_verified_at is None:  # the password is right: saying so leaks nothing
        raise Unverified(
            "verify your e-mail address first: follow the link we sent "
            "(POST /api/v1/auth/verify-email/resend sends a new one)"
        )
    return user


def record_failed_login(session: Session, email: str) -> None:
    audit.append(
        session,
        actor="anonymous",
        action="login.failed",
        object_type="user",
        object_id=email.strip().lower()[:64],
    )


def record_login(session: Session, user_id: str) -> None:
    audit.append(session, actor=user_id, action="login", object_type="user", object_id=user_id)
