"""Friendly error pages for the portal: a browser (it asks for HTML) that reaches a page that
does not exist or belongs to someone else, may not do what it asked, or meets an unexpected
error, gets a page saying so in plain words, without internals; without a session, the log-in
page, which brings it back. The API keeps its problem documents."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from aifactory.web.pages import page

_WORDS = {
    403: (
        "Not allowed",
        "You may not do this. If you think you should, ask an owner of the organisation.",
    ),
    404: ("Page not found", "There is no such page, or it belongs to someone else."),
    500: (
        "Something went wrong",
        "An unexpected error occurred on our side; it was logged. Please try again in a moment.",
    ),
}


def html_error(request: Request, status: int, detail: str) -> Response | None:
    """The page for ``status`` when a browser asked for a page; None for the API and for
    clients that want no HTML. ``detail`` is said on a 403 (why not), never on a 404 (it
    would tell another tenant's object exists) nor a 500."""
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return None
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)
    title, message = _WORDS.get(status, ("Error", "This did not work."))
    if status == 403 and detail:
        message = f"You may not do this: {detail}."
    return page(request, "message.html", status, title=title, message=message)
