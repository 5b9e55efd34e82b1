"""Validation of user-chosen names (organisations, projects, jobs, tokens, users).

One rule, stated twice from the same data: :func:`name_problem` checks it, and
:func:`name_pattern` writes it as the JSON Schema ``pattern`` the API documents, so clients
(and schemathesis) know exactly which names are accepted.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections.abc import Callable
from typing import Any

MAX_NAME = 100
# Control (Cc), format (Cf: zero-width and bidi overrides, which disguise text in terminals)
# and surrogate (Cs) characters are refused, as are path separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_SEPARATORS = "/\\"


def name_problem(value: str, *, max_len: int = MAX_NAME) -> str | None:
    """Why ``value`` is not an acceptable name, or None. Names end up in paths, logs and
    terminal tables, so path separators and control characters are refused."""
    if not value or not value.strip():
        return "must not be empty"
    if value != value.strip():
        return "must not start or end with white space"
    if len(value) > max_len:
        return f"must be at most {max_len} characters"
    if any(ch in _SEPARATORS for ch in value):
        return "must not contain a path separator ('/' or '\\')"
    if value in {".", ".."}:
        return "must not be '.' or '..'"
    for ch in value:
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            cat = unicodedata.category(ch)
            return f"must not contain control characters (found U+{ord(ch):04X}, category {cat})"
    return None


def _char_class(ranges: list[tuple[int, int]]) -> str:
    """A character-class body of literal characters: read the same by Python's ``re`` and by
    ECMA-262 engines (JSON Schema validators), unlike escapes such as ``\\U`` or ``\\s``."""

    def lit(cp: int) -> str:
        ch = chr(cp)
        return "\\" + ch if ch in "\\]^-[" else ch

    return "".join(lit(a) if a == b else f"{lit(a)}-{lit(b)}" for a, b in ranges)


def _ranges(pred: Callable[[str], bool]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # surrogates cannot stand in a pattern; name_problem refuses them
        if pred(chr(cp)):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return ranges


@functools.cache
def name_pattern(max_len: int = MAX_NAME) -> str:
    """The rule of :func:`name_problem` as a JSON Schema pattern (surrogates aside)."""
    refused = _char_class(
        _ranges(lambda ch: unicodedata.category(ch) in _REFUSED_CATEGORIES or ch in _SEPARATORS)
    )
    space = _char_class(_ranges(str.isspace))
    edge = f"[^{space}{refused}]"
    inner = f"[^{refused}]"
    # "$(?!\n)": in Python "$" also matches before a final newline.
    return f"^(?!\\.\\.?$){edge}(?:{inner}{{0,{max_len - 2}}}{edge})?$(?!\\n)"


def document_name(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` for name fields: the accepted names, as a pattern (computed when
    the schema is built, not at import)."""
    schema["pattern"] = name_pattern()
    schema["minLength"] = 1


@functools.cache
def non_blank_pattern() -> str:
    """Text with something besides white space, and no NUL character."""
    space = _char_class(_ranges(str.isspace))
    return f"^[^\0]*[^{space}\0][^\0]*$(?!\\n)"


def document_non_blank(schema: dict[str, Any]) -> None:
    schema["pattern"] = non_blank_pattern()


MAX_EMAIL = 254


@functools.cache
def email_pattern() -> str:
    """Local part @ domain, no white space or control characters. Deliberately loose: mail is
    confirmed by sending it, not by a regex, and operators use hosts like ``localhost``."""
    refused = _char_class(
        _ranges(lambda ch: ch.isspace() or unicodedata.category(ch) in _REFUSED_CATEGORIES)
    )
    return f"^[^@{refused}]+@[^@{refused}]+$(?!\\n)"


def email_problem(value: str) -> str | None:
    if len(value) > MAX_EMAIL:
        return f"must be at most {MAX_EMAIL} characters"
    local, at, domain = value.partition("@")
    if not at or not local or not domain or "@" in domain:
        return "must look like name@domain"
    for ch in value:
        if ch.isspace() or unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return "must not contain white space or control characters"
    return None


def document_email(schema: dict[str, Any]) -> None:
    schema["pattern"] = email_pattern()


def checked_name(value: str) -> str:
    """A pydantic validator for a name: the rules of :func:`name_problem`."""
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def checked_text(value: str) -> str:
    """A pydantic validator for free text that must say something: not blank, no NUL."""
    if not value.strip():
        raise ValueError("must not be empty")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value
