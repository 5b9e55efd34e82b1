"""#SBATCH directives of an existing batch script, one table per directive.

Every row is a directive line (or several) and what it says, derived from the sbatch man page
(Slurm 22.05) and, where the man page is silent, from Slurm's source (``src/common/slurm_opt.c``,
``parse_time.c``, ``proc_args.c``, ``src/sbatch/opt.c``): the job's ``resources`` as Slurm would
allocate them, the reading's value, a note for an option the platform does not read, or
``Refused(option, words)`` for a directive sbatch or the platform refuses (the error names the
line and the option). Then the header rules (where sbatch reads, how it splits a line), and
the resources worked out on a partition through ``scheduling.fit.resolve``.

Filename patterns are in test_sbatch_patterns.py, --array's indexes and environment in
test_job_arrays.py, --dependency's conditions and their evaluation in test_dependencies.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.domain.dependencies import Condition
from aifactory.domain.dependencies import Kind as Dep
from aifactory.domain.jobspec import JobSpec
from aifactory.domain.sbatch import (
    Kind,
    ScriptError,
    ScriptReading,
    format_slurm_time,
    header_end,
    parse_slurm_time,
    read_script,
)
from aifactory.domain.sbatch.header import directives
from aifactory.domain.sbatch.values import MailType as M
from aifactory.domain.sbatch.values import OpenMode, Signal
from aifactory.scheduling.fit import resolve
from aifactory.services.jobs import demand_of
from tests.unit.builders import HOUR, make_partition

MIN = 60
DAY = 24 * HOUR
GB = 1024  # MB


# -- builders ----------------------------------------------------------------------------------
Lines = str | tuple[str, ...]  # one #SBATCH line, or several (from line 2 on)


@dataclasses.dataclass(frozen=True)
class Refused:
    """The row's script is refused: :class:`ScriptError` naming ``option`` on ``line``, its
    message containing ``words``."""

    option: str
    words: str
    line: int = 2


def as_lines(lines: Lines) -> tuple[str, ...]:
    return (lines,) if isinstance(lines, str) else lines


def script(*directive_lines: str, body: str = "srun hostname") -> str:
    """A batch script: shebang, one ``#SBATCH`` line per argument (line 2 on), then ``body``."""
    return "\n".join(["#!/bin/bash", *(f"#SBATCH {d}" for d in directive_lines), body]) + "\n"


def read(lines: Lines) -> ScriptReading:
    return read_script(script(*as_lines(lines)))


def refusal(text: str) -> ScriptError:
    """The error reading ``text`` (or working out its resources) raises."""
    with pytest.raises(ScriptError) as e:
        read_script(text).resources()
    return e.value


def check(lines: Lines, expected: object, seen: Callable[[ScriptReading], object]) -> None:
    """``seen(reading)`` is ``expected``, or the script is refused as ``expected`` says."""
    if isinstance(expected, Refused):
        e = refusal(script(*as_lines(lines)))
        assert (e.line, e.option) == (expected.line, expected.option), str(e)
        assert str(e).startswith(f"line {expected.line}: {expected.option}: ")
        assert expected.words in e.message, e.message
    else:
        assert seen(read(lines)) == expected


def resources(expected: object) -> Callable[[ScriptReading], object]:
    """The keys of the job's resources that ``expected`` names (None: the key is absent), and
    ``notes``: the options of the reading's notes."""

    def seen(r: ScriptReading) -> dict[str, object]:
        res = r.resources()
        assert isinstance(expected, dict)
        out = {k: res.get(k) for k in expected if k != "notes"}
        if "notes" in expected:
            out["notes"] = [n.option for n in r.notes]
        return out

    return seen


def ident(lines: Lines) -> str:
    return " | ".join(as_lines(lines))


def table(rows: list[tuple[Lines, object]]) -> pytest.MarkDecorator:
    """Parametrize ``lines, expected`` over ``rows``, each named by its directive lines."""
    return pytest.mark.parametrize(("lines", "expected"), rows, ids=[ident(r[0]) for r in rows])


def said(r: ScriptReading) -> dict[str, object]:
    """What the script's options say: every field of the reading that is not its default."""
    bookkeeping = {"notes", "lines", "first_command_line"}
    return {
        f.name: getattr(r, f.name)
        for f in dataclasses.fields(r)
        if f.name not in bookkeeping and getattr(r, f.name) != f.default
    }


N2 = {"nodes": 2, "nodes_max": 2}
T10 = {"time_s": 10 * MIN}


# -- -N/--nodes --------------------------------------------------------------------------------
# "-N, --nodes=<minnodes>[-maxnodes] ... If only one number is specified, this is used as both
# the minimum and maximum node count ... may include a numeric value followed by a suffix of
# "k" (multiplies numeric value by 1,024) or "m" (multiplies numeric value by 1,048,576)."
# (reading's minimum, maximum); the job is planned on the minimum.
NODES: list[tuple[Lines, object]] = [
    ("-N 2", (2, 2)),
    ("--nodes=2", (2, 2)),
    ("-N 2-4", (2, 4)),
    ("--nodes=1-2k", (1, 2048)),
    ("-N 1k", (1024, 1024)),
    ("-N 1K", (1024, 1024)),
    ("-N 1m", (1024**2, 1024**2)),
    ("-N 4-4", (4, 4)),
    (("-N 2", "-N 3"), (3, 3)),  # the last one wins, as in sbatch
    ("-N 0", Refused("-N", "a job needs at least one node")),
    ("--nodes=4-2", Refused("--nodes", "the maximum node count is below the minimum")),
    ("--nodes=two", Refused("--nodes", "is not a node count")),
    ("-N 2.5", Refused("-N", "is not a node count")),
    ("-N 2-", Refused("-N", "is not a node count")),
    ("-N", Refused("-N", "needs a value")),
]


@table(NODES)
def test_nodes(lines: Lines, expected: object) -> None:
    check(lines, expected, lambda r: (r.nodes, r.nodes_max))
    if not isinstance(expected, Refused):
        assert isinstance(expected, tuple)
        assert read(lines).resources()["nodes"] == expected[0]


# -- -n/--ntasks -------------------------------------------------------------------------------
# "The default is one task per node, but note that the --cpus-per-task option will change this
# default." Without -N: "allocate enough nodes to satisfy the requested resources as expressed
# by per-job specification options, e.g. -n, -c and --gpus" (nodes None: the totals are kept).
NTASKS: list[tuple[Lines, object]] = [
    ("-n 8", {"nodes": None, "cpus_total": 8, "cpus": None}),
    ("--ntasks=8", {"nodes": None, "cpus_total": 8}),
    ("-n 8 -N 2", {"nodes": 2, "cpus": 4}),
    ("-n 3 -N 2", {"nodes": 2, "cpus": 2}),  # block distribution: 2 tasks on the first node
    ("-n 4 -c 2", {"nodes": None, "cpus_total": 8}),
    ("-n 1", {"nodes": None, "cpus_total": 1}),
    ("-n 0", Refused("-n", "'0' is not a positive whole number")),
    ("--ntasks=x", Refused("--ntasks", "not a positive whole number")),
]


