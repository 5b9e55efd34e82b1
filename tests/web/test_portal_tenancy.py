"""Every portal page that names an object in its path answers another tenant with the same 404
page as a missing object, and changes nothing. The routes come from the app itself, so a new
page with a path parameter fails here until it has a probe."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy import select

from aifactory.db.tables import ApiToken
from tests.conftest import Actor, Platform, quick_user
from tests.web.portal import browser_of


@dataclass
class World:
    platform: Platform
    owner: Actor  # ada: the objects belong to her organisation
    org: dict[str, Any]
    project: dict[str, Any]
    job: dict[str, Any]


def _token_of(w: World) -> str:
    with w.platform.runtime.db.read() as session:
        return str(
            session.execute(select(ApiToken.id).where(ApiToken.user_id == w.owner.user_id))
            .scalars()
            .first()
        )


# (method, path template) -> the concrete path of ada's object; bob must get 404.
PROBES: dict[tuple[str, str], Callable[[World], str]] = {
    ("GET", "/orgs/{org_id}"): lambda w: f"/orgs/{w.org['id']}",
    ("POST", "/orgs/{org_id}/members"): lambda w: f"/orgs/{w.org['id']}/members",
    ("POST", "/orgs/{org_id}/members/{user_id}/remove"): (
        lambda w: f"/orgs/{w.org['id']}/members/{w.owner.user_id}/remove"
    ),
    ("POST", "/orgs/{org_id}/projects"): lambda w: f"/orgs/{w.org['id']}/projects",
    ("GET", "/projects/{project_id}"): lambda w: f"/projects/{w.project['id']}",
    ("POST", "/projects/{project_id}/members"): lambda w: f"/projects/{w.project['id']}/members",
    ("POST", "/tokens/{token_id}/revoke"): lambda w: f"/tokens/{_token_of(w)}/revoke",
}


def _routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    for route in routes:
        # FastAPI 0.165 keeps an included router whole (no flattened copies of its routes).
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            yield prefix + route.path, set(route.methods)


def _portal_routes(platform: Platform) -> set[tuple[str, str]]:
    out = set()
    for path, methods in _routes(platform.client.app.routes):
        if not path.startswith("/api/"):
            out |= {(m, path) for m in methods if "{" in path}
    return out


def test_the_route_walk_sees_the_api_and_the_portal(platform: Platform) -> None:
    paths = {path for path, _ in _routes(platform.client.app.routes)}
    assert {"/api/v1/jobs/{job_id}", "/login", "/"} <= paths


def test_every_portal_route_with_a_path_parameter_is_probed(platform: Platform) -> None:
    routes = _portal_routes(platform)
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
    for (method, _template), probe in sorted(PROBES.items()):
        path = probe(world)
        r = bob.get(path) if method == "GET" else bob.post(path, {})
        assert r.status_code == 404, (method, path, r.status_code)
        assert "Page not found" in r.text and ada.email not in r.text
    assert ada.get(f"/jobs/{job['id']}").json() == before
