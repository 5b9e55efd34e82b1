"""What the platform reads from Slurm and what it hands to it, without a cluster.

- ``parse_squeue``/``parse_sacct`` on real parsable output. The REAL_* lines were printed by
  the Debian Slurm 22.05 test clusters (scripts/slurm-test-cluster.sh) with exactly the
  formats cli.py asks for::

      SLURM_TIME_FORMAT=%s squeue --noheader --all --states=all --format='%i|%T|%r|%N|%S|%k'
      SLURM_TIME_FORMAT=%s sacct -M lumi -X -P -n \\
          --format=JobIDRaw,State,ExitCode,Start,End,ElapsedRaw,AllocTRES,NodeList

  The queue held no pending job then; the pending lines below follow the same format (squeue
  prints "N/A" for the start of a pending job without an estimate, an empty node list).
- The slurmrestd readers of rest.py on job dicts shaped like v0.0.38 (Slurm 22.05, the
  schema the test cluster's slurmrestd serves) and like v0.0.40 (numbers as
  ``{"set": true, "number": n}``, states as lists), and the client's HTTP side (version
  discovery, error classification) over ``httpx.MockTransport``. The real slurmrestd is
  exercised by tests/slurm/.
- batch.py: the sbatch options and script of a command job and of a user's script.
- connection.py: the site connection file and the errors that name file and field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from aifactory.domain.execution import LaunchRequest, SiteUnavailable
from aifactory.domain.sbatch import format_slurm_time
from aifactory.executors.slurm.batch import (
    comment_of,
    describe,
    options,
    render_script,
    submission,
)
from aifactory.executors.slurm.cli import CliClient, parse_sacct, parse_squeue
from aifactory.executors.slurm.client import AccountingRow, QueueRow, SlurmRefused
from aifactory.executors.slurm.connection import (
    ConnectionError_,
    SiteConnection,
    Transport,
    load_connections,
)
from aifactory.executors.slurm.rest import (
    RestClient,
    _accounting_row,
    _number,
    _state,
    parse_minutes,
    script_properties,
)
from aifactory.executors.slurm.states import outcome_of, platform_exit_code

# -- real output -------------------------------------------------------------------------------
REAL_SQUEUE_LUMI = """\
20|CANCELLED|None|lumi-n1|1795774344|(null)
18|CANCELLED|None|lumi-n1|1795774338|aif:job-p0d0byrjpbp7
24|COMPLETED|None|lumi-n1|1795774440|aif:job-8e1dq05r7dg0
19|FAILED|NonZeroExitCode|lumi-n1|1795774341|aif:job-m6bx6w5fdfr8
"""
REAL_SQUEUE_LEONARDO = "9|TIMEOUT|TimeLimit|leonardo-n1|1795774341|aif:job-tr648xy2w8xp\n"

REAL_SACCT_LUMI = """\
1|COMPLETED|0:0|1795773748|1795773751|3|billing=1,cpu=1,gres/gpu=2,node=1|lumi-n1
2|COMPLETED|0:0|1795773758|1795773767|9|billing=1,cpu=1,node=1|lumi-n1
15|CANCELLED by 0|0:0|1795774012|1795774019|7|billing=1,cpu=1,gres/gpu=8,node=1|lumi-n1
18|CANCELLED|0:15|1795774338|1795774341|3|billing=1,cpu=1,gres/gpu=1,node=1|lumi-n1
19|FAILED|3:0|1795774341|1795774341|0|billing=1,cpu=1,gres/gpu=1,node=1|lumi-n1
"""
REAL_SACCT_LEONARDO = """\
2|CANCELLED by 0|0:0|1795773776|1795773783|7|billing=1,cpu=1,gres/gpu=4,node=1|leonardo-n1
3|CANCELLED by 0|0:0|None|1795773783|0||None assigned
9|TIMEOUT|0:0|1795774341|1795774430|89|billing=1,cpu=1,gres/gpu=1,node=1|leonardo-n1
"""


def q(
    slurm_id: str, state: str, reason: str, nodes: str, start: float | None, comment: str
) -> QueueRow:
    return QueueRow(slurm_id, state, reason, nodes, start, comment)


def a(
    slurm_id: str,
    state: str,
    code: int | None,
    sig: int | None,
    start: float | None,
    end: float | None,
    elapsed: int,
    tres: str,
    nodes: str,
) -> AccountingRow:
    return AccountingRow(slurm_id, state, code, sig, start, end, elapsed, tres, nodes)


# -- squeue ------------------------------------------------------------------------------------
def test_parse_squeue_real_output() -> None:
    assert parse_squeue(REAL_SQUEUE_LUMI + REAL_SQUEUE_LEONARDO) == [
        q("20", "CANCELLED", "None", "lumi-n1", 1795774344.0, "(null)"),
        q("18", "CANCELLED", "None", "lumi-n1", 1795774338.0, "aif:job-p0d0byrjpbp7"),
        q("24", "COMPLETED", "None", "lumi-n1", 1795774440.0, "aif:job-8e1dq05r7dg0"),
        q("19", "FAILED", "NonZeroExitCode", "lumi-n1", 1795774341.0, "aif:job-m6bx6w5fdfr8"),
        q("9", "TIMEOUT", "TimeLimit", "leonardo-n1", 1795774341.0, "aif:job-tr648xy2w8xp"),
    ]


# (case, one squeue line, the row or None when skipped)
SQUEUE_LINES = [
    ("pending, no estimate", "31|PENDING|Priority||N/A|aif:job-a",
     q("31", "PENDING", "Priority", "", None, "aif:job-a")),
    ("pending, Unknown start", "32|PENDING|Resources||Unknown|aif:job-b",
     q("32", "PENDING", "Resources", "", None, "aif:job-b")),
    ("pending on the GPU budget", "33|PENDING|AssocGrpGRESMinutes||N/A|aif:job-c",
     q("33", "PENDING", "AssocGrpGRESMinutes", "", None, "aif:job-c")),
    ("pending with an estimate", "34|PENDING|Resources||1795780000|aif:job-d",
     q("34", "PENDING", "Resources", "", 1795780000.0, "aif:job-d")),
    ("running on two nodes", "35|RUNNING|None|lumi-n[1-2]|1795774440|aif:job-e",
     q("35", "RUNNING", "None", "lumi-n[1-2]", 1795774440.0, "aif:job-e")),
    ("a comment with '|' stays whole", "36|RUNNING|None|lumi-n1|1795774440|a|b||c",
     q("36", "RUNNING", "None", "lumi-n1", 1795774440.0, "a|b||c")),
    ("empty comment", "37|PENDING|Priority||N/A|", q("37", "PENDING", "Priority", "", None, "")),
    ("header", "JOBID|STATE|REASON|NODELIST|START_TIME|COMMENT", None),
    ("blank", "", None),
    ("error text", "squeue: error: Invalid user: nobody", None),
    ("too few columns", "38|PENDING|Priority", None),
    ("array task", "39_1|PENDING|Priority||N/A|aif:job-f", None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "line", "row"), SQUEUE_LINES, ids=[c[0] for c in SQUEUE_LINES])
def test_parse_squeue_line(case: str, line: str, row: QueueRow | None) -> None:
    assert parse_squeue(line + "\n") == ([row] if row else [])


def test_junk_between_real_lines_is_skipped() -> None:
    text = "garbage\n" + REAL_SQUEUE_LUMI + "\n  \nslurm_load_jobs error: x\n"
    assert [r.slurm_id for r in parse_squeue(text)] == ["20", "18", "24", "19"]


# -- sacct -------------------------------------------------------------------------------------
def test_parse_sacct_real_output() -> None:
    assert parse_sacct(REAL_SACCT_LUMI + REAL_SACCT_LEONARDO) == [
        a("1", "COMPLETED", 0, 0, 1795773748.0, 1795773751.0, 3,
          "billing=1,cpu=1,gres/gpu=2,node=1", "lumi-n1"),
        a("2", "COMPLETED", 0, 0, 1795773758.0, 1795773767.0, 9, "billing=1,cpu=1,node=1",
          "lumi-n1"),
        a("15", "CANCELLED by 0", 0, 0, 1795774012.0, 1795774019.0, 7,
          "billing=1,cpu=1,gres/gpu=8,node=1", "lumi-n1"),
        a("18", "CANCELLED", 0, 15, 1795774338.0, 1795774341.0, 3,
          "billing=1,cpu=1,gres/gpu=1,node=1", "lumi-n1"),
        a("19", "FAILED", 3, 0, 1795774341.0, 1795774341.0, 0,
          "billing=1,cpu=1,gres/gpu=1,node=1", "lumi-n1"),
        a("2", "CANCELLED by 0", 0, 0, 1795773776.0, 1795773783.0, 7,
          "billing=1,cpu=1,gres/gpu=4,node=1", "leonardo-n1"),
        # cancelled while pending: no start, nothing allocated, "None assigned"
        a("3", "CANCELLED by 0", 0, 0, None, 1795773783.0, 0, "", "None assigned"),
        a("9", "TIMEOUT", 0, 0, 1795774341.0, 1795774430.0, 89,
          "billing=1,cpu=1,gres/gpu=1,node=1", "leonardo-n1"),
    ]  # fmt: skip


# (case, one sacct line, the row or None when skipped)
SACCT_LINES = [
    ("running: end Unknown", "40|RUNNING|0:0|1795774440|Unknown|12|cpu=1,gres/gpu=2|lumi-n1",
     a("40", "RUNNING", 0, 0, 1795774440.0, None, 12, "cpu=1,gres/gpu=2", "lumi-n1")),
    ("pending: Unknown start", "41|PENDING|0:0|Unknown|Unknown|0||None assigned",
     a("41", "PENDING", 0, 0, None, None, 0, "", "None assigned")),
    ("empty exit code and elapsed", "42|FAILED||0|0|||",
     a("42", "FAILED", None, None, None, None, 0, "", "")),
    ("a step line", "18.batch|CANCELLED|0:15|1795774338|1795774341|3|cpu=1|lumi-n1", None),
    ("an array task", "43_2|COMPLETED|0:0|1|2|1|cpu=1|lumi-n1", None),
    ("header", "JobIDRaw|State|ExitCode|Start|End|ElapsedRaw|AllocTRES|NodeList", None),
    ("seven columns", "44|COMPLETED|0:0|1|2|1|cpu=1", None),
    ("nine columns", "45|COMPLETED|0:0|1|2|1|cpu=1|lumi-n1|x", None),
    ("error text", "sacct: error: slurmdbd: Problem talking to the database", None),
    ("blank", "", None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "line", "row"), SACCT_LINES, ids=[c[0] for c in SACCT_LINES])
def test_parse_sacct_line(case: str, line: str, row: AccountingRow | None) -> None:
    assert parse_sacct(line + "\n") == ([row] if row else [])


class RecordingCli(CliClient):
    """CliClient with its commands recorded and answered from text, not run."""

    def __init__(self, answer: Callable[[list[str]], str]) -> None:
        super().__init__(SiteConnection(site="lumi", cluster="lumi", user="aif"))
        self.answer = answer
        self.argvs: list[list[str]] = []

    def run(
        self, argv: Sequence[str], *, env: Any = None, stdin: str = ""
    ) -> str:  # the real one runs the command
        self.argvs.append(list(argv))
        return self.answer(list(argv))


def test_sacct_is_asked_once_per_10000_ids_within_the_argument_limit() -> None:
    ids = [str(i) for i in range(100_000_000, 100_022_500)]  # 9-digit ids
    cli = RecordingCli(lambda argv: "")
    assert cli.accounting(ids) == []
    chunks = [next(x for x in argv if x.startswith("--jobs=")) for argv in cli.argvs]
    assert [len(c.removeprefix("--jobs=").split(",")) for c in chunks] == [10_000, 10_000, 2500]
    assert max(len(c.encode()) for c in chunks) < 128 * 1024  # MAX_ARG_STRLEN
    assert all("--parsable2" in argv and "--clusters=lumi" in argv for argv in cli.argvs)


def test_the_queue_asks_for_the_format_parse_squeue_reads() -> None:
    cli = RecordingCli(lambda argv: REAL_SQUEUE_LUMI)
    assert [r.slurm_id for r in cli.queue()] == ["20", "18", "24", "19"]
    (argv,) = cli.argvs
    assert argv[0] == "squeue"
    assert "--format=%i|%T|%r|%N|%S|%k" in argv and "--user=aif" in argv


# -- slurmrestd: the readers -------------------------------------------------------------------
# leonardo job 2 (see REAL_SACCT_LEONARDO) as slurmdbd's dbv0.0.38 job list shows it.
V38_JOB: dict[str, Any] = {
    "account": "alc-1",
    "comment": {"administrator": None, "job": "aif:job-x", "system": None},
    "cluster": "leonardo",
    "job_id": 2,
    "name": "train",
    "nodes": "leonardo-n1",
    "partition": "gpu",
    "state": {"current": "CANCELLED", "reason": "None"},
    "exit_code": {"status": "SUCCESS", "return_code": 0},
    "derived_exit_code": {"status": "SUCCESS", "return_code": 0},
    "time": {
        "elapsed": 7,
        "eligible": 1795773776,
        "end": 1795773783,
        "start": 1795773776,
        "submission": 1795773776,
        "suspended": 0,
        "limit": 60,
    },
    "tres": {
        "allocated": [
            {"type": "cpu", "name": "", "id": 1, "count": 1},
            {"type": "node", "name": "", "id": 4, "count": 1},
            {"type": "billing", "name": "", "id": 5, "count": 1},
            {"type": "gres", "name": "gpu", "id": 1001, "count": 4},
        ],
        "requested": [{"type": "cpu", "name": "", "id": 1, "count": 1}],
    },
}

# leonardo job 9 as a v0.0.40 plugin shows it: numbers wrapped, the state a list.
V40_JOB: dict[str, Any] = {
    "job_id": 9,
    "nodes": "leonardo-n1",
    "comment": {"administrator": "", "job": "aif:job-tr648xy2w8xp", "system": ""},
    "state": {"current": ["TIMEOUT"], "reason": "None"},
    "exit_code": {
        "status": ["SUCCESS"],
        "return_code": {"set": True, "infinite": False, "number": 0},
        "signal": {"id": {"set": False, "infinite": False, "number": 0}, "name": ""},
    },
    "time": {
        "elapsed": {"set": True, "infinite": False, "number": 89},
        "start": {"set": True, "infinite": False, "number": 1795774341},
        "end": {"set": True, "infinite": False, "number": 1795774430},
        "limit": {"set": True, "infinite": False, "number": 1},
    },
    "tres": {
        "allocated": [
            {"type": "cpu", "name": "", "id": 1, "count": 1},
            {"type": "gres", "name": "gpu", "id": 1001, "count": 1},
            {"type": "node", "name": "", "id": 4, "count": 1},
            {"type": "billing", "name": "", "id": 5, "count": 1},
            {"type": "mem", "name": "", "id": 2, "count": -1},  # not counted: left out
        ]
    },
}


def _comparable(row: AccountingRow) -> tuple[Any, ...]:
    """What the platform keeps of a row (sacct adds "by <uid>"; REST gives no 0 signal)."""
    return (
        row.slurm_id,
        outcome_of(row.state),
        platform_exit_code(row.exit_code, row.signal),
        row.start,
        row.end,
        row.elapsed_s,
        row.alloc_tres,
        row.nodes,
    )


def _sacct(slurm_id: str) -> AccountingRow:
    return next(r for r in parse_sacct(REAL_SACCT_LEONARDO) if r.slurm_id == slurm_id)


def test_a_v0038_job_reads_as_sacct_prints_it() -> None:
    row = _accounting_row(V38_JOB)
    assert row == a("2", "CANCELLED", 0, None, 1795773776.0, 1795773783.0, 7,
                    "billing=1,cpu=1,gres/gpu=4,node=1", "leonardo-n1")  # fmt: skip
    assert _comparable(row) == _comparable(_sacct("2"))


def test_a_v0040_job_reads_as_sacct_prints_it() -> None:
    row = _accounting_row(V40_JOB)
    assert row == a("9", "TIMEOUT", 0, None, 1795774341.0, 1795774430.0, 89,
                    "billing=1,cpu=1,gres/gpu=1,node=1", "leonardo-n1")  # fmt: skip
    assert _comparable(row) == _comparable(_sacct("9"))


def test_a_v0038_signalled_job() -> None:
    # lumi job 18 (sacct "0:15"): dbv0.0.38 sets no return code for a signalled job.
    job = dict(
        V38_JOB,
        job_id=18,
        exit_code={"status": "SIGNALED", "signal": {"signal_id": 15, "name": "Terminated"}},
    )
    row = _accounting_row(job)
    assert (row.exit_code, row.signal) == (None, 15)
    assert platform_exit_code(row.exit_code, row.signal) == 143


def test_a_v0040_signalled_job() -> None:
    job = dict(
        V40_JOB,
        exit_code={
            "status": ["SIGNALED"],
            "return_code": {"set": False, "infinite": False, "number": 0},
            "signal": {"id": {"set": True, "infinite": False, "number": 9}, "name": "KILL"},
        },
    )
    row = _accounting_row(job)
    assert row.signal == 9
    assert platform_exit_code(row.exit_code, row.signal) == 137


def test_a_job_that_never_started() -> None:
    # leonardo job 3: cancelled while pending; slurmdbd has start 0 and no allocation.
    job = {
        "job_id": 3,
        "state": {"current": "CANCELLED"},
        "exit_code": {"status": "SUCCESS", "return_code": 0},
        "time": {"elapsed": 0, "start": 0, "end": 1795773783},
        "tres": {"allocated": []},
        "nodes": "None assigned",
    }
    assert _accounting_row(job) == a(
        "3", "CANCELLED", 0, None, None, 1795773783.0, 0, "", "None assigned"
    )


def test_a_bare_job_dict_does_not_break_the_reader() -> None:
    assert _accounting_row({"job_id": 5}) == a("5", "", None, None, None, None, 0, "", "")


# (value as slurmrestd sends it, the number)
NUMBERS = [
    (5, 5),
    (2.0, 2),
    ({"set": True, "infinite": False, "number": 7}, 7),
    ({"set": True, "number": 0}, 0),
    ({"number": 3}, 3),
    ({"set": False, "infinite": False, "number": 0}, None),
    ({"set": True, "infinite": True, "number": 0}, None),
    (None, None),
    ("5", None),
    ({}, None),
]


@pytest.mark.parametrize(("value", "number"), NUMBERS, ids=[json.dumps(n[0]) for n in NUMBERS])
def test_number(value: Any, number: int | None) -> None:
    assert _number(value) == number


# (value as slurmrestd sends it, the state)
STATES = [
    ("COMPLETED", "COMPLETED"),
    (["COMPLETED"], "COMPLETED"),
    (["RUNNING", "COMPLETING"], "RUNNING"),
    ([], ""),
    ({"current": "PENDING", "reason": "Priority"}, "PENDING"),
    ({"current": ["TIMEOUT"], "reason": "None"}, "TIMEOUT"),
    (None, ""),
]


@pytest.mark.parametrize(("value", "state"), STATES, ids=[json.dumps(s[0]) for s in STATES])
def test_state(value: Any, state: str) -> None:
    assert _state(value) == state


# (sbatch --time as the platform renders it, minutes for slurmrestd)
MINUTES = [
    ("01:00:00", 60),
    ("00:00:30", 1),  # rounded up: never less than asked
    ("00:00:01", 1),
    ("00:01:00", 1),
    ("00:01:01", 2),
    ("23:59:59", 1440),
    ("1-00:00:00", 1440),
    ("2-12:30:00", 3630),
]


@pytest.mark.parametrize(("text", "minutes"), MINUTES, ids=[m[0] for m in MINUTES])
def test_parse_minutes(text: str, minutes: int) -> None:
    assert parse_minutes(text) == minutes


@pytest.mark.parametrize("seconds", [1, 59, 60, 61, 3599, 3600, 86399, 86400, 86401, 10 * 86400])
def test_parse_minutes_reads_format_slurm_time(seconds: int) -> None:
    assert parse_minutes(format_slurm_time(seconds)) == math.ceil(seconds / 60)


# -- slurmrestd: HTTP (MockTransport) ----------------------------------------------------------
Handler = Callable[[httpx.Request], httpx.Response]


def rest_client(tmp_path: Path, handler: Handler) -> RestClient:
    token = tmp_path / "leonardo.jwt"
    token.write_text("SLURM_JWT=tok-123\n")
    conn = SiteConnection(
        site="leonardo",
        transport=Transport.REST,
        cluster="leonardo",
        rest_url="http://slurmrestd.test:6820",
        rest_user="aif",
        token_file=token,
    )
    http = httpx.Client(
        base_url="http://slurmrestd.test:6820", transport=httpx.MockTransport(handler)
    )
    return RestClient(conn, http=http)


def spec(*versions: str) -> dict[str, Any]:
    """An /openapi/v3 answer listing these plugin versions' paths."""
    paths: dict[str, Any] = {"/openapi/v3": {}}
    for v in versions:
        for p in ("job/submit", "jobs", "job/{job_id}", "diag/"):
            paths[f"/slurm/{v}/{p}"] = {}
        paths[f"/slurmdb/{v}/jobs/"] = {}
    return {"openapi": "3.0.2", "paths": paths}


