"""The same behaviour checks against every object-store adapter: the local directory and S3
(moto's real server on loopback, a fresh bucket per test)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.config import Config

from aifactory.storage import s3
from aifactory.storage.base import ObjectStore, StoreError
from aifactory.storage.local import LocalStore
from aifactory.storage.s3 import S3Store

MIB = 1024 * 1024
# S3 wants every part but the last to be >= 5 MiB; the local store runs the same sizes.
PARTS = [os.urandom(5 * MIB + 7), os.urandom(5 * MIB + 13), os.urandom(1234)]
WHOLE = b"".join(PARTS)
KEY = "datasets/ds1/v1"

Opener = Callable[[], ObjectStore]


def _s3(endpoint: str, bucket: str) -> S3Store:
    return S3Store(
        endpoint_url=endpoint, bucket=bucket, access_key_id="test", secret_access_key="test"
    )


@pytest.fixture(params=["local", "s3"])
def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens a new adapter on the same place each call: as a restarted process would."""
    if request.param == "local":
        return lambda: LocalStore(tmp_path / "store")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    bucket = f"aift-{uuid.uuid4().hex[:12]}"
    return lambda: _s3(endpoint, bucket)


@pytest.fixture
def store(reopen: Opener) -> ObjectStore:
    return reopen()


def _write(store: ObjectStore, key: str, numbers: list[int]) -> str:
    handle = store.begin(key)
    for n in numbers:
        store.put_part(key, handle, n, PARTS[n - 1])
    return handle


def test_parts_complete_and_range_reads(store: ObjectStore) -> None:
    handle = _write(store, KEY, [1, 2, 3])
    assert store.parts(KEY, handle) == {n: len(p) for n, p in enumerate(PARTS, 1)}
    assert store.size(KEY) is None  # nothing visible before complete
    store.complete(KEY, handle, 3)
    assert store.size(KEY) == len(WHOLE)
    assert store.read(KEY, 0, len(WHOLE)) == WHOLE
    b1, b2 = len(PARTS[0]), len(PARTS[0]) + len(PARTS[1])
    for offset, length in [
        (0, 1),
        (b1 - 1, 1),  # last byte of part 1
        (b1, 1),  # first byte of part 2
        (b1 - 5, 10),  # across the 1|2 boundary
        (b2 - 3, 6),  # across the 2|3 boundary
        (b1, len(PARTS[1])),  # exactly part 2
        (len(WHOLE) - 4, 4),  # the tail
        (len(WHOLE) - 4, 100),  # past the end: what there is
    ]:
        assert store.read(KEY, offset, length) == WHOLE[offset : offset + length], (offset, length)
    assert store.read(KEY, 17, 0) == b""
    assert store.read(KEY, len(WHOLE) + 10, 5) == b""
    assert store.parts(KEY, handle) == {}  # the upload is gone

    store.complete(KEY, handle, 3)  # again: a no-op
    assert store.size(KEY) == len(WHOLE)
    assert store.read(KEY, b2, 1234) == PARTS[2]


def test_abort_removes_an_unfinished_upload(store: ObjectStore) -> None:
    handle = _write(store, KEY, [1, 2])
    store.abort(KEY, handle)
    assert store.parts(KEY, handle) == {}
    assert store.size(KEY) is None
    store.abort(KEY, handle)  # again: fine
    with pytest.raises(StoreError):
        store.complete(KEY, handle, 2)
    assert store.size(KEY) is None


def test_missing_object(store: ObjectStore) -> None:
    assert store.size("datasets/none") is None
    with pytest.raises(StoreError, match="no object"):
        store.read("datasets/none", 0, 10)
    store.delete("datasets/none")  # deleting what is not there is fine


def test_delete(store: ObjectStore) -> None:
    handle = store.begin(KEY)
    store.put_part(KEY, handle, 1, PARTS[2])
    store.complete(KEY, handle, 1)
    assert store.size(KEY) == len(PARTS[2])
    store.delete(KEY)
    assert store.size(KEY) is None
    with pytest.raises(StoreError):
        store.read(KEY, 0, 1)
    store.delete(KEY)


def test_interrupted_upload_resumes(reopen: Opener) -> None:
    first = reopen()
    handle = _write(first, KEY, [1, 3])
    again = reopen()  # a restarted process: only the handle survives
    assert again.parts(KEY, handle) == {1: len(PARTS[0]), 3: len(PARTS[2])}
    again.put_part(KEY, handle, 2, PARTS[1])
    again.put_part(KEY, handle, 3, PARTS[2])  # a part written twice: the last one counts
    assert set(again.parts(KEY, handle)) == {1, 2, 3}
    again.complete(KEY, handle, 3)
    assert again.read(KEY, 0, len(WHOLE)) == WHOLE


def test_complete_with_a_missing_part_fails_and_writes_nothing(store: ObjectStore) -> None:
    handle = _write(store, KEY, [1, 3])
    with pytest.raises(StoreError, match="2"):
        store.complete(KEY, handle, 3)
    assert store.size(KEY) is None
    assert set(store.parts(KEY, handle)) == {1, 3}  # still there to resume


def test_empty_object(store: ObjectStore) -> None:
    handle = store.begin(KEY)
    store.complete(KEY, handle, 0)
    assert store.size(KEY) == 0
    assert store.read(KEY, 0, 10) == b""


def test_s3_rejects_a_small_part_before_the_last(s3_endpoint: str) -> None:
    store = _s3(s3_endpoint, f"aift-{uuid.uuid4().hex[:12]}")
    handle = store.begin(KEY)
    store.put_part(KEY, handle, 1, b"x" * 1000)
    store.put_part(KEY, handle, 2, b"y" * 1000)
    with pytest.raises(StoreError, match="EntityTooSmall"):
        store.complete(KEY, handle, 2)
    assert store.size(KEY) is None


def test_s3_errors_name_the_operation_and_place(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "_CONFIG", s3._CONFIG.merge(Config(retries={"max_attempts": 1})))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = _s3(f"http://127.0.0.1:{port}", "aift-down")
    with pytest.raises(StoreError, match=r"head_object on s3://aift-down/k at http://127"):
        down.size("k")
    store = _s3(s3_endpoint, f"aift-{uuid.uuid4().hex[:12]}")
    with pytest.raises(StoreError, match="upload_part"):
        store.put_part(KEY, "no-such-upload", 1, b"x")
