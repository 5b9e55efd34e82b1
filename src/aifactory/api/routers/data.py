"""Datasets: create, policy, uploads in chunks (resumable), versions, download, replicas,
grants, the transfer log, and the master key's rotation."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.api.deps import Caller, Rt
from aifactory.api.schemas.data import (
    ChunkReceived,
    DatasetCreate,
    DatasetDetail,
    DatasetPublic,
    GrantCreate,
    GrantPublic,
    KeyRotation,
    PolicyChange,
    ReplicaCreate,
    ReplicaPublic,
    TransferPublic,
    UploadComplete,
    UploadCreate,
    UploadPublic,
    VersionPublic,
)
from aifactory.db.data_tables import Dataset, DatasetReplica, DatasetUpload, DatasetVersion
from aifactory.db.engine import Database
from aifactory.domain.data import MAX_CHUNK_BYTES
from aifactory.services.data import datasets, keys, placement, replicas, uploads
from aifactory.services.data.datasets import Need, PolicyInput
from aifactory.services.data.stores import DataPlane
from aifactory.services.errors import Conflict, Invalid
from aifactory.services.identity import Principal
from aifactory.storage.buffers import BufferPool
from aifactory.storage.crypto import Tampered

router = APIRouter(prefix="/datasets", tags=["data"])
keys_router = APIRouter(prefix="/data", tags=["data"])

_PIECE = 1024 * 1024
# Path integers within what the database stores (a version number, a chunk index).
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]
ChunkIndex = Annotated[int, Path(ge=0, le=2**31 - 1)]
CHUNK_PATH = r"^/api/v1/datasets/[^/]+/uploads/[^/]+/chunks/[0-9]+$"
CHUNK_MAX_BYTES = MAX_CHUNK_BYTES


def dataset_view(ds: Dataset) -> DatasetPublic:
    policy = datasets.policy_of(ds)
    return DatasetPublic.model_validate(
        {
            **{
                k: getattr(ds, k)
                for k in (
                    "id",
                    "project_id",
                    "org_id",
                    "name",
                    "description",
                    "classification",
                    "licence",
                    "provenance",
                    "origin_country",
                    "home_site",
                    "created_at",
                    "updated_at",
                )
            },
            "policy": policy.as_dict(),
            "policy_text": policy.describe(ds.home_site),
        }
    )


def version_view(session: Session, plane: DataPlane, v: DatasetVersion) -> VersionPublic:
    reps = session.execute(
        select(DatasetReplica)
        .where(DatasetReplica.version_id == v.id)
        .order_by(DatasetReplica.created_at)
    ).scalars()
    return VersionPublic(
        number=v.number,
        sha256=v.sha256,
        size=v.size,
        chunks=v.chunks,
        files=v.files,  # type: ignore[arg-type]
        created_by=v.created_by,
        created_at=v.created_at,
        replicas=[
            ReplicaPublic(
                site=r.site_id, country=plane.site_country(r.site_id), created_at=r.created_at
            )
            for r in reps
        ],
    )


def upload_view(session: Session, up: DatasetUpload) -> UploadPublic:
    number = None
    if up.version_id is not None:
        v = session.get(DatasetVersion, up.version_id)
        number = v.number if v is not None else None
    return UploadPublic(
        id=up.id,
        dataset_id=up.dataset_id,
        site=up.site_id,
        state=up.state,
        size=up.size,
        sha256=up.sha256,
        chunk_bytes=up.chunk_bytes,
        chunks=up.chunks,
        received=sorted(uploads.received(session, up.id)),
        version=number,
    )


def _policy(body: PolicyChange | None) -> PolicyInput | None:
    if body is None:
        return None
    return PolicyInput(body.kind, tuple(body.countries), tuple(body.sites))


@router.post(
    "",
    operation_id="create_dataset",
    response_model=DatasetPublic,
    status_code=status.HTTP_201_CREATED,
)
def create_dataset(body: DatasetCreate, runtime: Rt, caller: Caller) -> DatasetPublic:
    with runtime.db.write() as session:
        ds = datasets.create(
            session,
            caller,
            runtime.data,
            project_id=body.project_id,
            name=body.name,
            description=body.description,
            classification=body.classification,
            licence=body.licence,
            provenance=body.provenance.model_dump(),
            origin_country=body.origin_country,
            policy=(
                PolicyInput(
                    body.policy.kind, tuple(body.policy.countries), tuple(body.policy.sites)
                )
                if body.policy is not None
                else None
            ),
            home_site=body.home_site,
        )
        return dataset_view(ds)


@router.get("", operation_id="list_datasets", response_model=list[DatasetPublic])
def list_datasets(
    runtime: Rt, caller: Caller, project_id: Annotated[str | None, Query(max_length=64)] = None
) -> list[DatasetPublic]:
    with runtime.db.read() as session:
        return [dataset_view(d) for d in datasets.list_datasets(session, caller, project_id)]


@router.get("/{dataset_id}", operation_id="get_dataset", response_model=DatasetDetail)
def get_dataset(dataset_id: str, runtime: Rt, caller: Caller) -> DatasetDetail:
    with runtime.db.read() as session:
        ds = datasets.get(session, caller, dataset_id)
        return DatasetDetail(
            **dataset_view(ds).model_dump(),
            versions=[
                version_view(session, runtime.data, v)
                for v in datasets.versions(session, caller, ds.id)
            ],
            grants=[
                GrantPublic.model_validate(g, from_attributes=True)
                for g in datasets.grants(session, caller, ds.id)
            ],
        )


@router.put("/{dataset_id}/policy", operation_id="set_dataset_policy", response_model=DatasetPublic)
def set_policy(dataset_id: str, body: PolicyChange, runtime: Rt, caller: Caller) -> DatasetPublic:
    """A wider policy needs an owner of the organisation; every change is an audit event."""
    with runtime.db.write() as session:
        given = _policy(body)
        assert given is not None
        return dataset_view(
            datasets.set_policy(session, caller, runtime.data, dataset_id, given, body.reason)
        )


@router.post(
    "/{dataset_id}/uploads",
    operation_id="begin_upload",
    response_model=UploadPublic,
    status_code=status.HTTP_201_CREATED,
)
def begin_upload(dataset_id: str, body: UploadCreate, runtime: Rt, caller: Caller) -> UploadPublic:
    with runtime.db.write() as session:
        up = uploads.begin(
            session,
            caller,
            runtime.data,
            dataset_id,
            size=body.size,
            sha256=body.sha256,
            files=[uploads.FileEntry(f.path, f.size, f.sha256) for f in body.files],
        )
        session.flush()
        return upload_view(session, up)


@router.get(
    "/{dataset_id}/uploads/{upload_id}", operation_id="get_upload", response_model=UploadPublic
)
def get_upload(dataset_id: str, upload_id: str, runtime: Rt, caller: Caller) -> UploadPublic:
    """Which chunks the site holds: an interrupted upload sends only the others."""
    with runtime.db.read() as session:
        _, up = uploads.get_upload(session, caller, dataset_id, upload_id)
        return upload_view(session, up)


def _put_chunk(
    runtime_data: DataPlane,
    db: Database,
    caller: Principal,
    dataset_id: str,
    upload_id: str,
    index: int,
    body: memoryview,
    digest: str | None,
) -> ChunkReceived:
    with db.read() as session:
        ds, up = uploads.get_upload(session, caller, dataset_id, upload_id)
        check = uploads.check_chunk(up, index, body, digest, uploads.received(session, up.id))
        session.expunge_all()
    uploads.store_chunk(runtime_data, ds, up, body, check)
    with db.write() as session:
        up2 = session.get(DatasetUpload, up.id)
        assert up2 is not None
        if up2.state != uploads.OPEN:
            raise Conflict(f"upload {up.id} is {up2.state}")
        uploads.record_chunk(session, up2, check)
        session.flush()
        return ChunkReceived(
            index=index, received=len(uploads.received(session, up.id)), chunks=up.chunks
        )


async def _read_body(request: Request, pool: BufferPool) -> tuple[bytearray, int]:
    """The body in one reused buffer of a chunk's size (not a list of pieces joined after: a
    chunk is megabytes, and fresh copies of each would multiply the server's memory)."""
    declared = request.headers.get("content-length", "")
    buf = pool.take(int(declared)) if declared.isdigit() else bytearray()
    seen = 0
    async for piece in request.stream():
        end = seen + len(piece)
        if end > len(buf):
            buf.extend(bytes(end - len(buf)))
        buf[seen:end] = piece
        seen = end
    return buf, seen


