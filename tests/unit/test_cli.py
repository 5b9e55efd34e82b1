"""The ``aif`` command line against a real app in-process.

The CLI makes its SDK client through ``aifactory.cli.config.client_factory``; the fixture
points it at FastAPI's TestClient, and ``AIF_CONFIG_HOME`` at a temporary directory.
"""

from __future__ import annotations

import gc
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from typer.testing import CliRunner

from aifactory.cli import config, serve
from aifactory.cli.main import app as cli_app
from aifactory.sdk import Client
from tests.conftest import Databases, build_platform

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

JOB_YAML = """\
# a small job for this machine
name: hello
project: {project}
resources:
  accelerator: {accelerator}
  walltime: 10m
run: echo hello
"""


@dataclass
class Cli:
    app: FastAPI
    token_file: Path
    config_home: Path
    tmp: Path
    runner: CliRunner

    def __call__(self, *args: str, input: str | None = None, code: int | None = 0) -> Any:
        result = self.runner.invoke(cli_app, list(args), input=input)
        if code is not None:
            assert result.exit_code == code, (
                f"aif {' '.join(args)} -> {result.exit_code}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\n{result.exception!r}"
            )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)

    def login(self) -> None:
        self("login", "--token-file", str(self.token_file))

    def org_and_project(self) -> tuple[str, str]:
        self.login()
        org = self.json(
            "org",
            "create",
            "acme",
            "--kind",
            "startup",
            "--country",
            "DE",
            "--registration-id",
            "HRB-1",
        )
        project = self.json("project", "create", "llm", "--org", "acme")
        assert project["org_id"] == org["id"]
        return org["id"], project["id"]

    def apply_to_playground(self, project: str) -> None:
        """Win GPU-hours for ``project`` as a new user does: apply to the default Playground
        call with the example proposal, which is accepted at once."""
        form = yaml.safe_load((EXAMPLES / "playground-proposal.yaml").read_text())
        form["project"] = project
        path = self.tmp / "proposal.yaml"
        path.write_text(yaml.safe_dump(form))
        out = self("propose", str(path)).stdout
        assert "state: accepted" in out and "allocations: alc-" in out, out

    def job_file(self, project: str, accelerator: str = "local-slot") -> Path:
        path = self.tmp / "job.yaml"
        path.write_text(JOB_YAML.format(project=project, accelerator=accelerator))
        return path


def _env_clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("AIF_URL", "AIF_TOKEN", "AIF_CONFIG_FILE", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "config"
    monkeypatch.setenv("AIF_CONFIG_HOME", str(home))
    monkeypatch.delenv("COLUMNS", raising=False)  # as when piped: tables never fold a cell
    return home


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, databases: Databases) -> Iterator[Cli]:
    home = _env_clean(monkeypatch, tmp_path)
    platform = build_platform(tmp_path, databases.sqlite(tmp_path / "data" / "aifactory.db"))
    with platform.client as http:
        monkeypatch.setattr(
            config, "client_factory", lambda url, token: Client(url, token, http=http)
        )
        yield Cli(http.app, platform.settings.admin_token_file, home, tmp_path, CliRunner())
    platform.runtime.close()


def test_login_saves_credentials_readable_by_owner_only(cli: Cli) -> None:
    token = cli.token_file.read_text().strip()
    out = cli("login", "--token-file", str(cli.token_file)).stdout
    assert "Logged in to http://127.0.0.1:8000 as Administrator <admin@localhost>" in out
    assert token not in out
    creds = cli.config_home / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert json.loads(creds.read_text()) == {"url": "http://127.0.0.1:8000", "token": token}

    whoami = cli("whoami").stdout
    assert "admin@localhost" in whoami and token not in whoami
    assert cli.json("whoami")["roles"] == ["admin"]


def test_without_a_token_the_error_says_so(cli: Cli) -> None:
    result = cli("whoami", code=1)
    assert result.stderr.startswith("Error: Unauthenticated: an API token is required")


def test_saved_token_is_not_sent_to_another_server(cli: Cli) -> None:
    cli.login()
    assert cli.json("whoami")["email"] == "admin@localhost"
    result = cli("--url", "http://elsewhere.example", "whoami", code=1)
    assert "Unauthenticated" in result.stderr
    # An explicit token is used wherever the user points it.
    token = cli.token_file.read_text().strip()
    result = cli("--url", "http://elsewhere.example", "--token", token, "whoami", "-o", "json")
    assert json.loads(result.stdout)["email"] == "admin@localhost"


