"""SQLAlchemy tables. The schema itself comes only from the Alembic migrations;
``tests/integration/test_migrations.py`` checks that these classes and the migrations agree."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def table(model: type[Base]) -> Table:
    """The Core table of a model, for the hot paths that skip the ORM's unit of work."""
    return cast(Table, model.__table__)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _ts() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True))


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    platform_roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = _ts()
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: signed up and not verified yet (no log-in until then). Accounts an admin made
    # are verified when made.
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AccountToken(Base):
    """A single-use, expiring token mailed to a user (verify the e-mail, reset the password);
    only its hash is stored."""

    __tablename__ = "account_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _ts()
    expires_at: Mapped[datetime] = _ts()
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    registration_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = _ts()
    # Set by an operator (an export-control or compliance hold): the organisation's jobs run
    # only on these sites and/or only on sites in these countries (None: no limit of that kind).
    allowed_sites: Mapped[list[Any] | None] = mapped_column(JSON)
    allowed_countries: Mapped[list[Any] | None] = mapped_column(JSON)
    restriction_reason: Mapped[str | None] = mapped_column(Text)
    restricted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Membership(Base):
    __tablename__ = "memberships"
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = _ts()


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_projects_org_name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _ts()
    # Set by an operator: no job of the project is placed, and its Slurm accounts refuse
    # submissions (GrpSubmitJobs=0).
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspended_reason: Mapped[str | None] = mapped_column(Text)


class ProjectMember(Base):
    __tablename__ = "project_members"
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = _ts()


class WebSession(Base):
    """A portal log-in: the cookie's value is shown to the browser only, its SHA-256 stored;
    the CSRF token every form of the session carries."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _ts()
    last_seen_at: Mapped[datetime] = _ts()
    expires_at: Mapped[datetime] = _ts()
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OidcIdentity(Base):
    """A person at an OpenID Connect provider (issuer, subject), linked to one account: later
    log-ins find the account by these, whatever e-mail the provider says then."""

    __tablename__ = "oidc_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(254))  # as the provider last said it
    created_at: Mapped[datetime] = _ts()
    last_login_at: Mapped[datetime] = _ts()


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _ts()
    expires_at: Mapped[datetime] = _ts()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_jobs_user_idempotency"),
        # Lists are newest first: each filter's index ends in created_at, so a page of 50
        # is read off the index instead of sorting every matching job (docs/benchmarks.md).
        Index("ix_jobs_created", "created_at", "id"),
        Index("ix_jobs_state_created", "state", "created_at"),
        Index("ix_jobs_org_created", "org_id", "created_at"),
        Index("ix_jobs_project_created", "project_id", "created_at"),
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_user_state", "user_id", "state", "created_at"),  # services.jobs.live_jobs
        Index("ix_jobs_site_created", "site_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()
    site_id: Mapped[str | None] = mapped_column(String(64))
    partition_id: Mapped[str | None] = mapped_column(String(64))
    placement: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    executor: Mapped[str | None] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(100))
    workdir: Mapped[str | None] = mapped_column(Text)
    accelerator_ids: Mapped[list[Any] | None] = mapped_column(JSON)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # The allocation the job draws on and the GPU-seconds reserved there when it was placed.
    allocation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    reserved_gpu_seconds: Mapped[int | None] = mapped_column(BigInteger)
    # What the site reported (Slurm: NodeList and AllocTRES), and the launch retries while the
    # site does not answer (the job stays placed; the next try is due at next_attempt_at).
    node_list: Mapped[str | None] = mapped_column(Text)
    alloc_tres: Mapped[str | None] = mapped_column(Text)
    launch_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A job array is a row of its own (array_tasks: how many) and one row per task
    # (array_job_id, array_index); the array's state follows from its tasks'.
    array_job_id: Mapped[str | None] = mapped_column(String(32), index=True)
    array_index: Mapped[int | None] = mapped_column(Integer)
    array_tasks: Mapped[int | None] = mapped_column(Integer)
    # What the job got on its partition (scheduling.fit.Need as a dict), from its placement.
    resolved: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Where its output goes at its site ({"stdout": path, "stderr": path}), from its launch.
    logs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The AI Act's compute ledger: the model version the job produces (its spec's
    # ``produces``), what for (``purpose``), and a measured utilisation of the peak.
    model_version_id: Mapped[str | None] = mapped_column(String(32), index=True)
    purpose: Mapped[str | None] = mapped_column(String(20))
    utilisation: Mapped[float | None] = mapped_column(Float)


class JobEvent(Base):
    """The state history of a job: one row per transition."""

    __tablename__ = "job_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = _ts()
    reason: Mapped[str] = mapped_column(Text, default="")


class AuditEvent(Base):
    """Append-only, hash-chained. ``seq`` is assigned by the service, never by the database,
    so that the hash covers it."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = _ts()
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str | None] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last event's seq and hash, updated in the same transaction as every append:
    it serialises appends and lets verify notice a deleted tail."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


# -- access calls and allocations ------------------------------------------------------------
class Call(Base):
    __tablename__ = "calls"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(20), index=True)
    partitions: Mapped[list[Any]] = mapped_column(JSON)
    opens_on: Mapped[date] = mapped_column(Date)
    closes_on: Mapped[date | None] = mapped_column(Date)
    cutoffs: Mapped[list[Any]] = mapped_column(JSON)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    proposal_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _ts()


