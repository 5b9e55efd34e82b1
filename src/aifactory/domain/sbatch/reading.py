"""A batch script read as sbatch reads it: every directive of its header interpreted with
Slurm's semantics, and the job resources that follow from them.

:func:`read_script` gives a :class:`ScriptReading`: what each option the platform reads says,
and a :class:`Note` for every other option (what Slurm does with it, or why the platform sets
it itself). :meth:`ScriptReading.resources` turns the resource options into the job spec's
``resources`` as Slurm would allocate them (sbatch man page, 22.05):

- ``-N MIN[-MAX]``: MIN nodes (Slurm may give up to MAX; the platform plans for MIN). Without
  ``-N``, Slurm takes as many nodes as the tasks and GPUs need: the job's totals are kept and
  the platform works the node count out per partition (``nodes: null``).
- GPUs: ``--gres=gpu[:type][:N]`` and ``--gpus-per-node`` per node, ``-G/--gpus`` for the job
  (split evenly over ``-N``), ``--gpus-per-task`` times the tasks (per node or in all).
- CPUs per node: tasks per node (``--ntasks-per-node``, or ``-n`` over ``-N``, or one) times
  ``-c`` (default 1), or ``--cpus-per-gpu`` times the node's GPUs.
- Memory per node: ``--mem`` (``0``: all of the node's memory), ``--mem-per-cpu`` times the
  node's CPUs, or ``--mem-per-gpu`` times its GPUs; the three are mutually exclusive.
- ``-t``: whole minutes, seconds rounded up (time_str2mins); without ``-t`` the partition's
  default time limit (``walltime: null``).
- ``--exclusive``: whole nodes (every CPU and GPU of each node).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from aifactory.domain.arrays import MAX_ARRAY_SIZE, ArraySpec, parse_array
from aifactory.domain.dependencies import Dependency, parse_dependency
from aifactory.domain.sbatch import values as v
from aifactory.domain.sbatch.header import Directive, ScriptError, directives, header_end
from aifactory.domain.sbatch.options import BY_NAME, Kind

_GPU_OPTIONS = {"gres": "node", "gpus-per-node": "node", "gpus": "job", "gpus-per-task": "task"}
_MEM_OPTIONS = ("mem", "mem-per-cpu", "mem-per-gpu")
_GRES_OTHER = (
    "generic resources other than GPUs: Slurm allocates them at a Slurm site; the platform "
    "does not plan with them"
)
_MB_PER_GB = 1024
_SHARED_EXCLUSIVE = ("user", "mcs", "topo")
_EXCLUSIVE_USER = (
    "keeps other users' (or other MCS labels') jobs off the job's nodes: Slurm applies it at a "
    "Slurm site; the platform plans the resources asked, not whole nodes"
)


@dataclass(frozen=True)
class Note:
    """A directive the platform does not read, and why."""

    line: int
    option: str
    kind: Kind
    why: str

    def text(self) -> str:
        return f"line {self.line}: #SBATCH {self.option}: {self.why}"


@dataclass(frozen=True)
class ScriptReading:
    name: str | None = None
    account: str | None = None
    partitions: tuple[str, ...] = ()
    qos: str | None = None
    nodes: int | None = None  # -N minimum
    nodes_max: int | None = None  # -N MIN-MAX: MAX (MIN alone: the same)
    ntasks: int | None = None
    ntasks_per_node: int | None = None
    cpus_per_task: int | None = None
    cpus_per_gpu: int | None = None
    gpus: v.Gpus | None = None
    mem_mb: int | None = None  # --mem, per node; 0: all of it
    mem_per_cpu_mb: int | None = None
    mem_per_gpu_mb: int | None = None
    time_s: int | None = None
    time_min_s: int | None = None
    exclusive: bool = False
    chdir: str | None = None
    output: str | None = None
    error: str | None = None
    open_mode: v.OpenMode | None = None
    array: ArraySpec | None = None
    dependency: Dependency | None = None
    kill_on_invalid_dep: bool | None = None
    mail_types: tuple[v.MailType, ...] | None = None
    mail_user: str | None = None
    signal: v.Signal | None = None
    notes: tuple[Note, ...] = ()
    first_command_line: int = 1
    lines: dict[str, int] = field(default_factory=dict)  # option name -> line it was read on

    @property
    def gpu_type(self) -> str | None:
        return self.gpus.type if self.gpus else None

    def line_of(self, name: str) -> int:
        return self.lines.get(name, 0)

    def resources(self) -> dict[str, Any]:
        """The job spec's ``resources`` for what the script asks (keys only where it asks)."""
        return _resources(self)


