"""Shared fixtures: a real database (SQLite, and PostgreSQL when reachable), a platform
built from settings, and small builders for users, organisations and projects.

PostgreSQL: ``AIF_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``,
the machine's server). Unreachable → the PostgreSQL variants skip with the reason, unless
``AIF_REQUIRE_POSTGRES=1`` (set in CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings

from aifactory.api.app import create_app
from aifactory.db.migrate import upgrade
from aifactory.services import identity
from aifactory.services.bootstrap import init_admin, open_default_calls
from aifactory.services.runtime import Runtime
from aifactory.settings import Settings, load_settings

pytest_plugins = ["tests.mailbox", "tests.oidc_provider"]

# Hypothesis' per-example deadline measures the machine, not the code: on a loaded 2-core CI
# runner a first example (imports, compiled patterns) can take 400 ms. Correctness only.
hypothesis_settings.register_profile("aifactory", deadline=None)
hypothesis_settings.load_profile("aifactory")

PG_ADMIN_URL = os.environ.get(
    "AIF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_PG = os.environ.get("AIF_REQUIRE_POSTGRES") == "1"


def _pg_problem() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means: no usable server here
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}".strip()
    return None


class Databases:
    """Fresh databases per test, cloned from a migrated template (fast on both backends)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._sqlite_template: Path | None = None
        self._pg_template: str | None = None
        self._pg_problem: str | bool | None = False
        self._created: list[str] = []

    def sqlite(self, target: Path) -> str:
        if self._sqlite_template is None:
            template = self.root / "template.db"
            upgrade(f"sqlite:///{template}")
            self._sqlite_template = template
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._sqlite_template, target)
        return f"sqlite:///{target}"

    def postgres(self) -> str:
        import psycopg

        if self._pg_problem is False:
            self._pg_problem = _pg_problem()
        if isinstance(self._pg_problem, str):
            if REQUIRE_PG:
                pytest.fail(f"AIF_REQUIRE_POSTGRES=1 but {self._pg_problem}")
            pytest.skip(self._pg_problem)
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        if self._pg_template is None:
            name = f"aif_tpl_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self._created.append(name)
            upgrade(f"{base}/{name}")
            self._pg_template = name
        name = f"aif_t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._pg_template}"')
        self._created.append(name)
        return f"{base}/{name}"

    def cleanup(self) -> None:
        if not self._created:
            return
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            for name in reversed(self._created):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("dbs"))
    yield dbs
    dbs.cleanup()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, databases: Databases, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return databases.sqlite(tmp_path / "data" / "aifactory.db")
    return databases.postgres()


