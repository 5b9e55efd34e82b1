"""From application to GPU-hours, as a new user and the federation's staff go through it, on
SQLite and PostgreSQL: Playground (automatic), Fast Lane (a technical reviewer), Large Scale
(technical review, two peer reviews, a decision), withdrawal, and jobs placed only while the
allocation has hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import update

from aifactory.db.tables import Allocation
from tests.conftest import Actor, Platform, job_spec, proposal_form, quick_user, run_until_final


def _call(platform: Platform, mode: str) -> dict[str, Any]:
    calls = [c for c in platform.admin.get("/calls", params={"open": True}).json()]
    (call,) = [c for c in calls if c["mode"] == mode]
    return call


def _states(detail: dict[str, Any]) -> list[str]:
    return [e["state"] for e in detail["history"]]


def _applicant(platform: Platform, name: str, kind: str = "sme") -> tuple[Actor, dict[str, Any]]:
    user = quick_user(platform, name)
    org = platform.org(user, f"{name.title()} AI", kind=kind, country="FI")
    return user, platform.project(user, org["id"], "llm-pilot", gpu_hours=None)


def _wait_pending(platform: Platform, user: Actor, job_id: str) -> dict[str, Any]:
    platform.runtime.dispatcher.dispatch_once()
    job = user.get(f"/jobs/{job_id}").json()
    assert job["state"] == "pending", job
    return dict(job)


def test_an_sme_applies_to_playground_is_accepted_and_runs_only_while_hours_remain(
    platform: Platform,
) -> None:
    user, project = _applicant(platform, "sara")
    # Before any allocation, a job waits and says why.
    early = user.post("/jobs", job_spec(project["id"], "echo 42")).json()
    assert (
        "no allocation here; apply to an access call"
        in _wait_pending(platform, user, early["id"])["reason"]
    )
    user.post(f"/jobs/{early['id']}/cancel")

    pg = _call(platform, "playground")
    assert pg["is_open"] and pg["partitions"] == ["local/local"]
    form = proposal_form(
        pg["id"],
        project["id"],
        resources=[{"partition": "local/local", "gpu_hours": 2, "largest_job_gpus": 1}],
        duration_months=1,
    )
    r = user.post("/proposals", form)
    assert r.status_code == 201, r.text
    proposal = r.json()
    assert proposal["state"] == "accepted"
    assert _states(proposal) == [
        "draft",
        "submitted",
        "eligibility",
        "technical_review",
        "accepted",
    ]
    assert proposal["reference"] == f"EHPC-AIF-{pg['code']}-0001"
    assert proposal["decision_due_on"] is not None and not proposal["overdue"]
    (alloc_id,) = proposal["allocation_ids"]

    (alloc,) = user.get("/allocations").json()
    assert alloc["id"] == alloc_id
    assert (alloc["state"], alloc["granted_gpu_hours"], alloc["balance_gpu_hours"]) == (
        "active",
        2.0,
        2.0,
    )
    assert (alloc["site"], alloc["partition"], alloc["mode"]) == ("local", "local", "playground")

    # Two 1-GPU, 1-hour jobs fit; a third waits for hours, with the reason.
    spec = {"resources": {"accelerators_per_node": 1, "walltime": "1h"}}
    long_jobs = [
        user.post("/jobs", job_spec(project["id"], "sleep 30", name=f"j{i}", **spec)).json()["id"]
        for i in range(2)
    ]
    third = user.post("/jobs", job_spec(project["id"], "echo 42", name="j3", **spec)).json()
    platform.runtime.dispatcher.dispatch_once()
    assert {user.get(f"/jobs/{j}").json()["state"] for j in long_jobs} <= {"placed", "submitted"}
    waiting = _wait_pending(platform, user, third["id"])
    assert "waiting for an allocation with hours left" in waiting["reason"]
    assert "is exhausted (0 of 2 GPU-hours left); the job needs 1 GPU-hours" in waiting["reason"]
    detail = user.get(f"/allocations/{alloc_id}").json()
    assert (detail["balance_gpu_hours"], detail["reserved_gpu_hours"], detail["state"]) == (
        0.0,
        2.0,
        "exhausted",
    )

    # The first job ends early: the unused part of its reservation returns, the third runs.
    user.post(f"/jobs/{long_jobs[0]}/cancel")
    cancelled = run_until_final(platform, long_jobs[0], user)
    assert cancelled["state"] == "cancelled"
    done = run_until_final(platform, third["id"], user)
    assert done["state"] == "completed"
    assert user.get(f"/jobs/{third['id']}/logs").json()["text"] == "42\n"
    detail = user.get(f"/allocations/{alloc_id}").json()
    kinds = [e["kind"] for e in detail["ledger"]]
    assert kinds.count("reservation") == 3 and kinds.count("settlement") == 2
    assert detail["balance_gpu_hours"] == round(sum(e["gpu_hours"] for e in detail["ledger"]), 4)
    used = sum(e["used_gpu_seconds"] or 0 for e in detail["ledger"])
    assert detail["used_gpu_hours"] == round(used / 3600, 4)

    # When the allocation has ended, nothing more is placed, and the user is told why.
    user.post(f"/jobs/{long_jobs[1]}/cancel")
    run_until_final(platform, long_jobs[1], user)
    with platform.runtime.db.write() as session:
        session.execute(
            update(Allocation)
            .where(Allocation.id == alloc_id)
            .values(ends_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    late = user.post("/jobs", job_spec(project["id"], "echo late", name="late")).json()
    reason = _wait_pending(platform, user, late["id"])["reason"]
    assert f"allocation {alloc_id} ended on" in reason
    assert user.get(f"/allocations/{alloc_id}").json()["state"] == "ended"


def test_large_scale_goes_through_technical_and_two_peer_reviews_then_a_decision(
    platform: Platform,
) -> None:
    admin = platform.admin
    user, project = _applicant(platform, "lars", kind="industry")
    tech = quick_user(platform, "tina", roles=("reviewer",))
    peers = [quick_user(platform, f"peer{i}", roles=("reviewer",)) for i in range(2)]
    ls = _call(platform, "large_scale")
    form = proposal_form(
        ls["id"],
        project["id"],
        title="Foundation model for EU languages",
        resources=[{"partition": "local/local", "gpu_hours": 60_000, "largest_job_gpus": 4}],
        duration_months=6,
    )
    r = user.post("/proposals", form)
    assert r.status_code == 201, r.text
    p = r.json()
    # The due date is shown from submission on: 10 working days after the next cut-off.
    assert p["state"] == "technical_review"
    assert p["cutoff_on"] == ls["next_cutoff"]
    assert date.fromisoformat(p["decision_due_on"]) > date.fromisoformat(p["cutoff_on"])
    pid = p["id"]

    # A decision before the reviews is refused.
    r = admin.post(f"/proposals/{pid}/decision", {"decision": "accept", "reason": "early"})
    assert r.status_code == 409 and "technical review has not passed" in r.json()["detail"]

    r = admin.post(f"/proposals/{pid}/reviewers", {"reviewer": tech.email, "kind": "technical"})
    assert r.status_code == 201, r.text
    (review,) = tech.get("/reviews").json()
    assert (review["kind"], review["state"], review["proposal_reference"]) == (
        "technical",
        "requested",
        p["reference"],
    )
    # The reviewer reads the proposal they review (and only that one).
    assert tech.get(f"/proposals/{pid}").status_code == 200
    r = tech.post(f"/reviews/{review['id']}", {"passed": True, "comments": "code scales"})
    assert r.status_code == 200, r.text
    assert user.get(f"/proposals/{pid}").json()["state"] == "peer_review"
    # A review is given once.
    again = tech.post(f"/reviews/{review['id']}", {"passed": False})
    assert again.status_code == 409

    review_ids = []
    for peer in peers:
        r = admin.post(f"/proposals/{pid}/reviewers", {"reviewer": peer.email, "kind": "peer"})
        assert r.status_code == 201, r.text
        review_ids.append(r.json()["id"])
    r = peers[0].post(f"/reviews/{review_ids[0]}", {"score": 4, "comments": "strong"})
    assert r.status_code == 200, r.text
    r = admin.post(f"/proposals/{pid}/decision", {"decision": "accept", "reason": "early"})
    assert r.status_code == 409 and "needs 2 peer reviews and has 1" in r.json()["detail"]
    r = peers[1].post(f"/reviews/{review_ids[1]}", {"score": 5, "comments": "excellent"})
    assert r.status_code == 200, r.text
    assert "mean score 4.5" in user.get(f"/proposals/{pid}").json()["reason"]

    r = admin.post(f"/proposals/{pid}/decision", {"decision": "accept", "reason": "ranked 1st"})
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["state"] == "accepted"
    assert _states(decided) == [
        "draft",
        "submitted",
        "eligibility",
        "technical_review",
        "peer_review",
        "accepted",
    ]
    # The applicant sees what reviewers said, not who they are.
    seen = user.get(f"/proposals/{pid}").json()["reviews"]
    assert sorted(r["score"] for r in seen if r["kind"] == "peer") == [4, 5]
    assert all(r["reviewer_id"] is None for r in seen)
    (alloc,) = user.get("/allocations").json()
    assert (alloc["granted_gpu_hours"], alloc["reference"]) == (60_000.0, p["reference"])
    months = (date.fromisoformat(alloc["ends_at"][:10]) - date.today()).days
    assert 180 <= months <= 185  # six months from the decision

    # Deciding twice is refused, and changes nothing.
    r = admin.post(f"/proposals/{pid}/decision", {"decision": "reject", "reason": "changed"})
    assert r.status_code == 409
    assert user.get(f"/proposals/{pid}").json()["state"] == "accepted"
    assert len(user.get("/allocations").json()) == 1


def test_fast_lane_a_technical_pass_accepts_and_a_fail_rejects(platform: Platform) -> None:
    admin = platform.admin
    reviewer = quick_user(platform, "fred", roles=("reviewer",))
    outcomes = {}
    for passed in (True, False):
        user, project = _applicant(platform, f"fl{int(passed)}")
        fl = _call(platform, "fast_lane")
        p = user.post("/proposals", proposal_form(fl["id"], project["id"])).json()
        assert p["state"] == "technical_review", p
        r = admin.post(
            f"/proposals/{p['id']}/reviewers", {"reviewer": reviewer.email, "kind": "technical"}
        )
        assert r.status_code == 201, r.text
        r = reviewer.post(
            f"/reviews/{r.json()['id']}", {"passed": passed, "comments": "checked the code"}
        )
        assert r.status_code == 200, r.text
        outcomes[passed] = user.get(f"/proposals/{p['id']}").json()
    assert outcomes[True]["state"] == "accepted" and outcomes[True]["allocation_ids"]
    assert outcomes[False]["state"] == "rejected"
    assert "technical review: checked the code" in outcomes[False]["reason"]
    assert outcomes[False]["allocation_ids"] == []


def test_drafts_submit_later_and_proposals_can_be_withdrawn(platform: Platform) -> None:
    user, project = _applicant(platform, "dora")
    fl = _call(platform, "fast_lane")
    r = user.post("/proposals", proposal_form(fl["id"], project["id"]), params={"draft": True})
    assert r.status_code == 201, r.text
    draft = r.json()
    assert (draft["state"], draft["reference"], draft["decision_due_on"]) == ("draft", None, None)
    # A draft is the applicant's own: operators do not see it yet.
    assert platform.admin.get(f"/proposals/{draft['id']}").status_code == 404
    r = user.post(f"/proposals/{draft['id']}/submit")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "technical_review" and r.json()["reference"]
    assert user.post(f"/proposals/{draft['id']}/submit").status_code == 409
    r = user.post(f"/proposals/{draft['id']}/withdraw")
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"
    assert user.post(f"/proposals/{draft['id']}/withdraw").status_code == 409

    other = user.post(
        "/proposals", proposal_form(fl["id"], project["id"]), params={"draft": True}
    ).json()
    r = user.post(f"/proposals/{other['id']}/withdraw")
    assert _states(r.json()) == ["draft", "withdrawn"]


def test_operators_see_what_is_due_this_week_and_what_is_overdue(platform: Platform) -> None:
    from sqlalchemy import update as sql_update

    from aifactory.db.tables import Proposal

    user, project = _applicant(platform, "otto")
    fl = _call(platform, "fast_lane")
    p = user.post("/proposals", proposal_form(fl["id"], project["id"])).json()
    due = date.fromisoformat(p["decision_due_on"])
    listed = platform.admin.get("/proposals/due", params={"until": due.isoformat()}).json()
    assert [x["id"] for x in listed] == [p["id"]]
    before = (due - timedelta(days=1)).isoformat()
    assert platform.admin.get("/proposals/due", params={"until": before}).json() == []
    # Only operators have the dashboard.
    assert user.get("/proposals/due").status_code == 403

    with platform.runtime.db.write() as session:
        session.execute(
            sql_update(Proposal)
            .where(Proposal.id == p["id"])
            .values(decision_due_on=date.today() - timedelta(days=1))
        )
    (row,) = platform.admin.get("/proposals/due").json()  # default: through this Sunday
    assert row["overdue"] is True
    assert user.get(f"/proposals/{p['id']}").json()["overdue"] is True


def test_every_change_is_an_audit_event(platform: Platform) -> None:
    user, project = _applicant(platform, "audra")
    pg = _call(platform, "playground")
    p = user.post("/proposals", proposal_form(pg["id"], project["id"])).json()
    events = platform.admin.get("/audit/events", params={"limit": 500}).json()
    events = events["items"] if isinstance(events, dict) else events
    actions = [e["action"] for e in events if e["object_id"] in {p["id"], *p["allocation_ids"]}]
    for action in (
        "proposal.create",
        "proposal.submitted",
        "proposal.eligibility",
        "proposal.technical_review",
        "proposal.accepted",
        "allocation.grant",
    ):
        assert action in actions, (action, actions)
    assert platform.admin.get("/audit/verify").json()["ok"] is True


def test_in_peer_review_a_proposal_can_be_rejected_or_withdrawn_and_open_reviews_cancel(
    platform: Platform,
) -> None:
    admin = platform.admin
    tech = quick_user(platform, "tess", roles=("reviewer",))
    peer = quick_user(platform, "pete", roles=("reviewer",))
    ls = _call(platform, "large_scale")
    ends = {}
    for how in ("reject", "withdraw"):
        user, project = _applicant(platform, f"ls{how}", kind="industry")
        form = proposal_form(
            ls["id"],
            project["id"],
            resources=[{"partition": "local/local", "gpu_hours": 50_001, "largest_job_gpus": 1}],
            duration_months=3,
        )
        pid = user.post("/proposals", form).json()["id"]
        review = admin.post(
            f"/proposals/{pid}/reviewers", {"reviewer": tech.email, "kind": "technical"}
        ).json()
        assert tech.post(f"/reviews/{review['id']}", {"passed": True}).status_code == 200
        peer_review = admin.post(
            f"/proposals/{pid}/reviewers", {"reviewer": peer.email, "kind": "peer"}
        ).json()
        assert user.get(f"/proposals/{pid}").json()["state"] == "peer_review"
        if how == "reject":
            r = admin.post(f"/proposals/{pid}/decision", {"decision": "reject", "reason": "weak"})
        else:
            r = user.post(f"/proposals/{pid}/withdraw")
        assert r.status_code == 200, r.text
        ends[how] = r.json()
        # The review still open is cancelled: it can no longer be submitted.
        (open_review,) = [x for x in peer.get("/reviews").json() if x["id"] == peer_review["id"]]
        assert open_review["state"] == "cancelled"
        assert peer.post(f"/reviews/{peer_review['id']}", {"score": 3}).status_code == 409
    assert _states(ends["reject"])[-2:] == ["peer_review", "rejected"]
    assert _states(ends["withdraw"])[-2:] == ["peer_review", "withdrawn"]
    assert ends["reject"]["allocation_ids"] == ends["withdraw"]["allocation_ids"] == []