@table(NTASKS)
def test_ntasks(lines: Lines, expected: object) -> None:
    check(lines, expected, resources(expected))


# -- --ntasks-per-node -------------------------------------------------------------------------
# "Request that ntasks be invoked on each node. If used with the --ntasks option, the --ntasks
# option will take precedence and the --ntasks-per-node will be treated as a maximum count of
# tasks per node. Meant to be used with the --nodes option."
NTASKS_PER_NODE: list[tuple[Lines, object]] = [
    ("--ntasks-per-node=4", {"nodes": 1, "cpus": 4}),
    ("-N 2 --ntasks-per-node=4", {"nodes": 2, "cpus": 4}),
    ("-N 2 --ntasks-per-node=4 -c 8", {"nodes": 2, "cpus": 32}),
    ("-n 8 --ntasks-per-node=4", {"nodes": 2, "cpus": 4}),  # as many nodes as the tasks need
    ("-n 8 -N 4 --ntasks-per-node=4", {"nodes": 4, "cpus": 2}),  # -n takes precedence
    ("-N 2 --tasks-per-node=2", {"nodes": 2, "cpus": 2}),  # its old name
    ("--ntasks-per-node=0", Refused("--ntasks-per-node", "not a positive whole number")),
]


@table(NTASKS_PER_NODE)
def test_ntasks_per_node(lines: Lines, expected: object) -> None:
    check(lines, expected, resources(expected))


# -- -c/--cpus-per-task ------------------------------------------------------------------------
CPUS_PER_TASK: list[tuple[Lines, object]] = [
    ("-c 4", {"nodes": 1, "cpus": 4}),
    ("-c4", {"nodes": 1, "cpus": 4}),
    ("--cpus-per-task=16 -N 2", {"nodes": 2, "cpus": 16}),  # one task per node by default
    ("-c 8 -n 4", {"nodes": None, "cpus_total": 32}),
    ("-c 8 -n 4 -N 2", {"nodes": 2, "cpus": 16}),
    ("--cpus-per-gpu=8 --gres=gpu:4", {"nodes": 1, "cpus": 32}),
    ("-c 0", Refused("-c", "'0' is not a positive whole number")),
    ("--cpus-per-task=-2", Refused("--cpus-per-task", "not a positive whole number")),
    ("-c 4 --cpus-per-gpu=8", Refused("--cpus-per-gpu", "not compatible with --cpus-per-task")),
]


@table(CPUS_PER_TASK)
def test_cpus_per_task(lines: Lines, expected: object) -> None:
    check(lines, expected, resources(expected))


# -- --gres=gpu[:type][:count] -----------------------------------------------------------------
# "The format of each entry on the list is "name[[:type]:count]" ... The count is the number
# of those resources with a default value of 1 ... The specified resources will be allocated to
# the job on each node." Other entries are Slurm's to allocate: a note.
GRES: list[tuple[Lines, object]] = [
    ("--gres=gpu", {"accelerator": None, "accelerators_per_node": 1}),
    ("--gres=gpu:4", {"accelerator": None, "accelerators_per_node": 4}),
    ("--gres=gpu:a100:4", {"accelerator": "a100", "accelerators_per_node": 4}),
    ("--gres=gpu:h100", {"accelerator": "h100", "accelerators_per_node": 1}),
    ("--gres gpu:nvidia_a100_3g.20gb:2", {"accelerator": "nvidia_a100_3g.20gb",
                                          "accelerators_per_node": 2}),
    # the example: 4 per node on 2 nodes, 8 GPUs in all
    ("-N 2 --gres=gpu:4", {"nodes": 2, "accelerators_per_node": 4}),
    ("--gres=gpu:a100:2,nvme:1", {"accelerator": "a100", "accelerators_per_node": 2,
                                  "notes": ["--gres=nvme:1"]}),
    ("--gres=nvme:1", {"accelerators_per_node": 0, "notes": ["--gres=nvme:1"]}),
    # a repeated --gres replaces the earlier one, GPUs included, as in sbatch
    (("--gres=gpu:2", "--gres=gpu:v100:4"), {"accelerator": "v100", "accelerators_per_node": 4}),
    (("--gres=gpu:4", "--gres=nvme:1"), {"accelerators_per_node": 0}),
    (("--gpus-per-node=4", "--gres=nvme:1"), {"accelerators_per_node": 4}),
    ("--gres=gpu:0", Refused("--gres", "'0' is not a positive whole number")),
    ("--gres=gpu:a100:x", Refused("--gres", "'x' is not a positive whole number")),
    ("--gres=gpu:a100:-1", Refused("--gres", "not a positive whole number")),
    ("--gres=gpu:a:1:2", Refused("--gres", "is not a GPU request")),
    ("--gres=gpu:-x", Refused("--gres", "'-x' is not a positive whole number")),
    ("--gres=gpu:1,gpu:a100:1", Refused("--gres", "give one gpu entry")),
    (("--gres=gpu:4", "--gpus=8"), Refused("--gpus", "given by --gres on line 2", line=3)),
]  # fmt: skip


@table(GRES)
def test_gres(lines: Lines, expected: object) -> None:
    check(lines, expected, resources(expected))


# -- -G/--gpus ---------------------------------------------------------------------------------
# "Specify the total number of GPUs required for the job." With -N they are spread over the
# (minimum) node count; without it Slurm takes as many nodes as they need (nodes None).
GPUS: list[tuple[Lines, object]] = [
    ("--gpus=8", {"nodes": None, "accelerators": 8, "accelerators_per_node": None}),
    ("-G 8 -N 2", {"nodes": 2, "accelerators_per_node": 4}),
    ("-G h100:8 --nodes=4", {"nodes": 4, "accelerator": "h100", "accelerators_per_node": 2}),
    ("-G16 -N 2-8", {"nodes": 2, "accelerators_per_node": 8}),  # over the minimum
    ("--gpus volta:3", {"nodes": None, "accelerator": "volta", "accelerators": 3}),
    (("--gpus=2", "-G 4"), {"accelerators": 4}),  # the last one wins
    ("--gpus=0", Refused("--gpus", "not a positive whole number")),
    ("-G a100", Refused("-G", "not a positive whole number")),
    ("--gpus=a:b:2", Refused("--gpus", "is not a GPU request")),
    ("--gpus=volta:3,kepler:1", Refused("--gpus", "several GPU types")),
    ("--gpus=6 -N 4", Refused("--gpus", "6 GPUs do not split evenly over 4 nodes")),
    (("-G 8", "--gres=gpu:4"), Refused("--gres", "given by -G on line 2", line=3)),
]


