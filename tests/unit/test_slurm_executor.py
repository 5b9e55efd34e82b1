"""SlurmExecutor's bookkeeping: calls per poll, queue vs accounting, lost jobs, site health.

:class:`FakeSlurm` is a small in-memory SlurmClient. It stands in for a cluster only to
exercise the executor's bookkeeping (how often it asks, what it concludes from the answers);
its rows are built from real squeue/sacct lines of the test clusters through the real parsers.
The real thing — sbatch, squeue, sacct and slurmrestd on live clusters — is tests/slurm/.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from aifactory.domain.execution import (
    LaunchRequest,
    PollResult,
    ProcessOutcome,
    SiteUnavailable,
    Tracked,
    Usage,
)
from aifactory.executors.slurm.cli import parse_sacct, parse_squeue
from aifactory.executors.slurm.client import AccountingRow, QueueRow, Submission
from aifactory.executors.slurm.connection import SiteConnection
from aifactory.executors.slurm.executor import LOST_AFTER_S, SlurmExecutor

PO = ProcessOutcome
T0 = 1795774000.0


# -- the fake cluster --------------------------------------------------------------------------
class FakeSlurm:
    """One cluster's queue and accounting, in memory; counts every call."""

    def __init__(self) -> None:
        self.queue_rows: dict[str, QueueRow] = {}
        self.acct_rows: dict[str, AccountingRow] = {}
        self.down: str | None = None  # every call raises SiteUnavailable(down)
        self.acct_down: str | None = None  # only accounting does (slurmdbd down)
        self.calls: Counter[str] = Counter()
        self.asked: list[list[str]] = []
        self.submitted: list[Submission] = []
        self.cancelled: list[str] = []
        self.comments: dict[str, str] = {}  # comment -> Slurm job id
        self.next_id = 100

    def _tick(self, name: str) -> None:
        self.calls[name] += 1
        if self.down:
            raise SiteUnavailable(self.down)

    def submit(self, job: Submission) -> str:
        self._tick("submit")
        self.submitted.append(job)
        self.next_id += 1
        self.comments[job.comment] = str(self.next_id)
        return str(self.next_id)

    def queue(self) -> list[QueueRow]:
        self._tick("queue")
        return list(self.queue_rows.values())

    def accounting(self, slurm_ids: Sequence[str]) -> list[AccountingRow]:
        self._tick("accounting")
        if self.acct_down:
            raise SiteUnavailable(self.acct_down)
        self.asked.append(list(slurm_ids))
        return [self.acct_rows[i] for i in slurm_ids if i in self.acct_rows]

    def find(self, comment: str, since: float) -> str | None:
        self._tick("find")
        return self.comments.get(comment)

    def cancel(self, slurm_id: str) -> None:
        self._tick("cancel")
        self.cancelled.append(slurm_id)

    # -- filling it from real output lines ---------------------------------------------------
    def squeue(self, *lines: str) -> FakeSlurm:
        for row in parse_squeue("\n".join(lines)):
            self.queue_rows[row.slurm_id] = row
        return self

    def sacct(self, *lines: str) -> FakeSlurm:
        for row in parse_sacct("\n".join(lines)):
            self.acct_rows[row.slurm_id] = row
        return self


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(*, jobs_dir: Path | None = None) -> tuple[SlurmExecutor, dict[str, FakeSlurm], Clock]:
    fakes = {"lumi": FakeSlurm(), "leonardo": FakeSlurm()}
    conns = {
        site: SiteConnection(site=site, cluster=site, jobs_dir=jobs_dir if site == "lumi" else None)
        for site in fakes
    }
    clock = Clock()
    ex = SlurmExecutor(conns, client_factory=lambda c: fakes[c.site], clock=clock)
    return ex, fakes, clock


def job(site: str, slurm_id: str | int) -> Tracked:
    return Tracked(f"job-{site}-{slurm_id}", f"{site}:{slurm_id}", Path("/data/jobs/x"))


def by_job(results: list[PollResult]) -> dict[str, PollResult]:
    got = {r.job_id: r for r in results}
    assert len(got) == len(results), "one result per job"
    return got


