"""Every option sbatch knows, with what the platform does with it.

The names, their short letters and whether they take a value come from Slurm's own option
table (``src/common/slurm_opt.c``) and the sbatch man page (22.05 and later releases), so a
script is split exactly as sbatch splits it and an unknown option is refused as sbatch refuses
it. Each option has a :class:`Kind`:

- ``read``: the platform reads it and honours it wherever the job runs (docs/jobs.md);
- ``slurm``: Slurm applies it at a Slurm site (the script goes to ``sbatch`` unchanged); it
  does not change what the platform plans, and it has no effect where the platform runs the
  job itself (the local machine, a digital twin);
- ``platform``: the platform sets this itself; the script's value is not used;
- ``refused``: the platform cannot run a script with it (a 422 naming the line).

Every option that is not ``read`` comes back in the job's warnings with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Arg(StrEnum):
    NONE = "none"
    REQUIRED = "required"
    OPTIONAL = "optional"  # getopt_long: only as --opt=value (or -kVALUE for a short one)


class Kind(StrEnum):
    READ = "read"
    SLURM = "slurm"
    PLATFORM = "platform"
    REFUSED = "refused"


@dataclass(frozen=True)
class Option:
    name: str  # the long name, without "--"
    arg: Arg
    kind: Kind
    why: str = ""  # for every kind but read: what the user reads in the warning or error
    short: str = ""  # its one-letter form, if any


LAYOUT = (
    "task, CPU and GPU layout inside the allocation: Slurm applies it at a Slurm site; the "
    "platform plans with the resources alone, and it has no effect where the platform runs "
    "the job itself"
)
NODES = (
    "node selection is the site's: Slurm applies it at a Slurm site; the platform does not "
    "check it, and it has no effect where the platform runs the job itself"
)
SITE = (
    "a site feature: Slurm applies it at a Slurm site; the platform does not plan with it, "
    "and it has no effect where the platform runs the job itself"
)
SBATCH_ONLY = "only changes what the sbatch command prints or waits for; the platform submits"
ACCOUNTING = "the site's accounting and profiling settings: Slurm applies them at a Slurm site"

_R, _N, _O = Arg.REQUIRED, Arg.NONE, Arg.OPTIONAL
_READ, _SLURM, _PLATFORM, _REFUSED = Kind.READ, Kind.SLURM, Kind.PLATFORM, Kind.REFUSED

OPTIONS: tuple[Option, ...] = (
    # -- what the platform reads -----------------------------------------------------------
    Option("account", _R, _READ, short="A"),
    Option("array", _R, _READ, short="a"),
    Option("chdir", _R, _READ, short="D"),
    Option("cpus-per-gpu", _R, _READ),
    Option("cpus-per-task", _R, _READ, short="c"),
    Option("dependency", _R, _READ, short="d"),
    Option("error", _R, _READ, short="e"),
    Option("exclusive", _O, _READ),
    Option("gpus", _R, _READ, short="G"),
    Option("gpus-per-node", _R, _READ),
    Option("gpus-per-task", _R, _READ),
    Option("gres", _R, _READ),
    Option("job-name", _R, _READ, short="J"),
    Option("kill-on-invalid-dep", _R, _READ),
    Option("mail-type", _R, _READ),
    Option("mail-user", _R, _READ),
    Option("mem", _R, _READ),
    Option("mem-per-cpu", _R, _READ),
    Option("mem-per-gpu", _R, _READ),
    Option("nodes", _R, _READ, short="N"),
    Option("ntasks", _R, _READ, short="n"),
    Option("ntasks-per-node", _R, _READ),
    Option("tasks-per-node", _R, _READ),  # an old name of --ntasks-per-node
    Option("open-mode", _R, _READ),
    Option("output", _R, _READ, short="o"),
    Option("partition", _R, _READ, short="p"),
    Option("qos", _R, _READ, short="q"),
    Option("signal", _R, _READ),
    Option("time", _R, _READ, short="t"),
    Option("time-min", _R, _READ),
    # -- Slurm applies them; the platform does not plan with them --------------------------
    Option("constraint", _R, _SLURM, NODES, short="C"),
    Option("cluster-constraint", _R, _SLURM, NODES),
    Option("prefer", _R, _SLURM, NODES),
    Option("nodelist", _R, _SLURM, NODES, short="w"),
    Option("nodefile", _R, _SLURM, NODES, short="F"),
    Option("exclude", _R, _SLURM, NODES, short="x"),
    Option("switches", _R, _SLURM, NODES),
    Option("contiguous", _N, _SLURM, NODES),
    Option("reservation", _R, _SLURM, NODES),
    Option("use-min-nodes", _N, _SLURM, NODES),
    Option("distribution", _R, _SLURM, LAYOUT, short="m"),
    Option("hint", _R, _SLURM, LAYOUT),
    Option("gpu-bind", _R, _SLURM, LAYOUT),
    Option("tres-bind", _R, _SLURM, LAYOUT),
    Option("mem-bind", _R, _SLURM, LAYOUT),
    Option("ntasks-per-core", _R, _SLURM, LAYOUT),
    Option("ntasks-per-socket", _R, _SLURM, LAYOUT),
    Option("ntasks-per-gpu", _R, _SLURM, LAYOUT),
    Option("ntasks-per-tres", _R, _SLURM, LAYOUT),
    Option("threads-per-core", _R, _SLURM, LAYOUT),
    Option("cores-per-socket", _R, _SLURM, LAYOUT),
    Option("sockets-per-node", _R, _SLURM, LAYOUT),
    Option("gpus-per-socket", _R, _SLURM, LAYOUT),
    Option("extra-node-info", _R, _SLURM, LAYOUT, short="B"),
    Option("mincpus", _R, _SLURM, LAYOUT),
    Option("overcommit", _N, _SLURM, LAYOUT, short="O"),
    Option("oversubscribe", _N, _SLURM, LAYOUT, short="s"),
    Option("spread-job", _N, _SLURM, LAYOUT),
    Option("core-spec", _R, _SLURM, LAYOUT, short="S"),
    Option("thread-spec", _R, _SLURM, LAYOUT),
    Option("tres-per-task", _R, _SLURM, LAYOUT),
    Option("gres-flags", _R, _SLURM, LAYOUT),
    Option("cpu-freq", _R, _SLURM, SITE),
    Option("gpu-freq", _R, _SLURM, SITE),
    Option("network", _R, _SLURM, SITE),
    Option("tmp", _R, _SLURM, SITE),
    Option("licenses", _R, _SLURM, SITE, short="L"),
    Option("bb", _R, _SLURM, SITE),
    Option("bbf", _R, _SLURM, SITE),
    Option("container", _R, _SLURM, SITE),
    Option("container-id", _R, _SLURM, SITE),
    Option("reboot", _N, _SLURM, SITE),
    Option("delay-boot", _R, _SLURM, SITE),
    Option("power", _R, _SLURM, SITE),
    Option("batch", _R, _SLURM, SITE),
    Option("mcs-label", _R, _SLURM, SITE),
    Option("resv-ports", _O, _SLURM, SITE),
    Option("segment", _R, _SLURM, SITE),
    Option("consolidate-segments", _N, _SLURM, SITE),
    Option("spread-segments", _N, _SLURM, SITE),
    Option("stepmgr", _N, _SLURM, SITE),
    Option("resources", _R, _SLURM, SITE),
    Option("extra", _R, _SLURM, SITE),
    Option("runtime", _R, _SLURM, SITE),
    Option("context", _R, _SLURM, SITE),
    Option("external", _N, _SLURM, SITE),
    Option("mem-update", _R, _SLURM, SITE),
    Option("oom-kill-step", _O, _SLURM, SITE),
    Option("acctg-freq", _R, _SLURM, ACCOUNTING),
    Option("profile", _R, _SLURM, ACCOUNTING),
    Option("wckey", _R, _SLURM, ACCOUNTING),
    Option("propagate", _O, _SLURM, "resource limits of the submitting shell: Slurm applies it"),
    Option("get-user-env", _O, _SLURM, "the login environment of the platform's Slurm user"),
    Option("input", _R, _SLURM, "standard input of the batch script: Slurm opens it", "i"),
    Option("no-kill", _O, _SLURM, "what Slurm does when a node fails", "k"),
    Option("deadline", _R, _SLURM, "Slurm removes the job at its deadline; the platform does not"),
    Option(
        "begin", _R, _SLURM, "Slurm defers the start at a Slurm site; the platform does not", "b"
    ),
    Option(
        "requeue",
        _O,
        _SLURM,
        "Slurm requeues the job at a Slurm site (node failure, its own preemption); on "
        "partitions the platform runs, a preempted job ends cancelled",
    ),
    Option(
        "no-requeue",
        _N,
        _SLURM,
        "Slurm never requeues the job; the platform never requeues a job either",
    ),
    Option("nice", _O, _SLURM, "Slurm's own priority at the site; the platform orders its queue"),
    Option("priority", _R, _SLURM, "Slurm's own priority at the site (operators only)"),
    # -- the platform sets these itself ----------------------------------------------------
    Option("comment", _R, _PLATFORM, "the platform's comment (aif:<job id>) finds the job again"),
    Option(
        "export",
        _R,
        _PLATFORM,
        "the job gets the platform's clean environment, the spec's env and the platform's "
        "variables (--export=ALL of those); put your variables in the spec's env",
    ),
    Option("export-file", _R, _PLATFORM, "put your variables in the spec's env"),
    Option("parsable", _N, _PLATFORM, SBATCH_ONLY),
    Option("quiet", _N, _PLATFORM, SBATCH_ONLY, short="Q"),
    Option("verbose", _N, _PLATFORM, SBATCH_ONLY, short="v"),
    Option("wait", _N, _PLATFORM, SBATCH_ONLY + " (aif wait does that)", short="W"),
    Option("wait-all-nodes", _R, _SLURM, "when Slurm starts the batch script on its nodes"),
    Option("ignore-pbs", _N, _PLATFORM, "the platform reads #SBATCH lines only"),
    # -- the platform cannot run a script with these ---------------------------------------
    Option("clusters", _R, _REFUSED, "the platform chooses the site; use constraints.sites", "M"),
    Option("cluster", _R, _REFUSED, "the platform chooses the site; use constraints.sites"),
    Option(
        "hold", _N, _REFUSED, "a held job waits for a release the platform has no way to give", "H"
    ),
    Option("test-only", _N, _REFUSED, "sbatch would only estimate, never run the job"),
    Option("wrap", _R, _REFUSED, "a script cannot wrap another command; give run: instead"),
    Option("uid", _R, _REFUSED, "jobs run as the platform's Slurm user"),
    Option("gid", _R, _REFUSED, "jobs run as the platform's Slurm user"),
    Option("help", _N, _REFUSED, "sbatch would print its help and submit nothing", "h"),
    Option("usage", _N, _REFUSED, "sbatch would print its usage and submit nothing"),
    Option("autocomplete", _R, _REFUSED, "sbatch would print completions and submit nothing"),
    Option("version", _N, _REFUSED, "sbatch would print its version and submit nothing", "V"),
)

BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}
BY_SHORT: dict[str, Option] = {o.short: o for o in OPTIONS if o.short}
# Shortcuts for the options the reader interprets.
READ_NAMES = frozenset(o.name for o in OPTIONS if o.kind is Kind.READ)


def long_option(written: str) -> Option | None:
    """The option ``--written`` names: an exact name, else a unique prefix of one (as
    getopt_long accepts ``--part`` for ``--partition``); None when it names none or several."""
    exact = BY_NAME.get(written)
    if exact is not None:
        return exact
    matches = [o for name, o in BY_NAME.items() if name.startswith(written)]
    return matches[0] if len(matches) == 1 else None


def ambiguous(written: str) -> list[str]:
    """The option names ``--written`` abbreviates, when it abbreviates more than one."""
    return sorted(name for name in BY_NAME if name.startswith(written))
