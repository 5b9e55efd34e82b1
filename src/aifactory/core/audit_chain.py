"""The audit hash chain: each event holds SHA-256 of its canonical JSON, which includes the
previous event's hash. Pure functions; the service stores and reads the rows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Link:
    seq: int
    at: str  # ISO 8601, UTC, microseconds
    actor: str
    action: str
    object_type: str
    object_id: str
    org_id: str | None
    data: Mapping[str, Any]
    prev_hash: str
    hash: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "org_id": self.org_id,
            "data": dict(self.data),
            "prev_hash": self.prev_hash,
        }


def link_hash(link: Link) -> str:
    return hashlib.sha256(canonical_json(link.body()).encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    broken_seq: int | None = None
    problem: str = ""


def verify(links: Iterable[Link], head: tuple[int, str] | None) -> ChainReport:
    """Walk the chain in ``seq`` order and name the first broken link.

    Catches an edited row (its hash no longer matches its content), a deleted row (a gap in
    ``seq`` and a ``prev_hash`` that points nowhere), reordered rows (``seq`` is hashed) and a
    deleted tail (the head row, written in the same transaction as every append, disagrees).
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for link in links:
        if link.seq != expected_seq:
            return ChainReport(
                False,
                checked,
                expected_seq,
                f"event {expected_seq} is missing (next stored event is {link.seq})",
            )
        if link_hash(link) != link.hash:
            return ChainReport(
                False, checked, link.seq, f"event {link.seq} was altered: its hash does not match"
            )
        if link.prev_hash != expected_prev:
            return ChainReport(
                False,
                checked,
                link.seq,
                f"event {link.seq} does not follow event {link.seq - 1}: previous hash differs",
            )
        expected_prev = link.hash
        expected_seq += 1
        checked += 1
    last = (expected_seq - 1, expected_prev)
    if head is None:
        if checked:
            return ChainReport(False, checked, None, "the chain head record is missing")
        return ChainReport(True, 0)
    if head != last:
        return ChainReport(
            False,
            checked,
            last[0] + 1 if head[0] > last[0] else head[0],
            f"the chain head says event {head[0]} is last, but the stored chain ends at "
            f"event {last[0]}: events were deleted or replaced",
        )
    return ChainReport(True, checked)
