"""Jobs: ``submit``, ``jobs``, ``job show``, ``logs``, ``cancel``, ``wait``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from aifactory.cli import output as o
from aifactory.cli.config import get_state
from aifactory.cli.files import read_mapping
from aifactory.cli.plans import print_placement, print_plan
from aifactory.domain.jobs import JobState
from aifactory.domain.sbatch import ScriptError, read_script

job_app = typer.Typer(help="One job: show it.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("sbatch")(sbatch)
    app.command("usage")(usage)
    app.command("jobs")(list_jobs)
    app.command("logs")(logs)
    app.command("cancel")(cancel)
    app.command("wait")(wait)
    app.add_typer(job_app, name="job")


# -- reading a job spec ---------------------------------------------------------------------
def read_spec(file: str) -> dict[str, Any]:
    """The spec in ``file`` (YAML or JSON; ``-`` is stdin). Any problem exits with code 2,
    naming the file, line and column."""
    return read_mapping(file, "a job spec must be a mapping (name, project, run, ...)")


# -- commands ---------------------------------------------------------------------------------
def submit(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="Job spec, YAML or JSON; '-' reads stdin.")],
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Submitting again with it returns the same job."),
    ] = None,
    wait_: Annotated[bool, typer.Option("--wait", help="Wait for the job to end.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what is read and where it would go.")
    ] = False,
) -> None:
    """Submit a job; prints its id (with --wait, also its final state)."""
    spec = read_spec(file)
    client = get_state(ctx).client()
    if dry_run:
        _dry_run(client, spec)
        return
    job = client.submit_job(spec, idempotency_key=idempotency_key)
    o.out(job["id"])
    if wait_:
        _finish(client.wait_job(job["id"]))


def sbatch(
    ctx: typer.Context,
    script: Annotated[str, typer.Argument(help="An existing Slurm batch script; '-' is stdin.")],
    project: Annotated[
        str | None, typer.Option("--project", help="Project id (default: #SBATCH -A).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Job name (default: #SBATCH -J, else the file).")
    ] = None,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="May run on a digital twin (runs no code).")
    ] = False,
    wait_: Annotated[bool, typer.Option("--wait", help="Wait for the job to end.")] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print how the script is read and where it would go."),
    ] = False,
) -> None:
    """Submit an existing batch script: its #SBATCH lines become the job's resources and the
    script runs unchanged. Directives the platform does not read are listed."""
    try:
        text = sys.stdin.read() if script == "-" else Path(script).read_text()
    except OSError as exc:
        o.fail(f"{script}: {exc.strerror or exc}", code=2)
    spec: dict[str, Any] = {"script": text}
    if project:
        spec["project"] = project
    if name:
        spec["name"] = name
    elif not _script_name(text):
        spec["name"] = "stdin" if script == "-" else Path(script).stem[:100] or "script"
    if simulate:
        spec["simulate"] = True
    client = get_state(ctx).client()
    if dry_run:
        _dry_run(client, spec)
        return
    job = client.submit_job(spec)
    for warning in job.get("warnings", []):
        o.warn(warning)
    o.out(job["id"])
    if wait_:
        _finish(client.wait_job(job["id"]))


def _dry_run(client: Any, spec: dict[str, Any]) -> None:
    plan = client.submit_job(spec, dry_run=True)
    models = {
        f"{s['id']}/{p['id']}": p["accelerator"]
        for s in client.list_sites()
        for p in s["partitions"]
    }
    print_plan(plan, models)


def _script_name(text: str) -> str | None:
    try:
        return read_script(text).name
    except ScriptError:
        return None  # the server names the line and the option


def usage(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(metavar="PROJECT", help="Project id.")],
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """What a project's ended jobs used (Slurm jobs: GPUs x elapsed as sacct reports them)."""
    data = get_state(ctx).client().project_usage(project)
    if output is o.Format.JSON:
        o.print_json(data)
        return
    o.table(
        ["JOB", "SITE/PARTITION", "SOURCE", "GPUS", "ELAPSED S", "GPU-SECONDS"],
        [
            [
                r["job_id"],
                f"{r['site']}/{r['partition']}",
                r["source"],
                r["gpus"],
                r["elapsed_s"],
                r["gpu_seconds"],
            ]
            for r in data["records"]
        ],
        title=f"Usage of {project}",
    )
    o.out(f"total: {data['gpu_seconds']} GPU-seconds ({data['gpu_hours']:g} GPU-hours)")


