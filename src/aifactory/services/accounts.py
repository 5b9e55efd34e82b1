"""Self-service accounts: sign-up with e-mail verification, password reset, and invitations
into an organisation, each through a single-use, expiring token sent by the platform's mail
(only its hash is stored).

Answers never tell whether an address has an account: signing up with a taken address and
asking to reset an unknown one look like success, and the mail (or its absence) tells only the
address's owner.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aifactory.db.tables import AccountToken, ApiToken, Membership, User
from aifactory.domain.identity import MembershipRole
from aifactory.services import audit, identity, notifications, tenancy
from aifactory.services.errors import Invalid
from aifactory.services.identity import Principal
from aifactory.services.ids import as_utc, new_id, utcnow

VERIFY_TTL = timedelta(hours=24)
RESET_TTL = timedelta(hours=1)
INVITE_TTL = timedelta(days=3)
MIN_PASSWORD = 12


class Purpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"


def _issue(session: Session, user: User, purpose: Purpose, ttl: timedelta) -> str:
    # A new token replaces the earlier unused ones of the same purpose.
    session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == purpose.value,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    plain = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AccountToken(
            id=new_id("act"),
            user_id=user.id,
            purpose=purpose.value,
            token_hash=identity.hash_token(plain),
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return plain


def _verification_mail(session: Session, user: User, base_url: str) -> None:
    plain = _issue(session, user, Purpose.VERIFY_EMAIL, VERIFY_TTL)
    notifications.enqueue(
        session,
        [user.email],
        "account.verify",
        "Verify your e-mail address for aifactory",
        f"Hello {user.name},\n\nto finish signing up, open this link within 24 hours:\n\n"
        f"{base_url}/verify-email?token={plain}\n\n"
        "If you did not sign up, ignore this mail: no account is used without it.\n",
    )


def sign_up(session: Session, *, email: str, name: str, password: str, base_url: str) -> None:
    """A new account, not usable until its e-mail is verified. A taken address gets no new
    account; its owner gets a mail saying someone tried (the answer is the same)."""
    email = email.strip().lower()
    existing = session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    if existing is not None:
        if existing.email_verified_at is None:
            _verification_mail(session, existing, base_url)  # a lost first mail, sent again
        else:
            notifications.enqueue(
                session,
                [existing.email],
                "account.exists",
                "Someone tried to sign up with your address",
                f"Hello {existing.name},\n\nsomeone tried to sign up for aifactory with this "
                "address, which has an account already. If it was you, log in, or reset your "
                f"password at {base_url}/reset-password. If not, nothing changed.\n",
            )
        return
    user = identity.create_user(
        session, email=email, name=name, password=password, actor="anonymous", verified=False
    )
    audit.append(
        session, actor=user.id, action="user.sign_up", object_type="user", object_id=user.id
    )
    _verification_mail(session, user, base_url)


def resend_verification(session: Session, *, email: str, base_url: str) -> None:
    user = session.execute(
        select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()
    if user is not None and user.email_verified_at is None and not user.disabled:
        _verification_mail(session, user, base_url)


def _use(session: Session, plain: str, purpose: Purpose) -> User:
    row = session.execute(
        select(AccountToken, User)
        .join(User, User.id == AccountToken.user_id)
        .where(AccountToken.token_hash == identity.hash_token(plain))
        .with_for_update()
    ).first()
    words = "verification link" if purpose is Purpose.VERIFY_EMAIL else "reset link"
    if row is None or row[0].purpose != purpose.value:
        raise Invalid.one("token", f"this {words} is not valid")
    token, user = row
    if token.used_at is not None:
        raise Invalid.one("token", f"this {words} was used already (or a newer one was sent)")
    if as_utc(token.expires_at) <= utcnow():
        raise Invalid.one("token", f"this {words} has expired; ask for a new one")
    token.used_at = utcnow()
    return user


def verify_email(session: Session, token: str) -> User:
    user = _use(session, token, Purpose.VERIFY_EMAIL)
    mark_verified(session, user)
    return user


def mark_verified(session: Session, user: User, by: str | None = None) -> None:
    """The address is the user's (their mail link, or ``by`` an identity provider that says
    so); an audit event the first time."""
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        audit.append(
            session,
            actor=user.id,
            action="user.verify_email",
            object_type="user",
            object_id=user.id,
            data={"by": by} if by else None,
        )


def request_password_reset(session: Session, *, email: str, base_url: str) -> None:
    user = session.execute(
        select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()
    if user is None or user.disabled:
        return  # the same answer: whether an account exists is the owner's to know
    plain = _issue(session, user, Purpose.RESET_PASSWORD, RESET_TTL)
    notifications.enqueue(
        session,
        [user.email],
        "account.reset",
        "Reset your aifactory password",
        f"Hello {user.name},\n\nto choose a new password, open this link within an hour:\n\n"
        f"{base_url}/reset-password?token={plain}\n\n"
        "If you did not ask for it, ignore this mail: your password stays as it is.\n",
    )
    audit.append(
        session,
        actor="anonymous",
        action="user.password_reset.request",
        object_type="user",
        object_id=user.id,
    )


def reset_password(session: Session, *, token: str, password: str) -> User:
    """A new password; every API token of the account is revoked (whoever had the old
    password may have made some)."""
    if len(password) < MIN_PASSWORD:
        raise Invalid.one("password", f"at least {MIN_PASSWORD} characters")
    user = _use(session, token, Purpose.RESET_PASSWORD)
    user.password_hash = PasswordHasher().hash(password)
    if user.email_verified_at is None:  # the mail reached its owner: that verifies it too
        user.email_verified_at = utcnow()
    live = list(
        session.execute(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        ).scalars()
    )
    for tok in live:
        tok.revoked_at = utcnow()
    revoked = len(live)
    audit.append(
        session,
        actor=user.id,
        action="user.password_reset",
        object_type="user",
        object_id=user.id,
        data={"tokens_revoked": revoked},
    )
    return user


def invite_member(
    session: Session,
    principal: Principal,
    org_id: str,
    *,
    email: str,
    role: MembershipRole,
    base_url: str,
) -> bool:
    """Owners add someone to their organisation by e-mail, and the platform's mail tells them
    who added them to what. An address with no account gets an invited one (no password,
    unverified) whose mail links to the password-reset page (valid ``INVITE_TTL``): choosing a
    password there verifies the address. True when the account is new."""
    org = tenancy.require_owner(session, principal, org_id)  # before creating anyone
    email = email.strip().lower()
    inviter = session.get(User, principal.user_id)
    who = f"{inviter.name} ({inviter.email})" if inviter else principal.email
    user = session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    created = user is None
    if user is None:
        user = identity.create_user(
            session,
            email=email,
            name=email.split("@", 1)[0],
            password=None,
            actor=principal.user_id,
            verified=False,
        )
    before = session.get(Membership, (org_id, user.id))
    unchanged = before is not None and before.role == role.value
    tenancy.add_member(session, principal, org_id, email=email, role=role)
    what = f"the organisation {org.name} on aifactory, as {role.value}"
    if user.password_hash is None and user.email_verified_at is None:
        # New, or invited before and never came: a fresh link to choose a password.
        plain = _issue(session, user, Purpose.RESET_PASSWORD, INVITE_TTL)
        notifications.enqueue(
            session,
            [user.email],
            "account.invite",
            f"{who} invited you to {org.name} on aifactory",
            f"Hello,\n\n{who} invited you to {what}.\n\nTo accept, choose a password "
            f"within {INVITE_TTL.days} days:\n\n"
            f"{base_url}/reset-password?token={plain}&welcome=1\n\n"
            "If you do not know them, ignore this mail: the account stays unusable.\n",
        )
    elif not unchanged:
        notifications.enqueue(
            session,
            [user.email],
            "account.added",
            f"{who} added you to {org.name} on aifactory",
            f"Hello {user.name},\n\n{who} added you to {what}.\n\n"
            f"Log in at {base_url}/ to see it.\n",
        )
    return created
