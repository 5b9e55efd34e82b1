"""Small builders for the data tests: a dataset, a version pushed in chunks over the API."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.conftest import Actor


def make_dataset(actor: Actor, project_id: str, name: str = "notes", **kw: Any) -> dict[str, Any]:
    body = {
        "project_id": project_id,
        "name": name,
        "classification": "internal",
        "licence": "CC-BY-4.0",
        **kw,
    }
    r = actor.post("/datasets", body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def begin(actor: Actor, dataset_id: str, data: bytes, **kw: Any) -> dict[str, Any]:
    r = actor.post(
        f"/datasets/{dataset_id}/uploads",
        {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **kw},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def put_chunk(actor: Actor, dataset_id: str, upload: dict[str, Any], data: bytes, i: int) -> Any:
    step = upload["chunk_bytes"]
    part = data[i * step : (i + 1) * step]
    return actor.put(
        f"/datasets/{dataset_id}/uploads/{upload['id']}/chunks/{i}",
        content=part,
        headers={
            "X-Chunk-SHA256": hashlib.sha256(part).hexdigest(),
            "Content-Type": "application/octet-stream",
        },
    )


def push(actor: Actor, dataset_id: str, data: bytes, **kw: Any) -> dict[str, Any]:
    """Upload ``data`` as a new version; returns the version."""
    up = begin(actor, dataset_id, data, **kw)
    for i in range(up["chunks"]):
        r = put_chunk(actor, dataset_id, up, data, i)
        assert r.status_code == 200, r.text
    r = actor.post(f"/datasets/{dataset_id}/uploads/{up['id']}/complete")
    assert r.status_code == 201, r.text
    return dict(r.json())
