"""The ``#SBATCH`` directives of an existing Slurm batch script, read as sbatch reads them.

sbatch reads directives only in the script's header: ``#SBATCH`` at column 0, up to the first
line that is neither blank nor a comment. Each directive line is split like a shell line
(quotes, backslashes, ``#`` comments) into sbatch options. The options the platform reads
become job resources; every other one is reported in ``unsupported`` so the caller can warn.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

TIME_FORMS = "minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
# The platform plans and bills by walltime, so Slurm's "no limit" values are refused.
_NO_LIMIT = "{!r} means no limit; give a finite positive time: " + TIME_FORMS
SUPPORTED: tuple[str, ...] = (
    "--account",
    "--partition",
    "--nodes",
    "--time",
    "--gres",
    "--gpus",
    "--gpus-per-node",
    "--job-name",
    "--mem",
    "--cpus-per-task",
)

_SHORT = {
    "A": "--account",
    "p": "--partition",
    "N": "--nodes",
    "t": "--time",
    "G": "--gpus",
    "J": "--job-name",
    "c": "--cpus-per-task",
}
# sbatch's short options that take a value ("x:" in its getopt string); -k's is optional and
# only attached (-kVALUE); any other letter is a flag, as getopt would group "-Hv".
_SHORT_WITH_VALUE = frozenset("aAbBcCdDeFGiJLmMnNopqStwx")
_SHORT_OPTIONAL = frozenset("k")
# sbatch's long options that never take the next word as their value: flags, and those whose
# value is optional (getopt_long accepts it only as --opt=value).
_FLAG_NAMES = (
    "contiguous exclusive get-user-env help hold ignore-pbs nice no-kill no-requeue oom-kill-step"
    " overcommit oversubscribe parsable propagate quiet reboot requeue spread-job stepmgr"
    " test-only usage use-min-nodes verbose version wait"
)
_LONG_FLAGS = frozenset("--" + name for name in _FLAG_NAMES.split())
_SPACE = " \t\v\f\r"  # C isspace() in the "C" locale, what sbatch uses
# At most 9 digits per number: Slurm's fields are 32-bit, and it keeps int() far from
# Python's digit limit on hostile input.
_TIME = re.compile(r"[0-9]{1,9}(?:-[0-9]{1,9})?(?::[0-9]{1,9}){0,2}")
_COUNT = re.compile(r"[0-9]{1,9}")
_NODES = re.compile(r"([0-9]{1,9})(?:-([0-9]{1,9}))?")
_MEM = re.compile(r"([0-9]{1,12})([KMGT]?)", re.IGNORECASE)
_GPU_TYPE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_KIB = {"": 1024, "K": 1, "M": 1024, "G": 1024**2, "T": 1024**3}


@dataclass(frozen=True)
class Directive:
    line: int  # 1-based line number in the script
    option: str  # the option as written, e.g. "-t", "--time", "--exclusive"
    value: str | None  # its value, None for a flag


@dataclass(frozen=True)
class ParsedScript:
    name: str | None = None  # -J / --job-name
    account: str | None = None  # -A / --account
    partitions: tuple[str, ...] = ()  # -p / --partition, in order, without repeats
    nodes: int | None = None  # -N / --nodes; the minimum of a MIN-MAX range
    walltime_s: int | None = None  # -t / --time
    gpu_type: str | None = None  # from --gres, --gpus / -G or --gpus-per-node
    gpus_per_node: int | None = None  # --gpus / -G is a total, divided over the nodes
    memory_gb: int | None = None  # --mem, per node, rounded up to whole GiB
    cpus: int | None = None  # -c / --cpus-per-task
    unsupported: tuple[Directive, ...] = ()  # every other option, in script order


class ScriptError(ValueError):
    """A directive sbatch would refuse, or one the platform cannot honour."""

    def __init__(self, line: int, option: str, message: str) -> None:
        super().__init__(f"line {line}: {option}: {message}")
        self.line = line
        self.option = option
        self.message = message


def parse_slurm_time(value: str) -> int:
    """Seconds in a Slurm time limit; :class:`ValueError` naming the allowed forms otherwise."""
    if value.strip().upper() in ("INFINITE", "UNLIMITED", "-1"):
        raise ValueError(_NO_LIMIT.format(value))
    if not _TIME.fullmatch(value):
        raise ValueError(f"{value!r} is not a Slurm time; use {TIME_FORMS}")
    days, dash, clock = value.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if dash:  # D-HH[:MM[:SS]]: hours come first
        hours, minutes, seconds = (*parts, 0, 0)[:3]
    else:  # MM, MM:SS or HH:MM:SS: minutes come first unless there are three fields
        hours, minutes, seconds = (0, *parts, 0)[:3] if len(parts) < 3 else parts
    total = ((int(days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:  # Slurm reads 0 as no limit too
        raise ValueError(_NO_LIMIT.format(value))
    return total


def format_slurm_time(seconds: int) -> str:
    """``D-HH:MM:SS`` from one day on, else ``HH:MM:SS``: what parse_slurm_time reads back."""
    if seconds <= 0:
        raise ValueError(f"a Slurm time limit must be positive, got {seconds}")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    hms = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{hms}" if days else hms


def parse_script(text: str) -> ParsedScript:
    """The resources in ``text``'s ``#SBATCH`` header; :class:`ScriptError` for a bad one."""
    for bad, why in (
        ("\0", "a NUL character; a batch script is text"),
        ("\r\n", "DOS line breaks (\\r\\n), which sbatch refuses; save it with Unix ones"),
    ):
        if bad in text:
            raise ScriptError(text.count("\n", 0, text.index(bad)) + 1, "script", why)
    return _interpret(list(_header(text)))


