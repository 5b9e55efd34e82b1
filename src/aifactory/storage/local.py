"""A site's object store as a local directory: ``<root>/<key>`` per object; an unfinished
upload under ``<root>/.uploads/<handle>/``.

When ``begin`` is told the part size (every part but the last that size, as the platform's
chunks are), each part is written straight into its place in the object-to-be and
``complete`` only checks, syncs and renames it: the bytes are written once. Without it, each
part is a file of its own and ``complete`` joins them."""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path

from aifactory.storage.base import Data, StoreError

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
_HANDLE = re.compile(r"^[a-f0-9]{32}$")
_COPY_BYTES = 4 * 1024 * 1024
_OBJECT = "object"  # the object being written in place
_PART_SIZE = "part-size"


def _pieces(data: Data) -> Sequence[bytes | bytearray | memoryview]:
    return [data] if isinstance(data, bytes | bytearray | memoryview) else list(data)


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = f"local:{root}"

    def _object(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key:
            raise StoreError(f"{key!r} is not an object key")
        return self.root / key

    def _upload(self, handle: str) -> Path:
        if not _HANDLE.match(handle):
            raise StoreError(f"{handle!r} is not an upload handle")
        return self.root / ".uploads" / handle

    def begin(self, key: str, part_size: int | None = None) -> str:
        self._object(key)
        handle = secrets.token_hex(16)
        folder = self._upload(handle)
        folder.mkdir(parents=True, mode=0o700)
        if part_size:
            (folder / _PART_SIZE).write_text(str(part_size))
            (folder / _OBJECT).touch(mode=0o600)
        return handle

    def _part_size(self, folder: Path) -> int | None:
        try:
            return int((folder / _PART_SIZE).read_text())
        except FileNotFoundError:
            return None

    def put_part(self, key: str, handle: str, number: int, data: Data) -> None:
        folder = self._upload(handle)
        if not folder.is_dir():
            raise StoreError(f"no upload {handle} in {self.name}")
        pieces = _pieces(data)
        size = sum(len(p) for p in pieces)
        part_size = self._part_size(folder)
        if part_size is not None:
            if size > part_size:
                raise StoreError(f"part {number} is {size} bytes, over the part size {part_size}")
            fd = os.open(folder / _OBJECT, os.O_WRONLY)
            try:
                os.pwritev(fd, pieces, (number - 1) * part_size)
            finally:
                os.close(fd)
            # The part's marker, written after its bytes: listed only once they are there.
            (folder / str(number)).write_text(str(size))
            return
        tmp = folder / f".{number}.{secrets.token_hex(4)}"
        with open(tmp, "wb") as f:
            for piece in pieces:
                f.write(piece)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / str(number))  # a part is there whole or not at all

    def parts(self, key: str, handle: str) -> dict[int, int]:
        folder = self._upload(handle)
        if not folder.is_dir():
            return {}
        in_place = self._part_size(folder) is not None
        out = {}
        for p in folder.iterdir():
            if p.name.isdigit():
                out[int(p.name)] = int(p.read_text()) if in_place else p.stat().st_size
        return out

    def complete(self, key: str, handle: str, count: int) -> None:
        target = self._object(key)
        folder = self._upload(handle)
        if target.exists() and not folder.exists():
            return  # completed before
        target.parent.mkdir(parents=True, exist_ok=True)
        part_size = self._part_size(folder)
        if part_size is not None:
            have = self.parts(key, handle)
            missing = [n for n in range(1, count + 1) if n not in have]
            if missing:
                raise StoreError(f"part {missing[0]} of upload {handle} is missing")
            short = [n for n in range(1, count) if have[n] != part_size]
            if short:
                raise StoreError(f"part {short[0]} of upload {handle} is shorter than the others")
            size = (count - 1) * part_size + have[count] if count else 0
            with open(folder / _OBJECT, "r+b") as f:
                f.truncate(size)
                f.flush()
                os.fsync(f.fileno())
            os.replace(folder / _OBJECT, target)
            shutil.rmtree(folder, ignore_errors=True)
            return
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
        try:
            with open(tmp, "wb") as out:
                for number in range(1, count + 1):
                    try:
                        with open(folder / str(number), "rb") as part:
                            shutil.copyfileobj(part, out, _COPY_BYTES)
                    except FileNotFoundError:
                        raise StoreError(f"part {number} of upload {handle} is missing") from None
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)

    def abort(self, key: str, handle: str) -> None:
        shutil.rmtree(self._upload(handle), ignore_errors=True)

    def read(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise StoreError(f"read of {key}: negative offset or length")
        try:
            with open(self._object(key), "rb") as f:
                f.seek(offset)
                return f.read(length)
        except FileNotFoundError:
            raise StoreError(f"no object {key} in {self.name}") from None

    def read_into(self, key: str, offset: int, buf: memoryview) -> int:
        if offset < 0:
            raise StoreError(f"read of {key}: negative offset")
        try:
            with open(self._object(key), "rb", buffering=0) as f:
                f.seek(offset)
                got = 0
                while got < len(buf):
                    n = f.readinto(buf[got:])
                    if not n:
                        break
                    got += n
                return got
        except FileNotFoundError:
            raise StoreError(f"no object {key} in {self.name}") from None

    def size(self, key: str) -> int | None:
        try:
            return self._object(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._object(key).unlink(missing_ok=True)
