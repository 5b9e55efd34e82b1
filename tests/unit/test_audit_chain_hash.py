"""The audit chain's fast hash (``row_hash``, what verify uses) gives the bytes ``link_hash``
always gave: json.dumps of the event's body, keys sorted, no spaces, UTF-8."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from aifactory.core.audit_chain import (
    GENESIS_HASH,
    Link,
    as_row,
    canonical_json,
    link_hash,
    row_hash,
    verify,
)

DATA: list[dict[str, Any]] = [
    {},
    {"name": 'Grüße, 東京, "q", back\\slash, new\nline, \t, \u2028, \x00, \x1f, 🙂'},
    {"b": 1, "a": [3, 2.5, -0.0, 1e16, 1e-7, 0.1 + 0.2, None, True, False], "ä": "key"},
    {"nested": {"z": {"y": [{"b": 2, "a": 1}]}, "x": []}, "big": 2**70, "neg": -(2**63)},
    {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")},
]


def _before(link: Link) -> str:
    body = link.body()
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _link(seq: int, data: dict[str, Any], prev: str, org_id: str | None = "org-1") -> Link:
    return Link(
        seq, "2026-12-08T01:05:27.000000+00:00", 'usr-"x"', "job.submit", "job", "job-é",
        org_id, data, prev,
    )  # fmt: skip


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("org_id", ["org-1", None])
def test_the_fast_hash_is_the_old_hash(data: dict[str, Any], org_id: str | None) -> None:
    link = _link(7, data, GENESIS_HASH, org_id)
    assert row_hash(as_row(link)) == link_hash(link) == _before(link)


def test_canonical_json_is_json_dumps_sorted_and_compact() -> None:
    for data in DATA:
        assert canonical_json(data) == json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )


def test_verify_of_links_still_names_the_first_broken_one() -> None:
    links, prev = [], GENESIS_HASH
    for i, data in enumerate(DATA, start=1):
        link = _link(i, data, prev)
        prev = link_hash(link)
        links.append(Link(**{**link.__dict__, "hash": prev}))
    assert verify(links, (len(links), prev)).ok
    forged = [*links[:2], Link(**{**links[2].__dict__, "data": {"forged": True}}), *links[3:]]
    report = verify(forged, (len(links), prev))
    assert (report.ok, report.broken_seq, report.checked) == (False, 3, 2)
