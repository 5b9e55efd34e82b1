"""Walltimes as people and Slurm write them, to and from seconds.

Accepted: integer seconds (``3600``), units (``48h``, ``30m``, ``2d``, ``90s``, ``1d12h``),
Slurm's ``D-HH:MM:SS`` / ``D-HH:MM`` / ``D-HH`` and ``HH:MM:SS``. Two colon fields without
a day (``24:00``) are refused: Slurm reads them as minutes:seconds, most people as hours.
"""

from __future__ import annotations

import re

WALLTIME_FORMS = "48h, 30m, 2d, 1d12h, 1-00:00:00, HH:MM:SS or integer seconds"

_UNITS = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_HMS = re.compile(r"([0-9]+):([0-5][0-9]):([0-5][0-9])")
_SLURM_DAYS = re.compile(r"([0-9]+)-([01]?[0-9]|2[0-3])(?::([0-5][0-9]))?(?::([0-5][0-9]))?")


# The accepted forms as one JSON Schema pattern (ECMA-262 and Python alike): some digit other
# than 0 (so the value is positive), then one of the forms parse_walltime reads.
WALLTIME_PATTERN = (
    "^(?=[^1-9]*[1-9])(?:[0-9]+|(?=[0-9])(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?"
    "|[0-9]+:[0-5][0-9]:[0-5][0-9]"
    "|[0-9]+-(?:[01]?[0-9]|2[0-3])(?::[0-5][0-9])?(?::[0-5][0-9])?)$(?!\\n)"
)


def parse_walltime(text: str) -> int:
    """Seconds in ``text``; :class:`ValueError` naming the accepted forms otherwise."""
    s = text.strip()
    seconds = _parse(s)
    if seconds is None:
        raise ValueError(f"{text!r} is not a walltime; use {WALLTIME_FORMS}")
    if seconds <= 0:
        raise ValueError(f"{text!r}: walltime must be positive")
    return seconds


def _parse(s: str) -> int | None:
    if s.isascii() and s.isdigit():
        return int(s)
    if s and (m := _UNITS.fullmatch(s)):
        d, h, mi, sec = (int(g) if g else 0 for g in m.groups())
        return ((d * 24 + h) * 60 + mi) * 60 + sec
    if m := _HMS.fullmatch(s):
        h, mi, sec = (int(g) for g in m.groups())
        return (h * 60 + mi) * 60 + sec
    if m := _SLURM_DAYS.fullmatch(s):
        d, h, mi, sec = (int(g) if g else 0 for g in m.groups())
        return ((d * 24 + h) * 60 + mi) * 60 + sec
    return None


def format_walltime(seconds: int) -> str:
    """Slurm's form: ``D-HH:MM:SS`` from one day on, else ``HH:MM:SS``."""
    if seconds < 0:
        raise ValueError(f"walltime must not be negative, got {seconds}")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    hms = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{hms}" if days else hms
