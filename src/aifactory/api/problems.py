"""Errors as RFC 9457 problem details; a body-size limit; no stack trace ever leaves."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aifactory.services import audit
from aifactory.services.errors import Invalid, Refused, ServiceError, TooManyRequests

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem(
    status: int, title: str, detail: str, errors: Sequence[dict[str, Any]] = (), **headers: str
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


def field_path(loc: Sequence[int | str]) -> str:
    """('body', 'resources', 'env', 0) -> 'resources.env[0]'."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "body"


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            loc, ctx = err.get("loc", ()), err.get("ctx") or {}
            at = loc[1] if len(loc) > 1 else "?"
            errors.append(
                {"field": "body", "message": f"invalid JSON at character {at}: {ctx.get('error')}"}
            )
            continue
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        entry: dict[str, Any] = {"field": field_path(err.get("loc", ())), "message": message}
        ctx = err.get("ctx") or {}
        if "expected" in ctx:
            # pydantic says "'a', 'b' or 'c'"; answer with a list, as the services do.
            expected = str(ctx["expected"])
            entry["allowed"] = re.findall(r"'([^']*)'", expected) or [expected]
        errors.append(entry)
    return errors


def _allowed_methods(request: Request) -> list[str]:
    """Every method the API serves at this path, from its own OpenAPI document (Starlette
    would name only the first matching route's)."""
    methods: set[str] = set()
    for template, item in request.app.openapi().get("paths", {}).items():
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(regex, request.url.path):
            methods |= {m.upper() for m in item}
    return sorted(methods)


def _record_refusal(request: Request, exc: Refused) -> None:
    with request.app.state.runtime.db.write() as session:
        audit.append(session, **exc.event)  # type: ignore[arg-type]


HtmlError = Callable[[Request, int, str], Response | None]


def install(app: FastAPI, html_error: HtmlError | None = None) -> None:
    """``html_error``: the page a browser gets instead of a problem document, where it asks
    for one (the portal's friendly 404 and 500), or None."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        if isinstance(exc, Refused):
            await run_in_threadpool(_record_refusal, request, exc)
        if html_error is not None and exc.status in (401, 403, 404):
            page = html_error(request, exc.status, exc.detail)
            if page is not None:
                return page
        errors: list[dict[str, Any]] = []
        if isinstance(exc, Invalid):
            for p in exc.problems:
                entry: dict[str, Any] = {"field": p.field, "message": p.message}
                if p.allowed:
                    entry["allowed"] = list(p.allowed)
                if p.rule:
                    entry["rule"] = p.rule
                errors.append(entry)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if isinstance(exc, TooManyRequests):
            headers["Retry-After"] = str(exc.retry_after_s)
        return problem(exc.status, exc.title, exc.detail, errors, **headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "Invalid input", detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # Not UTF-8 JSON at all: an invalid input like any other, naming the body.
            error = {"field": "body", "message": "the body is not JSON text in UTF-8"}
            return problem(422, "Invalid input", "body: the body is not JSON text", [error])
        if html_error is not None and exc.status_code == 404:
            page = html_error(request, 404, "")
            if page is not None:
                return page
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        title = {404: "Not found", 405: "Method not allowed", 413: "Content too large"}.get(
            exc.status_code, "Error"
        )
        return problem(exc.status_code, title, str(exc.detail), **headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # The transaction was rolled back by the session's context manager; the trace goes
        # to the server log only.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        if html_error is not None:
            page = html_error(request, 500, "")
            if page is not None:
                return page
        return problem(500, "Internal server error", "an unexpected error occurred; it was logged")


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413, whether or not Content-Length is sent."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, large: tuple[re.Pattern[str], int] | None = None
    ) -> None:
        self.app = app
        self.default_max = max_bytes
        self.large = large  # paths that take bigger bodies (dataset chunks), and their limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.default_max
        if self.large is not None and self.large[0].match(scope.get("path", "")):
            limit = self.large[1]
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._too_large(scope, receive, send, limit)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # An HTTPException passes FastAPI's body reading (anything else becomes a
                    # 400); our handler renders it as a 413 problem.
                    raise StarletteHTTPException(413, f"the request body exceeds {limit} bytes")
            return message

        await self.app(scope, limited, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem(413, "Content too large", f"the request body exceeds {limit} bytes")
        await response(scope, receive, send)


PUBLIC_OPERATIONS = frozenset(
    {
        "health",
        "login",
        "sign_up",
        "verify_email",
        "resend_verification",
        "request_password_reset",
        "reset_password",
    }
)
# Rate-limited, and what they answer beyond a problem of their input.
LIMITED = {
    "login": {401, 403, 429},
    "sign_up": {403, 429},
    "resend_verification": {429},
    "request_password_reset": {429},
}
CONFLICT_READS = frozenset({"download_version"})
_TITLES = {
    401: "No, unknown, revoked or expired API token",
    403: "Not allowed for this caller",
    404: "Not found, or another tenant's",
    409: "Conflicts with the current state",
    413: "Request body too large",
    429: "Too many attempts; Retry-After says when to try again",
    422: "Invalid input, naming the field and the allowed values",
    500: "Unexpected error (rolled back, logged)",
}


def document_problems(app: FastAPI, *extras: Callable[[dict[str, Any]], None]) -> None:
    """Declare, for every operation, the problem responses it can give (RFC 9457 bodies as
    ``application/problem+json``), so the spec tells clients the truth."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = {
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {
                            "field": {"type": "string"},
                            "message": {"type": "string"},
                            "allowed": {"type": "array", "items": {"type": "string"}},
                            "rule": {
                                "type": "string",
                                "description": "The call rule the input breaks.",
                            },
                        },
                    },
                },
            },
        }
        for path, item in spec.get("paths", {}).items():  # noqa: B007
            for method, op in item.items():
                statuses = {500}
                if op.get("operationId") not in PUBLIC_OPERATIONS:
                    # 404 also where an id in the body or query names a missing object.
                    statuses |= {401, 403, 404}
                else:
                    statuses |= LIMITED.get(op.get("operationId", ""), set())
                if op.get("parameters") or op.get("requestBody"):
                    statuses.add(422)
                # A PUT may meet a state that forbids it (an upload already completed); a
                # download, stored bytes that fail their integrity check.
                if method in ("post", "delete", "put") or op.get("operationId") in CONFLICT_READS:
                    statuses.add(409)
                if method in ("post", "put"):
                    statuses.add(413)
                responses = op.setdefault("responses", {})
                for status in sorted(statuses):
                    responses[str(status)] = {
                        "description": _TITLES[status],
                        "content": {
                            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                        },
                    }
        schemas = spec["components"]["schemas"]
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        for extra in extras:
            extra(spec)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
