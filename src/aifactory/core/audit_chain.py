"""The audit hash chain: each event holds SHA-256 of its canonical JSON, which includes the
previous event's hash. Pure functions; the service stores and reads the rows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

GENESIS_HASH = "0" * 64

# What json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) does, with
# the encoder made once instead of on every call (the same bytes: dumps builds this encoder).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical_parts() -> Any:
    """The C encoder that ``_CANONICAL.encode`` makes on every call, made once (half the cost
    of encoding an event's data). Without the circular-reference check: the data verify walks
    was parsed from JSON text, which cannot refer to itself."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the _json accelerator
        return lambda value, _level: [_CANONICAL.encode(value)]
    return make(None, _CANONICAL.default, encode_basestring, None, ":", ",", True, False, True)


_canonical_data = _canonical_parts()

# A stored event as a plain tuple, in this order: what ``verify_rows`` walks (a million
# events are checked without making a Link or a body dict of each).
Row = tuple[int, str, str, str, str, str, str | None, Mapping[str, Any], str, str]


def canonical_json(value: Mapping[str, Any]) -> str:
    return _CANONICAL.encode(value)


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


# The canonical JSON of a Link's body with its keys in sorted order, written out: the same
# text as canonical_json(link.body()) without building and sorting a dict for every event.
_BODY = (
    '{"action":%s,"actor":%s,"at":%s,"data":%s,"object_id":%s,"object_type":%s,'
    '"org_id":%s,"prev_hash":%s,"seq":%d}'
)


def row_hash(
    row: Row,
    _sha256: Any = hashlib.sha256,
    _str: Any = encode_basestring,
    _data: Any = _canonical_data,
    _join: Any = "".join,
) -> str:
    """``link_hash`` of the Link with these fields (the row's own ``hash`` is not hashed)."""
    seq, at, actor, action, object_type, object_id, org_id, data, prev_hash, _ = row
    text = _BODY % (
        _str(action),
        _str(actor),
        _str(at),
        _join(_data(data if type(data) is dict else dict(data), 0)),
        _str(object_id),
        _str(object_type),
        "null" if org_id is None else _str(org_id),
        _str(prev_hash),
        seq,
    )
    digest: str = _sha256(text.encode()).hexdigest()
    return digest


def as_row(link: Link) -> Row:
    return (
        link.seq,
        link.at,
        link.actor,
        link.action,
        link.object_type,
        link.object_id,
        link.org_id,
        link.data,
        link.prev_hash,
        link.hash,
    )


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    broken_seq: int | None = None
    problem: str = ""


def verify(links: Iterable[Link], head: tuple[int, str] | None) -> ChainReport:
    """``verify_rows`` of these links."""
    return verify_rows(map(as_row, links), head)


def verify_rows(rows: Iterable[Row], head: tuple[int, str] | None) -> ChainReport:
    """Walk the chain in ``seq`` order and name the first broken link.

    Catches an edited row (its hash no longer matches its content), a deleted row (a gap in
    ``seq`` and a ``prev_hash`` that points nowhere), reordered rows (``seq`` is hashed) and a
    deleted tail (the head row, written in the same transaction as every append, disagrees).
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for row in rows:
        seq, stored = row[0], row[9]
        if seq != expected_seq:
            return ChainReport(
                False,
                checked,
                expected_seq,
                f"event {expected_seq} is missing (next stored event is {seq})",
            )
        if row_hash(row) != stored:
            return ChainReport(
                False, checked, seq, f"event {seq} was altered: its hash does not match"
            )
        if row[8] != expected_prev:
            return ChainReport(
                False,
                checked,
                seq,
                f"event {seq} does not follow event {seq - 1}: previous hash differs",
            )
        expected_prev = stored
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
