"""Notifications by e-mail through an outbox: a mail is written in the same transaction as the
change it tells of, and the mail loop delivers it (retrying with backoff). A crash can delay
a mail, never lose it or send it for a change that was rolled back."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.db.engine import Database
from aifactory.db.tables import OutboxMail, User, table
from aifactory.domain.identity import PlatformRole
from aifactory.notify.mail import Mail, Mailer, MailError
from aifactory.services.ids import as_utc, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def enqueue(
    session: Session, recipients: Iterable[str], topic: str, subject: str, body: str
) -> None:
    to = sorted({r for r in recipients if r})
    if not to:
        return
    now = utcnow()
    session.execute(
        table(OutboxMail).insert(),
        {
            "recipients": to,
            "subject": subject[:300],
            "body": body,
            "topic": topic,
            "created_at": now,
            "attempts": 0,
            "next_attempt_at": now,
        },
    )


def emails_of(session: Session, user_ids: Iterable[str]) -> list[str]:
    ids = list(set(user_ids))
    if not ids:
        return []
    return list(session.execute(select(User.email).where(User.id.in_(ids))).scalars())


def emails_with_role(session: Session, roles: Iterable[PlatformRole]) -> list[str]:
    """Everyone holding one of the platform roles."""
    users = session.execute(select(User.email, User.platform_roles)).all()
    wanted = {r.value for r in roles}
    return sorted(email for email, held in users if wanted & set(held or []))


def operator_emails(session: Session) -> list[str]:
    return emails_with_role(session, {PlatformRole.OPERATOR, PlatformRole.ADMIN})


def deliver_once(db: Database, mailer: Mailer, now: datetime | None = None, batch: int = 50) -> int:
    """Send what is due; a failure is retried later (1, 2, 4 ... minutes), at most
    ``MAX_ATTEMPTS`` times. Returns the number sent."""
    now = now or utcnow()
    with db.read() as session:
        due = session.execute(
            select(OutboxMail.id, OutboxMail.recipients, OutboxMail.subject, OutboxMail.body)
            .where(
                OutboxMail.sent_at.is_(None),
                OutboxMail.attempts < MAX_ATTEMPTS,
                OutboxMail.next_attempt_at <= now,
            )
            .order_by(OutboxMail.id)
            .limit(batch)
        ).all()
    sent = 0
    for mail_id, recipients, subject, body in due:
        error: str | None = None
        try:
            mailer.send(Mail(tuple(recipients), subject, body))
        except MailError as exc:
            error = str(exc)[:2000]
            log.warning("mail %s not sent: %s", mail_id, error)
        with db.write() as session:
            row = session.get(OutboxMail, mail_id)
            if row is None or row.sent_at is not None:
                continue
            row.attempts += 1
            if error is None:
                row.sent_at = utcnow()
                row.last_error = None
                sent += 1
            else:
                row.last_error = error
                row.next_attempt_at = as_utc(now) + timedelta(minutes=2 ** (row.attempts - 1))
    return sent
