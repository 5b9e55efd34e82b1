"""The Slurm executor: every ``slurm`` partition of a connected site is a real Slurm cluster.

External ids are ``"<site>:<slurm job id>"``. A poll asks each cluster once (one ``squeue``,
then one ``sacct`` for the jobs that left the queue or ended in it), never once per job. A
cluster that does not answer is reported in :attr:`SlurmExecutor.site_errors`; its jobs are
left as they are until it answers again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from aifactory.domain.execution import (
    Launched,
    LaunchRequest,
    LogChunk,
    PollResult,
    ProcessOutcome,
    Tracked,
    Usage,
)
from aifactory.executors import logs
from aifactory.executors.slurm.batch import comment_of, describe, submission
from aifactory.executors.slurm.cli import CliClient
from aifactory.executors.slurm.client import (
    AccountingRow,
    QueueRow,
    SiteUnavailable,
    SlurmClient,
)
from aifactory.executors.slurm.connection import SiteConnection, Transport
from aifactory.executors.slurm.states import (
    base_state,
    outcome_of,
    platform_exit_code,
    tres_count,
)
from aifactory.executors.slurm.states import (
    describe as describe_state,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# A job neither squeue nor sacct knows is given this long (slurmdbd may lag behind the
# controller) before it counts as lost.
LOST_AFTER_S = 300.0


def make_client(conn: SiteConnection) -> SlurmClient:
    if conn.transport is Transport.REST:
        from aifactory.executors.slurm.rest import RestClient

        return RestClient(conn)
    return CliClient(conn)


def split_external_id(external_id: str) -> tuple[str, str]:
    site, _, slurm_id = external_id.rpartition(":")
    return site, slurm_id


class SlurmExecutor:
    def __init__(
        self,
        connections: Mapping[str, SiteConnection],
        *,
        client_factory: Callable[[SiteConnection], SlurmClient] = make_client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connections = dict(connections)
        self.clients = {site: client_factory(c) for site, c in connections.items()}
        self.site_errors: dict[str, str] = {}  # site -> why it did not answer at the last call
        self.answers: dict[str, str | None] = {}  # this pass: site -> None (answered) or error
        self._clock = clock
        self._missing_since: dict[str, float] = {}

    def _workdir(self, site: str, request_workdir: Path, job_id: str) -> Path:
        jobs_dir = self.connections[site].jobs_dir
        return (jobs_dir / job_id) if jobs_dir is not None else request_workdir

    # -- submit ----------------------------------------------------------------------------
    def launch(self, request: LaunchRequest) -> Launched:
        site = request.info["site"]
        conn = self.connections[site]
        workdir = self._workdir(site, request.workdir, request.job_id)
        base = logs.base_dir(request, str(workdir))
        # Where the logs go, with %j still to come from sbatch: their directories first.
        pending = logs.log_paths(request, str(workdir), "%j", conn.submit_user)
        dirs = [str(workdir), *(d for d in logs.parents_to_create(pending, base) if "%" not in d)]
        sub = replace(submission(request, conn, workdir), dirs=tuple(dict.fromkeys(dirs)))
        if not conn.ssh:
            workdir.mkdir(parents=True, exist_ok=True)
            (workdir / "job.sbatch").write_text(sub.script)
            (workdir / "sbatch.txt").write_text(describe(sub) + "\n")
        slurm_id = self._call(site, lambda c: c.submit(sub))
        paths = logs.log_paths(request, str(workdir), slurm_id, conn.submit_user)
        return Launched(
            external_id=f"{site}:{slurm_id}",
            started_at=self._clock(),
            workdir=workdir,
            logs=paths,
        )

    # -- a job's input files ---------------------------------------------------------------
    def inputs_dir(self, site: str, request_workdir: Path, job_id: str) -> Path:
        """Where a job's datasets go at its site: ``<its folder there>/datasets``."""
        return self._workdir(site, request_workdir, job_id) / "datasets"

    def put_files(
        self, site: str, folder: str, filename: str | None, chunks: Iterable[bytes], size: int
    ) -> None:
        self._call(site, lambda c: c.write_files(folder, filename, chunks, size))

    def remove_files(self, site: str, folder: str) -> None:
        self._call(site, lambda c: c.remove_files(folder))

    def read_log(
        self, job: Tracked, stream: str, *, offset: int = 0, tail_lines: int | None = None
    ) -> LogChunk:
        """The job's output file, read over the site's own transport (here, over SSH on its
        login node, or the jobs_dir a REST site shares)."""
        site, _ = split_external_id(job.external_id)
        path = job.logs.get(stream) or str(
            job.workdir / (logs.STDOUT_FILE if stream == "stdout" else logs.STDERR_FILE)
        )
        path = logs.with_node(path, logs.first_node(job.node))
        if site not in self.clients:
            return LogChunk("", offset)
        return self._call(site, lambda c: c.read_file(path, offset=offset, tail_lines=tail_lines))

    def adopt(
        self, job_id: str, workdir: Path, site: str = "", since: float = 0.0
    ) -> Launched | None:
        """The Slurm job an interrupted launch created, found by its comment."""
        sites = [site] if site else list(self.connections)
        for s in sites:
            slurm_id = self._call(s, lambda c: c.find(comment_of(job_id), since))
            if slurm_id is not None:
                return Launched(
                    external_id=f"{s}:{slurm_id}",
                    started_at=self._clock(),
                    workdir=self._workdir(s, workdir, job_id),
                )
        return None

    def _call(self, site: str, fn: Callable[[SlurmClient], _T]) -> _T:
        try:
            result = fn(self.clients[site])
        except SiteUnavailable as exc:
            self.site_errors[site] = self.answers[site] = str(exc)
            raise
        self.site_errors.pop(site, None)
        self.answers.setdefault(site, None)
        return result

    # -- follow ----------------------------------------------------------------------------
    def health(self) -> dict[str, str | None]:
        """Every site's answer since the last call: None where it answered, else the error.
        A site not asked meanwhile is asked now (one squeue)."""
        for site in self.connections:
            if site not in self.answers:
                with contextlib.suppress(SiteUnavailable):
                    self._call(site, lambda c: c.queue())
        out, self.answers = self.answers, {}
        return out

    def poll(self, jobs: Sequence[Tracked]) -> list[PollResult]:
        by_site: dict[str, list[Tracked]] = defaultdict(list)
        for job in jobs:
            site, _ = split_external_id(job.external_id)
            if site in self.clients:
                by_site[site].append(job)
        results: list[PollResult] = []
        for site, tracked in by_site.items():
            try:
                results.extend(self._poll_site(site, tracked))
            except SiteUnavailable as exc:
                log.warning("site %s does not answer: %s", site, exc)
        return results

    def _poll_site(self, site: str, tracked: list[Tracked]) -> list[PollResult]:
        queue = {row.slurm_id: row for row in self._call(site, lambda c: c.queue())}
        results: list[PollResult] = []
        ask: dict[str, Tracked] = {}
        for job in tracked:
            slurm_id = split_external_id(job.external_id)[1]
            row = queue.get(slurm_id)
            if row is not None and not outcome_of(row.state).is_final:
                self._missing_since.pop(job.job_id, None)
                results.append(_live(job, row))
            else:
                ask[slurm_id] = job  # ended (or purged): its usage comes from sacct
        if ask:
            rows = self._call(site, lambda c: c.accounting(sorted(ask, key=int)))
            seen = set()
            for acct in rows:
                asked = ask.get(acct.slurm_id)
                if asked is None or acct.slurm_id in seen:
                    continue
                seen.add(acct.slurm_id)
                if outcome_of(acct.state).is_final:
                    self._missing_since.pop(asked.job_id, None)
                    results.append(_ended(asked, acct))
            now = self._clock()
            for slurm_id, job in ask.items():
                if slurm_id in seen or slurm_id in queue:
                    continue
                first = self._missing_since.setdefault(job.job_id, now)
                if now - first >= LOST_AFTER_S:
                    results.append(
                        PollResult(
                            job.job_id,
                            ProcessOutcome.FAILED,
                            None,
                            f"Slurm job {slurm_id} is known to neither squeue nor sacct",
                        )
                    )
        return results

    def cancel(self, job: Tracked) -> None:
        site, slurm_id = split_external_id(job.external_id)
        if site in self.clients:
            self._call(site, lambda c: c.cancel(slurm_id))


def _live(job: Tracked, row: QueueRow) -> PollResult:
    outcome = outcome_of(row.state)
    if outcome is ProcessOutcome.QUEUED:
        reason = (
            f"Slurm: {base_state(row.state)} ({row.reason})" if row.reason else "Slurm: PENDING"
        )
        return PollResult(job.job_id, outcome, reason=reason)
    return PollResult(job.job_id, outcome, reason="running", started_at=row.start, nodes=row.nodes)


def _ended(job: Tracked, row: AccountingRow) -> PollResult:
    usage = Usage(
        gpus=tres_count(row.alloc_tres), elapsed_s=row.elapsed_s, alloc_tres=row.alloc_tres
    )
    return PollResult(
        job.job_id,
        outcome_of(row.state),
        platform_exit_code(row.exit_code, row.signal),
        describe_state(row.state, row.exit_code, row.signal),
        ended_at=row.end,
        started_at=row.start,
        nodes=row.nodes if row.nodes not in ("None assigned", "") else "",
        usage=usage,
    )