@dataclass
class Actor:
    """A user with a token, and an API client that sends it."""

    user_id: str
    email: str
    token: str
    client: TestClient

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(_api(path), headers=self._h(kw), **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(_api(path), json=json, headers=self._h(kw), **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.put(_api(path), json=json, headers=self._h(kw), **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete(_api(path), headers=self._h(kw), **kw)

    def _h(self, kw: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}


def _api(path: str) -> str:
    return path if path.startswith("/api/") else "/api/v1" + path


@dataclass
class Platform:
    settings: Settings
    runtime: Runtime
    client: TestClient
    admin: Actor
    _n: int = field(default=0)

    def user(self, name: str | None = None, *, roles: list[str] | None = None) -> Actor:
        self._n += 1
        name = name or f"user{self._n}"
        email = f"{name}@example.eu"
        r = self.admin.post(
            "/users",
            {
                "email": email,
                "name": name,
                "password": "correct horse battery",
                "roles": roles or [],
            },
        )
        assert r.status_code == 201, r.text
        login = self.client.post(
            "/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}
        )
        assert login.status_code == 201, login.text
        return Actor(r.json()["id"], email, login.json()["token"], self.client)

    def org(self, owner: Actor, name: str | None = None, **kw: Any) -> dict[str, Any]:
        self._n += 1
        body = {
            "name": name or f"Org {self._n}",
            "kind": "sme",
            "country": "FI",
            "registration_id": f"REG-{self._n}",
            **kw,
        }
        r = owner.post("/orgs", body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def project(
        self, owner: Actor, org_id: str, name: str = "proj", *, gpu_hours: int | None = 10_000
    ) -> dict[str, Any]:
        """A project; with ``gpu_hours``, an operator's grant on every partition, so that tests
        about jobs need not apply to a call first (those about calls pass ``None``)."""
        r = owner.post("/projects", {"org_id": org_id, "name": name})
        assert r.status_code == 201, r.text
        project = dict(r.json())
        if gpu_hours:
            self.grant(project["id"], gpu_hours)
        return project

    def grant(
        self, project_id: str, gpu_hours: int, partitions: tuple[str, ...] | None = None
    ) -> list[dict[str, Any]]:
        refs = partitions or tuple(f"{s.id}/{p.id}" for s, p in self.runtime.catalog.partitions())
        out = []
        for ref in refs:
            r = self.admin.post(
                "/allocations",
                {
                    "project_id": project_id,
                    "partition": ref,
                    "gpu_hours": gpu_hours,
                    "ends_at": "2099-01-01T00:00:00Z",
                    "reason": "test grant",
                },
            )
            assert r.status_code == 201, r.text
            out.append(dict(r.json()))
        return out

    def tenant(self, name: str | None = None) -> tuple[Actor, dict[str, Any], dict[str, Any]]:
        """A user who owns an organisation with one project."""
        actor = self.user(name)
        org = self.org(actor)
        return actor, org, self.project(actor, org["id"])


PROBLEM_JSON = "application/problem+json"
FINAL_STATES = ("completed", "failed", "cancelled", "timeout")


def quick_user(platform: Platform, name: str, roles: tuple[str, ...] = ()) -> Actor:
    """A user created through the API, with a token issued by the service: no password, so no
    argon2 rounds (about 0.4 s per user here); log-in has its own tests."""
    r = platform.admin.post(
        "/users", {"email": f"{name}@example.eu", "name": name, "roles": list(roles)}
    )
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    with platform.runtime.db.write() as session:
        _tok, plain = identity.issue_token(
            session, user_id=user_id, name="test", ttl=timedelta(hours=1), actor=user_id
        )
    return Actor(user_id, f"{name}@example.eu", plain, platform.client)


def run_until_final(
    platform: Platform, job_id: str, actor: Actor | None = None, timeout: float = 20.0
) -> dict[str, Any]:
    """Drive the dispatch and executor loops by hand until the job ends."""
    return run_until(platform, job_id, FINAL_STATES, actor, timeout)


def run_until(
    platform: Platform,
    job_id: str,
    states: tuple[str, ...],
    actor: Actor | None = None,
    timeout: float = 20.0,
) -> dict[str, Any]:
    """Drive the dispatch and executor loops by hand until the job is in one of ``states``."""
    actor = actor or platform.admin
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        platform.runtime.dispatcher.dispatch_once()
        platform.runtime.dispatcher.poll_once()
        job = dict(actor.get(f"/jobs/{job_id}").json())
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {', '.join(states)}: {job}")


def job_spec(project_id: str, run: str = "echo hello", **kw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": kw.pop("name", "job"), "project": project_id, "run": run}
    spec.update(kw)
    return spec


def proposal_form(
    call_id: str, project_id: str, title: str = "LLM pilot", **kw: Any
) -> dict[str, Any]:
    """A complete application; ``kw`` replaces top-level fields (``resources``, ...)."""
    form: dict[str, Any] = {
        "call": call_id,
        "project": project_id,
        "title": title,
        "abstract": "Fine-tune an open model for clinical triage notes.",
        "principal_investigator": {"name": "Ada Lovelace", "email": "ada@example.eu"},
        "sector": "health",
        "work_types": ["fine_tuning"],
        "resources": [{"partition": "local/local", "gpu_hours": 100, "largest_job_gpus": 1}],
        "duration_months": 3,
        "why_this_scale": "A workstation takes weeks per run.",
        "code_readiness": {"frameworks": ["pytorch"], "scaling_shown": "1 GPU, 12 h"},
        "data": {"description": "anonymised notes", "origin": "a partner hospital in FI"},
        "work_plan": [{"month": 1, "title": "baseline"}, {"month": 3, "title": "evaluation"}],
        "ai_act": {"intended_purpose": "triage support", "prohibited_practice": False},
    }
    form.update(kw)
    return form


def build_platform(tmp_path: Path, db_url: str, **overrides: Any) -> Platform:
    # Every test's client is one address: the log-in limit is the rate-limit tests' own.
    overrides.setdefault("logins_per_5min", 10_000)
    overrides.setdefault("signups_per_hour", 10_000)
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        run_loops=False,
        kill_grace_s=0.5,
        **overrides,
    )
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    runtime = Runtime(settings)
    init_admin(runtime.db, settings)
    open_default_calls(runtime.db, settings, runtime.catalog)
    token = settings.admin_token_file.read_text().strip()
    client = TestClient(create_app(settings, runtime), raise_server_exceptions=False)
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).json()
    admin = Actor(me["id"], me["email"], token, client)
    return Platform(settings, runtime, client, admin)


@pytest.fixture
def platform(tmp_path: Path, db_url: str) -> Iterator[Platform]:
    p = build_platform(tmp_path, db_url)
    with p.client:
        yield p
    p.runtime.close()


@pytest.fixture
def mail_platform(tmp_path: Path, db_url: str, smtp_server: Any) -> Iterator[Platform]:
    """A platform whose mail goes to the tests' SMTP server (``smtp_server``), its links to
    https://portal.example.eu."""
    p = build_platform(
        tmp_path,
        db_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        public_url="https://portal.example.eu",
    )
    with p.client:
        yield p
    p.runtime.close()


@pytest.fixture
def sqlite_platform(tmp_path: Path, databases: Databases) -> Iterator[Platform]:
    """For tests whose subject does not depend on the database (executor behaviour)."""
    p = build_platform(tmp_path, databases.sqlite(tmp_path / "data" / "aifactory.db"))
    with p.client:
        yield p
    p.runtime.close()