def list_jobs(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", help="Project id.")] = None,
    org: Annotated[str | None, typer.Option("--org", help="Organisation id.")] = None,
    state: Annotated[
        list[JobState] | None, typer.Option("--state", help="Repeat for several.")
    ] = None,
    site: Annotated[str | None, typer.Option("--site")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Jobs you can see, newest first."""
    page = (
        get_state(ctx)
        .client()
        .list_jobs(
            project_id=project,
            org_id=org,
            state=[s.value for s in state] if state else None,
            site=site,
            limit=limit,
            offset=offset,
        )
    )
    if output is o.Format.JSON:
        o.print_json(page)
        return
    items = page["items"]
    o.table(
        ["ID", "NAME", "STATE", "SITE/PARTITION", "PROJECT", "CREATED"],
        (
            [
                j["id"],
                j["name"],
                j["state"],
                f"{j['site']}/{j['partition']}" if j["site"] else "-",
                j["project_id"],
                o.when(j["created_at"]),
            ]
            for j in items
        ),
    )
    o.out(f"{len(items)} of {page['total']} jobs (offset {page['offset']})")


@job_app.command("show")
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """A job with its state history and its placement: every partition considered, the one
    chosen and why each other was not."""
    job = get_state(ctx).client().get_job(job_id)
    if output is o.Format.JSON:
        o.print_json(job)
        return
    o.table(
        ["FIELD", "VALUE"],
        [
            ["id", job["id"]],
            ["name", job["name"]],
            ["state", job["state"]],
            ["reason", job["reason"] or "-"],
            ["project", job["project_id"]],
            ["organisation", job["org_id"]],
            ["site/partition", f"{job['site']}/{job['partition']}" if job["site"] else "-"],
            ["executor", o.executor_label(job["executor"], job["simulated"])],
            ["exit code", job["exit_code"]],
            ["site job id", job.get("external_id") or "-"],
            ["nodes", job.get("node_list") or "-"],
            ["allocated (TRES)", job.get("alloc_tres") or "-"],
            ["created", o.when(job["created_at"])],
            ["started", o.when(job["started_at"])],
            ["ended", o.when(job["ended_at"])],
        ],
        title=f"Job {job['id']}",
    )
    o.out()
    o.table(
        ["AT", "STATE", "REASON"],
        ([o.when(e["at"]), e["state"], e["reason"]] for e in job["history"]),
        title="State history",
    )
    o.out()
    array = job.get("array")
    if array:  # an array job: its tasks by state, each task is a job of its own
        throttle = f", at most {array['throttle']} at once" if array.get("throttle") else ""
        o.out(f"Array {array['spec']}: {array['tasks']} tasks{throttle}")
        o.table(
            ["STATE", "TASKS"],
            ([state, str(n)] for state, n in array["states"].items() if n),
        )
        o.out(f"Tasks: {', '.join(array['task_ids'][:10])}{' ...' if array['tasks'] > 10 else ''}")
        o.out(f"One task: aif job show {array['task_ids'][0]}" if array["task_ids"] else "")
        return
    placement = job.get("placement")
    if not placement:
        o.out(f"Placement: not placed yet ({job['reason'] or job['state']})")
        return
    print_placement(placement)


def logs(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")
    ] = False,
    stderr: Annotated[bool, typer.Option("--stderr", help="The error stream.")] = False,
    tail: Annotated[
        int | None, typer.Option("--tail", min=1, max=100_000, help="Last N lines.")
    ] = None,
) -> None:
    """A job's output."""
    client = get_state(ctx).client()
    stream: Any = "stderr" if stderr else "stdout"
    if follow:
        for text in client.follow_logs(job_id, stream, tail=tail):
            sys.stdout.write(text)
            sys.stdout.flush()
        return
    sys.stdout.write(client.job_logs(job_id, stream, tail=tail)["text"])


def cancel(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Cancel a job; a running one is stopped and reaches 'cancelled' shortly after."""
    job = get_state(ctx).client().cancel_job(job_id)
    if output is o.Format.JSON:
        o.print_json(job)
        return
    o.out(f"{job['id']}: {job['state']}" + (f" ({job['reason']})" if job["reason"] else ""))


def wait(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0, help="Seconds; default: no limit.")
    ] = None,
    output: o.OutputOpt = o.Format.TABLE,
) -> None:
    """Wait for a job to end; exit code 0 when it completed, 1 otherwise."""
    job = get_state(ctx).client().wait_job(job_id, timeout_s=timeout)
    _finish(job, output)


def _finish(job: dict[str, Any], output: o.Format = o.Format.TABLE) -> None:
    if output is o.Format.JSON:
        o.print_json(job)
    else:
        line = f"{job['id']}: {job['state']}"
        if job.get("exit_code") is not None:
            line += f" (exit code {job['exit_code']})"
        elif job.get("reason"):
            line += f" ({job['reason']})"
        o.out(line)
    if job["state"] != JobState.COMPLETED.value:
        raise typer.Exit(1)
