"""Where each site keeps dataset bytes, and the master keyring: the ``DataPlane`` the runtime
builds from settings. A site without an entry in the stores file keeps its bytes in a local
directory, ``<data_dir>/storage/<site>``."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aifactory.domain.catalog import Catalog
from aifactory.domain.data import CHUNK_OVERHEAD
from aifactory.storage.base import ObjectStore
from aifactory.storage.buffers import BufferPool
from aifactory.storage.crypto import Keyring, KeyringError, load_keyring
from aifactory.storage.local import LocalStore

STORE_KINDS = ("local", "s3")


class StoresFileError(ValueError):
    """The stores file names an unknown site or kind, or lacks a field."""


def load_store_configs(path: Path, site_ids: set[str]) -> dict[str, dict[str, Any]]:
    """``site: {kind: local, path: ...}`` or ``site: {kind: s3, endpoint_url, bucket,
    region?, access_key_id?, secret_access_key?}`` per site."""
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise StoresFileError(f"{path}: expected a mapping of site id to store")
    out: dict[str, dict[str, Any]] = {}
    for site, conf in raw.items():
        if site not in site_ids:
            raise StoresFileError(
                f"{path}: unknown site {site!r}; known: {', '.join(sorted(site_ids))}"
            )
        if not isinstance(conf, dict) or conf.get("kind") not in STORE_KINDS:
            raise StoresFileError(f"{path}: {site}.kind must be one of {', '.join(STORE_KINDS)}")
        need = ("path",) if conf["kind"] == "local" else ("endpoint_url", "bucket")
        for key in need:
            if not isinstance(conf.get(key), str) or not conf[key]:
                raise StoresFileError(
                    f"{path}: {site}.{key} is required for a {conf['kind']} store"
                )
        out[site] = dict(conf)
    return out


def _make_store(conf: Mapping[str, Any]) -> ObjectStore:
    if conf["kind"] == "local":
        return LocalStore(Path(conf["path"]))
    from aifactory.storage.s3 import S3Store  # boto3 is imported only where S3 is used

    return S3Store(
        endpoint_url=conf["endpoint_url"],
        bucket=conf["bucket"],
        region=conf.get("region", "us-east-1"),
        access_key_id=conf.get("access_key_id"),
        secret_access_key=conf.get("secret_access_key"),
    )


class _Running:
    """The SHA-256 of an upload's chunks received in order by this process so far. Chunks
    sent a few at a time may arrive out of order: a chunk waits (briefly) for its turn."""

    def __init__(self) -> None:
        self.next_index = 0
        self.digest = hashlib.sha256()
        self.turn = threading.Condition()
        self.broken = False  # a chunk never came in time: completion re-reads instead
        self.fed: dict[int, str] = {}  # index -> the SHA-256 of the chunk hashed in


_TURN_WAIT_S = 5.0  # longer, and completion reads the chunks back instead


@dataclass
class DataPlane:
    catalog: Catalog
    root: Path  # <data_dir>/storage
    configs: dict[str, dict[str, Any]]
    chunk_bytes: int
    key_file: Path
    keys_env: str = ""
    create_key_file: bool = True
    buffers: BufferPool = field(default_factory=lambda: BufferPool(0, keep=0))
    _stores: dict[str, ObjectStore] = field(default_factory=dict)
    _keyring: Keyring | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _running: dict[str, _Running] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.buffers.size == 0:
            # Two chunks in flight from a client, each a body and its ciphertext.
            self.buffers = BufferPool(self.chunk_bytes + CHUNK_OVERHEAD, keep=4)

    def store(self, site_id: str) -> ObjectStore:
        with self._lock:
            store = self._stores.get(site_id)
            if store is None:
                conf = self.configs.get(site_id) or {
                    "kind": "local",
                    "path": str(self.root / site_id),
                }
                store = self._stores[site_id] = _make_store(conf)
            return store

    def keyring(self) -> Keyring:
        with self._lock:
            if self._keyring is None:
                self._keyring = load_keyring(self.keys_env, self.key_file, self.create_key_file)
            return self._keyring

    def reload_keyring(self) -> Keyring:
        with self._lock:
            self._keyring = None
        return self.keyring()

    def site_country(self, site_id: str) -> str:
        for s in self.catalog.sites:
            if s.id == site_id:
                return s.country
        raise KeyError(site_id)

    # -- the running digest of an upload (a cache: completion re-reads without it) ----------
    def feed(
        self, upload_id: str, index: int, chunk: bytes | bytearray | memoryview, sha256: str
    ) -> None:
        with self._lock:
            run = self._running.get(upload_id)
        if run is None:
            return  # begun by another process, or before a restart: completion re-reads
        with run.turn:
            if not run.turn.wait_for(
                lambda: run.broken or run.next_index >= index, timeout=_TURN_WAIT_S
            ):
                run.broken = True
            if index < run.next_index and run.fed.get(index) != sha256:
                run.broken = True  # stored again with other bytes: the digest is stale
            if run.broken or index < run.next_index:
                run.turn.notify_all()
                return  # given up, or the same chunk sent again
            run.digest.update(chunk)  # hashlib lets other threads run meanwhile
            run.fed[index] = sha256
            run.next_index += 1
            run.turn.notify_all()

    def start_digest(self, upload_id: str) -> None:
        """This process began the upload: hash its chunks as they come."""
        with self._lock:
            self._running.setdefault(upload_id, _Running())

    def running_digest(self, upload_id: str, chunks: int) -> str | None:
        with self._lock:
            run = self._running.pop(upload_id, None)
        if run is None:
            return None
        with run.turn:
            if run.broken or run.next_index != chunks:
                return None
            return str(run.digest.hexdigest())


__all__ = ["DataPlane", "KeyringError", "StoresFileError", "load_store_configs"]
