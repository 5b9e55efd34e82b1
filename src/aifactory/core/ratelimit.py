"""A sliding-window rate limit: at most ``limit`` events per ``window_s`` per key. Pure: the
caller passes the time (the live service its clock, tests a number)."""

from __future__ import annotations

import threading
from collections import deque


class RateLimit:
    def __init__(self, limit: int, window_s: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys  # a flood of new keys cannot grow memory without bound
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float) -> float:
        """Count one event for ``key``; 0 when allowed, else the seconds until it would be."""
        with self._lock:
            events = self._events.get(key)
            if events is None:
                if len(self._events) >= self.max_keys:
                    self._forget_idle(now)
                events = self._events[key] = deque()
            while events and events[0] <= now - self.window_s:
                events.popleft()
            if len(events) >= self.limit:
                return events[0] + self.window_s - now
            events.append(now)
            return 0.0

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window_s]:
            del self._events[key]
        if len(self._events) >= self.max_keys:  # still full: the oldest keys go
            for key in list(self._events)[: len(self._events) // 2]:
                del self._events[key]
