"""The deadlines loop and the mail outbox against a real SMTP server on loopback: what an
applicant, a reviewer and the operators receive over an allocation's life, the final-report
block on new proposals, notices given once, and mail that waits while the server is down.

The deadlines loop takes ``now`` as an argument, so time travel there is a parameter. The API
reads the wall clock, so where a check goes through the API (a report overdue *today*, a
decision overdue *today*) the test moves the row's dates into the past with SQLAlchemy."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aifactory.db.tables import Allocation, Job, OutboxMail, Proposal
from aifactory.notify.mail import SmtpMailer
from aifactory.services import notifications, obligations
from aifactory.services.ids import utcnow
from tests.conftest import (
    PROBLEM_JSON,
    Actor,
    Platform,
    build_platform,
    job_spec,
    proposal_form,
    quick_user,
    run_until_final,
)
from tests.mailbox import Mailbox

LOCAL = "local/local"
ADMIN = "admin@localhost"
PLAYGROUND_ASK = [{"partition": LOCAL, "gpu_hours": 100, "largest_job_gpus": 1}]


@pytest.fixture
def mail_platform(tmp_path: Path, db_url: str, smtp_server: Mailbox) -> Iterator[Platform]:
    """A platform whose mail goes to the test SMTP server (loops driven by hand)."""
    p = build_platform(tmp_path, db_url, smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    assert p.runtime.mailer is not None
    with p.client:
        yield p
    p.runtime.close()


# -- helpers ----------------------------------------------------------------------------------
def deliver(p: Platform, now: datetime | None = None) -> int:
    assert p.runtime.mailer is not None
    return notifications.deliver_once(p.runtime.db, p.runtime.mailer, now)


def deadlines(p: Platform, now: datetime) -> int:
    return obligations.run_once(p.runtime.db, now)


def new_mail(box: Mailbox, seen: int, count: int) -> list[tuple[EmailMessage, tuple[str, ...]]]:
    """The ``count`` messages after the first ``seen``, with their envelope recipients; and
    nothing more arrives."""
    messages = box.wait_for(seen + count)
    assert len(messages) == seen + count, [subject(m) for m in messages[seen:]]
    return [(m, box.envelopes[seen + i].rcpt_tos) for i, m in enumerate(messages[seen:])]


def subject(msg: EmailMessage) -> str:
    """The subject as a mail client shows it. CPython may fold a long subject whole onto a
    continuation line ("Subject:\n Final report ..."); unfolding leaves that line's space in
    front, which clients do not show and Python's parser (before gh-124452) keeps."""
    return str(msg["Subject"]).lstrip()


def body(msg: EmailMessage) -> str:
    return str(msg.get_content())


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def open_call(actor: Actor, mode: str) -> dict[str, Any]:
    """The platform's default open call of ``mode``."""
    (call,) = [c for c in actor.get("/calls").json() if c["mode"] == mode and c["is_open"]]
    return dict(call)


def apply(actor: Actor, call_id: str, project_id: str, **kw: Any) -> Any:
    form = proposal_form(call_id, project_id, resources=PLAYGROUND_ASK, duration_months=1, **kw)
    return actor.post("/proposals", form)


def move_into_past(p: Platform, alloc_id: str, report_due_on: date) -> None:
    """Rewrite the allocation's period so that it ended before ``report_due_on`` minus three
    months: the API judges "overdue" by the wall clock, which a test cannot move."""
    ends = at(report_due_on - timedelta(days=92), 0)
    with p.runtime.db.write() as session:
        alloc = session.get(Allocation, alloc_id)
        assert alloc is not None
        alloc.starts_at = ends - timedelta(days=30)
        alloc.ends_at = ends
        alloc.report_due_on = report_due_on


def operators(p: Platform) -> Actor:
    return quick_user(p, "operator", ("operator",))