@table(GPUS)
def test_gpus(lines: Lines, expected: object) -> None:
    check(lines, expected, resources(expected))


# -- --gpus-per-node ---------------------------------------------------------------------------
GPUS_PER_NODE: list[tuple[Lines, object]] = [
    ("--gpus-per-node=4", {"nodes": 1, "accelerators_per_node": 4}),
    ("--gpus-per-node=4 -N 2", {"nodes": 2, "accelerators_per_node": 4}),
    ("--gpus-per-node mi250x:8", {"accelerator": "mi250x", "accelerators_per_node": 8}),
    ("--gpus-per-node=2.5", Refused("--gpus-per-node", "not a positive whole number")),
    (("--gpus-per-node=4", "-G 8"), Refused("-G", "give them once", line=3)),
]


@table(GPUS_PER_NODE)
def test_gpus_per_node(lines: Lines, expected: object) -> None:
    check(lines, expected, resources(expected))


# -- --gpus-per-task ---------------------------------------------------------------------------
# "This option requires an explicit task count, e.g. -n, --ntasks or "--gpus=X
# --gpus-per-task=Y" rather than an ambiguous range of nodes with -N, --nodes."
GPUS_PER_TASK: list[tuple[Lines, object]] = [
    ("-n 4 --gpus-per-task=1", {"nodes": None, "accelerators": 4, "cpus_total": 4}),
    ("-N 2 -n 8 --gpus-per-task=1", {"nodes": 2, "accelerators_per_node": 4, "cpus": 4}),
    ("-N 2 --ntasks-per-node=4 --gpus-per-task=2", {"nodes": 2, "accelerators_per_node": 8}),
    ("-n 2 --gpus-per-task=a100:2", {"accelerator": "a100", "accelerators": 4}),
    ("--gpus=8 --gpus-per-task=2", {"nodes": None, "accelerators": 8, "cpus_total": 4}),
    ("--gpus-per-task=1", Refused("--gpus-per-task", "needs an explicit task count")),
    ("-N 2 --gpus-per-task=1", Refused("--gpus-per-task", "needs an explicit task count")),
    ("--gpus=6 --gpus-per-task=4", Refused("--gpus", "no whole number of 4-GPU tasks")),
]


@table(GPUS_PER_TASK)
def test_gpus_per_task(lines: Lines, expected: object) -> None:
    check(lines, expected, resources(expected))


# -- --mem -------------------------------------------------------------------------------------
# "Specify the real memory required per node. Default units are megabytes. Different units
# can be specified using the suffix [K|M|G|T]." "A memory size specification of zero is treated
# as a special case and grants the job access to all of the memory on each node" (memory_gb 0;
# see test_resolved_on_a_partition). str_to_mbytes rounds K up and allows a trailing B.
MEM: list[tuple[Lines, object]] = [
    ("--mem=1024", 1),
    ("--mem=1025", 2),  # GB per node, rounded up
    ("--mem=1", 1),
    ("--mem=1M", 1),
    ("--mem=2048m", 2),
    ("--mem=64G", 64),
    ("--mem 64g", 64),
    ("--mem=64GB", 64),
    ("--mem=1T", 1024),
    ("--mem=2t", 2048),
    ("--mem=1048576K", 1),
    ("--mem=1048577k", 2),
    ("--mem=1K", 1),
    ("--mem=0", 0),  # all of the node's memory
    ("--mem=0G", 0),
    (("--mem=8G", "--mem=16G"), 16),
    ("--mem=1.5G", Refused("--mem", "is not a memory size")),
    ("--mem=-1G", Refused("--mem", "is not a memory size")),
    ("--mem=G", Refused("--mem", "is not a memory size")),
    ("--mem=64P", Refused("--mem", "is not a memory size")),
    ("--mem=4G --mem-per-cpu=1G", Refused("--mem-per-cpu", "mutually exclusive")),
]


@table(MEM)
def test_mem(lines: Lines, expected: object) -> None:
    check(lines, expected, lambda r: r.resources()["memory_gb"])


# -- --mem-per-cpu, --mem-per-gpu --------------------------------------------------------------
# "Minimum memory required per usable allocated CPU" / "per allocated GPU"; the same units.
MEM_PER_CPU: list[tuple[Lines, object]] = [
    ("--mem-per-cpu=4G -c 8", {"memory_gb_per_cpu": 4.0, "memory_gb": None, "cpus": 8}),
    ("--mem-per-cpu=512", {"memory_gb_per_cpu": 0.5}),
    ("--mem-per-cpu 2048M", {"memory_gb_per_cpu": 2.0}),
    ("--mem-per-cpu=0", Refused("--mem-per-cpu", "0 is no memory")),
    ("--mem-per-cpu=1G --mem-per-gpu=1G", Refused("--mem-per-gpu", "mutually exclusive")),
]


@table(MEM_PER_CPU)
def test_mem_per_cpu(lines: Lines, expected: object) -> None:
    check(lines, expected, resources(expected))


MEM_PER_GPU: list[tuple[Lines, object]] = [
    ("--mem-per-gpu=80G --gres=gpu:4", {"memory_gb_per_accelerator": 80.0, "memory_gb": None}),
    ("--mem-per-gpu=40960", {"memory_gb_per_accelerator": 40.0}),
    ("--mem-per-gpu=0", Refused("--mem-per-gpu", "0 is no memory")),
    (("--mem-per-gpu=8G", "--mem=0"), Refused("--mem", "mutually exclusive", line=3)),
]


@table(MEM_PER_GPU)
def test_mem_per_gpu(lines: Lines, expected: object) -> None:
    check(lines, expected, resources(expected))


