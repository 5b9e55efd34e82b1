"""Friendly error pages for the portal: a browser (it asks for HTML) that reaches a page that
does not exist, or meets an unexpected error, gets a page saying so in plain words, without
internals. The API keeps its problem documents."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from aifactory.web.pages import page

_WORDS = {
    403: (
        "Not allowed",
        "You may not open this page. If you think you should, ask an owner of the organisation.",
    ),
    404: ("Page not found", "There is no such page, or it belongs to someone else."),
    500: (
        "Something went wrong",
        "An unexpected error occurred on our side; it was logged. Please try again in a moment.",
    ),
}


def html_error(request: Request, status: int) -> HTMLResponse | None:
    """The page for ``status`` when a browser asked for a page; None for the API and for
    clients that want no HTML."""
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return None
    title, message = _WORDS.get(status, ("Error", "This did not work."))
    return page(request, "message.html", status, title=title, message=message)