def read_script(text: str, *, max_array_size: int = MAX_ARRAY_SIZE) -> ScriptReading:
    """Every directive of ``text``'s header read; :class:`ScriptError` for one that sbatch
    would refuse or the platform cannot run."""
    fields: dict[str, Any] = {}
    lines: dict[str, int] = {}
    notes: list[Note] = []
    gpu: tuple[Directive, v.Gpus] | None = None
    total_gpus: tuple[Directive, v.Gpus] | None = None  # --gpus beside --gpus-per-task
    memory: Directive | None = None
    readers = _readers(max_array_size)
    for d in directives(text):
        option = BY_NAME[d.name]
        if option.kind is Kind.REFUSED:
            raise ScriptError(d.line, d.option, option.why)
        if option.kind is not Kind.READ:
            notes.append(Note(d.line, d.option, option.kind, option.why))
            continue
        try:
            if d.name in _GPU_OPTIONS:
                found = _gpu_request(d, notes)
                if found is None:  # a later --gres without GPUs replaces one with them
                    if gpu is not None and gpu[0].name == "gres":
                        gpu = None
                    continue
                pair = (d, found)
                if gpu is None or gpu[0].name == d.name:
                    gpu = pair
                elif {gpu[0].name, d.name} == {"gpus", "gpus-per-task"}:
                    # --gpus=X --gpus-per-task=Y: X GPUs in Y-GPU tasks
                    total_gpus, gpu = (gpu, pair) if d.name == "gpus-per-task" else (pair, gpu)
                else:
                    where = f"{gpu[0].option} on line {gpu[0].line}"
                    raise ValueError(f"the GPUs are already given by {where}; give them once")
                lines["gpus"] = d.line
                continue
            if d.name in _MEM_OPTIONS:
                if memory is not None and memory.name != d.name:
                    raise ValueError(
                        f"--mem, --mem-per-cpu and --mem-per-gpu are mutually exclusive "
                        f"({memory.option} on line {memory.line})"
                    )
                memory = d
            if d.name == "exclusive" and v.exclusive(d.value) in _SHARED_EXCLUSIVE:
                # Not whole nodes: only whose jobs may share them (Slurm's, at a Slurm site)
                notes.append(Note(d.line, f"{d.option}={d.value}", Kind.SLURM, _EXCLUSIVE_USER))
                continue
            key, read = readers[d.name]
            if d.value is None and d.name != "exclusive":
                raise ValueError("needs a value")
            fields[key] = read(d.value)
            lines[d.name] = d.line
        except ValueError as e:
            raise ScriptError(d.line, d.option, str(e)) from None
    if gpu is not None:
        fields["gpus"] = gpu[1]
    if "nodes" in fields:
        fields["nodes"], fields["nodes_max"] = fields["nodes"]
    reading = ScriptReading(
        notes=tuple(notes), first_command_line=header_end(text), lines=lines, **fields
    )
    if total_gpus is not None:
        reading = _tasks_from_gpus(reading, total_gpus)
    _check(reading)
    return reading


def _readers(max_array_size: int) -> dict[str, tuple[str, Callable[[Any], object]]]:
    def text(value: str) -> str:
        if not value.strip():
            raise ValueError("needs a value")
        return value

    return {
        "account": ("account", text),
        "array": ("array", lambda x: parse_array(x, max_size=max_array_size)),
        "chdir": ("chdir", text),
        "cpus-per-gpu": ("cpus_per_gpu", v.count),
        "cpus-per-task": ("cpus_per_task", v.count),
        "dependency": ("dependency", parse_dependency),
        "error": ("error", text),
        "exclusive": ("exclusive", lambda x: v.exclusive(x) == "exclusive"),
        "job-name": ("name", text),
        "kill-on-invalid-dep": ("kill_on_invalid_dep", v.yes_no),
        "mail-type": ("mail_types", v.mail_types),
        "mail-user": ("mail_user", text),
        "mem": ("mem_mb", v.memory_mb),
        "mem-per-cpu": ("mem_per_cpu_mb", _positive_mb),
        "mem-per-gpu": ("mem_per_gpu_mb", _positive_mb),
        "nodes": ("nodes", v.node_range),  # (min, max): split below
        "ntasks": ("ntasks", v.count),
        "ntasks-per-node": ("ntasks_per_node", v.count),
        "tasks-per-node": ("ntasks_per_node", v.count),
        "open-mode": ("open_mode", v.open_mode),
        "output": ("output", text),
        "partition": ("partitions", v.partitions),
        "qos": ("qos", text),
        "signal": ("signal", v.signal_spec),
        "time": ("time_s", v.slurm_limit_s),
        "time-min": ("time_min_s", v.slurm_limit_s),
    }


def _positive_mb(value: str) -> int:
    mb = v.memory_mb(value)
    if mb == 0:
        raise ValueError("0 is no memory; --mem=0 asks for all of a node's memory")
    return mb


def _gpu_request(d: Directive, notes: list[Note]) -> v.Gpus | None:
    if d.value is None:
        raise ValueError("needs a value")
    if d.name == "gres":
        found, other = v.gres_gpus(d.value)
        if other:
            notes.append(Note(d.line, f"{d.option}={','.join(other)}", Kind.SLURM, _GRES_OTHER))
        if found is None:
            return None
        kind, n = found
    else:
        kind, n = v.typed_count(d.value)
    return v.Gpus(n, _GPU_OPTIONS[d.name], kind)