# -- (a) a Playground allocation from acceptance to its final report ---------------------------
def test_playground_allocation_mails_and_final_report_block(
    mail_platform: Platform, smtp_server: Mailbox
) -> None:
    p = mail_platform
    ada = quick_user(p, "ada")
    org = p.org(ada, "Ada Labs")
    project = p.project(ada, org["id"], "triage", gpu_hours=None)
    call = open_call(ada, "playground")

    r = apply(ada, call["id"], project["id"])
    assert r.status_code == 201, r.text
    proposal = r.json()
    ref = proposal["reference"]
    assert proposal["state"] == "accepted"
    (alloc_id,) = proposal["allocation_ids"]

    # Received and accepted, to the applicant only.
    assert deliver(p) == 2
    (received, to1), (accepted, to2) = new_mail(smtp_server, 0, 2)
    assert to1 == to2 == (ada.email,)
    assert subject(received) == f"{ref} received: LLM pilot"
    assert f"Your proposal {ref} to call {call['code']} (playground) is received" in body(received)
    assert f"A decision is due by {proposal['decision_due_on']}" in body(received)
    assert subject(accepted) == f"{ref} accepted"
    alloc = ada.get(f"/allocations/{alloc_id}").json()
    ends_on = alloc["ends_at"][:10]
    assert f"Its allocations run until {ends_on}" in body(accepted)
    assert f"acknowledge the project ID {ref}" in body(accepted)
    assert deliver(p) == 0  # sent once

    label = f"allocation {alloc_id} (triage, {LOCAL})"
    due = date.fromisoformat(alloc["report_due_on"])
    ends = datetime.fromisoformat(alloc["ends_at"])
    assert due > ends.date()

    # Started.
    now = utcnow()
    assert deadlines(p, now) == 1
    assert deadlines(p, now) == 0  # (b) a second pass gives nothing twice
    assert deliver(p) == 1
    ((started, to),) = new_mail(smtp_server, 2, 1)
    assert to == (ada.email,)
    assert subject(started) == f"Your {label} has started"
    assert f"100 GPU-hours on {LOCAL} until {ends_on}" in body(started)

    # Ended: unused hours expire in the ledger, and the mail names the report's due date.
    after_end = ends + timedelta(hours=1)
    assert deadlines(p, after_end) == 1
    assert deadlines(p, after_end) == 0
    alloc = ada.get(f"/allocations/{alloc_id}").json()
    assert alloc["balance_gpu_hours"] == 0
    expiries = [e for e in alloc["ledger"] if e["kind"] == "expiry"]
    assert [e["gpu_seconds"] for e in expiries] == [-100 * 3600]
    assert sum(e["gpu_seconds"] for e in alloc["ledger"]) == 0
    assert deliver(p, after_end) == 1
    ((ended, to),) = new_mail(smtp_server, 3, 1)
    assert to == (ada.email,)
    assert subject(ended) == f"Your {label} has ended"
    assert f"The allocation ended on {ends_on}; unused hours expired" in body(ended)
    assert f"The final report is due by {due.isoformat()}" in body(ended)

    # The reminder: not 15 days before the due date, on the 14th.
    assert deadlines(p, at(due - timedelta(days=15))) == 0
    assert deadlines(p, at(due - timedelta(days=14))) == 1
    assert deadlines(p, at(due - timedelta(days=14))) == 0
    assert deliver(p, at(due - timedelta(days=14))) == 1
    ((reminder, to),) = new_mail(smtp_server, 4, 1)
    assert to == (ada.email,)
    assert subject(reminder) == f"Final report due by {due.isoformat()}: {label}"
    assert "cannot submit new proposals" in body(reminder)

    # Overdue: not on the due date itself, the day after.
    assert deadlines(p, at(due)) == 0
    assert deadlines(p, at(due + timedelta(days=1))) == 1
    assert deadlines(p, at(due + timedelta(days=1))) == 0
    assert deliver(p, at(due + timedelta(days=1))) == 1
    ((overdue, to),) = new_mail(smtp_server, 5, 1)
    assert to == (ada.email,)
    assert subject(overdue) == f"Final report overdue: {label}"
    assert f"was due on {due.isoformat()}" in body(overdue)
    assert "cannot submit new proposals until it is filed" in body(overdue)

    # The organisation cannot apply again while the report is overdue (by the wall clock).
    today = utcnow().date()
    move_into_past(p, alloc_id, today - timedelta(days=1))
    assert ada.get(f"/allocations/{alloc_id}").json()["report_overdue"] is True
    other_project = p.project(ada, org["id"], "second", gpu_hours=None)
    r = apply(ada, call["id"], other_project["id"], title="Second pilot")
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    (problem,) = [e for e in r.json()["errors"] if e.get("rule") == "final_report_overdue"]
    assert problem["field"] == "organisation"
    assert alloc_id in problem["message"]
    assert (today - timedelta(days=1)).isoformat() in problem["message"]

    # Filing the report lifts the block.
    r = ada.post(f"/allocations/{alloc_id}/report", {"summary": "Baseline and evaluation done."})
    assert r.status_code == 200, r.text
    assert r.json()["report_overdue"] is False
    r = apply(ada, call["id"], other_project["id"], title="Second pilot")
    assert r.status_code == 201, r.text
    (second_alloc,) = r.json()["allocation_ids"]

    # Another allocation overdue blocks again; an operator's waiver lifts it.
    move_into_past(p, second_alloc, today - timedelta(days=2))
    r = apply(ada, call["id"], other_project["id"], title="Third pilot")
    assert r.status_code == 422, r.text
    (problem,) = [e for e in r.json()["errors"] if e.get("rule") == "final_report_overdue"]
    assert second_alloc in problem["message"] and alloc_id not in problem["message"]
    r = ada.post(f"/allocations/{second_alloc}/report-waiver", {"reason": "I would like one"})
    assert r.status_code == 403, r.text  # applicants do not waive their own reports
    r = p.admin.post(f"/allocations/{second_alloc}/report-waiver", {"reason": "project stopped"})
    assert r.status_code == 200, r.text
    assert r.json()["report_waived_at"] is not None
    r = apply(ada, call["id"], other_project["id"], title="Third pilot")
    assert r.status_code == 201, r.text

    # A filed report ends the reminders: nothing more about the first allocation, ever.
    deliver(p)
    seen = len(smtp_server.wait_for(6))
    deadlines(p, utcnow())
    deliver(p)
    later = [subject(m) for m in smtp_server.messages[seen:]]
    assert not [s for s in later if alloc_id in s], later


