"""The object store a site keeps dataset bytes in: a version is one object, written as
numbered parts (an S3 multipart upload, or part files in a local directory) and read back by
byte range. Adapters hold ciphertext only; they never see a key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeAlias

# A part's bytes, whole or in pieces (a sealed chunk is its nonce, then its ciphertext: the
# store writes the pieces without joining them first).
Data: TypeAlias = bytes | bytearray | memoryview | Sequence[bytes | memoryview]


class StoreError(Exception):
    """The store failed or holds no such object; the message says which and where."""


class ObjectStore(Protocol):
    """Parts are numbered from 1 (S3's numbering). Every method is safe to call again."""

    name: str  # where the bytes are, for messages: "local:/path" or "s3://bucket"

    def begin(self, key: str, part_size: int | None = None) -> str:
        """Start writing ``key``; returns the upload's handle. ``part_size``: every part but
        the last has that size (a store may then write each part in place)."""
        ...

    def put_part(self, key: str, handle: str, number: int, data: Data) -> None: ...

    def parts(self, key: str, handle: str) -> dict[int, int]:
        """The parts written so far: number -> size in bytes."""
        ...

    def complete(self, key: str, handle: str, count: int) -> None:
        """Join parts 1..count into the object ``key`` (atomically: readers see all or none)."""
        ...

    def abort(self, key: str, handle: str) -> None: ...

    def read(self, key: str, offset: int, length: int) -> bytes: ...

    def read_into(self, key: str, offset: int, buf: memoryview) -> int:
        """Read up to ``len(buf)`` bytes at ``offset`` into ``buf`` (a reused buffer, so a
        large chunk costs no fresh allocation); returns how many."""
        ...

    def size(self, key: str) -> int | None:
        """The object's size; None when there is no such object."""
        ...

    def delete(self, key: str) -> None: ...
