"""A small, explicit HTTP client for the aifactory API (``/api/v1``).

Every method returns the JSON the server answered (plain dicts and lists); every non-2xx
answer raises :class:`ApiError`, built from the RFC 9457 problem body. Network failures are
``httpx.TransportError`` and pass through unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self
from urllib.parse import quote

import httpx

from aifactory.domain.jobs import FINAL_STATES

if TYPE_CHECKING:
    from aifactory.sdk.compliance import ComplianceApi
    from aifactory.sdk.data import DataApi

API_PREFIX = "/api/v1"
JSON = dict[str, Any]
Stream = Literal["stdout", "stderr"]

# The server holds a wait request for at most this long (its own limit is 60 s).
MAX_SERVER_WAIT_S = 30.0
_FINAL = frozenset(s.value for s in FINAL_STATES)


class ApiError(Exception):
    """A non-2xx answer: the problem's ``title``, ``detail`` and per-field ``errors``."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.errors: list[dict[str, Any]] = [dict(e) for e in errors]
        super().__init__(str(self))

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            text = response.text.strip()[:500]
            return cls(response.status_code, response.reason_phrase or "Error", text)
        errors = body.get("errors")
        return cls(
            status=int(body.get("status") or response.status_code),
            title=str(body.get("title") or response.reason_phrase or "Error"),
            detail=str(body.get("detail") or ""),
            errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else [],
        )

    def field_lines(self) -> list[str]:
        """One line per field error: ``field: message (rule r) (allowed: a, b)``; the rule is
        the access-call rule the input breaks, when there is one."""
        lines = []
        for err in self.errors:
            line = f"{err.get('field', '?')}: {err.get('message', '')}"
            rule = err.get("rule")
            if rule:
                line += f" (rule {rule})"
            allowed = err.get("allowed")
            if allowed:
                shown = ", ".join(str(a) for a in allowed) if isinstance(allowed, list) else allowed
                line += f" (allowed: {shown})"
            lines.append(line)
        return lines

    def __str__(self) -> str:
        head = f"{self.title} ({self.status})"
        if self.detail:
            head += f": {self.detail}"
        return "\n".join([head, *(f"  {line}" for line in self.field_lines())])


