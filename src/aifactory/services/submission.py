"""Submitting a job, as the API and the portal both do: normalise the spec, check it against
the catalog, answer an earlier job for the same idempotency key, else record the new one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from aifactory.db.tables import Job
from aifactory.domain.jobspec import JobSpec
from aifactory.services import jobs
from aifactory.services.identity import Principal

if TYPE_CHECKING:
    from aifactory.services.runtime import Runtime


@dataclass(frozen=True)
class Outcome:
    job: Job
    created: bool  # False: the earlier job of the same idempotency key


def submit(
    runtime: Runtime, principal: Principal, spec: JobSpec, idempotency_key: str | None = None
) -> Outcome:
    """Raises Invalid (the spec does not fit the catalog), NotFound or Forbidden (the project)."""
    spec = jobs.normalise(spec, runtime.catalog)
    jobs.check_against_catalog(spec, runtime.catalog)
    with runtime.db.read() as session:
        prepared = jobs.prepare_submission(
            session, principal, spec, idempotency_key, runtime.catalog
        )
        if isinstance(prepared, jobs.Submitted):
            return Outcome(prepared.job, created=False)
    try:
        with runtime.db.write() as session:
            job = jobs.record_submission(session, principal, spec, prepared, idempotency_key)
    except IntegrityError:
        # A concurrent request with the same key won the race: answer with its job.
        with runtime.db.read() as session:
            earlier = jobs.prepare_submission(session, principal, spec, idempotency_key)
        if not isinstance(earlier, jobs.Submitted):
            raise
        return Outcome(earlier.job, created=False)
    return Outcome(job, created=True)
