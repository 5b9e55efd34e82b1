"""Chunk-sized buffers, reused: a transfer of a gigabyte goes through a few buffers of a
chunk each instead of allocating (and page-faulting in) fresh megabytes for every chunk,
so the server's memory stays bounded by the chunks in flight."""

from __future__ import annotations

import threading


class BufferPool:
    """At most ``keep`` idle buffers of ``size`` bytes are kept; more are made on demand and
    dropped when given back. A buffer asked for larger than ``size`` is never pooled."""

    def __init__(self, size: int, keep: int = 4) -> None:
        self.size = size
        self.keep = keep
        self._idle: list[bytearray] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> bytearray:
        if size <= self.size:
            with self._lock:
                if self._idle:
                    return self._idle.pop()
            return bytearray(self.size)
        return bytearray(size)

    def trim(self) -> None:
        """Drop the idle buffers (a transfer ended): memory goes back when nothing moves."""
        with self._lock:
            self._idle.clear()

    def give(self, buf: bytearray) -> None:
        if len(buf) != self.size:
            return
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(buf)
