"""Exactly one process at a time runs each background loop.

PostgreSQL: a session-level advisory lock held on a dedicated connection; when the holder
dies its connection closes and the lock is free for another process to take over.
SQLite (one machine): an exclusive ``flock`` on a file, released by the kernel when the
holder dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, text

from aifactory.db.engine import Database


class Lease(Protocol):
    name: str

    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` from the loop's name."""
    return int.from_bytes(
        hashlib.sha256(f"aifactory:{name}".encode()).digest()[:8], "big", signed=True
    )


class PostgresLease:
    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return self.still_held()
        conn = self.db.engine.connect()
        try:
            got = bool(
                conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(self.name)}
                ).scalar()
            )
            conn.commit()
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:
            self._drop()
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.name)})
            self._conn.commit()
            self._conn.close()
        except Exception:
            self._drop()
        self._conn = None


class FileLease:
    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        self.path = directory / f"{name}.lock"
        self._fh: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._fh is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - held open for as long as the lease
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return True

    def still_held(self) -> bool:
        return self._fh is not None

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def make_lease(db: Database, lock_dir: Path, name: str) -> Lease:
    return PostgresLease(db, name) if db.is_postgres else FileLease(lock_dir, name)