def _tasks_from_gpus(r: ScriptReading, total: tuple[Directive, v.Gpus]) -> ScriptReading:
    d, gpus = total
    per_task = r.gpus
    assert per_task is not None
    if gpus.count % per_task.count:
        raise ScriptError(
            d.line, d.option, f"{gpus.count} GPUs are no whole number of {per_task.count}-GPU tasks"
        )
    if r.ntasks is None:
        r = replace(r, ntasks=gpus.count // per_task.count)
    return replace(r, gpus=replace(per_task, type=per_task.type or gpus.type))


def _check(r: ScriptReading) -> None:
    if r.cpus_per_gpu is not None and r.cpus_per_task is not None:
        raise ScriptError(
            r.line_of("cpus-per-gpu"), "--cpus-per-gpu", "is not compatible with --cpus-per-task"
        )
    if (
        r.gpus is not None
        and r.gpus.per == "task"
        and r.ntasks is None
        and not (r.nodes is not None and r.ntasks_per_node is not None)
    ):
        raise ScriptError(
            r.line_of("gpus"),
            "--gpus-per-task",
            "needs an explicit task count (-n/--ntasks, or -N with --ntasks-per-node)",
        )
    if r.time_min_s is not None and r.time_s is not None and r.time_min_s > r.time_s:
        raise ScriptError(r.line_of("time-min"), "--time-min", "is longer than --time")


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _tasks_per_node(r: ScriptReading) -> int | None:
    """Tasks on each node, when the node count is known (Slurm's block distribution puts
    ceil(tasks / nodes) on the first nodes)."""
    if r.nodes is None:
        return r.ntasks_per_node if r.ntasks is None else None
    if r.ntasks is not None:
        spread = _ceil(r.ntasks, r.nodes)
        return spread if r.ntasks_per_node is None else min(spread, r.ntasks_per_node)
    return r.ntasks_per_node or 1  # the default: one task per node


def _resources(r: ScriptReading) -> dict[str, Any]:
    out: dict[str, Any] = {}
    nodes = r.nodes
    if nodes is None:
        if r.ntasks is not None and r.ntasks_per_node is not None:
            nodes = _ceil(r.ntasks, r.ntasks_per_node)
        elif r.ntasks is None and (r.gpus is None or r.gpus.per != "job"):
            nodes = 1  # nothing asks for more than one node
        # else: -n or --gpus without -N: Slurm takes as many nodes as they need
    reading = replace(r, nodes=nodes) if nodes != r.nodes else r
    tpn = _tasks_per_node(reading)
    cpt = r.cpus_per_task or 1
    gpus_per_node: int | None = 0
    gpus_total: int | None = None
    if r.gpus is not None:
        if r.gpus.per == "node":
            gpus_per_node = r.gpus.count
        elif r.gpus.per == "job":
            if nodes is None:
                gpus_per_node, gpus_total = None, r.gpus.count
            elif r.gpus.count % nodes:
                raise ScriptError(
                    r.line_of("gpus"),
                    "--gpus",
                    f"{r.gpus.count} GPUs do not split evenly over {nodes} nodes; give "
                    "--gpus-per-node",
                )
            else:
                gpus_per_node = r.gpus.count // nodes
        else:  # per task
            if tpn is not None:
                gpus_per_node = r.gpus.count * tpn
            else:
                assert r.ntasks is not None
                gpus_per_node, gpus_total = None, r.gpus.count * r.ntasks
        if r.gpus.type:
            out["accelerator"] = r.gpus.type
    if nodes is None:  # the totals; the partition's node size decides the node count
        out["nodes"] = None
        if gpus_per_node:
            out["accelerators_per_node"] = gpus_per_node
        else:
            out["accelerators"] = gpus_total or 0
        if r.cpus_per_gpu is not None and gpus_per_node:
            out["cpus"] = r.cpus_per_gpu * gpus_per_node
        elif r.cpus_per_gpu is not None:
            out["cpus_total"] = r.cpus_per_gpu * (gpus_total or 0)
        else:  # --ntasks-per-node without -n or -N: that many tasks (sbatch sets -n to it)
            out["cpus_total"] = (r.ntasks or tpn or 1) * cpt
    else:
        out["nodes"] = nodes
        out["accelerators_per_node"] = gpus_per_node or 0
        if r.cpus_per_gpu is not None:
            out["cpus"] = max(1, r.cpus_per_gpu * (gpus_per_node or 0))
        else:
            out["cpus"] = (tpn or 1) * cpt
    if r.mem_mb is not None:
        out["memory_gb"] = _ceil(r.mem_mb, _MB_PER_GB)
    elif r.mem_per_cpu_mb is not None:
        out["memory_gb_per_cpu"] = r.mem_per_cpu_mb / _MB_PER_GB
    elif r.mem_per_gpu_mb is not None:
        out["memory_gb_per_accelerator"] = r.mem_per_gpu_mb / _MB_PER_GB
    out["walltime"] = r.time_s  # None: the partition's default time limit
    if r.exclusive:
        out["exclusive"] = True
    return out
