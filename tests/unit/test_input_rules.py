"""The rules the API documents as JSON Schema patterns are exactly the rules it enforces:
checked against Python's ``re`` and against an ECMA-262 JSON Schema validator."""

from __future__ import annotations

import re

import jsonschema_rs
from hypothesis import given
from hypothesis import strategies as st

from aifactory.domain.names import email_pattern, email_problem, name_pattern, name_problem
from aifactory.domain.walltime import WALLTIME_PATTERN, parse_walltime

no_surrogates = st.characters(exclude_categories=("Cs",))


def _both(pattern: str, value: str) -> tuple[bool, bool]:
    ecma = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    return bool(re.match(pattern, value)), ecma.is_valid(value)


@given(st.text(no_surrogates, max_size=110) | st.sampled_from(["..", ".", " a", "a b", "a/b"]))
def test_the_name_pattern_is_the_name_rule(value: str) -> None:
    accepted = name_problem(value) is None
    assert _both(name_pattern(), value) == (accepted, accepted)


@given(st.text(no_surrogates, max_size=40) | st.emails())
def test_the_email_pattern_is_the_email_rule(value: str) -> None:
    accepted = email_problem(value) is None and len(value) <= 254
    assert _both(email_pattern(), value) == (accepted, accepted)


def _walltime_ok(value: str) -> bool:
    try:
        parse_walltime(value)
    except ValueError:
        return False
    return value == value.strip()


@given(st.from_regex(r"[0-9dhms:\- ]{0,12}", fullmatch=True))
def test_the_walltime_pattern_is_the_walltime_parser(value: str) -> None:
    ok = _walltime_ok(value)
    assert _both(WALLTIME_PATTERN, value) == (ok, ok)
