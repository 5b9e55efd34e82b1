"""The audit trail is tamper-evident: edits, deletions and reorderings are each caught, and
``verify`` names the first broken link."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update

from aifactory.db.tables import AuditEvent, AuditHead, table
from aifactory.services.audit import verify_chain
from aifactory.services.ids import as_utc
from tests.conftest import Databases, Platform, build_platform


def _make_events(platform: Platform) -> None:
    user, org, _project = platform.tenant("auditee")
    for i in range(3):
        platform.project(user, org["id"], name=f"p{i}")


def _verify(platform: Platform):  # type: ignore[no-untyped-def]
    with platform.runtime.db.read() as session:
        return verify_chain(session)


def test_an_untouched_chain_verifies(platform: Platform) -> None:
    _make_events(platform)
    report = _verify(platform)
    assert report.ok, report.problem
    assert report.checked >= 8
    api = platform.admin.get("/audit/verify").json()
    assert api == {"ok": True, "checked": report.checked, "broken_seq": None, "problem": ""}


def _edit_data(session, seq: int) -> None:  # type: ignore[no-untyped-def]
    session.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(data={"name": "forged"}))


def _edit_actor(session, seq: int) -> None:  # type: ignore[no-untyped-def]
    session.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(actor="usr-nobody"))


def _delete_row(session, seq: int) -> None:  # type: ignore[no-untyped-def]
    session.execute(delete(AuditEvent).where(AuditEvent.seq == seq))


def _swap_rows(session, seq: int) -> None:  # type: ignore[no-untyped-def]
    # Reorder: exchange the positions of two neighbouring events.
    session.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(seq=-1))
    session.execute(update(AuditEvent).where(AuditEvent.seq == seq + 1).values(seq=seq))
    session.execute(update(AuditEvent).where(AuditEvent.seq == -1).values(seq=seq + 1))


def _rehash_edit(session, seq: int) -> None:  # type: ignore[no-untyped-def]
    # A careful forger edits a row and recomputes its own hash: the next link breaks.
    from aifactory.core.audit_chain import Link, link_hash
    from aifactory.services.audit import _iso

    row = session.execute(select(AuditEvent).where(AuditEvent.seq == seq)).scalar_one()
    link = Link(
        row.seq,
        _iso(row.at),
        row.actor,
        row.action,
        row.object_type,
        row.object_id,
        row.org_id,
        {"forged": True},
        row.prev_hash,
    )
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.seq == seq)
        .values(data={"forged": True}, hash=link_hash(link))
    )


def _delete_tail(session, seq: int) -> None:  # type: ignore[no-untyped-def]
    last = session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())).scalars().first()
    session.execute(delete(AuditEvent).where(AuditEvent.seq == last))


TAMPERING: list[tuple[str, Callable[..., None], int, str]] = [
    ("edit data", _edit_data, 4, "altered"),
    ("edit actor", _edit_actor, 2, "altered"),
    ("delete a row", _delete_row, 3, "missing"),
    ("reorder two rows", _swap_rows, 5, "altered"),
    ("edit and re-hash", _rehash_edit, 4, "does not follow"),
    ("delete the tail", _delete_tail, 0, "head"),
]


@pytest.mark.parametrize(
    ("name", "tamper", "seq", "problem"), TAMPERING, ids=[t[0] for t in TAMPERING]
)
def test_tampering_is_caught_and_the_first_broken_link_named(
    platform: Platform, name: str, tamper: Callable[..., None], seq: int, problem: str
) -> None:
    _make_events(platform)
    with platform.runtime.db.write() as session:
        last = session.execute(text("SELECT max(seq) FROM audit_events")).scalar_one()
        tamper(session, seq)
    report = _verify(platform)
    assert not report.ok
    assert problem in report.problem
    expected = {"edit and re-hash": seq + 1, "delete the tail": last}.get(name, seq)
    assert report.broken_seq == expected, report
    api = platform.admin.get("/audit/verify").json()
    assert api["ok"] is False and api["broken_seq"] == expected


def test_a_failed_write_leaves_no_audit_event(platform: Platform) -> None:
    user, org, _ = platform.tenant("rollback")
    before = platform.admin.get("/audit/events?limit=1").json()["total"]
    r = user.post("/projects", {"org_id": org["id"], "name": "proj"})  # duplicate name
    assert r.status_code == 409
    assert platform.admin.get("/audit/events?limit=1").json()["total"] == before
    assert _verify(platform).ok


# -- the hash format does not change: chains written before the fast verify still verify ------
def _hash_as_before(body: dict[str, object]) -> str:
    """The hash as the first version of core.audit_chain computed it: json.dumps of the body."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _verify_as_before(session) -> tuple[int, int | None]:  # type: ignore[no-untyped-def]
    """The first version's reader: ORM rows, ``as_utc(at).isoformat()``, one dict per event.
    Returns (events that check, the first broken seq or None)."""
    checked, prev = 0, "0" * 64
    for row in session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
        body = {
            "seq": row.seq,
            "at": as_utc(row.at).isoformat(timespec="microseconds"),
            "actor": row.actor,
            "action": row.action,
            "object_type": row.object_type,
            "object_id": row.object_id,
            "org_id": row.org_id,
            "data": dict(row.data),
            "prev_hash": prev,
        }
        if row.seq != checked + 1 or row.prev_hash != prev or _hash_as_before(body) != row.hash:
            return checked, row.seq
        prev, checked = row.hash, checked + 1
    return checked, None


