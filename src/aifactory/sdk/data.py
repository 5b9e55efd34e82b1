"""The data capability over the API: datasets, and versions pushed and pulled in chunks.

``push`` resumes an interrupted upload (the server answers a second upload of the same
content with the open one, and lists the chunks it holds); ``pull`` resumes a download from
the bytes already on disk (``Range: bytes=N-``). Both check the SHA-256 of the whole content.
A folder is pushed as an uncompressed tar of its files (sorted, so the same folder gives the
same version) and pulled back as a folder.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aifactory.sdk.client import JSON, ApiError, _seg

if TYPE_CHECKING:
    from aifactory.sdk.client import Client

Progress = Callable[[int, int], None]  # (bytes done, bytes in all)
# Chunks sent at once: the next one travels while the server seals and stores the last (the
# server hashes them in order, a chunk waiting briefly for its turn).
IN_FLIGHT = 2
_READ = 8 * 1024 * 1024


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_READ):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _as_file(path: Path) -> Iterator[tuple[Path, list[JSON]]]:
    """A file as itself; a folder as a tar of its files (in a temporary file)."""
    if path.is_file():
        yield path, [{"path": path.name, "size": path.stat().st_size}]
        return
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    files = sorted(p for p in path.rglob("*") if p.is_file())
    with tempfile.TemporaryDirectory(prefix="aif-push-") as tmp:
        tar_path = Path(tmp) / "version.tar"
        with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
            for f in files:
                info = tar.gettarinfo(str(f), arcname=str(f.relative_to(path)))
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with open(f, "rb") as fh:
                    tar.addfile(info, fh)
        entries: list[JSON] = [
            {"path": str(f.relative_to(path)), "size": f.stat().st_size} for f in files
        ]
        yield tar_path, entries


class DataApi:
    """``client.data``: the data endpoints."""

    def __init__(self, client: Client) -> None:
        self.c = client

    def create(self, body: Mapping[str, Any]) -> JSON:
        result: JSON = self.c._post("/datasets", dict(body))
        return result

    def list_datasets(self, project_id: str | None = None) -> list[JSON]:
        result: list[JSON] = self.c._get("/datasets", project_id=project_id)
        return result

    def get(self, dataset_id: str) -> JSON:
        result: JSON = self.c._get(f"/datasets/{_seg(dataset_id)}")
        return result

    def find(self, ref: str, project_id: str | None = None) -> JSON:
        """A dataset by id, or by name among those the caller sees (in ``project_id``)."""
        if ref.startswith("dst-"):
            return self.get(ref)
        matches = [d for d in self.list_datasets(project_id) if d["name"] == ref]
        if len(matches) != 1:
            where = f" in project {project_id}" if project_id else ""
            raise ApiError(
                404 if not matches else 409,
                "Not found" if not matches else "Ambiguous",
                f"no dataset named {ref!r}{where}"
                if not matches
                else f"{len(matches)} datasets are named {ref!r}; give --project or the id",
            )
        return matches[0]

    def set_policy(self, dataset_id: str, policy: Mapping[str, Any], reason: str) -> JSON:
        result: JSON = self.c._request(
            "PUT", f"/datasets/{_seg(dataset_id)}/policy", json={**policy, "reason": reason}
        )
        return result

    def transfers(self, dataset_id: str) -> list[JSON]:
        result: list[JSON] = self.c._get(f"/datasets/{_seg(dataset_id)}/transfers")
        return result

    def stage(self, dataset_id: str, version: int, site: str, legal_basis: str) -> JSON:
        result: JSON = self.c._post(
            f"/datasets/{_seg(dataset_id)}/versions/{version}/replicas",
            {"site": site, "legal_basis": legal_basis},
        )
        return result

    def grant(self, dataset_id: str, project_id: str, expires_at: str | None = None) -> JSON:
        result: JSON = self.c._post(
            f"/datasets/{_seg(dataset_id)}/grants",
            {"project_id": project_id, "expires_at": expires_at},
        )
        return result

    def revoke(self, dataset_id: str, grant_id: str) -> JSON:
        result: JSON = self.c._request(
            "DELETE", f"/datasets/{_seg(dataset_id)}/grants/{_seg(grant_id)}"
        )
        return result

    def rotate_keys(self) -> JSON:
        result: JSON = self.c._post("/data/keys/rotate", None)
        return result

    def push(self, dataset_id: str, path: Path, progress: Progress | None = None) -> JSON:
        """Upload a file or folder as a new version; returns the version."""
        with _as_file(path) as (file, files):
            size = file.stat().st_size
            sha256 = _sha256_of(file)
            base = f"/datasets/{_seg(dataset_id)}/uploads"
            up: JSON = self.c._post(base, {"size": size, "sha256": sha256, "files": files})
            step, have = up["chunk_bytes"], set(up["received"])
            done = sum(min(step, size - i * step) for i in have)
            if progress:
                progress(done, size)
            todo = [i for i in range(up["chunks"]) if i not in have]
            url = f"{base}/{_seg(up['id'])}/chunks"
            with open(file, "rb") as f, ThreadPoolExecutor(IN_FLIGHT) as pool:
                window: deque[Future[int]] = deque()
                try:
                    for index in todo:
                        if len(window) == IN_FLIGHT:
                            done += window.popleft().result()
                            if progress:
                                progress(done, size)
                        f.seek(index * step)
                        window.append(pool.submit(self._put, f"{url}/{index}", f.read(step)))
                    while window:
                        done += window.popleft().result()
                        if progress:
                            progress(done, size)
                finally:
                    for pending in window:
                        pending.cancel()
            version: JSON = self.c._post(f"{base}/{_seg(up['id'])}/complete", {})
            return version

    def _put(self, path: str, data: bytes) -> int:
        self.c._request(
            "PUT",
            path,
            content=data,
            headers={
                "Content-Type": "application/octet-stream",
                "X-Chunk-SHA256": hashlib.sha256(data).hexdigest(),
            },
        )
        return len(data)

    def pull(
        self, dataset_id: str, version: int, dest: Path, progress: Progress | None = None
    ) -> Path:
        """Download a version to ``dest`` (a file, or a folder for a pushed folder),
        resuming from ``dest``'s ``.part`` file; the SHA-256 is checked before it is kept."""
        info = next((v for v in self.get(dataset_id)["versions"] if v["number"] == version), None)
        if info is None:
            raise ApiError(404, "Not found", f"version {version} not found")
        is_tar = len(info["files"]) != 1 or "/" in info["files"][0]["path"]
        part = dest.with_name(dest.name + ".part")
        start = part.stat().st_size if part.exists() else 0
        if start > info["size"]:
            part.unlink()
            start = 0
        headers = {"Range": f"bytes={start}-"} if start else {}
        path = f"/datasets/{_seg(dataset_id)}/versions/{version}/content"
        with self.c._stream("GET", path, headers=headers) as response, open(part, "ab") as out:
            done = start
            for block in response.iter_bytes(_READ):
                out.write(block)
                done += len(block)
                if progress:
                    progress(done, info["size"])
        got = _sha256_of(part)
        if got != info["sha256"]:
            part.unlink()
            raise ApiError(
                502,
                "Checksum mismatch",
                f"the downloaded bytes have SHA-256 {got}, not {info['sha256']}; pull again",
            )
        if is_tar:
            dest.mkdir(parents=True, exist_ok=True)
            with tarfile.open(part, "r") as tar:
                tar.extractall(dest, filter="data")
            part.unlink()
        else:
            os.replace(part, dest)
        return dest
