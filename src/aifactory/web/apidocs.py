"""The API's interactive documentation, ``/api/v1/docs``: Swagger UI from the platform's own
``/static/vendor`` (FastAPI's default loads it from a CDN, which a sovereign deployment has not)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from aifactory.api.app import API_PREFIX

router = APIRouter(include_in_schema=False)
VENDOR = "/static/vendor"


@router.get(f"{API_PREFIX}/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    html = get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} API",
        swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui.css",
        swagger_favicon_url="data:,",  # no icon rather than FastAPI's from its website
        # The online validator's badge would send the spec's address to validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    # FastAPI's page names no language, which screen readers need (axe: html-has-lang), and
    # some of Swagger UI's colours fail contrast: static/api-docs.css darkens them.
    body = (
        bytes(html.body)
        .replace(b"<html>", b'<html lang="en">', 1)
        .replace(b"</head>", b'<link rel="stylesheet" href="/static/api-docs.css">\n</head>', 1)
    )
    return HTMLResponse(body)
