"""The service's one writer of job state refuses illegal transitions before any write."""

from __future__ import annotations

import pytest

from aifactory.db.tables import Job, JobEvent
from aifactory.domain.jobs import IllegalTransition, JobState
from aifactory.services.jobs import transition
from tests.conftest import Platform, job_spec


def test_an_illegal_transition_is_not_written(platform: Platform) -> None:
    user, _org, project = platform.tenant()
    job_id = user.post("/jobs", job_spec(project["id"])).json()["id"]
    with pytest.raises(IllegalTransition), platform.runtime.db.write() as session:
        job = session.get(Job, job_id)
        assert job is not None
        transition(session, job, JobState.RUNNING, "skipping placement")
    with platform.runtime.db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.state == "pending"
        events = session.query(JobEvent).filter(JobEvent.job_id == job_id).all()
        assert [e.state for e in events] == ["pending"]
