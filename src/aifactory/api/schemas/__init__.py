"""Request and response models: one family per entity (``JobPublic``, ``OrgCreate``, ...)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, field_validator

from aifactory.domain.countries import EUROHPC_COUNTRIES
from aifactory.domain.identity import MembershipRole, OrgKind, PlatformRole
from aifactory.domain.jobspec import JsonInt
from aifactory.domain.names import (
    checked_text,
    document_email,
    document_name,
    document_non_blank,
    email_problem,
    name_problem,
)

T = TypeVar("T")


def _document_countries(schema: dict[str, object]) -> None:
    schema["enum"] = sorted(EUROHPC_COUNTRIES)


def _check_email(value: str) -> str:
    problem = email_problem(value)
    if problem:
        raise ValueError(problem)
    return value.lower()


Email = Annotated[
    str,
    Field(min_length=3, max_length=254, json_schema_extra=document_email),
    AfterValidator(_check_email),
]


def _check_name(value: str) -> str:
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class Health(BaseModel):
    status: str
    database: str
    version: str
    leads: list[str] = Field(description="Background loops this server process runs now.")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] = Field(default_factory=list)


# -- identity ---------------------------------------------------------------------------
class LoginRequest(Strict):
    email: str = Field(max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class UserCreate(Strict):
    email: Email
    name: str = Field(max_length=100, json_schema_extra=document_name)
    password: str | None = Field(default=None, min_length=12, max_length=1024)
    roles: list[PlatformRole] = Field(default_factory=list)

    _name = field_validator("name")(_check_name)


class UserPublic(BaseModel):
    id: str
    email: str
    name: str
    roles: list[PlatformRole]
    created_at: datetime


class MePublic(UserPublic):
    organisations: dict[str, MembershipRole]


class TokenCreate(Strict):
    name: str = Field(default="cli", max_length=100, json_schema_extra=document_name)
    ttl_days: JsonInt = Field(default=90, ge=1, le=3650)

    _name = field_validator("name")(_check_name)


class TokenPublic(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="Shown once; store it now.")


# -- tenancy ----------------------------------------------------------------------------
class OrgCreate(Strict):
    name: str = Field(max_length=100, json_schema_extra=document_name)
    kind: OrgKind
    country: str = Field(
        description="ISO 3166-1 alpha-2 of a EuroHPC participating state (Greece is GR).",
        json_schema_extra=_document_countries,
    )
    registration_id: str = Field(max_length=100, json_schema_extra=document_name)

    _name = field_validator("name")(_check_name)
    _reg = field_validator("registration_id")(_check_name)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        # Eligibility follows the organisation's country (reference/ai-factories.md).
        if value not in EUROHPC_COUNTRIES:
            raise ValueError(
                f"{value!r} is not a EuroHPC participating state; allowed: "
                + ", ".join(sorted(EUROHPC_COUNTRIES))
            )
        return value


class OrgRestrict(Strict):
    """Where the organisation's jobs may run: only on ``sites`` and/or only on sites in
    ``countries`` (at least one of the two); ``reason`` is what the scheduler says."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["sites"], "properties": {"sites": {"minItems": 1}}},
                {"required": ["countries"], "properties": {"countries": {"minItems": 1}}},
            ]
        },
    )

    sites: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=100, description="Site ids of the catalog."
    )
    countries: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list,
        max_length=100,
        description="ISO 3166-1 alpha-2, upper case, of countries with a site of the catalog.",
    )
    reason: Annotated[
        str,
        Field(min_length=1, max_length=500, json_schema_extra=document_non_blank),
        AfterValidator(checked_text),
    ]


class OrgRestrictionPublic(BaseModel):
    sites: list[str] = Field(description="Empty: no limit by site.")
    countries: list[str] = Field(description="Empty: no limit by country.")
    reason: str
    restricted_at: datetime


class OrgPublic(BaseModel):
    id: str
    name: str
    kind: OrgKind
    country: str
    registration_id: str
    created_at: datetime
    restriction: OrgRestrictionPublic | None = Field(
        default=None,
        description="Set while an operator restricts where the organisation's jobs may run.",
    )


class MemberAdd(Strict):
    email: Email
    role: MembershipRole = MembershipRole.MEMBER


