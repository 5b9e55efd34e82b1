"""Rows written together: when a sync pass ends thousands of jobs in one transaction, their
events, usage records and ledger rows go in as one insert per table, and each allocation's
balance moves once, instead of an ORM object and two statements per job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from aifactory.db.tables import Allocation, Base, JobEvent, LedgerEntry, UsageRecord, table

# Insert order: usage records and events point at jobs (already there), ledger rows at
# allocations.
_ORDER: tuple[type[Base], ...] = (JobEvent, UsageRecord, LedgerEntry)


@dataclass
class WriteBatch:
    rows: dict[type[Base], list[dict[str, Any]]] = field(default_factory=dict)
    deltas: dict[str, int] = field(default_factory=dict)  # allocation id -> GPU-seconds

    def add(self, model: type[Base], row: dict[str, Any]) -> None:
        self.rows.setdefault(model, []).append(row)

    def ledger(self, row: dict[str, Any]) -> None:
        """A ledger row, and the same amount on its allocation's balance."""
        self.add(LedgerEntry, row)
        alloc_id = row["allocation_id"]
        self.deltas[alloc_id] = self.deltas.get(alloc_id, 0) + int(row["gpu_seconds"])

    def flush(self, session: Session) -> None:
        allocs = table(Allocation)
        for alloc_id, delta in sorted(self.deltas.items()):  # sorted: a stable lock order
            session.execute(
                allocs.update()
                .where(allocs.c.id == alloc_id)
                .values(balance_gpu_seconds=allocs.c.balance_gpu_seconds + delta)
            )
        for model in _ORDER:
            rows = self.rows.get(model)
            if rows:
                session.execute(table(model).insert(), rows)
        self.rows, self.deltas = {}, {}