@router.put(
    "/{dataset_id}/uploads/{upload_id}/chunks/{index}",
    operation_id="put_chunk",
    response_model=ChunkReceived,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def put_chunk(
    dataset_id: str,
    upload_id: str,
    index: ChunkIndex,
    request: Request,
    runtime: Rt,
    caller: Caller,
    x_chunk_sha256: Annotated[
        str,
        Header(
            pattern=r"^[0-9a-f]{64}$",
            description="The SHA-256 of this chunk's bytes, 64 lower-case hex digits.",
        ),
    ],
) -> ChunkReceived:
    """One chunk's plaintext bytes (exactly ``chunk_bytes``, the last one the rest)."""
    buf, size = await _read_body(request, runtime.data.buffers)
    try:
        return await run_in_threadpool(
            _put_chunk,
            runtime.data,
            runtime.db,
            caller,
            dataset_id,
            upload_id,
            index,
            memoryview(buf)[:size],
            x_chunk_sha256,
        )
    finally:
        runtime.data.buffers.give(buf)


@router.post(
    "/{dataset_id}/uploads/{upload_id}/complete",
    operation_id="complete_upload",
    response_model=VersionPublic,
    status_code=status.HTTP_201_CREATED,
)
def complete_upload(
    dataset_id: str, upload_id: str, runtime: Rt, caller: Caller, body: UploadComplete | None = None
) -> VersionPublic:
    """The content's SHA-256 is checked; only then is the version written (with its replica
    at the home site and its transfer), all at once."""
    body = body or UploadComplete()
    with runtime.db.read() as session:
        ds, up = uploads.get_upload(session, caller, dataset_id, upload_id)
        if up.state != uploads.OPEN:
            raise Conflict(f"upload {up.id} is {up.state}")
        have = uploads.received(session, up.id)
        session.expunge_all()
    uploads.finish_store(runtime.data, ds, up, have)
    with runtime.db.write() as session:
        ds2, up2 = uploads.get_upload(session, caller, dataset_id, upload_id)
        if up2.state != uploads.OPEN:
            raise Conflict(f"upload {up.id} is {up2.state}")
        v = uploads.record_version(session, caller, runtime.data, ds2, up2, body.legal_basis)
        session.flush()
        view = version_view(session, runtime.data, v)
    runtime.data.buffers.trim()
    return view


@router.delete(
    "/{dataset_id}/uploads/{upload_id}",
    operation_id="abort_upload",
    status_code=status.HTTP_204_NO_CONTENT,
)
def abort_upload(dataset_id: str, upload_id: str, runtime: Rt, caller: Caller) -> Response:
    with runtime.db.write() as session:
        uploads.abort(session, caller, runtime.data, dataset_id, upload_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{dataset_id}/versions", operation_id="list_versions", response_model=list[VersionPublic]
)
def list_versions(dataset_id: str, runtime: Rt, caller: Caller) -> list[VersionPublic]:
    with runtime.db.read() as session:
        return [
            version_view(session, runtime.data, v)
            for v in datasets.versions(session, caller, dataset_id)
        ]


def _range_start(header: str | None, size: int) -> int:
    if not header:
        return 0
    unit, _, spec = header.partition("=")
    start, dash, end = spec.partition("-")
    if unit.strip() != "bytes" or not dash or end.strip() or not start.strip().isdigit():
        raise Invalid.one("Range", "only 'bytes=N-' (resume from byte N) is served")
    value = int(start)
    if value > size:
        raise Invalid.one("Range", f"byte {value} is past the end ({size} bytes)")
    return value


@router.get(
    "/{dataset_id}/versions/{number}/content",
    operation_id="download_version",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        206: {"content": {"application/octet-stream": {}}},
    },
)
def download_version(
    dataset_id: str,
    number: VersionNumber,
    runtime: Rt,
    caller: Caller,
    range_: Annotated[str | None, Header(alias="Range")] = None,
    purpose: Annotated[str, Query(max_length=500)] = "",
) -> StreamingResponse:
    """The version's bytes, each chunk authenticated before it is sent (a tampered chunk
    ends the stream; its bytes are never served). ``Range: bytes=N-`` resumes."""
    plane = runtime.data
    with runtime.db.write() as session:
        ds = datasets.get(session, caller, dataset_id, Need.READ)
        v = datasets.version(session, caller, ds, number)
        start = _range_start(range_, v.size)
        src = replicas.source(
            plane, ds, v, replicas.replica_sites(session, v.id), prefer=ds.home_site
        )
        replicas.record_download(session, caller, ds, v, src.site, plane, start, purpose)
    chunks = replicas.stream(plane, src, start)
    try:
        held: list[bytes] = [next(chunks, b"")]
    except Tampered:
        raise Conflict(
            f"{ds.name}@{v.number} at {src.site} failed its integrity check; nothing is served"
        ) from None

    def body() -> Iterator[memoryview]:
        # In pieces of 1 MiB: the server's socket buffer then holds at most one piece, not a
        # copy of a whole chunk. The first chunk is not kept for the rest of the stream.
        for data in itertools.chain([held.pop()], chunks):
            view = memoryview(data)
            for at in range(0, len(view), _PIECE):
                yield view[at : at + _PIECE]
        plane.buffers.trim()

    headers = {
        "Content-Length": str(v.size - start),
        "X-Content-SHA256": v.sha256,
        "Accept-Ranges": "bytes",
    }
    code = status.HTTP_200_OK
    if start:
        headers["Content-Range"] = f"bytes {start}-{v.size - 1}/{v.size}"
        code = status.HTTP_206_PARTIAL_CONTENT
    return StreamingResponse(
        body(), status_code=code, media_type="application/octet-stream", headers=headers
    )