class Server:
    """Answers by path; records every request."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes.get(request.url.path)
        if answer is None:
            return httpx.Response(404, json={"errors": [{"error": "Unknown path"}]})
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


# (case, versions served, the one chosen)
VERSIONS = [
    ("22.05: one plugin", ["v0.0.36", "v0.0.37", "v0.0.38"], "v0.0.38"),
    ("the highest, in any order", ["v0.0.40", "v0.0.38", "v0.0.39"], "v0.0.40"),
    ("numbers, not text", ["v0.0.9", "v0.0.10"], "v0.0.10"),
    ("minor before patch", ["v0.0.41", "v0.1.0"], "v0.1.0"),
]


@pytest.mark.parametrize(("case", "served", "chosen"), VERSIONS, ids=[v[0] for v in VERSIONS])
def test_version_is_read_from_the_server(
    tmp_path: Path, case: str, served: list[str], chosen: str
) -> None:
    server = Server({"/openapi/v3": spec(*served), f"/slurm/{chosen}/jobs": {"jobs": []}})
    client = rest_client(tmp_path, server)
    assert client.version() == chosen
    assert client.queue() == []
    assert client.version() == chosen
    assert server.paths() == ["/openapi/v3", f"/slurm/{chosen}/jobs"]  # asked once
    first = server.requests[0]
    assert first.headers["X-SLURM-USER-NAME"] == "aif"
    assert first.headers["X-SLURM-USER-TOKEN"] == "tok-123"


def test_only_the_submit_path_counts(tmp_path: Path) -> None:
    paths: dict[str, Any] = {
        "/slurm/v0.0.41/jobs": {},
        "/slurm/v0.0.42/job/submit/extra": {},
        "/slurm/x/job/submit": {},
    }
    server = Server({"/openapi/v3": {"paths": {**paths, "/slurm/v0.0.38/job/submit": {}}}})
    assert rest_client(tmp_path, server).version() == "v0.0.38"
    server = Server({"/openapi/v3": {"paths": paths}})
    with pytest.raises(SlurmRefused, match="no /slurm/v\\*/job/submit"):
        rest_client(tmp_path, server).version()


def test_queue_reads_the_users_jobs(tmp_path: Path) -> None:
    jobs = [
        {"job_id": 31, "user_name": "aif", "job_state": ["PENDING"], "state_reason": "Priority",
         "nodes": "", "start_time": {"set": True, "number": 1795780000}, "comment": "aif:job-a"},
        {"job_id": 35, "user_name": "aif", "job_state": ["RUNNING"], "state_reason": "None",
         "nodes": "leonardo-n1", "start_time": {"set": True, "number": 1795774440},
         "comment": "aif:job-e"},
        {"job_id": 36, "user_name": "someone", "job_state": ["RUNNING"], "comment": "x"},
    ]  # fmt: skip
    server = Server({"/openapi/v3": spec("v0.0.40"), "/slurm/v0.0.40/jobs": {"jobs": jobs}})
    assert rest_client(tmp_path, server).queue() == [
        q("31", "PENDING", "Priority", "", None, "aif:job-a"),  # an estimate is not a start
        q("35", "RUNNING", "None", "leonardo-n1", 1795774440.0, "aif:job-e"),
    ]


def test_accounting_keeps_only_the_jobs_asked(tmp_path: Path) -> None:
    other = dict(V38_JOB, job_id=77)
    server = Server(
        {"/openapi/v3": spec("v0.0.38"), "/slurmdb/v0.0.38/jobs": {"jobs": [V38_JOB, other]}}
    )
    rows = rest_client(tmp_path, server).accounting(["2", "3"])
    assert [r.slurm_id for r in rows] == ["2"]
    assert server.requests[-1].url.params["cluster"] == "leonardo"


# (case, what slurmrestd does, the exception)
HTTP_ERRORS: list[tuple[str, httpx.Response | Exception, type[Exception], str]] = [
    ("bad gateway", httpx.Response(502, text="Bad Gateway"), SiteUnavailable, "502"),
    ("unavailable", httpx.Response(503, text=""), SiteUnavailable, "503"),
    ("controller down",
     httpx.Response(500, json={"errors": [{"error": "Unable to contact slurm controller"}]}),
     SiteUnavailable, "Unable to contact"),
    ("connection refused", httpx.ConnectError("refused"), SiteUnavailable, "refused"),
    ("read timeout", httpx.ReadTimeout("slow"), SiteUnavailable, "slow"),
    ("refused request", httpx.Response(400, json={"errors": [{"error": "Invalid account"}]}),
     SlurmRefused, "Invalid account"),
    ("error in a 200", httpx.Response(200, json={"errors": [{"description": "no such job"}]}),
     SlurmRefused, "no such job"),
    ("unauthorised", httpx.Response(401, text="Authentication failure"), SlurmRefused, "401"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "answer", "exc", "words"), HTTP_ERRORS, ids=[e[0] for e in HTTP_ERRORS]
)
def test_http_errors_are_classified(
    tmp_path: Path, case: str, answer: httpx.Response | Exception, exc: type[Exception], words: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    with pytest.raises(exc, match=words):
        rest_client(tmp_path, handler).version()


# -- batch.py ----------------------------------------------------------------------------------
WORKDIR = Path("/scratch/aif/jobs/job-1")
LUMI = SiteConnection(
    site="lumi",
    cluster="lumi",
    partitions={"standard-g": "standard-g", "small": "small-g"},
    gres={"standard-g": "mi250x"},
)


def request(**changes: Any) -> LaunchRequest:
    base: dict[str, Any] = {
        "job_id": "job-1",
        "command": "python train.py --epochs 3",
        "env": {"WANDB_MODE": "offline"},
        "workdir": Path("/data/jobs/job-1"),
        "walltime_s": 3600,
        "info": {"site": "lumi", "partition": "standard-g", "account": "alc-7",
                 "accelerator": "MI250X-GCD"},
        "name": "train",
        "nodes": 2,
        "accelerators_per_node": 8,
        "cpus": 4,
        "memory_gb": 16,
    }  # fmt: skip
    return LaunchRequest(**{**base, **changes})


COMMAND_OPTIONS = (
    "--account=alc-7",
    "--partition=standard-g",
    "--nodes=2",
    "--time=01:00:00",
    "--job-name=train",
    "--chdir=/scratch/aif/jobs/job-1",
    "--output=/scratch/aif/jobs/job-1/stdout.log",
    "--error=/scratch/aif/jobs/job-1/stderr.log",
    "--cpus-per-task=4",
    "--mem=16G",
    "--gres=gpu:mi250x:8",
)


def test_a_command_job() -> None:
    sub = submission(request(), LUMI, WORKDIR)
    assert sub.options == COMMAND_OPTIONS
    assert sub.script == "#!/bin/bash\n# aifactory job job-1: train\npython train.py --epochs 3\n"
    assert sub.env == {"WANDB_MODE": "offline", "AIF_JOB_ID": "job-1"}
    assert sub.comment == comment_of("job-1") == "aif:job-1"
    assert sub.workdir == str(WORKDIR)
    assert not any(o.startswith("--comment") for o in sub.options)
    assert describe(sub) == " ".join(
        ("sbatch", *COMMAND_OPTIONS, "--comment=aif:job-1", "--parsable")
    )


USER_SCRIPT = """\
#!/bin/bash
#SBATCH -A prj-1
#SBATCH -p standard-g
#SBATCH --time=00:10:00
#SBATCH --comment=mine
srun python train.py
"""


SCRIPT_BASE = (
    "--account=alc-7",
    "--partition=standard-g",
    "--export=ALL",
    "--mail-type=NONE",
)

# (case, request changes, the options after SCRIPT_BASE)
SCRIPT_OPTIONS = [
    ("its own lines stand", {}, ("--chdir=/scratch/aif/jobs/job-1",)),
    ("its -D stands", {"chdir": "run"}, ()),
    (
        "a limit the spec changed, or the partition's default",
        {"overrides": frozenset({"time"}), "walltime_s": 7200},
        ("--chdir=/scratch/aif/jobs/job-1", "--time=02:00:00"),
    ),
    (
        "a name and resources the spec changed",
        {"overrides": frozenset({"name", "nodes", "gpus", "memory"})},
        (
            "--chdir=/scratch/aif/jobs/job-1",
            "--job-name=train",
            "--nodes=2",
            "--gres=gpu:mi250x:8",
            "--mem=16G",
        ),
    ),
    (
        "an array task: its log names with %A and %a filled in",
        {"array_id": "job-1", "array_index": 3, "output": "logs/%x-%A_%a.out"},
        (
            "--chdir=/scratch/aif/jobs/job-1",
            "--output=logs/%x-job-1_3.out",
            "--error=logs/%x-job-1_3.out",
        ),
    ),
    (
        "an array task without -o: Slurm's array default",
        {"array_id": "job-1", "array_index": 0},
        (
            "--chdir=/scratch/aif/jobs/job-1",
            "--output=slurm-job-1_0.out",
            "--error=slurm-job-1_0.out",
        ),
    ),
]


@pytest.mark.parametrize(
    ("case", "changes", "rest"), SCRIPT_OPTIONS, ids=[c[0] for c in SCRIPT_OPTIONS]
)
def test_a_user_script_runs_unchanged_with_only_the_platforms_choices(
    case: str, changes: dict[str, Any], rest: tuple[str, ...]
) -> None:
    sub = submission(request(script=USER_SCRIPT, command="", **changes), LUMI, WORKDIR)
    assert sub.script == USER_SCRIPT
    assert render_script(request(script=USER_SCRIPT)) == USER_SCRIPT
    # The script's #SBATCH lines stand; what the platform decides rides on the command line,
    # where it beats them.
    assert sub.options == SCRIPT_BASE + rest
    assert sub.comment == "aif:job-1"


ARRAY_SCRIPT = """#!/bin/bash
#SBATCH --job-name=sweep
#SBATCH --array=0-9%2
#SBATCH -N 1 --dependency=afterok:job-prep --gres=gpu:mi250x:1
#SBATCH --kill-on-invalid-dep=no
#SBATCH -o logs/%x-%A_%a.out
python sweep.py --index "$SLURM_ARRAY_TASK_ID"
#SBATCH --array=5
"""


def test_the_platform_takes_the_array_and_the_dependency_out_of_what_slurm_reads() -> None:
    """Each task is a Slurm job of its own and the dependency names platform jobs: sbatch
    must see neither, or it would make each task an array of ten, or refuse the job id."""
    sent = render_script(request(script=ARRAY_SCRIPT, command="", array_index=3))
    lines = sent.split("\n")
    assert lines[2].startswith("##SBATCH --array=0-9%2  # aifactory:")
    assert lines[3] == "#SBATCH -N1 --gres=gpu:mi250x:1"
    assert lines[4].startswith("##SBATCH --kill-on-invalid-dep=no")
    # everything else as written, on the same lines (error messages keep their line numbers)
    kept = ARRAY_SCRIPT.split("\n")
    assert [lines[i] for i in (0, 1, 5, 6, 7)] == [kept[i] for i in (0, 1, 5, 6, 7)]
    assert len(lines) == len(kept)
    assert "array" not in script_properties(ARRAY_SCRIPT)
    assert "dependency" not in script_properties(ARRAY_SCRIPT)


def test_a_qos_variant_is_submitted_with_its_qos() -> None:
    sub = submission(request(script=USER_SCRIPT, command="", qos="boost_qos_dbg"), LUMI, WORKDIR)
    assert sub.options[:3] == ("--account=alc-7", "--partition=standard-g", "--qos=boost_qos_dbg")


# (case, request changes, the --gres option or None)
GRES = [
    ("the site's map", {}, "--gres=gpu:mi250x:8"),
    ("the map beats the model", {"info": {"partition": "standard-g", "account": "a",
                                          "accelerator": "A100"}}, "--gres=gpu:mi250x:8"),
    ("the model up to '-'", {"info": {"partition": "small", "account": "a",
                                      "accelerator": "MI250X-GCD"}}, "--gres=gpu:mi250x:8"),
    ("the model lower-cased", {"info": {"partition": "small", "account": "a",
                                        "accelerator": "A100"}}, "--gres=gpu:a100:8"),
    ("no model: gpu", {"info": {"partition": "small", "account": "a"}}, "--gres=gpu:gpu:8"),
    ("per node", {"accelerators_per_node": 2, "nodes": 4}, "--gres=gpu:mi250x:2"),
    ("no GPUs asked: no --gres", {"accelerators_per_node": 0}, None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "changes", "gres"), GRES, ids=[g[0] for g in GRES])
def test_gres(case: str, changes: dict[str, Any], gres: str | None) -> None:
    opts = options(request(**changes), LUMI, WORKDIR)
    assert [o for o in opts if o.startswith("--gres")] == ([gres] if gres else [])


# (case, request changes, the option expected)
OPTIONS = [
    ("partition mapped", {"info": {"partition": "small", "account": "a"}}, "--partition=small-g"),
    ("partition unmapped", {"info": {"partition": "dev-g", "account": "a"}}, "--partition=dev-g"),
    ("a day", {"walltime_s": 86400}, "--time=1-00:00:00"),
    ("odd seconds", {"walltime_s": 5401}, "--time=01:30:01"),
    ("no name: the job id", {"name": ""}, "--job-name=job-1"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "changes", "option"), OPTIONS, ids=[o[0] for o in OPTIONS])
def test_options(case: str, changes: dict[str, Any], option: str) -> None:
    assert option in options(request(**changes), LUMI, WORKDIR)


# -- connection.py -----------------------------------------------------------------------------
SITES = {"lumi", "leonardo"}
GOOD = """\
lumi:
  transport: cli
  cluster: lumi
  account: aifactory
  slurm_conf: /etc/slurm/slurm.conf
  partitions: {standard-g: standard-g}
  gres: {standard-g: mi250x}
  jobs_dir: /scratch/aif/jobs
