"""A dry run of a submission: what the platform read and where the job would go, writing
nothing (``POST /jobs?dry_run=true``, ``aif submit|sbatch --dry-run``).

The spec is checked exactly as a submission is (the same 422s), then one scheduling cycle
runs on the live snapshot with the job added as it would be queued (an array by its first
task), and the job's decision is reported with every partition's verdict and the job's
resources on each partition that could take it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from aifactory.db.engine import Database
from aifactory.domain.catalog import Catalog, ExecutorKind
from aifactory.domain.jobspec import JobSpec
from aifactory.domain.sbatch import ScriptReading
from aifactory.scheduling.cycle import cycle
from aifactory.scheduling.fit import Need, resolve
from aifactory.scheduling.model import Action, Config, Decision, PendingJob
from aifactory.services import jobs, snapshot
from aifactory.services.errors import Invalid
from aifactory.services.identity import Principal
from aifactory.services.ids import utcnow
from aifactory.services.snapshot import Policy, SpecCache

CANDIDATE = "dry-run"
_OUTCOME = {
    Action.PLACE: "place",
    Action.HOLD: "wait",
    Action.FAIL: "fail",
    Action.CANCEL: "cancel",
}


@dataclass(frozen=True)
class Plan:
    spec: JobSpec
    reading: ScriptReading | None
    outcome: str  # place (now), wait, fail, cancel, or refused (at submission)
    reason: str
    decision: Decision | None
    needs: dict[str, Need]  # "site/partition" -> the job's resources there
    stack: str
    stack_why: str


class DryRuns:
    """Dry runs share a spec cache of their own (not the dispatcher's, which its loop owns)."""

    def __init__(self, db: Database, catalog: Catalog, policy: Policy) -> None:
        self.db = db
        self.catalog = catalog
        self.policy = policy
        self._specs = SpecCache()
        self._lock = threading.Lock()

    def plan(self, principal: Principal, spec: JobSpec, configured: set[ExecutorKind]) -> Plan:
        spec = jobs.normalise(spec, self.catalog)
        demand = jobs.demand_of(spec)
        stack = jobs.stack_need(spec)
        reading = spec.reading()
        cons = spec.constraints
        needs = {  # on every partition the job's constraints leave, where it fits
            f"{site.id}/{part.id}": need
            for site, part in self.catalog.partitions()
            if (not cons.sites or site.id in cons.sites)
            and (not cons.partitions or part.id in cons.partitions)
            and (not cons.countries or site.country in cons.countries)
            and isinstance(need := resolve(demand, part), Need)
        }
        now = utcnow()
        with self.db.read() as session:
            # Who may submit where first (another tenant's project answers 404, as ever).
            prepared = jobs.prepare_submission(session, principal, spec, None)
            assert isinstance(prepared, jobs.Prepared)
            try:
                jobs.check_against_catalog(spec, self.catalog)
            except Invalid as exc:  # a submission would be refused: say why, write nothing
                why = "; ".join(p.message for p in exc.problems) or exc.detail
                return Plan(spec, reading, "refused", why, None, needs, stack.stack, stack.why)
            array = spec.array_spec
            candidate = PendingJob(
                CANDIDATE,
                prepared.project_id,
                prepared.org_id,
                demand,
                now.timestamp(),
                spec.preemptible,
                prepared.residency,
                None,
                array.indexes[0] if array is not None else 0,
                spec.dependency_spec,
                spec.kill_on_invalid_dep,
            )
            with self._lock:
                snap, _, _ = snapshot.build(
                    session,
                    self.catalog,
                    configured,
                    self._specs,
                    self.policy,
                    now,
                    extra=[(candidate, principal.user_id, spec.name)],
                )
                self._specs.forget([j.id for j in snap.pending] + [a.id for a in snap.active])
        decision = cycle(snap, now.timestamp(), Config(weights=self.policy.weights)).of(CANDIDATE)
        return Plan(
            spec,
            reading,
            _OUTCOME[decision.action],
            decision.reason,
            decision,
            needs,
            stack.stack,
            stack.why,
        )


def plan_record(plan: Plan) -> dict[str, Any]:
    """The plan as the API returns it."""
    d = plan.decision
    placement = d.placement_record() if d is not None else None
    reading = plan.reading
    return {
        "outcome": plan.outcome,
        "reason": plan.reason,
        "spec": plan.spec.model_dump(mode="json"),
        "stack": plan.stack,
        "stack_reason": plan.stack_why,
        "array": None
        if plan.spec.array_spec is None
        else {
            "spec": plan.spec.array_spec.text,
            "tasks": plan.spec.array_spec.size,
            "indexes": list(plan.spec.array_spec.indexes),
            "throttle": plan.spec.array_spec.throttle,
        },
        "dependency": plan.spec.dependency,
        "ignored": [n.text() for n in reading.notes] if reading is not None else [],
        "needs": {key: need.as_dict() for key, need in plan.needs.items()},
        "placement": placement,
    }
