"""sbatch's filename patterns (``-o``/``-e``), expanded as slurmstepd expands them for a
batch job (``src/slurmd/common/fname.c``): ``%j`` job id, ``%x`` job name, ``%u`` user,
``%A`` array job id (the job id for a job that is not an array task), ``%a`` array index,
``%N`` first node's short name, ``%n`` node 0, ``%t`` task 0, ``%s`` "batch", ``%J`` the job
id (batch step), ``%%`` a percent sign. A number after ``%`` zero-pads a numeric field (at
most 10). A pattern with a backslash is not expanded at all (the backslashes are removed).
A relative pattern is relative to the job's working directory.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

_MAX_WIDTH = 10
NO_VAL = 4294967294  # what %a prints for a job that is not an array task


@dataclass(frozen=True)
class Fields:
    job_id: str  # Slurm's job id (or the platform's, where the platform runs the job)
    name: str
    user: str
    array_job_id: str | None = None
    array_index: int | None = None
    node: str | None = None  # the first node's short host name; None: %N is left for later


def _remove_slashes(pattern: str) -> str | None:
    """The pattern with its escaping backslashes removed, or None when it has none."""
    if "\\" not in pattern:
        return None
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern) and pattern[i + 1] == "\\":
            out.append("\\")
            i += 2
        elif pattern[i] == "\\":
            i += 1
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def _pad(value: str, width: int) -> str:
    return value.zfill(width) if value.isdigit() else value


def _tokens(pattern: str) -> Iterator[tuple[str, int, str]]:
    """The pattern in pieces ``(raw, width, letter)``: ``letter`` is "" for plain text (and a
    trailing ``%N``), "%" for ``%%``, else the symbol after ``%`` and its padding width."""
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] != "%":
            j = pattern.find("%", i)
            j = n if j < 0 else j
            yield pattern[i:j], 0, ""
            i = j
            continue
        if i + 1 < n and pattern[i + 1] == "%":
            yield "%%", 0, "%"
            i += 2
            continue
        j = i + 1
        while j < n and pattern[j].isdigit():
            j += 1
        if j >= n:  # a trailing "%12": kept as written
            yield pattern[i:], 0, ""
            return
        width = min(int(pattern[i + 1 : j]), _MAX_WIDTH) if j > i + 1 else 0
        yield pattern[i : j + 1], width, pattern[j]
        i = j + 1


def expand(pattern: str, f: Fields) -> str:
    """The file name ``pattern`` gives for the batch step of the job ``f`` describes."""
    plain = _remove_slashes(pattern)
    if plain is not None:
        return plain
    out: list[str] = []
    for raw, width, letter in _tokens(pattern):
        value = _field(letter, f) if letter not in ("", "%") else None
        if letter == "%":
            out.append("%")
        elif value is None:  # text, or not a replacement symbol: kept, digits and all
            out.append(raw)
        else:
            out.append(value if letter in "Nux" else _pad(value, width))
    return "".join(out)


def _field(letter: str, f: Fields) -> str | None:
    if letter in "jJ":
        return f.job_id
    if letter == "x":
        return f.name
    if letter == "u":
        return f.user
    if letter == "A":
        return f.array_job_id if f.array_index is not None and f.array_job_id else f.job_id
    if letter == "a":
        return str(f.array_index if f.array_index is not None else NO_VAL)
    if letter == "N":
        return f.node  # None keeps "%N" as written, to fill in once the node is known
    if letter in "nt":
        return "0"
    if letter == "s":
        return "batch"
    return None


def resolve(pattern: str, f: Fields, workdir: str) -> str:
    """The absolute path of the file: ``pattern`` expanded, relative to ``workdir``."""
    name = expand(pattern, f)
    return name if name.startswith("/") else posixpath.join(workdir, name)


def substitute_array(pattern: str, array_id: str, index: int) -> str:
    """``pattern`` with ``%A`` and ``%a`` (with their padding) filled in and everything else
    left for Slurm: how the platform passes an array task's pattern to a site that runs the
    task as a job of its own."""
    if "\\" in pattern:
        return pattern
    out: list[str] = []
    for raw, width, letter in _tokens(pattern):
        if letter in ("A", "a"):
            value = array_id if letter == "A" else str(index)
            out.append(_pad(value, width).replace("%", "%%"))
        else:
            out.append(raw)
    return "".join(out)


def default_output(array: bool) -> str:
    """sbatch's default: ``slurm-%A_%a.out`` for an array task, else ``slurm-%j.out``."""
    return "slurm-%A_%a.out" if array else "slurm-%j.out"
