"""The audit trail is tamper-evident: edits, deletions and reorderings are each caught, and
``verify`` names the first broken link."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete, select, text, update

from aifactory.db.tables import AuditEvent
from aifactory.services.audit import verify_chain
from tests.conftest import Platform


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
