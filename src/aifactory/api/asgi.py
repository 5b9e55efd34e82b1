"""The ASGI app for a server process: ``uvicorn --factory aifactory.api.asgi:app_factory``.

``aif serve`` prepares the platform (migrations, the first admin, the default calls) and then
replaces itself with such a process, so the server carries none of the command line's modules
(about 25 MiB less resident memory per worker)."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import sys

from fastapi import FastAPI

from aifactory.api.app import create_app
from aifactory.settings import load_settings

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
_MMAP_FROM = 1024 * 1024


def bounded_malloc() -> None:
    """Allocations of 1 MiB and more (dataset chunks) get pages of their own and give them
    back when freed. glibc otherwise raises that threshold to the largest block freed so far,
    and the server keeps every chunk-sized block it ever freed in its heap."""
    if sys.platform.startswith("linux"):
        # Not glibc (musl has no mallopt): nothing to tune.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, _MMAP_FROM)


def settle_heap() -> None:
    """Move what the process holds once started (libraries, the app, the catalog: some 150,000
    objects) out of the cyclic garbage collector's reach (``gc.freeze``). A full collection
    otherwise walks them all, about 100 ms on a CI core, every few requests of a page that
    makes a thousand ORM objects: the p95 of the portal's pages (docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()


def app_factory() -> FastAPI:
    """The app for one uvicorn worker; settings come from the environment."""
    bounded_malloc()
    app = create_app(load_settings())
    settle_heap()
    return app
