"""Slurm's job states and output fields, mapped onto the platform's (states.py, pure).

One table per concern: the state each Slurm base state becomes (and the job state a final one
ends as), the text the user reads, exit codes, TRES counts and epoch times.
"""

from __future__ import annotations

import pytest

from aifactory.domain.execution import ProcessOutcome
from aifactory.domain.jobs import JobState
from aifactory.executors.slurm.states import (
    FINAL_STATES,
    base_state,
    describe,
    outcome_of,
    parse_epoch,
    parse_exit_code,
    platform_exit_code,
    tres_count,
)
from aifactory.services.job_results import _OUTCOME_STATE

PO = ProcessOutcome

# -- the base states ---------------------------------------------------------------------------
# (Slurm state, platform outcome, job state it ends as; None while it is still going)
BASE_STATES = [
    ("PENDING", PO.QUEUED, None),
    ("RUNNING", PO.RUNNING, None),
    ("COMPLETED", PO.COMPLETED, JobState.COMPLETED),
    ("FAILED", PO.FAILED, JobState.FAILED),
    ("CANCELLED", PO.CANCELLED, JobState.CANCELLED),
    ("TIMEOUT", PO.TIMEOUT, JobState.TIMEOUT),
    ("NODE_FAIL", PO.FAILED, JobState.FAILED),
    ("PREEMPTED", PO.FAILED, JobState.FAILED),
    ("OUT_OF_MEMORY", PO.FAILED, JobState.FAILED),
    ("BOOT_FAIL", PO.FAILED, JobState.FAILED),
    ("DEADLINE", PO.TIMEOUT, JobState.TIMEOUT),
]


@pytest.mark.parametrize(
    ("state", "outcome", "job_state"), BASE_STATES, ids=[s[0] for s in BASE_STATES]
)
def test_each_base_state_maps_to_its_outcome(
    state: str, outcome: ProcessOutcome, job_state: JobState | None
) -> None:
    assert outcome_of(state) is outcome
    assert (state in FINAL_STATES) == (job_state is not None)
    if job_state is None:
        assert not outcome.is_final
        assert outcome not in _OUTCOME_STATE
    else:
        assert _OUTCOME_STATE[outcome] is job_state


# The other states Slurm 22.05+ prints: the queue-side ones never end a job.
OTHER_STATES = [
    ("REQUEUED", PO.QUEUED),
    ("REQUEUE_HOLD", PO.QUEUED),
    ("REQUEUE_FED", PO.QUEUED),
    ("RESV_DEL_HOLD", PO.QUEUED),
    ("CONFIGURING", PO.RUNNING),
    ("COMPLETING", PO.RUNNING),
    ("SUSPENDED", PO.RUNNING),
    ("STOPPED", PO.RUNNING),
    ("SIGNALING", PO.RUNNING),
    ("STAGE_OUT", PO.RUNNING),
    ("RESIZING", PO.RUNNING),
    ("SPECIAL_EXIT", PO.FAILED),
    ("REVOKED", PO.CANCELLED),
]


@pytest.mark.parametrize(("state", "outcome"), OTHER_STATES, ids=[s[0] for s in OTHER_STATES])
def test_the_other_states(state: str, outcome: ProcessOutcome) -> None:
    assert outcome_of(state) is outcome


def test_every_final_outcome_has_a_job_state() -> None:
    assert {outcome_of(s) for s in FINAL_STATES} <= set(_OUTCOME_STATE)
    listed = [(s, o) for s, o, _ in BASE_STATES] + OTHER_STATES
    # The two tables are every state states.py knows, and its final ones are exactly these.
    assert {s for s, o in listed if o.is_final} == FINAL_STATES


# -- decorated and unknown states --------------------------------------------------------------
# (as sacct/squeue print it, the base state, the outcome)
DECORATED = [
    ("CANCELLED by 0", "CANCELLED", PO.CANCELLED),  # sacct: who cancelled it
    ("CANCELLED by 1042", "CANCELLED", PO.CANCELLED),
    ("RUNNING+", "RUNNING", PO.RUNNING),  # sacct: more than one record
    ("COMPLETED+", "COMPLETED", PO.COMPLETED),
    ("pending", "PENDING", PO.QUEUED),
    ("TIMEOUT", "TIMEOUT", PO.TIMEOUT),
]


@pytest.mark.parametrize(("text", "base", "outcome"), DECORATED, ids=[d[0] for d in DECORATED])
def test_decorations_are_dropped(text: str, base: str, outcome: ProcessOutcome) -> None:
    assert base_state(text) == base
    assert outcome_of(text) is outcome


@pytest.mark.parametrize("state", ["POWER_UP_NODE", "LAUNCH_FAILED", "SOMETHING_NEW", ""])
def test_an_unknown_state_counts_as_running(state: str) -> None:
    # A newer Slurm must never end a job early.
    assert outcome_of(state) is PO.RUNNING