leonardo:
  transport: rest
  cluster: leonardo
  rest_url: http://slurmrestd.leonardo.example:6820
  rest_user: aif
  token_file: /etc/aifactory/leonardo.jwt
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "slurm-sites.yaml"
    path.write_text(text)
    return path


def test_the_documented_file_loads(tmp_path: Path) -> None:
    got = load_connections(write(tmp_path, GOOD), SITES)
    assert set(got) == SITES
    lumi, leo = got["lumi"], got["leonardo"]
    assert (lumi.site, lumi.transport, lumi.cluster) == ("lumi", Transport.CLI, "lumi")
    assert lumi.jobs_dir == Path("/scratch/aif/jobs")
    assert lumi.gres_type("standard-g", "MI250X-GCD") == "mi250x"
    assert (leo.transport, leo.submit_user) == (Transport.REST, "aif")
    assert leo.token_file == Path("/etc/aifactory/leonardo.jwt")


def test_an_empty_file_is_no_sites(tmp_path: Path) -> None:
    assert load_connections(write(tmp_path, ""), SITES) == {}


# (case, file text, what the message says after "<file>: ")
BAD_FILES = [
    ("unknown site", "mars:\n  cluster: mars\n",
     "'mars' is not a catalog site; known: leonardo, lumi"),
    ("rest without rest_url", "leonardo:\n  transport: rest\n  cluster: leonardo\n"
     "  token_file: /x.jwt\n", "rest_url: required when transport is rest"),
    ("rest without a token", "leonardo:\n  transport: rest\n  cluster: leonardo\n"
     "  rest_url: http://h:6820\n", "token_file or token_command: required"),
    ("unknown key", "lumi:\n  cluster: lumi\n  colour: blue\n", "lumi.colour: Extra inputs"),
    ("a bad GRES type", "lumi:\n  cluster: lumi\n  gres: {standard-g: 'mi 250'}\n",
     "lumi.gres.standard-g: String should match pattern"),
    ("no cluster", "lumi:\n  transport: cli\n", "lumi.cluster: Field required"),
    ("bad transport", "lumi:\n  cluster: lumi\n  transport: smoke\n", "lumi.transport: Input"),
    ("bad timeout", "lumi:\n  cluster: lumi\n  timeout_s: 0\n", "lumi.timeout_s: Input should be"),
    ("not a mapping", "- lumi\n", "expected a mapping of site id to its connection"),
    ("not YAML", "lumi: [\n", "while parsing"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "text", "words"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_names_file_and_field(tmp_path: Path, case: str, text: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConnectionError_) as err:
        load_connections(path, SITES)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert words in message


def test_a_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConnectionError_, match=r"nowhere\.yaml"):
        load_connections(path, SITES)


def test_a_site_body_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "lumi: cli\n")
    with pytest.raises(ConnectionError_, match=f"{path}: lumi"):
        load_connections(path, SITES)


