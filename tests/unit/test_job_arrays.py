"""Job arrays as sbatch --array reads them (man page; slurmctld's ``_parse_array_tok`` and
``_create_job_array`` in ``src/slurmctld/job_mgr.c``, Slurm 22.05): the indexes and throttle of
a spec, and the environment each task gets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifactory.domain.arrays import MAX_ARRAY_SIZE, ArraySpec, parse_array, task_id

# (spec, indexes, throttle)
ARRAYS = [
    # "--array=0-15" or "--array=0,6,16-32"
    ("0-15", tuple(range(16)), None),
    ("0,6,16-32", (0, 6, *range(16, 33)), None),
    # "--array=0-15:4" is equivalent to "--array=0,4,8,12"
    ("0-15:4", (0, 4, 8, 12), None),
    ("1-99:2", tuple(range(1, 100, 2)), None),
    ("1-10:3", (1, 4, 7, 10), None),
    ("0-9:20", (0,), None),  # a step past the end: the first index only
    # "--array=0-15%4" will limit the number of simultaneously running tasks to 4
    ("0-15%4", tuple(range(16)), 4),
    ("0-15:4%2", (0, 4, 8, 12), 2),
    ("1,3,5%1", (1, 3, 5), 1),
    ("0-9%0", tuple(range(10)), None),  # no limit: slurmctld keeps only a limit above 0
    ("7", (7,), None),
    ("5-5", (5,), None),
    ("3,1,2,3", (1, 2, 3), None),  # sorted, a repeat counts once
    ("0-4,2-6", tuple(range(7)), None),
    # "The minimum index value is 0. the maximum value is one less than MaxArraySize."
    ("0", (0,), None),
    ("1000", (1000,), None),
    ("0-1000", tuple(range(1001)), None),
]


@pytest.mark.parametrize(("spec", "indexes", "throttle"), ARRAYS, ids=[a[0] for a in ARRAYS])
def test_parse_array(spec: str, indexes: tuple[int, ...], throttle: int | None) -> None:
    array = parse_array(spec)
    assert (array.indexes, array.throttle, array.text) == (indexes, throttle, spec)
    assert array.size == len(indexes)


# (spec, part of the message)
ARRAYS_BAD = [
    ("1001", "index 1001 is too high; indexes go from 0 to 1000 (MaxArraySize)"),
    ("0-1001", "index 1001 is too high"),
    ("5-1", "the range '5-1' runs backwards"),
    ("1-10:0", "a step of 0"),
    ("-1", "is not an array"),
    ("", "is not an array"),
    ("a-b", "is not an array"),
    ("1,,2", "is not an array"),
    ("1-", "is not an array"),
    ("1:2", "is not an array"),  # a step only after a range
    ("1.5", "is not an array"),
    ("0-9%", "after % comes the number of tasks that may run at once"),
    ("0-9%x", "after % comes the number"),
    ("0-9%-1", "after % comes the number"),
]


@pytest.mark.parametrize(("spec", "message"), ARRAYS_BAD, ids=[repr(a[0]) for a in ARRAYS_BAD])
def test_bad_arrays(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_array(spec)
    assert message in str(e.value)


def test_a_smaller_max_array_size() -> None:
    assert parse_array("0-99", max_size=100).size == 100
    with pytest.raises(ValueError, match="indexes go from 0 to 99"):
        parse_array("0-100", max_size=100)


_RANGE = st.tuples(st.integers(0, MAX_ARRAY_SIZE - 1), st.integers(0, 300), st.integers(1, 50)).map(
    lambda t: f"{t[0]}-{min(t[0] + t[1], MAX_ARRAY_SIZE - 1)}:{t[2]}"
)
_PART = st.one_of(st.integers(0, MAX_ARRAY_SIZE - 1).map(str), _RANGE)


@given(st.lists(_PART, min_size=1, max_size=6), st.none() | st.integers(1, 100))
def test_indexes_are_sorted_unique_and_in_range(parts: list[str], throttle: int | None) -> None:
    spec = ",".join(parts) + ("" if throttle is None else f"%{throttle}")
    array = parse_array(spec)
    assert list(array.indexes) == sorted(set(array.indexes))
    assert 1 <= array.size <= MAX_ARRAY_SIZE
    assert all(0 <= i < MAX_ARRAY_SIZE for i in array.indexes)
    assert array.throttle == throttle
    assert array.text == spec
    # every index a part names is there, and no other
    named: set[int] = set()
    for part in parts:
        first, _, rest = part.partition("-")
        last, _, step = rest.partition(":")
        named.update(range(int(first), int(last or first) + 1, int(step or 1)))
    assert set(array.indexes) == named


# -- each task's environment (sbatch's OUTPUT ENVIRONMENT VARIABLES) ---------------------------
# SLURM_ARRAY_TASK_COUNT, _MIN, _MAX and _STEP as _create_job_array sets them: the count of
# indexes, the lowest, the highest, and the number after the spec's first ":" (else 1).
# (spec, count, min, max, step)
ENV = [
    ("0-15", 16, 0, 15, 1),
    ("1-99:2", 50, 1, 99, 2),
    ("0-15:4%2", 4, 0, 12, 4),
    ("0,4,8", 3, 0, 8, 1),  # a list has no step, evenly spaced or not
    ("0-10:5,20", 4, 0, 20, 5),  # the first step
    ("0,2-8:3", 4, 0, 8, 3),
    ("7", 1, 7, 7, 1),
]


@pytest.mark.parametrize(("spec", "count", "low", "high", "step"), ENV, ids=[e[0] for e in ENV])
def test_task_environment(spec: str, count: int, low: int, high: int, step: int) -> None:
    array = parse_array(spec)
    index = array.indexes[-1]
    assert array.env(index, "job-abc") == {
        "SLURM_ARRAY_JOB_ID": "job-abc",  # "Job array's master job ID number"
        "SLURM_ARRAY_TASK_ID": str(index),  # "Job array ID (index) number"
        "SLURM_ARRAY_TASK_COUNT": str(count),
        "SLURM_ARRAY_TASK_MIN": str(low),
        "SLURM_ARRAY_TASK_MAX": str(high),
        "SLURM_ARRAY_TASK_STEP": str(step),
        "AIF_ARRAY_JOB_ID": "job-abc",
        "AIF_ARRAY_TASK_ID": str(index),
    }


def test_each_task_has_its_own_id() -> None:
    array = parse_array("0-15:4%2")
    assert [task_id("job-abc", i) for i in array.indexes] == [
        "job-abc_0",
        "job-abc_4",
        "job-abc_8",
        "job-abc_12",
    ]
    assert {array.env(i, "job-abc")["SLURM_ARRAY_TASK_ID"] for i in array.indexes} == {
        "0",
        "4",
        "8",
        "12",
    }


def test_a_spec_built_by_hand() -> None:
    assert ArraySpec("0-2", (0, 1, 2)).step == 1
    assert ArraySpec("0-8:4", (0, 4, 8), 1).step == 4
