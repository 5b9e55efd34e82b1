"""Uploads: a version arrives in chunks at the dataset's home site, each checked against its
SHA-256 and exact size, sealed (AES-256-GCM) and written as one part of the store's object.
An interrupted upload resumes: ``status`` lists the chunks the store holds, and only the rest
are sent again. ``complete`` checks the whole content's SHA-256 and only then writes the
version, its replica and its transfer, in one transaction: no version without all its chunks.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aifactory.db.data_tables import (
    Dataset,
    DatasetReplica,
    DatasetTransfer,
    DatasetUpload,
    DatasetVersion,
    UploadChunk,
)
from aifactory.db.tables import table
from aifactory.domain.data import (
    CHUNK_OVERHEAD,
    MAX_CHUNK_BYTES,
    chunk_count,
    chunk_plain_size,
)
from aifactory.services import audit
from aifactory.services.data import datasets
from aifactory.services.data.datasets import Need
from aifactory.services.data.stores import DataPlane
from aifactory.services.errors import Conflict, Invalid, NotFound
from aifactory.services.identity import Principal
from aifactory.services.ids import new_id, utcnow
from aifactory.storage.crypto import chunk_aad, open_sealed, seal_into

SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_PARTS = 10_000  # S3's limit on the parts of one multipart upload
OPEN, COMPLETED, ABORTED = "open", "completed", "aborted"


def object_key(dataset_id: str, sha256: str) -> str:
    """A version's object in a site's store: content-addressed within its dataset."""
    return f"{dataset_id}/{sha256}"


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str | None = None


def _chunk_bytes_for(size: int, preferred: int) -> int:
    """The preferred chunk size, larger when the version would need over MAX_PARTS chunks."""
    need = -(-size // MAX_PARTS)
    if need <= preferred:
        return preferred
    mib = 1024 * 1024
    return -(-need // mib) * mib


def begin(
    session: Session,
    principal: Principal,
    plane: DataPlane,
    dataset_id: str,
    *,
    size: int,
    sha256: str,
    files: list[FileEntry],
) -> DatasetUpload:
    ds = datasets.get(session, principal, dataset_id, Need.WRITE)
    if not SHA256.match(sha256):
        raise Invalid.one("sha256", "64 lower-case hexadecimal digits")
    chunk_bytes = _chunk_bytes_for(size, plane.chunk_bytes)
    if chunk_bytes > MAX_CHUNK_BYTES:
        most = MAX_PARTS * MAX_CHUNK_BYTES
        raise Invalid.one("size", f"a version holds at most {most} bytes")
    if files and sum(f.size for f in files) > size:
        raise Invalid.one("files", "the files' sizes add up to more than the version's size")
    same = session.execute(
        select(DatasetVersion.number).where(
            DatasetVersion.dataset_id == ds.id, DatasetVersion.sha256 == sha256
        )
    ).scalar_one_or_none()
    if same is not None:
        raise Conflict(f"version {same} of {ds.name} has the same content (SHA-256 {sha256})")
    # The same content again while an upload of it is open: that upload, to resume.
    earlier = (
        session.execute(
            select(DatasetUpload).where(
                DatasetUpload.dataset_id == ds.id,
                DatasetUpload.sha256 == sha256,
                DatasetUpload.size == size,
                DatasetUpload.state == OPEN,
            )
        )
        .scalars()
        .first()
    )
    if earlier is not None:
        return earlier
    store = plane.store(ds.home_site)
    handle = store.begin(object_key(ds.id, sha256), chunk_bytes + CHUNK_OVERHEAD)
    row = DatasetUpload(
        id=new_id("upl"),
        dataset_id=ds.id,
        site_id=ds.home_site,
        sha256=sha256,
        size=size,
        chunk_bytes=chunk_bytes,
        chunks=chunk_count(size, chunk_bytes),
        files=[f.__dict__ for f in files],
        store_handle=handle,
        state=OPEN,
        created_by=principal.user_id,
        created_at=utcnow(),
    )
    session.add(row)
    plane.start_digest(row.id)
    return row


def get_upload(
    session: Session, principal: Principal, dataset_id: str, upload_id: str
) -> tuple[Dataset, DatasetUpload]:
    ds = datasets.get(session, principal, dataset_id, Need.WRITE)
    up = session.get(DatasetUpload, upload_id)
    if up is None or up.dataset_id != ds.id:
        raise NotFound("upload", upload_id)
    return ds, up


def received(session: Session, upload_id: str) -> dict[int, str]:
    return dict(
        session.execute(
            select(UploadChunk.index, UploadChunk.sha256).where(UploadChunk.upload_id == upload_id)
        ).all()
    )


@dataclass(frozen=True)
class ChunkCheck:
    """What ``check_chunk`` found, for ``record_chunk``: the sealed bytes to store."""

    index: int
    sha256: str
    size: int
    again: bool  # the same chunk was received before: nothing to write


def check_chunk(
    up: DatasetUpload,
    index: int,
    data: bytes | bytearray | memoryview,
    given_sha256: str | None,
    seen: dict[int, str],
) -> ChunkCheck:
    if up.state != OPEN:
        raise Conflict(f"upload {up.id} is {up.state}")
    if not 0 <= index < up.chunks:
        raise Invalid.one("index", f"chunk index must be in 0..{up.chunks - 1}")
    if given_sha256 is None or not SHA256.match(given_sha256):
        raise Invalid.one(
            "X-Chunk-SHA256", "the chunk's SHA-256 (64 lower-case hex digits) is required"
        )
    want = chunk_plain_size(index, up.size, up.chunk_bytes)
    if len(data) != want:
        word = "truncated" if len(data) < want else "oversized"
        raise Invalid.one("body", f"chunk {index} is {word}: {len(data)} bytes, expected {want}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != given_sha256:
        raise Invalid.one(
            "X-Chunk-SHA256", f"chunk {index} has SHA-256 {digest}, not {given_sha256}"
        )
    earlier = seen.get(index)
    if earlier is not None and earlier != digest:
        raise Conflict(f"chunk {index} was received before with other content")
    return ChunkCheck(index, digest, len(data), earlier is not None)


def store_chunk(
    plane: DataPlane,
    ds: Dataset,
    up: DatasetUpload,
    data: bytes | bytearray | memoryview,
    check: ChunkCheck,
) -> None:
    """Seal and write one chunk (outside any transaction: the bytes go first, the row after)."""
    if check.again:
        return
    key = plane.keyring().unwrap(ds.key_id, ds.wrapped_key, ds.id)
    out = plane.buffers.take(len(data) + CHUNK_OVERHEAD)
    try:
        sealed = seal_into(key, data, chunk_aad(ds.id, up.sha256, check.index), out)
        plane.store(up.site_id).put_part(
            object_key(ds.id, up.sha256), up.store_handle, check.index + 1, sealed
        )
        del sealed
    finally:
        plane.buffers.give(out)
    plane.feed(up.id, check.index, data, check.sha256)


def record_chunk(session: Session, up: DatasetUpload, check: ChunkCheck) -> None:
    if check.again:
        return
    if session.get(UploadChunk, (up.id, check.index)) is None:
        session.add(
            UploadChunk(upload_id=up.id, index=check.index, sha256=check.sha256, size=check.size)
        )


def _digest_by_reading(plane: DataPlane, ds: Dataset, up: DatasetUpload) -> str:
    """The content's SHA-256 from the stored parts (when this process did not see every chunk
    in order)."""
    key = plane.keyring().unwrap(ds.key_id, ds.wrapped_key, ds.id)
    store = plane.store(up.site_id)
    digest = hashlib.sha256()
    # Parts are read back through the finished object: complete() joined them.
    okey = object_key(ds.id, up.sha256)
    for index in range(up.chunks):
        plain = chunk_plain_size(index, up.size, up.chunk_bytes)
        sealed = store.read(okey, index * (up.chunk_bytes + CHUNK_OVERHEAD), plain + CHUNK_OVERHEAD)
        digest.update(open_sealed(key, sealed, chunk_aad(ds.id, up.sha256, index)))
    return digest.hexdigest()


def finish_store(plane: DataPlane, ds: Dataset, up: DatasetUpload, have: dict[int, str]) -> None:
    """Join the parts into the object and check the whole content's SHA-256 (the object is
    deleted when it does not match: the client sends the version again)."""
    missing = [i for i in range(up.chunks) if i not in have]
    if missing:
        shown = ", ".join(str(i) for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise Conflict(f"upload {up.id} lacks {len(missing)} of {up.chunks} chunks: {shown}")
    running = plane.running_digest(up.id, up.chunks)
    store = plane.store(up.site_id)
    okey = object_key(ds.id, up.sha256)
    store.complete(okey, up.store_handle, up.chunks)
    digest = running or _digest_by_reading(plane, ds, up)
    if digest != up.sha256:
        store.delete(okey)
        raise Invalid.one("sha256", f"the content's SHA-256 is {digest}, not {up.sha256}")


def record_version(
    session: Session,
    principal: Principal,
    plane: DataPlane,
    ds: Dataset,
    up: DatasetUpload,
    legal_basis: str,
) -> DatasetVersion:
    number = (
        session.execute(
            select(func.max(DatasetVersion.number)).where(DatasetVersion.dataset_id == ds.id)
        ).scalar_one()
        or 0
    ) + 1
    now = utcnow()
    v = DatasetVersion(
        id=new_id("dsv"),
        dataset_id=ds.id,
        number=number,
        sha256=up.sha256,
        size=up.size,
        chunk_bytes=up.chunk_bytes,
        chunks=up.chunks,
        files=up.files or [{"path": ds.name, "size": up.size, "sha256": up.sha256}],
        created_by=principal.user_id,
        created_at=now,
    )
    session.add(v)
    session.flush()
    session.add(
        DatasetReplica(version_id=v.id, site_id=up.site_id, dataset_id=ds.id, created_at=now)
    )
    session.add(
        DatasetTransfer(
            dataset_id=ds.id,
            version_id=v.id,
            kind="upload",
            from_site=None,
            to_site=up.site_id,
            from_country=None,
            to_country=plane.site_country(up.site_id),
            actor=principal.user_id,
            legal_basis=legal_basis,
            bytes=up.size,
            at=now,
        )
    )
    up.state = COMPLETED
    up.version_id = v.id
    session.execute(table(UploadChunk).delete().where(UploadChunk.upload_id == up.id))
    data: dict[str, Any] = {
        "version": number,
        "sha256": up.sha256,
        "size": up.size,
        "site": up.site_id,
    }
    audit.append(
        session,
        actor=principal.user_id,
        action="dataset.version.create",
        object_type="dataset",
        object_id=ds.id,
        org_id=ds.org_id,
        data=data,
    )
    return v


def abort(
    session: Session, principal: Principal, plane: DataPlane, dataset_id: str, upload_id: str
) -> DatasetUpload:
    ds, up = get_upload(session, principal, dataset_id, upload_id)
    if up.state != OPEN:
        raise Conflict(f"upload {up.id} is {up.state}")
    plane.store(up.site_id).abort(object_key(ds.id, up.sha256), up.store_handle)
    up.state = ABORTED
    plane.running_digest(up.id, -1)  # forget its digest
    session.execute(table(UploadChunk).delete().where(UploadChunk.upload_id == up.id))
    return up