@router.post(
    "/{dataset_id}/versions/{number}/replicas",
    operation_id="stage_replica",
    response_model=VersionPublic,
    status_code=status.HTTP_201_CREATED,
)
def stage_replica(
    dataset_id: str, number: VersionNumber, body: ReplicaCreate, runtime: Rt, caller: Caller
) -> VersionPublic:
    """Copy a version to another site, if its policy admits the site (else 403, audited)."""
    with runtime.db.write() as session:
        v = replicas.stage(
            session, caller, runtime.data, dataset_id, number, body.site, body.legal_basis
        )
        session.flush()
        return version_view(session, runtime.data, v)


@router.get(
    "/{dataset_id}/transfers", operation_id="list_transfers", response_model=list[TransferPublic]
)
def list_transfers(dataset_id: str, runtime: Rt, caller: Caller) -> list[TransferPublic]:
    """The transfer log: every copy of the dataset's bytes, who, when, from, to, and why."""
    with runtime.db.read() as session:
        rows = datasets.transfers(session, caller, dataset_id)
        numbers = {v.id: v.number for v in datasets.versions(session, caller, dataset_id)}
        return [
            TransferPublic(
                kind=t.kind,
                version=numbers.get(t.version_id, 0),
                from_site=t.from_site,
                to_site=t.to_site,
                from_country=t.from_country,
                to_country=t.to_country,
                actor=t.actor,
                job_id=t.job_id,
                legal_basis=t.legal_basis,
                bytes=t.bytes,
                at=t.at,
            )
            for t in rows
        ]


