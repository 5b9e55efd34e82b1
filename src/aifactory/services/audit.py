"""Append-only audit trail in a hash chain; ``verify`` names the first broken link."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aifactory.core.audit_chain import ChainReport, Link, link_hash, verify
from aifactory.db.tables import AuditEvent, AuditHead, table
from aifactory.services.errors import Forbidden
from aifactory.services.ids import as_utc, utcnow

if TYPE_CHECKING:  # identity appends audit events: importing it here would cycle
    from aifactory.services.identity import Principal

SYSTEM_ACTOR = "system"


def _iso(at: datetime) -> str:
    return as_utc(at).isoformat(timespec="microseconds")


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    org_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> int:
    """Append one event inside the caller's transaction (it commits or rolls back with the
    change it records). The head row is locked first, so appends are serialised."""
    head_seq, head_hash = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
    ).one()
    at = utcnow()
    link = Link(
        seq=head_seq + 1,
        at=_iso(at),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        org_id=org_id,
        data=dict(data or {}),
        prev_hash=head_hash,
    )
    digest = link_hash(link)
    # Core statements (no unit of work): appends run under the write lock on every change.
    session.execute(
        table(AuditEvent).insert(),
        {
            "seq": link.seq,
            "at": at,
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "org_id": org_id,
            "data": dict(link.data),
            "prev_hash": link.prev_hash,
            "hash": digest,
        },
    )
    heads = table(AuditHead)
    session.execute(heads.update().where(heads.c.id == 1), {"seq": link.seq, "hash": digest})
    return link.seq


def _links(session: Session, batch: int = 5000) -> Iterator[Link]:
    rows = session.execute(
        select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    ).scalars()
    for row in rows:
        yield Link(
            seq=row.seq,
            at=_iso(row.at),
            actor=row.actor,
            action=row.action,
            object_type=row.object_type,
            object_id=row.object_id,
            org_id=row.org_id,
            data=row.data,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )


def verify_chain(session: Session) -> ChainReport:
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    return verify(_links(session), (head.seq, head.hash) if head else None)


def require_reader(principal: Principal) -> None:
    """Who may read the trail and check its chain: admins and compliance officers."""
    if not principal.reads_audit:
        raise Forbidden("only admins and compliance officers may read the audit trail")


def head(session: Session) -> tuple[int, str]:
    """The last event's sequence number and hash, as the head row says."""
    row = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    return int(row[0]), str(row[1])


def recent(session: Session, *, limit: int, offset: int) -> tuple[list[AuditEvent], int]:
    """The events newest first, one page of them, and how many there are in all."""
    total = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    rows = session.execute(
        select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit).offset(offset)
    ).scalars()
    return list(rows), int(total)
