"""Allocations as their holders read them: GPU-hours given, used, reserved (by jobs not yet
ended) and left now (``balances``), and at the end of each day (``burn_down``, the ledger summed
in SQL per day, so a chart costs one query however many jobs drew on it)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aifactory.db.tables import Allocation, LedgerEntry
from aifactory.domain.access import LedgerKind
from aifactory.services.allocations import hours, state_of, totals


@dataclass(frozen=True)
class Balance:
    alloc: Allocation
    state: str
    given_h: float  # grants and adjustments
    used_h: float
    reserved_h: float
    left_h: float


def balances(session: Session, allocs: list[Allocation], now: datetime) -> list[Balance]:
    sums = totals(session, [a.id for a in allocs])
    return [
        Balance(
            a,
            state_of(a, now).value,
            hours(sums[a.id].granted + sums[a.id].adjusted),
            hours(sums[a.id].used),
            hours(sums[a.id].reserved),
            hours(sums[a.id].balance),
        )
        for a in allocs
    ]


@dataclass(frozen=True)
class Day:
    day: date
    used_h: float
    reserved_h: float
    left_h: float

    @property
    def at(self) -> int:
        """The end of the day, Unix seconds (a chart's x)."""
        end = datetime.combine(self.day, time(23, 59, 59), tzinfo=UTC)
        return int(end.timestamp())


def burn_down(session: Session, allocation_ids: list[str]) -> dict[str, list[Day]]:
    if not allocation_ids:
        return {}
    day = func.date(LedgerEntry.at)  # 'YYYY-MM-DD' on SQLite, a date on PostgreSQL
    rows = session.execute(
        select(
            LedgerEntry.allocation_id,
            day,
            LedgerEntry.kind,
            func.sum(LedgerEntry.gpu_seconds),
            func.sum(LedgerEntry.used_gpu_seconds),
        )
        .where(LedgerEntry.allocation_id.in_(allocation_ids))
        .group_by(LedgerEntry.allocation_id, day, LedgerEntry.kind)
    ).all()
    per: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for alloc_id, d, kind, amount, used in rows:
        bucket = per[alloc_id][str(d)[:10]]
        bucket[kind] = bucket.get(kind, 0) + int(amount or 0)
        bucket["used"] = bucket.get("used", 0) + int(used or 0)
    out: dict[str, list[Day]] = {}
    for alloc_id in allocation_ids:
        balance = used = reserved_out = released = 0
        series = []
        for d, b in sorted(per.get(alloc_id, {}).items()):
            balance += sum(v for k, v in b.items() if k != "used")
            used += b.get("used", 0)
            reserved_out += -b.get(LedgerKind.RESERVATION.value, 0)
            released += b.get(LedgerKind.SETTLEMENT.value, 0) + b.get("used", 0)
            series.append(
                Day(
                    date.fromisoformat(d),
                    hours(used),
                    hours(reserved_out - released),
                    hours(balance),
                )
            )
        out[alloc_id] = series
    return out