def _drop_none(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


class Client:
    """``Client(url, token)``; pass ``transport`` or an existing ``http`` client (for example
    FastAPI's ``TestClient``) to talk to an app in-process."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=timeout, transport=transport)

    # -- plumbing ------------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:  # never shows the token
        return f"Client({self.url!r}, token={'set' if self.token else None})"

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        content: bytes | None = None,
    ) -> Any:
        all_headers = {"Accept": "application/json"}
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        all_headers.update(headers or {})
        response = self._http.request(
            method,
            f"{self.url}{API_PREFIX}{path}",
            json=json,
            content=content,
            params=_drop_none(params or {}),
            headers=all_headers,
            # Only a long poll overrides the client's own timeout (which may be injected).
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
        )
        if not response.is_success:
            raise ApiError.from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    @contextmanager
    def _stream(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """A response read as it arrives (a dataset's bytes); non-2xx raises ApiError."""
        all_headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        all_headers.update(headers or {})
        with self._http.stream(
            method, f"{self.url}{API_PREFIX}{path}", headers=all_headers
        ) as response:
            if not response.is_success:
                response.read()
                raise ApiError.from_response(response)
            yield response

    @property
    def compliance(self) -> ComplianceApi:
        """The AI Act: use cases (``aifactory.sdk.compliance``)."""
        from aifactory.sdk.compliance import ComplianceApi

        return ComplianceApi(self)

    @property
    def data(self) -> DataApi:
        """Datasets: create, push, pull, stage, grant (``aifactory.sdk.data``)."""
        from aifactory.sdk.data import DataApi

        return DataApi(self)

    def _get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params)

    def _post(self, path: str, body: Any) -> Any:
        return self._request("POST", path, json=body)

    # -- health and identity -------------------------------------------------------------
    def health(self) -> JSON:
        result: JSON = self._get("/health")
        return result

    def login(self, email: str, password: str) -> JSON:
        """Exchange e-mail and password for a token; the answer holds it (``token``)."""
        result: JSON = self._post("/auth/login", {"email": email, "password": password})
        return result

    def me(self) -> JSON:
        result: JSON = self._get("/users/me")
        return result

    def create_user(
        self,
        email: str,
        name: str,
        password: str | None = None,
        roles: Sequence[str] = (),
    ) -> JSON:
        body: JSON = {"email": email, "name": name, "roles": list(roles)}
        if password is not None:
            body["password"] = password
        result: JSON = self._post("/users", body)
        return result

    def create_token(self, name: str = "cli", ttl_days: int = 90) -> JSON:
        result: JSON = self._post("/tokens", {"name": name, "ttl_days": ttl_days})
        return result

    def list_tokens(self) -> list[JSON]:
        result: list[JSON] = self._get("/tokens")
        return result

    def revoke_token(self, token_id: str) -> JSON:
        result: JSON = self._request("DELETE", f"/tokens/{_seg(token_id)}")
        return result

    # -- catalog -------------------------------------------------------------------------
    def list_sites(self) -> list[JSON]:
        result: list[JSON] = self._get("/sites")
        return result

    def get_site(self, site_id: str) -> JSON:
        result: JSON = self._get(f"/sites/{_seg(site_id)}")
        return result

    def reconcile_slurm(self, site: str | None = None, *, dry_run: bool = False) -> list[JSON]:
        """Reconcile Slurm accounts and limits (operators); the sacctmgr commands per site."""
        result: list[JSON] = self._post("/slurm/reconcile", {"site": site, "dry_run": dry_run})
        return result

    def suspend_project(self, project_id: str, reason: str) -> JSON:
        result: JSON = self._post(f"/projects/{_seg(project_id)}/suspend", {"reason": reason})
        return result

    def resume_project(self, project_id: str) -> JSON:
        result: JSON = self._post(f"/projects/{_seg(project_id)}/resume", {})
        return result

    def project_usage(self, project_id: str) -> JSON:
        result: JSON = self._get(f"/projects/{_seg(project_id)}/usage")
        return result

    # -- organisations and projects ------------------------------------------------------
    def create_org(self, name: str, kind: str, country: str, registration_id: str) -> JSON:
        body = {"name": name, "kind": kind, "country": country, "registration_id": registration_id}
        result: JSON = self._post("/orgs", body)
        return result

    def list_orgs(self) -> list[JSON]:
        result: list[JSON] = self._get("/orgs")
        return result

    def get_org(self, org_id: str) -> JSON:
        result: JSON = self._get(f"/orgs/{_seg(org_id)}")
        return result

    def add_org_member(self, org_id: str, email: str, role: str = "member") -> JSON:
        result: JSON = self._post(f"/orgs/{_seg(org_id)}/members", {"email": email, "role": role})
        return result

    def list_org_members(self, org_id: str) -> list[JSON]:
        result: list[JSON] = self._get(f"/orgs/{_seg(org_id)}/members")
        return result

    def restrict_org(
        self,
        org_id: str,
        reason: str,
        *,
        sites: Sequence[str] = (),
        countries: Sequence[str] = (),
    ) -> JSON:
        """Operators: the organisation's jobs run only on ``sites`` and/or only on sites in
        ``countries``; replaces a restriction in force."""
        body = {"sites": list(sites), "countries": list(countries), "reason": reason}
        result: JSON = self._request("PUT", f"/orgs/{_seg(org_id)}/restriction", json=body)
        return result

    def unrestrict_org(self, org_id: str) -> JSON:
        """Operators: lift the organisation's restriction."""
        result: JSON = self._request("DELETE", f"/orgs/{_seg(org_id)}/restriction")
        return result

    def create_project(self, org_id: str, name: str, description: str = "") -> JSON:
        body = {"org_id": org_id, "name": name, "description": description}
        result: JSON = self._post("/projects", body)
        return result

    def list_projects(self, org_id: str | None = None) -> list[JSON]:
        result: list[JSON] = self._get("/projects", org_id=org_id)
        return result

    def get_project(self, project_id: str) -> JSON:
        result: JSON = self._get(f"/projects/{_seg(project_id)}")
        return result

    def add_project_member(self, project_id: str, email: str) -> JSON:
        result: JSON = self._post(f"/projects/{_seg(project_id)}/members", {"email": email})
        return result

    def list_project_members(self, project_id: str) -> list[JSON]:
        result: list[JSON] = self._get(f"/projects/{_seg(project_id)}/members")
        return result

    # -- jobs ----------------------------------------------------------------------------
    def submit_job(
        self,
        spec: Mapping[str, Any],
        idempotency_key: str | None = None,
        *,
        dry_run: bool = False,
    ) -> JSON:
        """Submit a job spec; the same ``idempotency_key`` returns the earlier job. With
        ``dry_run`` only the plan comes back (what was read, where it would go); nothing is
        written."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        params = {"dry_run": "true"} if dry_run else None
        result: JSON = self._request(
            "POST", "/jobs", json=dict(spec), headers=headers, params=params
        )
        return result

    def list_jobs(
        self,
        *,
        project_id: str | None = None,
        org_id: str | None = None,
        state: Sequence[str] | None = None,
        site: str | None = None,
        name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> JSON:
        """A page (``items``, ``total``, ``limit``, ``offset``), newest first."""
        result: JSON = self._get(
            "/jobs",
            project_id=project_id,
            org_id=org_id,
            state=list(state) if state else None,
            site=site,
            name=name,
            limit=limit,
            offset=offset,
        )
        return result

    def get_job(self, job_id: str) -> JSON:
        result: JSON = self._get(f"/jobs/{_seg(job_id)}")
        return result

    def job_logs(
        self,
        job_id: str,
        stream: Stream = "stdout",
        tail: int | None = None,
        offset: int = 0,
    ) -> JSON:
        """One chunk: ``text``, the ``offset`` to ask for next, and ``final``."""
        result: JSON = self._get(
            f"/jobs/{_seg(job_id)}/logs", stream=stream, tail=tail, offset=offset
        )
        return result

    def follow_logs(
        self,
        job_id: str,
        stream: Stream = "stdout",
        poll_s: float = 0.5,
        *,
        tail: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[str]:
        """Yield new log text until the job has ended, then read once more for the rest."""
        chunk = self.job_logs(job_id, stream, tail=tail)
        while True:
            if chunk["text"]:
                yield chunk["text"]
            if chunk["final"]:
                last = self.job_logs(job_id, stream, offset=chunk["offset"])
                if last["text"]:
                    yield last["text"]
                return
            sleep(poll_s)
            chunk = self.job_logs(job_id, stream, offset=chunk["offset"])

    def cancel_job(self, job_id: str) -> JSON:
        result: JSON = self._post(f"/jobs/{_seg(job_id)}/cancel", None)
        return result

    def wait_job(self, job_id: str, timeout_s: float | None = None) -> JSON:
        """Long-poll until the job has ended or ``timeout_s`` has passed (``None``: no limit);
        returns the job as last seen."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            remaining = MAX_SERVER_WAIT_S if deadline is None else deadline - time.monotonic()
            server_wait = max(0.0, min(MAX_SERVER_WAIT_S, remaining))
            job: JSON = self._request(
                "GET",
                f"/jobs/{_seg(job_id)}/wait",
                params={"timeout": server_wait},
                timeout=server_wait + self.timeout,
            )
            if job["state"] in _FINAL:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                return job

    # -- access calls --------------------------------------------------------------------
    def list_calls(self, open: bool | None = None, mode: str | None = None) -> list[JSON]:
        """Calls, newest first; ``open=True``: only those taking proposals today."""
        result: list[JSON] = self._get("/calls", open=open, mode=mode)
        return result

    def get_call(self, call_id: str) -> JSON:
        result: JSON = self._get(f"/calls/{_seg(call_id)}")
        return result

    def open_call(self, spec: Mapping[str, Any]) -> JSON:
        """Operators: open a call (title, mode, partitions, dates, rule overrides)."""
        result: JSON = self._post("/calls", dict(spec))
        return result

    def close_call(self, call_id: str) -> JSON:
        result: JSON = self._post(f"/calls/{_seg(call_id)}/close", None)
        return result

    # -- proposals -----------------------------------------------------------------------
    def create_proposal(self, form: Mapping[str, Any], draft: bool = False) -> JSON:
        """Apply to a call; submitted at once unless ``draft``. A broken call rule is a 422
        naming the field and the rule, and nothing is written."""
        result: JSON = self._request(
            "POST", "/proposals", json=dict(form), params={"draft": True} if draft else None
        )
        return result

    def list_proposals(
        self, call_id: str | None = None, state: str | Sequence[str] | None = None
    ) -> list[JSON]:
        result: list[JSON] = self._get("/proposals", call_id=call_id, state=_many(state))
        return result

    def proposals_due(self, until: date | str | None = None) -> list[JSON]:
        """Operators: undecided proposals due by ``until`` (default: this Sunday)."""
        day = until.isoformat() if isinstance(until, date) else until
        result: list[JSON] = self._get("/proposals/due", until=day)
        return result

    def get_proposal(self, proposal_id: str) -> JSON:
        result: JSON = self._get(f"/proposals/{_seg(proposal_id)}")
        return result

    def submit_proposal(self, proposal_id: str) -> JSON:
        result: JSON = self._post(f"/proposals/{_seg(proposal_id)}/submit", None)
        return result

    def withdraw_proposal(self, proposal_id: str) -> JSON:
        result: JSON = self._post(f"/proposals/{_seg(proposal_id)}/withdraw", None)
        return result

    def assign_reviewer(self, proposal_id: str, reviewer_email: str, kind: str) -> JSON:
        """Operators: ask a user with the reviewer role for a ``technical`` or ``peer``
        review; returns the review."""
        result: JSON = self._post(
            f"/proposals/{_seg(proposal_id)}/reviewers",
            {"reviewer": reviewer_email, "kind": kind},
        )
        return result

    def decide_proposal(self, proposal_id: str, decision: str, reason: str) -> JSON:
        """Operators: ``accept`` (creates the allocations) or ``reject``, with a reason."""
        result: JSON = self._post(
            f"/proposals/{_seg(proposal_id)}/decision", {"decision": decision, "reason": reason}
        )
        return result

    # -- reviews -------------------------------------------------------------------------
    def list_reviews(
        self, state: str | Sequence[str] | None = None, proposal_id: str | None = None
    ) -> list[JSON]:
        """Your review requests (operators: every review)."""
        result: list[JSON] = self._get("/reviews", state=_many(state), proposal_id=proposal_id)
        return result

    def submit_review(
        self,
        review_id: str,
        passed: bool | None = None,
        score: int | None = None,
        comments: str = "",
    ) -> JSON:
        """A technical review gives ``passed``; a peer review a ``score`` from 1 to 5."""
        body: JSON = {"comments": comments}
        if passed is not None:
            body["passed"] = passed
        if score is not None:
            body["score"] = score
        result: JSON = self._post(f"/reviews/{_seg(review_id)}", body)
        return result

    def declare_conflict(self, organisation: str, reason: str) -> JSON:
        """Reviewers: a conflict of interest with an organisation (by name)."""
        result: JSON = self._post(
            "/reviewer/conflicts", {"organisation": organisation, "reason": reason}
        )
        return result

    def list_conflicts(self) -> list[JSON]:
        result: list[JSON] = self._get("/reviewer/conflicts")
        return result

    # -- allocations ---------------------------------------------------------------------
    def list_allocations(
        self, project_id: str | None = None, org_id: str | None = None
    ) -> list[JSON]:
        result: list[JSON] = self._get("/allocations", project_id=project_id, org_id=org_id)
        return result

    def get_allocation(self, allocation_id: str) -> JSON:
        """An allocation with its ledger (grants, reservations, settlements, ...)."""
        result: JSON = self._get(f"/allocations/{_seg(allocation_id)}")
        return result

    def grant_allocation(self, body: Mapping[str, Any]) -> JSON:
        """Operators: grant outside a call (``project_id``, ``partition``, ``gpu_hours``,
        ``ends_at``, ``reason``; optionally ``starts_at``)."""
        result: JSON = self._post("/allocations", dict(body))
        return result

    def adjust_allocation(self, allocation_id: str, gpu_hours: int, reason: str) -> JSON:
        """Operators: add (positive) or remove (negative) GPU-hours, with a reason."""
        result: JSON = self._post(
            f"/allocations/{_seg(allocation_id)}/adjustments",
            {"gpu_hours": gpu_hours, "reason": reason},
        )
        return result

    def file_report(self, allocation_id: str, report: Mapping[str, Any]) -> JSON:
        """The final report (``summary``, ``publications``, ``acknowledged``)."""
        result: JSON = self._post(f"/allocations/{_seg(allocation_id)}/report", dict(report))
        return result

    def waive_report(self, allocation_id: str, reason: str) -> JSON:
        """Operators: waive an allocation's final report, with a reason."""
        result: JSON = self._post(
            f"/allocations/{_seg(allocation_id)}/report-waiver", {"reason": reason}
        )
        return result

    # -- audit ---------------------------------------------------------------------------
    def audit_verify(self) -> JSON:
        result: JSON = self._get("/audit/verify")
        return result

    def audit_events(self, limit: int = 100, offset: int = 0) -> JSON:
        result: JSON = self._get("/audit/events", limit=limit, offset=offset)
        return result


def is_final(state: str) -> bool:
    """True for a state a job never leaves (completed, failed, cancelled, timeout)."""
    return state in _FINAL


def _many(value: str | Sequence[str] | None) -> list[str] | None:
    """A query parameter that may repeat: one value or several."""
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _seg(value: str) -> str:
    """One path segment, escaped, so an id can never reach another route."""
    return quote(value, safe="")
