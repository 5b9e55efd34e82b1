"""Bad input, on both databases: a clear RFC 9457 problem that names the field (and the allowed
values where there is a list), never a 500, and never a partial write."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from aifactory.domain.identity import MembershipRole, OrgKind
from aifactory.domain.jobs import JobState
from aifactory.domain.walltime import WALLTIME_FORMS
from tests.conftest import PROBLEM_JSON, Actor, Platform, job_spec, quick_user

API = "/api/v1"
MIB = 1024 * 1024


def assert_problem(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with ``status``; with ``field``, the first error names it."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["title"] and isinstance(body["title"], str)
    assert body["detail"] and isinstance(body["detail"], str)
    if field is not None:
        assert body["errors"][0]["field"] == field, body
        assert body["errors"][0]["message"], body
    return body


def _each(cases: list[Any], check: Any) -> None:
    """Run ``check`` on every case and report every case that fails, not only the first."""
    wrong = []
    for case in cases:
        try:
            check(*case)
        except AssertionError as exc:
            wrong.append(f"{case!r}: {exc}")
    assert not wrong, "\n".join(wrong)


@dataclass
class Tenant:
    platform: Platform
    user: Actor
    org: dict[str, Any]
    project: dict[str, Any]

    def snapshot(self) -> dict[str, Any]:
        """What any write would change: every job, organisation, project, token and audit
        event the platform holds."""
        admin = self.platform.admin
        return {
            "jobs": admin.get("/jobs", params={"limit": 500}).json(),
            "orgs": admin.get("/orgs").json(),
            "projects": admin.get("/projects").json(),
            "tokens": self.user.get("/tokens").json(),
            "members": self.user.get(f"/orgs/{self.org['id']}/members").json(),
            "audit": admin.get("/audit/events", params={"limit": 1}).json()["total"],
        }


@pytest.fixture
def tenant(platform: Platform) -> Iterator[Tenant]:
    user = quick_user(platform, "alice")
    org = platform.org(user, "Alice Org")
    t = Tenant(platform, user, org, platform.project(user, org["id"], "alice-project"))
    before = t.snapshot()
    yield t
    # Every test here only sends input that must be refused: nothing may have been written.
    assert t.snapshot() == before


# -- job specs -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        pytest.param(
            {"resources": {"accelerator": "Z100"}},
            "resources.accelerator",
            "unknown accelerator",
            id="unknown-accelerator",
        ),
        pytest.param({"resources": {"nodes": 0}}, "resources.nodes", "greater than", id="nodes-0"),
        pytest.param(
            {"resources": {"accelerators_per_node": -1}},
            "resources.accelerators_per_node",
            "greater than",
            id="negative-gpus",
        ),
        pytest.param(
            {"resources": {"memory_gb": "lots"}},
            "resources.memory_gb",
            "integer",
            id="memory-not-a-number",
        ),
        pytest.param(
            {"resources": {"gpus": 2}},
            "resources.gpus",
            "Extra inputs",
            id="unknown-resource-field",
        ),
        pytest.param({"colour": "red"}, "colour", "Extra inputs", id="unknown-top-field"),
        pytest.param(
            {"constraints": {"sites": ["atlantis"]}},
            "constraints.sites[0]",
            "unknown site",
            id="unknown-site",
        ),
        pytest.param(
            {"constraints": {"countries": ["fi"]}},
            "constraints.countries[0]",
            "pattern",
            id="lower-case-country",
        ),
        pytest.param({"software_stack": "opencl"}, "software_stack", "'cuda'", id="stack"),
        pytest.param({"objective": "cheapest"}, "objective", "'fastest'", id="objective"),
        pytest.param({"run": "   "}, "run", "must not be empty", id="blank-run"),
        pytest.param({"run": "echo \x00"}, "run", "NUL", id="nul-in-run"),
        pytest.param(
            {"env": {"CUDA_VISIBLE_DEVICES": "0"}}, "env", "set by the platform", id="reserved-env"
        ),
        pytest.param({"env": {"1X": "a"}}, "env", "not a valid variable name", id="bad-env-key"),
        pytest.param({"project": None}, "project", "string", id="null-project"),
    ],
)
def test_a_bad_job_spec_is_refused_naming_the_field(
    tenant: Tenant, change: dict[str, Any], field: str, message: str
) -> None:
    spec = job_spec(tenant.project["id"], "true")
    spec.update(change)

    r = tenant.user.post("/jobs", spec)

    body = assert_problem(r, 422, field)
    assert message in body["errors"][0]["message"], body


def test_an_unknown_project_answers_404_like_any_object_you_cannot_see(tenant: Tenant) -> None:
    spec = job_spec("prj-zzzzzzzzzzzz", "true")
    r = tenant.user.post("/jobs", spec)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "project 'prj-zzzzzzzzzzzz' not found"


def test_an_unknown_accelerator_lists_the_catalogs_models(tenant: Tenant) -> None:
    spec = job_spec(tenant.project["id"], resources={"accelerator": "Z100"})

    body = assert_problem(tenant.user.post("/jobs", spec), 422, "resources.accelerator")

    allowed = body["errors"][0]["allowed"]
    catalog = tenant.platform.runtime.catalog
    assert allowed == ["any", *catalog.accelerator_models()]
    # Every accelerator a user can see in the federation catalog is one they may ask for.
    sites = tenant.user.get("/sites").json()
    assert {p["accelerator"] for s in sites for p in s["partitions"]} <= set(allowed)


@pytest.mark.parametrize(
    "resources",
    [
        {"accelerators_per_node": 64},
        {"accelerators_per_node": 1, "nodes": 100_000},
        {"accelerators_per_node": 8, "nodes": 3000},
    ],
    ids=["per-node", "nodes", "total"],
)
def test_a_job_larger_than_every_partition_names_the_largest(
    tenant: Tenant, resources: dict[str, int]
) -> None:
    spec = job_spec(tenant.project["id"], resources=resources, simulate=True)
    partitions = [p for s in tenant.user.get("/sites").json() for p in s["partitions"]]
    largest = max(partitions, key=lambda p: p["total_accelerators"])

    body = assert_problem(tenant.user.post("/jobs", spec), 422, "resources")

    message = body["errors"][0]["message"]
    assert f"largest partition is {largest['name']}" in message, message
    assert f"{largest['nodes']} nodes x {largest['accelerators_per_node']}" in message


@pytest.mark.parametrize("walltime", ["24:00", "1h30x", "abc", "", "-5", "1.5h", "10 min"])
def test_an_unreadable_walltime_lists_the_accepted_forms(tenant: Tenant, walltime: str) -> None:
    spec = job_spec(tenant.project["id"], resources={"walltime": walltime})

    body = assert_problem(tenant.user.post("/jobs", spec), 422, "resources.walltime")

    message = body["errors"][0]["message"]
    assert WALLTIME_FORMS in message, message
    for form in ("48h", "30m", "2d", "1-00:00:00", "HH:MM:SS", "integer seconds"):
        assert form in message


@pytest.mark.parametrize("walltime", [0, -1, "0s", "0"])
def test_a_walltime_of_zero_or_less_is_refused(tenant: Tenant, walltime: int | str) -> None:
    spec = job_spec(tenant.project["id"], resources={"walltime": walltime})

    body = assert_problem(tenant.user.post("/jobs", spec), 422, "resources.walltime")

    assert "positive" in body["errors"][0]["message"]


def test_a_walltime_longer_than_any_partition_allows_is_refused(tenant: Tenant) -> None:
    spec = job_spec(tenant.project["id"], resources={"walltime": "30d"}, simulate=True)

    body = assert_problem(tenant.user.post("/jobs", spec), 422, "resources")

    assert "maximum walltime" in body["errors"][0]["message"]


def test_a_fractional_walltime_names_the_walltime_field(tenant: Tenant) -> None:
    spec = job_spec(tenant.project["id"], resources={"walltime": 1.5})

    body = assert_problem(tenant.user.post("/jobs", spec), 422, "resources.walltime")

    assert [e["field"] for e in body["errors"]] == ["resources.walltime"]
    assert WALLTIME_FORMS in body["errors"][0]["message"]


def test_a_boolean_walltime_is_refused(tenant: Tenant) -> None:
    spec = job_spec(tenant.project["id"], resources={"walltime": True})

    assert_problem(tenant.user.post("/jobs", spec), 422, "resources.walltime")


# -- names: job, organisation, project, token -----------------------------------------------
BAD_NAMES = [
    ("a/b", "path separator"),
    ("a\\b", "path separator"),
    ("a\x07b", "control characters"),
    ("a\nb", "control characters"),
    ("a\x00b", "control characters"),
    ("a\u202eb", "control characters"),  # right-to-left override: a format character
    ("", "must not be empty"),
    ("   ", "must not be empty"),
    (" padded", "white space"),
    ("..", "'.' or '..'"),
    ("x" * 101, "at most 100"),
]


def _named(kind: str, t: Tenant, name: str) -> tuple[str, dict[str, Any]]:
    if kind == "job":
        return "/jobs", job_spec(t.project["id"], "true", name=name)
    if kind == "org":
        return "/orgs", {"name": name, "kind": "sme", "country": "FI", "registration_id": "R-1"}
    if kind == "project":
        return "/projects", {"org_id": t.org["id"], "name": name}
    assert kind == "token"
    return "/tokens", {"name": name}


@pytest.mark.parametrize("kind", ["job", "org", "project", "token"])
def test_a_bad_name_is_refused_naming_the_field(tenant: Tenant, kind: str) -> None:
    wrong = []
    for name, message in BAD_NAMES:
        path, body = _named(kind, tenant, name)
        r = tenant.user.post(path, body)
        try:
            problem = assert_problem(r, 422, "name")
            assert message in problem["errors"][0]["message"], problem
        except AssertionError as exc:
            wrong.append(f"{name!r}: {exc}")
    assert not wrong, "\n".join(wrong)


def test_an_org_name_far_too_long_is_refused(tenant: Tenant) -> None:
    path, body = _named("org", tenant, "x" * 201)

    assert_problem(tenant.user.post(path, body), 422, "name")


BAD_ORGS = [
    ({"country": "fi"}, "country"),
    ({"country": "FIN"}, "country"),
    ({"country": "F1"}, "country"),
    ({"country": ""}, "country"),
    ({"country": 33}, "country"),
    ({"registration_id": ""}, "registration_id"),
    ({"registration_id": "a/b"}, "registration_id"),
    ({"website": "https://example.eu"}, "website"),
    ({"kind": None}, "kind"),
]


def test_a_bad_organisation_is_refused_naming_the_field(tenant: Tenant) -> None:
    def check(change: dict[str, Any], field: str) -> None:
        body = {"name": "New Org", "kind": "sme", "country": "FI", "registration_id": "R-1"}
        body.update(change)
        assert_problem(tenant.user.post("/orgs", body), 422, field)

    _each(BAD_ORGS, check)


def test_a_wrong_organisation_kind_lists_the_allowed_kinds(tenant: Tenant) -> None:
    body = {"name": "New Org", "kind": "charity", "country": "FI", "registration_id": "R-1"}

    problem = assert_problem(tenant.user.post("/orgs", body), 422, "kind")

    # A list, in the same shape as the catalog's allowed values (accelerators, sites).
    assert problem["errors"][0]["allowed"] == [k.value for k in OrgKind]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "p2", "description": "x" * 4001}, "description"),
        ({"name": "p2", "budget": 5}, "budget"),
        ({"name": "p2", "org_id": None}, "org_id"),
    ],
)
def test_a_bad_project_is_refused_naming_the_field(
    tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    body = {"org_id": tenant.org["id"], **body}

    assert_problem(tenant.user.post("/projects", body), 422, field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ttl_days": 0}, "ttl_days"),
        ({"ttl_days": 3651}, "ttl_days"),
        ({"ttl_days": "forever"}, "ttl_days"),
        ({"scopes": ["admin"]}, "scopes"),
    ],
)
def test_a_bad_token_request_is_refused_naming_the_field(
    tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    assert_problem(tenant.user.post("/tokens", body), 422, field)


def test_a_bad_membership_is_refused_naming_the_field(tenant: Tenant) -> None:
    path = f"/orgs/{tenant.org['id']}/members"
    problem = assert_problem(
        tenant.user.post(path, {"email": "x@example.eu", "role": "boss"}), 422, "role"
    )
    assert problem["errors"][0]["allowed"] == [r.value for r in MembershipRole]
    assert_problem(tenant.user.post(path, {"email": "not-an-email"}), 422, "email")


# -- bodies --------------------------------------------------------------------------------
def _raw_post(t: Tenant, path: str, content: Any, **headers: str) -> Any:
    return t.platform.client.post(
        f"{API}{path}",
        content=content,
        headers={
            "Authorization": f"Bearer {t.user.token}",
            "Content-Type": "application/json",
            **headers,
        },
    )


@pytest.mark.parametrize(
    "content", [b'{"name": ', b"{'name': 'x'}", b"[]", b'"job"', b"42", b"null", b"{} {}"]
)
def test_a_body_that_is_not_a_json_object_is_refused(tenant: Tenant, content: bytes) -> None:
    for path in ("/jobs", "/orgs", "/projects", "/tokens", f"/orgs/{tenant.org['id']}/members"):
        assert_problem(_raw_post(tenant, path, content), 422)


def test_malformed_json_names_the_body(tenant: Tenant) -> None:
    problem = assert_problem(_raw_post(tenant, "/jobs", b'{"name": '), 422)

    assert problem["errors"][0]["field"] == "body"


def test_a_body_that_is_not_utf8_is_refused_without_a_server_error(tenant: Tenant) -> None:
    r = _raw_post(tenant, "/jobs", b"\xff\xfe\x00{")

    assert r.status_code in (400, 422), r.text
    assert_problem(r, r.status_code)


def _big_spec(t: Tenant) -> bytes:
    # Valid JSON all along, so that only its size can be the reason it is refused.
    return (
        b'{"name": "big", "project": "'
        + t.project["id"].encode()
        + b'", "run": "true", "env": {"PAD": "'
        + b"x" * MIB
        + b'"}}'
    )


def test_a_body_over_one_mib_with_content_length_gets_413(tenant: Tenant) -> None:
    content = _big_spec(tenant)

    r = _raw_post(tenant, "/jobs", content)

    assert r.request.headers["content-length"] == str(len(content))
    problem = assert_problem(r, 413)
    assert str(MIB) in problem["detail"]


def test_a_chunked_body_over_one_mib_gets_413(tenant: Tenant) -> None:
    content = _big_spec(tenant)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(content), 64 * 1024):
            yield content[i : i + 64 * 1024]

    r = _raw_post(tenant, "/jobs", chunks())

    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert_problem(r, 413)


def test_a_body_just_under_the_limit_is_read(platform: Platform) -> None:
    user = quick_user(platform, "alice")
    org = platform.org(user)
    project = platform.project(user, org["id"])
    spec = job_spec(project["id"], "true", env={f"V{i}": "x" * 4000 for i in range(200)})

    r = user.post("/jobs", spec)

    assert r.status_code == 201, r.text


# -- headers and query parameters ----------------------------------------------------------
def test_an_invalid_idempotency_key_is_refused(tenant: Tenant) -> None:
    spec = job_spec(tenant.project["id"], "true")
    keys = ["has space", "tab\tinside", "x" * 201, "", "é".encode("latin-1")]

    def check(key: str | bytes) -> None:
        r = tenant.user.post("/jobs", spec, headers={"Idempotency-Key": key})
        assert_problem(r, 422, "Idempotency-Key")

    _each([(k,) for k in keys], check)


BAD_QUERIES = [
    ("/jobs", {"limit": 0}, "limit"),
    ("/jobs", {"limit": 501}, "limit"),
    ("/jobs", {"limit": "ten"}, "limit"),
    ("/jobs", {"offset": -1}, "offset"),
    ("/jobs", {"state": "sleeping"}, "state[0]"),
    ("/jobs", {"project_id": "p" * 65}, "project_id"),
    ("/projects", {"org_id": "o" * 65}, "org_id"),
    ("/audit/events", {"limit": 0}, "limit"),
    ("/audit/events", {"limit": 1001}, "limit"),
    ("/audit/events", {"offset": -1}, "offset"),
    ("/jobs/job-zzzzzzzzzzzz/logs", {"tail": 0}, "tail"),
    ("/jobs/job-zzzzzzzzzzzz/logs", {"offset": -1}, "offset"),
    ("/jobs/job-zzzzzzzzzzzz/logs", {"stream": "stdin"}, "stream"),
    ("/jobs/job-zzzzzzzzzzzz/wait", {"timeout": 61}, "timeout"),
    ("/jobs/job-zzzzzzzzzzzz/wait", {"timeout": -1}, "timeout"),
]


def test_a_bad_query_parameter_is_refused_naming_it(tenant: Tenant) -> None:
    def check(path: str, params: dict[str, Any], field: str) -> None:
        caller = tenant.platform.admin if path.startswith("/audit") else tenant.user
        assert_problem(caller.get(path, params=params), 422, field)

    _each(BAD_QUERIES, check)


def test_a_wrong_state_filter_lists_the_states(tenant: Tenant) -> None:
    problem = assert_problem(tenant.user.get("/jobs", params={"state": "sleeping"}), 422)

    assert problem["errors"][0]["allowed"] == [s.value for s in JobState]


def test_unknown_routes_and_methods_answer_with_problems(tenant: Tenant) -> None:
    assert_problem(tenant.user.get("/no-such-thing"), 404)
    r = tenant.platform.client.put(
        f"{API}/jobs", headers={"Authorization": f"Bearer {tenant.user.token}"}
    )
    assert_problem(r, 405)
