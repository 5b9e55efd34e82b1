"""Request and response models of the data capability: datasets, uploads, versions,
replicas, grants and the transfer log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from aifactory.domain.data import Classification, ResidencyKind
from aifactory.domain.jobspec import JsonInt
from aifactory.services.ids import as_utc

# SQLite gives times back without their zone; every stored time is UTC.
Utc = Annotated[datetime, AfterValidator(as_utc)]

DATASET_NAME = r"^[a-z0-9][a-z0-9._-]{0,99}$"
Country = Annotated[str, Field(pattern=r"^([A-Z]{2}|EU/EEA)$")]
Site = Annotated[str, Field(min_length=1, max_length=64)]
Text = Annotated[str, Field(max_length=2000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Provenance(Strict):
    """Where the data comes from: needed for the AI Act's training-data summary."""

    sources: list[Text] = Field(default_factory=list, max_length=100)
    collection_method: Text = ""
    tdm_opt_outs_respected: bool | None = Field(
        default=None,
        description="Whether text-and-data-mining opt-outs were respected (None: not known).",
    )


class PolicySpec(Strict):
    kind: ResidencyKind
    countries: list[Country] = Field(
        default_factory=list, max_length=60, description="ISO codes, or EU/EEA (kind countries)."
    )
    sites: list[Site] = Field(default_factory=list, max_length=60, description="Kind sites.")


class PolicyChange(PolicySpec):
    reason: Text = Field(min_length=1, description="Why: recorded in the audit trail.")


class DatasetCreate(Strict):
    project_id: str = Field(max_length=64)
    name: str = Field(pattern=DATASET_NAME, description="Lower-case; unique in its project.")
    description: Text = ""
    classification: Classification
    licence: str = Field(min_length=1, max_length=200, description="e.g. CC-BY-4.0, proprietary.")
    provenance: Provenance = Field(default_factory=Provenance)
    origin_country: Country | None = Field(
        default=None, description="Where the data was collected; default: the organisation's."
    )
    policy: PolicySpec | None = Field(
        default=None,
        description=(
            "Where it may be stored and processed. Default: personal data EU/EEA, special "
            "categories the country of origin, other data anywhere."
        ),
    )
    home_site: Site | None = Field(
        default=None, description="Where uploads go; default: the first site the policy admits."
    )


class DatasetPublic(BaseModel):
    id: str
    project_id: str
    org_id: str
    name: str
    description: str
    classification: Classification
    licence: str
    provenance: Provenance
    origin_country: str
    home_site: str
    policy: PolicySpec
    policy_text: str = Field(description="The policy in words.")
    created_at: Utc
    updated_at: Utc


class FileSpec(Strict):
    path: str = Field(min_length=1, max_length=4096)
    size: JsonInt = Field(ge=0, le=2**62)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class UploadCreate(Strict):
    size: JsonInt = Field(ge=0, le=2**62, description="The version's size in bytes.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Of the whole content.")
    files: list[FileSpec] = Field(
        default_factory=list, max_length=100_000, description="What the version holds."
    )


class UploadPublic(BaseModel):
    id: str
    dataset_id: str
    site: str
    state: str
    size: int
    sha256: str
    chunk_bytes: int
    chunks: int
    received: list[int] = Field(description="Chunk indexes the site holds.")
    version: int | None = None


class UploadComplete(Strict):
    legal_basis: Text = Field(
        default="upload by the dataset's project to its home site",
        description="Recorded in the transfer log.",
    )


class ChunkReceived(BaseModel):
    index: int
    received: int = Field(description="Chunks received so far.")
    chunks: int


class ReplicaPublic(BaseModel):
    site: str
    country: str
    created_at: Utc


class VersionPublic(BaseModel):
    number: int
    sha256: str
    size: int
    chunks: int
    files: list[FileSpec]
    created_by: str
    created_at: Utc
    replicas: list[ReplicaPublic]


class ReplicaCreate(Strict):
    site: Site
    legal_basis: Text = Field(min_length=1, description="Why the copy is made; logged.")


class GrantCreate(Strict):
    project_id: str = Field(max_length=64)
    expires_at: datetime | None = None


class GrantPublic(BaseModel):
    id: str
    dataset_id: str
    project_id: str
    granted_by: str
    created_at: Utc
    expires_at: Utc | None
    revoked_at: Utc | None


class TransferPublic(BaseModel):
    kind: str
    version: int
    from_site: str | None
    to_site: str | None
    from_country: str | None
    to_country: str | None
    actor: str
    job_id: str | None
    legal_basis: str
    bytes: int
    at: Utc


class DatasetDetail(DatasetPublic):
    versions: list[VersionPublic]
    grants: list[GrantPublic]


class KeyRotation(BaseModel):
    current: str = Field(description="The master key id every data key is wrapped by now.")
    rewrapped: int
