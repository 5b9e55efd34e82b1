"""Where a job's output goes, and reading it back from a file.

A command (``run:``) writes ``stdout.log`` and ``stderr.log`` in its work directory. A batch
script's output goes where its ``-o``/``-e`` say, as Slurm puts it (``domain.sbatch.patterns``):
relative to its working directory (``-D``, else the work directory), ``slurm-%j.out`` when it
gives none (``slurm-%A_%a.out`` for an array task), stderr into the stdout file unless ``-e``
is given. Every executor places the files the same way, so ``aif logs`` reads a Slurm job's
log like a local one's.
"""

from __future__ import annotations

import codecs
import os
import posixpath
import re
from pathlib import Path
from typing import BinaryIO

from aifactory.domain.execution import LaunchRequest, LogChunk
from aifactory.domain.sbatch import patterns

STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
_BRACKETS = re.compile(r"^([^\[,]*)\[([^\],]*)")


def base_dir(request: LaunchRequest, workdir: str) -> str:
    """The job's working directory: a script's -D (relative to the work directory), else
    the work directory."""
    if request.chdir:
        return posixpath.join(workdir, request.chdir)
    return workdir


def script_patterns(request: LaunchRequest) -> tuple[str, str]:
    """The -o and -e patterns of a script, with Slurm's defaults; for an array task run as a
    job of its own, %A and %a already filled in."""
    array = request.array_index is not None
    out = request.output or patterns.default_output(array)
    err = request.error or out
    if array and request.array_id is not None:
        out = patterns.substitute_array(out, request.array_id, request.array_index or 0)
        err = patterns.substitute_array(err, request.array_id, request.array_index or 0)
    return out, err


def log_paths(request: LaunchRequest, workdir: str, job_id: str, user: str) -> dict[str, str]:
    """Absolute paths of the job's stdout and stderr at its site; ``job_id`` is what %j
    stands for there."""
    if request.script is None:
        return {
            "stdout": posixpath.join(workdir, STDOUT_FILE),
            "stderr": posixpath.join(workdir, STDERR_FILE),
        }
    out, err = script_patterns(request)
    fields = patterns.Fields(job_id=job_id, name=request.name, user=user)
    base = base_dir(request, workdir)
    return {
        "stdout": patterns.resolve(out, fields, base),
        "stderr": patterns.resolve(err, fields, base),
    }


def first_node(node_list: str) -> str:
    """The first host of a Slurm node list ("nid[001-004,010]" -> "nid001")."""
    text = node_list.strip()
    if not text:
        return ""
    m = _BRACKETS.match(text)
    if m:
        first = m[2].split("-", 1)[0]
        return m[1] + first
    return text.split(",", 1)[0]


def with_node(path: str, node: str) -> str:
    """``path`` with a %N still in it filled in, once the node is known."""
    if "%N" not in path or not node:
        return path
    return path.replace("%N", node.split(".", 1)[0])


def parents_to_create(paths: dict[str, str], base: str) -> list[str]:
    """The directories of the log files inside the job's working directory: Slurm does not
    create them (a missing one fails the job), and where the author submitted from they
    existed; the platform makes the job's own directory look the same. Directories outside
    it are the user's business."""
    out = []
    root = posixpath.normpath(base)
    for path in paths.values():
        parent = posixpath.dirname(posixpath.normpath(path))
        if parent != root and (parent + "/").startswith(root + "/") and parent not in out:
            out.append(parent)
    return out


def read_file(path: Path, *, offset: int = 0, tail_lines: int | None = None) -> LogChunk:
    """Text of a log file from byte ``offset`` on, and the offset to continue from.

    With ``tail_lines`` only the last lines of that part are returned. A missing file reads as
    empty; an offset past the end (the log was rewritten by a new launch) starts over at 0. A
    UTF-8 character cut at the end is left for the next call, so following never garbles it.
    """
    if tail_lines is not None and tail_lines < 0:
        raise ValueError(f"tail_lines must be 0 or more, got {tail_lines}")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return LogChunk("", offset)
    with fh:
        size = os.fstat(fh.fileno()).st_size
        return decode(read_range(fh, size, offset, tail_lines), size, offset)


def read_range(fh: BinaryIO, size: int, offset: int, tail_lines: int | None) -> bytes:
    """The bytes from ``offset`` (or the last ``tail_lines`` lines) of an open file."""
    if offset > size:
        offset = 0
    if tail_lines is None:
        fh.seek(offset)
        data: bytes = fh.read(size - offset)
        return data
    block = 64 * 1024
    while True:
        start = max(offset, size - block)
        fh.seek(start)
        data = fh.read(size - start)
        if start == offset or data.count(b"\n") > tail_lines:
            break
        block *= 2
    return tail(data, tail_lines)


def tail(data: bytes, lines: int) -> bytes:
    parts = data.splitlines(keepends=True)
    return b"".join(parts[max(0, len(parts) - lines) :]) if lines > 0 else b""


def decode(data: bytes, size: int, offset: int) -> LogChunk:
    """Text and the next offset; an incomplete UTF-8 character at the end waits for more."""
    del offset
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(data, final=False)
    pending = len(decoder.getstate()[0])
    return LogChunk(text, size - pending)