# -- one call per site per poll ----------------------------------------------------------------
def test_one_queue_and_one_accounting_call_per_site_whatever_the_number_of_jobs() -> None:
    ex, fakes, _ = make()
    tracked: list[Tracked] = []
    for site, fake in fakes.items():
        for i in range(1, 501):  # 500 jobs a site, 1,000 in all
            if i % 3 == 0:
                fake.squeue(f"{i}|PENDING|Priority||N/A|aif:job-{i}")
            elif i % 3 == 1:
                fake.squeue(f"{i}|RUNNING|None|{site}-n1|{T0:.0f}|aif:job-{i}")
            else:  # left the queue: sacct has it
                fake.sacct(f"{i}|COMPLETED|0:0|{T0:.0f}|{T0 + 60:.0f}|60|gres/gpu=1|{site}-n1")
            tracked.append(job(site, i))
    results = by_job(ex.poll(tracked))
    assert len(results) == 1000
    for site, fake in fakes.items():
        assert fake.calls == Counter(queue=1, accounting=1), site
        # Only the jobs that left the queue are asked about, in id order.
        assert fake.asked == [[str(i) for i in range(1, 501) if i % 3 == 2]]
    outcomes = Counter(r.outcome for r in results.values())
    assert outcomes == {PO.QUEUED: 2 * 166, PO.RUNNING: 2 * 167, PO.COMPLETED: 2 * 167}


def test_no_accounting_call_while_every_job_is_in_the_queue() -> None:
    ex, fakes, _ = make()
    fakes["lumi"].squeue(*(f"{i}|RUNNING|None|lumi-n1|{T0:.0f}|" for i in range(1, 1001)))
    results = ex.poll([job("lumi", i) for i in range(1, 1001)])
    assert len(results) == 1000
    assert fakes["lumi"].calls == Counter(queue=1)
    assert fakes["leonardo"].calls == Counter()  # no job there: not asked