# -- what the user reads -----------------------------------------------------------------------
# (state, exit code, signal, text)
DESCRIBE = [
    ("COMPLETED", 0, 0, "Slurm: COMPLETED"),
    ("FAILED", 3, 0, "Slurm: FAILED, exit code 3"),
    ("CANCELLED by 0", 0, 15, "Slurm: CANCELLED, signal 15"),
    ("CANCELLED by 0", 0, 0, "Slurm: CANCELLED"),
    ("FAILED", 1, 9, "Slurm: FAILED, signal 9"),  # the signal says more than the code
    ("NODE_FAIL", 1, 0, "Slurm: NODE_FAIL (a node of the job failed), exit code 1"),
    ("OUT_OF_MEMORY", 0, 125, "Slurm: OUT_OF_MEMORY (the job ran out of memory), signal 125"),
    ("BOOT_FAIL", None, None, "Slurm: BOOT_FAIL (the job's nodes failed to boot)"),
    ("PREEMPTED", 0, 0, "Slurm: PREEMPTED (preempted by the site)"),
    ("TIMEOUT", 0, 0, "Slurm: TIMEOUT (the job reached its walltime)"),
    ("DEADLINE", 0, 0, "Slurm: DEADLINE (the job reached its deadline)"),
    ("SPECIAL_EXIT", 0, 0, "Slurm: SPECIAL_EXIT (the job asked to be held after exiting)"),
    ("REVOKED", 0, 0, "Slurm: REVOKED (revoked by a federated cluster)"),
    ("RUNNING+", None, None, "Slurm: RUNNING"),
]


@pytest.mark.parametrize(
    ("state", "code", "signal", "text"), DESCRIBE, ids=[f"{d[0]}-{d[1]}-{d[2]}" for d in DESCRIBE]
)
def test_describe(state: str, code: int | None, signal: int | None, text: str) -> None:
    assert describe(state, code, signal) == text


# -- exit codes --------------------------------------------------------------------------------
# (sacct's ExitCode, (code, signal), what the platform stores)
EXIT_CODES = [
    ("0:0", (0, 0), 0),
    ("3:0", (3, 0), 3),
    ("0:15", (0, 15), 143),  # scancel'd: SIGTERM
    ("0:9", (0, 9), 137),  # SIGKILL
    ("1:9", (1, 9), 137),  # a signal wins over the code
    ("255:0", (255, 0), 255),
    ("2", (2, 0), 2),  # no signal part
    ("", (None, None), None),
    ("junk", (None, None), None),
    ("1:x", (None, None), None),
]


@pytest.mark.parametrize(
    ("text", "parsed", "stored"), EXIT_CODES, ids=[repr(e[0]) for e in EXIT_CODES]
)
def test_exit_codes(text: str, parsed: tuple[int | None, int | None], stored: int | None) -> None:
    assert parse_exit_code(text) == parsed
    assert platform_exit_code(*parsed) == stored


@pytest.mark.parametrize("signal", range(1, 32))
def test_a_signal_reads_as_128_plus_n(signal: int) -> None:
    assert platform_exit_code(0, signal) == 128 + signal
    assert platform_exit_code(None, signal) == 128 + signal


# -- TRES counts -------------------------------------------------------------------------------
# (AllocTRES, key, count)
TRES = [
    ("billing=1,cpu=1,gres/gpu=2,node=1", "gres/gpu", 2),  # real, lumi job 1
    ("billing=1,cpu=1,gres/gpu=8,node=1", "gres/gpu", 8),
    ("billing=1,cpu=1,node=1", "gres/gpu", 0),  # a CPU-only job
    ("", "gres/gpu", 0),  # never started (leonardo job 3)
    ("billing=1,cpu=1,gres/gpu=2,node=1", "cpu", 1),
    ("billing=1,cpu=1,gres/gpu=2,node=1", "node", 1),
    ("cpu=2,gres/gpu:a100=4,gres/gpu=4,mem=8G", "gres/gpu", 4),  # typed GRES is another key
    ("cpu=2,gres/gpu:a100=4,mem=8G", "gres/gpu", 0),
    ("cpu=2,mem=8G", "mem", 0),  # not a count
    ("gres/gpu=x", "gres/gpu", 0),
]


@pytest.mark.parametrize(
    ("text", "key", "count"), TRES, ids=[f"{t[0] or 'empty'}[{t[1]}]" for t in TRES]
)
def test_tres_count(text: str, key: str, count: int) -> None:
    assert tres_count(text, key) == count


def test_tres_count_defaults_to_gpus() -> None:
    assert tres_count("billing=1,cpu=16,gres/gpu=4,node=1") == 4


# -- epoch times -------------------------------------------------------------------------------
# (as printed with SLURM_TIME_FORMAT=%s, epoch seconds or None)
EPOCHS = [
    ("1795773748", 1795773748.0),  # real, lumi job 1
    ("Unknown", None),  # not ended
    ("None", None),  # sacct Start of a job cancelled while pending (leonardo job 3)
    ("N/A", None),  # squeue %S of a pending job without an estimate
    ("0", None),
    ("", None),
    ("-1", None),
]


@pytest.mark.parametrize(("text", "value"), EPOCHS, ids=[repr(e[0]) for e in EPOCHS])
def test_parse_epoch(text: str, value: float | None) -> None:
    assert parse_epoch(text) == value
