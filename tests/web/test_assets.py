"""Nothing a page loads comes from outside the platform: the portal's pages and the API's
Swagger UI (``/api/v1/docs``) reference only its own ``/static`` files, which it serves."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.conftest import Platform
from tests.web.portal import anonymous

# Every address a page makes the browser fetch or run (src, href, and Swagger UI's spec url).
REFS = re.compile(r"""(?:src|href)=["']([^"']+)["']|url: *'([^']+)'""")


def _references(client: TestClient, path: str) -> list[str]:
    r = client.get(path)
    assert r.status_code == 200, r.text
    return [a or b for a, b in REFS.findall(r.text)]


def _assets(refs: list[str]) -> list[str]:
    # Links between pages (href="/signup") are navigation, not loads; data: is inline.
    return [u for u in refs if u.startswith("/static/")]


def test_swagger_ui_is_served_from_the_platforms_own_files(sqlite_platform: Platform) -> None:
    client = anonymous(sqlite_platform)
    refs = _references(client, "/api/v1/docs")
    for ref in refs:
        assert ref.startswith(("/static/", "/api/v1/openapi.json", "data:")), ref
    assert "/static/vendor/swagger-ui-bundle.js" in refs
    assert "/static/vendor/swagger-ui.css" in refs
    for ref in _assets(refs):
        assert client.get(ref).status_code == 200, ref
    assert client.get("/api/v1/openapi.json").status_code == 200
    # FastAPI's own documentation pages, which load from a CDN, are off.
    for path in ("/docs", "/redoc", "/api/v1/redoc"):
        assert client.get(path).status_code == 404, path


def test_portal_pages_load_htmx_and_charts_from_static(sqlite_platform: Platform) -> None:
    client = anonymous(sqlite_platform)
    for page in ("/login", "/signup"):
        refs = _references(client, page)
        for ref in refs:
            assert ref.startswith(("/", "#", "data:")) and not ref.startswith("//"), ref
        assets = _assets(refs)
        for needed in (
            "/static/vendor/htmx.min.js",
            "/static/vendor/uPlot.iife.min.js",
            "/static/vendor/uPlot.min.css",
            "/static/js/charts.js",
        ):
            assert needed in assets, (page, needed)
        for ref in assets:
            assert client.get(ref).status_code == 200, ref
