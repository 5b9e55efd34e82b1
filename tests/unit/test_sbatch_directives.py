"""#SBATCH directives of an existing batch script: where sbatch reads them, how it splits them,
the forms of each supported option, what is reported as unsupported, and the errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.domain.sbatch import (
    SUPPORTED,
    Directive,
    ParsedScript,
    ScriptError,
    format_slurm_time,
    parse_script,
    parse_slurm_time,
)

P = ParsedScript
D = Directive


def script(*directives: str, body: str = "srun hostname") -> str:
    """A batch script: shebang, one ``#SBATCH`` line per argument (line 2 on), then ``body``."""
    return "\n".join(["#!/bin/bash", *(f"#SBATCH {d}" for d in directives), body]) + "\n"


def parsed(*directives: str) -> ParsedScript:
    return parse_script(script(*directives))


# (value, seconds)
TIMES_OK = [
    ("10", 600),
    ("0:30", 30),
    ("90:30", 90 * 60 + 30),
    ("1:00:00", 3600),
    ("1:60:15", 3600 + 3600 + 15),  # Slurm does not bound the fields
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
    assert parsed(f"--time={value}").walltime_s == seconds


# (value, part of the message)
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


# (--mem value, GB per node)
MEMORY = [
    ("1024", 1),
    ("1025", 2),
    ("1", 1),
    ("1M", 1),
    ("2048m", 2),
    ("64G", 64),
    ("64g", 64),
    ("1T", 1024),
    ("2t", 2048),
    ("1048576K", 1),
    ("1048577k", 2),
    ("1K", 1),
]


@pytest.mark.parametrize(("value", "gb"), MEMORY, ids=[m[0] for m in MEMORY])
def test_memory_units(value: str, gb: int) -> None:
    assert parsed(f"--mem={value}").memory_gb == gb


MEMORY_BAD = [
    ("0", "all the memory of a node; give an explicit size"),
    ("0G", "all the memory of a node"),
    ("64GB", "is not a memory size"),
    ("1.5G", "is not a memory size"),
    ("-1G", "is not a memory size"),
    ("G", "is not a memory size"),
    ("64P", "is not a memory size"),
]


@pytest.mark.parametrize(("value", "message"), MEMORY_BAD, ids=[m[0] for m in MEMORY_BAD])
def test_bad_memory(value: str, message: str) -> None:
    with pytest.raises(ScriptError, match=f"^line 2: --mem: .*{message}") as e:
        parsed(f"--mem={value}")
    assert (e.value.line, e.value.option) == (2, "--mem")


# (directives, gpu_type, gpus_per_node)
GPUS = [
    (["--gres=gpu"], None, 1),
    (["--gres=gpu:4"], None, 4),
    (["--gres=gpu:a100:4"], "a100", 4),
    (["--gres=gpu:h100"], "h100", 1),
    (["--gres=gpu:nvidia_a100_3g.20gb:2"], "nvidia_a100_3g.20gb", 2),
    (["--gres=gpu:a100:4", "-N 2"], "a100", 4),  # --gres counts per node
    (["--gpus=8"], None, 8),
    (["--gpus=8", "-N 2"], None, 4),  # --gpus counts over the job
    (["-G h100:8", "--nodes=4"], "h100", 2),
    (["-G16", "-N 2-8"], None, 8),  # over the minimum node count
    (["--gpus-per-node=4", "-N 2"], None, 4),
    (["--gpus-per-node mi250x:8"], "mi250x", 8),
    (["--gres=gpu:2", "--gres=gpu:v100:4"], "v100", 4),  # a repeat overrides, as in sbatch
    (["--gpus=2", "-G 4"], None, 4),
    ([], None, None),
]


@pytest.mark.parametrize(("directives", "gpu_type", "per_node"), GPUS, ids=str)
def test_gpu_forms(directives: list[str], gpu_type: str | None, per_node: int | None) -> None:
    result = parsed(*directives)
    assert (result.gpu_type, result.gpus_per_node) == (gpu_type, per_node)
    assert result.unsupported == ()


def test_other_gres_is_reported_and_its_gpus_read() -> None:
    result = parsed("--gres=gpu:a100:2,nvme:1")
    assert (result.gpu_type, result.gpus_per_node) == ("a100", 2)
    assert result.unsupported == (D(2, "--gres", "gpu:a100:2,nvme:1"),)
    only_other = parsed("--gres=nvme:1")
    assert only_other.gpus_per_node is None
    assert only_other.unsupported == (D(2, "--gres", "nvme:1"),)
    # a later --gres replaces an earlier one, GPUs included, as in sbatch
    replaced = parsed("--gres=gpu:4", "--gres=nvme:1")
    assert (replaced.gpu_type, replaced.gpus_per_node) == (None, None)
    assert replaced.unsupported == (D(3, "--gres", "nvme:1"),)
    kept = parsed("--gpus=4", "--gres=nvme:1")
    assert kept.gpus_per_node == 4


# (directives, line, option, part of the message)
GPUS_BAD = [
    (["--gres=gpu:0"], 2, "--gres", "'0' is not a positive whole number"),
    (["--gres=gpu:a100:x"], 2, "--gres", "'x' is not a positive whole number"),
    (["--gres=gpu:a100:-1"], 2, "--gres", "not a positive whole number"),
    (["--gres=gpu:a:1:2"], 2, "--gres", "is not a GPU request"),
    (["--gres=gpu:-x"], 2, "--gres", "'-x' is not a positive whole number"),
    (["--gres=gpu:1,gpu:a100:1"], 2, "--gres", "give one gpu entry"),
    (["--gpus=0"], 2, "--gpus", "not a positive whole number"),
    (["-G a100"], 2, "-G", "not a positive whole number"),
    (["--gpus=a:b:2"], 2, "--gpus", "is not a GPU request"),
    (["--gpus-per-node=2.5"], 2, "--gpus-per-node", "not a positive whole number"),
    (["--gpus=6", "-N 4"], 2, "--gpus", "6 GPUs do not split evenly over 4 nodes"),
    (["--gres=gpu:4", "--gpus=8"], 3, "--gpus", "given by --gres on line 2; give the GPUs once"),
    (["-G 8", "--gres=gpu:4"], 3, "--gres", "given by -G on line 2; give the GPUs once"),
    (["--gpus-per-node=4", "-G 8"], 3, "-G", "give the GPUs once"),
]


@pytest.mark.parametrize(("directives", "line", "option", "message"), GPUS_BAD, ids=str)
def test_bad_gpus(directives: list[str], line: int, option: str, message: str) -> None:
    with pytest.raises(ScriptError) as e:
        parsed(*directives)
    assert (e.value.line, e.value.option) == (line, option)
    assert str(e.value).startswith(f"line {line}: {option}: ")
    assert message in str(e.value)


# (script, expected): sbatch reads the header only, up to the first command
WHERE = [
    ("no directives", "#!/bin/bash\necho hi\n", P()),
    ("empty script", "", P()),
    ("no shebang", "#SBATCH -N 2\n", P(nodes=2)),
    (
        "blank and comment lines",
        "#!/bin/sh\n\n# setup\n   \n\t# indented\n#SBATCH -N 2\n",
        P(nodes=2),
    ),
    ("stops at a command", "#SBATCH -N 2\necho hi\n#SBATCH -t 10\n", P(nodes=2)),
    ("stops at an indented command", "#SBATCH -N 2\n  cd /tmp\n#SBATCH -t 10\n", P(nodes=2)),
    ("stops at a variable", "X=1\n#SBATCH -N 2\n", P()),
    ("'# SBATCH' is a comment", "# SBATCH -N 2\n#SBATCH -t 10\n", P(walltime_s=600)),
    ("'##SBATCH' is a comment", "##SBATCH -N 2\n#SBATCH -t 10\n", P(walltime_s=600)),
    ("indented #SBATCH is a comment", "  #SBATCH -N 2\n#SBATCH -t 10\n", P(walltime_s=600)),
    ("lower case is a comment", "#sbatch -N 2\n", P()),
    ("no final newline", "#SBATCH -t 10", P(walltime_s=600)),
    ("empty directive", "#SBATCH\n#SBATCH   \n#SBATCH -N 3\n", P(nodes=3)),
]


@pytest.mark.parametrize(("case", "text", "expected"), WHERE, ids=[w[0] for w in WHERE])
def test_where_parsing_stops(case: str, text: str, expected: ParsedScript) -> None:
    assert parse_script(text) == expected


# (directive line, expected)
SPLITTING = [
    ("-N 2 -t 10", P(nodes=2, walltime_s=600)),
    ("-N2 -t10 -c4", P(nodes=2, walltime_s=600, cpus=4)),
    ("--nodes=2 --time 10", P(nodes=2, walltime_s=600)),
    ("--time=1-00:00:00 --mem 64G", P(walltime_s=86400, memory_gb=64)),
    ("-J 'my job' -A proj", P(name="my job", account="proj")),
    ('--job-name="a # b"', P(name="a # b")),
    ("--job-name=a\\ b", P(name="a b")),
    ("-p gpu,booster,gpu", P(partitions=("gpu", "booster"))),
    ("--partition=dev", P(partitions=("dev",))),
    ("-N 2 # -t 10", P(nodes=2)),
    ("-N 2 #-t 10", P(nodes=2)),
    ("-N 2-4", P(nodes=2)),
    ("# -N 2", P()),
    ("-t 10 -t 20", P(walltime_s=1200)),  # the last one wins, as in sbatch
]


@pytest.mark.parametrize(("line", "expected"), SPLITTING, ids=[s[0] for s in SPLITTING])
def test_options_on_one_line(line: str, expected: ParsedScript) -> None:
    assert parsed(line) == expected


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
    assert parse_script(text) == P(
        name="train",
        account="proj1",
        partitions=("booster",),
        nodes=4,
        walltime_s=2 * 86400,
        gpu_type="a100",
        gpus_per_node=4,
        memory_gb=480,
        cpus=32,
    )


# (directive lines from line 2, unsupported directives)
UNSUPPORTED = [
    (["--exclusive"], [D(2, "--exclusive", None)]),
    (["--exclusive=user"], [D(2, "--exclusive", "user")]),
    (["-o out.%j -e err.%j"], [D(2, "-o", "out.%j"), D(2, "-e", "err.%j")]),
    (["--output=o.txt", "--error e.txt"], [D(2, "--output", "o.txt"), D(3, "--error", "e.txt")]),
    (
        ["--mail-type=END,FAIL --mail-user a@b.eu"],
        [
            D(2, "--mail-type", "END,FAIL"),
            D(2, "--mail-user", "a@b.eu"),
        ],
    ),
    (["--qos=high", "--constraint gpu80"], [D(2, "--qos", "high"), D(3, "--constraint", "gpu80")]),
    (["--array=0-9%2"], [D(2, "--array", "0-9%2")]),
    (["-n 8 --ntasks-per-node=4"], [D(2, "-n", "8"), D(2, "--ntasks-per-node", "4")]),
    (
        ["--mem-per-cpu=4G", "--mem-per-gpu 80G"],
        [
            D(2, "--mem-per-cpu", "4G"),
            D(3, "--mem-per-gpu", "80G"),
        ],
    ),
    (["-Hv"], [D(2, "-H", None), D(2, "-v", None)]),
    (["-Ht 10"], [D(2, "-H", None)]),  # the -t is read
    (["-Z"], [D(2, "-Z", None)]),  # an unknown letter is reported, not refused
    (["--requeue -N 2"], [D(2, "--requeue", None)]),
    (["--frobnicate -N 2"], [D(2, "--frobnicate", None)]),  # never swallows an option
    (["--frobnicate yes"], [D(2, "--frobnicate", "yes")]),
    (["-k"], [D(2, "-k", None)]),
    (["-o"], [D(2, "-o", None)]),
    (["--time=10 --exclusive -N 2 --qos=q"], [D(2, "--exclusive", None), D(2, "--qos", "q")]),
]


@pytest.mark.parametrize(("lines", "expected"), UNSUPPORTED, ids=str)
def test_unsupported_are_reported_in_order(lines: list[str], expected: list[Directive]) -> None:
    result = parsed(*lines)
    assert result.unsupported == tuple(expected)
    assert all(d.option not in SUPPORTED for d in result.unsupported)


# (script, line, option, part of the message)
ERRORS = [
    (script("-N 2", "-t", "-c 4"), 3, "-t", "needs a value"),
    (script("--time"), 2, "--time", "needs a value"),
    (script("--job-name="), 2, "--job-name", "needs a value"),
    (script("-N 2", "", "--time=1x"), 4, "--time", "'1x' is not a Slurm time; use minutes"),
    (script("-t 1x"), 2, "-t", "'1x' is not a Slurm time"),
    (script("-t UNLIMITED"), 2, "-t", "means no limit"),
    (script("-N 0"), 2, "-N", "is not a node count"),
    (script("--nodes=4-2"), 2, "--nodes", "is not a node count"),
    (script("--nodes=two"), 2, "--nodes", "is not a node count"),
    (script("-c 0"), 2, "-c", "'0' is not a positive whole number"),
    (script("--cpus-per-task=-2"), 2, "--cpus-per-task", "not a positive whole number"),
    (script("-p gpu,,cpu"), 2, "-p", "empty partition name"),
    (script("-J 'unclosed"), 2, "#SBATCH", "cannot split the line"),
    (script("-N 2 stray"), 2, "stray", "'stray' is not an sbatch option"),
    (script("--exclusive user"), 2, "user", "is not an sbatch option"),
    (script("-N 2 -- -t 5"), 2, "--", "is not an sbatch option"),
    (script("hetjob"), 2, "hetjob", "heterogeneous jobs are not supported"),
    ("#!/bin/bash\n#SBATCH -N 2\n#SBATCH -J a\0b\n", 3, "script", "NUL character"),
    ("#!/bin/bash\r\n#SBATCH -N 2\r\n", 1, "script", "DOS line breaks"),
]


@pytest.mark.parametrize(("text", "line", "option", "message"), ERRORS, ids=repr)
def test_errors_name_line_and_option(text: str, line: int, option: str, message: str) -> None:
    with pytest.raises(ScriptError) as e:
        parse_script(text)
    assert (e.value.line, e.value.option) == (line, option)
    assert str(e.value).startswith(f"line {line}: {option}: ")
    assert message in str(e.value)
    assert isinstance(e.value, ValueError)


def test_error_text() -> None:
    with pytest.raises(ScriptError) as e:
        parse_script(script("-N 2", "-c 4", "--time=1x"))
    assert str(e.value) == (
        "line 4: --time: '1x' is not a Slurm time; "
        "use minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
    )


def test_lines_after_the_header_are_not_checked() -> None:
    assert parse_script(script("-N 2", body="echo done\n#SBATCH --time=1x\n")) == P(nodes=2)


def test_supported_names() -> None:
    assert set(SUPPORTED) == {
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
    }


# One directive per supported option, each in a form that does not depend on the others
CANONICAL = [
    "--job-name=train",
    "-A proj1",
    "--partition=booster,dev",
    "-N 2",
    "--time=1-12:00:00",
    "--gpus-per-node=a100:4",
    "--mem=480G",
    "--cpus-per-task=16",
]


@given(st.permutations(CANONICAL), st.lists(st.sampled_from(["", "# note"]), max_size=3))
def test_order_of_directives_does_not_matter(order: list[str], comments: list[str]) -> None:
    text = "\n".join(["#!/bin/bash", *comments, *(f"#SBATCH {d}" for d in order), "srun x"])
    assert parse_script(text) == parsed(*CANONICAL)


@given(st.permutations(CANONICAL), st.integers(min_value=1, max_value=8))
def test_directives_on_fewer_lines(order: list[str], per_line: int) -> None:
    lines = [" ".join(order[i : i + per_line]) for i in range(0, len(order), per_line)]
    assert parsed(*lines) == parsed(*CANONICAL)
