"""Append-only audit trail in a hash chain; ``verify`` names the first broken link."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.core.audit_chain import ChainReport, Link, link_hash, verify
from aifactory.db.tables import AuditEvent, AuditHead, table
from aifactory.services.ids import as_utc, utcnow

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
