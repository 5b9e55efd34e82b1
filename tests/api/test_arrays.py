"""Job arrays, dependencies, mail, logs where the script says and dry runs, on the local
executor through the API (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from aifactory.db.tables import (
    AuditEvent,
    Job,
    JobEvent,
    LedgerEntry,
    OutboxMail,
    UsageRecord,
)
from tests.conftest import FINAL_STATES, Actor, Platform, run_until_final

ACTIVE = ("placed", "submitted", "running")

SWEEP = """#!/bin/bash
#SBATCH --job-name=sweep
#SBATCH --account={project}
#SBATCH --array=0-9%2
#SBATCH --time=00:05:00
#SBATCH --gpus-per-node=1
#SBATCH --output=logs/%x-%A_%a.out
echo "start $(date +%s.%N)"
echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT ($AIF_ARRAY_TASK_ID) in \
$SLURM_ARRAY_JOB_ID"
sleep 0.4
echo "end $(date +%s.%N)"
"""


def submit(actor: Actor, spec: dict[str, Any], status: int = 201) -> dict[str, Any]:
    r = actor.post("/jobs", spec)
    assert r.status_code == status, r.text
    return dict(r.json())


def step(p: Platform) -> None:
    p.runtime.dispatcher.dispatch_once()
    p.runtime.dispatcher.poll_once()


def active_tasks(p: Platform, array_id: str) -> int:
    with p.runtime.db.read() as session:
        return int(
            session.execute(
                select(func.count()).where(Job.array_job_id == array_id, Job.state.in_(ACTIVE))
            ).scalar_one()
        )


def run_array(p: Platform, actor: Actor, array_id: str, timeout: float = 60) -> dict[str, Any]:
    """Drive the loops until the array ends; the most tasks active at once, sampled."""
    deadline = time.monotonic() + timeout
    most = 0
    while time.monotonic() < deadline:
        step(p)
        most = max(most, active_tasks(p, array_id))
        job = dict(actor.get(f"/jobs/{array_id}").json())
        if job["state"] in FINAL_STATES:
            job["most_active"] = most
            return job
        time.sleep(0.05)
    raise AssertionError(f"array {array_id} did not end: {actor.get(f'/jobs/{array_id}').json()}")


def test_a_ten_task_array_throttled_to_two_runs_every_task_never_more_than_two_at_once(
    platform: Platform,
) -> None:
    owner, _org, project = platform.tenant()
    array = submit(owner, {"script": SWEEP.format(project=project["id"])})
    assert array["array_tasks"] == 10 and array["name"] == "sweep"
    done = run_array(platform, owner, array["id"])
    assert done["state"] == "completed", done
    assert done["most_active"] <= 2
    assert done["array"]["states"] == {"completed": 10}
    assert done["array"]["throttle"] == 2
    assert done["array"]["task_ids"] == [f"{array['id']}_{i}" for i in range(10)]
    assert done["reason"] == "10 tasks: 10 completed"
    intervals = []
    for i in range(10):
        task_id = f"{array['id']}_{i}"
        task = owner.get(f"/jobs/{task_id}").json()
        assert (task["array_job_id"], task["array_index"]) == (array["id"], i)
        # Its log is where -o says, %A and %a filled in, relative to its working directory.
        assert task["logs"]["stdout"].endswith(f"/{task_id}/logs/sweep-{array['id']}_{i}.out")
        text = owner.get(f"/jobs/{task_id}/logs").json()["text"]
        assert f"task {i} of 10 ({i}) in {array['id']}" in text
        start = float(text.split("start ", 1)[1].split()[0])
        end = float(text.split("end ", 1)[1].split()[0])
        intervals.append((start, end))
    # The tasks' own clocks agree: never three at once, and the throttle let two overlap.
    overlap = max(sum(1 for s, e in intervals if s <= t < e) for t, _ in intervals)
    assert overlap <= 2
    with platform.runtime.db.read() as session:
        usage = session.execute(
            select(func.count()).where(UsageRecord.job_id.like(f"{array['id']}_%"))
        ).scalar_one()
        reservations = session.execute(
            select(func.count()).where(
                LedgerEntry.kind == "reservation", LedgerEntry.job_id.like(f"{array['id']}_%")
            )
        ).scalar_one()
    assert usage == 10 and reservations == 10  # one reservation and usage record per task
    # The array's own row holds no reservation and ran nothing itself.
    assert owner.get(f"/jobs/{array['id']}").json()["executor"] is None


def test_cancelling_one_task_leaves_the_others_and_cancelling_the_array_ends_the_rest(
    platform: Platform,
) -> None:
    owner, _org, project = platform.tenant()
    spec = {
        "name": "sleepy",
        "project": project["id"],
        "run": "sleep 30",
        "array": "1-4",
        "resources": {"walltime": "5m"},
    }
    array = submit(owner, spec)
    first = f"{array['id']}_1"
    r = owner.post(f"/jobs/{array['id']}_2/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    for _ in range(100):
        step(platform)
        if owner.get(f"/jobs/{first}").json()["state"] == "running":
            break
        time.sleep(0.05)
    states = {i: owner.get(f"/jobs/{array['id']}_{i}").json()["state"] for i in (1, 2, 3, 4)}
    assert states[2] == "cancelled"
    assert states[1] == "running" and states[3] in ACTIVE and states[4] in ACTIVE
    assert owner.get(f"/jobs/{array['id']}").json()["state"] == "running"
    r = owner.post(f"/jobs/{array['id']}/cancel")
    assert r.status_code == 200, r.text
    done = run_array(platform, owner, array["id"])
    assert done["state"] == "cancelled"
    assert done["array"]["states"] == {"cancelled": 4}
    # The array's own log does not exist: each task has one.
    assert owner.get(f"/jobs/{array['id']}/logs").status_code == 409
    # Another tenant sees neither the array nor its tasks.
    other, _, _ = platform.tenant()
    assert other.get(f"/jobs/{array['id']}").status_code == 404
    assert other.post(f"/jobs/{first}/cancel").status_code == 404


def test_afterok_waits_for_its_job_and_a_failed_one_cancels_it(platform: Platform) -> None:
    owner, _org, project = platform.tenant()
    first = submit(owner, {"name": "prep", "project": project["id"], "run": "sleep 0.5"})
    then = submit(
        owner,
        {
            "name": "train",
            "project": project["id"],
            "run": "echo trained",
            "dependency": f"afterok:{first['id']}",
        },
    )
    step(platform)
    waiting = owner.get(f"/jobs/{then['id']}").json()
    assert waiting["state"] == "pending"
    assert waiting["reason"].startswith(f"waiting for its dependency: afterok:{first['id']}")
    assert run_until_final(platform, then["id"], owner)["state"] == "completed"
    first_job = owner.get(f"/jobs/{first['id']}").json()
    then_job = owner.get(f"/jobs/{then['id']}").json()
    assert then_job["started_at"] >= first_job["ended_at"]

    failing = submit(owner, {"name": "bad", "project": project["id"], "run": "exit 3"})
    never = submit(
        owner,
        {
            "name": "after-bad",
            "project": project["id"],
            "run": "echo never",
            "dependency": f"afterok:{failing['id']}",
            "mail_type": "INVALID_DEPEND",
        },
    )
    after_not_ok = submit(
        owner,
        {
            "name": "cleanup",
            "project": project["id"],
            "run": "echo cleanup",
            "dependency": f"afternotok:{failing['id']}",
        },
    )
    ended = run_until_final(platform, never["id"], owner)
    assert ended["state"] == "cancelled"
    assert "DependencyNeverSatisfied" in ended["reason"]
    assert f"afterok:{failing['id']} ended failed" in ended["reason"]
    assert run_until_final(platform, after_not_ok["id"], owner)["state"] == "completed"
    with platform.runtime.db.read() as session:
        subjects = list(session.execute(select(OutboxMail.subject, OutboxMail.recipients)).all())
    assert any("after-bad" in s and r == [owner.email] for s, r in subjects), subjects


def test_a_dependency_on_a_job_you_cannot_see_is_refused(platform: Platform) -> None:
    owner, _org, project = platform.tenant()
    other, _, other_project = platform.tenant()
    theirs = submit(other, {"name": "x", "project": other_project["id"], "run": "true"})
    for dep in (f"afterok:{theirs['id']}", "afterany:job-0000000000zz"):
        r = owner.post(
            "/jobs", {"name": "y", "project": project["id"], "run": "true", "dependency": dep}
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "dependency"
    r = owner.post(
        "/jobs",
        {"name": "y", "project": project["id"], "run": "true", "dependency": "afterwards:job-1"},
    )
    assert r.status_code == 422 and "is not a dependency type" in r.text


def test_mail_goes_to_the_submitter_or_a_member_never_to_anyone(platform: Platform) -> None:
    owner, _org, project = platform.tenant()
    r = owner.post(
        "/jobs",
        {
            "name": "m",
            "project": project["id"],
            "run": "true",
            "mail_type": ["END", "FAIL"],
            "mail_user": "stranger@example.com",
        },
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "mail_user"
    script = (
        "#!/bin/bash\n"
        f"#SBATCH -A {project['id']}\n"
        "#SBATCH -J mailed\n"
        "#SBATCH --mail-type=END,FAIL\n"
        "#SBATCH -t 5\n"
        "exit 4\n"
    )
    job = submit(owner, {"script": script})
    assert run_until_final(platform, job["id"], owner)["state"] == "failed"
    with platform.runtime.db.read() as session:
        mails = list(session.execute(select(OutboxMail.topic, OutboxMail.recipients)).all())
    assert ("job.fail", [owner.email]) in mails
    assert not any(topic == "job.end" for topic, _ in mails)  # FAIL, not END, for a failure


def test_a_script_log_is_where_its_patterns_say_and_stderr_apart_with_e(
    platform: Platform,
) -> None:
    owner, _org, project = platform.tenant()
    script = (
        "#!/bin/bash\n"
        f"#SBATCH -A {project['id']}\n"
        "#SBATCH -J logged\n"
        "#SBATCH -o logs/%x-%j.out\n"
        "#SBATCH -e logs/%x-%j.err\n"
        "#SBATCH -t 5\n"
        "echo to-out; echo to-err >&2\n"
    )
    job = submit(owner, {"script": script})
    assert run_until_final(platform, job["id"], owner)["state"] == "completed"
    shown = owner.get(f"/jobs/{job['id']}").json()
    assert shown["logs"]["stdout"].endswith(f"/{job['id']}/logs/logged-{job['id']}.out")
    assert shown["logs"]["stderr"].endswith(f"/{job['id']}/logs/logged-{job['id']}.err")
    assert owner.get(f"/jobs/{job['id']}/logs").json()["text"] == "to-out\n"
    assert owner.get(f"/jobs/{job['id']}/logs?stream=stderr").json()["text"] == "to-err\n"
    # Without -o: Slurm's slurm-%j.out, both streams in it.
    plain = submit(
        owner,
        {
            "name": "plain",
            "script": f"#!/bin/bash\n#SBATCH -A {project['id']}\necho a; echo b >&2\n",
        },
    )
    assert run_until_final(platform, plain["id"], owner)["state"] == "completed"
    logs = owner.get(f"/jobs/{plain['id']}").json()["logs"]
    assert logs["stdout"] == logs["stderr"]
    assert logs["stdout"].endswith(f"/slurm-{plain['id']}.out")
    assert owner.get(f"/jobs/{plain['id']}/logs").json()["text"] == "a\nb\n"


def _counts(p: Platform) -> dict[str, int]:
    with p.runtime.db.read() as session:
        return {
            t.__name__: int(session.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (Job, JobEvent, AuditEvent, LedgerEntry, OutboxMail, UsageRecord)
        }


def test_a_dry_run_writes_nothing_and_says_where_the_job_would_go(platform: Platform) -> None:
    owner, _org, project = platform.tenant()
    _other, _, theirs = platform.tenant()
    busy = submit(owner, {"name": "busy", "project": project["id"], "run": "sleep 5"})
    step(platform)
    before = _counts(platform)
    script = (
        "#!/bin/bash\n"
        f"#SBATCH -A {project['id']}\n"
        "#SBATCH -J plan\n"
        "#SBATCH --array=0-3%2\n"
        "#SBATCH --gpus-per-node=2\n"
        "#SBATCH --mem=0\n"
        "#SBATCH -C mi250\n"
        "#SBATCH -t 10\n"
        "srun python train.py\n"
    )
    r = owner.post("/jobs?dry_run=true", {"script": script})
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["dry_run"] is True and plan["outcome"] == "place", plan
    assert plan["placement"]["chosen"] == {"site": "local", "partition": "local"}
    assert plan["array"] == {"spec": "0-3%2", "tasks": 4, "indexes": [0, 1, 2, 3], "throttle": 2}
    local = plan["needs"]["local/local"]
    # --mem=0 is all of the local node's memory (16 GB in the default catalog).
    assert (local["accelerators"], local["memory_gb"], local["walltime_s"]) == (2, 16, 600)
    assert plan["ignored"] == [
        "line 7: #SBATCH -C: node selection is the site's: Slurm applies it at a Slurm site; "
        "the platform does not check it, and it has no effect where the platform runs the "
        "job itself"
    ]
    refused = owner.post(
        "/jobs?dry_run=true",
        {"name": "huge", "project": project["id"], "run": "x", "resources": {"nodes": 99}},
    ).json()
    assert refused["outcome"] == "refused" and "no partition" in refused["reason"]
    # Bad input is a 422 as for a submission, another tenant's project a 404.
    assert owner.post("/jobs?dry_run=true", {"script": "#SBATCH -t soon\n"}).status_code == 422
    assert (
        owner.post(
            "/jobs?dry_run=true", {"name": "x", "project": theirs["id"], "run": "x"}
        ).status_code
        == 404
    )
    assert _counts(platform) == before  # row counts in every table touched by a submission
    owner.post(f"/jobs/{busy['id']}/cancel")