@router.post(
    "/{dataset_id}/grants",
    operation_id="grant_dataset",
    response_model=GrantPublic,
    status_code=status.HTTP_201_CREATED,
)
def grant_dataset(dataset_id: str, body: GrantCreate, runtime: Rt, caller: Caller) -> GrantPublic:
    with runtime.db.write() as session:
        g = datasets.grant(
            session, caller, dataset_id, project_id=body.project_id, expires_at=body.expires_at
        )
        session.flush()
        return GrantPublic.model_validate(g, from_attributes=True)


@router.get("/{dataset_id}/grants", operation_id="list_grants", response_model=list[GrantPublic])
def list_grants(dataset_id: str, runtime: Rt, caller: Caller) -> list[GrantPublic]:
    with runtime.db.read() as session:
        return [
            GrantPublic.model_validate(g, from_attributes=True)
            for g in datasets.grants(session, caller, dataset_id)
        ]


@router.delete(
    "/{dataset_id}/grants/{grant_id}", operation_id="revoke_grant", response_model=GrantPublic
)
def revoke_grant(dataset_id: str, grant_id: str, runtime: Rt, caller: Caller) -> GrantPublic:
    """Jobs of the grantee reading the dataset that have not started are cancelled."""
    with runtime.db.write() as session:
        g = placement.revoke(session, caller, dataset_id, grant_id)
        session.flush()
        return GrantPublic.model_validate(g, from_attributes=True)


@keys_router.post("/keys/rotate", operation_id="rotate_keys", response_model=KeyRotation)
def rotate_keys(runtime: Rt, caller: Caller) -> KeyRotation:
    """Admins: re-read the master keys and re-wrap every data key with the current one (the
    data itself is not re-encrypted)."""
    with runtime.db.write() as session:
        current, count = keys.rotate(session, caller, runtime.data)
    return KeyRotation(current=current, rewrapped=count)