def _header(text: str) -> Iterator[Directive]:
    for number, line in enumerate(text.split("\n"), start=1):
        if line.startswith("#SBATCH"):
            yield from _options(number, line[len("#SBATCH") :])
        elif line.lstrip(_SPACE)[:1] not in ("", "#"):
            return  # the first command ends the header, as in sbatch


def _options(line: int, rest: str) -> Iterator[Directive]:
    try:
        words = shlex.split(rest, comments=True, posix=True)
    except ValueError as e:  # an unbalanced quote or a trailing backslash
        raise ScriptError(line, "#SBATCH", f"cannot split the line: {e}") from None
    i = 0
    while i < len(words):
        word, i = words[i], i + 1
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word.partition("=")
            has_next = i < len(words)
            if eq:
                yield Directive(line, name, value)
                continue
            # getopt takes the next word for an option that needs a value; for options we do
            # not know, a next word that looks like an option is left alone, not swallowed.
            takes = name in SUPPORTED or (
                name not in _LONG_FLAGS and has_next and not words[i].startswith("-")
            )
            following = words[i] if takes and has_next else None
            i += following is not None
            yield Directive(line, name, following)
        elif word.startswith("-") and len(word) > 1 and word != "--":
            for j, letter in enumerate(word[1:], start=2):
                if letter in _SHORT_WITH_VALUE:
                    attached = word[j:]
                    if not attached and i < len(words):
                        attached, i = words[i], i + 1
                    yield Directive(line, "-" + letter, attached or None)
                    break
                if letter in _SHORT_OPTIONAL:
                    yield Directive(line, "-" + letter, word[j:] or None)
                    break
                yield Directive(line, "-" + letter, None)
        elif word.lower() in ("hetjob", "packjob"):
            raise ScriptError(line, word, "heterogeneous jobs are not supported")
        else:  # sbatch stops at it and refuses the script ("Invalid directive")
            raise ScriptError(line, word, f"{word!r} is not an sbatch option")