SITES = ("lumi", "hlrs", "daedalus", "leonardo", "meluxina", "marenostrum5", "mimer", "local")


def test_org_project_submit_list_and_show_placement(cli: Cli) -> None:
    org, project = cli.org_and_project()
    assert [o["id"] for o in cli.json("orgs")] == [org]
    assert "acme" in cli("orgs").stdout
    assert cli.json("projects", "--org", org)[0]["id"] == project
    assert "admin@localhost" in cli("org", "members", "acme").stdout
    cli.apply_to_playground(project)

    job_id = cli("submit", str(cli.job_file(project))).stdout.strip()
    assert job_id.startswith("job-")
    listing = cli("jobs").stdout
    assert job_id in listing and "pending" in listing
    page = cli.json("jobs", "--state", "pending", "--state", "placed", "--project", project)
    assert [j["id"] for j in page["items"]] == [job_id]
    assert cli.json("jobs", "--state", "completed")["total"] == 0

    shown = cli("job", "show", job_id).stdout
    assert "not placed yet" in shown

    cli.app.state.runtime.dispatcher.dispatch_once()
    shown = cli("job", "show", job_id).stdout
    lines = shown.splitlines()
    chosen = [line for line in lines if line.lstrip().startswith("chosen")]
    assert len(chosen) == 1
    assert chosen[0].split()[1:3] == ["local", "local"]
    lumi = next(line for line in lines if line.split()[:1] == ["lumi"])
    assert "simulated (digital twin, runs no code)" in lumi
    assert "set simulate: true" in lumi
    assert "State history" in shown and "placed on local/local" in shown
    # Every partition considered, with the filter it failed or its score terms.
    assert "Placement: every partition considered" in shown
    header = next(line for line in lines if "FAILED FILTER" in line)
    assert header.split() == [
        "SITE", "PARTITION", "EXECUTOR", "FAILED", "FILTER", "SCORE", "START", "IN", "RUNTIME",
        "CO2E", "G", "REASON",
    ]  # fmt: skip
    assert "1.000" in chosen[0] and "chosen: can start now" in chosen[0]
    sites = {line.split()[0] for line in lines if line.split()[:1] in ([s] for s in SITES)}
    assert sites == set(SITES) - {"local"}  # local's line starts with "chosen"
    daedalus = next(line for line in lines if line.split()[:1] == ["daedalus"])
    assert " operational " in daedalus and "not operational" in daedalus
    assert next(line for line in lines if line.startswith("Priority: "))
    detail = cli.json("job", "show", job_id)
    assert detail["placement"]["chosen"] == {"site": "local", "partition": "local"}


@pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument")
def test_submit_from_stdin_with_idempotency_key_and_wait(cli: Cli) -> None:
    _, project = cli.org_and_project()
    spec = json.dumps(
        {
            "name": "again",
            "project": project,
            "run": "true",
            "resources": {"accelerator": "local-slot", "walltime": 60},
        }
    )
    first = cli("submit", "-", "--idempotency-key", "k1", input=spec).stdout.strip()
    second = cli("submit", "-", "--idempotency-key", "k1", input=spec).stdout.strip()
    assert first == second
    result = cli("wait", first, "--timeout", "0", code=1)
    assert result.stdout.strip() == f"{first}: pending (waiting for placement)"
    assert cli("cancel", first).stdout.startswith(f"{first}: cancelled")
    result = cli("wait", first, "-o", "json", code=1)
    assert json.loads(result.stdout)["state"] == "cancelled"
    result = cli("cancel", first, code=1)
    assert result.stderr.startswith("Error: Conflict: ")


def test_malformed_yaml_names_line_and_column(cli: Cli) -> None:
    bad = cli.tmp / "bad.yaml"
    bad.write_text("name: hello\n  run: echo hi\n")
    result = cli("submit", str(bad), code=2)
    assert result.stderr == f"Error: {bad}:2:6: mapping values are not allowed here\n"
    result = cli("submit", "-", input="- just\n- a list\n", code=2)
    assert "<stdin>: a job spec must be a mapping" in result.stderr
    result = cli("submit", str(cli.tmp / "missing.yaml"), code=2)
    assert "cannot read" in result.stderr