# -- -t/--time ---------------------------------------------------------------------------------
# "Acceptable time formats include "minutes", "minutes:seconds", "hours:minutes:seconds",
# "days-hours", "days-hours:minutes" and "days-hours:minutes:seconds"." "Time resolution is one
# minute and second values are rounded up to the next minute." The default is the partition's
# default time limit (walltime None). A limit of zero (no limit) is refused: the platform plans
# and bills by walltime.
TIME: list[tuple[Lines, object]] = [
    ("-t 30", 30 * MIN),  # the example: 30 minutes
    ("--time=2-00:00:00", 2 * DAY),  # the example: 48 h
    ("-t 10", 10 * MIN),  # minutes
    ("-t10", 10 * MIN),
    ("--time 10", 10 * MIN),
    ("-t 0:30", 1 * MIN),  # minutes:seconds, rounded up
    ("-t 90:30", 91 * MIN),
    ("-t 5:00", 5 * MIN),
    ("-t 1:00:00", HOUR),  # hours:minutes:seconds
    ("-t 48:00:00", 48 * HOUR),
    ("-t 1:00:01", HOUR + MIN),
    ("-t 1:60:15", 2 * HOUR + MIN),  # Slurm does not bound the fields
    ("-t 2-0", 2 * DAY),  # days-hours
    ("-t 1-12", DAY + 12 * HOUR),
    ("-t 1-12:30", DAY + 12 * HOUR + 30 * MIN),  # days-hours:minutes
    ("-t 1-12:30:05", DAY + 12 * HOUR + 31 * MIN),  # days-hours:minutes:seconds
    ("-t 0-0:0:1", MIN),
    ("-t 400-00:00:00", 400 * DAY),
    (("-t 10", "-t 20"), 20 * MIN),  # the last one wins, as in sbatch
    ("-N 1", None),  # no -t: the partition's default
    ("-t 1x", Refused("-t", "'1x' is not a Slurm time; use minutes")),
    ("-t 0", Refused("-t", "means no limit")),
    ("--time=UNLIMITED", Refused("--time", "means no limit")),
    ("-t INFINITE", Refused("-t", "means no limit")),
    ("-t -1", Refused("-t", "means no limit")),
    ("-t 1:2:3:4", Refused("-t", "is not a Slurm time")),
    ("-t 1h", Refused("-t", "is not a Slurm time")),
    ("--time", Refused("--time", "needs a value")),
]


@table(TIME)
def test_time(lines: Lines, expected: object) -> None:
    check(lines, expected, lambda r: r.resources()["walltime"])


# parse_slurm_time itself keeps the seconds: (value, seconds)
TIMES_OK = [
    ("10", 600),
    ("0:30", 30),
    ("90:30", 90 * 60 + 30),
    ("1:00:00", 3600),
    ("1:60:15", 3600 + 3600 + 15),
    ("48:00:00", 48 * 3600),
    ("2-0", 2 * 86400),
    ("1-12", 86400 + 12 * 3600),
    ("1-12:30", 86400 + 12 * 3600 + 30 * 60),
    ("1-12:30:05", 86400 + 12 * 3600 + 30 * 60 + 5),
    ("0-0:0:1", 1),
    ("400-00:00:00", 400 * 86400),
]


@pytest.mark.parametrize(("value", "seconds"), TIMES_OK, ids=[t[0] for t in TIMES_OK])
def test_slurm_time_forms(value: str, seconds: int) -> None:
    assert parse_slurm_time(value) == seconds


# (value, part of the message): only the man page's six forms; parse_time.c would also take a
# few shapes outside them ("60:", "1-"), which the platform refuses.
TIMES_BAD = [
    ("1x", "is not a Slurm time; use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"),
    ("", "is not a Slurm time"),
    ("60:", "is not a Slurm time"),
    ("1:2:3:4", "is not a Slurm time"),
    ("1-2-3", "is not a Slurm time"),
    ("1-", "is not a Slurm time"),
    ("-5", "is not a Slurm time"),
    ("1.5", "is not a Slurm time"),
    ("1h", "is not a Slurm time"),
    (" 10", "is not a Slurm time"),
    ("\u0661\u0660", "is not a Slurm time"),  # Arabic-Indic digits: not ASCII ones
    ("1234567890", "is not a Slurm time"),
    ("0", "means no limit"),
    ("0:00:00", "means no limit"),
    ("0-0", "means no limit"),
    ("-1", "means no limit"),
    ("INFINITE", "means no limit"),
    ("unlimited", "means no limit"),
]


@pytest.mark.parametrize(("value", "message"), TIMES_BAD, ids=[repr(t[0]) for t in TIMES_BAD])
def test_bad_slurm_times(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"D-HH, D-HH:MM or D-HH:MM:SS$") as e:
        parse_slurm_time(value)
    assert message in str(e.value)


FORMATTED = [(1, "00:00:01"), (3600, "01:00:00"), (86399, "23:59:59"), (86400, "1-00:00:00")]


@pytest.mark.parametrize(("seconds", "text"), FORMATTED)
def test_format_slurm_time(seconds: int, text: str) -> None:
    assert format_slurm_time(seconds) == text


