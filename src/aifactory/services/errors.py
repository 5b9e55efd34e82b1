"""Errors services raise; the API turns each into an RFC 9457 problem with its status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field


class ServiceError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class FieldProblem:
    field: str
    message: str
    allowed: Sequence[str] = dataclass_field(default_factory=tuple)
    rule: str = ""  # the access-call rule broken, e.g. "max_gpu_hours"


class Invalid(ServiceError):
    status = 422
    title = "Invalid input"

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__(
            "; ".join(
                f"{p.field}: {p.message}" + (f" (rule {p.rule})" if p.rule else "")
                for p in problems
            )
        )
        self.problems = list(problems)

    @classmethod
    def one(
        cls, field_name: str, message: str, allowed: Sequence[str] = (), rule: str = ""
    ) -> Invalid:
        return cls([FieldProblem(field_name, message, tuple(allowed), rule)])


class NotFound(ServiceError):
    status = 404
    title = "Not found"

    def __init__(self, kind: str, ident: str) -> None:
        # The same answer whether the object does not exist or belongs to another tenant.
        super().__init__(f"{kind} {ident!r} not found")


class Unauthenticated(ServiceError):
    status = 401
    title = "Unauthenticated"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class Unverified(Forbidden):
    """The password is right; the account's e-mail address is not verified yet."""


class TooManyRequests(ServiceError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after_s: float) -> None:
        super().__init__(detail)
        self.retry_after_s = max(1, int(retry_after_s + 0.999))


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class Unavailable(ServiceError):
    """A site the answer depends on does not answer now; ask again later."""

    status = 503
    title = "Service unavailable"


class Refused(Forbidden):
    """A refusal that is itself a security-relevant event: the interface records ``event``
    (the keyword arguments of ``audit.append``) in a transaction of its own, since the
    refused change rolls back with the exception."""

    def __init__(self, detail: str, event: dict[str, object]) -> None:
        super().__init__(detail)
        self.event = event