def test_a_transport_error_reads_like_the_others(tmp_path: Path) -> None:
    path = write(tmp_path, "leonardo:\n  transport: rest\n  cluster: leonardo\n  token_file: /x\n")
    with pytest.raises(ConnectionError_) as err:
        load_connections(path, SITES)
    assert str(err.value) == f"{path}: leonardo.rest_url: required when transport is rest"


def test_a_jobs_env_never_steers_the_slurm_commands() -> None:
    from aifactory.executors.slurm.cli import CliClient
    from aifactory.executors.slurm.connection import SiteConnection

    conn = SiteConnection(site="lumi", cluster="lumi", slurm_conf=Path("/etc/slurm/lumi.conf"))
    job_env = {
        "PATH": "/tmp/evil",
        "SLURM_CONF": "/tmp/other.conf",
        "SBATCH_ACCOUNT": "someone-else",
        "HF_HOME": "/scratch/hf",
    }
    cmd, env = CliClient(conn)._argv(["sbatch"], job_env)
    assert cmd == ["sbatch"]
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["SLURM_CONF"] == "/etc/slurm/lumi.conf"
    assert "SBATCH_ACCOUNT" not in env
    assert env["HF_HOME"] == "/scratch/hf"


@pytest.mark.parametrize("key", ["SLURM_CONF", "SBATCH_ACCOUNT", "SALLOC_PARTITION"])
def test_slurms_own_variables_are_refused_in_a_job_spec(key: str) -> None:
    from pydantic import ValidationError

    from aifactory.domain.jobspec import JobSpec

    with pytest.raises(ValidationError, match="are Slurm's own"):
        JobSpec.model_validate({"name": "j", "project": "p", "run": "true", "env": {key: "x"}})


def test_find_asks_sacct_with_a_slurm_time_string_after_the_queue() -> None:
    answers = {"squeue": "5|RUNNING|None|n1|1795776000|aif:job-other\n", "sacct": "7|aif:job-x\n"}
    cli = RecordingCli(lambda argv: answers[argv[0]])
    assert cli.find("aif:job-x", since=1_795_776_726.0) == "7"
    sacct = cli.argvs[-1]
    (start,) = [a for a in sacct if a.startswith("--starttime=")]
    assert re.fullmatch(r"--starttime=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", start)
    assert cli.find("aif:job-none", since=0.0) is None