# -- live jobs: answered from the queue --------------------------------------------------------
# (case, squeue line, outcome, reason, started_at, nodes)
LIVE = [
    ("pending", "31|PENDING|Priority||N/A|aif:job-a", PO.QUEUED, "Slurm: PENDING (Priority)",
     None, ""),
    ("pending on the GPU budget", "32|PENDING|AssocGrpGRESMinutes||N/A|aif:job-b", PO.QUEUED,
     "Slurm: PENDING (AssocGrpGRESMinutes)", None, ""),
    ("pending without a reason", "33|PENDING|||N/A|", PO.QUEUED, "Slurm: PENDING", None, ""),
    ("requeued and held", "34|REQUEUE_HOLD|JobHeldAdmin||N/A|", PO.QUEUED,
     "Slurm: REQUEUE_HOLD (JobHeldAdmin)", None, ""),
    ("running", "35|RUNNING|None|lumi-n[1-2]|1795774440|aif:job-e", PO.RUNNING, "running",
     1795774440.0, "lumi-n[1-2]"),
    ("completing", "36|COMPLETING|None|lumi-n1|1795774440|", PO.RUNNING, "running",
     1795774440.0, "lumi-n1"),
    ("suspended", "37|SUSPENDED|None|lumi-n1|1795774440|", PO.RUNNING, "running", 1795774440.0,
     "lumi-n1"),
    ("a state this release does not know", "38|POWER_UP_NODE|None|lumi-n1|1795774440|",
     PO.RUNNING, "running", 1795774440.0, "lumi-n1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "line", "outcome", "reason", "started", "nodes"), LIVE, ids=[c[0] for c in LIVE]
)
def test_a_live_job_is_answered_from_the_queue(
    case: str, line: str, outcome: PO, reason: str, started: float | None, nodes: str
) -> None:
    ex, fakes, _ = make()
    slurm_id = line.split("|", 1)[0]
    fakes["lumi"].squeue(line)
    (result,) = ex.poll([job("lumi", slurm_id)])
    assert result == PollResult(
        f"job-lumi-{slurm_id}", outcome, reason=reason, started_at=started, nodes=nodes
    )
    assert fakes["lumi"].calls == Counter(queue=1)  # nothing asked of slurmdbd


# -- ended jobs: answered from accounting ------------------------------------------------------
# (case, site, real sacct line, outcome, exit code, reason, GPUs, elapsed, nodes)
ENDED = [
    ("completed", "lumi",
     "1|COMPLETED|0:0|1795773748|1795773751|3|billing=1,cpu=1,gres/gpu=2,node=1|lumi-n1",
     PO.COMPLETED, 0, "Slurm: COMPLETED", 2, 3, "lumi-n1"),
    ("a CPU-only job", "lumi",
     "2|COMPLETED|0:0|1795773758|1795773767|9|billing=1,cpu=1,node=1|lumi-n1",
     PO.COMPLETED, 0, "Slurm: COMPLETED", 0, 9, "lumi-n1"),
    ("cancelled by root", "lumi",
     "15|CANCELLED by 0|0:0|1795774012|1795774019|7|billing=1,cpu=1,gres/gpu=8,node=1|lumi-n1",
     PO.CANCELLED, 0, "Slurm: CANCELLED", 8, 7, "lumi-n1"),
    ("cancelled, SIGTERM", "lumi",
     "18|CANCELLED|0:15|1795774338|1795774341|3|billing=1,cpu=1,gres/gpu=1,node=1|lumi-n1",
     PO.CANCELLED, 143, "Slurm: CANCELLED, signal 15", 1, 3, "lumi-n1"),
    ("failed", "lumi",
     "19|FAILED|3:0|1795774341|1795774341|0|billing=1,cpu=1,gres/gpu=1,node=1|lumi-n1",
     PO.FAILED, 3, "Slurm: FAILED, exit code 3", 1, 0, "lumi-n1"),
    ("cancelled while pending", "leonardo",
     "3|CANCELLED by 0|0:0|None|1795773783|0||None assigned",
     PO.CANCELLED, 0, "Slurm: CANCELLED", 0, 0, ""),
    ("timeout", "leonardo",
     "9|TIMEOUT|0:0|1795774341|1795774430|89|billing=1,cpu=1,gres/gpu=1,node=1|leonardo-n1",
     PO.TIMEOUT, 0, "Slurm: TIMEOUT (the job reached its walltime)", 1, 89, "leonardo-n1"),
    ("out of memory", "lumi",
     "50|OUT_OF_MEMORY|0:125|1795774341|1795774441|100|cpu=1,gres/gpu=4,node=1|lumi-n1",
     PO.FAILED, 253, "Slurm: OUT_OF_MEMORY (the job ran out of memory), signal 125", 4, 100,
     "lumi-n1"),
    ("node failure", "lumi",
     "51|NODE_FAIL|1:0|1795774341|1795774441|100|cpu=1,gres/gpu=4,node=2|lumi-n[1-2]",
     PO.FAILED, 1, "Slurm: NODE_FAIL (a node of the job failed), exit code 1", 4, 100,
     "lumi-n[1-2]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "site", "line", "outcome", "code", "reason", "gpus", "elapsed", "nodes"),
    ENDED,
    ids=[c[0] for c in ENDED],
)
def test_a_job_gone_from_the_queue_is_answered_from_accounting(
    case: str,
    site: str,
    line: str,
    outcome: PO,
    code: int,
    reason: str,
    gpus: int,
    elapsed: int,
    nodes: str,
) -> None:
    ex, fakes, _ = make()
    fakes[site].sacct(line)
    row = fakes[site].acct_rows[line.split("|", 1)[0]]
    (result,) = ex.poll([job(site, row.slurm_id)])
    assert result == PollResult(
        f"job-{site}-{row.slurm_id}",
        outcome,
        code,
        reason,
        ended_at=row.end,
        started_at=row.start,
        nodes=nodes,
        usage=Usage(gpus=gpus, elapsed_s=elapsed, alloc_tres=row.alloc_tres),
    )
    assert result.usage is not None and result.usage.gpu_seconds == gpus * elapsed


def test_a_job_final_in_the_queue_is_answered_from_accounting() -> None:
    ex, fakes, _ = make()
    # Real: squeue still lists lumi job 18, sacct has its record.
    fakes["lumi"].squeue("18|CANCELLED|None|lumi-n1|1795774338|aif:job-p0d0byrjpbp7")
    fakes["lumi"].sacct(
        "18|CANCELLED|0:15|1795774338|1795774341|3|billing=1,cpu=1,gres/gpu=1,node=1|lumi-n1"
    )
    (result,) = ex.poll([job("lumi", 18)])
    assert (result.outcome, result.exit_code) == (PO.CANCELLED, 143)
    assert result.usage == Usage(1, 3, "billing=1,cpu=1,gres/gpu=1,node=1")
    assert fakes["lumi"].asked == [["18"]]


def test_a_job_final_in_the_queue_waits_for_its_accounting_record() -> None:
    ex, fakes, clock = make()
    fakes["lumi"].squeue("24|COMPLETED|None|lumi-n1|1795774440|aif:job-8e1dq05r7dg0")
    for _ in range(3):
        assert ex.poll([job("lumi", 24)]) == []
        clock.now += LOST_AFTER_S  # the queue knows it: never lost
    fakes["lumi"].sacct("24|COMPLETED|0:0|1795774440|1795774443|3|gres/gpu=1|lumi-n1")
    (result,) = ex.poll([job("lumi", 24)])
    assert result.outcome is PO.COMPLETED and result.usage == Usage(1, 3, "gres/gpu=1")


def test_a_record_still_running_in_accounting_is_not_an_answer() -> None:
    # slurmdbd lags behind the controller: the job left the queue, sacct still says RUNNING.
    ex, fakes, clock = make()
    fakes["lumi"].sacct("60|RUNNING|0:0|1795774440|Unknown|12|gres/gpu=1|lumi-n1")
    assert ex.poll([job("lumi", 60)]) == []
    clock.now += 10 * LOST_AFTER_S
    assert ex.poll([job("lumi", 60)]) == []  # sacct knows it: not lost either


def test_a_row_for_a_job_not_asked_about_is_ignored() -> None:
    ex, fakes, _ = make()
    fakes["lumi"].sacct("1|COMPLETED|0:0|1|2|1|gres/gpu=1|lumi-n1")
    assert ex.poll([job("leonardo", 1)]) == []  # same id, other cluster


# -- a job neither knows -----------------------------------------------------------------------
def test_a_job_neither_knows_is_lost_after_the_grace_period() -> None:
    ex, fakes, clock = make()
    assert ex.poll([job("lumi", 70)]) == []
    clock.now += LOST_AFTER_S - 1
    assert ex.poll([job("lumi", 70)]) == []
    clock.now += 1
    (result,) = ex.poll([job("lumi", 70)])
    assert result == PollResult(
        "job-lumi-70",
        PO.FAILED,
        None,
        "Slurm job 70 is known to neither squeue nor sacct",
    )
    assert fakes["lumi"].calls == Counter(queue=3, accounting=3)


def test_the_grace_period_restarts_once_the_job_is_seen() -> None:
    ex, fakes, clock = make()
    assert ex.poll([job("lumi", 71)]) == []  # missing since T0
    clock.now += LOST_AFTER_S - 10
    fakes["lumi"].squeue("71|PENDING|Priority||N/A|")
    assert [r.outcome for r in ex.poll([job("lumi", 71)])] == [PO.QUEUED]
    del fakes["lumi"].queue_rows["71"]
    clock.now += 20  # past T0 + LOST_AFTER_S, but missing again only from now on
    assert ex.poll([job("lumi", 71)]) == []
    clock.now += LOST_AFTER_S - 1
    assert ex.poll([job("lumi", 71)]) == []
    clock.now += 1
    assert [r.outcome for r in ex.poll([job("lumi", 71)])] == [PO.FAILED]


# -- a site that does not answer ---------------------------------------------------------------
def _two_sites_one_job_each(ex: SlurmExecutor, fakes: dict[str, FakeSlurm]) -> list[Tracked]:
    fakes["lumi"].squeue("1|RUNNING|None|lumi-n1|1795774440|")
    fakes["lumi"].sacct("2|COMPLETED|0:0|1|2|1|gres/gpu=1|lumi-n1")
    fakes["leonardo"].squeue("5|PENDING|Priority||N/A|")
    return [job("lumi", 1), job("lumi", 2), job("leonardo", 5)]


def test_a_site_down_gives_no_results_and_the_others_are_still_answered() -> None:
    ex, fakes, clock = make()
    jobs = [*_two_sites_one_job_each(ex, fakes), job("lumi", 3)]  # lumi 3: known to neither
    fakes["lumi"].down = "squeue: error: Unable to contact slurm controller"
    for _ in range(3):  # silence is never read as "lost"
        assert [r.job_id for r in ex.poll(jobs)] == ["job-leonardo-5"]
        clock.now += LOST_AFTER_S
    assert ex.site_errors == {"lumi": "squeue: error: Unable to contact slurm controller"}
    assert ex.health() == {
        "lumi": "squeue: error: Unable to contact slurm controller",
        "leonardo": None,
    }
    assert fakes["lumi"].calls == Counter(queue=3)  # asked during the passes: not again
    # It answers again: everything is resynced (lumi 3's grace period only starts now).
    fakes["lumi"].down = None
    assert sorted(r.job_id for r in ex.poll(jobs)) == ["job-leonardo-5", "job-lumi-1", "job-lumi-2"]
    assert ex.site_errors == {}
    assert ex.health() == {"lumi": None, "leonardo": None}


def test_slurmdbd_down_gives_no_results_for_that_site_even_live_ones() -> None:
    ex, fakes, _ = make()
    jobs = _two_sites_one_job_each(ex, fakes)
    fakes["lumi"].acct_down = "sacct: error: Problem talking to the database"
    assert [r.job_id for r in ex.poll(jobs)] == ["job-leonardo-5"]
    assert ex.health()["lumi"] == "sacct: error: Problem talking to the database"


# -- health ------------------------------------------------------------------------------------
def test_health_asks_the_sites_not_asked_during_the_pass_then_resets() -> None:
    ex, fakes, _ = make()
    fakes["lumi"].squeue("1|RUNNING|None|lumi-n1|1795774440|")
    ex.poll([job("lumi", 1)])
    fakes["leonardo"].down = "slurmrestd 503: unavailable"
    assert ex.health() == {"lumi": None, "leonardo": "slurmrestd 503: unavailable"}
    assert fakes["lumi"].calls == Counter(queue=1)  # answered in the pass
    assert fakes["leonardo"].calls == Counter(queue=1)  # asked by health, once
    # Reset: the next call asks both again (one squeue each).
    fakes["leonardo"].down = None
    assert ex.health() == {"lumi": None, "leonardo": None}
    assert fakes["lumi"].calls == Counter(queue=2)
    assert fakes["leonardo"].calls == Counter(queue=2)
    assert ex.site_errors == {}


def test_health_of_a_fresh_executor_asks_every_site() -> None:
    ex, fakes, _ = make()
    assert ex.health() == {"lumi": None, "leonardo": None}
    assert all(f.calls == Counter(queue=1) for f in fakes.values())


# -- adopt, cancel, launch ---------------------------------------------------------------------
def test_adopt_finds_the_job_by_its_comment(tmp_path: Path) -> None:
    ex, fakes, clock = make(jobs_dir=tmp_path / "jobs")
    fakes["leonardo"].comments["aif:job-9"] = "42"
    got = ex.adopt("job-9", Path("/data/jobs/job-9"))
    assert got is not None
    assert (got.external_id, got.started_at) == ("leonardo:42", clock.now)
    assert got.workdir == Path("/data/jobs/job-9")  # leonardo has no jobs_dir
    fakes["lumi"].comments["aif:job-8"] = "7"
    got = ex.adopt("job-8", Path("/data/jobs/job-8"), site="lumi")
    assert got is not None and got.external_id == "lumi:7"
    assert got.workdir == tmp_path / "jobs" / "job-8"
    assert fakes["leonardo"].calls["find"] == 1  # site= asks that site only


def test_adopt_returns_none_when_no_job_carries_the_comment() -> None:
    ex, fakes, _ = make()
    fakes["lumi"].comments["aif:job-other"] = "3"
    assert ex.adopt("job-9", Path("/x")) is None
    assert ex.adopt("job-9", Path("/x"), site="leonardo") is None
    assert fakes["lumi"].calls["find"] == 1 and fakes["leonardo"].calls["find"] == 2


def test_adopt_never_concludes_from_a_silent_site() -> None:
    ex, fakes, _ = make()
    fakes["leonardo"].down = "ssh: connect to host: No route to host"
    with pytest.raises(SiteUnavailable):
        ex.adopt("job-9", Path("/x"))
    assert ex.site_errors == {"leonardo": "ssh: connect to host: No route to host"}


@pytest.mark.parametrize(("site", "other"), [("lumi", "leonardo"), ("leonardo", "lumi")])
def test_cancel_goes_to_the_site_of_the_external_id(site: str, other: str) -> None:
    ex, fakes, _ = make()
    ex.cancel(job(site, 12345))
    assert fakes[site].cancelled == ["12345"]
    assert fakes[other].calls == Counter()


def test_cancel_at_an_unknown_site_asks_nobody() -> None:
    ex, fakes, _ = make()
    ex.cancel(job("mars", 1))
    assert all(f.calls == Counter() for f in fakes.values())


def test_cancel_at_a_silent_site_raises() -> None:
    ex, fakes, _ = make()
    fakes["lumi"].down = "controller down"
    with pytest.raises(SiteUnavailable, match="controller down"):
        ex.cancel(job("lumi", 1))


def test_launch_submits_with_the_comment_and_keeps_script_and_command_line(
    tmp_path: Path,
) -> None:
    ex, fakes, clock = make(jobs_dir=tmp_path / "jobs")
    request = LaunchRequest(
        job_id="job-5",
        command="echo hi",
        env={},
        workdir=tmp_path / "ignored",
        walltime_s=600,
        info={"site": "lumi", "partition": "standard-g", "account": "alc-1"},
    )
    launched = ex.launch(request)
    (sub,) = fakes["lumi"].submitted
    assert launched.external_id == f"lumi:{fakes['lumi'].comments['aif:job-5']}"
    assert (launched.started_at, launched.workdir) == (clock.now, tmp_path / "jobs" / "job-5")
    assert sub.comment == "aif:job-5"
    assert (tmp_path / "jobs" / "job-5" / "job.sbatch").read_text() == sub.script
    line = (tmp_path / "jobs" / "job-5" / "sbatch.txt").read_text()
    assert line.startswith("sbatch --account=alc-1 ") and "--comment=aif:job-5" in line
