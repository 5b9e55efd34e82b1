"""A schemathesis run over the whole OpenAPI spec: no 500 and no response that breaks the spec.

The same run as ``schemathesis run`` — examples, coverage, fuzzing and (over the links it
infers) stateful phases, with every built-in check: server errors, status codes, content
types, response schemas and headers, positive data accepted, negative data rejected, ignored
auth, 405/Allow — driven through schemathesis' engine against the ASGI app in-process.

One platform per module: a tenant (owner, organisation with a second member, project, a
cancelled job), a spare token. The run goes once as the platform admin and once as the
tenant's owner. Ids in paths, bodies and queries are generated or, half of the time, the id
of a real object, so the code past the 404 runs too. Generation is deterministic (fixed seed,
derandomized, no example database, no schemathesis cache): CI replays exactly this run.

schemathesis' pytest plugin (``schemathesis.pytest.from_fixture``) is not used: on pytest 9.2
it fails with ``'Function' object has no attribute '_nodeid'``; the engine needs no plugin.
"""

from __future__ import annotations

import json
import os
import re
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from schemathesis.core.failures import format_failures
from schemathesis.core.parameters import ParameterLocation
from schemathesis.engine import Status, events
from schemathesis.engine.recorder import ScenarioRecorder
from sqlalchemy import select

from aifactory.db.tables import Job
from aifactory.domain.jobs import JobState
from aifactory.services import identity, jobs
from tests.api.data_helpers import begin, make_dataset, push
from tests.conftest import Databases, Platform, build_platform, job_spec

# Rules a static schema cannot state, because they need data (the catalog, the call, the
# applicant's organisation, the ledger) or relate fields to each other. Each is answered 422
# naming its field, by design; schemathesis counts that as "schema-valid request rejected".
# Only those exact answers are let through: a 422 whose every error names one of these fields
# (or a sub-field), or an access-call rule (the `rule` key). Any other 422 to schema-valid
# data still fails the run.
# - POST /jobs: some partition must be able to run the job (size, walltime, stack, sites).
# - POST /calls: the mode's rules with the call's overrides, cut-offs for cut-off modes,
#   closes_on not before opens_on.
# - POST /proposals: each partition once; the call's rules (with `rule`).
# - POST /allocations: ends after it starts. Adjustments: the balance never goes below 0.
# - POST /reviews/{id}: a technical review needs `passed`, a peer review a `score`.
# - POST /proposals/{id}/reviewers: the reviewer role, conflicts, the call's review steps.
# - PUT /orgs/{id}/restriction: with both sites and countries, each site in one of them.
DATA_RULES: dict[str, frozenset[str]] = {
    # #SBATCH lines of a batch script (their form is checked line by line).
    # An array's indexes below MaxArraySize and not backwards; a dependency on jobs that
    # exist; a mail recipient of the job's organisation.
    # A model version the job produces: of the job's organisation, and existing.
    "POST /api/v1/jobs": frozenset(
        {
            "resources",
            "script",
            "array",
            "dependency",
            "mail_user",
            "constraints.qos",
            "datasets",
            "produces",
        }
    ),
    # Compliance: an override names its class, a reason is said in 10 characters once
    # trimmed; a version's base is of the organisation, a declared compute goes with an
    # external base; an evaluation's job ran for the version, as an evaluation, to the end.
    "POST /api/v1/projects/{project_id}/use-case/review": frozenset({"reason", "risk_class"}),
    "POST /api/v1/compliance/cases/{case_id}/close": frozenset({"reason"}),
    "POST /api/v1/models/{model}/versions": frozenset(
        {"base_version_id", "base_external", "base_external_flop"}
    ),
    "POST /api/v1/model-versions/{version_id}/evaluations": frozenset({"job_id"}),
    "POST /api/v1/calls": frozenset({"rules", "cutoffs", "closes_on"}),
    "POST /api/v1/proposals": frozenset({"resources"}),
    "POST /api/v1/proposals/{proposal_id}/submit": frozenset(),
    "POST /api/v1/allocations": frozenset({"ends_at"}),
    "POST /api/v1/allocations/{allocation_id}/adjustments": frozenset({"gpu_hours"}),
    "POST /api/v1/reviews/{review_id}": frozenset({"passed", "score"}),
    "POST /api/v1/proposals/{proposal_id}/reviewers": frozenset({"kind", "reviewer"}),
    "PUT /api/v1/orgs/{org_id}/restriction": frozenset({"sites"}),
    # Datasets: a policy's countries and sites must exist in the catalog and admit the home
    # site; an upload's files fit in its size; a chunk has its exact size and digest; a stage
    # goes only where the policy admits; a grant names a project and a future expiry.
    "POST /api/v1/datasets": frozenset({"policy", "home_site", "origin_country"}),
    "PUT /api/v1/datasets/{dataset_id}/policy": frozenset({"policy"}),
    "POST /api/v1/datasets/{dataset_id}/uploads": frozenset({"files", "size", "sha256"}),
    "PUT /api/v1/datasets/{dataset_id}/uploads/{upload_id}/chunks/{index}": frozenset(
        {"X-Chunk-SHA256", "body", "index"}
    ),
    "POST /api/v1/datasets/{dataset_id}/uploads/{upload_id}/complete": frozenset({"sha256"}),
    "POST /api/v1/datasets/{dataset_id}/versions/{number}/replicas": frozenset(
        {"site", "legal_basis"}
    ),
    "POST /api/v1/datasets/{dataset_id}/grants": frozenset({"project_id", "expires_at"}),
    "GET /api/v1/datasets/{dataset_id}/versions/{number}/content": frozenset({"Range"}),
    # A mailed link's token must be one the platform sent, unused and not expired.
    "POST /api/v1/auth/verify-email": frozenset({"token"}),
    "POST /api/v1/auth/password-reset/confirm": frozenset({"token"}),
}