AWKWARD_DATA: list[dict[str, object]] = [
    {},
    {"name": 'Grüße, 東京, "quoted", back\\slash, new\nline, tab\t, \u2028, nul \x00, 🙂'},
    {"b": 1, "a": [3, 2.5, -0.0, 1e16, 1e-7, 0.1 + 0.2, None, True, False], "ä": "key"},
    {"nested": {"z": {"y": [{"b": 2, "a": 1}]}, "x": []}, "big": 2**70, "neg": -(2**63)},
    {"reason": "", "spaces": "  a  ", "unicode key é": {"é": "é"}},
]


def test_a_chain_written_the_old_way_verifies_with_the_new_reader(platform: Platform) -> None:
    _make_events(platform)  # written by services.audit.append
    with platform.runtime.db.write() as session:
        seq, prev = session.execute(select(AuditHead.seq, AuditHead.hash)).one()
        base = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
        for i, data in enumerate(AWKWARD_DATA * 2):
            seq += 1
            at = base + timedelta(minutes=i)  # whole seconds: microsecond 0 as well
            if i % 2:
                at += timedelta(microseconds=7 * i)
            org_id = None if i % 3 == 0 else f"org-{i:012d}"
            body = {
                "seq": seq,
                "at": at.isoformat(timespec="microseconds"),
                "actor": "usr-awkward",
                "action": "job.submit",
                "object_type": "job",
                "object_id": f'job-"{i}"',
                "org_id": org_id,
                "data": data,
                "prev_hash": prev,
            }
            digest = _hash_as_before(body)
            row = {**body, "at": at, "hash": digest}
            session.execute(table(AuditEvent).insert(), row)
            prev = digest
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=prev))
    report = _verify(platform)
    assert report.ok, report.problem
    assert report.checked == seq
    with platform.runtime.db.read() as session:
        assert _verify_as_before(session) == (seq, None)
    # And both readers name the same event when one of the awkward ones is edited.
    with platform.runtime.db.write() as session:
        _edit_data(session, seq - 3)
    with platform.runtime.db.read() as session:
        assert _verify_as_before(session) == (seq - 4, seq - 3)
    assert _verify(platform).broken_seq == seq - 3


@pytest.fixture
def pg_platform(tmp_path: Path, databases: Databases) -> Iterator[Platform]:
    """PostgreSQL alone: SQLite keeps no time zone to test."""
    p = build_platform(tmp_path, databases.postgres())
    with p.client:
        yield p
    p.runtime.close()


@pytest.mark.postgres
def test_a_postgresql_session_in_another_time_zone_still_verifies(pg_platform: Platform) -> None:
    # PostgreSQL gives times in the session's zone; the hash covers them in UTC.
    platform = pg_platform
    _make_events(platform)
    with platform.runtime.db.read() as session:
        session.execute(text("SET LOCAL TIME ZONE 'Europe/Helsinki'"))
        report = verify_chain(session)
    assert report.ok, report.problem