# -- (b) a pass that runs twice (or late) gives each notice once -------------------------------
def test_deadlines_run_twice_send_nothing_twice(
    mail_platform: Platform, smtp_server: Mailbox
) -> None:
    p = mail_platform
    owner = quick_user(p, "grace")
    org = p.org(owner)
    project = p.project(owner, org["id"], "grant-only", gpu_hours=None)
    (alloc,) = p.grant(project["id"], 5, (LOCAL,))  # an operator's grant: no proposal
    due = date.fromisoformat(alloc["report_due_on"])

    # A loop that was down for months catches up in one pass: start, end, reminder, overdue.
    late = at(due + timedelta(days=3))
    assert deadlines(p, late) == 4
    assert deadlines(p, late) == 0
    assert deadlines(p, late + timedelta(days=30)) == 0
    assert deliver(p, late) == 4
    assert deliver(p, late) == 0
    assert deliver(p, late + timedelta(days=1)) == 0
    mails = new_mail(smtp_server, 0, 4)
    # Without a proposal, the project's members hear of it.
    assert {to for _, to in mails} == {(owner.email,)}
    subjects = sorted(subject(m) for m, _ in mails)
    label = f"allocation {alloc['id']} (grant-only, {LOCAL})"
    assert subjects == sorted(
        [
            f"Your {label} has started",
            f"Your {label} has ended",
            f"Final report due by {due.isoformat()}: {label}",
            f"Final report overdue: {label}",
        ]
    )
    detail = owner.get(f"/allocations/{alloc['id']}").json()
    assert [e["gpu_seconds"] for e in detail["ledger"] if e["kind"] == "expiry"] == [-5 * 3600]
    with p.runtime.db.read() as session:
        rows = session.execute(select(OutboxMail.topic, OutboxMail.sent_at)).all()
    assert sorted(t for t, _ in rows) == [
        "allocation.end",
        "allocation.start",
        "report.due",
        "report.overdue",
    ]
    assert all(sent is not None for _, sent in rows)


