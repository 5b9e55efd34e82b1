"""What every portal page needs: ``Me`` (the logged-in user, or a redirect to the log-in page)
and the CSRF check of a form sent from a session."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aifactory.api.deps import Rt
from aifactory.services import sessions
from aifactory.services.errors import Forbidden, Unauthenticated
from aifactory.web import session as web_session


def _me(request: Request, runtime: Rt) -> sessions.Current:
    me = web_session.current(request, runtime)
    if me is None:
        # The portal's error hook answers a browser with a redirect to /login?next=…
        raise Unauthenticated("log in first")
    return me


Me = Annotated[sessions.Current, Depends(_me)]


def check_csrf(me: sessions.Current, form: dict[str, str]) -> None:
    """A form that does not carry the session's token changes nothing (403)."""
    if not sessions.csrf_ok(me.csrf, form.get("csrf", "")):
        raise Forbidden("this form is not from your session; nothing was done")
