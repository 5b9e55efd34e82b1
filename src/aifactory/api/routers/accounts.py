"""Self-service accounts: sign up, verify the e-mail, reset the password. Public (no token),
and rate-limited per client address (and per e-mail for log-in and resets)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field, field_validator

from aifactory.api.deps import Rt
from aifactory.api.schemas import Email, Strict, _check_name
from aifactory.domain.names import document_name
from aifactory.services import accounts
from aifactory.services.errors import Forbidden, TooManyRequests
from aifactory.services.runtime import Runtime

router = APIRouter(prefix="/auth", tags=["identity"])


class SignUp(Strict):
    email: Email
    name: str = Field(max_length=100, json_schema_extra=document_name)
    password: str = Field(min_length=accounts.MIN_PASSWORD, max_length=1024)

    _name = field_validator("name")(_check_name)


class EmailOnly(Strict):
    email: Email


class TokenOnly(Strict):
    token: str = Field(min_length=1, max_length=200)


class NewPassword(TokenOnly):
    password: str = Field(min_length=accounts.MIN_PASSWORD, max_length=1024)


class Accepted(BaseModel):
    detail: str


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def limit(runtime: Runtime, name: str, *keys: str) -> None:
    """Count one attempt under each key; 429 with Retry-After once one is over its limit."""
    now = time.monotonic()
    for key in keys:
        wait = runtime.limits[name].hit(key, now)
        if wait:
            raise TooManyRequests(f"too many attempts; try again in {int(wait) + 1} s", wait)


SENT = "if the address can use it, a mail with a link is on its way"


@router.post(
    "/signup", operation_id="sign_up", response_model=Accepted, status_code=status.HTTP_202_ACCEPTED
)
def sign_up(body: SignUp, request: Request, runtime: Rt) -> Accepted:
    """A new account; log-in works once the e-mail is verified through the mailed link. The
    answer is the same whether or not the address has an account already."""
    if not runtime.settings.signup:
        raise Forbidden("sign-up is closed on this platform; ask an operator for an account")
    limit(runtime, "signup", f"ip:{client_of(request)}")
    with runtime.db.write() as session:
        accounts.sign_up(
            session,
            email=body.email,
            name=body.name,
            password=body.password,
            base_url=runtime.settings.base_url,
        )
    return Accepted(detail=SENT)


@router.post("/verify-email", operation_id="verify_email", response_model=Accepted)
def verify_email(body: TokenOnly, runtime: Rt) -> Accepted:
    with runtime.db.write() as session:
        user = accounts.verify_email(session, body.token)
        return Accepted(detail=f"{user.email} is verified; log in")


@router.post(
    "/verify-email/resend",
    operation_id="resend_verification",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
)
def resend_verification(body: EmailOnly, request: Request, runtime: Rt) -> Accepted:
    limit(runtime, "reset", f"ip:{client_of(request)}", f"email:{body.email}")
    with runtime.db.write() as session:
        accounts.resend_verification(session, email=body.email, base_url=runtime.settings.base_url)
    return Accepted(detail=SENT)


@router.post(
    "/password-reset",
    operation_id="request_password_reset",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
)
def request_password_reset(body: EmailOnly, request: Request, runtime: Rt) -> Accepted:
    limit(runtime, "reset", f"ip:{client_of(request)}", f"email:{body.email}")
    with runtime.db.write() as session:
        accounts.request_password_reset(
            session, email=body.email, base_url=runtime.settings.base_url
        )
    return Accepted(detail=SENT)


@router.post("/password-reset/confirm", operation_id="reset_password", response_model=Accepted)
def reset_password(body: NewPassword, runtime: Rt) -> Accepted:
    """A new password from the mailed link; the account's API tokens are all revoked."""
    with runtime.db.write() as session:
        user = accounts.reset_password(session, token=body.token, password=body.password)
        return Accepted(detail=f"the password of {user.email} is changed; log in")
