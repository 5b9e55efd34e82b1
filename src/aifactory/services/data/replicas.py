"""Reading a version back (chunk by chunk, each authenticated before a byte is served),
staging a replica to another site (the sealed chunks are copied as they are: the data key is
the dataset's, not the site's) and putting a version where a job reads it.

Every copy is a row of the transfer log; a stage the residency policy forbids is refused and
recorded as an audit event.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory.db.data_tables import Dataset, DatasetReplica, DatasetTransfer, DatasetVersion
from aifactory.domain.data import CHUNK_OVERHEAD, chunk_plain_size
from aifactory.executors.slurm.files import write_local
from aifactory.services import audit
from aifactory.services.data import datasets
from aifactory.services.data.datasets import Need, policy_of
from aifactory.services.data.stores import DataPlane
from aifactory.services.data.uploads import object_key
from aifactory.services.errors import Conflict, Invalid, Refused
from aifactory.services.identity import Principal
from aifactory.services.ids import utcnow
from aifactory.storage.crypto import chunk_aad, open_sealed


@dataclass(frozen=True)
class Source:
    """Where a version's bytes are read from, and how to open them."""

    dataset_id: str
    sha256: str
    size: int
    chunk_bytes: int
    chunks: int
    site: str
    key: bytes

    def span(self, index: int) -> tuple[int, int]:
        plain = chunk_plain_size(index, self.size, self.chunk_bytes)
        return index * (self.chunk_bytes + CHUNK_OVERHEAD), plain + CHUNK_OVERHEAD


def replica_sites(session: Session, version_id: str) -> list[str]:
    return list(
        session.execute(
            select(DatasetReplica.site_id)
            .where(DatasetReplica.version_id == version_id)
            .order_by(DatasetReplica.created_at)
        ).scalars()
    )


def source(
    plane: DataPlane, ds: Dataset, v: DatasetVersion, sites: list[str], prefer: str | None = None
) -> Source:
    if not sites:
        raise Conflict(f"{ds.name}@{v.number} has no replica at any site")
    site = prefer if prefer in sites else sites[0]
    key = plane.keyring().unwrap(ds.key_id, ds.wrapped_key, ds.id)
    return Source(ds.id, v.sha256, v.size, v.chunk_bytes, v.chunks, site, key)


def read_chunk(plane: DataPlane, src: Source, index: int) -> bytes:
    """One chunk's plaintext; ``Tampered`` if a bit of it changed at rest. The sealed bytes
    are read into a reused buffer; the plaintext is a new object (a response may still hold
    it while it is sent)."""
    offset, length = src.span(index)
    buf = plane.buffers.take(length)
    try:
        view = memoryview(buf)[:length]
        got = plane.store(src.site).read_into(object_key(src.dataset_id, src.sha256), offset, view)
        return open_sealed(src.key, view[:got], chunk_aad(src.dataset_id, src.sha256, index))
    finally:
        del view
        plane.buffers.give(buf)


def stream(plane: DataPlane, src: Source, start: int = 0) -> Iterator[bytes]:
    """The plaintext from byte ``start`` on, a chunk at a time."""
    if src.size == 0:
        return
    first = start // src.chunk_bytes
    for index in range(first, src.chunks):
        data = read_chunk(plane, src, index)
        yield data[start - index * src.chunk_bytes :] if index == first else data


def record_download(
    session: Session,
    principal: Principal,
    ds: Dataset,
    v: DatasetVersion,
    site: str,
    plane: DataPlane,
    start: int,
    purpose: str,
) -> None:
    session.add(
        DatasetTransfer(
            dataset_id=ds.id,
            version_id=v.id,
            kind="download",
            from_site=site,
            to_site=None,
            from_country=plane.site_country(site),
            to_country=None,
            actor=principal.user_id,
            legal_basis=purpose or "download by a user with read access",
            bytes=max(0, v.size - start),
            at=utcnow(),
        )
    )
    audit.append(
        session,
        actor=principal.user_id,
        action="dataset.download",
        object_type="dataset",
        object_id=ds.id,
        org_id=ds.org_id,
        data={"version": v.number, "from_site": site, "start": start},
    )


