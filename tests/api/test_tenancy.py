"""Tenant isolation, on both databases.

Every route with a path parameter is probed with another tenant's object: it must answer 404,
exactly as for an object that does not exist, say nothing about the object beyond the id the
caller already sent, and change nothing. The routes come from the OpenAPI document, so a new
endpoint cannot slip past: it is either probed here or allow-listed with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from aifactory.compliance.risk import QUESTIONS
from aifactory.services import identity
from aifactory.services.compliance import cases, ledger
from tests.api.data_helpers import begin, make_dataset, push
from tests.conftest import (
    PROBLEM_JSON,
    Actor,
    Platform,
    job_spec,
    proposal_form,
    quick_user,
    run_until_final,
)

API = "/api/v1"

# Routes with a path parameter whose object belongs to no tenant (the rest are probed below).
NOT_TENANT_SCOPED = {
    ("GET", f"{API}/sites/{{site_id}}"): "the federation catalog is the same for every user",
    ("GET", f"{API}/calls/{{call_id}}"): "access calls are public: they are how anyone applies",
    ("POST", f"{API}/calls/{{call_id}}/close"): "operators only (403 for others, tested in "
    "tests/api/test_access_api.py)",
}
# The only routes that answer without a token.
ANONYMOUS = {
    ("GET", f"{API}/health"),
    ("POST", f"{API}/auth/login"),
    # Self-service accounts: how someone without an account (or who lost its password) gets
    # one; each answers alike whether or not the address has an account.
    ("POST", f"{API}/auth/signup"),
    ("POST", f"{API}/auth/verify-email"),
    ("POST", f"{API}/auth/verify-email/resend"),
    ("POST", f"{API}/auth/password-reset"),
    ("POST", f"{API}/auth/password-reset/confirm"),
}


@dataclass(frozen=True)
class Probe:
    """How bob calls a route on alice's object: which of alice's objects fill the path, the
    body he sends and the query."""

    job: str = "pending"  # which of alice's jobs fills {job_id}
    body: Callable[[World], Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


# (method, path) -> probe. Every route of the spec with a path parameter, minus NOT_TENANT_SCOPED.
CROSS_TENANT: dict[tuple[str, str], Probe] = {
    ("DELETE", f"{API}/tokens/{{token_id}}"): Probe(),
    ("GET", f"{API}/orgs/{{org_id}}"): Probe(),
    ("GET", f"{API}/orgs/{{org_id}}/members"): Probe(),
    # The most tempting call: bob makes himself an owner of alice's organisation.
    ("POST", f"{API}/orgs/{{org_id}}/members"): Probe(
        body=lambda w: {"email": w.bob.email, "role": "owner"}
    ),
    ("DELETE", f"{API}/orgs/{{org_id}}/members/{{user_id}}"): Probe(),
    # bob lifts, or sets, an operator's restriction on alice's organisation.
    ("PUT", f"{API}/orgs/{{org_id}}/restriction"): Probe(
        body=lambda w: {"sites": ["local"], "reason": "bob's hold"}
    ),
    ("DELETE", f"{API}/orgs/{{org_id}}/restriction"): Probe(),
    ("GET", f"{API}/projects/{{project_id}}"): Probe(),
    ("GET", f"{API}/projects/{{project_id}}/members"): Probe(),
    ("POST", f"{API}/projects/{{project_id}}/members"): Probe(
        body=lambda w: {"email": w.bob.email}
    ),
    ("GET", f"{API}/projects/{{project_id}}/usage"): Probe(),
    ("POST", f"{API}/projects/{{project_id}}/suspend"): Probe(body=lambda w: {"reason": "x"}),
    ("POST", f"{API}/projects/{{project_id}}/resume"): Probe(),
    ("GET", f"{API}/jobs/{{job_id}}"): Probe(job="finished"),
    ("GET", f"{API}/jobs/{{job_id}}/logs"): Probe(job="finished"),
    ("POST", f"{API}/jobs/{{job_id}}/cancel"): Probe(job="pending"),
    ("GET", f"{API}/jobs/{{job_id}}/wait"): Probe(job="pending", params={"timeout": 0}),
    ("GET", f"{API}/proposals/{{proposal_id}}"): Probe(),
    ("POST", f"{API}/proposals/{{proposal_id}}/submit"): Probe(),
    ("POST", f"{API}/proposals/{{proposal_id}}/withdraw"): Probe(),
    ("POST", f"{API}/proposals/{{proposal_id}}/reviewers"): Probe(
        body=lambda w: {"reviewer": w.bob.email, "kind": "technical"}
    ),
    ("POST", f"{API}/proposals/{{proposal_id}}/decision"): Probe(
        body=lambda w: {"decision": "accept", "reason": "bob says so"}
    ),
    ("POST", f"{API}/reviews/{{review_id}}"): Probe(
        body=lambda w: {"passed": True, "comments": "bob approves"}
    ),
    ("GET", f"{API}/allocations/{{allocation_id}}"): Probe(),
    ("POST", f"{API}/allocations/{{allocation_id}}/adjustments"): Probe(
        body=lambda w: {"gpu_hours": 1000, "reason": "bob wants more"}
    ),
    ("POST", f"{API}/allocations/{{allocation_id}}/report"): Probe(
        body=lambda w: {"summary": "bob's report"}
    ),
    ("POST", f"{API}/allocations/{{allocation_id}}/report-waiver"): Probe(
        body=lambda w: {"reason": "bob waives"}
    ),
    ("GET", f"{API}/datasets/{{dataset_id}}"): Probe(),
    # bob widens alice's residency policy, or grants her dataset to his own project.
    ("PUT", f"{API}/datasets/{{dataset_id}}/policy"): Probe(
        body=lambda w: {"kind": "anywhere", "reason": "bob wants it"}
    ),
    ("POST", f"{API}/datasets/{{dataset_id}}/grants"): Probe(
        body=lambda w: {"project_id": w.project_b["id"]}
    ),
    ("GET", f"{API}/datasets/{{dataset_id}}/grants"): Probe(),
    ("DELETE", f"{API}/datasets/{{dataset_id}}/grants/{{grant_id}}"): Probe(),
    ("POST", f"{API}/datasets/{{dataset_id}}/uploads"): Probe(
        body=lambda w: {"size": 3, "sha256": "0" * 64}
    ),
    ("GET", f"{API}/datasets/{{dataset_id}}/uploads/{{upload_id}}"): Probe(),
    ("PUT", f"{API}/datasets/{{dataset_id}}/uploads/{{upload_id}}/chunks/{{index}}"): Probe(
        headers={"X-Chunk-SHA256": "0" * 64}
    ),
    ("POST", f"{API}/datasets/{{dataset_id}}/uploads/{{upload_id}}/complete"): Probe(),
    ("DELETE", f"{API}/datasets/{{dataset_id}}/uploads/{{upload_id}}"): Probe(),
    ("GET", f"{API}/datasets/{{dataset_id}}/versions"): Probe(),
    ("GET", f"{API}/datasets/{{dataset_id}}/versions/{{number}}/content"): Probe(),
    ("POST", f"{API}/datasets/{{dataset_id}}/versions/{{number}}/replicas"): Probe(
        body=lambda w: {"site": "local", "legal_basis": "bob copies it"}
    ),
    ("GET", f"{API}/datasets/{{dataset_id}}/transfers"): Probe(),
    # Compliance: bob reads or rewrites alice's use case, reviews it, reads her model's
    # record, adds a version, attaches an evaluation, closes her compliance case.
    ("GET", f"{API}/projects/{{project_id}}/use-case"): Probe(),
    ("PUT", f"{API}/projects/{{project_id}}/use-case"): Probe(body=lambda w: _use_case()),
    ("POST", f"{API}/projects/{{project_id}}/use-case/review"): Probe(
        body=lambda w: {"decision": "confirmed", "reason": "bob confirms it"}
    ),
    ("GET", f"{API}/models/{{model}}"): Probe(),
    ("POST", f"{API}/models/{{model}}/versions"): Probe(body=lambda w: {"version": "bob"}),
    ("GET", f"{API}/model-versions/{{version_id}}/compute"): Probe(),
    ("GET", f"{API}/model-versions/{{version_id}}/docs"): Probe(),
    ("GET", f"{API}/model-versions/{{version_id}}/evaluations"): Probe(),
    ("POST", f"{API}/model-versions/{{version_id}}/evaluations"): Probe(
        body=lambda w: {"job_id": w.bob_job, "name": "bob", "metrics": {"acc": 1.0}}
    ),
    ("POST", f"{API}/compliance/cases/{{case_id}}/close"): Probe(
        body=lambda w: {"reason": "bob closes alice's case"}
    ),
}
# Integers in paths (a version number, a chunk index) stay as they are in the "missing"
# probe: the object they belong to is missing instead.
NUMERIC = ("number", "index")

ALICE_OUTPUT = "alice-confidential-output"
DATASET_BYTES = b"alice-patient-records-never-for-bob"


@dataclass
class World:
    platform: Platform
    alice: Actor
    org_a: dict[str, Any]
    project_a: dict[str, Any]
    finished_job: str
    pending_job: str
    alice_token: str
    bob: Actor
    org_b: dict[str, Any]
    project_b: dict[str, Any]
    bob_job: str
    proposal: dict[str, Any]
    review_id: str
    allocation_id: str
    dataset: dict[str, Any]
    upload_id: str
    grant_id: str
    model_id: str = ""
    version_id: str = ""
    case_id: str = ""

    def alice_secrets(self) -> set[str]:
        """Everything about alice that bob must never read."""
        return {
            self.alice.user_id,
            self.alice.email,
            self.org_a["id"],
            self.org_a["name"],
            self.org_a["registration_id"],
            self.project_a["id"],
            self.project_a["name"],
            self.finished_job,
            self.pending_job,
            "alice-finished-job",
            "alice-pending-job",
            self.alice_token,
            ALICE_OUTPUT,
            self.proposal["id"],
            str(self.proposal["reference"]),
            self.proposal["title"],
            self.review_id,
            self.allocation_id,
            self.dataset["id"],
            self.dataset["name"],
            self.upload_id,
            self.grant_id,
            DATASET_BYTES.decode(),
            self.model_id,
            self.version_id,
            self.case_id,
            "alice-secret-llm",
        }

    def path_values(self, probe: Probe) -> dict[str, str]:
        return {
            "token_id": self.alice_token,
            "org_id": self.org_a["id"],
            "user_id": self.alice.user_id,
            "project_id": self.project_a["id"],
            "job_id": self.finished_job if probe.job == "finished" else self.pending_job,
            "proposal_id": self.proposal["id"],
            "review_id": self.review_id,
            "allocation_id": self.allocation_id,
            "dataset_id": self.dataset["id"],
            "upload_id": self.upload_id,
            "grant_id": self.grant_id,
            "number": "1",
            "index": "0",
            "model": self.model_id,
            "version_id": self.version_id,
            "case_id": self.case_id,
        }


@pytest.fixture
def world(platform: Platform) -> World:
    alice = quick_user(platform, "alice")
    org_a = platform.org(alice, "Alice Org", registration_id="REG-ALICE")
    project_a = platform.project(alice, org_a["id"], "alice-project")
    r = alice.post(
        "/jobs", job_spec(project_a["id"], f"echo {ALICE_OUTPUT}", name="alice-finished-job")
    )
    assert r.status_code == 201, r.text
    finished = r.json()["id"]
    assert run_until_final(platform, finished, alice)["state"] == "completed"
    r = alice.post("/jobs", job_spec(project_a["id"], "true", name="alice-pending-job"))
    assert r.status_code == 201, r.text
    pending = r.json()["id"]
    tokens = alice.get("/tokens").json()
    assert len(tokens) == 1

    bob = quick_user(platform, "bob")
    org_b = platform.org(bob, "Bob Org", registration_id="REG-BOB")
    project_b = platform.project(bob, org_b["id"], "bob-project")
    r = bob.post("/jobs", job_spec(project_b["id"], "true", name="bob-job"))
    assert r.status_code == 201, r.text
    bob_job = r.json()["id"]
    # Alice applies to Fast Lane; a reviewer is assigned (a technical review is requested).
    fast_lane = next(c for c in platform.admin.get("/calls").json() if c["mode"] == "fast_lane")
    r = alice.post(
        "/proposals", proposal_form(fast_lane["id"], project_a["id"], "Alice secret plan")
    )
    assert r.status_code == 201, r.text
    proposal = r.json()
    reviewer = quick_user(platform, "rita", roles=("reviewer",))
    r = platform.admin.post(
        f"/proposals/{proposal['id']}/reviewers", {"reviewer": reviewer.email, "kind": "technical"}
    )
    assert r.status_code == 201, r.text
    review_id = r.json()["id"]
    allocation_id = alice.get("/allocations").json()[0]["id"]
    dataset = make_dataset(alice, project_a["id"], "alice-patients", classification="personal")
    push(alice, dataset["id"], DATASET_BYTES)
    upload_id = begin(alice, dataset["id"], b"alice's next version")["id"]
    second = platform.project(alice, org_a["id"], "alice-second", gpu_hours=None)
    r = alice.post(f"/datasets/{dataset['id']}/grants", {"project_id": second["id"]})
    assert r.status_code == 201, r.text
    return World(
        platform,
        alice,
        org_a,
        project_a,
        finished,
        pending,
        tokens[0]["id"],
        bob,
        org_b,
        project_b,
        bob_job,
        proposal,
        review_id,
        allocation_id,
        dataset,
        upload_id,
        r.json()["id"],
        **_compliance(platform, alice, project_a),
    )


def _use_case() -> dict[str, Any]:
    return {
        "intended_purpose": "alice's support chatbot",
        "sector": "customer service",
        "answers": {q.id: q.id == "art50_1" for q in QUESTIONS},
    }


def _compliance(platform: Platform, alice: Actor, project: dict[str, Any]) -> dict[str, str]:
    """Alice's use case, a model with a version, and the compliance case its project's
    allocations give it (10,000 GPU-hours on every partition: past 1e23 by forecast)."""
    r = alice.put(f"/projects/{project['id']}/use-case", _use_case())
    assert r.status_code == 201, r.text
    model = alice.post(
        "/models",
        {
            "project_id": project["id"],
            "name": "alice-secret-llm",
            "architecture": "decoder-only transformer",
            "modality_in": ["text"],
            "modality_out": ["text"],
        },
    ).json()
    version = alice.post(f"/models/{model['id']}/versions", {"version": "1"}).json()
    rt = platform.runtime
    assert cases.run_once(rt.db, rt.catalog, ledger.rules_of(rt.settings)) >= 1
    case = alice.get("/compliance/cases").json()[0]
    return {"model_id": model["id"], "version_id": version["id"], "case_id": case["id"]}


def alice_view(w: World) -> dict[str, Any]:
    """Everything alice sees of her own tenant; a refused call must leave it as it was."""
    a = w.alice
    view = {
        "org": a.get(f"/orgs/{w.org_a['id']}"),
        "members": a.get(f"/orgs/{w.org_a['id']}/members"),
        "project": a.get(f"/projects/{w.project_a['id']}"),
        "project_members": a.get(f"/projects/{w.project_a['id']}/members"),
        "jobs": a.get("/jobs"),
        "pending_job": a.get(f"/jobs/{w.pending_job}"),
        "tokens": a.get("/tokens"),
        "me": a.get("/users/me"),
        "proposal": a.get(f"/proposals/{w.proposal['id']}"),
        "allocations": a.get("/allocations"),
        "allocation": a.get(f"/allocations/{w.allocation_id}"),
        "dataset": a.get(f"/datasets/{w.dataset['id']}"),
        "upload": a.get(f"/datasets/{w.dataset['id']}/uploads/{w.upload_id}"),
        "transfers": a.get(f"/datasets/{w.dataset['id']}/transfers"),
        "use_case": a.get(f"/projects/{w.project_a['id']}/use-case"),
        "model": a.get(f"/models/{w.model_id}"),
        "evaluations": a.get(f"/model-versions/{w.version_id}/evaluations"),
        "cases": a.get("/compliance/cases"),
    }
    for name, r in view.items():
        assert r.status_code == 200, (name, r.text)
    return {name: r.json() for name, r in view.items()}


def _spec_routes(platform: Platform) -> set[tuple[str, str]]:
    paths = platform.client.app.openapi()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def _call(actor: Actor, method: str, path: str, probe: Probe, w: World) -> Any:
    headers = {"Authorization": f"Bearer {actor.token}", **probe.headers}
    body = probe.body(w) if probe.body else None
    return actor.client.request(method, path, headers=headers, json=body, params=probe.params)


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, path
    return path


def test_every_route_with_a_path_parameter_is_probed_across_tenants(platform: Platform) -> None:
    with_params = {(m, p) for m, p in _spec_routes(platform) if "{" in p}
    assert set(NOT_TENANT_SCOPED) <= with_params, "stale allow-list entry"
    assert not set(NOT_TENANT_SCOPED) & set(CROSS_TENANT)
    missing = with_params - set(NOT_TENANT_SCOPED) - set(CROSS_TENANT)
    stale = set(CROSS_TENANT) - with_params
    assert not missing, f"routes with no cross-tenant probe: {sorted(missing)}"
    assert not stale, f"probes for routes the API no longer has: {sorted(stale)}"


@pytest.mark.parametrize(
    "route",
    sorted(CROSS_TENANT),
    ids=[f"{m} {p.removeprefix(API)}" for m, p in sorted(CROSS_TENANT)],
)
def test_another_tenants_object_answers_404_like_a_missing_one_and_changes_nothing(
    world: World, route: tuple[str, str]
) -> None:
    method, template = route
    probe = CROSS_TENANT[route]
    values = world.path_values(probe)
    before = alice_view(world)

    r = _call(world.bob, method, _fill(template, values), probe, world)

    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    in_path = {v for k, v in values.items() if "{" + k + "}" in template}
    leaked = {s for s in world.alice_secrets() - in_path if s in r.text}
    assert not leaked, f"the 404 body names {leaked}: {r.text}"
    # Indistinguishable from an object that does not exist: no existence oracle.
    fake = {k: v if k in NUMERIC else v[:4] + "zzzzzzzzzzzz" for k, v in values.items()}
    r_missing = _call(world.bob, method, _fill(template, fake), probe, world)
    assert r_missing.status_code == 404
    body = r.text
    for k in values:
        if k not in NUMERIC:
            body = body.replace(values[k], fake[k])
    assert body == r_missing.text
    # ... and nothing changed for alice.
    assert alice_view(world) == before


def test_objects_named_in_a_body_or_query_are_scoped_too(world: World) -> None:
    bob, alice = world.bob, world.alice
    before = alice_view(world)
    # A project in alice's organisation: answered like a missing organisation.
    r = bob.post("/projects", {"org_id": world.org_a["id"], "name": "intruder"})
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == f"organisation {world.org_a['id']!r} not found"
    # A job in alice's project: refused like a project that does not exist.
    r = bob.post("/jobs", job_spec(world.project_a["id"], "true", name="intruder"))
    missing = bob.post("/jobs", job_spec("prj-zzzzzzzzzzzz", "true", name="intruder"))
    assert r.status_code == missing.status_code == 404, r.text
    assert r.text.replace(world.project_a["id"], "prj-zzzzzzzzzzzz") == missing.text
    assert alice_view(world) == before
    assert [p["name"] for p in alice.get("/projects").json()] == ["alice-project", "alice-second"]


def test_lists_show_only_the_callers_tenant(world: World) -> None:
    bob = world.bob
    for path in (
        "/jobs",
        "/projects",
        "/orgs",
        "/tokens",
        "/users/me",
        "/proposals",
        "/allocations",
        "/reviews",
    ):
        r = bob.get(path)
        assert r.status_code == 200, r.text
        leaked = {s for s in world.alice_secrets() if s in r.text}
        assert not leaked, f"GET {path} shows alice's {leaked}"
    assert [j["id"] for j in bob.get("/jobs").json()["items"]] == [world.bob_job]
    assert [p["id"] for p in bob.get("/projects").json()] == [world.project_b["id"]]
    assert [o["id"] for o in bob.get("/orgs").json()] == [world.org_b["id"]]
    assert bob.get("/users/me").json()["organisations"] == {world.org_b["id"]: "owner"}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/jobs", {"org_id": "org"}),
        ("/jobs", {"project_id": "project"}),
        ("/jobs", {"org_id": "org", "project_id": "project"}),
        ("/projects", {"org_id": "org"}),
        ("/allocations", {"org_id": "org"}),
        ("/allocations", {"project_id": "project"}),
    ],
)
def test_filtering_by_another_tenants_ids_returns_nothing(
    world: World, path: str, params: dict[str, str]
) -> None:
    ids = {"org": world.org_a["id"], "project": world.project_a["id"]}
    query = {k: ids[v] for k, v in params.items()}
    # Positive control: the same filter finds alice's objects for alice.
    mine = world.alice.get(path, params=query).json()
    mine = mine["items"] if isinstance(mine, dict) else mine
    assert mine, "the filter finds nothing even for the owner; the test would prove nothing"

    r = world.bob.get(path, params=query)

    assert r.status_code == 200, r.text
    body = r.json()
    if isinstance(body, dict):
        assert (body["items"], body["total"]) == ([], 0)
    else:
        assert body == []


def test_admins_see_every_tenant(world: World) -> None:
    admin = world.platform.admin
    jobs = {j["id"] for j in admin.get("/jobs").json()["items"]}
    assert {world.finished_job, world.pending_job, world.bob_job} <= jobs
    orgs = {o["id"] for o in admin.get("/orgs").json()}
    assert {world.org_a["id"], world.org_b["id"]} <= orgs


# -- authentication ------------------------------------------------------------------------
def _dead_token(platform: Platform, kind: str) -> str:
    """A token of a real user that must not open any door."""
    user = quick_user(platform, kind)
    if kind == "expired":
        with platform.runtime.db.write() as session:
            _tok, plain = identity.issue_token(
                session,
                user_id=user.user_id,
                name="expired",
                ttl=timedelta(seconds=-1),
                actor=user.user_id,
            )
        return plain
    assert kind == "revoked"
    r = user.post("/tokens", {"name": "doomed"})
    assert r.status_code == 201, r.text
    created = r.json()
    doomed = Actor(user.user_id, user.email, created["token"], user.client)
    assert doomed.get("/users/me").status_code == 200  # it worked before
    assert user.delete(f"/tokens/{created['id']}").status_code == 200
    return str(created["token"])


@pytest.mark.parametrize(
    ("credential", "why"),
    [
        ("none", "required"),
        ("empty-bearer", "required"),
        ("basic", "required"),
        ("unknown", "not valid"),
        ("revoked", "revoked"),
        ("expired", "expired"),
    ],
)
def test_every_endpoint_but_health_and_login_needs_a_live_token(
    platform: Platform, credential: str, why: str
) -> None:
    headers = {
        "none": {},
        "empty-bearer": {"Authorization": "Bearer "},
        "basic": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "unknown": {"Authorization": "Bearer aif_" + "x" * 43},
    }.get(credential)
    if headers is None:
        headers = {"Authorization": f"Bearer {_dead_token(platform, credential)}"}
    jobs_before = platform.admin.get("/jobs").json()["total"]
    answered = set()
    for method, template in sorted(_spec_routes(platform)):
        path = template
        while "{" in path:
            start, end = path.index("{"), path.index("}")
            path = path[:start] + "x-1" + path[end + 1 :]
        body = {} if method == "POST" else None
        r = platform.client.request(method, path, headers=headers, json=body)
        if (method, template) in ANONYMOUS:
            assert r.status_code != 401, (method, template, r.text)
            continue
        assert r.status_code == 401, (method, template, r.status_code, r.text)
        assert r.headers["content-type"] == PROBLEM_JSON
        assert r.headers["www-authenticate"] == "Bearer"
        assert why in r.json()["detail"], r.text
        answered.add((method, template))
    assert answered == _spec_routes(platform) - ANONYMOUS
    assert platform.admin.get("/jobs").json()["total"] == jobs_before
    # The public routes do work without a token.
    assert platform.client.get(f"{API}/health").status_code == 200


# -- roles inside an organisation and on the platform -------------------------------------
def test_a_plain_member_may_read_the_organisation_but_not_manage_it(platform: Platform) -> None:
    alice = quick_user(platform, "alice")
    org = platform.org(alice)
    project = platform.project(alice, org["id"])
    carol, dave = quick_user(platform, "carol"), quick_user(platform, "dave")
    r = alice.post(f"/orgs/{org['id']}/members", {"email": carol.email, "role": "member"})
    assert r.status_code == 201, r.text
    r = alice.post("/jobs", job_spec(project["id"], "true", name="alice-job"))
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    members_before = alice.get(f"/orgs/{org['id']}/members").json()

    assert carol.get(f"/orgs/{org['id']}").status_code == 200
    assert carol.get(f"/jobs/{job_id}").status_code == 200
    refused = [
        carol.post(f"/orgs/{org['id']}/members", {"email": dave.email}),
        carol.post(f"/orgs/{org['id']}/members", {"email": carol.email, "role": "owner"}),
        carol.delete(f"/orgs/{org['id']}/members/{alice.user_id}"),
        carol.post(f"/projects/{project['id']}/members", {"email": carol.email}),
        carol.post("/jobs", job_spec(project["id"], "true", name="carol-job")),
        carol.post(f"/jobs/{job_id}/cancel"),
    ]
    for r in refused:
        assert r.status_code == 403, (r.request.method, r.request.url, r.text)
        assert r.headers["content-type"] == PROBLEM_JSON

    assert alice.get(f"/orgs/{org['id']}/members").json() == members_before
    assert alice.get(f"/jobs/{job_id}").json()["state"] == "pending"
    assert alice.get("/jobs").json()["total"] == 1


ADMIN_ONLY = [
    (
        "POST",
        "/users",
        {"email": "mallory@example.eu", "name": "mallory", "password": "x" * 12, "roles": []},
    ),
    ("POST", "/users", {"email": "mallory@example.eu", "name": "mallory", "roles": ["admin"]}),
    ("GET", "/audit/events", None),
    ("GET", "/audit/verify", None),
]


@pytest.mark.parametrize(
    "roles", [[], ["operator"], ["reviewer"]], ids=["user", "operator", "reviewer"]
)
@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY)
def test_admin_endpoints_refuse_other_users(
    platform: Platform, roles: list[str], method: str, path: str, body: Any
) -> None:
    owner = quick_user(platform, "owner")
    platform.org(owner)  # an organisation owner is still no admin
    caller = quick_user(platform, "caller", tuple(roles)) if roles else owner
    events_before = platform.admin.get("/audit/events").json()["total"]

    r = caller.client.request(
        method, f"{API}{path}", json=body, headers={"Authorization": f"Bearer {caller.token}"}
    )

    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    assert platform.admin.get("/audit/events").json()["total"] == events_before
    ok = platform.admin.client.request(
        method,
        f"{API}{path}",
        json=body,
        headers={"Authorization": f"Bearer {platform.admin.token}"},
    )
    assert ok.status_code in (200, 201), ok.text  # the admin may


def test_a_removed_member_loses_access_at_once(platform: Platform) -> None:
    alice = quick_user(platform, "alice")
    org = platform.org(alice)
    project = platform.project(alice, org["id"])
    bob = quick_user(platform, "bob")
    assert alice.post(f"/orgs/{org['id']}/members", {"email": bob.email}).status_code == 201
    r = alice.post(f"/projects/{project['id']}/members", {"email": bob.email})
    assert r.status_code == 201, r.text
    job = bob.post("/jobs", job_spec(project["id"], "true", name="bob-job")).json()
    assert bob.get(f"/jobs/{job['id']}").status_code == 200

    assert alice.delete(f"/orgs/{org['id']}/members/{bob.user_id}").status_code == 204

    # The same token, the very next request: the organisation is gone from bob's view.
    for path in (f"/orgs/{org['id']}", f"/projects/{project['id']}", f"/jobs/{job['id']}"):
        assert bob.get(path).status_code == 404, path
    assert bob.get("/jobs").json()["total"] == 0
    assert bob.post(f"/jobs/{job['id']}/cancel").status_code == 404
    # Back in the organisation, bob is not silently back in its projects.
    assert alice.post(f"/orgs/{org['id']}/members", {"email": bob.email}).status_code == 201
    members = alice.get(f"/projects/{project['id']}/members").json()
    assert [m["user_id"] for m in members] == [alice.user_id]
    r = bob.post("/jobs", job_spec(project["id"], "true", name="bob-again"))
    assert r.status_code == 403, r.text


def test_the_last_owner_cannot_be_removed(platform: Platform) -> None:
    alice = quick_user(platform, "alice")
    org = platform.org(alice)

    r = alice.delete(f"/orgs/{org['id']}/members/{alice.user_id}")

    assert r.status_code == 409, r.text
    assert alice.get("/users/me").json()["organisations"] == {org["id"]: "owner"}


def test_the_last_owner_cannot_demote_themselves(platform: Platform) -> None:
    alice = quick_user(platform, "alice")
    org = platform.org(alice)

    r = alice.post(f"/orgs/{org['id']}/members", {"email": alice.email, "role": "member"})

    assert r.status_code == 409, r.text
    assert alice.get("/users/me").json()["organisations"] == {org["id"]: "owner"}