# -- (c) reviewers and operators -----------------------------------------------------------------
def test_review_request_to_reviewer_and_overdue_decision_to_operators(
    mail_platform: Platform, smtp_server: Mailbox
) -> None:
    p = mail_platform
    op = operators(p)
    reviewer = quick_user(p, "rita", ("reviewer",))
    applicant = quick_user(p, "sam")
    org = p.org(applicant, "Sam Start-up", kind="startup")
    project = p.project(applicant, org["id"], "fast", gpu_hours=None)
    call = open_call(applicant, "fast_lane")
    form = proposal_form(
        call["id"], project["id"], title="Fast pilot", resources=PLAYGROUND_ASK, duration_months=1
    )
    r = applicant.post("/proposals", form)
    assert r.status_code == 201, r.text
    proposal = r.json()
    ref = proposal["reference"]
    assert proposal["state"] == "technical_review"

    r = p.admin.post(
        f"/proposals/{proposal['id']}/reviewers", {"reviewer": reviewer.email, "kind": "technical"}
    )
    assert r.status_code == 201, r.text
    review_id = r.json()["id"]
    assert deliver(p) == 2
    (received, to1), (request, to2) = new_mail(smtp_server, 0, 2)
    assert to1 == (applicant.email,) and subject(received) == f"{ref} received: Fast pilot"
    assert to2 == (reviewer.email,)
    assert subject(request) == f"Review requested: {ref} (technical)"
    assert "'Fast pilot' (technical review)" in body(request)
    assert f"A decision is due by {proposal['decision_due_on']}" in body(request)
    assert f"aif review submit {review_id}" in body(request)

    # Not yet due: nothing. Then the decision date passes (moved into the past: the API
    # judges "overdue" by the wall clock).
    now = utcnow()
    assert deadlines(p, now) == 0
    yesterday = now.date() - timedelta(days=1)
    with p.runtime.db.write() as session:
        row = session.get(Proposal, proposal["id"])
        assert row is not None
        row.decision_due_on = yesterday
    assert p.admin.get(f"/proposals/{proposal['id']}").json()["overdue"] is True
    assert deadlines(p, now) == 1
    assert deadlines(p, now) == 0
    assert deliver(p) == 1
    ((late, to),) = new_mail(smtp_server, 2, 1)
    assert to == tuple(sorted([ADMIN, op.email]))  # operators and admins, nobody else
    assert subject(late) == f"Decision overdue: {ref}"
    assert f"Proposal {ref} (Fast pilot) is in technical_review" in body(late)
    assert f"its decision was due on {yesterday.isoformat()}" in body(late)


# -- (d) inference above the mode's share ------------------------------------------------------
def test_inference_above_the_share_tells_operators_once_and_is_audited(
    mail_platform: Platform, smtp_server: Mailbox
) -> None:
    p = mail_platform
    op = operators(p)
    owner = quick_user(p, "ines")
    org = p.org(owner, "Ines Research", kind="research")
    project = p.project(owner, org["id"], "science", gpu_hours=None)
    (alloc,) = p.grant(project["id"], 1, (LOCAL,))
    alloc_id = alloc["id"]
    # As an AI for Science allocation would be: inference at most 10% of it.
    with p.runtime.db.write() as session:
        row = session.get(Allocation, alloc_id)
        assert row is not None
        row.mode = "ai_for_science"
        row.inference_share_max = 0.10

    # A short inference job: far below the share.
    spec = job_spec(project["id"], run="echo hi", name="serve", work="inference")
    r = owner.post("/jobs", spec)
    assert r.status_code == 201, r.text
    assert run_until_final(p, r.json()["id"], owner)["state"] == "completed"
    now = utcnow()
    assert deadlines(p, now) == 1  # the start notice only
    assert deliver(p) == 1
    ((started, _),) = new_mail(smtp_server, 0, 1)
    assert "has started" in subject(started)
    assert owner.get(f"/allocations/{alloc_id}").json()["inference_share_exceeded"] is False

    # An inference job of 1 GPU that ran for 30 minutes: half the allocation. (It runs for
    # real; its start is moved back by 30 minutes before the executor loop sees it end.)
    spec = job_spec(
        project["id"],
        run="echo hi",
        name="serve-long",
        work="inference",
        resources={"accelerators_per_node": 1, "walltime": "30m"},
    )
    r = owner.post("/jobs", spec)
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    assert p.runtime.dispatcher.dispatch_once() == 1
    with p.runtime.db.write() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.started_at is not None
        job.started_at = job.started_at - timedelta(minutes=30)
    assert run_until_final(p, job_id, owner)["state"] == "completed"
    detail = owner.get(f"/allocations/{alloc_id}").json()
    settled = [e for e in detail["ledger"] if e["kind"] == "settlement" and e["job_id"] == job_id]
    assert [(e["used_gpu_seconds"], e["work"]) for e in settled] == [(1800, "inference")]
    assert detail["inference_share_exceeded"] is True

    assert deadlines(p, utcnow()) == 1
    assert deadlines(p, utcnow()) == 0
    assert deliver(p) == 1
    ((mail, to),) = new_mail(smtp_server, 1, 1)
    assert to == tuple(sorted([ADMIN, op.email]))  # the operators, not the project
    assert subject(mail) == f"Inference above the share limit: allocation {alloc_id} " + (
        f"(science, {LOCAL})"
    )
    assert "has used 50.0% of its 1 GPU-hours for inference; the mode allows 10%" in body(mail)

    events = p.admin.get("/audit/events?limit=1000").json()["items"]
    exceeded = [e for e in events if e["action"] == "allocation.inference_exceeded"]
    assert len(exceeded) == 1
    assert exceeded[0]["object_id"] == alloc_id
    assert exceeded[0]["org_id"] == org["id"]
    assert exceeded[0]["data"]["limit"] == 0.10
    assert 0.5 <= exceeded[0]["data"]["share"] < 0.51