def test_unknown_accelerator_shows_the_field_and_allowed_values(cli: Cli) -> None:
    _, project = cli.org_and_project()
    result = cli("submit", str(cli.job_file(project, accelerator="X9")), code=1)
    lines = result.stderr.splitlines()
    assert lines[0] == "Error: Invalid input: resources.accelerator: unknown accelerator 'X9'"
    assert lines[1].startswith("  resources.accelerator: unknown accelerator 'X9' (allowed: any,")
    assert "H100" in lines[1] and "local-slot" in lines[1]


def test_bad_option_values_are_usage_errors(cli: Cli) -> None:
    cli.login()
    result = cli(
        "org",
        "create",
        "x",
        "--kind",
        "charity",
        "--country",
        "DE",
        "--registration-id",
        "R",
        code=2,
    )
    assert "startup" in result.stderr
    assert "'bogus' is not one of 'pending'" in cli("jobs", "--state", "bogus", code=2).stderr
    assert "give --token-file, --token or --email" in cli("login", code=2).stderr


def test_an_unreachable_server_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env_clean(monkeypatch, tmp_path)
    result = CliRunner().invoke(cli_app, ["--url", "http://127.0.0.1:9", "--token", "t", "jobs"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot reach http://127.0.0.1:9: ")
    assert "Traceback" not in result.output


def test_token_create_list_revoke(cli: Cli) -> None:
    cli.login()
    out = cli("token", "create", "--name", "laptop", "--ttl-days", "7").stdout
    assert "Shown once" in out
    token = out.strip().splitlines()[-1]
    tokens = cli.json("token", "list")
    created = next(t for t in tokens if t["name"] == "laptop")
    listing = cli("token", "list").stdout
    assert "laptop" in listing and token not in listing
    assert cli("--token", token, "whoami", "-o", "json").stdout
    assert "Revoked token" in cli("token", "revoke", created["id"]).stdout
    assert "Unauthenticated" in cli("--token", token, "whoami", code=1).stderr
    assert "not found" in cli("token", "revoke", "tok-nope", code=1).stderr


def test_audit_verify_and_events(cli: Cli) -> None:
    cli.login()
    assert cli("audit", "verify").stdout.startswith("Audit chain ok:")
    assert cli.json("audit", "verify")["ok"] is True
    assert cli.json("audit", "events", "--limit", "1")["items"][0]["seq"] >= 1


def test_sites_label_simulated_partitions(cli: Cli) -> None:
    cli.login()
    lines = cli("sites").stdout.splitlines()
    lumi = next(line for line in lines if line.split()[:1] == ["lumi"])
    assert "simulated (digital twin, runs no code)" in lumi
    local = next(line for line in lines if line.split()[:1] == ["local"])
    assert "simulated" not in local and local.rstrip().endswith("local")
    assert {s["id"] for s in cli.json("sites")} >= {"lumi", "local"}


def test_sites_partitions_show_each_partitions_limits(cli: Cli) -> None:
    cli.login()
    lines = cli("sites", "--partitions").stdout.splitlines()

    def row(ref: str) -> list[str]:
        line = next(x for x in lines if x.split()[:1] == [ref])
        return [cell.strip() for cell in line.split("  ") if cell.strip()]

    standard, small, dev = row("lumi/standard-g"), row("lumi/small-g"), row("lumi/dev-g")
    assert standard[-3:] == ["48h00m", "48h00m", "whole nodes"]
    assert "1-1024" in standard
    assert small[-3:] == ["72h00m", "shared", "standard-g"] and "1-4" in small
    assert dev[-3:] == ["3h00m", "shared", "standard-g"] and "1-32" in dev
    dbg = row("leonardo/boost_qos_dbg")
    assert "boost_usr_prod --qos=boost_qos_dbg" in dbg and "1-2" in dbg and "30m00s" in dbg
    assert "65-256" in row("leonardo/boost_qos_bprod")


def test_users_and_members(cli: Cli) -> None:
    org, _ = cli.org_and_project()
    out = cli("user", "create", "ada@example.eu", "--name", "Ada", "--role", "reviewer").stdout
    assert "Created user Ada <ada@example.eu> [reviewer]" in out
    assert (
        "is now owner" in cli("org", "add-member", org, "ada@example.eu", "--role", "owner").stdout
    )
    assert "member of llm" in cli("project", "add-member", "llm", "ada@example.eu").stdout
    members = cli.json("org", "members", org)
    assert {m["email"]: m["role"] for m in members}["ada@example.eu"] == "owner"
    assert "no organisation named" in cli("org", "members", "nope", code=1).stderr


def test_login_with_email_and_password(cli: Cli) -> None:
    cli.login()
    password = "correct horse battery"
    cli(
        "user",
        "create",
        "ada@example.eu",
        "--name",
        "Ada",
        "--password-prompt",
        input=f"{password}\n{password}\n",
    )
    result = cli("login", "--email", "ada@example.eu", input=f"{password}\n")
    assert "as Ada <ada@example.eu>" in result.stdout
    assert password not in result.stdout
    assert cli.json("whoami")["email"] == "ada@example.eu"
    result = cli("login", "--email", "ada@example.eu", input="wrong password\n", code=1)
    assert result.stderr.startswith("Error: Unauthenticated")


def test_logs_of_a_job(cli: Cli) -> None:
    _, project = cli.org_and_project()
    cli.apply_to_playground(project)
    job_id = cli("submit", str(cli.job_file(project))).stdout.strip()
    assert cli("logs", job_id).stdout == ""
    cli.app.state.runtime.dispatcher.dispatch_once()
    deadline = time.monotonic() + 5
    while cli("logs", job_id, "--tail", "5").stdout != "hello\n":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert cli("logs", job_id, "--stderr").stdout == ""


# -- on the server's machine -----------------------------------------------------------------
def test_admin_init_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _env_clean(monkeypatch, tmp_path)
    monkeypatch.setenv("AIF_DATA_DIR", str(tmp_path / "srv"))
    runner = CliRunner()
    first = runner.invoke(cli_app, ["admin", "init", "--email", "root@example.eu"])
    assert first.exit_code == 0, first.output
    path = tmp_path / "srv" / "admin-token"
    assert first.stdout.strip() == f"Admin token written to {path.resolve()}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = runner.invoke(cli_app, ["admin", "init"])
    assert second.exit_code == 0 and "An admin exists already" in second.stdout


def test_serve_prepares_and_then_becomes_the_uvicorn_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env_clean(monkeypatch, tmp_path)
    monkeypatch.setenv("AIF_DATA_DIR", str(tmp_path / "srv"))
    monkeypatch.setenv("AIF_HOST", "127.0.0.1")  # restored after the test; serve sets it
    monkeypatch.setenv("AIF_PORT", "8000")
    calls: list[list[str]] = []
    monkeypatch.setattr(serve.os, "execv", lambda exe, argv: calls.append(argv))
    runner = CliRunner()

    one = runner.invoke(cli_app, ["serve", "--port", "8123"])
    assert one.exit_code == 0, one.output
    assert "Admin token written to" in one.stdout
    argv = calls.pop()
    assert argv[1:] == [
        "-m",
        "uvicorn",
        "--factory",
        "aifactory.api.asgi:app_factory",
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
    ]
    assert os.environ["AIF_PORT"] == "8123"  # the server process reads its settings from here

    monkeypatch.setenv("AIF_PORT", "8000")
    many = runner.invoke(cli_app, ["serve", "--workers", "3", "--host", "0.0.0.0"])
    assert many.exit_code == 0, many.output
    assert "An admin exists already" in many.stdout
    assert "SQLite" in many.stderr
    argv = calls.pop()
    assert argv[-6:] == ["--host", "0.0.0.0", "--port", "8000", "--workers", "3"]
    from aifactory.api.asgi import app_factory

    try:
        assert isinstance(app_factory(), FastAPI)
        # What the server process holds once started is out of the collector's reach.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()  # this test process goes on making and dropping platforms


SBATCH_SCRIPT = """#!/bin/bash
#SBATCH -A {project}
#SBATCH -t 10
#SBATCH -c 1
#SBATCH --mem=2G
#SBATCH --hint=nomultithread
echo "batch script ran: $AIF_JOB_ID"
"""


def test_sbatch_runs_an_existing_batch_script_and_lists_what_it_ignores(cli: Cli) -> None:
    _org, project = cli.org_and_project()
    cli.apply_to_playground(project)
    script = cli.tmp / "train.sh"
    script.write_text(SBATCH_SCRIPT.format(project=project))
    result = cli("sbatch", str(script))
    job_id = result.stdout.strip()
    assert "line 6: #SBATCH --hint: task, CPU and GPU layout inside the allocation" in (
        result.stderr
    )
    job = cli.json("job", "show", job_id)
    assert job["name"] == "train"  # no -J: the file's name
    assert job["project_id"] == project
    res = job["spec"]["resources"]
    assert (res["walltime"], res["cpus"], res["memory_gb"], res["accelerators_per_node"]) == (
        600,
        1,
        2,
        0,
    )
    runtime = cli.app.state.runtime
    for _ in range(200):
        runtime.dispatcher.dispatch_once()
        runtime.dispatcher.poll_once()
        if cli.json("job", "show", job_id)["state"] == "completed":
            break
        time.sleep(0.05)
    assert cli("logs", job_id).stdout == f"batch script ran: {job_id}\n"

    broken = cli.tmp / "broken.sh"
    broken.write_text("#!/bin/bash\n#SBATCH -t soon\necho hi\n")
    result = cli("sbatch", str(broken), "--project", project, code=1)
    assert "line 2: -t: 'soon' is not a Slurm time" in result.stderr
    unknown = cli.tmp / "srun-option.sh"
    unknown.write_text("#!/bin/bash\n#SBATCH --cpu-bind=cores\necho hi\n")
    result = cli("sbatch", str(unknown), "--project", project, code=1)
    assert "line 2: --cpu-bind: is not an sbatch option" in result.stderr


LUMI_TORCHRUN = """#!/bin/bash -l
#SBATCH --job-name=llm-pretrain
#SBATCH --account={project}
#SBATCH --partition=standard-g
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=7
#SBATCH --mem=0
#SBATCH --time=2-00:00:00
#SBATCH --exclusive
#SBATCH --hint=nomultithread
#SBATCH --output=logs/%x-%j.out

module load LUMI/23.09 partition/G
export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun --cpu-bind=mask_cpu:0xfe000000000000 singularity exec pytorch.sif python train.py
"""


def test_sbatch_dry_run_of_a_lumi_multi_node_script_prints_16_gcds_and_writes_nothing(
    cli: Cli,
) -> None:
    _org, project = cli.org_and_project()
    granted = cli(
        "allocation",
        "grant",
        "--project",
        project,
        "--partition",
        "lumi/standard-g",
        "--gpu-hours",
        "5000",
        "--ends",
        "2099-01-01",
        "--reason",
        "test grant",
    )
    assert "Granted" in granted.stdout, granted.stdout
    script = cli.tmp / "pretrain.sh"
    script.write_text(LUMI_TORCHRUN.format(project=project))
    before = cli.json("jobs")
    result = cli("sbatch", "--dry-run", "--simulate", str(script))
    out = result.stdout
    assert "Dry run: nothing was submitted." in out
    assert "2 nodes, accelerators 8 per node, all of each node's memory, time limit 48h" in out
    assert (
        "Would be placed now on lumi/standard-g: 2 nodes x 8 MI250X-GCD = 16 GCDs, "
        "64 CPUs and 512 GB per node, time limit 48h00m, whole nodes"
    ) in out, out
    assert "stack" in out and "rocm" in out
    # the directives it does not read, each with the reason
    assert "line 12: #SBATCH --hint: task, CPU and GPU layout inside the allocation" in out
    assert cli.json("jobs") == before  # nothing written


def test_job_show_of_an_array_summarises_its_tasks_by_state(cli: Cli) -> None:
    _org, project = cli.org_and_project()
    cli.apply_to_playground(project)
    script = cli.tmp / "sweep.sh"
    script.write_text(
        f"#!/bin/bash\n#SBATCH -A {project}\n#SBATCH --array=0-3%2\n#SBATCH -t 5\n"
        'echo "lr index $SLURM_ARRAY_TASK_ID"\n'
    )
    array_id = cli("sbatch", str(script)).stdout.strip()
    assert cli("cancel", f"{array_id}_3").exit_code == 0
    out = cli("job", "show", array_id).stdout
    assert "Array 0-3%2: 4 tasks, at most 2 at once" in out
    states = {
        line.split()[0]: int(line.split()[1])
        for line in out.splitlines()
        if line.split()[:1] in (["pending"], ["cancelled"])
    }
    assert states == {"pending": 3, "cancelled": 1}
    assert f"Tasks: {array_id}_0, {array_id}_1, {array_id}_2, {array_id}_3" in out