# Fixed, so CI replays the same run; AIF_SCHEMATHESIS_SEED / _EXAMPLES explore further.
SEED = int(os.environ.get("AIF_SCHEMATHESIS_SEED", "20240611"))
MAX_EXAMPLES = int(os.environ.get("AIF_SCHEMATHESIS_EXAMPLES", "20"))
OPENAPI = "/api/v1/openapi.json"


@dataclass
class World:
    platform: Platform
    tokens: dict[str, str]
    # Real values by the name of the path parameter, query parameter or body field.
    known: dict[str, str]


@contextmanager
def jobs_end_quickly(platform: Platform) -> Iterator[None]:
    """Cancel every pending job a moment after it is submitted.

    The background loops are off — they would run the fuzzed ``run`` commands on this
    machine — so without this a submitted job stays pending and each GET /jobs/{id}/wait
    on it lasts its whole ``timeout`` (up to 60 s).
    """
    stop = threading.Event()
    db = platform.runtime.db

    def reap() -> None:
        while not stop.wait(0.1):
            try:
                with db.write() as session:
                    admin = identity.authenticate(session, platform.admin.token)
                    waiting = session.execute(
                        select(Job.id).where(Job.state == JobState.PENDING.value)
                    ).scalars()
                    for job_id in list(waiting):
                        jobs.cancel(session, admin, job_id)
            except Exception:  # a busy database: the next pass retries
                continue

    thread = threading.Thread(target=reap, name="reaper", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    platform = build_platform(tmp, databases.sqlite(tmp / "data" / "aifactory.db"))
    with platform.client:
        owner, org, project = platform.tenant("owner")
        other = platform.user("other")
        added = owner.post(f"/orgs/{org['id']}/members", {"email": other.email})
        assert added.status_code == 201, added.text
        job = owner.post("/jobs", job_spec(project["id"], "true", name="fuzzed"))
        assert job.status_code == 201, job.text
        # Final, so GET /jobs/{id}/wait answers at once instead of after its timeout.
        cancelled = owner.post(f"/jobs/{job.json()['id']}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        spare = owner.post("/tokens", {"name": "spare"})  # the one a fuzzer may revoke
        assert spare.status_code == 201, spare.text
        # A dataset with a version, an open upload and a grant, so the data routes run past
        # their 404s too.
        ds = make_dataset(owner, project["id"], "fuzzed", home_site="local")
        push(owner, ds["id"], b"fuzzed bytes")
        upload = begin(owner, ds["id"], b"the next version")
        second = platform.project(owner, org["id"], "second", gpu_hours=None)
        grant = owner.post(f"/datasets/{ds['id']}/grants", {"project_id": second["id"]})
        assert grant.status_code == 201, grant.text
        with jobs_end_quickly(platform):
            yield World(
                platform,
                tokens={"admin": platform.admin.token, "owner": owner.token},
                known={
                    "org_id": org["id"],
                    "project_id": project["id"],
                    "project": project["id"],
                    "job_id": job.json()["id"],
                    "user_id": other.user_id,
                    "email": other.email,
                    "token_id": spare.json()["id"],
                    "site_id": platform.runtime.catalog.sites[0].id,
                    "dataset_id": ds["id"],
                    "upload_id": upload["id"],
                    "grant_id": grant.json()["id"],
                    "number": "1",
                },
            )
    platform.runtime.close()


def _mutated(case: schemathesis.Case, location: ParameterLocation) -> set[str] | None:
    """The names in ``location`` that a negative case made invalid; None when not known.

    Those keep their value: replaced by a real id, they would be valid data that
    schemathesis still counts as invalid.
    """
    meta = case.meta
    if meta is None or not meta.is_negative_at(location):
        return set()
    data = meta.phase.data
    if getattr(data, "mutations", ()) or data.parameter_location != location:
        return None
    if location == ParameterLocation.BODY:
        top = re.match(r"^/properties/([^/]+)", data.location or "")
        return {top.group(1)} if top else None
    return {data.parameter} if data.parameter else None


def _schema(world: World, token: str) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # Every failing case, not only the first one of each operation.
            "continue-on-failure": True,
            # No state between runs: the cache replays earlier failures and writes
            # .schemathesis/ into the working tree.
            "cache": {"enabled": False},
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "auth": {"openapi": {"HTTPBearer": {"bearer": token}}},
        }
    )
    schema = schemathesis.openapi.from_asgi(OPENAPI, world.platform.client.app, config=config)
    known = world.known

    @schema.hook
    def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
        # Half of the cases (a stable choice: the run stays reproducible) name real objects.
        for location, container in (
            (ParameterLocation.PATH, case.path_parameters),
            (ParameterLocation.QUERY, case.query),
            (ParameterLocation.BODY, case.body),
        ):
            mutated = _mutated(case, location)
            if not isinstance(container, dict) or mutated is None:
                continue
            names = known.keys() & container.keys() - mutated
            if names and zlib.crc32(repr(sorted(container.items(), key=str)).encode()) % 2:
                for name in names:
                    container[name] = known[name]
        return case

    return schema