class MemberPublic(BaseModel):
    user_id: str
    email: str
    name: str
    role: MembershipRole


class ProjectCreate(Strict):
    org_id: str = Field(max_length=64)
    name: str = Field(max_length=100, json_schema_extra=document_name)
    description: str = Field(default="", max_length=4000)

    _name = field_validator("name")(_check_name)


class ProjectPublic(BaseModel):
    id: str
    org_id: str
    name: str
    description: str
    created_at: datetime
    suspended_at: datetime | None = Field(
        default=None, description="Set while an operator has suspended the project."
    )
    suspended_reason: str | None = None


class ProjectSuspend(Strict):
    reason: Annotated[
        str,
        Field(min_length=1, max_length=500, json_schema_extra=document_non_blank),
        AfterValidator(checked_text),
    ]


class ProjectMemberAdd(Strict):
    email: Email


class ProjectMemberPublic(BaseModel):
    user_id: str
    email: str
    name: str


# -- jobs -------------------------------------------------------------------------------
class JobEventPublic(BaseModel):
    state: str
    at: datetime
    reason: str


class CandidatePublic(BaseModel):
    """One partition considered: the hard filter it failed, or its score terms."""

    site: str
    partition: str
    executor: str
    feasible: bool
    reason: str
    filter: str | None = Field(default=None, description="The hard filter it failed, if any.")
    allocation_id: str | None = None
    start_in_s: float | None = Field(default=None, description="Estimated start, from the pass.")
    runtime_s: float | None = Field(default=None, description="Walltime scaled by speed.")
    energy_kwh: float | None = None
    co2e_kg: float | None = None
    score: float | None = Field(default=None, description="Lower is better; 1 is the best.")


class PlacementPublic(BaseModel):
    chosen: dict[str, str] | None
    need: dict[str, Any] | None = Field(
        default=None, description="The job's resources on the chosen partition."
    )
    priority: int | None = None
    factors: dict[str, float] | None = Field(
        default=None, description="Priority factors in [0, 1]: age, fairshare, size, qos."
    )
    candidates: list[CandidatePublic]


class JobPublic(BaseModel):
    id: str
    name: str
    org_id: str
    project_id: str
    user_id: str
    state: str
    reason: str
    site: str | None
    partition: str | None
    executor: str | None
    simulated: bool = Field(description="True when the job ran on a digital twin (no code ran).")
    exit_code: int | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    warnings: list[str] = Field(
        default_factory=list,
        description=(
            "#SBATCH directives of a batch script that the platform does not read, each with "
            "what happens to it."
        ),
    )
    array_job_id: str | None = Field(default=None, description="A task: its array.")
    array_index: int | None = Field(default=None, description="A task: its index.")
    array_tasks: int | None = Field(default=None, description="An array: its number of tasks.")


class ArrayPublic(BaseModel):
    spec: str = Field(description="As written, e.g. 0-9%2.")
    tasks: int
    throttle: int | None = Field(description="At most this many tasks run at once.")
    states: dict[str, int] = Field(description="How many tasks are in each state.")
    task_ids: list[str] = Field(description="The tasks, by index (the first 1,000).")


class JobDetail(JobPublic):
    spec: dict[str, Any]
    accelerator_ids: list[int]
    history: list[JobEventPublic]
    placement: PlacementPublic | None
    external_id: str | None = Field(
        description="The site's handle: '<site>:<Slurm job id>' on a Slurm site."
    )
    node_list: str | None = Field(description="The nodes the site ran the job on.")
    alloc_tres: str | None = Field(description="What Slurm allocated (sacct AllocTRES).")
    resolved: dict[str, Any] | None = Field(
        default=None,
        description="What the job got on its partition: nodes, accelerators (per node and in "
        "all), CPUs and memory per node, walltime, whole nodes.",
    )
    logs: dict[str, str] | None = Field(
        default=None, description="Where its stdout and stderr go at its site."
    )
    array: ArrayPublic | None = Field(default=None, description="An array: its tasks.")
    energy: JobEnergy | None = Field(
        default=None, description="What it used, once it ended: compute, energy, carbon."
    )