def copy(plane: DataPlane, src: Source, to_site: str) -> None:
    """Copy the sealed object to ``to_site``'s store, part by part, unchanged."""
    store = plane.store(to_site)
    okey = object_key(src.dataset_id, src.sha256)
    if store.size(okey) is not None:
        return
    handle = store.begin(okey, src.chunk_bytes + CHUNK_OVERHEAD)
    source_store = plane.store(src.site)
    try:
        for index in range(src.chunks):
            offset, length = src.span(index)
            store.put_part(okey, handle, index + 1, source_store.read(okey, offset, length))
        store.complete(okey, handle, src.chunks)
    except BaseException:
        store.abort(okey, handle)
        raise


def refuse_stage(actor: str, ds: Dataset, site: str, country: str, why: str) -> Refused:
    return Refused(
        why,
        {
            "actor": actor,
            "action": "dataset.stage.refused",
            "object_type": "dataset",
            "object_id": ds.id,
            "org_id": ds.org_id,
            "data": {"site": site, "country": country, "reason": why},
        },
    )


def stage_check(plane: DataPlane, ds: Dataset, site: str) -> str | None:
    """Why the policy forbids a replica at ``site`` (None: it admits it)."""
    rule = policy_of(ds)
    country = plane.site_country(site)
    if rule.admits(site, country, ds.home_site):
        return None
    return (
        f"dataset {ds.name}: its residency policy ({rule.describe(ds.home_site)}) does not "
        f"admit site {site} ({country})"
    )


def record_stage(
    session: Session,
    actor: str,
    plane: DataPlane,
    ds: Dataset,
    v: DatasetVersion,
    src: Source,
    to_site: str,
    legal_basis: str,
    job_id: str | None = None,
) -> None:
    now = utcnow()
    if session.get(DatasetReplica, (v.id, to_site)) is None:
        session.add(
            DatasetReplica(version_id=v.id, site_id=to_site, dataset_id=ds.id, created_at=now)
        )
    session.add(
        DatasetTransfer(
            dataset_id=ds.id,
            version_id=v.id,
            kind="stage",
            from_site=src.site,
            to_site=to_site,
            from_country=plane.site_country(src.site),
            to_country=plane.site_country(to_site),
            actor=actor,
            job_id=job_id,
            legal_basis=legal_basis,
            bytes=v.size,
            at=now,
        )
    )
    audit.append(
        session,
        actor=actor,
        action="dataset.stage",
        object_type="dataset",
        object_id=ds.id,
        org_id=ds.org_id,
        data={
            "version": v.number,
            "from_site": src.site,
            "to_site": to_site,
            "legal_basis": legal_basis,
            "job_id": job_id,
        },
    )


def site_known(plane: DataPlane, site: str) -> None:
    ids = [s.id for s in plane.catalog.sites]
    if site not in ids:
        raise Invalid.one("site", f"unknown site {site!r}", ids)


def single_file(files: list[dict[str, object]], size: int) -> str | None:
    """The file name a version of one plain file is written as; None for a pushed folder (a
    tar, unpacked where the job reads it: its one file, if it holds one, is smaller than it)."""
    if len(files) == 1 and files[0].get("size") == size:
        path = str(files[0].get("path", ""))
        if path and "/" not in path:
            return os.path.basename(path)
    return None


def materialize(
    plane: DataPlane, src: Source, files: list[dict[str, object]], target: Path
) -> None:
    """Write a version's plaintext in ``target``: its one file, or its folder unpacked."""
    write_local(str(target), single_file(files, src.size), stream(plane, src))


def stage(
    session: Session,
    principal: Principal,
    plane: DataPlane,
    dataset_id: str,
    number: int,
    site: str,
    legal_basis: str,
) -> DatasetVersion:
    """Stage a replica at ``site`` by a user: refused (403, audit event) where the policy does
    not admit the site. The copy runs in the request: a large version takes its time."""
    site_known(plane, site)
    ds = datasets.get(session, principal, dataset_id, Need.WRITE)
    v = datasets.version(session, principal, ds, number)
    if not legal_basis.strip():
        raise Invalid.one("legal_basis", "say on what basis the copy is made")
    why = stage_check(plane, ds, site)
    if why is not None:
        raise refuse_stage(principal.user_id, ds, site, plane.site_country(site), why)
    sites = replica_sites(session, v.id)
    if site in sites:
        raise Conflict(f"{ds.name}@{v.number} already has a replica at {site}")
    src = source(plane, ds, v, sites)
    copy(plane, src, site)
    record_stage(session, principal.user_id, plane, ds, v, src, site, legal_basis)
    return v