@dataclass
class Report:
    """Failures keyed by (operation, check, status): how often, and the first example."""

    output: Any
    counts: Counter[tuple[str, str, int | None]] = field(default_factory=Counter)
    examples: dict[tuple[str, str, int | None], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    operations: set[str] = field(default_factory=set)
    cases: int = 0
    data_rules: Counter[str] = field(default_factory=Counter)

    def scenario(self, recorder: ScenarioRecorder) -> None:
        self.operations.add(recorder.label)
        self.cases += len(recorder.cases)
        for case_id, checks in recorder.checks.items():
            infos = [c.failure_info for c in checks if c.status == Status.FAILURE]
            failures = [info for info in infos if info is not None]
            if not failures:
                continue
            response = recorder.find_response(case_id=case_id)
            node = recorder.cases.get(case_id)
            # Stateful scenarios span operations: name the one that failed.
            label = node.value.operation.label if node is not None else recorder.label
            text = format_failures(
                case_id=None,
                response=response,
                failures=[info.failure for info in failures],
                curl=failures[0].code_sample,
                config=self.output,
            )
            for info in failures:
                status = response.status_code if response is not None else None
                if _data_rule(label, info.failure.code, response):
                    self.data_rules[label] += 1
                    continue
                key = (label, f"{info.failure.code} {info.failure.title}", status)
                self.counts[key] += 1
                self.examples.setdefault(key, text)

    def render(self) -> str:
        summary = [
            f"{n:4d} x  {label}  [{status}]  {check}"
            for (label, check, status), n in sorted(self.counts.items(), key=str)
        ]
        details = [
            f"--- {label} [{status}]{text}" for (label, _, status), text in self.examples.items()
        ]
        let = ", ".join(f"{n} on {label}" for label, n in sorted(self.data_rules.items()))
        fit = f"(422s naming a data rule let through: {let or 'none'})"
        return "\n".join([*self.errors, *summary, fit, "", *details])


def _names(field_name: str, allowed: frozenset[str]) -> bool:
    return any(field_name == a or field_name.startswith((a + ".", a + "[")) for a in allowed)


def _data_rule(label: str, code: str, response: Any) -> bool:
    fields = DATA_RULES.get(label)
    if fields is None or code != "ST202" or getattr(response, "status_code", None) != 422:
        return False
    try:
        errors = json.loads(response.content)["errors"]
    except (ValueError, KeyError, TypeError):
        return False
    return bool(errors) and all(
        e.get("rule") or _names(str(e.get("field")), fields) for e in errors
    )


def _run(world: World, who: str) -> Report:
    schema = _schema(world, world.tokens[who])
    report = Report(output=schema.config.output)
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            report.scenario(event.recorder)
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    return report


@pytest.mark.parametrize("who", ["admin", "owner"])
def test_whole_spec_no_server_error_and_no_response_breaks_the_spec(world: World, who: str) -> None:
    report = _run(world, who)
    spec = world.platform.client.app.openapi()
    declared = {f"{m.upper()} {path}" for path, ops in spec["paths"].items() for m in ops}
    missed = declared - report.operations
    assert not missed, f"schemathesis did not reach: {sorted(missed)}"
    if report.errors or report.counts:
        pytest.fail(
            f"schemathesis as {who} ({report.cases} cases, seed {SEED}):\n{report.render()}",
            pytrace=False,
        )
