"""Validation of user-chosen names (organisations, projects, jobs, tokens)."""

from __future__ import annotations

import unicodedata

MAX_NAME = 100


def name_problem(value: str, *, max_len: int = MAX_NAME) -> str | None:
    """Why ``value`` is not an acceptable name, or None. Names end up in paths, logs and
    terminal tables, so path separators and control characters are refused."""
    if not value or not value.strip():
        return "must not be empty"
    if value != value.strip():
        return "must not start or end with white space"
    if len(value) > max_len:
        return f"must be at most {max_len} characters"
    if "/" in value or "\\" in value:
        return "must not contain a path separator ('/' or '\\')"
    if value in {".", ".."}:
        return "must not be '.' or '..'"
    for ch in value:
        if unicodedata.category(ch).startswith("C"):
            return f"must not contain control characters (found U+{ord(ch):04X})"
    return None
