"""Reading the YAML or JSON files the commands take (job specs, proposals, calls, reports)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import yaml

from aifactory.cli import output as o


def read_mapping(file: str, what: str) -> dict[str, Any]:
    """The mapping in ``file`` (YAML or JSON; ``-`` is stdin). Any problem exits with code 2,
    naming the file, line and column; ``what`` says what the file should hold, e.g. "a job
    spec must be a mapping (name, project, run, ...)". YAML dates and times become the ISO
    strings the API reads."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        o.fail(f"{file}: cannot read: {exc}", 2)
    name = "<stdin>" if file == "-" else file
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = exc.problem or exc.context or "invalid YAML"
        o.fail(f"{where}: {problem}", 2)
    except yaml.YAMLError as exc:
        o.fail(f"{name}: {exc}", 2)
    if not isinstance(data, dict):
        o.fail(f"{name}: {what}", 2)
    result: dict[str, Any] = _plain(data)
    return result


def _plain(value: Any) -> Any:
    """YAML reads ``2026-12-01`` as a date; the API takes JSON, where it is a string (a time
    without a zone stays without one, and the API says so)."""
    if isinstance(value, dt.date):  # datetime too
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
