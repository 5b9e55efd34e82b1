"""Every portal page that names an object in its path answers another tenant with the same 404
page as a missing object, and changes nothing. The routes come from the app itself, so a new
page with a path parameter fails here until it has a probe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute

from tests.conftest import Actor, Platform, proposal_form, quick_user
from tests.web.portal import browser_of


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


# (method, path template) -> the concrete path of ada's object; bob must get 404.
PROBES: dict[tuple[str, str], Callable[[World], str]] = {
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
}

# Federation-wide pages: the same for every signed-in user, nothing of a tenant in the path.
# (Applying with another tenant's project is refused: test_calls_pages.)
FEDERATION_WIDE = {
    ("GET", "/calls/{call_id}"),
    ("GET", "/calls/{call_id}/apply"),
    ("POST", "/calls/{call_id}/apply"),
}


def _walk(routes: list[Any], prefix: str = "") -> set[tuple[str, str]]:
    """Every (method, path) of the app: FastAPI 0.165 keeps an included router as one
    entry (``original_router``, ``include_context.prefix``), not as its routes."""
    out = set()
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            out |= _walk(inner.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            out |= {(m, prefix + route.path) for m in route.methods}
    return out


def _portal_routes(platform: Platform) -> set[tuple[str, str]]:
    every = _walk(platform.client.app.routes)
    assert ("GET", "/login") in every and ("GET", "/api/v1/jobs") in every  # the walk sees all
    return {(m, p) for m, p in every if "{" in p and not p.startswith("/api/")}


def test_every_portal_route_with_a_path_parameter_is_probed(platform: Platform) -> None:
    routes = _portal_routes(platform) - FEDERATION_WIDE
    assert not routes - PROBES.keys(), f"no probe: {sorted(routes - PROBES.keys())}"
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
    for (method, _template), probe in sorted(PROBES.items()):
        path = probe(world)
        r = bob.get(path) if method == "GET" else bob.post(path, {})
        assert r.status_code == 404, (method, path, r.status_code)
        assert "Page not found" in r.text and ada.email not in r.text
    assert ada.get(f"/jobs/{job['id']}").json() == before
    assert ada.get(f"/proposals/{access['proposal']}").json() == proposal_before