def _interpret(directives: list[Directive]) -> ParsedScript:
    fields: dict[str, Any] = {}  # ParsedScript's keyword arguments
    unsupported: list[Directive] = []
    gpus: tuple[Directive, str, str | None, int] | None = None  # (directive, long, type, n)
    for d in directives:
        long = _SHORT.get(d.option[1:], d.option) if len(d.option) == 2 else d.option
        if long not in SUPPORTED:
            unsupported.append(d)
            continue
        if not d.value:
            raise ScriptError(d.line, d.option, "needs a value")
        try:
            if long in _FIELDS:  # a repeated option overrides, as in sbatch
                field, read = _FIELDS[long]
                fields[field] = read(d.value)
                continue
            gpu, other = _gres(d.value) if long == "--gres" else (_typed_count(d.value), False)
            if other:  # its GPUs are read; the other resources are reported
                unsupported.append(d)
            if gpu is None:  # a later --gres without GPUs replaces one with them, as in sbatch
                gpus = None if gpus is not None and gpus[1] == long else gpus
                continue
            if gpus is not None and gpus[1] != long:
                where = f"{gpus[0].option} on line {gpus[0].line}"
                raise ValueError(f"the GPUs are already given by {where}; give the GPUs once")
            gpus = (d, long, *gpu)
        except ValueError as e:
            raise ScriptError(d.line, d.option, str(e)) from None
    if gpus is not None:
        d, long, fields["gpu_type"], count = gpus
        if long == "--gpus":  # a total over the job's (minimum) number of nodes
            nodes = fields.get("nodes", 1)
            if count % nodes:
                why = f"{count} GPUs do not split evenly over {nodes} nodes"
                raise ScriptError(d.line, d.option, why)
            count //= nodes
        fields["gpus_per_node"] = count
    return ParsedScript(unsupported=tuple(unsupported), **fields)


def _count(value: str) -> int:
    if not _COUNT.fullmatch(value) or int(value) == 0:
        raise ValueError(f"{value!r} is not a positive whole number")
    return int(value)


def _nodes(value: str) -> int:
    m = _NODES.fullmatch(value)
    if not m or int(m[1]) == 0 or (m[2] is not None and int(m[2]) < int(m[1])):
        raise ValueError(f"{value!r} is not a node count; use N or MIN-MAX")
    return int(m[1])


def _partitions(value: str) -> tuple[str, ...]:
    names = value.split(",")
    if "" in names:
        raise ValueError(f"{value!r} has an empty partition name")
    return tuple(dict.fromkeys(names))


def _memory_gb(value: str) -> int:
    m = _MEM.fullmatch(value)
    if not m:
        raise ValueError(f"{value!r} is not a memory size; use a number with K, M, G or T (M)")
    kib = int(m[1]) * _KIB[m[2].upper()]
    if kib == 0:  # Slurm reads it as "all the memory of the node", which has no fixed size
        raise ValueError("0 means all the memory of a node; give an explicit size, e.g. 64G")
    return -(-kib // 1024**2)


def _typed_count(value: str) -> tuple[str | None, int]:
    """``N`` or ``TYPE:N``, as --gpus and --gpus-per-node take them."""
    kind, _, n = value.rpartition(":")
    if kind and not _GPU_TYPE.fullmatch(kind):
        raise ValueError(f"{value!r} is not a GPU request; use N or TYPE:N")
    return kind or None, _count(n)


def _gres(value: str) -> tuple[tuple[str | None, int] | None, bool]:
    """The one gpu entry of a --gres list (``gpu``, ``gpu:N``, ``gpu:TYPE[:N]``), and whether
    the list names other resources."""
    gpu: tuple[str | None, int] | None = None
    other = False
    for entry in value.split(","):
        name, *rest = entry.split(":")
        if name != "gpu":
            other = True
            continue
        if gpu is not None:
            raise ValueError(f"{value!r} asks for GPUs twice; give one gpu entry")
        if not rest:
            gpu = (None, 1)
        elif len(rest) == 1 and not _COUNT.fullmatch(rest[0]) and _GPU_TYPE.fullmatch(rest[0]):
            gpu = (rest[0], 1)  # Slurm reads gpu:TYPE as one GPU of that type
        elif len(rest) <= 2:
            gpu = _typed_count(":".join(rest))
        else:
            raise ValueError(f"{entry!r} is not a GPU request; use gpu, gpu:N or gpu:TYPE:N")
    return gpu, other


_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "--job-name": ("name", str),
    "--account": ("account", str),
    "--partition": ("partitions", _partitions),
    "--nodes": ("nodes", _nodes),
    "--time": ("walltime_s", parse_slurm_time),
    "--mem": ("memory_gb", _memory_gb),
    "--cpus-per-task": ("cpus", _count),
}
