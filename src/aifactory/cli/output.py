"""Output: rich tables for people, ``--output json`` for scripts, and errors on stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from aifactory.sdk import ApiError

SIMULATED_LABEL = "simulated (digital twin, runs no code)"


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


OutputOpt = Annotated[
    Format,
    typer.Option("--output", "-o", help="table (for people) or json (the raw API answer)."),
]


def console() -> Console:
    # Made per call, so that it writes to whatever sys.stdout is now (tests capture it).
    c = Console(highlight=False, soft_wrap=False)
    if not c.is_terminal and "COLUMNS" not in os.environ:
        c.width = 1000  # piped into grep or a file: never fold a cell
    return c


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def out(text: str = "") -> None:
    """One plain line on stdout (no markup, no wrapping)."""
    sys.stdout.write(text + "\n")


def warn(text: str) -> None:
    sys.stderr.write(f"Warning: {text}\n")


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> None:
    t = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*(cell(v) for v in row))
    console().print(t)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def when(iso: str | None) -> str:
    """``2026-01-02T03:04:05.678Z`` -> ``2026-01-02 03:04:05Z``; ``-`` when absent."""
    if not iso:
        return "-"
    date, _, rest = iso.partition("T")
    return f"{date} {rest[:8]}Z" if rest else date


def executor_label(executor: str | None, simulated: bool) -> str:
    if simulated:
        return SIMULATED_LABEL
    return executor or "-"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    s = int(value)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def api_error_lines(exc: ApiError) -> list[str]:
    head = f"Error: {exc.title}"
    if exc.detail:
        head += f": {exc.detail}"
    return [head, *(f"  {line}" for line in exc.field_lines())]


def fail(message: str, code: int = 1) -> NoReturn:
    """``Error: message`` on stderr and exit with ``code`` (1: failed, 2: bad usage)."""
    sys.stderr.write(f"Error: {message}\n")
    raise typer.Exit(code)