class JobEnergy(BaseModel):
    """An ended job's usage in the AI Act's terms (docs/compliance.md)."""

    gpu_hours: float
    flop: float = Field(description="GPU-seconds x peak dense BF16 x utilisation.")
    utilisation: float
    measured: bool = Field(description="The job's measured utilisation, not the default.")
    kwh: float = Field(description="GPU-seconds x board power x the site's PUE.")
    kg_co2e: float = Field(description="kWh x the site's grid intensity.")


class JobPlan(BaseModel):
    """A dry run: what the platform read and where the job would go; nothing is written."""

    dry_run: bool = True
    outcome: str = Field(
        description="place (now), wait, fail (no partition can ever run it), cancel (its "
        "dependency can never be met), or refused (a submission would be refused)."
    )
    reason: str
    spec: dict[str, Any] = Field(description="The job spec as the platform read it.")
    stack: str = Field(description="The software stack it needs (any: its partition's).")
    stack_reason: str
    array: dict[str, Any] | None
    dependency: str | None
    ignored: list[str] = Field(description="#SBATCH directives not read, with why.")
    needs: dict[str, dict[str, Any]] = Field(
        description="'site/partition' -> the job's resources there, for every partition it fits."
    )
    placement: PlacementPublic | None


class LogChunk(BaseModel):
    stream: str
    text: str
    offset: int = Field(description="Byte offset to ask for next (follow).")
    final: bool = Field(description="The job has ended; no more output will come.")


# -- catalog ----------------------------------------------------------------------------
class PartitionPublic(BaseModel):
    id: str
    name: str
    accelerator: str
    accelerators_per_node: int
    nodes: int
    total_accelerators: int
    cpus_per_node: int
    memory_gb_per_node: int
    peak_bf16_tflops: float
    power_w: float
    max_walltime_s: int
    software_stacks: list[str]
    pue: float
    grid_gco2e_per_kwh: float
    executor: str
    simulated: bool = Field(description="A digital twin: it runs no code.")
    max_nodes_per_job: int = Field(description="Slurm's MaxNodes for the partition.")
    min_nodes_per_job: int
    default_walltime_s: int = Field(description="Time limit of a job that gives none.")
    shared: bool = Field(description="False: jobs get (and are billed for) whole nodes.")
    slurm_partition: str = Field(description="The Slurm partition jobs are submitted to.")
    qos: str | None = Field(description="The QoS they are submitted with, for a QoS variant.")
    draws_on: str = Field(description="The partition whose allocations jobs here use.")


class SiteHealthPublic(BaseModel):
    state: str = Field(description="ok, or degraded: the site's scheduler does not answer.")
    error: str
    since: datetime
    checked_at: datetime


class SitePublic(BaseModel):
    id: str
    name: str
    city: str
    country: str
    operator: str
    status: str
    available_from: str | None
    experimental: bool
    budget_eur: int | None
    partitions: list[PartitionPublic]
    health: SiteHealthPublic | None = Field(
        default=None, description="Whether the site's Slurm answers; None: not followed."
    )


class UsageRecordPublic(BaseModel):
    job_id: str
    site: str
    partition: str
    allocation_id: str | None
    source: str = Field(description="sacct (the site's accounting), local or simulated.")
    external_id: str | None
    gpus: int
    elapsed_s: int
    gpu_seconds: int
    alloc_tres: str | None
    started_at: datetime | None
    ended_at: datetime | None


class ProjectUsage(BaseModel):
    project_id: str
    gpu_seconds: int
    gpu_hours: float
    by_partition: dict[str, int] = Field(description="'site/partition' -> GPU-seconds.")
    records: list[UsageRecordPublic]


class ReconcileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: str | None = Field(default=None, max_length=64, description="Default: every site.")
    dry_run: StrictBool = Field(default=False, description="Only print the sacctmgr commands.")


class ReconcileResult(BaseModel):
    site: str
    cluster: str
    commands: list[str] = Field(description="sacctmgr commands run (or, dry run, to run).")
    applied: bool
    error: str


class AuditEventPublic(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    org_id: str | None
    data: dict[str, Any]
    hash: str


class AuditVerifyPublic(BaseModel):
    ok: bool
    checked: int
    broken_seq: int | None
    problem: str