# -- (e) the mail server is down: mail waits and is retried later ------------------------------
def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mail_server_down_keeps_mail_queued_and_retries_later(
    tmp_path: Path, db_url: str, smtp_server: Mailbox
) -> None:
    port = _closed_port()
    p = build_platform(tmp_path, db_url, smtp_host="127.0.0.1", smtp_port=port)
    with p.client:
        try:
            ada = quick_user(p, "ada")
            org = p.org(ada)
            project = p.project(ada, org["id"], gpu_hours=None)
            r = apply(ada, open_call(ada, "playground")["id"], project["id"])
            assert r.status_code == 201, r.text

            now = utcnow()
            assert deliver(p, now) == 0
            with p.runtime.db.read() as session:
                rows = session.execute(select(OutboxMail).order_by(OutboxMail.id)).scalars().all()
                queued = [
                    (m.topic, m.attempts, m.sent_at, m.last_error, m.next_attempt_at) for m in rows
                ]
            assert [q[0] for q in queued] == ["proposal.submitted", "proposal.decided"]
            for _topic, tried, sent_at, last_error, next_attempt_at in queued:
                assert tried == 1 and sent_at is None
                assert last_error is not None and f"127.0.0.1:{port}" in last_error
                retry_at = next_attempt_at.replace(tzinfo=next_attempt_at.tzinfo or UTC)
                assert retry_at == now + timedelta(minutes=1)  # later, not at once

            # Not before its time, even when the loop runs again.
            assert deliver(p, now + timedelta(seconds=59)) == 0
            with p.runtime.db.read() as session:
                tries = session.execute(select(OutboxMail.attempts)).scalars().all()
            assert list(tries) == [1, 1]
            assert smtp_server.messages == []

            # The server is back (here: the test server): the retry sends both, once.
            back = SmtpMailer(smtp_server.host, smtp_server.port, "aifactory@localhost")
            later = now + timedelta(minutes=1)
            assert notifications.deliver_once(p.runtime.db, back, later) == 2
            assert notifications.deliver_once(p.runtime.db, back, later) == 0
            mails = new_mail(smtp_server, 0, 2)
            assert [subject(m).split(" ", 1)[1] for m, _ in mails] == [
                "received: LLM pilot",
                "accepted",
            ]
            assert {to for _, to in mails} == {(ada.email,)}
            with p.runtime.db.read() as session:
                rows = session.execute(select(OutboxMail)).scalars().all()
                assert all(m.sent_at is not None and m.last_error is None for m in rows)
                assert [m.attempts for m in rows] == [2, 2]
        finally:
            p.runtime.close()
