"""The values of sbatch options, read as Slurm reads them (``src/common/parse_time.c``,
``proc_args.c`` and ``slurm_opt.c``). Each reader raises :class:`ValueError` with a message
naming the allowed forms."""

from __future__ import annotations

import re
import signal as _signal
from dataclasses import dataclass
from enum import StrEnum

from aifactory.domain.walltime import format_walltime

TIME_FORMS = "minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
# The platform plans and bills by walltime, so Slurm's "no limit" values are refused.
_NO_LIMIT = "{!r} means no limit; give a finite positive time: " + TIME_FORMS
# At most 9 digits per number: Slurm's fields are 32-bit, and it keeps int() far from
# Python's digit limit on hostile input.
_TIME = re.compile(r"[0-9]{1,9}(?:-[0-9]{1,9})?(?::[0-9]{1,9}){0,2}")
_COUNT = re.compile(r"[0-9]{1,9}")
_NODE_COUNT = re.compile(r"([0-9]{1,9})([kKmM]?)")
# strtoll, then an optional unit and an optional B: "16G", "16GB", "512m", "1024".
_MEM = re.compile(r"([0-9]{1,12})(?:([KMGTkmgt])[Bb]?)?")
_GPU_TYPE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_MB = {"": 1, "K": 1, "M": 1, "G": 1024, "T": 1024**2}  # K rounds up separately
_PARTITION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


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


