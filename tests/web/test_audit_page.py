"""The audit page: admins see whether the hash chain holds, its head, and the events newest
first, 50 a page; a tampered row shows the chain broken at its sequence; others get 403."""

from __future__ import annotations

import re

from sqlalchemy import update

from aifactory.db.tables import AuditEvent
from aifactory.services import audit
from tests.conftest import Platform, quick_user
from tests.web.portal import browser_of


def _seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<th scope="row" class="num">(\d+)</th>', html)]


def test_admins_see_the_chain_its_head_and_the_events_paginated(sqlite_platform: Platform) -> None:
    p = sqlite_platform
    web = browser_of(p, p.admin)  # opening a session is an event too
    with p.runtime.db.write() as session:
        for i in range(60):
            audit.append(
                session, actor="system", action="test.event", object_type="test", object_id=str(i)
            )
        head_seq, head_hash = audit.head(session)
    r = web.get("/audit")
    assert r.status_code == 200
    assert f"all {head_seq} events verify" in r.text and head_hash in r.text
    first = _seqs(r.text)
    assert first == list(range(head_seq, head_seq - 50, -1))  # newest first, 50
    assert 'href="/audit?page=2"' in r.text
    second = _seqs(web.get("/audit?page=2").text)
    assert second == list(range(head_seq - 50, 0, -1))
    assert 'href="/audit?page=1"' in web.get("/audit?page=2").text


def test_a_tampered_row_shows_the_chain_broken_at_its_sequence(sqlite_platform: Platform) -> None:
    p = sqlite_platform
    ada = quick_user(p, "ada")
    p.org(ada, "Ada Labs")
    with p.runtime.db.write() as session:
        session.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(actor="usr-nobody"))
    r = browser_of(p, p.admin).get("/audit")
    assert r.status_code == 200
    assert "Broken at sequence 3:" in r.text and "altered" in r.text
    assert "Intact" not in r.text


def test_others_get_the_403_page(sqlite_platform: Platform) -> None:
    p = sqlite_platform
    for roles in ((), ("operator",)):
        user = quick_user(p, f"u{len(roles)}", roles=roles)
        r = browser_of(p, user).get("/audit")
        assert r.status_code == 403 and "Not allowed" in r.text
        assert "only admins and compliance officers" in r.text and "Head hash" not in r.text
        assert 'href="/audit"' not in browser_of(p, user).get("/").text  # no link to a 403
    officer = quick_user(p, "clara", roles=("compliance",))
    assert browser_of(p, officer).get("/audit").status_code == 200
    assert 'href="/audit"' in browser_of(p, officer).get("/").text  # the nav leads there
