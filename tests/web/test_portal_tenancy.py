"""Every portal page that names an object in its path answers another tenant with the same 404
page as a missing object, and changes nothing. The routes come from the app itself, so a new
page with a path parameter fails here until it has a probe (or is federation-wide)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from aifactory.db.tables import ApiToken
from tests.api.data_helpers import make_dataset
from tests.conftest import Actor, Platform, proposal_form, quick_user
from tests.web.portal import browser_of, routes_of


@dataclass
class World:
    platform: Platform
    owner: Actor  # ada: the objects belong to her organisation
    org: dict[str, Any]
    project: dict[str, Any]
    job: dict[str, Any]


_MADE: dict[int, dict[str, str]] = {}


def _access(w: World) -> dict[str, str]:
    """Ada's Fast Lane proposal with a technical reviewer (rita) assigned: made once per world."""
    made = _MADE.get(id(w))
    if made is None:
        calls = w.platform.admin.get("/calls", params={"open": True}).json()
        (call,) = [c for c in calls if c["mode"] == "fast_lane"]
        proposal = w.owner.post("/proposals", proposal_form(call["id"], w.project["id"])).json()
        rita = quick_user(w.platform, "rita", roles=("reviewer",))
        review = w.platform.admin.post(
            f"/proposals/{proposal['id']}/reviewers", {"reviewer": rita.email, "kind": "technical"}
        ).json()
        made = _MADE[id(w)] = {"proposal": proposal["id"], "review": review["id"]}
    return made


def _token_of(w: World) -> str:
    with w.platform.runtime.db.read() as session:
        return str(
            session.execute(select(ApiToken.id).where(ApiToken.user_id == w.owner.user_id))
            .scalars()
            .first()
        )


# (method, path template) -> the concrete path of ada's object; bob must get 404.
PROBES: dict[tuple[str, str], Callable[[World], str]] = {
    ("GET", "/jobs/{job_id}"): lambda w: f"/jobs/{w.job['id']}",
    ("GET", "/jobs/{job_id}/live"): lambda w: f"/jobs/{w.job['id']}/live",
    ("POST", "/jobs/{job_id}/cancel"): lambda w: f"/jobs/{w.job['id']}/cancel",
    ("GET", "/proposals/{proposal_id}"): lambda w: f"/proposals/{_access(w)['proposal']}",
    ("POST", "/proposals/{proposal_id}/withdraw"): lambda w: (
        f"/proposals/{_access(w)['proposal']}/withdraw"
    ),
    ("POST", "/proposals/{proposal_id}/reviewers"): lambda w: (
        f"/proposals/{_access(w)['proposal']}/reviewers"
    ),
    ("POST", "/proposals/{proposal_id}/decision"): lambda w: (
        f"/proposals/{_access(w)['proposal']}/decision"
    ),
    ("GET", "/reviews/{review_id}"): lambda w: f"/reviews/{_access(w)['review']}",
    ("POST", "/reviews/{review_id}"): lambda w: f"/reviews/{_access(w)['review']}",
    ("GET", "/datasets/{dataset_id}"): lambda w: (
        f"/datasets/{make_dataset(w.owner, w.project['id'])['id']}"
    ),
    ("GET", "/orgs/{org_id}"): lambda w: f"/orgs/{w.org['id']}",
    ("POST", "/orgs/{org_id}/members"): lambda w: f"/orgs/{w.org['id']}/members",
    ("POST", "/orgs/{org_id}/members/{user_id}/remove"): (
        lambda w: f"/orgs/{w.org['id']}/members/{w.owner.user_id}/remove"
    ),
    ("POST", "/orgs/{org_id}/projects"): lambda w: f"/orgs/{w.org['id']}/projects",
    ("GET", "/projects/{project_id}"): lambda w: f"/projects/{w.project['id']}",
    ("POST", "/projects/{project_id}/members"): lambda w: f"/projects/{w.project['id']}/members",
    ("GET", "/projects/{project_id}/compliance"): lambda w: (
        f"/projects/{w.project['id']}/compliance"
    ),
    ("POST", "/projects/{project_id}/compliance"): lambda w: (
        f"/projects/{w.project['id']}/compliance"
    ),
    ("POST", "/tokens/{token_id}/revoke"): lambda w: f"/tokens/{_token_of(w)}/revoke",
}

# Federation-wide pages: the same for every logged-in user, nothing of a tenant in the path.
# (Applying with another tenant's project is refused: test_calls_pages.)
FEDERATION_WIDE: set[tuple[str, str]] = {
    ("GET", "/sites/{site_id}"),
    ("GET", "/calls/{call_id}"),
    ("GET", "/calls/{call_id}/apply"),
    ("POST", "/calls/{call_id}/apply"),
}


def _portal_routes(platform: Platform) -> set[tuple[str, str]]:
    routes = routes_of(platform.client.app)
    paths = {path for _, path in routes}
    assert {"/", "/login", "/api/v1/jobs/{job_id}"} <= paths  # the walk sees the app's routes
    return {(m, path) for m, path in routes if "{" in path and not path.startswith("/api/")}


def test_every_portal_route_with_a_path_parameter_is_probed(platform: Platform) -> None:
    routes = _portal_routes(platform)
    unprobed = routes - PROBES.keys() - FEDERATION_WIDE
    assert not unprobed, f"no probe: {sorted(unprobed)}"
    assert routes >= FEDERATION_WIDE, f"stale exemption: {sorted(FEDERATION_WIDE - routes)}"
    assert not PROBES.keys() - routes, f"stale probe: {sorted(PROBES.keys() - routes)}"


def test_another_tenants_object_is_a_404_page_and_changes_nothing(platform: Platform) -> None:
    ada = quick_user(platform, "ada")
    org = platform.org(ada, "Ada Labs")
    project = platform.project(ada, org["id"], "triage")
    job = ada.post("/jobs", {"name": "mine", "project": project["id"], "run": "echo hi"}).json()
    world = World(platform, ada, org, project, job)
    bob = browser_of(platform, quick_user(platform, "bob"))
    platform.org(platform.admin, "Bob Corp")  # bob's tenant exists; he is not in ada's
    before = ada.get(f"/jobs/{job['id']}").json()
    access = _access(world)
    proposal_before = ada.get(f"/proposals/{access['proposal']}").json()
    members_before = ada.get(f"/orgs/{org['id']}/members").json()
    for (method, _template), probe in sorted(PROBES.items()):
        path = probe(world)
        r = bob.get(path) if method == "GET" else bob.post(path, {})
        assert r.status_code == 404, (method, path, r.status_code)
        assert "Page not found" in r.text and ada.email not in r.text
    assert ada.get(f"/jobs/{job['id']}").json() == before
    assert ada.get(f"/proposals/{access['proposal']}").json() == proposal_before
    assert ada.get(f"/orgs/{org['id']}/members").json() == members_before
    assert ada.get("/users/me").status_code == 200  # her token was not revoked by bob