class Proposal(Base):
    __tablename__ = "proposals"
    __table_args__ = (Index("ix_proposals_state_due", "state", "decision_due_on"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(40), unique=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    form: Mapped[dict[str, Any]] = mapped_column(JSON)
    gpu_hours: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cutoff_on: Mapped[date | None] = mapped_column(Date)
    decision_due_on: Mapped[date | None] = mapped_column(Date)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()


class ProposalEvent(Base):
    """The state history of a proposal: one row per transition."""

    __tablename__ = "proposal_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proposal_id: Mapped[str] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = _ts()
    actor: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("proposal_id", "reviewer_id", "kind", name="uq_reviews_once"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id"), index=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    score: Mapped[int | None] = mapped_column(Integer)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    comments: Mapped[str] = mapped_column(Text, default="")
    assigned_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _ts()
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReviewerConflict(Base):
    """A conflict of interest a reviewer declared (co-authors, competitors, ...), by the
    organisation's name: reviewers cannot list organisations."""

    __tablename__ = "reviewer_conflicts"
    __table_args__ = (
        UniqueConstraint("reviewer_id", "organisation", name="uq_reviewer_conflicts"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    organisation: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    declared_at: Mapped[datetime] = _ts()


class Allocation(Base):
    __tablename__ = "allocations"
    __table_args__ = (Index("ix_allocations_project_partition", "project_id", "partition_id"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    proposal_id: Mapped[str | None] = mapped_column(ForeignKey("proposals.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    site_id: Mapped[str] = mapped_column(String(64))
    partition_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str | None] = mapped_column(String(20))
    granted_gpu_seconds: Mapped[int] = mapped_column(BigInteger)
    # The sum of the ledger, kept in step by every ledger insert (same transaction), so that
    # placing a job reads one row instead of summing a ledger that grows with every job.
    balance_gpu_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    starts_at: Mapped[datetime] = _ts()
    ends_at: Mapped[datetime] = _ts()
    inference_share_max: Mapped[float | None] = mapped_column(Float)
    report_due_on: Mapped[date] = mapped_column(Date)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    report_filed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    report_waived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    report_waiver_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _ts()


class LedgerEntry(Base):
    """One movement of an allocation's GPU-seconds; the balance is the sum of ``gpu_seconds``.
    Append-only."""

    __tablename__ = "allocation_ledger"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    allocation_id: Mapped[str] = mapped_column(ForeignKey("allocations.id"), index=True)
    at: Mapped[datetime] = _ts()
    kind: Mapped[str] = mapped_column(String(20))
    gpu_seconds: Mapped[int] = mapped_column(BigInteger)
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)
    used_gpu_seconds: Mapped[int | None] = mapped_column(BigInteger)
    work: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")


class Notice(Base):
    """A notice the deadline loop has acted on, once: (kind, object)."""

    __tablename__ = "notices"
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    object_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = _ts()


class OutboxMail(Base):
    """Mail written in the same transaction as the change it tells of; the mail loop sends it."""

    __tablename__ = "outbox_mail"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipients: Mapped[list[Any]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = _ts()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class UsageRecord(Base):
    """What one job used, written once when it ends: for a Slurm job, GPUs x elapsed as sacct
    reports them; for a local or simulated job, GPUs x the time between start and end."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_project", "project_id", "site_id"),
        # Covers services.compliance.ledger.recompute_all: every model version's ledger read
        # off the index in order, grouped as it goes, without a row of the table.
        Index(
            "ix_usage_records_ledger",
            "model_version_id",
            "purpose",
            "site_id",
            "partition_id",
            "utilisation",
            "gpu_seconds",
            "elapsed_s",
        ),
    )
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), index=True)
    project_id: Mapped[str] = mapped_column(String(32))
    allocation_id: Mapped[str | None] = mapped_column(String(32))
    site_id: Mapped[str] = mapped_column(String(64))
    partition_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))  # sacct, local, simulated
    external_id: Mapped[str | None] = mapped_column(String(100))
    gpus: Mapped[int] = mapped_column(Integer)
    elapsed_s: Mapped[int] = mapped_column(BigInteger)
    gpu_seconds: Mapped[int] = mapped_column(BigInteger)
    alloc_tres: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = _ts()
    # The job's declarations for the AI Act's ledger, copied as it ends (jobs.model_version_id,
    # purpose, utilisation), so that the ledger reads the usage records alone.
    model_version_id: Mapped[str | None] = mapped_column(String(32))
    purpose: Mapped[str | None] = mapped_column(String(20))
    utilisation: Mapped[float | None] = mapped_column(Float)


class SiteHealth(Base):
    """Whether a site's scheduler answers, as the executor loop last saw it."""

    __tablename__ = "site_health"
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))  # ok, degraded
    error: Mapped[str] = mapped_column(Text, default="")
    since: Mapped[datetime] = _ts()
    checked_at: Mapped[datetime] = _ts()
    failures: Mapped[int] = mapped_column(Integer, default=0)


# The data and compliance capabilities' tables live in modules of their own; importing them
# here puts them in the same metadata (the migrations test compares the two).
from aifactory.db import compliance_tables as _compliance_tables  # noqa: E402, F401
from aifactory.db import data_tables as _data_tables  # noqa: E402, F401