def slurm_limit_s(value: str) -> int:
    """A time limit as sbatch keeps it: whole minutes, seconds rounded up (time_str2mins)."""
    return -(-parse_slurm_time(value) // 60) * 60


def format_slurm_time(seconds: int) -> str:
    """``D-HH:MM:SS`` from one day on, else ``HH:MM:SS``: what parse_slurm_time reads back."""
    if seconds <= 0:
        raise ValueError(f"a Slurm time limit must be positive, got {seconds}")
    return format_walltime(seconds)


def count(value: str) -> int:
    if not _COUNT.fullmatch(value) or int(value) == 0:
        raise ValueError(f"{value!r} is not a positive whole number")
    return int(value)


def _node_count(text: str, whole: str) -> int:
    m = _NODE_COUNT.fullmatch(text)
    if not m:
        raise ValueError(f"{whole!r} is not a node count; use N or MIN-MAX (k and m suffixes)")
    return int(m[1]) * {"": 1, "k": 1024, "m": 1024**2}[m[2].lower()]


def node_range(value: str) -> tuple[int, int]:
    """``N`` or ``MIN-MAX`` (verify_node_count): the minimum and the maximum."""
    low, dash, high = value.partition("-")
    first = _node_count(low, value)
    last = _node_count(high, value) if dash else first
    if first == 0:
        raise ValueError(f"{value!r}: a job needs at least one node")
    if last < first:
        raise ValueError(f"{value!r}: the maximum node count is below the minimum")
    return first, last


def memory_mb(value: str) -> int:
    """Megabytes (str_to_mbytes): a number with an optional K, M, G or T (default M); 0 is
    allowed (with --mem it means all the memory of each node)."""
    m = _MEM.fullmatch(value)
    if not m:
        raise ValueError(f"{value!r} is not a memory size; use a number with K, M, G or T (M)")
    amount, unit = int(m[1]), (m[2] or "").upper()
    if unit == "K":
        return -(-amount // 1024)
    return amount * _MB[unit]


def partitions(value: str) -> tuple[str, ...]:
    names = value.split(",")
    for name in names:
        if not name:
            raise ValueError(f"{value!r} has an empty partition name")
        if not _PARTITION.fullmatch(name):
            raise ValueError(f"{name!r} is not a partition name (letters, digits, . _ -)")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Gpus:
    """A GPU request as written: a count per node, per job or per task, maybe of a type."""

    count: int
    per: str  # "node", "job" or "task"
    type: str | None = None


def typed_count(value: str) -> tuple[str | None, int]:
    """``N`` or ``TYPE:N``, as --gpus, --gpus-per-node and --gpus-per-task take them (one
    entry; a list of types is more than the platform can place)."""
    if "," in value:
        raise ValueError(
            f"{value!r} asks for several GPU types at once; the platform places one type"
        )
    kind, _, n = value.rpartition(":")
    if kind and not _GPU_TYPE.fullmatch(kind):
        raise ValueError(f"{value!r} is not a GPU request; use N or TYPE:N")
    return kind or None, count(n)


def gres_gpus(value: str) -> tuple[tuple[str | None, int] | None, list[str]]:
    """The gpu entry of a --gres list (``gpu``, ``gpu:N``, ``gpu:TYPE[:N]``) and the other
    entries, which the platform does not plan with."""
    gpu: tuple[str | None, int] | None = None
    other = []
    for entry in value.split(","):
        name, *rest = entry.split(":")
        if name != "gpu":
            other.append(entry)
            continue
        if gpu is not None:
            raise ValueError(f"{value!r} asks for GPUs twice; give one gpu entry")
        if not rest:
            gpu = (None, 1)
        elif len(rest) == 1 and not _COUNT.fullmatch(rest[0]) and _GPU_TYPE.fullmatch(rest[0]):
            gpu = (rest[0], 1)  # Slurm reads gpu:TYPE as one GPU of that type
        elif len(rest) <= 2:
            gpu = typed_count(":".join(rest))
        else:
            raise ValueError(f"{entry!r} is not a GPU request; use gpu, gpu:N or gpu:TYPE:N")
    return gpu, other


class MailType(StrEnum):
    """--mail-type values (parse_mail_type). ALL is BEGIN, END, FAIL, INVALID_DEPEND,
    REQUEUE and STAGE_OUT."""

    BEGIN = "BEGIN"
    END = "END"
    FAIL = "FAIL"
    REQUEUE = "REQUEUE"
    INVALID_DEPEND = "INVALID_DEPEND"
    STAGE_OUT = "STAGE_OUT"
    TIME_LIMIT = "TIME_LIMIT"
    TIME_LIMIT_90 = "TIME_LIMIT_90"
    TIME_LIMIT_80 = "TIME_LIMIT_80"
    TIME_LIMIT_50 = "TIME_LIMIT_50"
    ARRAY_TASKS = "ARRAY_TASKS"


_ALL_MAIL = (
    MailType.BEGIN,
    MailType.END,
    MailType.FAIL,
    MailType.INVALID_DEPEND,
    MailType.REQUEUE,
    MailType.STAGE_OUT,
)
MAIL_WORDS = ("NONE", "ALL", *(m.value for m in MailType))


def mail_types(value: str) -> tuple[MailType, ...]:
    """The events to mail about; NONE anywhere means none (as in Slurm). An unknown word is
    refused (Slurm would drop it silently)."""
    found: list[MailType] = []
    for word in value.split(","):
        w = word.strip().upper()
        if w == "NONE":
            return ()
        if w == "ALL":
            found.extend(_ALL_MAIL)
        elif w in MailType.__members__:
            found.append(MailType(w))
        else:
            raise ValueError(f"{word!r} is not a mail type; use {', '.join(MAIL_WORDS)}")
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class Signal:
    """--signal=[{R|B}:]<sig_num>[@sig_time]: send ``number`` ``before_s`` seconds before the
    time limit; to the batch shell only (``batch``) or to the job's steps."""

    number: int
    before_s: int = 60
    batch: bool = False

    @property
    def name(self) -> str:
        try:
            return _signal.Signals(self.number).name
        except ValueError:
            return str(self.number)


def signal_spec(value: str) -> Signal:
    rest = value
    flags = ""
    while rest[:1].upper() in ("R", "B") and (len(rest) > 1 and rest[1] in ":RBrb"):
        flags += rest[0].upper()
        rest = rest[1:]
    rest = rest.removeprefix(":")
    sig, at, when = rest.partition("@")
    number = _signal_number(sig)
    if number is None:
        raise ValueError(f"{value!r}: {sig!r} is not a signal; use a number or a name (USR1)")
    before = 60
    if at:
        if not _COUNT.fullmatch(when) or int(when) > 65535:
            raise ValueError(f"{value!r}: the time after @ is 0-65535 seconds")
        before = int(when)
    return Signal(number, before, "B" in flags)


def _signal_number(text: str) -> int | None:
    if _COUNT.fullmatch(text):
        n = int(text)
        return n if 1 <= n <= 64 else None
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(_signal.Signals[name])
    except KeyError:
        return None


class OpenMode(StrEnum):
    APPEND = "append"
    TRUNCATE = "truncate"


def open_mode(value: str) -> OpenMode:
    """Slurm reads only the first letter (a or t)."""
    first = value[:1].lower()
    if first == "a":
        return OpenMode.APPEND
    if first == "t":
        return OpenMode.TRUNCATE
    raise ValueError(f"{value!r} is not an open mode; use append or truncate")


def exclusive(value: str | None) -> str:
    """--exclusive, --exclusive=user|mcs|oversubscribe; the platform honours whole nodes."""
    v = (value or "exclusive").lower()
    if v not in ("exclusive", "user", "mcs", "oversubscribe", "topo"):
        raise ValueError(f"{value!r}: use --exclusive, or =user, =mcs, =topo, =oversubscribe")
    return v


def yes_no(value: str) -> bool:
    v = value.lower()
    if v not in ("yes", "no"):
        raise ValueError(f"{value!r}: use yes or no")
    return v == "yes"
