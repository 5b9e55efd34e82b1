"""Usage records: what each ended job used, written once by the executor loops."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.db.tables import UsageRecord


def records(session: Session, project_id: str) -> list[UsageRecord]:
    return list(
        session.execute(
            select(UsageRecord)
            .where(UsageRecord.project_id == project_id)
            .order_by(UsageRecord.ended_at, UsageRecord.job_id)
        ).scalars()
    )
