"""An unexpected error is a problem-details 500 with no stack trace, and its transaction is
rolled back: nothing half-written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from aifactory.db.tables import Job, JobEvent
from aifactory.services import jobs
from tests.conftest import Platform, job_spec


def _counts(platform: Platform) -> tuple[int, int]:
    with platform.runtime.db.read() as session:
        return (
            session.execute(select(func.count()).select_from(Job)).scalar_one(),
            session.execute(select(func.count()).select_from(JobEvent)).scalar_one(),
        )


def test_a_failure_after_the_first_insert_rolls_everything_back(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, _org, project = platform.tenant()
    before = _counts(platform)
    audit_before = platform.admin.get("/audit/events?limit=1").json()["total"]

    def broken_append(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internal detail: disk on fire at /var/lib/x")

    # The job and its first state are inserted, then the audit append fails.
    monkeypatch.setattr(jobs.audit, "append", broken_append)
    r = user.post("/jobs", job_spec(project["id"]))
    monkeypatch.undo()

    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["title"] == "Internal server error" and body["status"] == 500
    assert "Traceback" not in r.text and "secret internal detail" not in r.text
    assert "/var/lib" not in r.text
    assert _counts(platform) == before, "the job or its state was half-written"
    assert platform.admin.get("/audit/events?limit=1").json()["total"] == audit_before
    # and the platform keeps working
    assert user.post("/jobs", job_spec(project["id"])).status_code == 201