@pytest.mark.parametrize("seconds", [0, -1])
def test_format_refuses_no_time(seconds: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        format_slurm_time(seconds)


@given(st.integers(min_value=1, max_value=400 * 86400))
def test_format_then_parse_is_identity(seconds: int) -> None:
    assert parse_slurm_time(format_slurm_time(seconds)) == seconds


# -- --time-min --------------------------------------------------------------------------------
# "Set a minimum time limit on the job allocation" in the same formats (whole minutes too).
TIME_MIN: list[tuple[Lines, object]] = [
    ("--time-min=30 -t 60", 30 * MIN),
    ("--time-min=0:30", MIN),
    ("--time-min=2-0", 2 * DAY),
    ("--time-min=1:00:00 -t 1:00:00", HOUR),
    ("--time-min=90 -t 60", Refused("--time-min", "is longer than --time")),
    ("--time-min=1x", Refused("--time-min", "is not a Slurm time")),
]


@table(TIME_MIN)
def test_time_min(lines: Lines, expected: object) -> None:
    check(lines, expected, lambda r: r.time_min_s)


# -- -p/--partition ----------------------------------------------------------------------------
# "If the job can use more than one partition, specify their names in a comma separate list."
PARTITION: list[tuple[Lines, object]] = [
    ("-p gpu", ("gpu",)),
    ("--partition=dev", ("dev",)),
    ("-p gpu,booster", ("gpu", "booster")),
    ("-p gpu,booster,gpu", ("gpu", "booster")),  # a repeat counts once
    ("--partition standard-g", ("standard-g",)),
    (("-p a", "-p b"), ("b",)),
    ("-p gpu,,cpu", Refused("-p", "empty partition name")),
    ("-p 'a b'", Refused("-p", "is not a partition name")),
]


@table(PARTITION)
def test_partition(lines: Lines, expected: object) -> None:
    check(lines, expected, lambda r: r.partitions)


# -- -q/--qos, -A/--account, -J/--job-name, --mail-user: text kept as written ------------------
TEXT: list[tuple[Lines, object]] = [
    ("-q high", {"qos": "high"}),
    ("--qos=normal", {"qos": "normal"}),
    ("--qos boost_qos_dbg", {"qos": "boost_qos_dbg"}),
    ("-A proj1", {"account": "proj1"}),
    ("--account=project_462000123", {"account": "project_462000123"}),
    ("-J train", {"name": "train"}),
    ("-J 'my job' -A proj", {"name": "my job", "account": "proj"}),
    ('--job-name="a # b"', {"name": "a # b"}),
    ("--job-name=a\\ b", {"name": "a b"}),
    ("--mail-user=a@b.eu", {"mail_user": "a@b.eu"}),
    ("--mail-user a@b.eu", {"mail_user": "a@b.eu"}),
    ("--qos=", Refused("--qos", "needs a value")),
    ("--job-name=", Refused("--job-name", "needs a value")),
    ("-J", Refused("-J", "needs a value")),
    ("-A ''", Refused("-A", "needs a value")),
]


@table(TEXT)
def test_qos_account_job_name_mail_user(lines: Lines, expected: object) -> None:
    check(lines, expected, said)


# -- -o/--output, -e/--error: the pattern kept verbatim (test_sbatch_patterns.py expands it) ---
OUTPUT: list[tuple[Lines, object]] = [
    ("-o out-%j.log", ("out-%j.log", None)),
    ("--output=/scratch/%u/%x-%A_%a.out", ("/scratch/%u/%x-%A_%a.out", None)),
    ("-e err.%j", (None, "err.%j")),
    ("--error e.txt", (None, "e.txt")),
    ("-o out.%j -e err.%j", ("out.%j", "err.%j")),
    ("-o 'my out.log'", ("my out.log", None)),
    ("-o logs/100%%.txt", ("logs/100%%.txt", None)),
    ("-o", Refused("-o", "needs a value")),
]


@table(OUTPUT)
def test_output_and_error(lines: Lines, expected: object) -> None:
    check(lines, expected, lambda r: (r.output, r.error))


# -- --exclusive[={user|mcs}] ------------------------------------------------------------------
# "If user/mcs are not specified (i.e. the job allocation can not share nodes with other
# running jobs), the job is allocated all CPUs and GRES on all nodes in the allocation": whole
# nodes. With =user or =mcs only other users' jobs are kept off: Slurm's at a Slurm site, a note.
EXCLUSIVE: list[tuple[Lines, object]] = [
    ("--exclusive", {"exclusive": True, "notes": []}),
    ("--exclusive=exclusive", {"exclusive": True}),
    ("--exclus", {"exclusive": True}),  # a unique prefix
    ("--exclusive=user", {"exclusive": None, "notes": ["--exclusive=user"]}),
    ("--exclusive=mcs", {"exclusive": None, "notes": ["--exclusive=mcs"]}),
    ("--exclusive=oversubscribe", {"exclusive": None, "notes": []}),
    ("--exclusive=bogus", Refused("--exclusive", "use --exclusive, or =user")),
    ("--exclusive user", Refused("user", "is not an sbatch option")),  # only --exclusive=user
]


@table(EXCLUSIVE)
def test_exclusive(lines: Lines, expected: object) -> None:
    check(lines, expected, resources(expected))


# -- options Slurm applies and the platform does not plan with: a note each -------------------
# (lines, [(line, option as written, kind)])
NOTED: list[tuple[Lines, object]] = [
    ("-C gpu80", [(2, "-C", Kind.SLURM)]),
    ("--constraint=a100&ib", [(2, "--constraint", Kind.SLURM)]),
    ("--constraint 'gpu&(a100|h100)'", [(2, "--constraint", Kind.SLURM)]),
    ("--requeue -N 2", [(2, "--requeue", Kind.SLURM)]),
    ("--no-requeue", [(2, "--no-requeue", Kind.SLURM)]),
    ("-k", [(2, "-k", Kind.SLURM)]),
    ("-v", [(2, "-v", Kind.PLATFORM)]),
    ("--export=ALL", [(2, "--export", Kind.PLATFORM)]),
    ("--comment=x", [(2, "--comment", Kind.PLATFORM)]),
    (("--hint=nomultithread", "-w nid[001-004]"), [(2, "--hint", Kind.SLURM),
                                                  (3, "-w", Kind.SLURM)]),
    ("--time=10 --exclusive -N 2 --qos=q -C x", [(2, "-C", Kind.SLURM)]),
]  # fmt: skip


@table(NOTED)
def test_noted_options(lines: Lines, expected: object) -> None:
    check(lines, expected, lambda r: [(n.line, n.option, n.kind) for n in r.notes])


def test_a_note_leaves_the_resources_as_they_were() -> None:
    assert read("--requeue -C a100 -N 2").resources() == read("-N 2").resources()
    note = read("-C gpu80").notes[0]
    assert note.text().startswith("line 2: #SBATCH -C: node selection is the site's")


# -- --dependency ------------------------------------------------------------------------------
# "<type:job_id[:job_id][,type:job_id[:job_id]]> or <type:job_id[:job_id][?type:job_id
# [:job_id]]>. All dependencies must be satisfied if the "," separator is used. Any dependency
# may be satisfied if the "?" separator is used. Only one separator may be used." The ids are
# the platform's job ids. (any_of, conditions)
A, B, C = "job-a", "job-b", "job-c"
DEPENDENCY: list[tuple[Lines, object]] = [
    ("--dependency=afterok:job-a", (False, [Condition(Dep.AFTEROK, A)])),
    ("-d afterok:job-a:job-b", (False, [Condition(Dep.AFTEROK, A), Condition(Dep.AFTEROK, B)])),
    ("-d afterany:job-a", (False, [Condition(Dep.AFTERANY, A)])),
    ("-d job-a", (False, [Condition(Dep.AFTERANY, A)])),  # "This is the default type."
    ("-d afternotok:job-a", (False, [Condition(Dep.AFTERNOTOK, A)])),
    ("-d after:job-a", (False, [Condition(Dep.AFTER, A)])),
    ("-d after:job-a+10:job-b", (False, [Condition(Dep.AFTER, A, 10), Condition(Dep.AFTER, B)])),
    ("-d singleton", (False, [Condition(Dep.SINGLETON)])),
    ("-d afterok:job-a_3", (False, [Condition(Dep.AFTEROK, "job-a_3")])),  # one array task
    ("-d afterok:job-a:job-b,afterany:job-c",
     (False, [Condition(Dep.AFTEROK, A), Condition(Dep.AFTEROK, B), Condition(Dep.AFTERANY, C)])),
    ("-d afterok:job-a:job-b?afterany:job-c",
     (True, [Condition(Dep.AFTEROK, A), Condition(Dep.AFTEROK, B), Condition(Dep.AFTERANY, C)])),
    ("--dep afterok:job-a", (False, [Condition(Dep.AFTEROK, A)])),  # a unique prefix
    ("-d afterok:job-a,afterany:job-b?after:job-c", Refused("-d", "either , (all of) or ?")),
    ("-d afterfoo:job-a", Refused("-d", "'afterfoo' is not a dependency type")),
    ("-d afterok:job-a+5", Refused("-d", "only after:ID+MINUTES takes a delay")),
    ("-d after:job-a+0", Refused("-d", "the delay after + is 1 minute or more")),
    ("-d afterok:4242", Refused("-d", "'4242' is not a platform job id")),
    ("-d singleton:job-a", Refused("-d", "singleton takes no job ids")),
]  # fmt: skip


@table(DEPENDENCY)
def test_dependency(lines: Lines, expected: object) -> None:
    def seen(r: ScriptReading) -> object:
        assert r.dependency is not None
        (d,) = directives(script(*as_lines(lines)))
        assert r.dependency.text == d.value  # kept as written
        return (r.dependency.any_of, list(r.dependency.conditions))

    check(lines, expected, seen)


# -- --mail-type -------------------------------------------------------------------------------
# "Valid type values are NONE, BEGIN, END, FAIL, REQUEUE, ALL (equivalent to BEGIN, END, FAIL,
# INVALID_DEPEND, REQUEUE, and STAGE_OUT), INVALID_DEPEND, STAGE_OUT, TIME_LIMIT,
# TIME_LIMIT_90, TIME_LIMIT_80, TIME_LIMIT_50 and ARRAY_TASKS. Multiple type values may be
# specified in a comma separated list." parse_mail_type compares without case, and NONE
# anywhere means none. An unknown word is refused (Slurm drops it silently).
ALL = (M.BEGIN, M.END, M.FAIL, M.INVALID_DEPEND, M.REQUEUE, M.STAGE_OUT)
MAIL_TYPE: list[tuple[Lines, object]] = [
    ("--mail-type=ALL", ALL),
    ("--mail-type=NONE", ()),
    ("--mail-type=END,FAIL", (M.END, M.FAIL)),
    ("--mail-type=end,fail", (M.END, M.FAIL)),
    ("--mail-type=ARRAY_TASKS", (M.ARRAY_TASKS,)),
    ("--mail-type=BEGIN,NONE", ()),
    ("--mail-type=TIME_LIMIT_90,TIME_LIMIT", (M.TIME_LIMIT_90, M.TIME_LIMIT)),
    ("--mail-type=ALL,END", ALL),  # a repeat counts once
    ("--mail-type=FAIL,ARRAY_TASKS", (M.FAIL, M.ARRAY_TASKS)),
    ("-N 1", None),  # not given: the platform's default
    ("--mail-type=BOGUS", Refused("--mail-type", "'BOGUS' is not a mail type")),
    ("--mail-type=END,BOGUS", Refused("--mail-type", "'BOGUS' is not a mail type")),
]


@table(MAIL_TYPE)
def test_mail_type(lines: Lines, expected: object) -> None:
    check(lines, expected, lambda r: r.mail_types)


# -- -a/--array (indexes and throttle: test_job_arrays.py) -------------------------------------
# "--array=0-15" or "--array=0,6,16-32" ... "--array=0-15:4" is equivalent to
# "--array=0,4,8,12" ... "--array=0-15%4" will limit the number of simultaneously running
# tasks from this job array to 4. The minimum index value is 0. the maximum value is one less
# than the configuration parameter MaxArraySize." (indexes, throttle)
ARRAY: list[tuple[Lines, object]] = [
    ("--array=1-99:2", (tuple(range(1, 100, 2)), None)),
    ("-a 0-15:4", ((0, 4, 8, 12), None)),
    ("--array=0,6,16-32", ((0, 6, *range(16, 33)), None)),
    ("--array 0-15%4", (tuple(range(16)), 4)),
    ("--array=0-9%0", (tuple(range(10)), None)),  # slurmctld keeps only a limit above 0
    ("-a3", ((3,), None)),
    ("--array=0-1000", (tuple(range(1001)), None)),
    ("--array=0-1001", Refused("--array", "index 1001 is too high")),
    ("--array=5-1", Refused("--array", "runs backwards")),
    ("--array=1-10:0", Refused("--array", "a step of 0")),
    ("--array=a-b", Refused("--array", "is not an array")),
    ("--array=-1", Refused("--array", "is not an array")),
    ("--array=0-9%x", Refused("--array", "after % comes the number of tasks")),
]


@table(ARRAY)
def test_array(lines: Lines, expected: object) -> None:
    check(lines, expected, lambda r: (r.array.indexes, r.array.throttle) if r.array else None)


# -- --signal=[{R|B}:]<sig_num>[@sig_time] -----------------------------------------------------
# "sig_num may either be a signal number or name (e.g. "10" or "USR1"). sig_time must have an
# integer value between 0 and 65535 ... If a sig_num is specified without any sig_time, the
# default time will be 60 seconds. Use the "B:" option to signal only the batch shell ... Use
# the "R:" option to allow this job to overlap with a reservation with MaxStartDelay set."
SIGNAL: list[tuple[Lines, object]] = [
    ("--signal=B:USR1@300", Signal(10, 300, batch=True)),
    ("--signal=R:USR1", Signal(10, 60)),
    ("--signal=USR1", Signal(10, 60)),
    ("--signal=10@120", Signal(10, 120)),
    ("--signal=SIGTERM@0", Signal(15, 0)),
    ("--signal=usr2", Signal(12, 60)),
    ("--signal=RB:TERM@30", Signal(15, 30, batch=True)),
    ("--signal=B:USR1@65536", Refused("--signal", "the time after @ is 0-65535 seconds")),
    ("--signal=FOO", Refused("--signal", "'FOO' is not a signal")),
    ("--signal=USR1@x", Refused("--signal", "the time after @ is 0-65535 seconds")),
]


@table(SIGNAL)
def test_signal(lines: Lines, expected: object) -> None:
    check(lines, expected, lambda r: r.signal)


# -- --open-mode={append|truncate}: Slurm reads the first letter -------------------------------
OPEN_MODE: list[tuple[Lines, object]] = [
    ("--open-mode=append", OpenMode.APPEND),
    ("--open-mode=truncate", OpenMode.TRUNCATE),
    ("--open-mode a", OpenMode.APPEND),
    ("--open-mode=T", OpenMode.TRUNCATE),
    ("-N 1", None),  # not given: the site's JobFileAppend
    ("--open-mode=x", Refused("--open-mode", "is not an open mode")),
]


@table(OPEN_MODE)
def test_open_mode(lines: Lines, expected: object) -> None:
    check(lines, expected, lambda r: r.open_mode)


# -- how a line is split into options (getopt_long's rules) ------------------------------------
# (lines, [(option as written, value, the long name it stands for)])
SPLITTING: list[tuple[Lines, object]] = [
    ("--nodes 2", [("--nodes", "2", "nodes")]),  # --opt value
    ("--nodes=2", [("--nodes", "2", "nodes")]),  # --opt=value
    ("-N 2", [("-N", "2", "nodes")]),  # -N value
    ("-N2", [("-N", "2", "nodes")]),  # -Nvalue
    ("-vN2", [("-v", None, "verbose"), ("-N", "2", "nodes")]),  # grouped letters
    ("-N2 -t10 -c4", [("-N", "2", "nodes"), ("-t", "10", "time"), ("-c", "4", "cpus-per-task")]),
    ("--exclusive -N 2", [("--exclusive", None, "exclusive"), ("-N", "2", "nodes")]),
    ("--exclusive=user", [("--exclusive", "user", "exclusive")]),  # optional: only with =
    ("-J 'my job' -A proj", [("-J", "my job", "job-name"), ("-A", "proj", "account")]),
    ('--job-name="a # b"', [("--job-name", "a # b", "job-name")]),
    ("--job-name=a\\ b", [("--job-name", "a b", "job-name")]),
    ("--job-name=a=b", [("--job-name", "a=b", "job-name")]),
    ("-N 2 # -t 10", [("-N", "2", "nodes")]),  # the rest of the line is a comment
    ("-N 2 #-t 10", [("-N", "2", "nodes")]),
    ("-J a#b -N 2", [("-J", "a", "job-name")]),  # an unquoted # starts a comment
    ("# -N 2", []),
    ("--mem 8G   # per node", [("--mem", "8G", "mem")]),
]


@table(SPLITTING)
def test_splitting(lines: Lines, expected: object) -> None:
    got = directives(script(*as_lines(lines)))
    assert [(d.option, d.value, d.name) for d in got] == expected
    assert all(d.line == 2 for d in got)


# -- long-option abbreviations: a unique prefix stands for the option --------------------------
# (lines, the long name it stands for)
ABBREVIATIONS: list[tuple[Lines, object]] = [
    ("--part=gpu", "partition"),
    ("--partition=gpu", "partition"),
    ("--ntasks-per-n=4", "ntasks-per-node"),
    ("--gpus-per-n=2", "gpus-per-node"),
    ("--acco=p1", "account"),
    ("--dep=singleton", "dependency"),
    ("--mail-t=END", "mail-type"),
    ("--nodes=2", "nodes"),  # exact, though --nodelist and --nodefile start alike
    ("--time=10", "time"),  # exact, though --time-min starts alike
    ("--par=gpu", Refused("--par", "is ambiguous: it could be --parsable, --partition")),
    ("--nod=2", Refused("--nod", "is ambiguous: it could be --nodefile, --nodelist, --nodes")),
    ("--mem-per=4G", Refused("--mem-per", "it could be --mem-per-cpu, --mem-per-gpu")),
    ("--tim=10", Refused("--tim", "it could be --time, --time-min")),
    ("--acc=p1", Refused("--acc", "it could be --account, --acctg-freq")),
]


@table(ABBREVIATIONS)
def test_long_option_abbreviations(lines: Lines, expected: object) -> None:
    if isinstance(expected, Refused):
        check(lines, expected, said)
    else:
        (d,) = directives(script(*as_lines(lines)))
        assert d.name == expected
        assert d.option == as_lines(lines)[0].partition("=")[0]  # shown as written
        read(lines)  # and read


# -- options the platform refuses: sbatch does not know them, or the platform cannot run them --
REFUSED: list[tuple[Lines, object]] = [
    ("--cpu-bind=cores", Refused("--cpu-bind", "is not an sbatch option")),  # srun's only
    ("--frobnicate", Refused("--frobnicate", "is not an sbatch option")),
    ("--frobnicate -N 2", Refused("--frobnicate", "is not an sbatch option")),
    ("-Z", Refused("-Z", "is not an sbatch option")),
    ("-H", Refused("-H", "a held job waits for a release")),
    ("-Hv", Refused("-H", "a held job waits for a release")),
    ("-vH", Refused("-H", "a held job waits for a release")),
    ("--hold", Refused("--hold", "a held job waits")),
    ("--wrap='srun x'", Refused("--wrap", "a script cannot wrap another command")),
    ("--test-only", Refused("--test-only", "sbatch would only estimate")),
    ("-M lumi", Refused("-M", "the platform chooses the site")),
    ("--uid=0", Refused("--uid", "jobs run as the platform's Slurm user")),
    ("--no-requeue=yes", Refused("--no-requeue", "takes no value")),
    ("hetjob", Refused("hetjob", "heterogeneous jobs are not supported")),
    ("-N 2 stray", Refused("stray", "'stray' is not an sbatch option")),
    ("-N 2 -- -t 5", Refused("--", "is not an sbatch option")),
]


@table(REFUSED)
def test_refused_options(lines: Lines, expected: object) -> None:
    check(lines, expected, said)


# -- where sbatch reads the header -------------------------------------------------------------
# "The batch script may contain options preceded with "#SBATCH" before any executable commands
# in the script. sbatch will stop processing further #SBATCH directives once the first
# non-comment non-whitespace line has been reached in the script."
# (case, script, what its options say, the first line after the header)
WHERE = [
    ("no directives", "#!/bin/bash\necho hi\n", {}, 2),
    ("empty script", "", {}, 2),
    ("no shebang", "#SBATCH -N 2\n", N2, 3),
    ("blank and comment lines", "#!/bin/sh\n\n# setup\n   \n\t# indented\n#SBATCH -N 2\n", N2, 8),
    ("stops at a command", "#SBATCH -N 2\necho hi\n#SBATCH -t 10\n", N2, 2),
    ("stops at an indented command", "#SBATCH -N 2\n  cd /tmp\n#SBATCH -t 10\n", N2, 2),
    ("stops at a variable", "X=1\n#SBATCH -N 2\n", {}, 1),
    ("'# SBATCH' is a comment", "# SBATCH -N 2\n#SBATCH -t 10\n", T10, 4),
    ("'##SBATCH' is a comment", "##SBATCH -N 2\n#SBATCH -t 10\n", T10, 4),
    ("indented #SBATCH is a comment", "  #SBATCH -N 2\n#SBATCH -t 10\n", T10, 4),
    ("lower case is a comment", "#sbatch -N 2\n", {}, 3),
    ("no space after #SBATCH", "#SBATCH-N 2\n", N2, 3),
    ("#SLURM is read too (src/sbatch/opt.c)", "#SLURM -N 2\n#SBATCH -t 10\n", {**N2, **T10}, 4),
    ("no final newline", "#SBATCH -t 10", T10, 2),
    ("empty directive", "#SBATCH\n#SBATCH   \n#SBATCH -N 3\n", {"nodes": 3, "nodes_max": 3}, 5),
]


@pytest.mark.parametrize(("case", "text", "expected", "end"), WHERE, ids=[w[0] for w in WHERE])
def test_where_the_header_ends(case: str, text: str, expected: dict[str, object], end: int) -> None:
    reading = read_script(text)
    assert said(reading) == expected
    assert header_end(text) == end == reading.first_command_line


def test_sbatch_after_the_first_command_is_ignored_unchecked() -> None:
    text = script("-N 2", body="echo done\n#SBATCH --time=1x\n#SBATCH --frobnicate")
    assert said(read_script(text)) == N2


def test_options_over_lines_and_comments() -> None:
    text = "\n".join(
        [
            "#!/bin/bash -l",
            "# train the model",
            "#SBATCH --job-name=train   # the name",
            "#SBATCH -A proj1 -p booster",
            "",
            "#SBATCH --nodes=4 --gres=gpu:a100:4",
            "#SBATCH --time=2-00:00:00",
            "#SBATCH --mem=480G -c 32",
            "module load cuda",
            "srun python train.py",
        ]
    )
    reading = read_script(text)
    assert (reading.name, reading.account, reading.partitions) == ("train", "proj1", ("booster",))
    assert reading.resources() == {
        "accelerator": "a100",
        "nodes": 4,
        "accelerators_per_node": 4,
        "cpus": 32,
        "memory_gb": 480,
        "walltime": 2 * DAY,
    }
    assert reading.first_command_line == 9
    assert reading.lines["time"] == 7


# -- errors name the line and the option -------------------------------------------------------
# (script, line, option, part of the message)
ERRORS = [
    (script("-N 2", "-t", "-c 4"), 3, "-t", "needs a value"),
    (script("-N 2", "", "--time=1x"), 4, "--time", "'1x' is not a Slurm time; use minutes"),
    (script("-J 'unclosed"), 2, "#SBATCH", "cannot split the line"),
    (script("-J a", "-J 'b", "-N 2"), 3, "#SBATCH", "cannot split the line"),
    ("#!/bin/bash\n#SBATCH -N 2\n#SBATCH -J a\0b\n", 3, "script", "NUL character"),
    ("#!/bin/bash\r\n#SBATCH -N 2\r\n", 1, "script", "DOS line breaks"),
    ("#SBATCH -N 2\n\n#SBATCH --gres=gpu:4\n#SBATCH -G 8\n", 4, "-G", "--gres on line 3"),
]


@pytest.mark.parametrize(("text", "line", "option", "message"), ERRORS, ids=repr)
def test_errors_name_line_and_option(text: str, line: int, option: str, message: str) -> None:
    e = refusal(text)
    assert (e.line, e.option) == (line, option)
    assert str(e).startswith(f"line {line}: {option}: ")
    assert message in str(e)
    assert isinstance(e, ValueError)


def test_error_text() -> None:
    e = refusal(script("-N 2", "-c 4", "--time=1x"))
    assert str(e) == (
        "line 4: --time: '1x' is not a Slurm time; "
        "use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
    )


# One directive per read option, each in a form that does not depend on the others
CANONICAL = [
    "--job-name=train",
    "-A proj1",
    "--partition=booster,dev",
    "-N 2",
    "--time=1-12:00:00",
    "--gpus-per-node=a100:4",
    "--mem=480G",
    "--cpus-per-task=16",
    "--qos=normal",
    "--mail-type=END,FAIL",
    "--signal=B:USR1@300",
    "--array=0-9%2",
    "-o out-%A_%a.log",
]


@given(st.permutations(CANONICAL), st.lists(st.sampled_from(["", "# note"]), max_size=3))
def test_order_of_directives_does_not_matter(order: list[str], comments: list[str]) -> None:
    text = "\n".join(["#!/bin/bash", *comments, *(f"#SBATCH {d}" for d in order), "srun x"])
    assert said(read_script(text)) == said(read(tuple(CANONICAL)))


@given(st.permutations(CANONICAL), st.integers(min_value=1, max_value=len(CANONICAL)))
def test_directives_on_fewer_lines(order: list[str], per_line: int) -> None:
    lines = [" ".join(order[i : i + per_line]) for i in range(0, len(order), per_line)]
    assert said(read(tuple(lines))) == said(read(tuple(CANONICAL)))


# -- the resources on a partition (scheduling.fit.resolve) -------------------------------------
# A node of 4 GPUs, 64 CPUs and 512 GiB; 10 nodes; a 2 h default time limit. The script goes
# through the job spec (its #SBATCH lines fill the resources) to the scheduler's demand.
NODE_512 = make_partition(
    "gpu", "A100", accelerators_per_node=4, cpus_per_node=64, memory_gb_per_node=512,
    nodes=10, default_walltime_s=2 * HOUR,
)  # fmt: skip
# (lines, what the Need says, or why the job cannot fit)
RESOLVED: list[tuple[Lines, object]] = [
    # the example: --mem=0 on a 512 GiB node is 512 GiB
    ("--mem=0", {"nodes": 1, "memory_gb": 512}),
    ("-N 2 --mem=0", {"nodes": 2, "memory_gb": 512}),
    # the example: -N 2 --gres=gpu:4 is 8 GPUs in all
    ("-N 2 --gres=gpu:4", {"nodes": 2, "accelerators_per_node": 4, "accelerators": 8}),
    ("--time=2-00:00:00", {"walltime_s": 48 * HOUR}),
    ("-t 30", {"walltime_s": 30 * MIN}),
    ("-N 1", {"walltime_s": 2 * HOUR}),  # no -t: the partition's default
    ("-G 8", {"nodes": 2, "accelerators_per_node": 4}),  # as many nodes as needed
    ("-G 6", {"nodes": 2, "accelerators_per_node": 3}),
    ("-n 128", {"nodes": 2, "cpus": 64}),
    ("-n 8 --gpus-per-task=1", {"nodes": 2, "accelerators": 8}),
    ("--mem-per-cpu=4G -c 8", {"cpus": 8, "memory_gb": 32}),
    ("--mem-per-gpu=80G --gres=gpu:4", {"accelerators_per_node": 4, "memory_gb": 320}),
    ("--exclusive --mem=0", {"whole_nodes": True, "accelerators_per_node": 4, "cpus": 64,
                             "memory_gb": 512}),
    ("--exclusive --mem=16G", {"whole_nodes": True, "cpus": 64, "memory_gb": 16}),
    ("--mem=600G", "has 512 GB per node, the job needs 600 GB"),
    ("--gres=gpu:8", "has 4 accelerators per node, the job needs 8"),
    ("-N 11", "has 10 nodes, the job needs 11"),
]  # fmt: skip


@table(RESOLVED)
def test_resolved_on_a_partition(lines: Lines, expected: object) -> None:
    text = script("-A p1 -J job", *as_lines(lines))
    need = resolve(demand_of(JobSpec.model_validate({"script": text})), NODE_512)
    if isinstance(expected, str):
        assert need == expected
    else:
        assert isinstance(expected, dict) and not isinstance(need, str), need
        got: dict[str, Any] = need.as_dict()
        assert {k: got[k] for k in expected} == expected
